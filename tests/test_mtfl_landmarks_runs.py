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
