"""The compiled graph of the attacks: the attacked loss, EOT, input gradients, scoring.

`mtl_tf.evaluation.attacks` (FGSM, PGD, their EOT variants, the result dicts) runs these
per-batch functions; this module holds what they compute.

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
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

__all__ = ["Attacker", "Labels", "eot_seeds", "get_attacker", "stack_labels"]

Labels = Mapping[str, Any] | np.ndarray | tf.Tensor


# ----------------------------------------------------------------------------- graph
class Attacker:
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


def get_attacker(model, task_names: Sequence[str] | None) -> Attacker:
    """The cached `Attacker` of `model` for `task_names` (None: all of its tasks, in order)."""
    tasks = tuple(model.task_names if task_names is None else task_names)
    per_model = _ATTACKERS.setdefault(model, {})
    if tasks not in per_model:
        per_model[tasks] = Attacker(model, tasks)
    return per_model[tasks]


def stack_labels(labels: Labels, task_names: Sequence[str]) -> tf.Tensor:
    """{task: [B]} or [B, T] (columns in task order) -> int32 [B, T]."""
    if isinstance(labels, Mapping):
        return tf.stack([tf.cast(labels[t], tf.int32) for t in task_names], axis=1)
    labels = tf.cast(labels, tf.int32)
    if labels.shape.rank != 2 or labels.shape[1] != len(task_names):
        raise ValueError(f"labels must be [B, {len(task_names)}], got {labels.shape}")
    return labels


def eot_seeds(seed: int, counter: int, k: int, steps: int | None = None) -> tf.Tensor | None:
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
