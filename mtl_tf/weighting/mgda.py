"""MGDA / MOO-MTL (Sener & Koltun 2018): the min-norm convex combination of task gradients.

Each step solves (Sener & Koltun 2018, eq. 3; Pareto MTL eq. 16)

    lambda* = argmin_{lambda in simplex} || sum_k lambda_k g_k ||^2,

and trains on sum_k lambda*_k L_k. The direction d = sum_k lambda*_k g_k is the
minimum-norm element of the convex hull of the task gradients, so g_k . d >= ||d||^2 >= 0
for every k: to first order the step -d increases no task loss (Désidéri 2012).

Gradients are either over the shared parameters (``grad_wrt="params"``; heads are not in
the Gram matrix, as in Sener & Koltun), or over the shared representation z
(``grad_wrt="representation"``, MGDA-UB, their Theorem 1). For MGDA-UB the trainer takes
one forward pass, differentiates each task's batch-mean loss w.r.t. z and flattens the
resulting [batch, latent] tensor over the whole batch into one vector per task, as the
reference does (LibMTL sums over the batch instead); see
`mtl_tf.training.trainer.MultiTaskTrainer.train_step`.

Gradient normalisation (Sener & Koltun's reference, ``gradient_normalizers``): g_k is
replaced by g_k / n_k before the solve, i.e. the Gram matrix by M_ij / (n_i n_j), with

    none : n_k = 1
    l2   : n_k = ||g_k||
    loss : n_k = L_k (this batch's loss)
    loss+: n_k = L_k ||g_k||

The simplex weights found for the normalised gradients are then applied to the *raw*
losses, as the reference does (it scales the losses, not the normalised gradients).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from mtl_tf.weighting.base import Weighting, register
from mtl_tf.weighting.min_norm import min_norm_element

GRAD_WRT: tuple[str, ...] = ("params", "representation")
NORMALIZATIONS: tuple[str, ...] = ("none", "l2", "loss", "loss+")

# Normalisers below this are treated as 1: a zero gradient (or loss) has nothing to
# rescale, and dividing by it would only turn the Gram matrix into NaNs.
_TINY = 1e-30


def gradient_normalizers(
    task_losses: tf.Tensor, gram: tf.Tensor, normalization: str
) -> tf.Tensor:
    """Per-task normalisers n_k of Sener & Koltun's reference (`gradient_normalizers`).

    Args:
      task_losses: [m] current task losses L_k.
      gram: [m, m] Gram matrix of the task gradients (its diagonal holds ||g_k||^2).
      normalization: one of `NORMALIZATIONS`.

    Returns:
      [m] tensor n_k in the dtype of `gram`; entries that would be 0 are replaced by 1.
    """
    gram = tf.convert_to_tensor(gram)
    losses = tf.cast(task_losses, gram.dtype)
    norms = tf.sqrt(tf.maximum(tf.linalg.diag_part(gram), 0.0))
    if normalization == "none":
        n = tf.ones_like(norms)
    elif normalization == "l2":
        n = norms
    elif normalization == "loss":
        n = losses
    elif normalization == "loss+":
        n = losses * norms
    else:
        raise ValueError(
            f"--grad_normalization must be one of {', '.join(NORMALIZATIONS)}, "
            f"got {normalization!r}"
        )
    return tf.where(tf.abs(n) > _TINY, n, tf.ones_like(n))


@register("mgda")
class MGDAWeighting(Weighting):
    """MGDA weights: the min-norm element of the (normalised) task gradients' hull.

    Sener & Koltun 2018 (Alg. 2, with MGDA-UB as ``grad_wrt="representation"``). The
    weights are on the simplex (for every normalisation: they are the solver's weights,
    applied to the raw losses as in the reference).

    Args:
      num_tasks: number of tasks m.
      grad_wrt: ``"params"`` (gradients w.r.t. the shared parameters) or
        ``"representation"`` (MGDA-UB: w.r.t. the shared representation z, per-example
        gradients flattened over the whole batch by the trainer).
      normalization: ``"none"``, ``"l2"``, ``"loss"`` or ``"loss+"`` (module docstring).
      max_iters: cap on the min-norm solver's iterations.
      tol: the solver's convergence tolerance.

    Raises:
      ValueError: for an unknown `grad_wrt` or `normalization`, naming the flag.
    """

    gradient_source = "params"
    # Sener & Koltun: gradients of the shared parameters only (heads are task-specific).
    gram_includes_heads = False

    def __init__(
        self,
        num_tasks: int,
        grad_wrt: str = "params",
        normalization: str = "none",
        max_iters: int = 250,
        tol: float = 1e-5,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_tasks, **kwargs)
        if grad_wrt not in GRAD_WRT:
            raise ValueError(
                f"--grad_wrt must be one of {', '.join(GRAD_WRT)}, got {grad_wrt!r}"
            )
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"--grad_normalization must be one of {', '.join(NORMALIZATIONS)}, "
                f"got {normalization!r}"
            )
        if max_iters < 1:
            raise ValueError(f"--min_norm_max_iters must be >= 1, got {max_iters}")
        if tol <= 0:
            raise ValueError(f"--min_norm_tol must be > 0, got {tol}")
        self.grad_wrt = grad_wrt
        self.normalization = normalization
        self.max_iters = int(max_iters)
        self.tol = float(tol)
        # Per instance: the trainer reads it to pick the gradients it computes.
        self.gradient_source = grad_wrt

    @classmethod
    def from_config(cls, num_tasks: int, config: Any) -> MGDAWeighting:
        return cls(
            num_tasks,
            grad_wrt=getattr(config, "grad_wrt", "params"),
            normalization=getattr(config, "grad_normalization", "none"),
            max_iters=getattr(config, "min_norm_max_iters", 250),
            tol=getattr(config, "min_norm_tol", 1e-5),
        )

    def normalized_gram(self, task_losses: tf.Tensor, gram: tf.Tensor) -> tf.Tensor:
        """M_ij / (n_i n_j): the Gram matrix of the normalised gradients g_k / n_k."""
        gram = tf.convert_to_tensor(gram)
        n = gradient_normalizers(task_losses, gram, self.normalization)
        return gram / (n[:, None] * n[None, :])

    def compute_weights(
        self, task_losses: tf.Tensor, gram: tf.Tensor | None = None
    ) -> tf.Tensor:
        """Min-norm simplex weights (Sener & Koltun 2018, Alg. 2), float32 [m]."""
        if gram is None:
            raise ValueError("MGDA needs the per-task gradient Gram matrix")
        # float64 for the tiny m x m algebra: normalisers can span many orders of magnitude.
        gram = tf.cast(tf.stop_gradient(gram), tf.float64)
        losses = tf.cast(tf.stop_gradient(task_losses), tf.float64)
        weights, _ = min_norm_element(
            self.normalized_gram(losses, gram), max_iters=self.max_iters, tol=self.tol
        )
        return tf.cast(weights, tf.float32)
