"""Tests for mtl_tf.orchestration.grid_search: the weight lattice and the keras-tuner driver."""

from __future__ import annotations

import dataclasses
import glob
import math
import os

import numpy as np
import pytest

from mtl_tf import methods
from mtl_tf.config import RunConfig
from mtl_tf.data.multi_mnist import make_multi_pairs
from mtl_tf.orchestration import grid_search
from mtl_tf.orchestration.grid_search import grid_weight_vectors, run_grid_search
from tests.conftest import make_items, make_tiny_data


def test_lattice_two_tasks_matches_pareto_mtl_grid():
    assert grid_weight_vectors(2, 3) == [(0.25, 0.75), (0.5, 0.5), (0.75, 0.25)]
    assert grid_weight_vectors(2, 1) == [(0.5, 0.5)]


@pytest.mark.parametrize("num_tasks", [2, 3])
@pytest.mark.parametrize("points", [2, 3, 5, 8])
def test_lattice_is_the_interior_simplex_lattice(num_tasks, points):
    divisions = points + 1
    grid = grid_weight_vectors(num_tasks, points)
    assert len(grid) == math.comb(divisions - 1, num_tasks - 1)
    assert len(set(grid)) == len(grid)
    for w in grid:
        assert len(w) == num_tasks
        assert sum(w) == pytest.approx(1.0)
        assert min(w) >= 1 / divisions - 1e-12
        # Every component is a multiple of 1/H.
        np.testing.assert_allclose(np.array(w) * divisions, np.round(np.array(w) * divisions))


def test_lattice_three_tasks_small():
    assert grid_weight_vectors(3, 2) == [(1 / 3, 1 / 3, 1 / 3)]


@pytest.mark.parametrize("num_tasks,points,match", [
    (2, 0, "grid_points must be >= 1"),
    (3, 1, "grid_points >= 2"),
    (0, 3, "num_tasks"),
])
def test_lattice_rejects_bad_arguments(num_tasks, points, match):
    with pytest.raises(ValueError, match=match):
        grid_weight_vectors(num_tasks, points)


def _data_with_val():
    data = make_tiny_data()
    val_x, val_y = make_items(100, 7)
    val_images, val_labels = make_multi_pairs(
        val_x, val_y, val_x, val_y, 200, 7, require_different_classes=True
    )
    return dataclasses.replace(data, val_images=val_images, val_labels=val_labels)


def _config(output_dir: str) -> RunConfig:
    return RunConfig(
        epochs=1, backbone="lenet", batch_size=50, verbose=0, grid_points=2,
        output_dir=output_dir,
    )


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """One finished two-point grid search: (config, data, run_dir, results, best)."""
    run_dir = str(tmp_path_factory.mktemp("grid"))
    config, data = _config(run_dir), _data_with_val()
    results, best = run_grid_search(config, methods.get_method("gs"), data, run_dir)
    return config, data, run_dir, results, best


def test_runs_the_requested_grid(searched):
    _, _, run_dir, results, _ = searched
    assert [r["name"] for r in results] == ["w=0.333,0.667", "w=0.667,0.333"]
    assert [r["directory"] for r in results] == ["grid/0", "grid/1"]
    for r, expected in zip(results, grid_weight_vectors(2, 2), strict=True):
        # task_weights are the weights the trainer logged during training.
        logged = [r["task_weights"]["top_left"], r["task_weights"]["bottom_right"]]
        np.testing.assert_allclose(logged, expected, rtol=1e-6)
        assert set(r["validation"]) == {"accuracy", "joint_accuracy"}
        assert set(r["validation"]["accuracy"]) == {"top_left", "bottom_right"}
        assert 0.0 <= r["validation"]["joint_accuracy"] <= 1.0
        assert r["num_examples"] == 200 and 0.0 <= r["joint_accuracy"] <= 1.0
        assert glob.glob(os.path.join(run_dir, r["directory"], "checkpoints", "ckpt-1.*"))


def _last_scalar(event_dir: str, tag: str) -> float:
    import tensorflow as tf

    values = []
    for path in sorted(glob.glob(os.path.join(event_dir, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for v in event.summary.value:
                if v.tag == tag:
                    values.append((event.step, float(tf.make_ndarray(v.tensor))))
    assert values, f"no {tag} in {event_dir}"
    return max(values)[1]


def test_keras_validation_curves_are_the_held_out_pairs_not_the_test_set(searched):
    """TensorBoard's validation/ curve of each point is its score on the validation pairs
    (the number keras-tuner selects on), not on the test set."""
    _, _, run_dir, results, _ = searched
    for r in results:
        curve = _last_scalar(os.path.join(run_dir, r["directory"], "tensorboard", "validation"),
                             "epoch_joint_accuracy")
        assert curve == pytest.approx(r["validation"]["joint_accuracy"], abs=1e-6)
    # The two sets differ enough on this data that the check above can tell them apart.
    assert any(abs(r["validation"]["joint_accuracy"] - r["joint_accuracy"]) > 1e-3
               for r in results), results


def test_uses_keras_tuner_one_trial_per_point(searched):
    _, _, run_dir, _, _ = searched
    trials = sorted(glob.glob(os.path.join(run_dir, "tuner", "epochs_1", "trial_*")))
    assert len(trials) == 2
    assert os.path.exists(os.path.join(run_dir, "tuner", "epochs_1", "oracle.json"))


def test_best_index_is_validation_argmax(searched):
    _, _, _, results, best = searched
    val = [r["validation"]["joint_accuracy"] for r in results]
    assert best == int(np.argmax(val))


def test_rerun_trains_nothing(searched):
    config, data, run_dir, results, best = searched
    checkpoints = sorted(glob.glob(os.path.join(run_dir, "grid", "*", "checkpoints", "*")))
    mtimes = [os.path.getmtime(p) for p in checkpoints]
    again, again_best = run_grid_search(config, methods.get_method("gs"), data, run_dir)
    assert again == results and again_best == best
    assert [os.path.getmtime(p) for p in checkpoints] == mtimes
    assert len(glob.glob(os.path.join(run_dir, "tuner", "epochs_1", "trial_*"))) == 2


def test_interrupted_search_resumes_unfinished_points_only(tmp_path, monkeypatch):
    run_dir = str(tmp_path)
    config, data, spec = _config(run_dir), _data_with_val(), methods.get_method("gs")
    real_train_model = grid_search.train_model
    trained: list[str] = []

    def crash_on_second(config, spec, data, plan, model_dir):
        if plan.subdir == "grid/1":
            raise OSError("disk full")
        trained.append(plan.subdir)
        return real_train_model(config, spec, data, plan, model_dir)

    monkeypatch.setattr(grid_search, "train_model", crash_on_second)
    # The original error surfaces; keras-tuner does not swallow it as a failed trial.
    with pytest.raises(OSError, match="disk full"):
        run_grid_search(config, spec, data, run_dir)
    assert trained == ["grid/0"]

    def record(config, spec, data, plan, model_dir):
        trained.append(plan.subdir)
        return real_train_model(config, spec, data, plan, model_dir)

    monkeypatch.setattr(grid_search, "train_model", record)
    results, _ = run_grid_search(config, spec, data, run_dir)
    assert trained == ["grid/0", "grid/1"]
    assert [r["name"] for r in results] == ["w=0.333,0.667", "w=0.667,0.333"]


def test_requires_validation_split(tmp_path):
    with pytest.raises(ValueError, match="--val_size > 0"):
        run_grid_search(
            _config(str(tmp_path)), methods.get_method("gs"), make_tiny_data(), str(tmp_path)
        )
    assert not os.path.exists(tmp_path / "tuner")
