"""Fixed-weight linear scalarisation (the "GS" baseline of both papers).

L = sum_k w_k L_k with constant w (Pareto MTL eq. 2). A grid search over w is this
strategy run once per grid point.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from mtl_tf.weighting.base import Weighting, register


@register("fixed")
class FixedWeighting(Weighting):
    """Constant task weights; equal weights 1/m when none are given."""

    def __init__(self, num_tasks: int, task_weights: Sequence[float] | None = None) -> None:
        super().__init__(num_tasks)
        if task_weights is None:
            task_weights = [1.0 / num_tasks] * num_tasks
        task_weights = [float(w) for w in task_weights]
        if len(task_weights) != num_tasks:
            raise ValueError(
                f"--task_weights has {len(task_weights)} values but the data set has "
                f"{num_tasks} tasks; give one weight per task"
            )
        if any(w < 0 for w in task_weights) or sum(task_weights) <= 0:
            raise ValueError(
                f"--task_weights must be non-negative and not all zero, got {task_weights}"
            )
        self.task_weights = tuple(task_weights)
        self._weights_tensor = tf.constant(task_weights, dtype=tf.float32)

    @classmethod
    def from_config(cls, num_tasks: int, config: Any) -> FixedWeighting:
        return cls(num_tasks, getattr(config, "task_weights", None))

    def compute_weights(
        self, task_losses: tf.Tensor, gram: tf.Tensor | None = None
    ) -> tf.Tensor:
        del task_losses, gram
        return self._weights_tensor
