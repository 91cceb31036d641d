"""The iterative min-norm solvers (n > 2 vectors), on the Gram matrix M, in TensorFlow.

`mtl_tf.weighting.min_norm.min_norm_element` scales M, picks the solver and handles
n <= 2; every solver here starts from the best pair of vertices (`best_pair`) and runs
in a `tf.while_loop`, so it compiles into a `train_step` for a static or dynamic n.

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

from collections.abc import Callable

import tensorflow as tf

__all__ = ["DTYPE", "SOLVERS", "best_pair", "exact_min_norm_2", "project_to_simplex"]

# Internal precision: the Gram matrix of float32 gradients is tiny (n x n), so solving in
# float64 costs nothing and keeps the 1e-5 objective accuracy out of rounding noise.
DTYPE = tf.float64
# Dual-feasibility margin of the active-set method, on M scaled to unit max diagonal: a
# rounding-level threshold, so that only noise-sized KKT violations are accepted.
_KKT_TOL = 1e-12


def exact_min_norm_2(
    m11: tf.Tensor, m12: tf.Tensor, m22: tf.Tensor, degenerate: float
) -> tf.Tensor:
    """Exact minimiser clip(((g2 - g1) . g2) / ||g1 - g2||^2, 0, 1) over the segment.

    Unlike `min_norm.min_norm_2`, a dominated vector gets exactly 0. Used where gamma is a
    step or a starting point inside an iterative solver rather than a final task weight
    (`best_pair`, the Frank-Wolfe line search), and clamped by `min_norm.min_norm_2`.
    Returns `degenerate` where the two vectors coincide.
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


def best_pair(gram: tf.Tensor) -> tf.Tensor:
    """Weights of the min-norm point over all segments [g_i, g_j], i != j (needs n >= 2).

    The starting point of the iterative solvers for n > 2. The pair's gamma is the EXACT
    one (a dominated vertex gets 0), not the reference's 0.001/0.999 clamp of `min_norm.min_norm_2`,
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
    gamma = exact_min_norm_2(di, gram, dj, degenerate=0.5)  # gamma[i, j]: weight on g_i.
    cost = gamma**2 * di + 2.0 * gamma * (1.0 - gamma) * gram + (1.0 - gamma) ** 2 * dj
    inf = tf.constant(float("inf"), DTYPE)
    cost = tf.where(tf.eye(n, dtype=tf.bool), inf, cost)
    flat = tf.argmin(tf.reshape(cost, [-1]), output_type=tf.int32)
    i, j = flat // n, flat % n
    g = gamma[i, j]
    return g * tf.one_hot(i, n, dtype=DTYPE) + (1.0 - g) * tf.one_hot(j, n, dtype=DTYPE)


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
        gamma = exact_min_norm_2(tf.tensordot(w, mw, 1), mw[t], gram[t, t], degenerate=1.0)
        new = gamma * w + (1.0 - gamma) * tf.one_hot(t, n, dtype=DTYPE)
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
    step = 1.0 / (2.0 * tf.maximum(lmax, tf.constant(1e-12, DTYPE)))

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
        (tf.constant(0, tf.int32), w0, w0, tf.constant(1.0, DTYPE), tf.constant(False)),
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
    mask = tf.cast(w > 0.0, DTYPE)
    a = gram * mask[:, None] * mask[None, :] + tf.linalg.diag(1.0 - mask)
    kkt = tf.concat(
        [
            tf.concat([a, mask[:, None]], axis=1),
            tf.concat([mask[None, :], tf.zeros([1, 1], DTYPE)], axis=1),
        ],
        axis=0,
    )
    rhs = tf.one_hot(n, n + 1, dtype=DTYPE)
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
    eye = tf.eye(n, dtype=DTYPE)
    # M is scaled to unit max diagonal, so gradients are O(1); the margin only guards
    # against re-adding an index whose gradient is rounding noise (LH's cycling case).
    dual_tol = tf.constant(_KKT_TOL, DTYPE)

    def solve_passive(passive: tf.Tensor) -> tf.Tensor:
        p = tf.cast(passive, DTYPE)
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
            grad = tf.where(passive, tf.constant(-float("inf"), DTYPE), grad)
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
            tf.zeros([n], DTYPE),
            w0 > 0.0,
            tf.constant(False),
        ),
        parallel_iterations=1,
    )
    total = tf.reduce_sum(u)
    # u = 0 only if the cap stopped the first iteration before any accepted solve: keep w0.
    return tf.where(total > 0.0, u / tf.where(total > 0.0, total, 1.0), w0), k


# method name -> solver(gram, w0, max_iters, tol) -> (weights, iterations).
SOLVERS: dict[str, Callable[..., tuple[tf.Tensor, tf.Tensor]]] = {
    "active_set": _active_set,
    "pgd": _pgd,
    "frank_wolfe": _frank_wolfe,
}
