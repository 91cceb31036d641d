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

Protocols
---------
Every function takes a `mtl_tf.evaluation.protocol.Protocol` (default: the standard one):
how a VIB model predicts, which loss is attacked and how its cross-entropy is computed,
and ``eta_scale``, the size of one eta unit in [0, 1] pixels (``--eta_units``). With
``attack_loss="per_task"`` the attack runs once per task, on that task's loss alone, and
each task is scored under its own attack (joint accuracy: null). FGSM also reports the
fraction of examples whose input gradient is exactly zero (never perturbed), per task
(that task's loss alone) and per pair (the attacked loss; per task: every task's).

Results (`fgsm_evaluate`, `pgd_evaluate`)::

    {"attack": "fgsm" | "fgsm-eot" | "pgd" | "pgd-eot", "loss": description,
     "protocol": Protocol.describe() (with "eta_scale"),
     "zero_gradient_fraction": {"tasks": {task: float}, "pair": float} | None,
     "clean_accuracy": {task: float}, "clean_joint_accuracy": float | None,
     "eot_samples": int, "steps": int, "step_size": {eta_key: float} | None,
     "random_start": bool | None, "seed": int, "num_examples": int, "etas": [float],
     "accuracy": {eta_key: {task: float}}, "joint_accuracy": {eta_key: float} | None}

with ``eta_key(eta) = f"{eta:g}"`` ("0", "0.05", "0.1", ...) in the protocol's eta units;
the eta = 0 entry is the clean accuracy (under the protocol's prediction).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from mtl_tf.evaluation.attack_graph import (
    Labels,
    get_attacker,
    grad_draw_seeds,
    prediction_seeds,
    task_specs_of,
)
from mtl_tf.evaluation.attack_results import (
    DEFAULT_ETAS,
    LOSS_DESCRIPTION,
    batches,
    check_eot,
    check_pgd,
    describe_loss,
    eta_key,
    fractions,
    per_task_groups,
    result_dict,
    validate_etas,
    weights_for,
)
from mtl_tf.evaluation.protocol import STANDARD, Protocol

__all__ = [
    "DEFAULT_ETAS",
    "describe_loss",
    "LOSS_DESCRIPTION",
    "eta_key",
    "fgsm_evaluate",
    "input_gradient",
    "perturb_fgsm",
    "perturb_pgd",
    "pgd_evaluate",
    "validate_etas",
]

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
    protocol: Protocol = STANDARD,
    weights: Sequence[float] | None = None,
) -> tf.Tensor:
    """grad_x L of the attacked loss (see the module docstring), compiled.

    Args:
      model: a `MultiTaskTrainer` (``.encoder``, ``.heads``, ``.task_names``, ``.is_vib``).
      images: float [B, H, W, C] in [0, 1].
      labels: {task: int [B]} or int [B, T] with columns in ``task_names`` order.
      task_names: tasks to attack (default: all of the model's, in its order).
      eot_samples: 0 = the protocol's prediction (VIB z = mean: deterministic; sampled:
        the draw of the batch's clean prediction); k >= 1 = EOT over k draws (VIB only).
      seed: seed of the samples.
      noise_seeds: explicit int [k, 2] stateless seeds of one-sample EOT draws (overrides
        ``eot_samples``/``seed``); draw s takes eps from ``noise_seeds[s]``.
      protocol: the evaluation protocol (its ``attack_loss`` must not be per_task: pass
        one task in ``task_names`` for that).
      weights: the objective's task weights for ``attack_loss="weighted"``.

    Returns:
      float32 [B, H, W, C].
    """
    attacker = get_attacker(model, task_names, protocol, weights)
    images = tf.convert_to_tensor(images, tf.float32)
    labels = attacker.stack_labels(labels)
    samples = max(attacker.samples, 1)
    if noise_seeds is not None:
        if len(noise_seeds) == 0:
            raise ValueError("noise_seeds must hold at least one seed pair")
        check_eot(model, len(noise_seeds))
        grad_seeds = tf.reshape(tf.convert_to_tensor(noise_seeds, tf.int64), [-1, 1, 2])
        if attacker.samples > 1:
            raise ValueError("noise_seeds name one-sample draws; the protocol averages "
                             f"{attacker.samples} samples per prediction")
    elif check_eot(model, eot_samples):
        grad_seeds = grad_draw_seeds(seed, 0, eot_samples, samples)
    else:
        grad_seeds = (None if attacker.samples == 0
                      else prediction_seeds(seed, 0, [0], attacker.samples))
    return attacker.gradient(images, labels, grad_seeds)


def perturb_fgsm(
    model,
    images: tf.Tensor | np.ndarray,
    labels: Labels,
    eta: float,
    *,
    task_names: Sequence[str] | None = None,
    eot_samples: int = 0,
    seed: int = 0,
    protocol: Protocol = STANDARD,
    weights: Sequence[float] | None = None,
    eta_scale: float = 1.0,
) -> tf.Tensor:
    """FGSM adversarial examples, MTVIB eq. 25: clip(x + eta * scale * sign(grad_x L), 0, 1).

    Args: as `input_gradient`, plus ``eta`` in [0, 1] and ``eta_scale`` (pixels per eta
    unit, `Protocol.eta_scale`).

    Returns:
      float32 [B, H, W, C] with ``|x_adv - x| <= eta * eta_scale`` and values in [0, 1].
    """
    (eta,) = validate_etas([eta])
    grad = input_gradient(model, images, labels, task_names=task_names,
                          eot_samples=eot_samples, seed=seed, protocol=protocol, weights=weights)
    images = tf.convert_to_tensor(images, tf.float32)
    return tf.clip_by_value(images + eta * eta_scale * tf.sign(grad), 0.0, 1.0)


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
    """L-inf PGD adversarial examples (one batch, standard protocol); as `pgd_evaluate`."""
    (eta,) = validate_etas([eta])
    steps, step_size_value = check_pgd(steps, step_size, eta)
    attacker = get_attacker(model, task_names)
    eot_samples = check_eot(model, eot_samples)
    return attacker.pgd(
        tf.convert_to_tensor(images, tf.float32),
        attacker.stack_labels(labels),
        eta,
        step_size_value,
        steps,
        (seed, -1) if random_start else None,
        grad_draw_seeds(seed, 0, eot_samples, 1, steps),
    )


def fgsm_evaluate(
    model,
    dataset: tf.data.Dataset,
    task_names: Sequence[str],
    etas: Sequence[float] = DEFAULT_ETAS,
    *,
    eot_samples: int = 0,
    seed: int = 0,
    protocol: Protocol = STANDARD,
    eta_scale: float = 1.0,
    weights: tuple[Sequence[str], Sequence[float], str] | None = None,
) -> dict:
    """FGSM robustness (MTVIB eq. 25, §VI-B) over a grid of etas, one gradient per batch.

    For each batch: one compiled call computes grad_x L under the protocol (inference
    mode, sampled prediction, or EOT), its sign, and for every eta the protocol's
    prediction of ``clip(x + eta * eta_scale * sign, 0, 1)``. Counts are summed over
    batches.

    Args:
      model: a `MultiTaskTrainer`.
      dataset: ``(images float [B, H, W, C] in [0, 1], {task: int [B]})`` batches, e.g.
        `mtl_tf.data.pipeline.make_dataset(..., shuffle=False)`.
      task_names: tasks to attack and score.
      etas: perturbation sizes in [0, 1] eta units; 0 gives the clean accuracy.
      eot_samples: 0 (default) = differentiate the protocol's prediction; k >= 1 = EOT
        over k draws of it (VIB only), reported as "fgsm-eot".
      seed: seed of every latent sample.
      protocol: the evaluation protocol (`mtl_tf.evaluation.protocol`).
      eta_scale: [0, 1] pixels per eta unit (`Protocol.eta_scale`).
      weights: (tasks, weights, source) of the objective, for ``attack_loss="weighted"``
        (`mtl_tf.evaluation.attack_loss.objective_weights`).

    Returns:
      The result dict of the module docstring (``"steps": 1``, ``"step_size": None``).

    Raises:
      ValueError: on an invalid eta grid (``--etas``) or ``eot_samples``.
    """
    etas = validate_etas(etas)
    eot_samples = check_eot(model, eot_samples)
    protocol = protocol.for_model(model)
    tasks = list(task_names)
    eta_tensor = tf.constant([e * eta_scale for e in etas], tf.float32)
    task_counts = np.zeros((len(etas), len(tasks)), np.float64)
    clean_counts = np.zeros(len(tasks), np.float64)
    joint_counts = np.zeros(len(etas), np.float64)
    clean_joint = 0
    zero_task = np.zeros(len(tasks), np.int64)
    zero_pair: np.ndarray | None = None
    n = 0
    groups = per_task_groups(protocol, tasks)
    for group in groups:
        attacker = get_attacker(model, group, protocol, weights_for(protocol, group, weights))
        samples = attacker.samples
        cols = [tasks.index(t) for t in group]
        pair_flags = []
        n = 0
        for b, (images, labels) in enumerate(batches(dataset, attacker)):
            per_task, joint, z_task, z_pair, c_task, c_joint = attacker.fgsm_grid(
                images, labels, eta_tensor,
                prediction_seeds(seed, b, range(len(etas) + 1), samples),
                grad_draw_seeds(seed, b, eot_samples, max(samples, 1)))
            task_counts[:, cols] += per_task.numpy()
            clean_counts[cols] += c_task.numpy()
            zero_task[cols] += z_task.numpy().sum(axis=1)
            joint_counts += joint.numpy()
            clean_joint += float(c_joint)
            pair_flags.append(z_pair.numpy())
            n += int(images.shape[0])
        flags = np.concatenate(pair_flags) if pair_flags else np.zeros(0, bool)
        # Per task: a pair is never perturbed when every task's own gradient is zero.
        zero_pair = flags if zero_pair is None else zero_pair & flags
    single = len(groups) == 1
    vib = bool(getattr(model, "is_vib", False))
    return result_dict(
        "fgsm-eot" if eot_samples else "fgsm",
        etas,
        tasks,
        task_counts,
        joint_counts if single else None,
        n,
        protocol=protocol,
        eta_scale=eta_scale,
        loss=describe_loss(protocol, weights and weights[1], weights and weights[2], vib,
                           task_specs_of(model, tasks)),
        clean_counts=clean_counts,
        clean_joint=clean_joint if single else None,
        specs=task_specs_of(model, tasks),
        zero_gradient={"tasks": fractions(zero_task, tasks, max(n, 1)),
                       "pair": float(zero_pair.mean()) if n else 0.0},
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
    protocol: Protocol = STANDARD,
    eta_scale: float = 1.0,
    weights: tuple[Sequence[str], Sequence[float], str] | None = None,
) -> dict:
    """L-inf PGD robustness: ``steps`` signed steps projected onto the eta ball and [0, 1].

    x_0 = x (+ uniform noise in the ball if ``random_start``); x_{i+1} =
    Proj_{||x' - x||_inf <= eta, x' in [0,1]}(x_i + step_size * sign(grad_x L(x_i))), with
    the same attacked loss and model mode as FGSM. Each eta needs its own iterates, so the
    attack runs once per eta (the steps loop is in-graph). A sampled prediction draws
    fresh latent samples at every step.

    Args:
      model, dataset, task_names, etas, eot_samples, protocol, eta_scale, weights: as
        `fgsm_evaluate` (EOT draws fresh samples at every step; reported as "pgd-eot").
      steps: number of steps, >= 1.
      step_size: per-step size in eta units; default 2.5 * eta / steps.
      random_start: start from a uniform random point of the ball (seeded).
      seed: seed of the random start and the latent samples.

    Returns:
      The result dict of the module docstring (no zero-gradient fractions: null).
    """
    etas = validate_etas(etas)
    eot_samples = check_eot(model, eot_samples)
    steps, _ = check_pgd(steps, step_size, 1.0)
    protocol = protocol.for_model(model)
    tasks = list(task_names)
    task_counts = np.zeros((len(etas), len(tasks)), np.float64)
    joint_counts = np.zeros(len(etas), np.float64)
    step_sizes: dict[str, float] = {}
    n = 0
    groups = per_task_groups(protocol, tasks)
    for group in groups:
        attacker = get_attacker(model, group, protocol, weights_for(protocol, group, weights))
        samples = attacker.samples
        draws = eot_samples or (1 if samples else 0)
        cols = [tasks.index(t) for t in group]
        for i, eta in enumerate(etas):
            _, size = check_pgd(steps, step_size, eta)
            step_sizes[eta_key(eta)] = size
            n = 0
            for b, (images, labels) in enumerate(batches(dataset, attacker)):
                if eta == 0.0:  # the ball is {x}: the clean score, no attack to run
                    x_adv = images
                else:
                    x_adv = attacker.pgd(
                        images,
                        labels,
                        eta * eta_scale,
                        size * eta_scale,
                        steps,
                        # Negative second half: never equal to an EOT seed pair.
                        (seed, -1 - 1_000_003 * i - b) if random_start else None,
                        grad_draw_seeds(seed, b + 1_000_003 * i, draws, max(samples, 1), steps),
                    )
                per_task, joint = attacker.score(
                    x_adv, labels,
                    prediction_seeds(seed, b, [0 if eta == 0.0 else i + 1], samples))
                task_counts[i, cols] += per_task.numpy()
                joint_counts[i] += joint.numpy()
                n += int(images.shape[0])
    single = len(groups) == 1
    zero = [i for i, e in enumerate(etas) if e == 0.0]
    vib = bool(getattr(model, "is_vib", False))
    return result_dict(
        "pgd-eot" if eot_samples else "pgd",
        etas,
        tasks,
        task_counts,
        joint_counts if single else None,
        n,
        protocol=protocol,
        eta_scale=eta_scale,
        loss=describe_loss(protocol, weights and weights[1], weights and weights[2], vib,
                           task_specs_of(model, tasks)),
        clean_counts=task_counts[zero[0]] if zero else None,
        clean_joint=(int(joint_counts[zero[0]]) if zero else None) if single else None,
        zero_gradient=None,
        specs=task_specs_of(model, tasks),
        eot_samples=eot_samples,
        steps=steps,
        step_size=step_sizes,
        random_start=bool(random_start),
        seed=int(seed),
    )


ATTACKS: dict[str, Callable[..., dict]] = {"fgsm": fgsm_evaluate, "pgd": pgd_evaluate}
