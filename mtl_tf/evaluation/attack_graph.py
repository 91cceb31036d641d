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

import numpy as np
import tensorflow as tf

from mtl_tf.tasks import CLASSIFICATION, TaskSpec
from mtl_tf.training.losses import per_example_loss

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
        # The attacked loss and the score of each task follow its spec (a model without
        # specs, e.g. a served classifier, has classification heads only).
        by_name = {s.name: s for s in getattr(model, "task_specs", ())}
        self.specs = tuple(by_name.get(t) or TaskSpec(t, CLASSIFICATION, 1)
                           for t in self.task_names)
        self._widths = [1 if s.is_classification else s.size for s in self.specs]
        # Fixed input signatures (batch dimension None): one trace per function, whatever
        # the batch sizes, eta grids or numbers of EOT samples. EOT variants are separate
        # functions because their graphs differ (and `None` is not a tensor).
        image = tf.TensorSpec([None, *model.encoder.inputs[0].shape[1:]], tf.float32)
        # All tasks' labels side by side: a class id (as a float) or d regression targets.
        label = tf.TensorSpec([None, sum(self._widths)], tf.float32)
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

    def stack_labels(self, labels: Labels) -> tf.Tensor:
        """This attacker's label layout: float32 [B, sum of widths], see `stack_labels`."""
        return stack_labels(labels, self.task_names, self.specs)

    def _split(self, labels: tf.Tensor) -> list[tf.Tensor]:
        """Per-task labels from the stacked layout: int32 [B] or float32 [B, d]."""
        out, start = [], 0
        for spec, width in zip(self.specs, self._widths, strict=True):
            part = labels[:, start:start + width]
            out.append(tf.cast(part[:, 0], tf.int32) if spec.is_classification else part)
            start += width
        return out

    # -- forward passes
    def _logits(self, images: tf.Tensor) -> list[tf.Tensor]:
        """Inference-mode logits (BN moving statistics; VIB z = mean)."""
        z = self.model.encoder(images, training=False)["z"]
        return [self.model.heads[t](z, training=False) for t in self.task_names]

    def _loss(self, logits: Sequence[tf.Tensor], labels: tf.Tensor) -> tf.Tensor:
        """The attacked loss: unweighted sum over tasks of each task's mean training loss
        (cross-entropy, or a regression task's mse / l1: `per_example_loss`)."""
        return tf.add_n([
            tf.reduce_mean(per_example_loss(spec, y, logits[k]))
            for k, (spec, y) in enumerate(zip(self.specs, self._split(labels), strict=True))
        ])

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
        """(per-task sums [T], joint correct count []) as float32.

        A classification task's sum is its count of right predictions; a regression
        task's the sum over examples of its error (NME for landmarks, else the mean
        absolute error over outputs), so that sum / N is the mean error. The joint
        count is over the classification tasks (0 without any).
        """
        sums, right = [], []
        for spec, lg, y in zip(self.specs, logits, self._split(labels), strict=True):
            if spec.is_classification:
                hit = tf.equal(tf.argmax(lg, axis=-1, output_type=tf.int32), y)
                right.append(hit)
                sums.append(tf.reduce_sum(tf.cast(hit, tf.float32)))
            else:
                sums.append(tf.reduce_sum(_example_error(spec, lg, y)))
        joint = (tf.reduce_sum(tf.cast(tf.reduce_all(tf.stack(right), axis=0), tf.float32))
                 if right else tf.constant(0.0))
        return tf.stack(sums), joint

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
        per_task = tf.TensorArray(tf.float32, size=num_etas)
        joint = tf.TensorArray(tf.float32, size=num_etas)
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


def stack_labels(
    labels: Labels, task_names: Sequence[str], specs: Sequence[TaskSpec] | None = None
) -> tf.Tensor:
    """{task: labels} or [B, T] class ids (columns in task order) -> float32 [B, L]: each
    task's columns side by side, one (its class id) for a classification task, d for a
    regression task (`specs`; default: all classification)."""
    if isinstance(labels, Mapping):
        widths = [1 if s is None or s.is_classification else s.size
                  for s in (specs or [None] * len(task_names))]
        return tf.concat([tf.reshape(tf.cast(labels[t], tf.float32), [-1, w])
                          for t, w in zip(task_names, widths, strict=True)], axis=1)
    labels = tf.cast(labels, tf.float32)
    if labels.shape.rank != 2 or labels.shape[1] != len(task_names):
        raise ValueError(f"labels must be [B, {len(task_names)}], got {labels.shape}")
    return labels


def _example_error(spec: TaskSpec, outputs: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
    """A regression task's error per example [B]: NME (TCDCN) with ``landmark_eyes``,
    else the mean absolute error over its outputs."""
    diff = outputs - targets
    if spec.landmark_eyes is None:
        return tf.reduce_mean(tf.abs(diff), axis=-1)
    k = spec.size // 2
    error = tf.reduce_mean(tf.sqrt(tf.square(diff[:, :k]) + tf.square(diff[:, k:])), axis=-1)
    a, b = spec.landmark_eyes
    ocular = tf.sqrt(tf.square(targets[:, a] - targets[:, b])
                     + tf.square(targets[:, k + a] - targets[:, k + b]))
    return error / tf.maximum(ocular, 1e-12)


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
