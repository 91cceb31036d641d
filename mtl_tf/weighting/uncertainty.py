"""Homoscedastic uncertainty weighting (Kendall et al. 2018; MTVIB eq. 22-23).

For classification, MTVIB eq. 22 approximates the log-likelihood of a softmax with
temperature sigma_k^2 by (1/sigma_k^2) log softmax + log sigma_k, so each task
contributes (1/sigma_k^2) CE_k + log sigma_k to the loss (eq. 23). We learn
s_k = log sigma_k^2 (unconstrained, numerically stable) and minimise

    sum_k exp(-s_k) CE_k + s_k / 2,

which is eq. 23 exactly: exp(-s_k) = 1/sigma_k^2 and s_k/2 = log sigma_k. (The regression
form of Kendall et al., CE_k / (2 sigma_k^2) + log sigma_k, used e.g. by LibMTL, differs by
a factor 1/2 on CE_k; we follow the paper's classification form.) For fixed CE_k the
optimum is s_k = log(2 CE_k): a task with a larger loss gets a smaller weight 1/(2 CE_k).
s is initialised at 0 (all weights 1) and trained by the model's optimizer.
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
        return keras.ops.exp(-self.log_variances)

    def regularization(self) -> tf.Tensor:
        return 0.5 * keras.ops.sum(self.log_variances)
