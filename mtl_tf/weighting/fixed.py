"""Fixed-weight linear scalarisation (the "GS" baseline of both papers).

L = sum_k w_k L_k with constant w (Pareto MTL eq. 2). A grid search over w is this
strategy run once per grid point.
"""

from __future__ import annotations

import itertools
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


def grid_weight_vectors(num_tasks: int, points: int) -> list[tuple[float, ...]]:
    """The interior points of the simplex lattice with ``points + 1`` divisions.

    With ``H = points + 1``, these are all ``w = (n_1, ..., n_m) / H`` with positive
    integers ``n_k`` summing to ``H`` (every component >= 1/H): ``C(H - 1, m - 1)``
    vectors. For two tasks that is ``points`` vectors evenly spaced strictly inside
    the segment, e.g. ``points=3`` gives (0.25, 0.75), (0.5, 0.5), (0.75, 0.25): the
    grid-search baseline of Pareto MTL. The corners (a weight of 0, i.e. a task
    ignored) are excluded because they are single-task training, not a trade-off.

    Args:
      num_tasks: Number of tasks ``m`` (>= 1).
      points: Grid points per task axis (>= 1); needs ``points + 1 >= num_tasks`` for
        the lattice to have an interior point.

    Returns:
      The weight vectors, in lexicographic order of ``(n_1, ..., n_m)``.

    Raises:
      ValueError: If ``num_tasks`` or ``points`` is out of range.
    """
    if num_tasks < 1:
        raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")
    if points < 1:
        raise ValueError(f"--grid_points must be >= 1, got {points}")
    divisions = points + 1
    if divisions < num_tasks:
        raise ValueError(
            f"--grid_points={points} gives {divisions} divisions, too few for a grid "
            f"with every one of {num_tasks} tasks weighted; use --grid_points >= "
            f"{num_tasks - 1}"
        )
    vectors = []
    # Stars and bars: m - 1 distinct cut positions in 1..H-1 split H into m positive
    # parts; combinations() yields the cuts, hence the parts, in lexicographic order.
    for cuts in itertools.combinations(range(1, divisions), num_tasks - 1):
        bounds = (0, *cuts, divisions)
        vectors.append(tuple((b - a) / divisions for a, b in itertools.pairwise(bounds)))
    return vectors
