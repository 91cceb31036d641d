"""Pareto MTL (Lin et al., NeurIPS 2019): one Pareto solution per preference sub-region.

K unit preference vectors u_1..u_K in R^m_+ split the objective space into sub-regions
(Pareto MTL eq. 6); the run for preference k solves the constrained multi-objective
problem (eq. 7)

    min_theta L(theta)   s.t.   G_j(theta) = (u_j - u_k)^T L(theta) <= 0,   j != k.

As in the authors' reference, the constraint *values* are computed on the normalised loss
vector, G_j = (u_j - u_k)^T L / ||L|| (same sign, scale-free), and their *gradients* are
(u_j - u_k)^T grad L (eq. 17). A constraint is active when G_j > -epsilon (eq. 11, the
index set I_eps); with the default epsilon = 0 this is the reference's strict G_j > 0.

Alg. 1 runs in two phases, tracked here in checkpointed variables:

* feasible start (eq. 9): the min-norm element over the gradients of the *active
  constraints only*, i.e. beta = argmin_{beta in simplex} beta^T (A M A^T) beta with
  A the active rows (u_j - u_k) and M the Gram matrix of the task gradients; the task
  weights are alpha = A^T beta. It lasts while some constraint is active and fewer than
  `max_init_steps` steps have been taken; it then ends for good, and on that very step
  the main-phase weights are used.
* main phase (eq. 14, 18): the min-norm element over [task gradients; active constraint
  gradients], Gram B M B^T with B = [I_m; A_active]; alpha_i = lambda_i +
  sum_j beta_j (u_ji - u_ki) (eq. 18), then alpha <- alpha * m / sum_i |alpha_i| (the
  reference's multiMNIST training rescaling; its synthetic-example script does not rescale,
  hence ``rescale=False`` in `mtl_tf.synthetic`). With no active constraint it is m times
  plain MGDA.

Fixed shapes in the compiled step: the active set changes from step to step, but
`compute_weights` always solves problems of the same size. Each *inactive* constraint row
is replaced by a copy of a row that is already in the problem (task row 0 in the main
phase; the first active constraint row in the feasible-start phase). A duplicated point
does not change the convex hull of the gradients, so the min-norm element d is the same
as for the active subset alone; whatever weight the solver puts on a duplicate is mapped
back onto the row it copies by alpha = B_eff^T w (the duplicate row *is* that row). The
task weights alpha are then identical to the active-subset solution whenever the task
gradients are linearly independent (d = sum_i alpha_i g_i then determines alpha). This
avoids masking tricks inside the solver (e.g. huge diagonal penalties) that would change
the conditioning of its linear solves.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

import numpy as np
import tensorflow as tf

from mtl_tf.weighting.base import Weighting, register
from mtl_tf.weighting.min_norm import min_norm_element

PHASE_INIT = 0
PHASE_MAIN = 1


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


@register("pareto_mtl")
class ParetoMTLWeighting(Weighting):
    """Pareto MTL task weights for one preference vector u_k (Lin et al. 2019, Alg. 1).

    Args:
      num_tasks: m.
      preferences: [K, m] non-negative preference vectors (normalised to unit length here).
      preference_index: k, the preference this run is for.
      epsilon: activation threshold of eq. 11, I_eps = {j : G_j > -epsilon}; 0 (default)
        is the reference's G_j > 0.
      max_init_steps: cap on the feasible-start phase (eq. 9); 0 skips it.
      rescale: main phase only, rescale alpha to sum_i |alpha_i| = m as the reference's
        network training does (default). Its synthetic example (§5) uses the raw eq. 18
        weights with step size 1; rescaled, the steps there double and (seed 0) 4 of its
        10 runs end outside their sub-region instead of 1.
      max_iters: cap on the min-norm solver's iterations.
      tol: the min-norm solver's tolerance.

    State (non-trainable variables, checkpointed with the model so that a resumed run
    continues in the right phase): `phase` (0 = feasible start, 1 = main), `init_steps`
    (feasible-start steps taken) and `active_mask` (int32 [K - 1], 1 where constraint j was
    active on the last step; constraint order = preferences with row k removed).
    """

    gradient_source = "params"
    # The reference differentiates w.r.t. all parameters, heads included.
    gram_includes_heads = True

    def __init__(
        self,
        num_tasks: int,
        preferences: np.ndarray,
        preference_index: int,
        epsilon: float = 0.0,
        max_init_steps: int = 100,
        rescale: bool = True,
        max_iters: int = 250,
        tol: float = 1e-5,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_tasks, **kwargs)
        prefs = np.asarray(preferences, dtype=np.float64)
        if prefs.ndim != 2 or prefs.shape[1] != num_tasks:
            raise ValueError(
                f"preferences must have shape [K, {num_tasks}], got {prefs.shape}"
            )
        if prefs.shape[0] < 2:
            raise ValueError(f"--num_preferences must be >= 2, got {prefs.shape[0]}")
        norms = np.linalg.norm(prefs, axis=1)
        if np.any(prefs < 0) or np.any(norms <= 0):
            raise ValueError("preference vectors must be non-negative and non-zero")
        if not 0 <= preference_index < prefs.shape[0]:
            raise ValueError(
                f"--preference_index must be in [0, {prefs.shape[0] - 1}], got "
                f"{preference_index}"
            )
        if epsilon < 0:
            raise ValueError(f"--pareto_epsilon must be >= 0, got {epsilon}")
        if max_init_steps < 0:
            raise ValueError(f"max_init_steps must be >= 0, got {max_init_steps}")
        self.preferences = prefs / norms[:, None]
        self.preference_index = int(preference_index)
        self.epsilon = float(epsilon)
        self.max_init_steps = int(max_init_steps)
        self.rescale = bool(rescale)
        self.max_iters = int(max_iters)
        self.tol = float(tol)
        others = np.delete(self.preferences, self.preference_index, axis=0)
        # Row j: u_j - u_k, the coefficients of constraint G_j on the losses (eq. 17).
        self.constraint_matrix = others - self.preferences[self.preference_index]
        self.num_constraints = self.constraint_matrix.shape[0]
        self._a = tf.constant(self.constraint_matrix, tf.float64)
        # B_full = [I_m; A]: rows of the main-phase problem (eq. 14) before substitution.
        self._b_full = tf.constant(
            np.concatenate([np.eye(num_tasks), self.constraint_matrix]), tf.float64
        )
        self.phase = self.add_weight(
            shape=(), dtype="int32", initializer="zeros", trainable=False, name="phase"
        )
        self.init_steps = self.add_weight(
            shape=(), dtype="int32", initializer="zeros", trainable=False, name="init_steps"
        )
        self.active_mask = self.add_weight(
            shape=(self.num_constraints,),
            dtype="int32",
            initializer="zeros",
            trainable=False,
            name="active_mask",
        )

    @classmethod
    def model_variants(cls, config: Any) -> list[tuple[str, Any]]:
        """One model per preference vector (Algorithm 1: the K sub-problems are
        independent), or only `config.preference_index`'s."""
        k = config.num_preferences
        index = config.preference_index
        if index is not None and not 0 <= index < k:
            raise ValueError(
                f"--preference_index={index} is out of range for --num_preferences={k} "
                f"(allowed: 0..{k - 1})"
            )
        indices = range(k) if index is None else [index]
        return [(f"preference_{i}", dataclasses.replace(config, preference_index=i))
                for i in indices]

    @classmethod
    def from_config(cls, num_tasks: int, config: Any) -> ParetoMTLWeighting:
        steps_per_epoch = math.ceil(config.train_size / config.batch_size)
        index = config.preference_index
        return cls(
            num_tasks,
            preferences=preference_vectors(num_tasks, config.num_preferences),
            preference_index=0 if index is None else index,
            epsilon=config.pareto_epsilon,
            max_init_steps=math.ceil(config.pareto_max_init_epochs * steps_per_epoch),
            max_iters=config.min_norm_max_iters,
            tol=config.min_norm_tol,
        )

    # ------------------------------------------------------------------ pieces
    def constraint_values(self, task_losses: tf.Tensor) -> tf.Tensor:
        """G_j = (u_j - u_k)^T L / ||L|| for j != k (Pareto MTL eq. 7, reference scaling)."""
        losses = tf.cast(task_losses, tf.float64)
        norm = tf.norm(losses)
        unit = losses / tf.where(norm > 0.0, norm, tf.ones_like(norm))
        return tf.linalg.matvec(self._a, unit)

    def active_constraints(self, task_losses: tf.Tensor) -> tf.Tensor:
        """Bool [K - 1]: the index set I_eps = {j : G_j > -epsilon} (Pareto MTL eq. 11)."""
        return self.constraint_values(task_losses) > -self.epsilon

    def _solve(self, rows: tf.Tensor, gram: tf.Tensor) -> tf.Tensor:
        """alpha = rows^T w, w the min-norm weights of the vectors rows @ grads (eq. 14)."""
        sub_gram = tf.matmul(tf.matmul(rows, gram), rows, transpose_b=True)
        w, _ = min_norm_element(sub_gram, max_iters=self.max_iters, tol=self.tol)
        return tf.linalg.matvec(rows, w, transpose_a=True)

    def init_weights(self, active: tf.Tensor, gram: tf.Tensor) -> tf.Tensor:
        """Feasible-start weights alpha = A_act^T beta (Pareto MTL eq. 9), float64 [m].

        Inactive rows are replaced by the first active row (the fixed-shape trick of the
        module docstring). Only meaningful when some constraint is active.
        """
        first = tf.argmax(tf.cast(active, tf.int32), output_type=tf.int32)
        rows = tf.where(active, tf.range(self.num_constraints), first)
        if self.num_constraints < 3:
            return self._solve(tf.gather(self._a, rows), gram)
        # Exactly two active constraints: solve those two alone, so that they get the
        # reference's two-vector closed form (gamma clamped to [0.001, 0.999]) as in its
        # find_min_norm_element, instead of the n > 2 solver the copies would send them to.
        count = tf.reduce_sum(tf.cast(active, tf.int32))
        pair = tf.math.top_k(tf.cast(active, tf.int32), k=2).indices
        return tf.cond(
            tf.equal(count, 2),
            lambda: self._solve(tf.gather(self._a, pair), gram),
            lambda: self._solve(tf.gather(self._a, rows), gram),
        )

    def main_weights(self, active: tf.Tensor, gram: tf.Tensor) -> tf.Tensor:
        """Main-phase weights (Pareto MTL eq. 14, 18), float64 [m].

        Rescaled to sum_i |alpha_i| = m when `rescale`. Inactive constraint rows are
        replaced by task row 0 (module docstring), so with no active constraint this is
        MGDA's min-norm weights (times m when rescaled).
        """
        m = self.num_tasks
        constraint_rows = tf.where(active, m + tf.range(self.num_constraints), 0)
        rows = tf.gather(self._b_full, tf.concat([tf.range(m), constraint_rows], 0))
        if m == 2:
            # Two tasks and no active constraint: plain two-task MGDA, with the reference's
            # clamped closed form (the copies would send it to the n > 2 solver).
            alpha = tf.cond(
                tf.reduce_any(active),
                lambda: self._solve(rows, gram),
                lambda: self._solve(self._b_full[:m], gram),
            )
        else:
            alpha = self._solve(rows, gram)
        if not self.rescale:
            return alpha
        total = tf.reduce_sum(tf.abs(alpha))
        # The reference's normalisation; alpha = 0 only if the gradients are all zero.
        return alpha * m / tf.where(total > 0.0, total, tf.ones_like(total))

    # ------------------------------------------------------------------ interface
    def compute_weights(
        self, task_losses: tf.Tensor, gram: tf.Tensor | None = None
    ) -> tf.Tensor:
        """Task weights alpha of this step (Pareto MTL Alg. 1, eq. 9 / eq. 18); float32 [m].

        Updates `phase`, `init_steps` and `active_mask`.
        """
        if gram is None:
            raise ValueError("Pareto MTL needs the per-task gradient Gram matrix")
        gram = tf.cast(tf.stop_gradient(gram), tf.float64)
        active = self.active_constraints(tf.stop_gradient(task_losses))
        in_init = tf.logical_and(
            tf.equal(self.phase, PHASE_INIT),
            tf.logical_and(
                tf.reduce_any(active), self.init_steps < self.max_init_steps
            ),
        )
        alpha = tf.cond(
            in_init,
            lambda: self.init_weights(active, gram),
            lambda: self.main_weights(active, gram),
        )
        # The feasible start ends for good on the first step it does not run.
        self.phase.assign(tf.where(in_init, PHASE_INIT, PHASE_MAIN))
        self.init_steps.assign_add(tf.cast(in_init, tf.int32))
        self.active_mask.assign(tf.cast(active, tf.int32))
        return tf.cast(alpha, tf.float32)

    def label(self) -> str:
        """``u=(0.707, 0.707)``: this model's preference vector."""
        u = self.preferences[self.preference_index]
        return "u=(" + ", ".join(f"{round(float(v), 3) + 0.0:g}" for v in u) + ")"

    def describe(self) -> dict[str, Any]:
        """Static settings and current state, for metrics and logs (eager only)."""
        u = self.preferences[self.preference_index]
        info: dict[str, Any] = {
            "preference_index": self.preference_index,
            "preference": [float(v) for v in u],
            "num_preferences": int(self.preferences.shape[0]),
            "epsilon": self.epsilon,
            "max_init_steps": self.max_init_steps,
            "rescale": self.rescale,
            "phase": "init" if int(self.phase.numpy()) == PHASE_INIT else "main",
            "init_steps": int(self.init_steps.numpy()),
            "active_constraints": [int(v) for v in self.active_mask.numpy()],
        }
        if self.num_tasks == 2:
            info["preference_angle_deg"] = float(np.degrees(np.arctan2(u[1], u[0])))
        return info
