"""Test-set evaluation: per-task accuracy and joint accuracy (MTVIB Fig. 5).

Evaluation always runs the model in inference mode (`training=False`): BatchNorm uses its
moving statistics and a VIB encoder uses z = mean, so the numbers are those a served
model gives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf


def predict_logits(model, dataset: tf.data.Dataset) -> dict[str, np.ndarray]:
    """Runs `model` in inference mode over `dataset`; returns {task: logits [N, C]}."""
    chunks: dict[str, list[np.ndarray]] = {}
    for images, _ in dataset:
        out = model(images, training=False)
        for task, logits in out.items():
            chunks.setdefault(task, []).append(np.asarray(logits))
    return {t: np.concatenate(c) for t, c in chunks.items()}


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def summarize(
    logits: Mapping[str, np.ndarray], labels: np.ndarray, task_names: Sequence[str]
) -> dict:
    """Per-task accuracy and cross-entropy, and joint accuracy.

    Args:
      logits: {task: [N, C]} for the tasks to score (a subset of `task_names` is fine).
      labels: int [N, len(task_names)], column k holding task_names[k]'s labels.
      task_names: names of the label columns.

    Returns:
      {"accuracy": {task: float}, "loss": {task: float}, "joint_accuracy": float,
       "num_examples": int}; joint accuracy is the fraction of examples with every scored
      task right (MTVIB Fig. 5).
    """
    accuracy, loss, correct = {}, {}, []
    n = None
    for task, task_logits in logits.items():
        y = labels[:, list(task_names).index(task)].astype(np.int64)
        n = len(y)
        if len(task_logits) != n:
            raise ValueError(f"{task}: {len(task_logits)} predictions for {n} labels")
        right = task_logits.argmax(axis=-1) == y
        correct.append(right)
        accuracy[task] = float(right.mean())
        loss[task] = float(-_log_softmax(task_logits)[np.arange(n), y].mean())
    joint = float(np.logical_and.reduce(correct).mean()) if correct else float("nan")
    return {"accuracy": accuracy, "loss": loss, "joint_accuracy": joint, "num_examples": n or 0}
