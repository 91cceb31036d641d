"""Every method on MTFL landmarks + attributes (a regression beside classifications),
re-scoring with --mode=eval and exporting the run: the miniature MTFL copy of
tests/test_mtfl.py at 36x36, one epoch."""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from mtl_tf.config import RunConfig
from mtl_tf.orchestration.runs import run
from tests.test_mtfl import write_mini_mtfl

TASKS = ("landmarks", "gender", "pose")


@pytest.fixture(scope="module")
def mini_root(tmp_path_factory):
    root = os.path.join(str(tmp_path_factory.mktemp("mtfl_lm")), "mtfl")
    write_mini_mtfl(root)
    return root


def _config(root: str, out: str, method: str) -> RunConfig:
    return RunConfig(method=method, dataset="mtfl", data_dir=root, tasks=TASKS, image_size=36,
                     train_size=0, test_size=0, epochs=1, batch_size=8, num_preferences=3,
                     preference_index=0, etas=(0.0, 0.1), verbose=0, output_dir=out)


@pytest.mark.parametrize("method", ["stl", "gs", "uwl", "mtvib", "gradnorm", "mgda",
                                    "pareto_mtl"])
def test_every_method_trains_landmarks_with_attributes(mini_root, tmp_path, method):
    metrics = run(_config(mini_root, str(tmp_path / "run"), method))
    assert metrics["tasks"] == list(TASKS)
    assert metrics["task_specs"][0] == {"name": "landmarks", "kind": "regression", "size": 10,
                                        "loss": "mse", "landmark_eyes": [0, 1]}
    (model, *_) = metrics["models"]
    if method == "stl":  # one model per task: the landmarks model has only an error
        model = next(m for m in metrics["models"] if m["name"] == "landmarks")
        assert model["accuracy"] == {} and model["joint_accuracy"] is None
    else:
        assert set(model["accuracy"]) == {"gender", "pose"}
    assert math.isfinite(model["error"]["landmarks"]["nme"])
    rob = model["robustness"]
    assert rob["error_metric"] == {"landmarks": "nme"}
    assert rob["error"]["0"]["landmarks"] == pytest.approx(model["error"]["landmarks"]["nme"],
                                                           rel=1e-4)


def test_eval_mode_rescores_and_export_serves_predictions(mini_root, tmp_path):
    from mtl_tf.export.runs import export_run
    from mtl_tf.orchestration.eval_only import evaluate_run

    out = str(tmp_path / "run")
    config = _config(mini_root, out, "gs")
    first = run(config)
    again = evaluate_run(out, dataclasses.replace(config, etas=(0.0, 0.2)))
    assert again["error"]["landmarks"]["nme"] == pytest.approx(
        first["error"]["landmarks"]["nme"], rel=1e-5)
    assert set(again["robustness"]["error"]) == {"0", "0.2"}
    (path,) = export_run(out, str(tmp_path / "export"))
    loaded = tf.saved_model.load(path)
    out_map = loaded.signatures["serving_default"](image=tf.zeros((2, 36, 36, 3)))
    assert out_map["landmarks_prediction"].shape == (2, 10)
    assert "gender_class_name" in out_map and "landmarks_probabilities" not in out_map
    assert np.all(np.isfinite(out_map["landmarks_prediction"].numpy()))


def test_cli_pareto_mtl_on_rescaled_losses_trains_exports_and_rescores(mini_root, tmp_path):
    """The user path of --pareto_loss_scale=initial with
    --pareto_grad_normalization=l2: main.py with export on, then --eval_only on the run.
    The landmark mse starts far below the cross-entropies; the first-step losses are
    recorded as the scales, and the weights applied to the raw landmark loss are scaled
    up by the same factor."""
    import json
    import subprocess
    import sys

    out, export_dir = str(tmp_path / "run"), str(tmp_path / "models")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def main(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, os.path.join(repo, "main.py"), *args], cwd=repo,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), capture_output=True, text=True,
            timeout=600)

    result = main("--method=pareto_mtl", "--dataset=mtfl", f"--data_dir={mini_root}",
                  f"--tasks={','.join(TASKS)}", "--image_size=36", "--train_size=0",
                  "--test_size=0", "--epochs=1", "--batch_size=8", "--num_preferences=3",
                  "--pareto_loss_scale=initial", "--pareto_grad_normalization=l2",
                  "--etas=0,0.1", "--verbose=0",
                  f"--output_dir={out}", f"--export_dir={export_dir}")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    with open(os.path.join(out, "metrics.json")) as f:
        metrics = json.load(f)
    models = metrics["models"]
    assert len(models) == 3
    for model in models:
        assert model["loss_scale"] == "initial"
        assert model["grad_normalization"] == "l2"
        scales = dict(zip(TASKS, model["initial_losses"], strict=True))
        # mse of coordinates in [0, 1] vs cross-entropies near ln 2 and ln 5.
        assert 0 < scales["landmarks"] < 0.2 < scales["gender"] < scales["pose"]
    with open(os.path.join(out, "flags.txt")) as f:
        flags_text = f.read()
    assert "--pareto_loss_scale=initial" in flags_text
    assert "--pareto_grad_normalization=l2" in flags_text
    assert sorted(n for n in os.listdir(export_dir) if n != "models.config") == [
        f"pareto_mtl_preference_{i}" for i in range(3)]
    loaded = tf.saved_model.load(os.path.join(export_dir, "pareto_mtl_preference_1", "1"))
    served = loaded.signatures["serving_default"](image=tf.zeros((1, 36, 36, 3)))
    assert served["landmarks_prediction"].shape == (1, 10)

    result = main("--eval_only", f"--run_dir={out}", "--etas=0,0.1")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    with open(os.path.join(out, "metrics.json")) as f:
        rescored = json.load(f)
    for before, after in zip(models, rescored["models"], strict=True):
        assert after["error"]["landmarks"]["nme"] == pytest.approx(
            before["error"]["landmarks"]["nme"], rel=1e-5)
