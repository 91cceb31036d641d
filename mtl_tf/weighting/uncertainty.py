"""Homoscedastic uncertainty weighting (Kendall et al. 2018; MTVIB eq. 22-23).

For classification, MTVIB eq. 22 approximates the log-likelihood of a softmax with
temperature sigma_k^2 by (1/sigma_k^2) log softmax + log sigma_k, so each task
contributes (1/sigma_k^2) CE_k + log sigma_k to the loss (eq. 23). We learn
s_k = log sigma_k^2 (unconstrained, numerically stable) and minimise

    sum_k exp(-s_k) CE_k + s_k / 2,

which is eq. 23 exactly: exp(-s_k) = 1/sigma_k^2 and s_k/2 = log sigma_k. For fixed CE_k
the optimum is s_k = log(2 CE_k): a task with a larger loss gets a smaller weight
1/(2 CE_k).

A regression task (its `TaskSpec`, told by the trainer through `bind_tasks`) uses
Kendall et al.'s (2018) regression form instead, eq. 5-7 there: the Gaussian likelihood
gives L_k / (2 sigma_k^2) + log sigma_k, i.e. weight exp(-s_k) / 2 and the same s_k / 2.
For fixed L_k its optimum is s_k = log L_k (weight 1/(2 L_k)). LibMTL uses this form for
every task; MTVIB's classification form differs by the factor 1/2 on CE_k.

s is initialised at 0 (weights 1, or 1/2 for regression) and trained by the model's
optimizer.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from mtl_tf.weighting.base import Weighting, register


@register("uncertainty")
class UncertaintyWeighting(Weighting):
    """Learned task weights exp(-s_k) plus the regulariser sum_k s_k / 2 (MTVIB eq. 23)."""

    def __init__(self, num_tasks: int, **kwargs: Any) -> None:
        super().__init__(num_tasks, **kwargs)
        self.log_variances = self.add_weight(
            shape=(num_tasks,), initializer="zeros", trainable=True, name="log_variances"
        )

    def compute_weights(
        self, task_losses: tf.Tensor, gram: tf.Tensor | None = None
    ) -> tf.Tensor:
        del task_losses, gram
        # 1 for classification (MTVIB eq. 23), 1/2 for regression (Kendall et al. eq. 7).
        specs = self.task_specs or ()
        scale = [0.5 if getattr(s, "is_regression", False) else 1.0 for s in specs]
        weights = keras.ops.exp(-self.log_variances)
        if any(c != 1.0 for c in scale):
            weights = weights * tf.constant(scale, dtype=weights.dtype)
        return weights

    def regularization(self) -> tf.Tensor:
        return 0.5 * keras.ops.sum(self.log_variances)
