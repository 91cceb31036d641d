"""GradNorm (Chen et al., ICML 2018): balance tasks by their gradient magnitudes.

With G_k = w_k ||grad_W L_k|| the weighted gradient norm of task k at the last shared
layer W (the trainer's `last_shared_kernel`: the encoder's last Dense through which every
task's gradient flows -- for the VIB encoder the last FC 1024 before the bottleneck, not
its mean layer), mean norm G_bar, and relative inverse training rate
r_k = (L_k / L_k(0)) / mean_j(L_j / L_j(0)), GradNorm moves the weights to reduce

    L_grad = sum_k | G_k - G_bar * r_k^alpha |

with the target G_bar r_k^alpha held constant (the paper's prescription). Its gradient
w.r.t. w_k is sign(G_k - target_k) * ||grad_W L_k||, so the update needs only the
per-task gradient norms at W -- the diagonal of the Gram matrix the trainer provides for
`gradient_source = "last_shared_layer"` -- and no second-order differentiation. After each
update the weights are clipped positive and renormalised to sum to the number of tasks.
The network is trained with the weights as they were before this step's update.

How the weights move (`--gradnorm_update`):

* ``"step"`` (default; every GradNorm result so far): ``w <- w - gradnorm_lr * grad``.
  Since ``grad`` is a gradient norm, steps are large (about +-0.1 per step at the default
  0.025): the weights react within a few steps, and jitter.
* ``"optimizer"``: Chen et al. (2018, Sec. 3.2): "the weights are updated by the same
  optimizer" as the network. Here: a separate optimizer of the network's kind, learning
  rate and schedule (`attach_optimizer`; its state is checkpointed with the weights) is
  applied to ``grad``; ``gradnorm_lr`` is then unused. With Adam the steps are about the
  learning rate (1e-4 by default), so the weights move slowly and smoothly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf

from mtl_tf.weighting.base import Weighting, register

# Smallest weight a task keeps: GradNorm must never switch a task off entirely.
_MIN_WEIGHT = 1e-3
# `mtl_tf.choices.GRADNORM_UPDATES`.
UPDATES: tuple[str, ...] = ("step", "optimizer")


@register("gradnorm")
class GradNormWeighting(Weighting):
    """GradNorm task weights, kept positive and summing to the task count.

    Args:
      num_tasks: number of tasks m.
      alpha: asymmetry; larger values pull harder towards equal training rates.
      learning_rate: step size of the weights' own gradient descent on L_grad (with
        ``update="step"``).
      update: ``"step"`` (plain steps of ``learning_rate``) or ``"optimizer"`` (an
        optimizer like the network's, given by `attach_optimizer`).
    """

    gradient_source = "last_shared_layer"

    def __init__(
        self, num_tasks: int, alpha: float = 1.5, learning_rate: float = 0.025,
        update: str = "step", **kwargs: Any
    ) -> None:
        super().__init__(num_tasks, **kwargs)
        if alpha < 0:
            raise ValueError(f"--gradnorm_alpha must be >= 0, got {alpha}")
        if learning_rate <= 0:
            raise ValueError(f"--gradnorm_lr must be > 0, got {learning_rate}")
        if update not in UPDATES:
            raise ValueError(f"--gradnorm_update must be one of {UPDATES}, got {update!r}")
        self.alpha = float(alpha)
        self.learning_rate = float(learning_rate)
        self.update = update
        self.weight_optimizer: keras.optimizers.Optimizer | None = None
        # Non-trainable: updated by GradNorm's own rule, not by the model's optimizer;
        # still checkpointed with the model, so a resumed run continues exactly.
        self.task_weights = self.add_weight(
            shape=(num_tasks,), initializer="ones", trainable=False, name="task_weights"
        )
        self.initial_losses = self.add_weight(
            shape=(num_tasks,), initializer="zeros", trainable=False, name="initial_losses"
        )

    @classmethod
    def from_config(cls, num_tasks: int, config: Any) -> GradNormWeighting:
        # No defaults here: RunConfig's are the single source (the flags take theirs too).
        return cls(num_tasks, alpha=config.gradnorm_alpha, learning_rate=config.gradnorm_lr,
                   update=config.gradnorm_update)

    def attach_optimizer(self, make_optimizer: Callable[[], keras.optimizers.Optimizer]) -> None:
        if self.update != "optimizer":
            return
        self.weight_optimizer = make_optimizer()
        # Its slots exist before the compiled step (and before a checkpoint restores them).
        self.weight_optimizer.build([self.task_weights])

    def compute_weights(
        self, task_losses: tf.Tensor, gram: tf.Tensor | None = None
    ) -> tf.Tensor:
        if gram is None:
            raise ValueError("GradNorm needs the per-task gradient Gram matrix")
        task_losses = tf.cast(task_losses, tf.float32)
        # L_k(0): the first losses seen (the variable starts at 0, which no CE reaches).
        first = tf.reduce_all(tf.equal(self.initial_losses, 0.0))
        self.initial_losses.assign(tf.where(first, task_losses, self.initial_losses))

        weights = tf.identity(self.task_weights)  # the weights this step trains with
        norms = tf.sqrt(tf.maximum(tf.linalg.diag_part(tf.cast(gram, tf.float32)), 0.0))
        weighted_norms = weights * norms
        loss_ratio = task_losses / self.initial_losses
        inverse_rate = loss_ratio / tf.reduce_mean(loss_ratio)
        target = tf.stop_gradient(tf.reduce_mean(weighted_norms) * inverse_rate**self.alpha)
        grad = tf.sign(weighted_norms - target) * norms
        if self.update == "optimizer":
            if self.weight_optimizer is None:
                raise ValueError("--gradnorm_update=optimizer needs attach_optimizer() first")
            # `grad` is already global (from the all-reduced Gram matrix); an optimizer in
            # a replica context sums its gradients over the replicas, so hand it a share.
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            self.weight_optimizer.apply([grad / replicas], [self.task_weights])
            updated = tf.maximum(self.task_weights, _MIN_WEIGHT)
        else:
            updated = tf.maximum(weights - self.learning_rate * grad, _MIN_WEIGHT)
        self.task_weights.assign(updated * self.num_tasks / tf.reduce_sum(updated))
        return weights
