"""Exact hypervolume (minimisation): hand-computed cases, Monte Carlo, invariances."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mtl_tf.evaluation.hypervolume import (
    error_space_hypervolume,
    hypervolume,
    loss_space_hypervolume,
    pareto_front_mask,
)


def _inclusion_exclusion(points: np.ndarray, ref: np.ndarray) -> float:
    """Brute force: vol(union of boxes) = sum over non-empty subsets S of
    (-1)^(|S|+1) vol(box(max over S)). O(2^n); an independent check for small n."""
    points = points[np.all(points < ref, axis=1)]
    total = 0.0
    for size in range(1, len(points) + 1):
        for subset in itertools.combinations(range(len(points)), size):
            corner = points[list(subset)].max(axis=0)
            total += (-1) ** (size + 1) * np.prod(ref - corner)
    return total


# ----------------------------------------------------------------------------- 2-D by hand
def test_2d_single_point():
    # [1, 3] x [0.5, 2]: 2 * 1.5.
    assert hypervolume(np.array([[1.0, 0.5]]), (3.0, 2.0)) == pytest.approx(3.0)


def test_2d_two_points():
    # (1, 3) and (2, 1) with r = (4, 4): boxes 3*1 = 3 and 2*3 = 6, overlap
    # [2, 4] x [3, 4] = 2; union 3 + 6 - 2 = 7.
    assert hypervolume(np.array([[1.0, 3.0], [2.0, 1.0]]), (4.0, 4.0)) == pytest.approx(7.0)


def test_2d_dominated_point_adds_nothing():
    # (3, 3) is dominated by (2, 1): still 7.
    pts = np.array([[1.0, 3.0], [2.0, 1.0], [3.0, 3.0]])
    assert hypervolume(pts, (4.0, 4.0)) == pytest.approx(7.0)


def test_2d_points_outside_the_reference_are_ignored():
    pts = np.array([[1.0, 3.0], [2.0, 1.0], [5.0, 0.0], [0.0, 4.0]])  # 5 > 4; 4 == r
    assert hypervolume(pts, (4.0, 4.0)) == pytest.approx(7.0)
    assert hypervolume(np.array([[5.0, 5.0]]), (4.0, 4.0)) == 0.0
    assert hypervolume(np.zeros((0, 2)), (4.0, 4.0)) == 0.0


def test_1d():
    assert hypervolume(np.array([[0.5], [0.2], [3.0]]), (1.0,)) == pytest.approx(0.8)


# ----------------------------------------------------------------------------- 3-D by hand
def test_3d_unit_cube_corner():
    assert hypervolume(np.array([[0.0, 0.0, 0.0]]), (1.0, 1.0, 1.0)) == pytest.approx(1.0)


def test_3d_two_overlapping_boxes():
    # r = (2, 2, 2). a = (0, 0, 1): box 2*2*1 = 4. b = (1, 1, 0): box 1*1*2 = 2.
    # a ∩ b = box(max(a, b)) = box((1, 1, 1)) = 1*1*1 = 1. Union: 4 + 2 - 1 = 5.
    pts = np.array([[0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    assert hypervolume(pts, (2.0, 2.0, 2.0)) == pytest.approx(5.0)


def test_3d_three_boxes():
    # r = (3, 3, 3); a = (0, 1, 2), b = (1, 2, 0), c = (2, 0, 1).
    # |a| = 3*2*1 = 6, |b| = 2*1*3 = 6, |c| = 1*3*2 = 6.
    # a∩b = (1, 2, 2): 2*1*1 = 2; a∩c = (2, 1, 2): 1*2*1 = 2; b∩c = (2, 2, 1): 1*1*2 = 2.
    # a∩b∩c = (2, 2, 2): 1. Union: 18 - 6 + 1 = 13.
    pts = np.array([[0.0, 1.0, 2.0], [1.0, 2.0, 0.0], [2.0, 0.0, 1.0]])
    assert hypervolume(pts, (3.0, 3.0, 3.0)) == pytest.approx(13.0)


# ----------------------------------------------------------------------------- random sets
@pytest.mark.parametrize("m", [2, 3, 4, 5])
def test_matches_inclusion_exclusion(m):
    rng = np.random.default_rng(m)
    for _ in range(5):
        pts = rng.uniform(0.0, 1.2, size=(8, m))  # some fall outside r = 1
        ref = np.ones(m)
        assert hypervolume(pts, ref) == pytest.approx(_inclusion_exclusion(pts, ref), abs=1e-12)


def test_matches_monte_carlo_4d():
    rng = np.random.default_rng(0)
    ref = np.ones(4)
    samples = rng.uniform(0.0, 1.0, size=(200_000, 4))
    for _ in range(3):
        # Points near the simplex sum = 1.5: a genuinely 4-D front, mostly non-dominated.
        pts = rng.dirichlet(np.ones(4), size=30) * 1.5
        pts = pts[np.all(pts < 1, axis=1)]
        dominated = np.zeros(len(samples), bool)
        for p in pts:
            dominated |= np.all(samples >= p, axis=1)
        estimate = dominated.mean()
        stderr = np.sqrt(estimate * (1 - estimate) / len(samples))
        assert abs(hypervolume(pts, ref) - estimate) < 5 * stderr + 1e-9


def test_invariant_to_order_and_duplicates():
    rng = np.random.default_rng(1)
    pts = rng.uniform(size=(25, 3))
    ref = (1.1, 1.1, 1.1)
    hv = hypervolume(pts, ref)
    assert hypervolume(pts[rng.permutation(25)], ref) == pytest.approx(hv, rel=1e-12)
    assert hypervolume(np.concatenate([pts, pts[:10]]), ref) == pytest.approx(hv, rel=1e-12)


def test_a_hundred_points_in_five_dimensions_is_fast_enough():
    rng = np.random.default_rng(2)
    pts = rng.dirichlet(np.ones(5), size=100)
    assert 0.0 < hypervolume(pts, np.ones(5)) < 1.0


# ----------------------------------------------------------------------------- helpers
def test_pareto_front_mask():
    pts = np.array([[1.0, 3.0], [2.0, 1.0], [3.0, 3.0], [2.0, 1.0], [1.0, 4.0], [0.5, 5.0]])
    # (3, 3) dominated by (2, 1); (1, 4) dominated by (1, 3); duplicates both kept.
    np.testing.assert_array_equal(pareto_front_mask(pts), [True, True, False, True, False, True])
    assert pareto_front_mask(np.zeros((0, 3))).shape == (0,)


def test_space_helpers_and_their_reference_points():
    losses = np.array([[1.0, 0.5], [0.5, 1.5]])
    # r = (2, 2): boxes 1*1.5 = 1.5 and 1.5*0.5 = 0.75, overlap (1, 1.5) -> 1*0.5; 1.75.
    assert loss_space_hypervolume(losses) == pytest.approx(1.75)
    assert loss_space_hypervolume(losses, (3.0, 3.0)) == pytest.approx(hypervolume(losses, (3, 3)))
    # Accuracies 0.9/0.8 -> errors 0.1/0.2 -> 0.9 * 0.8 of the unit square.
    assert error_space_hypervolume(np.array([[0.9, 0.8]])) == pytest.approx(0.72)


def test_shape_errors():
    with pytest.raises(ValueError, match="shape"):
        hypervolume(np.ones((3, 2)), (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="finite"):
        hypervolume(np.array([[np.nan, 0.0]]), (1.0, 1.0))
