"""--regression_loss_units=standardized (`TaskSpec.target_std`): regression losses in units
of the training targets' spread, predictions, metrics and exports in the targets' own.

The end-to-end test runs main.py on an image folder + CSV whose regression column has a
tiny spread (mean brightness, std ~0.005): in raw units its loss is ~1e-5 beside
cross-entropies of ~1, standardised it is ~1.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from mtl_tf.data.csv_data import load_csv_dataset
from mtl_tf.tasks import TaskSpec, specs_from_json, specs_to_json, with_target_std
from mtl_tf.training.losses import per_example_loss
from tests.test_cli import _without_tensorflow
from tests.test_csv_data import _main, make_folder

SPECS = (TaskSpec("kind", "classification", 3),
         TaskSpec("shape", "regression", 3),
         TaskSpec("weight", "regression", 1, loss="l1"))


def test_target_std_is_each_outputs_training_spread_and_round_trips():
    rng = np.random.default_rng(0)
    shape = rng.normal([0.0, 5.0, -1.0], [0.01, 3.0, 1.0], (500, 3)).astype(np.float32)
    shape[:, 2] = 7.0  # constant in the training data: scale 1, not a division by 0
    labels = {"kind": rng.integers(0, 3, 500), "shape": shape,
              "weight": rng.normal(70, 12, (500, 1))}
    specs = with_target_std(SPECS, labels)
    assert specs[0] == SPECS[0]  # classification untouched
    np.testing.assert_allclose(specs[1].target_std[:2], shape[:, :2].std(0), rtol=1e-5)
    assert specs[1].target_std[2] == 1.0
    assert specs[2].target_std == pytest.approx((labels["weight"].std(),))
    assert specs[2].loss == "l1"  # the rest of the spec is kept
    assert specs_from_json(json.loads(json.dumps(specs_to_json(specs)))) == specs


@pytest.mark.parametrize("kwargs, match", [
    ({"kind": "classification", "size": 2, "target_std": (1.0, 1.0)}, "needs a regression"),
    ({"kind": "regression", "size": 2, "target_std": (1.0,)}, "2 positive finite"),
    ({"kind": "regression", "size": 1, "target_std": (0.0,)}, "positive finite"),
    ({"kind": "regression", "size": 1, "target_std": (float("nan"),)}, "positive finite"),
    ({"kind": "regression", "size": 1, "target_std": (-2.0,)}, "positive finite"),
])
def test_bad_target_std_is_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TaskSpec("t", **kwargs)


def test_all_classification_tasks_are_refused():
    with pytest.raises(ValueError, match="need a regression task; the tasks kind are all"):
        with_target_std(SPECS[:1], {"kind": np.zeros(3, np.int32)})


@pytest.mark.parametrize("loss", ["mse", "l1"])
def test_the_loss_is_the_loss_of_the_standardised_error(loss):
    rng = np.random.default_rng(1)
    std = np.array([0.01, 2.0], np.float32)
    y, p = (rng.normal(0, 1, (6, 2)).astype(np.float32) * std for _ in range(2))
    scaled = TaskSpec("t", "regression", 2, loss=loss, target_std=tuple(std))
    plain = TaskSpec("t", "regression", 2, loss=loss)
    np.testing.assert_allclose(per_example_loss(scaled, y, p).numpy(),
                               per_example_loss(plain, y / std, p / std).numpy(), rtol=1e-5)


def test_main_trains_on_standardised_losses_and_serves_the_targets_units(tmp_path):
    path = make_folder(tmp_path / "data", n=60)
    run, export = tmp_path / "run", tmp_path / "export"
    common = [f"--dataset=csv:{path}", "--tasks=species,weight:regression", "--test_size=12",
              "--image_size=24", "--backbone=lenet", "--etas=0,0.1"]
    result = _main(*common, "--method=uwl", "--epochs=2", "--batch_size=16",
                   "--learning_rate=1e-3", "--verbose=0", "--regression_loss_units=standardized",
                   f"--output_dir={run}", f"--export_dir={export}")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    train_weight = load_csv_dataset(path, ("species", "weight:regression"),
                                    test_size=12, image_size=24).train_labels["weight"]
    spec = specs_from_json(metrics["task_specs"])[1]
    assert spec.target_std == pytest.approx((float(train_weight.std()),), rel=1e-5)
    # What the weighting saw: the weight's loss in units of its spread (~1: the head starts
    # at the mean). In raw units the same error is ~std**2 = ~3e-5.
    logs = json.loads((run / "last_epoch_logs.json").read_text())
    assert 0.05 < logs["weight_loss"] < 20, logs
    # Metrics and the served prediction stay in the target's own units.
    error = metrics["error"]["weight"]["mae"]
    assert error < 5 * train_weight.std()
    served = tf.saved_model.load(str(export / "uwl" / "1"))
    images = np.stack([tf.io.decode_png(tf.io.read_file(
        os.path.join(tmp_path, "data", "img", f"{i:03d}.png"))).numpy() for i in range(8)])
    prediction = served.signatures["serving_default"](
        image=tf.constant(images, tf.float32) / 255.0)["weight_prediction"].numpy()
    assert abs(float(prediction.mean()) - float(train_weight.mean())) < 5 * train_weight.std()
    # The export records the scales, so scoring the served model attacks the run's loss.
    assert json.loads((export / "uwl" / "1" / "assets.extra" /
                       "regression_loss_scales.json").read_text()) == {
        "weight": list(spec.target_std)}
    served_eval = _main("--mode=eval", f"--saved_model={export / 'uwl' / '1'}", *common,
                        f"--output_dir={tmp_path / 'served'}")
    assert served_eval.returncode == 0, served_eval.stderr
    scored = json.loads((tmp_path / "served" / "saved_model_eval.json").read_text())
    for eta in ("0", "0.1"):
        assert scored["robustness"]["error"][eta]["weight"] == pytest.approx(
            metrics["robustness"]["error"][eta]["weight"], rel=1e-3, abs=1e-5)
    # Re-evaluating the run (its restored model, attacked on the same loss) gives its numbers.
    again = _main("--mode=eval", f"--run_dir={run}", "--verbose=0")
    assert again.returncode == 0, again.stderr
    rescored = json.loads((run / "metrics.json").read_text())
    assert rescored["error"]["weight"] == pytest.approx(metrics["error"]["weight"], rel=1e-5)
    assert rescored["robustness"]["error"]["0.1"]["weight"] == pytest.approx(
        metrics["robustness"]["error"]["0.1"]["weight"], rel=1e-5)


def test_a_library_run_without_a_regression_task_is_refused_before_writing(tmp_path):
    from mtl_tf.config import RunConfig
    from mtl_tf.orchestration.runs import run

    config = RunConfig(dataset="multi_mnist", data_source="embedded", train_size=20,
                       test_size=10, regression_loss_units="standardized",
                       output_dir=str(tmp_path / "run"))
    with pytest.raises(ValueError, match="top_left, bottom_right are all classification"):
        run(config)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args", [
    ["--dataset=multi_mnist"],
    ["--dataset=mtfl", "--tasks=gender,smile"],
    ["--dataset=synthetic"],
])
def test_the_option_without_a_regression_task_is_one_line_before_tensorflow(tmp_path, args):
    out = tmp_path / "run"
    result = _without_tensorflow(tmp_path, *args, "--regression_loss_units=standardized",
                                 f"--output_dir={out}")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "has no regression task; drop the flag" in lines[0], lines
    assert not out.exists()


def test_a_csv_without_a_regression_column_is_refused_before_tensorflow(tmp_path):
    table = tmp_path / "data.csv"
    table.write_text("image,size\na.png,1\n")
    result = _without_tensorflow(tmp_path, f"--dataset=csv:{table}", "--tasks=size",
                                 "--regression_loss_units=standardized",
                                 f"--output_dir={tmp_path / 'run'}")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: --regression_loss_units=standardized rescales regression losses, and "
        f"--dataset=csv:{table} --tasks=size has no regression task; drop the flag"]


def test_data_with_regression_loss_units_shares_the_arrays():
    from mtl_tf.data.multitask import MultiTaskData

    rng = np.random.default_rng(2)
    labels = {"kind": rng.integers(0, 3, 8), "shape": rng.normal(0, 4, (8, 3)),
              "weight": rng.normal(70, 12, (8, 1))}
    images = np.zeros((8, 4, 4), np.uint8)
    data = MultiTaskData("toy", SPECS, (4, 4, 1), images, labels, images, labels, "test")
    assert data.with_regression_loss_units("raw") is data
    scaled = data.with_regression_loss_units("standardized")
    assert scaled.tasks == with_target_std(SPECS, data.train_labels)
    assert data.tasks == SPECS  # the original is untouched
    assert scaled.train_images is data.train_images
    with pytest.raises(ValueError, match="unknown regression loss units 'z'"):
        data.with_regression_loss_units("z")
