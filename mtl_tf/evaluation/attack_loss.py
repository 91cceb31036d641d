"""The loss an attack differentiates (MTVIB eq. 25's L), one function of the task outputs.

Eq. 25 does not say which loss is attacked. `attacked_loss` builds it from

* the per-example loss of each task (`task_losses`): the cross-entropy on the true label,
  from logits (``attack_ce="logits"``, the standard) or from softmax probabilities
  clipped to [eps, 1 - eps], eps = 1e-7 (``"clipped_softmax"``, what
  `keras.losses.sparse_categorical_crossentropy` computes on a probability tensor: the
  clip's gradient is zero once the true class has p > 1 - eps -- a confidently right
  example is never perturbed -- and also once p < eps, a confidently wrong one). Note
  that Keras 3 itself does this only for probabilities it cannot trace back to logits:
  on the output of a Softmax op in a graph it recovers the logits and computes the
  exact cross-entropy (so a Keras model ending in a softmax, attacked in a tf.function,
  does not saturate);
* their combination: the unweighted sum of the task means (``attack_loss="sum"``, the
  standard) or the model's own training objective (``"weighted"``,
  sum_k w_k mean_i l_ik plus beta * KL for a VIB encoder, MTVIB eq. 23; constant terms
  such as UWL's sum_k s_k / 2 are left out, their input gradient being zero).
  ``"per_task"`` attacks each task alone: the attack is run once per task with that task's
  loss only (`mtl_tf.evaluation.attacks`), which is the sum over one task.

The weights of ``weighted`` come from `objective_weights`. Per-example losses are kept
(not only their mean) because an example's input gradient depends on its loss alone
(inference mode: no batch statistics), which is what the zero-gradient fractions count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from mtl_tf.tasks import TaskSpec
from mtl_tf.training.losses import per_example_loss

__all__ = ["attacked_loss", "objective_weights", "task_losses"]


def task_losses(outputs: Sequence[tf.Tensor], labels: Sequence[tf.Tensor], attack_ce: str,
                specs: Sequence[TaskSpec] | None = None) -> list[tf.Tensor]:
    """Per-example loss [B] of each task.

    Args:
      outputs: per task, logits or log-probabilities [B, C_k] of a classification task
        (the two give the same softmax, so either is fine), or a regression task's
        predictions [B, d].
      labels: per task, int class ids [B] or float regression targets [B, d].
      attack_ce: "logits" or "clipped_softmax" (module docstring); it concerns the
        classification tasks only.
      specs: the tasks' `TaskSpec`s (default: all classification). A regression task's
        loss is its training loss (mse or l1, `mtl_tf.training.losses.per_example_loss`).
    """
    specs = list(specs) if specs is not None else [None] * len(outputs)
    # Written out rather than `sparse_categorical_crossentropy(from_logits=False)` for
    # clipped_softmax: inside a tf.function Keras traces a Softmax op back to its logits
    # and uses them (its `_get_logits`), so the clip would silently not happen. This is
    # Keras' formula on a probability tensor it cannot trace back: clip to [epsilon,
    # 1 - epsilon], -log p_true.
    eps = keras.config.epsilon()
    losses = []
    for spec, out, y in zip(specs, outputs, labels, strict=True):
        if spec is not None and not spec.is_classification:
            losses.append(per_example_loss(spec, y, out))
        elif attack_ce == "logits":
            losses.append(keras.losses.sparse_categorical_crossentropy(y, out, from_logits=True))
        else:
            p = tf.clip_by_value(tf.nn.softmax(out), eps, 1.0 - eps)
            losses.append(-tf.math.log(tf.gather(p, y, axis=1, batch_dims=1)))
    return losses


def attacked_loss(
    per_task: Sequence[tf.Tensor], weights: tf.Tensor | None, extra: tf.Tensor | None = None,
) -> tf.Tensor:
    """sum_k w_k mean_i l_ik (+ ``extra``): the scalar whose input gradient is taken.

    Args:
      per_task: per-example losses [B] of each task (`task_losses`).
      weights: float [T], or None for the unweighted sum (w_k = 1).
      extra: a further scalar term of the objective (beta * KL of a VIB encoder), or None.
    """
    means = [tf.reduce_mean(loss) for loss in per_task]
    total = tf.add_n(means) if weights is None else tf.add_n(
        [weights[k] * m for k, m in enumerate(means)])
    return total if extra is None else total + extra


def objective_weights(
    model, task_names: Sequence[str], logged: Mapping[str, float] | None = None,
) -> tuple[tuple[float, ...], str]:
    """The task weights of `model`'s training objective, and where they come from.

    * Strategies whose weights depend on the losses only (``gradient_source`` None: fixed
      weights, uncertainty weighting's 1/sigma_k^2 = exp(-s_k)) are asked for their weights
      as they are now, i.e. at the end of training.
    * Strategies whose weights come from each step's task gradients (GradNorm, MGDA,
      Pareto MTL's alpha) have no weights outside a training step: the mean of the weights
      logged over the last training epoch is used (metrics.json ``task_weights``). For
      Pareto MTL that is the alpha its updates actually used, not the preference vector,
      which only constrains where the solution lies.

    Args:
      model: a `MultiTaskTrainer` (``.weighting``, ``.task_names``).
      task_names: the attacked tasks, in order.
      logged: {task: mean weight of the last epoch}, from metrics.json.

    Raises:
      ValueError: the model has no training objective (a SavedModel), or its weights
        were not logged.
    """
    weighting = getattr(model, "weighting", None)
    if weighting is None:
        raise ValueError("--attack_loss=weighted needs the model's training objective, which "
                         "an exported SavedModel does not carry; re-score the run itself "
                         "(--mode=eval --run_dir=...)")
    if weighting.gradient_source is None:
        zeros = tf.zeros([len(model.task_names)], tf.float32)
        weights = np.asarray(weighting.compute_weights(zeros), np.float64)
        by_task = dict(zip(model.task_names, weights.tolist(), strict=True))
        source = "the strategy's weights at the end of training"
    else:
        missing = [t for t in task_names if t not in (logged or {})]
        if missing:
            raise ValueError(f"--attack_loss=weighted: no logged training weights for {missing} "
                             "(metrics.json task_weights); retrain the run to log them")
        by_task = dict(logged)
        source = "the mean per-step weights of the last training epoch"
    return tuple(float(by_task[t]) for t in task_names), source
