"""Pareto MTL's preference vectors for a run: given ones, or K spread evenly.

Pareto MTL (Lin et al., NeurIPS 2019) splits the objective space into K sub-regions
around unit preference vectors u_k in R^m_+ (eq. 6). The paper and its reference
construct them for two tasks only; `preference_vectors` spreads K of them for any m;
`config_preferences` returns a run's (``--preferences`` if given, see
`mtl_tf.preferences`).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from mtl_tf.preferences import parse_preferences


def _das_dennis(num_tasks: int, divisions: int) -> np.ndarray:
    """Das-Dennis simplex lattice: all points with coordinates in {0, 1/H, ..., 1}, sum 1.

    Enumerated by stars and bars in lexicographic order of the bar positions, so the
    order (and hence every tie-break below) is deterministic.
    """
    points = []
    for bars in itertools.combinations(range(divisions + num_tasks - 1), num_tasks - 1):
        edges = (-1, *bars, divisions + num_tasks - 1)
        points.append([edges[i + 1] - edges[i] - 1 for i in range(num_tasks)])
    return np.asarray(points, dtype=np.float64) / divisions


def _angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise angles (radians) between the rows of two unit-norm arrays."""
    return np.arccos(np.clip(a @ b.T, -1.0, 1.0))


# Finer lattices tried beyond the coarsest one that holds K points, and a cap on the lattice
# size (the farthest-point pass is O(K * size * m); 20000 points keep it in milliseconds).
_EXTRA_DIVISIONS = 3
_MAX_LATTICE = 20000


def _farthest_points(lattice: np.ndarray, num_tasks: int, k: int) -> np.ndarray:
    """K rows of the unit-norm `lattice` by farthest-point sampling seeded with the axes."""
    # The axes are lattice points (one coordinate = H / H); seed with them.
    axes = [int(np.flatnonzero(np.isclose(lattice[:, i], 1.0))[0]) for i in range(num_tasks)]
    chosen = axes[: min(num_tasks, k)]
    nearest = _angles(lattice, lattice[chosen]).min(axis=1)
    while len(chosen) < k:
        nxt = int(np.argmax(nearest))  # argmax returns the first maximum: deterministic
        chosen.append(nxt)
        nearest = np.minimum(nearest, _angles(lattice, lattice[nxt : nxt + 1])[:, 0])
    return lattice[chosen]


def _min_pairwise_angle(u: np.ndarray) -> float:
    a = _angles(u, u)
    np.fill_diagonal(a, np.inf)
    return float(a.min())


def preference_vectors(num_tasks: int, num_preferences: int) -> np.ndarray:
    """K evenly spread unit preference vectors in R^m_+ (Pareto MTL §4.1, Alg. 1 input).

    m = 2: u_k = (cos t_k, sin t_k) with t = linspace(0, pi/2, K), both axes included, as
    in the authors' reference (``circle_points``).

    m > 2 (the paper and reference give no construction): a Das-Dennis simplex lattice
    (points with coordinates in {0, 1/H, ..., 1} summing to 1), normalised to unit length,
    and K of its points picked by deterministic farthest-point sampling in angle: start
    from the m axis vectors e_1..e_m (only the first K when K <= m) and repeatedly add the
    lattice point whose angle to the nearest chosen vector is largest (ties: first in
    lattice order). This is done for the coarsest H whose lattice holds >= K points
    (C(H + m - 1, m - 1) >= K) and for up to 3 finer H, and the set with the largest
    minimum pairwise angle is kept (ties: the coarser H). The coarsest lattice gives the
    symmetric full lattice when K equals its size (e.g. m = 3, K = 6: axes and edge
    midpoints); a finer one can do better otherwise (m = 3, K = 4: axes and the centroid,
    54.7 deg apart, rather than 45 deg). Either way the K vectors are at least the coarsest
    lattice's spacing apart (45 deg for m = 3, K <= 6; 26.6 deg for K <= 10), and
    farthest-point sampling leaves no lattice direction farther from the set than that
    minimum separation (covering radius <= separation): the set is spread over the whole
    positive orthant.

    Args:
      num_tasks: m >= 2.
      num_preferences: K >= 2.

    Returns:
      float64 [K, m], unit-norm rows, non-negative entries, pairwise distinct.

    Raises:
      ValueError: if K < 2 or m < 2.
    """
    if num_preferences < 2:
        raise ValueError(
            f"--num_preferences must be >= 2 (one sub-region per preference), got "
            f"{num_preferences}"
        )
    if num_tasks < 2:
        raise ValueError(f"Pareto MTL needs at least 2 tasks, got {num_tasks}")
    if num_tasks == 2:
        t = np.linspace(0.0, 0.5 * np.pi, num_preferences)
        return np.stack([np.cos(t), np.sin(t)], axis=1)

    def size(divisions: int) -> int:
        return math.comb(divisions + num_tasks - 1, num_tasks - 1)

    coarsest = 1
    while size(coarsest) < num_preferences:
        coarsest += 1
    best, best_angle = None, -1.0
    for divisions in range(coarsest, coarsest + _EXTRA_DIVISIONS + 1):
        if divisions > coarsest and size(divisions) > _MAX_LATTICE:
            break
        lattice = _das_dennis(num_tasks, divisions)
        lattice /= np.linalg.norm(lattice, axis=1, keepdims=True)
        candidate = _farthest_points(lattice, num_tasks, num_preferences)
        angle = _min_pairwise_angle(candidate)
        if angle > best_angle + 1e-9:  # strictly better: ties keep the coarser lattice
            best, best_angle = candidate, angle
    return best


def config_preferences(num_tasks: int, config: Any) -> np.ndarray:
    """The run's preference vectors: ``config.preferences`` if given, else K spread ones."""
    given = getattr(config, "preferences", None)
    if given:
        return np.asarray(parse_preferences(given, num_tasks), np.float64)
    return preference_vectors(num_tasks, config.num_preferences)
