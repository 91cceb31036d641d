"""The compiled graph of the attacks: prediction protocol, attacked loss, input gradients,
scoring.

`mtl_tf.evaluation.attacks` (FGSM, PGD, their EOT variants, the result dicts) runs these
per-batch functions; this module holds what they compute, for one model, one task list
and one `mtl_tf.evaluation.protocol.Protocol`.

The loss attacked
-----------------
`mtl_tf.evaluation.attack_loss.attacked_loss` of the task outputs. The standard one is
``L(x, y) = sum_k mean_i CE(y_ik, f_k(x_i))``: the UNWEIGHTED sum over the tasks of each
task's mean cross-entropy on the true labels, from logits. Why unweighted: the attack must
hit every task at once, and it must not depend on a method's learned or adaptive task
weights (fixed grid-search weights, UWL's sigmas, GradNorm's or MGDA's weights), so that
every method faces exactly the same attack and the robustness numbers are comparable
across methods. (Averaging over the batch rather than summing only scales the gradient of
each example by 1/B, which no sign changes.) ``--attack_loss=weighted`` attacks the
model's own objective instead, ``--attack_ce=clipped_softmax`` computes the
cross-entropy on clipped softmax probabilities.

Model mode
----------
Everything runs in inference mode (``training=False``): BatchNorm uses its moving
statistics. A VIB encoder predicts as the protocol says: z = mean (standard), or from
latent samples ``z = mean + exp(0.5 log_var) * eps`` with ``eps`` drawn here from
stateless seeds -- one sample, or the mean of k samples' softmax. The attack's gradient is
that of the prediction's loss on the same draw the clean prediction used; with EOT
(``eot_samples >= 1``, VIB models only) it is averaged over that many fresh draws of the
prediction (with z = mean prediction, a draw is one sampled z). Its purpose: a
robustness gain must not be an artefact of forward-pass randomness that merely obfuscates
the gradient.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from mtl_tf.evaluation.attack_loss import attacked_loss, task_losses
from mtl_tf.evaluation.protocol import STANDARD, Protocol
from mtl_tf.models.vib import gaussian_kl
from mtl_tf.tasks import CLASSIFICATION, TaskSpec

__all__ = ["Attacker", "Labels", "eot_seeds", "get_attacker", "prediction_seeds",
           "stack_labels", "task_specs_of"]

Labels = Mapping[str, Any] | np.ndarray | tf.Tensor

_SEEDS3 = tf.TensorSpec([None, None, 2], tf.int64)
_SEEDS4 = tf.TensorSpec([None, None, None, 2], tf.int64)
_NO_SEEDS3 = np.zeros([1, 1, 2], np.int64)


def _all_zero(grad: tf.Tensor) -> tf.Tensor:
    """bool [B]: the example's input gradient is exactly zero everywhere."""
    return tf.reduce_all(tf.equal(tf.reshape(grad, [tf.shape(grad)[0], -1]), 0.0), axis=1)


# ----------------------------------------------------------------------------- graph
class Attacker:
    """Compiled per-batch functions of one model, one task list and one protocol.

    Built once per (model, tasks, protocol, objective weights) and cached (weakly keyed on
    the model), so repeated calls -- one per batch, per eta or per test -- reuse the traced
    graphs.

    Args:
      model: a `MultiTaskTrainer` (``.encoder``, ``.heads``, ``.is_vib``, ``.beta``).
      task_names: the attacked and scored tasks.
      protocol: the evaluation protocol; its prediction falls back to z = mean for a
        non-VIB model.
      weights: the objective's task weights (``attack_loss="weighted"``), else None.
    """

    def __init__(self, model, task_names: Sequence[str], protocol: Protocol = STANDARD,
                 weights: Sequence[float] | None = None) -> None:
        self.model = model
        self.task_names = tuple(task_names)
        unknown = [t for t in self.task_names if t not in model.heads]
        if unknown:
            raise ValueError(f"tasks {unknown} are not heads of the model {tuple(model.heads)}")
        self.protocol = protocol.for_model(model)
        self.samples = self.protocol.prediction_samples  # 0: z = mean
        self.weights = None if weights is None else tf.constant(weights, tf.float32)
        # The objective's beta * KL (MTVIB eq. 23) depends on x: part of a weighted attack.
        self.beta = float(getattr(model, "beta", 0.0)) if (
            weights is not None and getattr(model, "is_vib", False)) else 0.0
        # The attacked loss and the score of each task follow its spec (a model without
        # specs, e.g. a served classifier, has classification heads only).
        self.specs = task_specs_of(model, self.task_names)
        self._widths = [1 if s.is_classification else s.size for s in self.specs]
        # Fixed input signatures (batch dimension None): one trace per function, whatever
        # the batch sizes, eta grids or numbers of samples. Seeds are always tensors
        # (unused ones a dummy); whether the gradient is sampled is a Python switch, so
        # each function has a plain and a sampled variant.
        image = tf.TensorSpec([None, *model.encoder.inputs[0].shape[1:]], tf.float32)
        # All tasks' labels side by side: a class id (as a float) or d regression targets.
        label = tf.TensorSpec([None, sum(self._widths)], tf.float32)
        scalar = tf.TensorSpec([], tf.float32)
        pgd_args = [image, label, scalar, scalar, tf.TensorSpec([], tf.int32),
                    tf.TensorSpec([2], tf.int64), scalar]
        self._compiled = {}
        for sampled in (False, True):
            self._compiled["gradient", sampled] = tf.function(
                lambda x, y, g, s=sampled: self._gradient(x, y, g, s)[0],
                input_signature=[image, label, _SEEDS3])
            self._compiled["fgsm_grid", sampled] = tf.function(
                lambda x, y, e, p, g, s=sampled: self._fgsm_grid(x, y, e, p, g, s),
                input_signature=[image, label, tf.TensorSpec([None], tf.float32), _SEEDS3,
                                 _SEEDS3])
            self._compiled["pgd", sampled] = tf.function(
                lambda *a, s=sampled: self._pgd(*a, sampled=s),
                input_signature=[*pgd_args, _SEEDS4])
        self._compiled["score"] = tf.function(self._score, input_signature=[image, label, _SEEDS3])

    def _sampled_gradient(self, eot: bool) -> bool:
        return bool(eot) or self.samples > 0

    # -- public per-batch calls (seeds as numpy arrays or tensors; None = not sampled)
    def gradient(self, images, labels, grad_seeds=None) -> tf.Tensor:
        """grad_x L; ``grad_seeds`` [d, n, 2] (d draws of n samples) or None (z = mean)."""
        sampled = grad_seeds is not None
        seeds = _NO_SEEDS3 if grad_seeds is None else grad_seeds
        return self._compiled["gradient", sampled](images, labels, seeds)

    def fgsm_grid(self, images, labels, etas, pred_seeds=None, grad_seeds=None):
        """(correct [E, T], joint [E], zero_task [T, B], zero_pair [B], clean [T], clean joint).

        ``pred_seeds`` [E + 1, n, 2]: row 0 the clean prediction (and, without
        ``grad_seeds``, the gradient's draw), row i + 1 the scoring of eta i.
        ``grad_seeds`` [d, n, 2]: EOT draws, or None.
        """
        sampled = grad_seeds is not None or self.samples > 0
        pred = _NO_SEEDS3 if pred_seeds is None else pred_seeds
        if grad_seeds is None:
            grad_seeds = pred[:1] if self.samples > 0 else _NO_SEEDS3
        return self._compiled["fgsm_grid", sampled](images, labels, etas, pred, grad_seeds)

    def pgd(self, images, labels, eta, step_size, steps, start_seed, grad_seeds=None):
        """``start_seed`` None = no random start; ``grad_seeds`` [steps, d, n, 2] or None."""
        args = [
            images,
            labels,
            tf.constant(eta, tf.float32),
            tf.constant(step_size, tf.float32),
            tf.constant(steps, tf.int32),
            tf.constant([0, 0] if start_seed is None else start_seed, tf.int64),
            tf.constant(0.0 if start_seed is None else 1.0, tf.float32),
        ]
        sampled = grad_seeds is not None
        seeds = np.zeros([1, 1, 1, 2], np.int64) if grad_seeds is None else grad_seeds
        return self._compiled["pgd", sampled](*args, seeds)

    def score(self, images, labels, pred_seeds=None):
        """(correct [T], joint []) of the protocol's prediction; ``pred_seeds`` [1, n, 2]."""
        return self._compiled["score"](images, labels,
                                       _NO_SEEDS3 if pred_seeds is None else pred_seeds)

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
    def _mean_outputs(self, images: tf.Tensor):
        """Inference-mode logits with z = mean, and the encoder's outputs."""
        encoded = self.model.encoder(images, training=False)
        return [self.model.heads[t](encoded["z"], training=False) for t in self.task_names], encoded

    def _sampled_outputs(self, images: tf.Tensor, seeds: tf.Tensor):
        """Per task, [d * B, .] for d draws of n latent samples each: a classification
        task's log of the mean softmax over the n samples, a regression task's mean output.

        ``seeds`` [d, n, 2]: sample (i, s) draws eps from ``seeds[i, s]`` (stateless), so a
        given seed always gives the same z. All d * n samples go through the heads as one
        batch of d * n * B.
        """
        encoded = self.model.encoder(images, training=False)  # BN in inference mode
        mean, log_var = encoded["mean"], encoded["log_var"]
        draws, n = tf.shape(seeds)[0], tf.shape(seeds)[1]
        batch, dim = tf.shape(mean)[0], mean.shape[-1]
        # map_fn rather than a Python loop: the counts are unknown at trace time.
        eps = tf.map_fn(lambda s: tf.random.stateless_normal(tf.shape(mean), s),
                        tf.reshape(seeds, [-1, 2]), fn_output_signature=mean.dtype)
        z = tf.reshape(mean[None] + tf.exp(0.5 * log_var)[None] * eps, [-1, dim])
        outputs = []
        for t, spec in zip(self.task_names, self.specs, strict=True):
            out = self.model.heads[t](z, training=False)
            if not spec.is_classification:
                mean_out = tf.reduce_mean(tf.reshape(out, [draws, n, batch, -1]), axis=1)
                outputs.append(tf.reshape(mean_out, [draws * batch, -1]))
                continue
            log_p = tf.reshape(tf.nn.log_softmax(out), [draws, n, batch, -1])
            # log mean_s softmax_s, computed stably in log space.
            log_mean = tf.reduce_logsumexp(log_p, axis=1) - tf.math.log(tf.cast(n, log_p.dtype))
            outputs.append(tf.reshape(log_mean, [draws * batch, -1]))
        return outputs, encoded

    def _predict(self, images: tf.Tensor, seeds: tf.Tensor) -> list[tf.Tensor]:
        """The protocol's prediction: logits (z = mean) or log-probabilities; seeds [1, n, 2]."""
        if self.samples == 0:
            return self._mean_outputs(images)[0]
        return self._sampled_outputs(images, seeds)[0]

    def _gradient(self, images, labels, grad_seeds, sampled: bool):
        """(grad_x L, zero_task [T, B], zero_pair [B], the outputs differentiated)."""
        num_tasks = len(self.task_names)
        extra_term = self.beta > 0.0
        per_task_grads = num_tasks > 1 or extra_term
        with tf.GradientTape(persistent=per_task_grads) as tape:
            tape.watch(images)
            if sampled:
                outputs, encoded = self._sampled_outputs(images, grad_seeds)
                y = tf.tile(labels, [tf.shape(grad_seeds)[0], 1])
            else:
                outputs, encoded = self._mean_outputs(images)
                y = labels
            losses = task_losses(outputs, self._split(y), self.protocol.attack_ce, self.specs)
            extra = None
            if extra_term:
                extra = self.beta * tf.reduce_mean(gaussian_kl(encoded["mean"], encoded["log_var"]))
            loss = attacked_loss(losses, self.weights, extra)
            means = [tf.reduce_mean(v) for v in losses]
        grad = tape.gradient(loss, images)
        task_grads = [tape.gradient(m, images) for m in means] if per_task_grads else [grad]
        del tape
        zero_task = tf.stack([_all_zero(g) for g in task_grads])
        return grad, zero_task, _all_zero(grad), outputs

    # -- scoring
    def _correct(self, outputs: Sequence[tf.Tensor], labels: tf.Tensor):
        """(per-task sums [T], joint correct count []) as float32.

        A classification task's sum is its count of right predictions; a regression
        task's the sum over examples of its error (NME for landmarks, else the mean
        absolute error over outputs), so that sum / N is the mean error. The joint
        count is over the classification tasks (0 without any).
        """
        sums, right = [], []
        for spec, out, y in zip(self.specs, outputs, self._split(labels), strict=True):
            if spec.is_classification:
                hit = tf.equal(tf.argmax(out, axis=-1, output_type=tf.int32), y)
                right.append(hit)
                sums.append(tf.reduce_sum(tf.cast(hit, tf.float32)))
            else:
                sums.append(tf.reduce_sum(_example_error(spec, out, y)))
        joint = (tf.reduce_sum(tf.cast(tf.reduce_all(tf.stack(right), axis=0), tf.float32))
                 if right else tf.constant(0.0))
        return tf.stack(sums), joint

    def _score(self, images, labels, pred_seeds):
        return self._correct(self._predict(images, pred_seeds[:1]), labels)

    # -- FGSM over a whole eta grid from one gradient
    def _fgsm_grid(self, images, labels, etas, pred_seeds, grad_seeds, sampled: bool):
        """Counts for every eta from ONE sign (etas already in [0, 1] pixel units).

        The etas loop runs in-graph (a tf.while_loop over the eta tensor): one forward
        pass of B images per eta, so memory stays that of one batch whatever the grid.
        """
        grad, zero_task, zero_pair, outputs = self._gradient(images, labels, grad_seeds, sampled)
        sign = tf.sign(grad)
        if sampled:
            # The clean score's own pass: EOT draws (or tiled draws) are not the prediction.
            # Without EOT the gradient used this same draw (pred_seeds[0]).
            outputs = self._predict(images, pred_seeds[:1])
        clean_task, clean_joint = self._correct(outputs, labels)
        num_etas = tf.shape(etas)[0]
        per_task = tf.TensorArray(tf.float32, size=num_etas)
        joint = tf.TensorArray(tf.float32, size=num_etas)
        for i in tf.range(num_etas):
            eta = etas[i]
            if eta == 0.0:
                # x + 0 * sign = x: the clean prediction (the same draw).
                t_i, j_i = clean_task, clean_joint
            else:
                x_adv = tf.clip_by_value(images + eta * sign, 0.0, 1.0)
                t_i, j_i = self._correct(self._predict(x_adv, pred_seeds[i + 1:i + 2]), labels)
            per_task = per_task.write(i, t_i)
            joint = joint.write(i, j_i)
        return per_task.stack(), joint.stack(), zero_task, zero_pair, clean_task, clean_joint

    # -- PGD for one eta
    def _pgd(self, images, labels, eta, step_size, steps, start_seed, start_scale, grad_seeds,
             sampled: bool):
        """L-inf PGD: signed steps projected onto the eta ball around x and [0, 1].

        The random start (Madry et al.), uniform in the ball, is scaled by ``start_scale``
        (1 or 0 = none). ``grad_seeds`` is [steps, d, n, 2] (fresh draws at every step),
        used when ``sampled``.
        """
        lower = tf.maximum(images - eta, 0.0)
        upper = tf.minimum(images + eta, 1.0)
        noise = tf.random.stateless_uniform(tf.shape(images), start_seed, -1.0, 1.0)
        x = tf.clip_by_value(images + start_scale * eta * noise, lower, upper)
        for i in tf.range(steps):
            grad = self._gradient(x, labels, grad_seeds[i], sampled)[0]
            x = tf.clip_by_value(x + step_size * tf.sign(grad), lower, upper)
        return x


_ATTACKERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def get_attacker(model, task_names: Sequence[str] | None, protocol: Protocol = STANDARD,
                 weights: Sequence[float] | None = None) -> Attacker:
    """The cached `Attacker` of `model` for `task_names` (None: all of its tasks, in order)."""
    tasks = tuple(model.task_names if task_names is None else task_names)
    key = (tasks, protocol.for_model(model).key(),
           None if weights is None else tuple(float(w) for w in weights))
    per_model = _ATTACKERS.setdefault(model, {})
    if key not in per_model:
        per_model[key] = Attacker(model, tasks, protocol, weights)
    return per_model[key]


def task_specs_of(model, task_names: Sequence[str]) -> tuple[TaskSpec, ...]:
    """The `TaskSpec` of each of `task_names` in `model` (``.task_specs``); a model without
    specs (e.g. a served classifier) has classification heads only."""
    by_name = {s.name: s for s in getattr(model, "task_specs", ())}
    return tuple(by_name.get(t) or TaskSpec(t, CLASSIFICATION, 1) for t in task_names)


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


# Prediction seeds live above every EOT and PGD seed pair (second component >= 2^40).
_PREDICTION_OFFSET = 2**40
MAX_PASSES = 4096  # forward passes per batch a seed can name (the clean one and one per eta)


def prediction_seeds(seed: int, batch: int, passes: Sequence[int], samples: int) -> np.ndarray:
    """Seeds [len(passes), n, 2] of a sampled prediction's latent draws, or None if n == 0.

    Pass 0 is a batch's clean prediction, pass i + 1 the scoring of its i-th eta: the
    same (seed, batch, pass) always draws the same z, whatever the attack, so FGSM and
    PGD score the same clean predictions.
    """
    if samples == 0:
        return None
    if samples > MAX_PASSES or max(passes) >= MAX_PASSES:
        raise ValueError(f"at most {MAX_PASSES - 1} etas and {MAX_PASSES} samples per prediction")
    ids = [[_PREDICTION_OFFSET + (batch * MAX_PASSES + p) * MAX_PASSES + s
            for s in range(samples)] for p in passes]
    ids = np.asarray(ids, np.int64)
    return np.stack([np.full_like(ids, seed), ids], axis=-1)


def grad_draw_seeds(seed: int, counter: int, draws: int, samples: int,
                    steps: int | None = None) -> tf.Tensor | None:
    """EOT seeds as draws of ``samples`` latent samples: [d, n, 2] or [steps, d, n, 2].

    With one sample per draw these are exactly `eot_seeds` (the z = mean protocol's EOT).
    """
    base = eot_seeds(seed, counter, draws * samples, steps)
    if base is None:
        return None
    shape = [draws, samples, 2] if steps is None else [steps, draws, samples, 2]
    return tf.reshape(base, shape)

