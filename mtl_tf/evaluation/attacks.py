"""Adversarial-robustness evaluation: FGSM (MTVIB eq. 25), PGD and their EOT variants.

MTVIB §VI-B measures robustness with the fast gradient sign method (FGSM, MTVIB eq. 25):

    x_adv = clip(x + eta * sign(grad_x L(w; x; y)), 0, 1)

for eta in {0.05, 0.1, ..., 0.3}. The clip to [0, 1] keeps the attacked images valid
images (the pipeline feeds pixels in [0, 1]); it can only shrink the perturbation.

The attacked loss and the model mode (inference, or expectation over transformation for
VIB models) are described, and computed, in `mtl_tf.evaluation.attack_graph`.

``eot_samples`` defaults to 0, the plain inference-mode attack (reported as "fgsm"/"pgd"),
not 1: a single training-mode sample would make the default attack random, whereas 0 keeps
it deterministic and identical in kind for every model. Use k >= 1 (e.g. 16) for EOT
(reported as "fgsm-eot"/"pgd-eot", with ``eot_samples`` = k).

Cost
----
The sign in eq. 25 does not depend on eta, so `fgsm_evaluate` computes the input gradient
ONCE per batch and scores every eta of the grid from that one sign, in one compiled
``tf.function`` per batch; eta = 0 reuses the clean logits of the gradient pass. PGD's
iterates depend on eta, so `pgd_evaluate` necessarily attacks once per eta.

Results (`fgsm_evaluate`, `pgd_evaluate`)::

    {"attack": "fgsm" | "fgsm-eot" | "pgd" | "pgd-eot", "loss": LOSS_DESCRIPTION,
     "eot_samples": int, "steps": int, "step_size": {eta_key: float} | None,
     "random_start": bool | None, "seed": int, "num_examples": int, "etas": [float],
     "accuracy": {eta_key: {task: float}}, "joint_accuracy": {eta_key: float},
     "error": {eta_key: {task: float}}, "error_metric": {task: "nme" | "mae"}}

("error" only with regression tasks: their mean NME or MAE under attack; accuracy and
joint accuracy cover the classification tasks), with ``eta_key(eta) = f"{eta:g}"``
("0", "0.05", "0.1", ...); the eta = 0 entry is the clean accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from mtl_tf.evaluation.attack_graph import Labels, eot_seeds, get_attacker

__all__ = [
    "DEFAULT_ETAS",
    "LOSS_DESCRIPTION",
    "eta_key",
    "fgsm_evaluate",
    "input_gradient",
    "perturb_fgsm",
    "perturb_pgd",
    "pgd_evaluate",
    "validate_etas",
]

# MTVIB §VI-B's grid, plus eta = 0 (clean accuracy) as the reference row.
DEFAULT_ETAS: tuple[float, ...] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)

LOSS_DESCRIPTION = (
    "unweighted sum over tasks of the mean cross-entropy on the true labels "
    "(sum_k mean_i CE(y_ik, logits_k(x_i))); a regression task adds its own mean "
    "training loss (mse or l1) instead"
)


# ----------------------------------------------------------------------------- validation
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


def _check_eot(model, eot_samples: int) -> int:
    eot_samples = int(eot_samples)
    if eot_samples < 0:
        raise ValueError(f"eot_samples must be >= 0, got {eot_samples}")
    if eot_samples and not getattr(model, "is_vib", False):
        # A deterministic encoder has no randomness to take an expectation over.
        raise ValueError("eot_samples >= 1 needs a VIB model (model.is_vib)")
    return eot_samples


# ----------------------------------------------------------------------------- public API
def input_gradient(
    model,
    images: tf.Tensor | np.ndarray,
    labels: Labels,
    *,
    task_names: Sequence[str] | None = None,
    eot_samples: int = 0,
    seed: int = 0,
    noise_seeds: tf.Tensor | np.ndarray | None = None,
) -> tf.Tensor:
    """grad_x L of the attacked loss (see the module docstring), compiled.

    Args:
      model: a `MultiTaskTrainer` (``.encoder``, ``.heads``, ``.task_names``, ``.is_vib``).
      images: float [B, H, W, C] in [0, 1].
      labels: {task: int [B]} or int [B, T] with columns in ``task_names`` order.
      task_names: tasks to attack (default: all of the model's, in its order).
      eot_samples: 0 = inference mode (VIB: z = mean); k >= 1 = EOT over k latent samples
        (VIB only), with seeds (seed, 0), ..., (seed, k - 1).
      seed: seed of the EOT samples.
      noise_seeds: explicit int [k, 2] stateless seeds of the EOT samples (overrides
        ``eot_samples``/``seed``); sample s draws eps from ``noise_seeds[s]``.

    Returns:
      float32 [B, H, W, C].
    """
    attacker = get_attacker(model, task_names)
    images = tf.convert_to_tensor(images, tf.float32)
    labels = attacker.stack_labels(labels)
    if noise_seeds is None:
        noise_seeds = eot_seeds(seed, 0, _check_eot(model, eot_samples))
    else:
        if len(noise_seeds) == 0:
            raise ValueError("noise_seeds must hold at least one seed pair")
        _check_eot(model, len(noise_seeds))
        noise_seeds = tf.convert_to_tensor(noise_seeds, tf.int64)
    return attacker.gradient(images, labels, noise_seeds)


def perturb_fgsm(
    model,
    images: tf.Tensor | np.ndarray,
    labels: Labels,
    eta: float,
    *,
    task_names: Sequence[str] | None = None,
    eot_samples: int = 0,
    seed: int = 0,
) -> tf.Tensor:
    """FGSM adversarial examples, MTVIB eq. 25: clip(x + eta * sign(grad_x L), 0, 1).

    Args: as `input_gradient`, plus ``eta`` in [0, 1].

    Returns:
      float32 [B, H, W, C] with ``|x_adv - x| <= eta`` and values in [0, 1].
    """
    (eta,) = validate_etas([eta])
    grad = input_gradient(
        model, images, labels, task_names=task_names, eot_samples=eot_samples, seed=seed
    )
    images = tf.convert_to_tensor(images, tf.float32)
    return tf.clip_by_value(images + eta * tf.sign(grad), 0.0, 1.0)


def perturb_pgd(
    model,
    images: tf.Tensor | np.ndarray,
    labels: Labels,
    eta: float,
    *,
    steps: int = 10,
    step_size: float | None = None,
    random_start: bool = True,
    seed: int = 0,
    task_names: Sequence[str] | None = None,
    eot_samples: int = 0,
) -> tf.Tensor:
    """L-inf PGD adversarial examples (one batch); arguments as `pgd_evaluate`."""
    (eta,) = validate_etas([eta])
    steps, step_size_value = _check_pgd(steps, step_size, eta)
    attacker = get_attacker(model, task_names)
    eot_samples = _check_eot(model, eot_samples)
    return attacker.pgd(
        tf.convert_to_tensor(images, tf.float32),
        attacker.stack_labels(labels),
        eta,
        step_size_value,
        steps,
        (seed, -1) if random_start else None,
        eot_seeds(seed, 0, eot_samples, steps),
    )


def _check_pgd(steps: int, step_size: float | None, eta: float) -> tuple[int, float]:
    if int(steps) != steps or steps < 1:
        raise ValueError(f"--steps must be an integer >= 1, got {steps}")
    if step_size is not None and not (math.isfinite(step_size) and step_size > 0):
        raise ValueError(f"step_size must be > 0, got {step_size}")
    # Default 2.5 * eta / steps (Madry et al.): enough to cross the ball and come back.
    return int(steps), float(2.5 * eta / steps if step_size is None else step_size)


def _batches(dataset: tf.data.Dataset, attacker):
    for batch in dataset:
        images, labels = batch[0], batch[1]
        yield tf.cast(images, tf.float32), attacker.stack_labels(labels)


def _result(
    attack: str,
    etas: Sequence[float],
    attacker,
    task_counts: np.ndarray,
    joint_counts: np.ndarray,
    num_examples: int,
    **extra: Any,
) -> dict:
    """The result dict; a regression task's mean error (NME for landmarks, else MAE)
    goes under ``"error"`` ({eta_key: {task: value}}, named in ``"error_metric"``)
    instead of ``"accuracy"``, and joint accuracy counts the classification tasks."""
    if num_examples == 0:
        raise ValueError("the data set is empty")
    specs = attacker.specs
    classified = [(k, s.name) for k, s in enumerate(specs) if s.is_classification]
    regressed = [(k, s.name) for k, s in enumerate(specs) if not s.is_classification]
    result = {
        "attack": attack,
        "loss": LOSS_DESCRIPTION,
        **extra,
        "num_examples": int(num_examples),
        "etas": [float(e) for e in etas],
        "accuracy": {
            eta_key(e): {t: float(task_counts[i, k]) / num_examples for k, t in classified}
            for i, e in enumerate(etas)
        },
        "joint_accuracy": {
            eta_key(e): float(joint_counts[i]) / num_examples if classified else None
            for i, e in enumerate(etas)
        },
    }
    if regressed:
        result["error_metric"] = {
            s.name: "nme" if s.landmark_eyes is not None else "mae"
            for s in specs if not s.is_classification}
        result["error"] = {
            eta_key(e): {t: float(task_counts[i, k]) / num_examples for k, t in regressed}
            for i, e in enumerate(etas)
        }
    return result


def fgsm_evaluate(
    model,
    dataset: tf.data.Dataset,
    task_names: Sequence[str],
    etas: Sequence[float] = DEFAULT_ETAS,
    *,
    eot_samples: int = 0,
    seed: int = 0,
) -> dict:
    """FGSM robustness (MTVIB eq. 25, §VI-B) over a grid of etas, one gradient per batch.

    For each batch: one compiled call computes grad_x L (inference mode, or EOT), its sign,
    and for every eta the accuracy of ``clip(x + eta * sign, 0, 1)`` scored in inference
    mode. Counts are summed over batches.

    Args:
      model: a `MultiTaskTrainer`.
      dataset: ``(images float [B, H, W, C] in [0, 1], {task: int [B]})`` batches, e.g.
        `mtl_tf.data.pipeline.make_dataset(..., shuffle=False)`.
      task_names: tasks to attack and score (the loss sums over exactly these).
      etas: perturbation sizes in [0, 1]; 0 gives the clean accuracy.
      eot_samples: 0 (default) = attack the inference-mode model (VIB: z = mean);
        k >= 1 = EOT over k latent samples (VIB only), reported as "fgsm-eot".
      seed: seed of the EOT samples.

    Returns:
      The result dict of the module docstring (``"steps": 1``, ``"step_size": None``).

    Raises:
      ValueError: on an invalid eta grid (``--etas``) or ``eot_samples``.
    """
    etas = validate_etas(etas)
    eot_samples = _check_eot(model, eot_samples)
    attacker = get_attacker(model, task_names)
    eta_tensor = tf.constant(etas, tf.float32)
    task_counts = np.zeros((len(etas), len(attacker.task_names)), np.float64)
    joint_counts = np.zeros(len(etas), np.float64)
    n = 0
    for b, (images, labels) in enumerate(_batches(dataset, attacker)):
        per_task, joint = attacker.fgsm_grid(
            images, labels, eta_tensor, eot_seeds(seed, b, eot_samples)
        )
        task_counts += per_task.numpy()
        joint_counts += joint.numpy()
        n += int(images.shape[0])
    return _result(
        "fgsm-eot" if eot_samples else "fgsm",
        etas,
        attacker,
        task_counts,
        joint_counts,
        n,
        eot_samples=eot_samples,
        steps=1,
        step_size=None,
        random_start=None,
        seed=int(seed),
    )


def pgd_evaluate(
    model,
    dataset: tf.data.Dataset,
    task_names: Sequence[str],
    etas: Sequence[float] = DEFAULT_ETAS,
    *,
    steps: int = 10,
    step_size: float | None = None,
    random_start: bool = True,
    seed: int = 0,
    eot_samples: int = 0,
) -> dict:
    """L-inf PGD robustness: ``steps`` signed steps projected onto the eta ball and [0, 1].

    x_0 = x (+ uniform noise in the ball if ``random_start``); x_{i+1} =
    Proj_{||x' - x||_inf <= eta, x' in [0,1]}(x_i + step_size * sign(grad_x L(x_i))), with
    the same attacked loss and model mode as FGSM. Each eta needs its own iterates, so the
    attack runs once per eta (the steps loop is in-graph).

    Args:
      model, dataset, task_names, etas, eot_samples: as `fgsm_evaluate` (EOT draws fresh
        latent samples at every step; reported as "pgd-eot").
      steps: number of steps, >= 1.
      step_size: per-step size; default 2.5 * eta / steps.
      random_start: start from a uniform random point of the ball (seeded).
      seed: seed of the random start and the EOT samples.

    Returns:
      The result dict of the module docstring.
    """
    etas = validate_etas(etas)
    eot_samples = _check_eot(model, eot_samples)
    steps, _ = _check_pgd(steps, step_size, 1.0)
    attacker = get_attacker(model, task_names)
    task_counts = np.zeros((len(etas), len(attacker.task_names)), np.float64)
    joint_counts = np.zeros(len(etas), np.float64)
    step_sizes: dict[str, float] = {}
    n = 0
    for i, eta in enumerate(etas):
        _, size = _check_pgd(steps, step_size, eta)
        step_sizes[eta_key(eta)] = size
        n = 0
        for b, (images, labels) in enumerate(_batches(dataset, attacker)):
            if eta == 0.0:  # the ball is {x}: the clean score, no attack to run
                x_adv = images
            else:
                x_adv = attacker.pgd(
                    images,
                    labels,
                    eta,
                    size,
                    steps,
                    # Negative second half: never equal to an EOT seed pair.
                    (seed, -1 - 1_000_003 * i - b) if random_start else None,
                    eot_seeds(seed, b + 1_000_003 * i, eot_samples, steps),
                )
            per_task, joint = attacker.score(x_adv, labels)
            task_counts[i] += per_task.numpy()
            joint_counts[i] += joint.numpy()
            n += int(images.shape[0])
    return _result(
        "pgd-eot" if eot_samples else "pgd",
        etas,
        attacker,
        task_counts,
        joint_counts,
        n,
        eot_samples=eot_samples,
        steps=steps,
        step_size=step_sizes,
        random_start=bool(random_start),
        seed=int(seed),
    )


ATTACKS: dict[str, Callable[..., dict]] = {"fgsm": fgsm_evaluate, "pgd": pgd_evaluate}
