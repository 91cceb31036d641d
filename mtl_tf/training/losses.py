"""Per-task losses from a task's spec (`mtl_tf.tasks.TaskSpec`): what the trainer
minimises and what FGSM/PGD attack (`mtl_tf.evaluation.attack_graph`)."""

from __future__ import annotations

import keras
import tensorflow as tf

from mtl_tf.tasks import TaskSpec

__all__ = ["per_example_loss"]


def per_example_loss(spec: TaskSpec, labels: tf.Tensor, outputs: tf.Tensor) -> tf.Tensor:
    """One task's loss per example [B], as its spec says.

    Classification: sparse softmax cross-entropy from logits (MTVIB eq. 7). Regression:
    the mean over the ``size`` outputs of the squared error (``mse``; Kendall et al.
    2018 eq. 5, Gaussian likelihood) or of the absolute error (``l1``; Laplace).
    With the spec's ``target_std`` the errors are divided by it first (the loss in
    standardised units, `mtl_tf.tasks.with_target_std`).
    Also the loss FGSM/PGD attack (`mtl_tf.evaluation.attack_graph`).
    """
    if spec.is_classification:
        return keras.losses.sparse_categorical_crossentropy(labels, outputs, from_logits=True)
    diff = tf.cast(outputs, tf.float32) - tf.reshape(tf.cast(labels, tf.float32),
                                                     [-1, spec.size])
    if spec.target_std is not None:
        diff = diff / tf.constant(spec.target_std, tf.float32)
    return tf.reduce_mean(tf.square(diff) if spec.loss == "mse" else tf.abs(diff), axis=-1)
