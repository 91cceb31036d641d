"""Test-set evaluation: per-task accuracy, regression errors (MAE, RMSE, landmark NME)
and joint accuracy (MTVIB Fig. 5).

Evaluation always runs the model in inference mode (`training=False`): BatchNorm uses its
moving statistics and a VIB encoder uses z = mean, so the numbers are those a served
model gives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

from mtl_tf.tasks import CLASSIFICATION, TaskSpec


def predict_logits(model, dataset: tf.data.Dataset) -> dict[str, np.ndarray]:
    """Runs `model` in inference mode over `dataset`; returns {task: outputs}: logits
    [N, C] of a classification head, predictions [N, d] of a regression head."""
    chunks: dict[str, list[np.ndarray]] = {}
    for images, _ in dataset:
        out = model(images, training=False)
        for task, logits in out.items():
            chunks.setdefault(task, []).append(np.asarray(logits))
    return {t: np.concatenate(c) for t, c in chunks.items()}


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def landmark_nme(pred: np.ndarray, target: np.ndarray, eyes: tuple[int, int]) -> np.ndarray:
    """Per-example normalised mean error of K landmarks (TCDCN, Zhang et al. 2014, §4).

    NME_i = (1/K) sum_k ||p_ik - t_ik||_2 / ||t_i,eyes[0] - t_i,eyes[1]||_2, with the
    points laid out as ``(x_1..x_K, y_1..y_K)`` (see `mtl_tf.tasks`).
    """
    k = pred.shape[-1] // 2
    dx, dy = pred[:, :k] - target[:, :k], pred[:, k:] - target[:, k:]
    error = np.sqrt(dx**2 + dy**2).mean(axis=1)
    a, b = eyes
    ocular = np.hypot(target[:, a] - target[:, b], target[:, k + a] - target[:, k + b])
    return error / np.maximum(ocular, 1e-12)


def regression_errors(pred: np.ndarray, target: np.ndarray, spec: TaskSpec) -> dict:
    """MAE and RMSE over all outputs and examples, the training loss, and NME for
    landmarks (``spec.landmark_eyes``)."""
    diff = pred.astype(np.float64) - target
    out = {"mae": float(np.abs(diff).mean()), "rmse": float(np.sqrt((diff**2).mean()))}
    if spec.landmark_eyes is not None:
        out["nme"] = float(landmark_nme(pred, target, spec.landmark_eyes).mean())
    return out


def regression_loss(pred: np.ndarray, target: np.ndarray, spec: TaskSpec) -> float:
    """The task's training loss (mean over outputs and examples): mse or l1."""
    diff = pred.astype(np.float64) - target
    return float((diff**2).mean() if spec.loss == "mse" else np.abs(diff).mean())


def summarize(
    outputs: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray] | np.ndarray,
    task_names: Sequence[str],
    specs: Sequence[TaskSpec] | None = None,
) -> dict:
    """Per-task scores and joint accuracy.

    Args:
      outputs: {task: logits [N, C] or regression predictions [N, d]} for the tasks to
        score (a subset of `task_names` is fine).
      labels: {task: labels} (see `MultiTaskData`), or the papers' int [N, T] matrix
        whose column k holds task_names[k]'s labels.
      task_names: names of the tasks (of the matrix columns).
      specs: the tasks' specs, in `task_names` order; default: all classification.

    Returns:
      {"accuracy": {task: float} (classification tasks), "loss": {task: float} (every
      task: cross-entropy, or its regression loss), "error": {task: {"mae", "rmse"[,
      "nme"]}} (regression tasks), "joint_accuracy": float, "num_examples": int}. Joint
      accuracy is the fraction of examples with every scored *classification* task right
      (MTVIB Fig. 5); regression tasks have no "right", so they are left out of it (None
      when no classification task is scored).
    """
    names = list(task_names)
    by_name = {s.name: s for s in specs} if specs is not None else {}
    if not isinstance(labels, Mapping):
        matrix = np.asarray(labels)
        labels = {t: matrix[:, k] for k, t in enumerate(names)}
    accuracy, loss, error, correct = {}, {}, {}, []
    n = None
    for task, out in outputs.items():
        spec = by_name.get(task) or TaskSpec(task, CLASSIFICATION, out.shape[-1])
        y = np.asarray(labels[task])
        n = len(y)
        if len(out) != n:
            raise ValueError(f"{task}: {len(out)} predictions for {n} labels")
        if spec.is_regression:
            target = y.reshape(n, -1).astype(np.float64)
            error[task] = regression_errors(out, target, spec)
            loss[task] = regression_loss(out, target, spec)
            continue
        y = y.astype(np.int64)
        right = out.argmax(axis=-1) == y
        correct.append(right)
        accuracy[task] = float(right.mean())
        loss[task] = float(-_log_softmax(out)[np.arange(n), y].mean())
    joint = float(np.logical_and.reduce(correct).mean()) if correct else None
    result = {"accuracy": accuracy, "loss": loss, "joint_accuracy": joint, "num_examples": n or 0}
    if error:
        result["error"] = error
    return result
