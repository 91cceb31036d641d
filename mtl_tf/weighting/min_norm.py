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

Three solvers are provided for n > 2, all starting from the best pair of vertices:

* ``"active_set"`` (default): Lawson-Hanson NNLS active set on Q = M + 1 1^T (the min-norm
  problem is an NNLS problem). Finite: exact to rounding in about n linear solves, however
  ill-conditioned M is (tested to cond(M) ~ 1e8, where the projected-gradient variant
  stalls at ~5e-5 relative objective error after 250 iterations).
* ``"pgd"``: accelerated projected gradient (FISTA with gradient-based adaptive
  restart) on the simplex with the exact step 1/L, L = 2 * lambda_max(M), followed by an
  active-set refinement that solves the equality-constrained QP on the identified support
  exactly (KKT linear system). Projection zeroes weights exactly, so the support is
  identified after finitely many steps and the refinement then lands on the exact optimum.
* ``"frank_wolfe"``: the reference MGDA solver (Sener & Koltun 2018, Alg. 2) with exact line
  search. Its rate is O(1/k) and it cannot drop a vertex once picked, so it is kept as an
  option for fidelity to the reference, not as the default.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import tensorflow as tf

Method = Literal["active_set", "pgd", "frank_wolfe"]
METHODS: tuple[str, ...] = ("active_set", "pgd", "frank_wolfe")

# Internal precision: the Gram matrix of float32 gradients is tiny (n x n), so solving in
# float64 costs nothing and keeps the 1e-5 objective accuracy out of rounding noise.
_DTYPE = tf.float64
# Dual-feasibility margin of the active-set method, on M scaled to unit max diagonal: a
# rounding-level threshold, so that only noise-sized KKT violations are accepted.
_KKT_TOL = 1e-12


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
    gamma = _exact_min_norm_2(m11, m12, m22, degenerate=0.5)
    return tf.clip_by_value(gamma, GAMMA_MIN, GAMMA_MAX)


def _exact_min_norm_2(
    m11: tf.Tensor, m12: tf.Tensor, m22: tf.Tensor, degenerate: float
) -> tf.Tensor:
    """Exact minimiser clip(((g2 - g1) . g2) / ||g1 - g2||^2, 0, 1) over the segment.

    Unlike `min_norm_2`, a dominated vector gets exactly 0. Used where gamma is a step or a
    starting point inside an iterative solver rather than a final task weight (`_best_pair`,
    the Frank-Wolfe line search). Returns `degenerate` where the two vectors coincide.
    """
    m11 = tf.convert_to_tensor(m11)
    m12 = tf.convert_to_tensor(m12, dtype=m11.dtype)
    m22 = tf.convert_to_tensor(m22, dtype=m11.dtype)
    denom = m11 + m22 - 2.0 * m12
    # ||g1 - g2||^2 >= 0 in exact arithmetic; rounding can make it 0 or slightly negative for
    # (near-)identical vectors, where any gamma is optimal. The inner tf.where keeps the
    # discarded branch finite so no NaN/Inf is ever produced.
    ok = denom > 0.0
    gamma = (m22 - m12) / tf.where(ok, denom, tf.ones_like(denom))
    gamma = tf.where(ok, gamma, tf.fill(tf.shape(gamma), tf.cast(degenerate, m11.dtype)))
    return tf.clip_by_value(gamma, 0.0, 1.0)


def _quad(gram: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
    """w^T M w."""
    return tf.tensordot(w, tf.linalg.matvec(gram, w), 1)


def _best_pair(gram: tf.Tensor) -> tf.Tensor:
    """Weights of the min-norm point over all segments [g_i, g_j], i != j (needs n >= 2).

    The starting point of the iterative solvers for n > 2. The pair's gamma is the EXACT
    one (a dominated vertex gets 0), not the reference's 0.001/0.999 clamp of `min_norm_2`,
    deliberately: (1) this is only where the iteration starts, and the result for n > 2 is
    the exact minimiser whatever the start -- with exact zeros for dominated tasks, as the
    reference's own projected-gradient iterations give too, so clamping here could not keep
    weights positive anyway; (2) a spurious 0.001 would put the dominated vertex in the
    active-set solver's initial passive set (one more linear solve to drop it again), and
    Frank-Wolfe can never drop a vertex once it holds weight, only shrink it; (3) pairs are
    ranked by their exact cost, as the reference ranks them (its `_min_norm_2d` returns the
    unclamped endpoint cost with the clamped gamma).
    """
    n = tf.shape(gram)[0]
    diag = tf.linalg.diag_part(gram)
    di, dj = diag[:, None], diag[None, :]
    gamma = _exact_min_norm_2(di, gram, dj, degenerate=0.5)  # gamma[i, j]: weight on g_i.
    cost = gamma**2 * di + 2.0 * gamma * (1.0 - gamma) * gram + (1.0 - gamma) ** 2 * dj
    inf = tf.constant(float("inf"), _DTYPE)
    cost = tf.where(tf.eye(n, dtype=tf.bool), inf, cost)
    flat = tf.argmin(tf.reshape(cost, [-1]), output_type=tf.int32)
    i, j = flat // n, flat % n
    g = gamma[i, j]
    return g * tf.one_hot(i, n, dtype=_DTYPE) + (1.0 - g) * tf.one_hot(j, n, dtype=_DTYPE)


def _frank_wolfe(
    gram: tf.Tensor, w0: tf.Tensor, max_iters: int, tol: float
) -> tuple[tf.Tensor, tf.Tensor]:
    """Frank-Wolfe with exact line search (Sener & Koltun 2018, Alg. 2).

    Each step moves toward the vertex e_t, t = argmin_i (M w)_i (the linear minimiser of the
    gradient 2 M w over the simplex), with the step from the 2-vector closed form applied to
    the pair (w, e_t). Stops when the L1 change of w is below `tol`, or after `max_iters`
    steps — the counter is incremented every step (the reference never increments it).
    """
    n = tf.shape(gram)[0]

    def cond(k: tf.Tensor, w: tf.Tensor, done: tf.Tensor) -> tf.Tensor:
        return tf.logical_and(k < max_iters, tf.logical_not(done))

    def body(k: tf.Tensor, w: tf.Tensor, done: tf.Tensor):
        mw = tf.linalg.matvec(gram, w)
        t = tf.argmin(mw, output_type=tf.int32)
        # The exact line search, not the reference's clamped `min_norm_2`: here gamma is a
        # step size, and a forced 0.001 move toward e_t at every step would keep the L1
        # change above `tol` forever. Coincident points (w already equals e_t in gradient
        # space): stay put (gamma = 1) rather than move halfway, so a converged iterate is
        # recognised as converged.
        gamma = _exact_min_norm_2(tf.tensordot(w, mw, 1), mw[t], gram[t, t], degenerate=1.0)
        new = gamma * w + (1.0 - gamma) * tf.one_hot(t, n, dtype=_DTYPE)
        change = tf.reduce_sum(tf.abs(new - w))
        return k + 1, new, change < tol

    k, w, _ = tf.while_loop(
        cond, body, (tf.constant(0, tf.int32), w0, tf.constant(False)), parallel_iterations=1
    )
    return w, k


def project_to_simplex(v: tf.Tensor) -> tf.Tensor:
    """Euclidean projection of a vector onto the probability simplex (sort-based).

    Held, Wolfe & Crowder (1974) / Duchi et al. (2008): with u = sort(v) descending, rho the
    largest k such that u_k > (sum_{j<=k} u_j - 1) / k, the projection is max(v - theta, 0)
    with theta = (sum_{j<=rho} u_j - 1) / rho. Works for a dynamic length.
    """
    u = tf.sort(v, direction="DESCENDING")
    css = tf.cumsum(u)
    k = tf.cast(tf.range(1, tf.shape(v)[0] + 1), v.dtype)
    # The condition holds on a prefix of k, so counting it gives rho (>= 1: k = 1 always holds).
    rho = tf.reduce_sum(tf.cast(u - (css - 1.0) / k > 0.0, tf.int32))
    rho = tf.maximum(rho, 1)
    theta = (css[rho - 1] - 1.0) / tf.cast(rho, v.dtype)
    return tf.maximum(v - theta, 0.0)


def _pgd(gram: tf.Tensor, w0: tf.Tensor, max_iters: int, tol: float) -> tuple[tf.Tensor, tf.Tensor]:
    """Accelerated projected gradient (FISTA + adaptive restart) on the simplex, then refine.

    Step 1/L with L = 2 * lambda_max(M), the exact Lipschitz constant of the gradient 2 M w
    (computed by `eigvalsh`, cheap for n x n and much larger steps than a trace or row-sum
    bound). Momentum is reset whenever it points uphill (O'Donoghue & Candes 2015), which
    gives linear convergence on this problem. Stops when the L1 change of w is below `tol` or
    after `max_iters` steps; then `_refine_on_support` solves the QP on the support exactly.
    """
    lmax = tf.reduce_max(tf.linalg.eigvalsh(gram))
    # M is scaled to unit max diagonal by the caller, so lmax is in [1, n] unless M == 0;
    # the floor only protects the all-zero case (gradient 0, so any step is harmless).
    step = 1.0 / (2.0 * tf.maximum(lmax, tf.constant(1e-12, _DTYPE)))

    def cond(k, w, y, t, done):
        return tf.logical_and(k < max_iters, tf.logical_not(done))

    def body(k, w, y, t, done):
        grad = 2.0 * tf.linalg.matvec(gram, y)
        new = project_to_simplex(y - step * grad)
        delta = new - w
        restart = tf.tensordot(grad, delta, 1) > 0.0
        t_next = 0.5 * (1.0 + tf.sqrt(1.0 + 4.0 * t * t))
        beta = tf.where(restart, tf.zeros_like(t), (t - 1.0) / t_next)
        t_next = tf.where(restart, tf.ones_like(t), t_next)
        y_next = new + beta * delta
        return k + 1, new, y_next, t_next, tf.reduce_sum(tf.abs(delta)) < tol

    k, w, _, _, _ = tf.while_loop(
        cond,
        body,
        (tf.constant(0, tf.int32), w0, w0, tf.constant(1.0, _DTYPE), tf.constant(False)),
        parallel_iterations=1,
    )
    return _refine_on_support(gram, w), k


def _refine_on_support(gram: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
    """Exact minimiser on the support of `w`, kept only if feasible and no worse than `w`.

    Solves min w_S^T M_SS w_S s.t. sum w_S = 1 through its KKT system
    [[M_SS, 1], [1^T, 0]] [w_S; -mu] = [0; 1], embedded in the full n + 1 system with
    identity rows off the support so the shape stays [n + 1, n + 1] for a dynamic support.
    The pseudo-inverse handles a singular M_SS (fewer gradient dimensions than tasks).
    """
    n = tf.shape(gram)[0]
    mask = tf.cast(w > 0.0, _DTYPE)
    a = gram * mask[:, None] * mask[None, :] + tf.linalg.diag(1.0 - mask)
    kkt = tf.concat(
        [
            tf.concat([a, mask[:, None]], axis=1),
            tf.concat([mask[None, :], tf.zeros([1, 1], _DTYPE)], axis=1),
        ],
        axis=0,
    )
    rhs = tf.one_hot(n, n + 1, dtype=_DTYPE)
    cand = tf.linalg.matvec(tf.linalg.pinv(kkt), rhs)[:n] * mask
    total = tf.reduce_sum(cand)
    feasible = tf.logical_and(tf.reduce_all(cand >= -1e-10), tf.abs(total - 1.0) < 1e-8)
    cand = tf.maximum(cand, 0.0)
    cand = cand / tf.where(tf.reduce_sum(cand) > 0.0, tf.reduce_sum(cand), 1.0)
    better = tf.logical_and(feasible, _quad(gram, cand) <= _quad(gram, w))
    return tf.where(better, cand, w)


def _active_set(
    gram: tf.Tensor, w0: tf.Tensor, max_iters: int, tol: float
) -> tuple[tf.Tensor, tf.Tensor]:
    """Lawson-Hanson active-set NNLS on the Gram matrix; exact after finitely many steps.

    The min-norm problem is the NNLS problem min_{u >= 0} ||G^T u||^2 + (1^T u - 1)^2 (i.e.
    min ||[G^T; 1^T] u - e||^2), whose solution is u* = w* / (1 + f*) with f* the min-norm
    value, so w* = u* / sum(u*). Its normal matrix is Q = M + 1 1^T, so only M is needed.
    One iteration is one passive-set linear solve: either the solution is positive (accept
    it, then add the most violated index) or it is not (step back to the boundary and drop
    the indices that reached zero). The passive set starts at the support of `w0` (the best
    pair), which saves the first couple of additions. Converged when every index j outside
    the passive set has NNLS gradient 1 - (Q u)_j = s (f - (M w)_j) <= _KKT_TOL, s = sum(u):
    the KKT conditions (M w)_j >= w^T M w up to rounding (`tol` does not apply: the method
    is finite). `max_iters` caps the number of linear solves.
    """
    n = tf.shape(gram)[0]
    q = gram + 1.0
    eye = tf.eye(n, dtype=_DTYPE)
    # M is scaled to unit max diagonal, so gradients are O(1); the margin only guards
    # against re-adding an index whose gradient is rounding noise (LH's cycling case).
    dual_tol = tf.constant(_KKT_TOL, _DTYPE)

    def solve_passive(passive: tf.Tensor) -> tf.Tensor:
        p = tf.cast(passive, _DTYPE)
        a = q * p[:, None] * p[None, :] + eye * (1.0 - p)[None, :]
        # pinv rather than solve: the passive columns are independent in exact arithmetic,
        # but may be nearly dependent when there are more tasks than gradient dimensions.
        return tf.linalg.matvec(tf.linalg.pinv(a), p) * p

    def cond(k, u, passive, done):
        return tf.logical_and(k < max_iters, tf.logical_not(done))

    def body(k, u, passive, done):
        z = solve_passive(passive)
        positive = tf.reduce_all(tf.logical_or(z > 0.0, tf.logical_not(passive)))

        def accept():
            grad = 1.0 - tf.linalg.matvec(q, z)
            grad = tf.where(passive, tf.constant(-float("inf"), _DTYPE), grad)
            j = tf.argmax(grad, output_type=tf.int32)
            converged = grad[j] <= dual_tol
            grow = tf.logical_and(tf.logical_not(converged), tf.range(n) == j)
            return z, tf.logical_or(passive, grow), converged

        def step_back():
            # Largest step from u toward z that keeps u >= 0 (u > 0 on the passive set).
            blocking = tf.logical_and(passive, z <= 0.0)
            ratio = u / tf.where(blocking, u - z, tf.ones_like(u))
            alpha = tf.reduce_min(tf.where(blocking, ratio, tf.ones_like(u)))
            stepped = u + alpha * (z - u)
            keep = tf.logical_and(passive, stepped > 1e-15)
            return tf.where(keep, stepped, tf.zeros_like(u)), keep, tf.constant(False)

        u, passive, done = tf.cond(positive, accept, step_back)
        return k + 1, u, passive, done

    k, u, _, _ = tf.while_loop(
        cond,
        body,
        (
            tf.constant(0, tf.int32),
            tf.zeros([n], _DTYPE),
            w0 > 0.0,
            tf.constant(False),
        ),
        parallel_iterations=1,
    )
    total = tf.reduce_sum(u)
    # u = 0 only if the cap stopped the first iteration before any accepted solve: keep w0.
    return tf.where(total > 0.0, u / tf.where(total > 0.0, total, 1.0), w0), k


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
    m = tf.cast(tf.stop_gradient(gram), _DTYPE)
    # Symmetrise away rounding asymmetry (eigvalsh reads one triangle only) and scale to unit
    # max diagonal: weights are scale-invariant, and it keeps the pinv cutoff and the step
    # independent of the gradients' magnitude (which can be ~1e-8 late in training).
    m = 0.5 * (m + tf.transpose(m))
    scale = tf.reduce_max(tf.linalg.diag_part(m))
    m = m / tf.where(scale > 0.0, scale, tf.ones_like(scale))
    iterate = {"active_set": _active_set, "pgd": _pgd, "frank_wolfe": _frank_wolfe}[method]

    def one() -> tuple[tf.Tensor, tf.Tensor]:
        return tf.ones([1], _DTYPE), tf.constant(0, tf.int32)

    def two() -> tuple[tf.Tensor, tf.Tensor]:
        gamma = min_norm_2(m[0, 0], m[0, 1], m[1, 1])
        return tf.stack([gamma, 1.0 - gamma]), tf.constant(0, tf.int32)

    def many() -> tuple[tf.Tensor, tf.Tensor]:
        return iterate(m, _best_pair(m), max_iters, tol)

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
