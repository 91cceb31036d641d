"""Tests of the min-norm solver against the closed form and an exact active-set enumeration."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from mtl_tf.weighting.min_norm import gram_matrix, min_norm_2, min_norm_element
from tests.reference_qp import exact_min_norm

ACCURATE_METHODS = ("active_set", "pgd")


def random_problem(seed: int, kind: str) -> np.ndarray:
    """Float64 Gram matrix of n in 3..6 gradients of dimension d in 2..10.

    "conflict": independent Gaussian gradients (interior or edge optimum, often origin in hull
    when d < n); "shared": a dominant common direction, which pushes the optimum to an edge or
    a vertex.
    """
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(3, 7)), int(rng.integers(2, 11))
    g = rng.normal(size=(n, d))
    if kind == "shared":
        g += rng.uniform(1.0, 4.0) * rng.normal(size=d)
    return g @ g.T


@pytest.fixture(scope="module")
def solvers() -> dict[str, tf.types.experimental.GenericFunction]:
    """One graph-compiled solver per method, traced once for any n (keeps the tests fast)."""
    return {
        method: tf.function(
            lambda m, method=method: min_norm_element(m, method=method),
            input_signature=[tf.TensorSpec([None, None], tf.float32)],
        )
        for method in ("active_set", "pgd", "frank_wolfe")
    }


def objective(gram: np.ndarray, w: np.ndarray) -> float:
    return float(w @ gram @ w)


def assert_on_simplex(w: np.ndarray) -> None:
    assert np.all(w >= 0.0)
    np.testing.assert_allclose(w.sum(), 1.0, atol=1e-6)


# --- two vectors: closed form -------------------------------------------------------------


def exact_gamma(g1: np.ndarray, g2: np.ndarray) -> float:
    """The unclamped minimiser of ||gamma g1 + (1 - gamma) g2||^2 over [0, 1]."""
    return float(np.clip((g2 - g1) @ g2 / np.sum((g1 - g2) ** 2), 0.0, 1.0))


def closed_form(g1: np.ndarray, g2: np.ndarray) -> float:
    """What `min_norm_2` promises: the exact gamma clamped to [0.001, 0.999]."""
    return float(np.clip(exact_gamma(g1, g2), 0.001, 0.999))


def reference_gamma(v1v1: float, v1v2: float, v2v2: float) -> float:
    """Sener & Koltun's `MinNormSolver._min_norm_element_from2` (also Pareto MTL's), in numpy."""
    if v1v2 >= v1v1:
        return 0.999
    if v1v2 >= v2v2:
        return 0.001
    return -1.0 * ((v1v2 - v2v2) / (v1v1 + v2v2 - 2 * v1v2))


@pytest.mark.parametrize(
    "g1, g2, expected",
    [
        ([1.0, 0.0], [0.0, 1.0], 0.5),
        ([2.0, 0.0], [-1.0, 1.0], None),  # interior, asymmetric
        ([1.0, 1.0], [3.0, 3.0], 0.999),  # g1 . g2 >= |g1|^2: exact 1, clamped as the reference
        ([3.0, 1.0], [0.5, 0.2], 0.001),  # g2 dominated the other way round: exact 0
        ([2.0, -4.0, 1.0], [1.0, -2.0, 0.5], 0.001),  # g1 = 2 g2
        ([1.0, -2.0], [1.0, -2.0], 0.5),  # identical: denominator 0, any gamma is optimal
        ([0.0, 0.0], [0.0, 0.0], 0.5),
    ],
)
def test_min_norm_2_is_the_reference_clamped_closed_form(
    g1: list[float], g2: list[float], expected: float | None
) -> None:
    a, b = np.array(g1), np.array(g2)
    gamma = float(min_norm_2(tf.constant(a @ a), tf.constant(a @ b), tf.constant(b @ b)))
    if expected is None:
        expected = closed_form(a, b)
    assert gamma == pytest.approx(expected, abs=1e-12)
    # The reference solvers' routine gives the same, except for coincident vectors, where
    # every gamma is optimal and it returns 0.999 only because of its test order.
    if not np.array_equal(a, b):
        assert gamma == pytest.approx(reference_gamma(a @ a, a @ b, b @ b), abs=1e-12)
    # And it is the true minimiser over the segment (brute force on a fine grid), clamped.
    grid = np.linspace(0.0, 1.0, 10001)
    norms = np.sum((grid[:, None] * a + (1 - grid[:, None]) * b) ** 2, axis=1)
    mixed = gamma * a + (1.0 - gamma) * b
    if not np.array_equal(a, b):
        assert gamma == pytest.approx(np.clip(grid[np.argmin(norms)], 0.001, 0.999), abs=1e-4)
    assert mixed @ mixed <= norms.min() + 2e-3 * max(a @ a, b @ b) + 1e-12


def test_min_norm_2_floor_holds_where_the_reference_rounds_to_one() -> None:
    """A nearly dominated pair: the reference's unclamped interior formula rounds to exactly
    1.0, i.e. weight 0 for task 2; the clamp keeps 0.001 (the documented deviation)."""
    v1v1, v1v2, v2v2 = 1.0, np.nextafter(1.0, 0.0), 4.0
    assert v1v2 < v1v1 and v1v2 < v2v2  # the reference's interior branch
    assert reference_gamma(v1v1, v1v2, v2v2) == 1.0
    entries = [tf.constant(v, tf.float64) for v in (v1v1, v1v2, v2v2)]
    assert float(min_norm_2(*entries)) == 0.999


@pytest.mark.parametrize("method", ("active_set", "pgd", "frank_wolfe"))
def test_two_and_one_vectors_exact(method: str) -> None:
    a, b = np.array([2.0, 0.5, -1.0]), np.array([-1.0, 1.0, 0.5])
    gram = np.array([[a @ a, a @ b], [a @ b, b @ b]], np.float32)
    w, k = min_norm_element(tf.constant(gram), method=method)
    np.testing.assert_allclose(w.numpy(), [closed_form(a, b), 1 - closed_form(a, b)], atol=1e-6)
    assert 0.001 < closed_form(a, b) < 0.999  # interior: the clamp is not involved here
    assert int(k) == 0 and w.dtype == tf.float32
    w, k = min_norm_element(tf.constant([[4.0]]), method=method)
    np.testing.assert_array_equal(w.numpy(), [1.0])
    assert int(k) == 0


@pytest.mark.parametrize("dominated", ["second", "first"])
def test_dominated_task_keeps_weight_0001_not_0(dominated: str, solvers: dict) -> None:
    """The two-task path used in training (MGDA, Pareto MTL without active constraints) gives
    a dominated task 0.001, as the reference solvers, never 0: its head keeps training."""
    g2 = np.array([0.3, -1.2, 0.7, 2.0])
    g1 = 2.0 * g2  # g1 . g2 = 2 |g2|^2 > |g2|^2: the exact min-norm point is g2 alone
    expected = [0.001, 0.999]
    if dominated == "first":
        g1, g2, expected = g2, g1, expected[::-1]
    grads = np.stack([g1, g2])
    gram = grads @ grads.T
    assert gram[0, 1] > min(gram[0, 0], gram[1, 1])  # one task really is dominated
    for dtype in (tf.float32, tf.float64):
        w, _ = min_norm_element(tf.constant(gram, dtype))
        np.testing.assert_allclose(w.numpy(), expected, rtol=1e-6)
    w, _ = solvers["active_set"](tf.constant(gram, tf.float32))  # dynamic n, compiled
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-6)
    assert np.all(w.numpy() > 0.0) and w.numpy().sum() == pytest.approx(1.0)
    # The exact answer is a vertex, so the clamp is the only reason the weight is not 0.
    assert exact_min_norm(gram)[1].min() == 0.0


@pytest.mark.parametrize("method", ACCURATE_METHODS)
def test_more_than_two_tasks_stay_exact(method: str) -> None:
    """n > 2 is solved exactly (the best pair that starts the solver is not clamped): a
    dominated third gradient gets exactly 0, as with the reference's projected gradient."""
    g = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]])  # g3 = 2 g1 adds nothing
    w, _ = min_norm_element(tf.constant(g @ g.T, tf.float64), method=method)
    np.testing.assert_allclose(w.numpy(), [0.5, 0.5, 0.0], atol=1e-12)
    assert w.numpy()[2] == 0.0


# --- n > 2 against the exact enumeration ---------------------------------------------------


@pytest.mark.parametrize("method", ACCURATE_METHODS)
def test_random_problems_match_exact(method: str, solvers: dict) -> None:
    supports = set()
    for seed in range(40):
        for kind in ("conflict", "shared"):
            gram = random_problem(seed, kind)
            best, best_w = exact_min_norm(gram)
            supports.add(int(np.sum(best_w > 1e-9)))
            w, k = solvers[method](tf.constant(gram, tf.float32))
            w = w.numpy().astype(np.float64)
            assert_on_simplex(w)
            scale = np.max(np.diag(gram))
            assert abs(objective(gram, w) - best) <= 1e-5 * scale, (seed, kind)
            assert int(k) < 250, "default cap reached"
            # KKT: (M w)_i >= w^T M w for every i (no vertex improves on w).
            mw = gram @ w
            assert np.all(mw >= objective(gram, w) - 1e-5 * scale), (seed, kind)
    # The problem set really covers vertex, edge and interior (>= 3 tasks) optima.
    assert {1, 2} <= supports and max(supports) >= 3


def test_frank_wolfe_is_close_and_improves_on_best_pair(solvers: dict) -> None:
    # The reference method: O(1/k), stopped by the L1-change criterion, so only close.
    for seed in range(10):
        gram = random_problem(seed, "conflict")
        best, _ = exact_min_norm(gram)
        w, k = solvers["frank_wolfe"](tf.constant(gram, tf.float32))
        w = w.numpy().astype(np.float64)
        assert_on_simplex(w)
        assert objective(gram, w) - best <= 5e-3 * np.max(np.diag(gram))
        assert 1 <= int(k) <= 250


def interior_problem() -> np.ndarray:
    """6 conflicting gradients in 10-D whose min-norm point uses all six (needs many steps)."""
    rng = np.random.default_rng(7)
    g = rng.normal(size=(6, 10))
    return g @ g.T


@pytest.mark.parametrize("method", ("active_set", "pgd", "frank_wolfe"))
def test_iteration_cap_applies(method: str) -> None:
    gram = tf.constant(interior_problem(), tf.float32)
    _, k_free = min_norm_element(gram, method=method)
    assert int(k_free) > 3
    w, k = min_norm_element(gram, max_iters=3, method=method)
    assert int(k) == 3
    assert_on_simplex(w.numpy())


def test_interior_problem_is_interior() -> None:
    _, w = exact_min_norm(interior_problem())
    assert np.sum(w > 1e-9) >= 4


# --- graph mode ------------------------------------------------------------------------------


def test_inside_tf_function_static_shape_no_retrace() -> None:
    @tf.function
    def solve(m: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return min_norm_element(m)

    for seed in (1, 2):
        gram = random_problem(100 + seed, "conflict")[:3, :3]
        w, _ = solve(tf.constant(gram, tf.float32))
        best, _ = exact_min_norm(gram)
        assert abs(objective(gram, w.numpy().astype(np.float64)) - best) <= 1e-5 * gram.max()
    assert solve.experimental_get_tracing_count() == 1


@pytest.mark.parametrize("method", ("active_set", "pgd", "frank_wolfe"))
def test_unknown_leading_dimension(method: str, solvers: dict) -> None:
    solve = solvers[method]
    before = solve.experimental_get_tracing_count()
    for n in (1, 2, 3, 5):
        gram = random_problem(n, "conflict")
        gram = gram[:n, :n] if n <= gram.shape[0] else np.eye(n)
        w, k = solve(tf.constant(gram, tf.float32))
        assert w.shape == (n,)
        assert_on_simplex(w.numpy())
        if n <= 2:
            assert int(k) == 0
    assert solve.experimental_get_tracing_count() == before


def test_invalid_method() -> None:
    with pytest.raises(ValueError, match="unknown min-norm method"):
        min_norm_element(tf.eye(3), method="sgd")  # type: ignore[arg-type]


# --- gram_matrix -----------------------------------------------------------------------------


def test_gram_matrix_per_variable_equals_stacked() -> None:
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (4,), (2, 2, 2)]
    grads = [[rng.normal(size=s).astype(np.float32) for s in shapes] for _ in range(3)]
    grads[2][1] = None  # a variable task 2 does not reach counts as zero
    flat = np.stack(
        [
            np.concatenate(
                [
                    (g if g is not None else np.zeros(s)).ravel()
                    for g, s in zip(t, shapes, strict=True)
                ]
            )
            for t in grads
        ]
    ).astype(np.float32)
    expected = flat @ flat.T
    per_var = [[None if g is None else tf.constant(g) for g in task] for task in grads]
    np.testing.assert_allclose(gram_matrix(per_var).numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gram_matrix(tf.constant(flat)).numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(
        gram_matrix([tf.constant(row) for row in flat]).numpy(), expected, rtol=1e-5
    )
    # Also in graph mode, as in a compiled train_step.
    in_graph = tf.function(lambda: gram_matrix(per_var))()
    np.testing.assert_allclose(in_graph.numpy(), expected, rtol=1e-5, atol=1e-5)
