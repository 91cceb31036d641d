"""What the attacks share: eta grids, the attacked loss in words, argument checks and the
result dicts (`mtl_tf.evaluation.attacks` documents the result schema)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from mtl_tf.evaluation.protocol import Protocol
from mtl_tf.tasks import TaskSpec

# MTVIB §VI-B's grid, plus eta = 0 (clean accuracy) as the reference row.
DEFAULT_ETAS: tuple[float, ...] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)

LOSS_DESCRIPTION = (
    "unweighted sum over tasks of the mean cross-entropy on the true labels "
    "(sum_k mean_i CE(y_ik, logits_k(x_i)))"
)


def validate_etas(etas: Sequence[float]) -> list[float]:
    """Checks an eta grid; returns it as floats.

    Raises:
      ValueError: (naming ``--etas``) if empty, not finite, outside [0, 1] (pixels live in
        [0, 1], so a larger L-inf budget is meaningless), or with duplicate keys.
    """
    values = [float(e) for e in etas]
    if not values:
        raise ValueError("--etas must list at least one perturbation size")
    bad = [e for e in values if not (math.isfinite(e) and 0.0 <= e <= 1.0)]
    if bad:
        raise ValueError(f"--etas must lie in [0, 1] (pixel range), got {bad}")
    keys = [eta_key(e) for e in values]
    if len(set(keys)) != len(keys):
        raise ValueError(f"--etas has duplicate values: {keys}")
    return values


def eta_key(eta: float) -> str:
    """The result-dict key of one eta: ``f"{eta:g}"`` ("0", "0.05", "0.1", ...)."""
    return f"{float(eta):g}"


def describe_loss(protocol: Protocol, weights: Sequence[float] | None = None,
                  weights_source: str | None = None, vib: bool = False,
                  specs: Sequence[TaskSpec | None] = ()) -> str:
    """The attacked loss of `protocol`, in words (metrics.json ``loss``, the line under
    the report's table). A regression task among `specs` enters with its training loss
    (`mtl_tf.training.losses.per_example_loss`, via `attack_loss`), not a cross-entropy:
    said so, naming the task and its loss."""
    text = _describe_classification_loss(protocol, weights, weights_source, vib)
    regression = [s for s in specs if s is not None and s.is_regression]
    if regression:
        text += ("; a regression task's term is its own training loss instead of the "
                 "cross-entropy (" + ", ".join(f"{s.name}: mean {s.loss}" for s in regression)
                 + ")")
    return text


def _describe_classification_loss(protocol: Protocol, weights: Sequence[float] | None,
                                  weights_source: str | None, vib: bool) -> str:
    if protocol.attack_ce == "logits" and protocol.attack_loss == "sum":
        return LOSS_DESCRIPTION
    ce = ("the mean cross-entropy on the true labels" if protocol.attack_ce == "logits" else
          "the mean cross-entropy on softmax probabilities clipped to [1e-7, 1 - 1e-7] "
          "(a zero input gradient once p(true class) > 1 - 1e-7)")
    if protocol.attack_loss == "sum":
        return f"unweighted sum over tasks of {ce}"
    if protocol.attack_loss == "per_task":
        return f"each task's own loss, {ce}, attacked one task at a time"
    text = (f"the model's training objective: sum over tasks of w_k times {ce}, "
            f"w = ({', '.join(f'{w:.4g}' for w in weights or ())}), {weights_source}")
    return text + (" + beta * KL (MTVIB eq. 23)" if vib else "")


def check_eot(model, eot_samples: int) -> int:
    eot_samples = int(eot_samples)
    if eot_samples < 0:
        raise ValueError(f"eot_samples must be >= 0, got {eot_samples}")
    if eot_samples and not getattr(model, "is_vib", False):
        # A deterministic encoder has no randomness to take an expectation over.
        raise ValueError("eot_samples >= 1 needs a VIB model (model.is_vib)")
    return eot_samples


def check_pgd(steps: int, step_size: float | None, eta: float) -> tuple[int, float]:
    if int(steps) != steps or steps < 1:
        raise ValueError(f"--steps must be an integer >= 1, got {steps}")
    if step_size is not None and not (math.isfinite(step_size) and step_size > 0):
        raise ValueError(f"step_size must be > 0, got {step_size}")
    # Default 2.5 * eta / steps (Madry et al.): enough to cross the ball and come back.
    return int(steps), float(2.5 * eta / steps if step_size is None else step_size)


def batches(dataset: tf.data.Dataset, attacker):
    """(float32 images, the attacker's stacked labels) of each batch of `dataset`."""
    for batch in dataset:
        images, labels = batch[0], batch[1]
        yield tf.cast(images, tf.float32), attacker.stack_labels(labels)


def fractions(counts: np.ndarray, task_names: Sequence[str], n: int) -> dict[str, float]:
    return {t: float(counts[k]) / n for k, t in enumerate(task_names)}


def result_dict(
    attack: str,
    etas: Sequence[float],
    task_names: Sequence[str],
    task_counts: np.ndarray,
    joint_counts: np.ndarray | None,
    num_examples: int,
    *,
    protocol: Protocol,
    eta_scale: float,
    loss: str,
    clean_counts: np.ndarray | None,
    clean_joint: int | None,
    zero_gradient: dict | None,
    specs: Sequence[TaskSpec] | None = None,
    **extra: Any,
) -> dict:
    """The result dict (`mtl_tf.evaluation.attacks`). Counts are per task: a
    classification task's right predictions, a regression task's summed error (NME for
    landmarks, else MAE). A regression task's mean error goes under ``"error"``
    ({eta_key: {task: value}}, its metric named in ``"error_metric"``) instead of
    ``"accuracy"``; the joint accuracy counts the classification tasks (null without any).
    """
    if num_examples == 0:
        raise ValueError("the data set is empty")
    specs = list(specs) if specs is not None else [None] * len(task_names)
    classified = [k for k, s in enumerate(specs) if s is None or s.is_classification]
    regressed = [k for k, s in enumerate(specs) if s is not None and not s.is_classification]
    names = [task_names[k] for k in classified]
    # Without a classification task there is no joint accuracy: null at every eta.
    no_joint = not classified
    if no_joint:
        clean_joint = None

    def pick(counts: np.ndarray, ks: list[int]) -> np.ndarray:
        return np.asarray(counts)[ks]

    result = {
        "attack": attack,
        "loss": loss,
        "protocol": protocol.describe(eta_scale),
        **extra,
        "num_examples": int(num_examples),
        "etas": [float(e) for e in etas],
        "zero_gradient_fraction": zero_gradient,
        "clean_accuracy": (None if clean_counts is None
                           else fractions(pick(clean_counts, classified), names, num_examples)),
        "clean_joint_accuracy": (None if clean_joint is None
                                 else float(clean_joint) / num_examples),
        "accuracy": {
            eta_key(e): fractions(pick(task_counts[i], classified), names, num_examples)
            for i, e in enumerate(etas)
        },
        "joint_accuracy": None if joint_counts is None else {
            eta_key(e): None if no_joint else float(joint_counts[i]) / num_examples
            for i, e in enumerate(etas)
        },
    }
    if regressed:
        reg_names = [task_names[k] for k in regressed]
        result["error_metric"] = {task_names[k]: specs[k].error_metric for k in regressed}
        result["error"] = {
            eta_key(e): fractions(pick(task_counts[i], regressed), reg_names, num_examples)
            for i, e in enumerate(etas)
        }
        if clean_counts is not None:
            result["clean_error"] = fractions(pick(clean_counts, regressed), reg_names,
                                              num_examples)
    return result


def per_task_groups(protocol: Protocol, task_names: Sequence[str]) -> list[list[str]]:
    """The task lists attacked one at a time: each task alone (per_task), or all at once."""
    if protocol.attack_loss == "per_task":
        return [[t] for t in task_names]
    return [list(task_names)]


def weights_for(protocol: Protocol, group: Sequence[str], weights) -> list[float] | None:
    if protocol.attack_loss != "weighted":
        return None
    if weights is None:
        raise ValueError("--attack_loss=weighted needs the model's objective weights")
    by_task = dict(zip(weights[0], weights[1], strict=True))
    return [by_task[t] for t in group]
