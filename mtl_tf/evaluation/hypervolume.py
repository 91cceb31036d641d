"""Exact hypervolume of a point set (minimisation) and Pareto-front helpers.

The hypervolume (HV) of points P with respect to a reference point r is the Lebesgue
measure of the region they dominate and r bounds::

    HV(P, r) = vol( union_{p in P, p < r} [p_1, r_1] x ... x [p_m, r_m] )

Larger is better. It is the standard single-number summary of a Pareto front in the MTL
literature (COSMOS: loss space, reference (2, 2); method notes, "Pareto-front metrics").
An HV is meaningless without its reference point: always report it alongside.

Algorithm: WFG (While, Bradstreet & Barone 2012) with its dimension-reducing ordering.
Sort the non-dominated points worst-first in the last objective; then

    HV(P) = sum_k (r_m - p_k,m) * [ prod_{j<m} (r_j - p_k,j) - HV_{m-1}(nd(L_k)) ]

where L_k = {max(p_k, q) : q after p_k}, projected onto the first m - 1 objectives: every
later q is at least as good as p_k in objective m, so the whole limit set shares p_k's last
coordinate and the "exclusive" volume of p_k factorises into a slab of height
(r_m - p_k,m) times an (m-1)-dimensional exclusive area. m = 2 is an O(n log n) sweep, m = 1
a minimum. Worst case O(n^(m-1) log n) time (each level calls the level below at most n
times); in practice far less, because the limit sets shrink after the non-dominated
filtering. Comfortable for m <= 5 and n <= 100 (the sizes of MTL fronts); exponential in
m, as every exact HV algorithm is believed to be.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "error_space_hypervolume",
    "hypervolume",
    "loss_space_hypervolume",
    "pareto_front_mask",
]


def pareto_front_mask(points: np.ndarray) -> np.ndarray:
    """Marks the non-dominated points (minimisation).

    p dominates q iff p <= q in every objective and p < q in at least one. Duplicate points
    do not dominate each other, so all copies of a non-dominated point are marked.

    Args:
      points: [n, m].

    Returns:
      bool [n]; True where no other point dominates.
    """
    p = _as_points(points)
    if len(p) == 0:
        return np.zeros(0, bool)
    # leq[i, j]: p_j <= p_i everywhere; lt[i, j]: p_j < p_i somewhere. O(n^2 m) memory,
    # fine for fronts of hundreds of points.
    leq = np.all(p[None, :, :] <= p[:, None, :], axis=-1)
    lt = np.any(p[None, :, :] < p[:, None, :], axis=-1)
    return ~np.any(leq & lt, axis=1)


def hypervolume(points: np.ndarray, reference: Sequence[float]) -> float:
    """Exact hypervolume dominated by ``points`` and bounded by ``reference``, minimising.

    Points that do not strictly dominate the reference (some coordinate >= r) are ignored:
    their box is empty. Dominated and duplicate points are allowed and add nothing. The
    result does not depend on the order of the points.

    Args:
      points: [n, m], any m >= 1 (n may be 0).
      reference: [m] reference point.

    Returns:
      The hypervolume (0.0 when no point strictly dominates the reference).

    Raises:
      ValueError: on mismatched shapes or non-finite values.
    """
    ref = np.asarray(reference, dtype=np.float64).reshape(-1)
    p = _as_points(points, len(ref))
    if not np.all(np.isfinite(ref)):
        raise ValueError(f"reference must be finite, got {ref}")
    p = p[np.all(p < ref, axis=1)]
    if len(p) == 0:
        return 0.0
    return float(_hv(_nondominated(p), ref))


def loss_space_hypervolume(losses: np.ndarray, reference: Sequence[float] | None = None) -> float:
    """HV of per-task test losses [n, m]; reference point (2, ..., 2) by default.

    The default (2, 2) for two tasks is COSMOS's reference point for MultiMNIST-type fronts
    (method notes, "Pareto-front metrics"). Report the reference with the number.
    """
    losses = _as_points(losses)
    ref = (2.0,) * losses.shape[1] if reference is None else reference
    return hypervolume(losses, ref)


def error_space_hypervolume(
    accuracies: np.ndarray, reference: Sequence[float] | None = None
) -> float:
    """HV of per-task test errors (1 - accuracy) [n, m]; reference (1, ..., 1) by default.

    With reference 1 (100 % error) every model better than always-wrong counts, and the
    result lies in [0, 1]: the fraction of the error cube the front dominates.
    """
    errors = 1.0 - _as_points(accuracies)
    ref = (1.0,) * errors.shape[1] if reference is None else reference
    return hypervolume(errors, ref)


# ----------------------------------------------------------------------------- internals
def _as_points(points: np.ndarray, m: int | None = None) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    if p.ndim == 1 and m is not None and p.size in (0, m):
        p = p.reshape(-1, m)  # a single point, or none
    if p.ndim != 2 or (m is not None and p.shape[1] != m) or p.shape[1] < 1:
        want = f"[n, {m}]" if m is not None else "[n, m] with m >= 1"
        raise ValueError(f"points must have shape {want}, got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError("points must be finite")
    return p


def _nondominated(p: np.ndarray) -> np.ndarray:
    """Unique non-dominated rows of p (duplicates would be counted twice by WFG's sum)."""
    p = np.unique(p, axis=0)
    return p[pareto_front_mask(p)]


def _hv(p: np.ndarray, ref: np.ndarray) -> float:
    """HV of unique, mutually non-dominated points, all strictly dominating ref."""
    n, m = p.shape
    if m == 1:
        return ref[0] - p[:, 0].min()
    if n == 1:
        return float(np.prod(ref - p[0]))
    if m == 2:
        # Non-dominated and unique: sorted by x ascending, y is strictly descending; point
        # i owns the strip [x_i, x_{i+1}) x [y_i, r_y).
        p = p[np.argsort(p[:, 0])]
        x_next = np.append(p[1:, 0], ref[0])
        return float(np.sum((x_next - p[:, 0]) * (ref[1] - p[:, 1])))
    # WFG: worst-first in the last objective, so each point's limit set shares its last
    # coordinate and drops to m - 1 dimensions.
    p = p[np.argsort(-p[:, -1], kind="stable")]
    total = 0.0
    for k in range(n):
        box = float(np.prod(ref[:-1] - p[k, :-1]))
        rest = p[k + 1 :]
        if len(rest):
            limited = _nondominated(np.maximum(p[k, :-1], rest[:, :-1]))
            box -= _hv(limited, ref[:-1])
        total += (ref[-1] - p[k, -1]) * box
    return total
