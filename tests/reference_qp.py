"""Exact reference answers for the min-norm problem, in numpy (test helper)."""

from __future__ import annotations

import itertools

import numpy as np


def exact_min_norm(gram: np.ndarray) -> tuple[float, np.ndarray]:
    """Exact min of w^T M w on the simplex by enumerating every support S.

    For each S, the equality-constrained QP min w_S^T M_SS w_S s.t. sum w_S = 1 is solved by
    its KKT system (lstsq copes with singular ones); feasible solutions are projected onto
    the simplex (so every candidate is a valid upper bound) and the best one is returned.
    """
    n = gram.shape[0]
    best, best_w = np.inf, np.zeros(n)
    for size in range(1, n + 1):
        for support in itertools.combinations(range(n), size):
            s = list(support)
            kkt = np.zeros((size + 1, size + 1))
            kkt[:size, :size] = gram[np.ix_(s, s)]
            kkt[:size, size] = kkt[size, :size] = 1.0
            rhs = np.zeros(size + 1)
            rhs[size] = 1.0
            sol = np.linalg.lstsq(kkt, rhs, rcond=None)[0][:size]
            if sol.min() < -1e-12 or abs(sol.sum() - 1.0) > 1e-9:
                continue
            w = np.zeros(n)
            w[s] = np.maximum(sol, 0.0)
            w /= w.sum()
            value = float(w @ gram @ w)
            if value < best:
                best, best_w = value, w
    return best, best_w
