"""Regression tasks end to end: loss, heads, metrics, uncertainty weighting, FGSM, export,
MTFL landmarks (mtl_tf.tasks, issue #18 items 1-3). Small generated data, real TF."""

from __future__ import annotations

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtl_tf.data.mtfl import load_mtfl
from mtl_tf.data.pipeline import make_dataset
from mtl_tf.evaluation import attacks
from mtl_tf.evaluation import metrics as metrics_lib
from mtl_tf.models import build_network
from mtl_tf.tasks import TaskSpec
from mtl_tf.training.losses import per_example_loss
from mtl_tf.training.trainer import MultiTaskTrainer
from mtl_tf.weighting.fixed import FixedWeighting
from mtl_tf.weighting.uncertainty import UncertaintyWeighting
from tests.test_mtfl import write_mini_mtfl

# A bright 6x6 square on a 36x36 canvas: "where" = its centre (x, y) / 36 - 0.5
# (regression), "row" = which third of the canvas it is in, top to bottom (3 classes).
WHERE = TaskSpec("where", "regression", 2)
ROW = TaskSpec("row", "classification", 3)


def _square_data(n: int, seed: int):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 40, size=(n, 36, 36)).astype(np.uint8)
    corner = rng.integers(0, 30, size=(n, 2))  # (x, y) of the top-left pixel
    for i, (x, y) in enumerate(corner):
        images[i, y:y + 6, x:x + 6] = 255
    centre = (corner + 3.0) / 36.0 - 0.5
    labels = {"where": centre.astype(np.float32),
              "row": np.minimum((corner[:, 1] + 3) // 12, 2).astype(np.int32)}
    return images, labels


def _trained_mixed_model(weighting=None, epochs: int = 12):
    keras.utils.set_random_seed(0)
    images, labels = _square_data(600, 0)
    encoder, heads = build_network(backbone="lenet", encoder="deterministic",
                                   input_shape=(36, 36, 1), num_classes=[2, 3],
                                   task_names=["where", "row"])
    trainer = MultiTaskTrainer(encoder, heads, weighting or FixedWeighting(2),
                               task_specs=[WHERE, ROW])
    trainer.compile(optimizer=keras.optimizers.Adam(3e-3))
    for epoch in range(epochs):
        trainer.fit(make_dataset(images, labels, ["where", "row"], 50, shuffle=True, seed=0,
                                 epoch=epoch), verbose=0)
    return trainer


@pytest.fixture(scope="module")
def mixed():
    trainer = _trained_mixed_model()
    images, labels = _square_data(200, 1)
    test = make_dataset(images, labels, ["where", "row"], 100, shuffle=False, seed=0)
    return trainer, images, labels, test


def test_per_example_loss_follows_the_spec():
    y = np.array([[0.0, 1.0], [2.0, -1.0]], np.float32)
    p = np.array([[1.0, 1.0], [0.0, 1.0]], np.float32)
    mse = per_example_loss(TaskSpec("a", "regression", 2), y, p).numpy()
    l1 = per_example_loss(TaskSpec("a", "regression", 2, loss="l1"), y, p).numpy()
    np.testing.assert_allclose(mse, [0.5, 4.0])
    np.testing.assert_allclose(l1, [0.5, 2.0])
    ce = per_example_loss(ROW, np.array([1]), np.array([[0.0, 0.0, 0.0]], np.float32)).numpy()
    np.testing.assert_allclose(ce, [np.log(3.0)], rtol=1e-6)


def test_landmark_nme_by_hand():
    # Two points, eyes 0 and 1 at distance 2; prediction off by 1 on point 0 only.
    target = np.array([[0.0, 2.0, 0.0, 0.0]])  # x1 x2 y1 y2
    pred = np.array([[1.0, 2.0, 0.0, 0.0]])
    np.testing.assert_allclose(metrics_lib.landmark_nme(pred, target, (0, 1)), [0.25])


def test_mixed_model_learns_both_tasks_and_metrics_follow_the_specs(mixed):
    trainer, images, labels, test = mixed
    outputs = metrics_lib.predict_logits(trainer, test)
    assert outputs["where"].shape == (200, 2) and outputs["row"].shape == (200, 3)
    summary = metrics_lib.summarize(outputs, labels, ["where", "row"], [WHERE, ROW])
    constant = np.abs(labels["where"] - labels["where"].mean(0)).mean()
    # Regression: MAE well below the best constant; classification above the majority.
    assert summary["error"]["where"]["mae"] < 0.6 * constant, summary
    assert "nme" not in summary["error"]["where"]
    assert summary["accuracy"]["row"] > 0.6 and set(summary["accuracy"]) == {"row"}
    # Joint accuracy counts the classification tasks only: here it is row's accuracy.
    assert summary["joint_accuracy"] == summary["accuracy"]["row"]
    assert summary["loss"]["where"] == pytest.approx(
        float(np.mean((outputs["where"] - labels["where"]) ** 2)), rel=1e-5)
    logs = trainer.evaluate(test, verbose=0, return_dict=True)
    assert logs["where_mae"] == pytest.approx(summary["error"]["where"]["mae"], rel=1e-4)
    assert "row_accuracy" in logs and "where_accuracy" not in logs


def test_fgsm_attacks_the_regression_loss_and_reports_error_growth(mixed):
    trainer, images, labels, test = mixed
    result = attacks.fgsm_evaluate(trainer, test, ["where", "row"], (0.0, 0.1, 0.3))
    clean = metrics_lib.summarize(metrics_lib.predict_logits(trainer, test), labels,
                                  ["where", "row"], [WHERE, ROW])
    assert result["error_metric"] == {"where": "mae"}
    assert result["error"]["0"]["where"] == pytest.approx(clean["error"]["where"]["mae"],
                                                          rel=1e-4)
    assert result["error"]["0.3"]["where"] > 1.5 * result["error"]["0"]["where"]
    assert set(result["accuracy"]["0.1"]) == {"row"}
    # The attacked loss includes the regression loss: attacking "where" alone moves it.
    alone = attacks.fgsm_evaluate(trainer, test, ["where"], (0.0, 0.1))
    assert alone["error"]["0.1"]["where"] > alone["error"]["0"]["where"]
    # The attacked loss as written under the report's table names the regression term.
    for attacked in (result, alone):
        assert attacked["loss"].startswith(attacks.LOSS_DESCRIPTION)
        assert attacked["loss"].endswith("a regression task's term is its own training loss "
                                         "instead of the cross-entropy (where: mean mse)")
    assert alone["joint_accuracy"]["0"] is None and alone["accuracy"]["0"] == {}


def test_uncertainty_weighting_uses_kendalls_regression_form():
    weighting = UncertaintyWeighting(2)
    weighting.build(None)
    weighting.bind_tasks([WHERE, ROW])
    weighting.log_variances.assign([np.log(4.0), np.log(4.0)])
    # Regression: 1 / (2 sigma^2); classification (MTVIB eq. 23): 1 / sigma^2.
    np.testing.assert_allclose(weighting.compute_weights(tf.zeros(2)).numpy(), [0.125, 0.25],
                               rtol=1e-6)
    # Both add log sigma = s / 2.
    assert float(weighting.regularization()) == pytest.approx(np.log(4.0))
    trainer = _trained_mixed_model(UncertaintyWeighting(2), epochs=2)
    assert trainer.weighting.task_specs == (WHERE, ROW)


def test_export_serves_a_regression_head_as_prediction(mixed, tmp_path):
    from mtl_tf.export.saved_model import export_model

    trainer, images, _, _ = mixed
    path = export_model(trainer, str(tmp_path), "mixed")
    loaded = tf.saved_model.load(path)
    x = tf.constant(images[:4, :, :, None].astype(np.float32) / 255.0)
    out = loaded.signatures["serving_default"](image=x)
    assert "where_prediction" in out and "where_probabilities" not in out
    assert "row_probabilities" in out
    np.testing.assert_allclose(out["where_prediction"].numpy(),
                               trainer(x, training=False)["where"].numpy(), atol=1e-5)


def test_mtfl_landmarks_are_normalised_centred_and_selected(tmp_path):
    train, test, _ = write_mini_mtfl(str(tmp_path / "mtfl"))
    data = load_mtfl(str(tmp_path), train_size=0, test_size=0,
                     tasks=["landmarks", "gender", "pose"], image_size=36)
    assert data.task_names == ("landmarks", "gender", "pose")
    assert data.spec("landmarks").is_regression and data.spec("landmarks").landmark_eyes == (0, 1)
    assert data.input_shape == (36, 36, 3)
    sizes = {"lfw": (250, 250), "net_7876/_": (160, 216), "net": (400, 400), "AFLW": (150, 150)}
    for records, split in ((train, "train"), (test, "test")):
        for record, target in zip(records, data.labels(split)["landmarks"], strict=True):
            w, h = next(v for k, v in sizes.items() if record.path.startswith(k)
                        or k in record.path)
            points = np.asarray(record.landmarks)
            np.testing.assert_allclose(target[:5], points[:5] / w - 0.5, atol=1e-6)
            np.testing.assert_allclose(target[5:], points[5:] / h - 0.5, atol=1e-6)
    np.testing.assert_array_equal(data.labels("test")["gender"], [r.gender - 1 for r in test])
    images, labels = next(iter(data.make_split_dataset("test", [0, 2], 4, shuffle=False,
                                                       seed=0)))
    assert images.shape == (4, 36, 36, 3) and set(labels) == {"landmarks", "pose"}
    assert labels["landmarks"].dtype == tf.float32 and labels["landmarks"].shape == (4, 10)
    with pytest.raises(ValueError, match="MTFL tasks are landmarks, pose"):
        load_mtfl(str(tmp_path), tasks=["landmark"])


def test_bad_tasks_flag_is_one_line_before_tensorflow():
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "main.py", "--dataset=mtfl", "--tasks=landmarks,lm"],
                          cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("error: --tasks=landmarks,lm: unknown lm; --dataset=mtfl has "
                                "the tasks landmarks,pose,gender,smile,glasses")
    assert "Traceback" not in done.stderr


def test_robustness_table_shows_regression_error_growth(mixed):
    from mtl_tf.evaluation.reports.tables import robustness_table

    trainer, _, _, test = mixed
    result = attacks.fgsm_evaluate(trainer, test, ["where", "row"], (0.0, 0.1))
    metrics = {"gs": {"tasks": ["where", "row"], "dataset": "squares", "method": "gs",
                      "accuracy": result["accuracy"]["0"], "joint_accuracy": 0.5,
                      "robustness": result, "models": [{"name": "gs"}]}}
    header, rows = robustness_table(metrics)
    cells = {(r[0], r[1]): r[2] for r in rows}
    # The regression rows: MAE in the target's own units (not x100, no "%"), 3 significant
    # figures; the label names the metric, its unit and the direction.
    label = "where MAE (target's units, lower is better)"
    for eta in ("0", "0.1"):
        error = result["error"][eta]["where"]
        assert cells[(label, eta)] == f"{error:#.3g}".rstrip(".")
        assert float(cells[(label, eta)]) == pytest.approx(error, rel=5e-3)
    assert cells[("row", "0.1")] == f"{100 * result['accuracy']['0.1']['row']:.1f}"


def test_tensorboard_rows_score_regression_tasks_by_error():
    from mtl_tf.config import RunConfig
    from mtl_tf.evaluation.tensorboard_summaries import session_rows

    model = {"name": "preference_0", "directory": "models/preference_0",
             "accuracy": {"row": 0.9}, "error": {"where": {"mae": 0.02, "nme": 0.1}},
             "loss": {"where": 0.001, "row": 0.3}, "joint_accuracy": 0.9}
    metrics = {"tasks": ["where", "row"], "method": "pareto_mtl", "weighting": "pareto_mtl",
               "encoder": "deterministic", "epochs": 1,
               "models": [model, {**model, "name": "preference_1",
                                  "directory": "models/preference_1"}]}
    rows = session_rows(RunConfig(method="pareto_mtl"), metrics)
    # One row per Pareto MTL model (not one row for a "single-task" run), with the errors.
    assert len(rows) == 2
    assert rows[0].metrics["test/where_nme"] == 0.1 and rows[0].metrics["test/row_accuracy"] == 0.9


def test_hparams_show_the_regression_loss_units_of_runs_with_a_regression_task():
    from mtl_tf.config import RunConfig
    from mtl_tf.evaluation.tensorboard_summaries import session_rows

    model = {"name": "uwl", "accuracy": {"row": 0.9}, "error": {"where": {"mae": 0.02}}}
    metrics = {"tasks": ["where", "row"], "method": "uwl", "weighting": "uncertainty",
               "encoder": "deterministic", "epochs": 1, "models": [model],
               "task_specs": [{"name": "where", "kind": "regression", "size": 2},
                              {"name": "row", "kind": "classification", "size": 3}]}
    config = RunConfig(method="uwl", regression_loss_units="standardized")
    assert session_rows(config, metrics)[0].hparams["regression_loss_units"] == "standardized"
    # An all-classification run has no such column (it would be the same "raw" everywhere).
    metrics["task_specs"][0] = {"name": "where", "kind": "classification", "size": 2}
    assert "regression_loss_units" not in session_rows(config, metrics)[0].hparams
