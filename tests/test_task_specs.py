"""TaskSpec and the MultiTaskData label contract (mtl_tf.tasks, mtl_tf.data.multitask)."""

from __future__ import annotations

import numpy as np
import pytest

from mtl_tf.data.multitask import MultiTaskData
from mtl_tf.tasks import TaskSpec, as_label_dict, classification_specs, specs_from_json

LANDMARKS = TaskSpec("landmarks", "regression", 10, landmark_eyes=(0, 1))
GENDER = TaskSpec("gender", "classification", 2, class_names=("male", "female"))


def test_spec_defaults_and_round_trip():
    assert LANDMARKS.loss == "mse" and LANDMARKS.is_regression
    assert GENDER.loss is None and GENDER.is_classification
    assert LANDMARKS.label_shape(3) == (3, 10) and GENDER.label_shape(3) == (3,)
    specs = (LANDMARKS, GENDER, TaskSpec("age", "regression", 1, loss="l1"))
    assert specs_from_json([s.to_json() for s in specs]) == specs


@pytest.mark.parametrize("kwargs,match", [
    ({"kind": "ranking", "size": 2}, "kind must be one of"),
    ({"kind": "classification", "size": 0}, "size must be >= 1"),
    ({"kind": "classification", "size": 2, "loss": "mse"}, "cross-entropy"),
    ({"kind": "regression", "size": 2, "loss": "huber"}, "mse, l1"),
    ({"kind": "regression", "size": 2, "class_names": ("a", "b")}, "classification task"),
    ({"kind": "classification", "size": 3, "class_names": ("a", "b")}, "2 class names"),
    ({"kind": "regression", "size": 10, "landmark_eyes": (0, 5)}, "landmark_eyes"),
    ({"kind": "regression", "size": 9, "landmark_eyes": (0, 1)}, "even-sized"),
])
def test_spec_rejects_bad_declarations(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TaskSpec("t", **kwargs)


def test_labels_checked_against_specs():
    specs = (LANDMARKS, GENDER)
    good = {"landmarks": np.zeros((4, 10)), "gender": np.array([0, 1, 1, 0])}
    out = as_label_dict(good, specs)
    assert out["landmarks"].dtype == np.float32 and out["gender"].dtype == np.int32
    with pytest.raises(ValueError, match="outside 0..1"):
        as_label_dict({**good, "gender": np.array([0, 2, 1, 0])}, specs)
    with pytest.raises(ValueError, match=r"shape \[N, 10\]"):
        as_label_dict({**good, "landmarks": np.zeros((4, 9))}, specs)
    with pytest.raises(ValueError, match="non-finite"):
        as_label_dict({**good, "landmarks": np.full((4, 10), np.nan)}, specs)
    with pytest.raises(ValueError, match="missing"):
        as_label_dict({"gender": good["gender"]}, specs)
    with pytest.raises(ValueError, match="different numbers"):
        as_label_dict({**good, "gender": np.array([0, 1])}, specs)
    with pytest.raises(ValueError, match="must be a dict"):
        as_label_dict(np.zeros((4, 2), np.int32), specs)


def test_multitask_data_converts_legacy_matrix_and_holds_mixed_tasks():
    matrix = np.array([[1, 2], [3, 4], [5, 6]], np.int64)
    data = MultiTaskData("x", classification_specs(("a", "b"), (10, 10)), (4, 4, 1),
                         np.zeros((3, 4, 4), np.uint8), matrix,
                         np.zeros((3, 4, 4), np.uint8), matrix, "test")
    np.testing.assert_array_equal(data.train_labels["b"], [2, 4, 6])
    np.testing.assert_array_equal(data.label_matrix("test"), matrix)
    assert data.num_examples("train") == 3 and data.num_examples("val") == 0
    mixed = MultiTaskData("y", (LANDMARKS, GENDER), (4, 4, 1),
                          np.zeros((2, 4, 4), np.uint8),
                          {"landmarks": np.ones((2, 10)), "gender": [0, 1]},
                          np.zeros((2, 4, 4), np.uint8),
                          {"landmarks": np.ones((2, 10)), "gender": [1, 1]}, "test")
    assert mixed.task_names == ("landmarks", "gender") and mixed.num_classes == (10, 2)
    assert mixed.spec("landmarks") is LANDMARKS
    assert list(mixed.labels("test", ["gender"])) == ["gender"]
    with pytest.raises(ValueError, match="regressions"):
        mixed.label_matrix("train")
