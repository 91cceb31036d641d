"""The one interface every task-weighting strategy implements.

A strategy answers one question per training step: *with what weights are the task
losses combined?* Some answer from the losses alone (fixed weights, uncertainty
weighting); others need per-task gradients first (GradNorm, MGDA, Pareto MTL). A strategy
says which through `gradient_source`, and the trainer (`mtl_tf.training.trainer`)
computes exactly those gradients, inside the compiled step, before calling
`compute_weights`.

Adding a strategy is one file in this package: subclass `Weighting`, decorate it with
`@register("name")`, implement `from_config` and `compute_weights`. The package imports
every module in it, so nothing else needs editing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import keras
import tensorflow as tf

# Where per-task gradients are taken before the weights are computed.
#   None              -- weights depend on the losses only; the trainer differentiates
#                        sum_k w_k L_k + regularization() directly (w may be trainable).
#   "params"          -- w.r.t. every parameter task k touches (shared + its head); the
#                        final update is the same linear combination of those gradients,
#                        so no extra backward pass is needed.
#   "representation"  -- w.r.t. the shared representation z (MGDA-UB); cheap, then one
#                        weighted backward pass.
#   "last_shared_layer" -- w.r.t. the kernel of the last shared Dense layer (GradNorm).
GRADIENT_SOURCES = (None, "params", "representation", "last_shared_layer")

_REGISTRY: dict[str, type[Weighting]] = {}


def register(name: str) -> Callable[[type[Weighting]], type[Weighting]]:
    """Class decorator adding a strategy to the registry under `name`."""

    def wrap(cls: type[Weighting]) -> type[Weighting]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"weighting {name!r} is registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return wrap


def registered() -> dict[str, type[Weighting]]:
    """Name -> class of every registered strategy."""
    return dict(_REGISTRY)


class Weighting(keras.layers.Layer):
    """Base class of task-weighting strategies.

    A `keras.layers.Layer`, so that a strategy's state (learned log-variances, GradNorm
    weights, the Pareto MTL phase) is tracked, checkpointed and restored with the model.

    Attributes:
      name: registry name, set by `@register`.
      gradient_source: which per-task gradients `compute_weights` needs (see
        `GRADIENT_SOURCES`).
      gram_includes_heads: with `gradient_source == "params"`, whether the Gram matrix
        passed to `compute_weights` includes the task-specific head parameters (Pareto
        MTL's reference does: all parameters) or only the shared ones (MGDA).
    """

    name: ClassVar[str] = "base"
    gradient_source: ClassVar[str | None] = None
    gram_includes_heads: ClassVar[bool] = False

    def __init__(self, num_tasks: int, **kwargs: Any) -> None:
        super().__init__(name=f"weighting_{self.name}", **kwargs)
        if num_tasks < 1:
            raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")
        self.num_tasks = num_tasks
        # Set by `bind_tasks`; None: not told (every task treated as classification).
        self.task_specs: tuple[Any, ...] | None = None

    @classmethod
    def from_config(cls, num_tasks: int, config: Any) -> Weighting:  # type: ignore[override]
        """Builds the strategy from a `mtl_tf.config.RunConfig`."""
        del config
        return cls(num_tasks)

    def compute_weights(
        self, task_losses: tf.Tensor, gram: tf.Tensor | None = None
    ) -> tf.Tensor:
        """Returns the task weights, a float32 tensor of shape [num_tasks].

        Args:
          task_losses: float32 [num_tasks], this batch's mean loss per task.
          gram: float32 [num_tasks, num_tasks], pairwise inner products of the per-task
            gradients named by `gradient_source` (None when that is None).

        Called inside the compiled train step: use TensorFlow ops only. When
        `gradient_source` is None the result may depend on trainable variables of the
        strategy, and the trainer differentiates through it.
        """
        raise NotImplementedError

    @classmethod
    def model_variants(cls, config: Any) -> list[tuple[str, Any]]:
        """The independent models this strategy trains in one run, if more than one.

        Most strategies train one model per run (an empty list). A strategy whose run is
        several sub-problems (Pareto MTL: one per preference vector, Algorithm 1) returns
        one ``(name, config)`` per model: the name of its sub-directory, its model and
        its export suffix, and the configuration that builds its strategy instance.
        Training, export and reports all ask this, never the strategy's name.

        Args:
          config: a `mtl_tf.config.RunConfig`.

        Raises:
          ValueError: the configuration selects a variant that does not exist.
        """
        del config
        return []

    def attach_optimizer(self, make_optimizer: Callable[[], keras.optimizers.Optimizer]) -> None:
        """Offered once, when the model is built: a factory of optimizers of the network's
        kind, learning rate and schedule, for a strategy that trains state of its own
        with one (GradNorm with `--gradnorm_update=optimizer`). Default: not needed.
        """
        del make_optimizer
    def bind_tasks(self, task_specs: Sequence[Any]) -> None:
        """Told by the trainer which tasks it weights (`mtl_tf.tasks.TaskSpec`, head
        order), before the first step. Most strategies ignore the task types; one whose
        objective depends on them (uncertainty weighting: Kendall et al.'s regression
        form vs MTVIB eq. 23) reads `self.task_specs`."""
        if len(task_specs) != self.num_tasks:
            raise ValueError(f"{len(task_specs)} task specs for {self.num_tasks} tasks")
        self.task_specs = tuple(task_specs)

    def describe(self) -> dict[str, Any]:
        """Static facts about this strategy instance for metrics.json (e.g. a preference)."""
        return {}

    def label(self) -> str:
        """A short name of this instance's trade-off for progress lines (e.g. a Pareto
        MTL preference ``u=(0.707, 0.707)``); empty when the strategy has none."""
        return ""

    def regularization(self) -> tf.Tensor:
        """An extra loss term owned by the strategy (e.g. sum_k s_k / 2); default 0."""
        return tf.constant(0.0)

    def call(self, task_losses: tf.Tensor) -> tf.Tensor:  # keras.Layer plumbing
        return self.compute_weights(task_losses)
