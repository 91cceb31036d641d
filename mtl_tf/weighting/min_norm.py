"""Min-norm element of the convex hull of task gradients, solved on their Gram matrix.

MGDA (Sener & Koltun 2018, Alg. 2) and Pareto MTL (Lin et al. 2019, eq. 14) both need

    w* = argmin_{w in simplex} || sum_i w_i g_i ||^2 = argmin_{w in simplex} w^T M w,

with M = G G^T the n x n Gram matrix of the (flattened) gradients g_1..g_n. Everything here
works on M only, so the cost of a solve does not depend on the number of parameters, and is
pure TensorFlow (`tf.while_loop`, `tf.cond`) so it can run inside a `tf.function`-compiled
`train_step` with no Python work per step, for a static or dynamic n.

Two vectors (the two-task case of MGDA and of Pareto MTL without active constraints) use
the closed form of the reference solvers, `min_norm_2`: gamma clamped to [0.001, 0.999], so
no task is ever given exactly zero weight. For n > 2 the exact minimiser is computed (a
dominated task may get exactly 0, as with the reference's projected-gradient solver).

The iterative solvers for n > 2 are in `mtl_tf.weighting.min_norm_solvers`: ``"active_set"``
(default, Lawson-Hanson NNLS, exact to rounding), ``"pgd"`` (accelerated projected gradient
with an exact refinement on the support) and ``"frank_wolfe"`` (the reference MGDA solver).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import tensorflow as tf

from mtl_tf.weighting.min_norm_solvers import DTYPE, SOLVERS, best_pair, exact_min_norm_2

Method = Literal["active_set", "pgd", "frank_wolfe"]
METHODS: tuple[str, ...] = ("active_set", "pgd", "frank_wolfe")


# The reference solvers (Sener & Koltun's `MinNormSolver._min_norm_element_from2`, copied
# unchanged into Pareto MTL's code) never give a task exactly zero weight: where one vector
# dominates the segment they return gamma = 0.999 or 0.001 instead of 1 or 0.
GAMMA_MIN = 0.001
GAMMA_MAX = 0.999


def min_norm_2(m11: tf.Tensor, m12: tf.Tensor, m22: tf.Tensor) -> tf.Tensor:
    """Two-task min-norm weight, clamped to [0.001, 0.999] as the reference solvers do.

    Solves min_{gamma in [0, 1]} || gamma g1 + (1 - gamma) g2 ||^2 (Sener & Koltun 2018,
    Alg. 1; Pareto MTL eq. 14 with no active constraint) from ``m11 = g1.g1``,
    ``m12 = g1.g2`` and ``m22 = g2.g2``:

        gamma = clip(((g2 - g1) . g2) / ||g1 - g2||^2, 0.001, 0.999).

    As in the reference, a dominated task keeps weight 0.001 instead of 0: if
    g1 . g2 >= ||g1||^2 (g1 alone is the min-norm point) gamma = 0.999, if
    g1 . g2 >= ||g2||^2 gamma = 0.001. The trainer scales each task's head gradient by its
    weight, so an exact 0 would freeze that head for the step; the clamp costs at most a
    0.001 step along the segment. Where the reference's branch code differs: (a) it returns
    an interior optimum unclamped, so for a nearly dominated pair (exact gamma in
    (0.999, 1) or (0, 0.001)) it gives that value, and in floating point it can round to
    exactly 1 or 0 -- the clip makes 0.001 a real floor and keeps gamma monotone in the
    data; (b) for g1 == g2 (every gamma optimal) it returns 0.999 only because of its test
    order, we return the symmetric 0.5.

    Args:
        m11: Squared norm of g1 (any float dtype; broadcasts elementwise).
        m12: Dot product g1 . g2.
        m22: Squared norm of g2.

    Returns:
        gamma in [0.001, 0.999], the weight of g1 (g2 gets 1 - gamma), with the broadcast
        shape and dtype of the inputs.
    """
    gamma = exact_min_norm_2(m11, m12, m22, degenerate=0.5)
    return tf.clip_by_value(gamma, GAMMA_MIN, GAMMA_MAX)


def min_norm_element(
    gram: tf.Tensor,
    max_iters: int = 250,
    tol: float = 1e-5,
    method: Method = "active_set",
) -> tuple[tf.Tensor, tf.Tensor]:
    """Min-norm element of the convex hull of n vectors, given their Gram matrix.

    Minimises w^T M w over the simplex (w_i >= 0, sum_i w_i = 1): the common direction of
    MGDA (Sener & Koltun 2018, Alg. 2) and the weights of Pareto MTL's sub-problem
    (Lin et al. 2019, eq. 14). n = 1 returns [1]; n = 2 uses the reference solvers' closed
    form (`min_norm_2`, 0 iterations): gamma clamped to [0.001, 0.999], so neither task gets
    exactly zero weight. For n > 2 the solver starts from the best pair of vertices (smallest
    exact 2-vector min-norm value) and iterates until converged or `max_iters` iterations
    have run (the count always increments, so the cap always applies). Convergence: for
    ``"pgd"`` and ``"frank_wolfe"`` the L1 change of w between two iterates is below `tol`
    (as in the reference); ``"active_set"`` is finite and stops when the KKT conditions
    (M w)_j >= w^T M w hold for all j up to rounding.

    The weights are constants for the caller: no gradient flows through the solve.

    Args:
        gram: [n, n] symmetric positive semi-definite Gram matrix M_ij = g_i . g_j, any float
            dtype; n may be static or dynamic (e.g. input_signature [None, None]).
        max_iters: Maximum number of iterations (linear solves for ``"active_set"``) for n > 2.
        tol: ``"pgd"``/``"frank_wolfe"``: stop once sum_i |w_i^(k+1) - w_i^(k)| < tol.
        method: ``"active_set"`` (default): Lawson-Hanson NNLS, exact to rounding in ~n
            iterations (<= 11 for n <= 8 in tests). ``"pgd"``: accelerated projected gradient
            with an exact refinement on the identified support; exact on well-conditioned
            problems in tens of iterations, slower when M is ill-conditioned.
            ``"frank_wolfe"``: the reference MGDA solver, O(1/k); `tol` usually stops it
            ~1e-3 (relative objective) short of the optimum.

    Returns:
        (weights, iterations): weights [n] on the simplex in the dtype of `gram` (each in
        [0.001, 0.999] for n = 2), and the number of iterations used as an int32 scalar.

    Raises:
        ValueError: for an unknown `method` or a statically non-square / non-2-D `gram`.
    """
    if method not in METHODS:
        raise ValueError(f"unknown min-norm method {method!r}; allowed: {', '.join(METHODS)}")
    gram = tf.convert_to_tensor(gram)
    if gram.shape.rank is not None and gram.shape.rank != 2:
        raise ValueError(f"gram must be a [n, n] matrix, got shape {gram.shape}")
    out_dtype = gram.dtype
    m = tf.cast(tf.stop_gradient(gram), DTYPE)
    # Symmetrise away rounding asymmetry (eigvalsh reads one triangle only) and scale to unit
    # max diagonal: weights are scale-invariant, and it keeps the pinv cutoff and the step
    # independent of the gradients' magnitude (which can be ~1e-8 late in training).
    m = 0.5 * (m + tf.transpose(m))
    scale = tf.reduce_max(tf.linalg.diag_part(m))
    m = m / tf.where(scale > 0.0, scale, tf.ones_like(scale))
    iterate = SOLVERS[method]

    def one() -> tuple[tf.Tensor, tf.Tensor]:
        return tf.ones([1], DTYPE), tf.constant(0, tf.int32)

    def two() -> tuple[tf.Tensor, tf.Tensor]:
        gamma = min_norm_2(m[0, 0], m[0, 1], m[1, 1])
        return tf.stack([gamma, 1.0 - gamma]), tf.constant(0, tf.int32)

    def many() -> tuple[tf.Tensor, tf.Tensor]:
        return iterate(m, best_pair(m), max_iters, tol)

    static_n = gram.shape[0] if gram.shape.rank is not None else None
    if static_n is not None:
        w, k = one() if static_n == 1 else two() if static_n == 2 else many()
    else:
        n = tf.shape(m)[0]
        w, k = tf.cond(n <= 2, lambda: tf.cond(n == 1, one, two), many)
    return tf.cast(w, out_dtype), k


def gram_matrix(
    vectors: Sequence[tf.Tensor] | Sequence[Sequence[tf.Tensor | None]] | tf.Tensor,
) -> tf.Tensor:
    """Pairwise dot products M_ij = <g_i, g_j> of per-task gradients.

    Accepts a stacked tensor [n, ...] (flattened per row), a sequence of n per-task tensors
    (each flattened), or per-variable gradients ``grads[i][v]`` (task i, variable v). In the
    last form M_ij = sum_v <g_i_v, g_j_v>: one [n, n] block per variable, summed, so the full
    flat gradient vector of each task is never materialised. A ``None`` gradient (a variable a
    task does not reach, e.g. another task's head) counts as zero and is skipped.

    Args:
        vectors: Gradients in one of the forms above; all tasks share the variable order.

    Returns:
        [n, n] Gram matrix, float32 (float64 if the gradients are float64). Lower-precision
        gradients (mixed precision) are accumulated in float32.
    """
    if isinstance(vectors, tf.Tensor | tf.Variable) or hasattr(vectors, "__array__"):
        g = tf.convert_to_tensor(vectors)
        g = tf.reshape(g, [tf.shape(g)[0], -1])
        g = tf.cast(g, _accum_dtype(g.dtype))
        return tf.matmul(g, g, transpose_b=True)

    per_task = [list(task) if isinstance(task, list | tuple) else [task] for task in vectors]
    n = len(per_task)
    if n == 0:
        raise ValueError("gram_matrix needs at least one task")
    n_vars = len(per_task[0])
    if any(len(task) != n_vars for task in per_task):
        raise ValueError("every task must list the same variables (use None for no gradient)")
    first = next((g for task in per_task for g in task if g is not None), None)
    dtype = _accum_dtype(tf.as_dtype(first.dtype)) if first is not None else tf.float32
    total = tf.zeros([n, n], dtype)
    for v in range(n_vars):
        present = [i for i in range(n) if per_task[i][v] is not None]
        if not present:
            continue
        # IndexedSlices (embeddings) densify here; this is per variable, not the whole model.
        rows = tf.stack(
            [
                tf.reshape(tf.cast(tf.convert_to_tensor(per_task[i][v]), dtype), [-1])
                for i in present
            ]
        )
        block = tf.matmul(rows, rows, transpose_b=True)
        if len(present) == n:
            total += block
        else:
            # Task subsets are known at trace time, so the scatter indices are constants.
            idx = tf.constant([[i, j] for i in present for j in present], tf.int32)
            total += tf.scatter_nd(idx, tf.reshape(block, [-1]), [n, n])
    return total


def _accum_dtype(dtype: tf.DType) -> tf.DType:
    """float64 stays float64; everything else accumulates in float32."""
    return tf.float64 if dtype == tf.float64 else tf.float32
