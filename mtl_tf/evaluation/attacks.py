"""Adversarial-robustness evaluation: FGSM (MTVIB eq. 25), PGD and their EOT variants.

MTVIB §VI-B measures robustness with the fast gradient sign method (FGSM, MTVIB eq. 25):

    x_adv = clip(x + eta * sign(grad_x L(w; x; y)), 0, 1)

for eta in {0.05, 0.1, ..., 0.3}. The clip to [0, 1] keeps the attacked images valid
images (the pipeline feeds pixels in [0, 1]); it can only shrink the perturbation.

The loss attacked
-----------------
``L(x, y) = sum_k mean_i CE(y_ik, f_k(x_i))``: the UNWEIGHTED sum over the tasks of each
task's mean (over the batch) cross-entropy on the true labels, computed from logits. Why
unweighted: the attack must hit every task at once, and it must not depend on a method's
learned or adaptive task weights (fixed grid-search weights, UWL's sigmas, GradNorm's or
MGDA's weights), so that every method faces exactly the same attack and the robustness
numbers are comparable across methods. (Averaging over the batch rather than summing only
scales the gradient of each example by 1/B, which no sign changes.)

Model mode
----------
The attack and the scoring run the model in inference mode (``training=False``):
BatchNorm uses its moving statistics and a VIB encoder uses ``z = mean`` -- the model a
user would serve. The one exception is expectation over transformation (EOT,
``eot_samples >= 1``, VIB models only): the input gradient is averaged over
``eot_samples`` latent samples ``z = mean + exp(0.5 log_var) * eps`` drawn the way the VIB
layer samples in training, but with BatchNorm still in inference mode (the encoder is called
with ``training=False`` for ``mean``/``log_var``, the noise is drawn here from stateless
seeds and the heads run with ``training=False``). Its purpose: a robustness gain must not be
an artefact of forward-pass randomness that merely obfuscates the gradient. The attacked
images are still scored in inference mode (``z = mean``).

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
     "accuracy": {eta_key: {task: float}}, "joint_accuracy": {eta_key: float}}

with ``eta_key(eta) = f"{eta:g}"`` ("0", "0.05", "0.1", ...); the eta = 0 entry is the
clean accuracy.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

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
    "(sum_k mean_i CE(y_ik, logits_k(x_i)))"
)

Labels = Mapping[str, Any] | np.ndarray | tf.Tensor


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


# ----------------------------------------------------------------------------- graph pieces
class _Attacker:
    """Compiled per-batch functions of one model and one task list.

    Built once per (model, tasks) and cached (weakly keyed on the model), so repeated
    calls -- one per batch, per eta or per test -- reuse the traced graphs.
    """

    def __init__(self, model, task_names: Sequence[str]) -> None:
        self.model = model
        self.task_names = tuple(task_names)
        unknown = [t for t in self.task_names if t not in model.heads]
        if unknown:
            raise ValueError(f"tasks {unknown} are not heads of the model {tuple(model.heads)}")
        # Fixed input signatures (batch dimension None): one trace per function, whatever
        # the batch sizes, eta grids or numbers of EOT samples. EOT variants are separate
        # functions because their graphs differ (and `None` is not a tensor).
        image = tf.TensorSpec([None, *model.encoder.inputs[0].shape[1:]], tf.float32)
        label = tf.TensorSpec([None, len(self.task_names)], tf.int32)
        scalar = tf.TensorSpec([], tf.float32)
        vector = tf.TensorSpec([None], tf.float32)
        seeds = tf.TensorSpec([None, 2], tf.int64)
        step_seeds = tf.TensorSpec([None, None, 2], tf.int64)
        pgd_args = [image, label, scalar, scalar, tf.TensorSpec([], tf.int32)]
        pgd_args += [tf.TensorSpec([2], tf.int64), scalar]
        self._compiled = {
            "gradient": tf.function(
                lambda x, y: self._gradient(x, y, None)[0], input_signature=[image, label]
            ),
            "gradient_eot": tf.function(
                lambda x, y, s: self._gradient(x, y, s)[0], input_signature=[image, label, seeds]
            ),
            "fgsm_grid": tf.function(
                lambda x, y, e: self._fgsm_grid(x, y, e, None),
                input_signature=[image, label, vector],
            ),
            "fgsm_grid_eot": tf.function(
                self._fgsm_grid, input_signature=[image, label, vector, seeds]
            ),
            "pgd": tf.function(lambda *a: self._pgd(*a, None), input_signature=pgd_args),
            "pgd_eot": tf.function(self._pgd, input_signature=[*pgd_args, step_seeds]),
            "score": tf.function(self._score, input_signature=[image, label]),
        }

    def gradient(self, images, labels, noise_seeds=None) -> tf.Tensor:
        if noise_seeds is None:
            return self._compiled["gradient"](images, labels)
        return self._compiled["gradient_eot"](images, labels, noise_seeds)

    def fgsm_grid(self, images, labels, etas, noise_seeds=None):
        if noise_seeds is None:
            return self._compiled["fgsm_grid"](images, labels, etas)
        return self._compiled["fgsm_grid_eot"](images, labels, etas, noise_seeds)

    def pgd(self, images, labels, eta, step_size, steps, start_seed, noise_seeds=None):
        """``start_seed`` None = no random start."""
        args = [
            images,
            labels,
            tf.constant(eta, tf.float32),
            tf.constant(step_size, tf.float32),
            tf.constant(steps, tf.int32),
            tf.constant([0, 0] if start_seed is None else start_seed, tf.int64),
            tf.constant(0.0 if start_seed is None else 1.0, tf.float32),
        ]
        if noise_seeds is None:
            return self._compiled["pgd"](*args)
        return self._compiled["pgd_eot"](*args, noise_seeds)

    def score(self, images, labels):
        return self._compiled["score"](images, labels)

    # -- forward passes
    def _logits(self, images: tf.Tensor) -> list[tf.Tensor]:
        """Inference-mode logits (BN moving statistics; VIB z = mean)."""
        z = self.model.encoder(images, training=False)["z"]
        return [self.model.heads[t](z, training=False) for t in self.task_names]

    def _loss(self, logits: Sequence[tf.Tensor], labels: tf.Tensor) -> tf.Tensor:
        """The attacked loss: unweighted sum over tasks of the mean cross-entropy."""
        return tf.add_n(
            [
                tf.reduce_mean(
                    keras.losses.sparse_categorical_crossentropy(
                        labels[:, k], logits[k], from_logits=True
                    )
                )
                for k in range(len(self.task_names))
            ]
        )

    def _eot_loss(self, images: tf.Tensor, labels: tf.Tensor, noise_seeds: tf.Tensor):
        """Mean over the k = len(noise_seeds) latent samples of the attacked loss.

        The gradient of this mean is the mean of the k single-sample gradients (linearity),
        obtained with one backward pass. Sample s uses ``noise_seeds[s]`` (stateless), so a
        given seed always gives the same z.
        """
        encoded = self.model.encoder(images, training=False)  # BN in inference mode
        mean, log_var = encoded["mean"], encoded["log_var"]
        std = tf.exp(0.5 * log_var)
        # map_fn rather than a Python loop: k may be unknown at trace time (retracing
        # relaxes shapes), and sample s must depend on noise_seeds[s] alone.
        eps = tf.map_fn(
            lambda s: tf.random.stateless_normal(tf.shape(mean), s),
            noise_seeds,
            fn_output_signature=mean.dtype,
        )  # [k, B, d]
        # All k samples through the heads as one batch of k * B.
        z = tf.reshape(mean[None] + std[None] * eps, [-1, mean.shape[-1]])
        tiled = tf.tile(labels, [tf.shape(noise_seeds)[0], 1])
        logits = [self.model.heads[t](z, training=False) for t in self.task_names]
        return self._loss(logits, tiled)

    def _gradient(self, images: tf.Tensor, labels: tf.Tensor, noise_seeds: tf.Tensor | None):
        """(grad_x L, clean inference logits or None)."""
        with tf.GradientTape() as tape:
            tape.watch(images)
            if noise_seeds is None:
                logits = self._logits(images)
                loss = self._loss(logits, labels)
            else:
                logits = None
                loss = self._eot_loss(images, labels, noise_seeds)
        return tape.gradient(loss, images), logits

    # -- scoring
    def _correct(self, logits: Sequence[tf.Tensor], labels: tf.Tensor):
        """(per-task correct counts [T], joint correct count []) as int32."""
        right = tf.stack(
            [
                tf.equal(tf.argmax(lg, axis=-1, output_type=tf.int32), labels[:, k])
                for k, lg in enumerate(logits)
            ]
        )  # [T, B]
        per_task = tf.reduce_sum(tf.cast(right, tf.int32), axis=1)
        joint = tf.reduce_sum(tf.cast(tf.reduce_all(right, axis=0), tf.int32))
        return per_task, joint

    def _score(self, images: tf.Tensor, labels: tf.Tensor):
        return self._correct(self._logits(images), labels)

    # -- FGSM over a whole eta grid from one gradient
    def _fgsm_grid(self, images, labels, etas, noise_seeds):
        """Correct counts [E, T] and joint counts [E] for every eta, from ONE sign.

        The etas loop runs in-graph (a tf.while_loop over the eta tensor): one forward
        pass of B images per eta, so memory stays that of one batch whatever the grid.
        """
        grad, clean_logits = self._gradient(images, labels, noise_seeds)
        sign = tf.sign(grad)
        if clean_logits is None:  # EOT: the clean score needs its own inference pass
            clean_logits = self._logits(images)
        clean_task, clean_joint = self._correct(clean_logits, labels)
        num_etas = tf.shape(etas)[0]
        per_task = tf.TensorArray(tf.int32, size=num_etas)
        joint = tf.TensorArray(tf.int32, size=num_etas)
        for i in tf.range(num_etas):
            eta = etas[i]
            if eta == 0.0:
                # x + 0 * sign = x: reuse the gradient pass's clean logits.
                t_i, j_i = clean_task, clean_joint
            else:
                x_adv = tf.clip_by_value(images + eta * sign, 0.0, 1.0)
                t_i, j_i = self._correct(self._logits(x_adv), labels)
            per_task = per_task.write(i, t_i)
            joint = joint.write(i, j_i)
        return per_task.stack(), joint.stack()

    # -- PGD for one eta
    def _pgd(self, images, labels, eta, step_size, steps, start_seed, start_scale, noise_seeds):
        """L-inf PGD: signed steps projected onto the eta ball around x and [0, 1].

        The random start (Madry et al.), uniform in the ball, is scaled by ``start_scale``
        (1 or 0 = none). ``noise_seeds`` is [steps, k, 2] (EOT: fresh latent samples at
        every step) or None.
        """
        lower = tf.maximum(images - eta, 0.0)
        upper = tf.minimum(images + eta, 1.0)
        noise = tf.random.stateless_uniform(tf.shape(images), start_seed, -1.0, 1.0)
        x = tf.clip_by_value(images + start_scale * eta * noise, lower, upper)
        for i in tf.range(steps):
            grad, _ = self._gradient(x, labels, None if noise_seeds is None else noise_seeds[i])
            x = tf.clip_by_value(x + step_size * tf.sign(grad), lower, upper)
        return x


_ATTACKERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _attacker(model, task_names: Sequence[str] | None) -> _Attacker:
    tasks = tuple(model.task_names if task_names is None else task_names)
    per_model = _ATTACKERS.setdefault(model, {})
    if tasks not in per_model:
        per_model[tasks] = _Attacker(model, tasks)
    return per_model[tasks]


def _stack_labels(labels: Labels, task_names: Sequence[str]) -> tf.Tensor:
    """{task: [B]} or [B, T] (columns in task order) -> int32 [B, T]."""
    if isinstance(labels, Mapping):
        return tf.stack([tf.cast(labels[t], tf.int32) for t in task_names], axis=1)
    labels = tf.cast(labels, tf.int32)
    if labels.shape.rank != 2 or labels.shape[1] != len(task_names):
        raise ValueError(f"labels must be [B, {len(task_names)}], got {labels.shape}")
    return labels


def _noise_seeds(seed: int, counter: int, k: int, steps: int | None = None) -> tf.Tensor | None:
    """Stateless seeds for the EOT samples: [k, 2] (or [steps, k, 2]); None if k == 0.

    Seed pairs (seed, counter * k * steps + j) never repeat within a run, and the same
    (seed, batch) always gives the same samples: runs are reproducible.
    """
    if k == 0:
        return None
    n = k * (steps or 1)
    idx = np.arange(counter * n, (counter + 1) * n, dtype=np.int64)
    seeds = np.stack([np.full_like(idx, seed), idx], axis=1)
    shape = (k, 2) if steps is None else (steps, k, 2)
    return tf.constant(seeds.reshape(shape))


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
    attacker = _attacker(model, task_names)
    images = tf.convert_to_tensor(images, tf.float32)
    labels = _stack_labels(labels, attacker.task_names)
    if noise_seeds is None:
        noise_seeds = _noise_seeds(seed, 0, _check_eot(model, eot_samples))
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
    attacker = _attacker(model, task_names)
    eot_samples = _check_eot(model, eot_samples)
    return attacker.pgd(
        tf.convert_to_tensor(images, tf.float32),
        _stack_labels(labels, attacker.task_names),
        eta,
        step_size_value,
        steps,
        (seed, -1) if random_start else None,
        _noise_seeds(seed, 0, eot_samples, steps),
    )


def _check_pgd(steps: int, step_size: float | None, eta: float) -> tuple[int, float]:
    if int(steps) != steps or steps < 1:
        raise ValueError(f"--steps must be an integer >= 1, got {steps}")
    if step_size is not None and not (math.isfinite(step_size) and step_size > 0):
        raise ValueError(f"step_size must be > 0, got {step_size}")
    # Default 2.5 * eta / steps (Madry et al.): enough to cross the ball and come back.
    return int(steps), float(2.5 * eta / steps if step_size is None else step_size)


def _batches(dataset: tf.data.Dataset, task_names: Sequence[str]):
    for batch in dataset:
        images, labels = batch[0], batch[1]
        yield tf.cast(images, tf.float32), _stack_labels(labels, task_names)


def _result(
    attack: str,
    etas: Sequence[float],
    task_names: Sequence[str],
    task_counts: np.ndarray,
    joint_counts: np.ndarray,
    num_examples: int,
    **extra: Any,
) -> dict:
    if num_examples == 0:
        raise ValueError("the data set is empty")
    return {
        "attack": attack,
        "loss": LOSS_DESCRIPTION,
        **extra,
        "num_examples": int(num_examples),
        "etas": [float(e) for e in etas],
        "accuracy": {
            eta_key(e): {
                t: float(task_counts[i, k]) / num_examples for k, t in enumerate(task_names)
            }
            for i, e in enumerate(etas)
        },
        "joint_accuracy": {
            eta_key(e): float(joint_counts[i]) / num_examples for i, e in enumerate(etas)
        },
    }


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
    attacker = _attacker(model, task_names)
    eta_tensor = tf.constant(etas, tf.float32)
    task_counts = np.zeros((len(etas), len(attacker.task_names)), np.int64)
    joint_counts = np.zeros(len(etas), np.int64)
    n = 0
    for b, (images, labels) in enumerate(_batches(dataset, attacker.task_names)):
        per_task, joint = attacker.fgsm_grid(
            images, labels, eta_tensor, _noise_seeds(seed, b, eot_samples)
        )
        task_counts += per_task.numpy()
        joint_counts += joint.numpy()
        n += int(images.shape[0])
    return _result(
        "fgsm-eot" if eot_samples else "fgsm",
        etas,
        attacker.task_names,
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
    attacker = _attacker(model, task_names)
    task_counts = np.zeros((len(etas), len(attacker.task_names)), np.int64)
    joint_counts = np.zeros(len(etas), np.int64)
    step_sizes: dict[str, float] = {}
    n = 0
    for i, eta in enumerate(etas):
        _, size = _check_pgd(steps, step_size, eta)
        step_sizes[eta_key(eta)] = size
        n = 0
        for b, (images, labels) in enumerate(_batches(dataset, attacker.task_names)):
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
                    _noise_seeds(seed, b + 1_000_003 * i, eot_samples, steps),
                )
            per_task, joint = attacker.score(x_adv, labels)
            task_counts[i] += per_task.numpy()
            joint_counts[i] += joint.numpy()
            n += int(images.shape[0])
    return _result(
        "pgd-eot" if eot_samples else "pgd",
        etas,
        attacker.task_names,
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
