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

Losses on different scales (`loss_scale`). The sub-regions are cones around directions of
the raw loss vector, so when one task's loss is 100x another's (a landmark mse of 1e-3
beside cross-entropies of 0.5) every model sits near the large loss's axis whatever its
preference, and the preferences stop meaning a trade-off between tasks
(bench/MIXED_SCALES.md). With ``loss_scale="initial"`` the whole of Alg. 1 runs on
L~_i = L_i / c_i, c_i the task's loss at the first training step (GradNorm's L_i(0)):
the constraints use L~ / ||L~||, the Gram matrix of the gradients of L~ is
D^-1 M D^-1 with D = diag(c), and since sum_i a~_i grad L~_i = sum_i (a~_i / c_i) grad L_i
the weights applied to the raw losses are a~ / c. ``"none"`` (default) is the reference.

Gradients of different sizes (`grad_normalization`). The min-norm element of a hull puts
its weight on the *shortest* vectors: a task whose gradient is 10x the others' gets a
weight near 0 and is trained only through what the other tasks' directions happen to do
for it (measured on MTFL landmarks, bench/MTFL_LANDMARKS.md). With
``grad_normalization="l2"`` every vector of the problem (main phase: task gradients and
active-constraint gradients; feasible start: active-constraint gradients) is divided by
its norm n_r = sqrt((B M B^T)_rr) before the solve, giving the min-norm weights w of the
unit vectors and their min-norm element d = sum_r w_r v_r. The weights are mapped back as
beta = (w / n) / sum_r (w_r / n_r) and alpha = B^T beta: beta is on the simplex, so the
step sum_i alpha_i g_i is the point of the *raw* hull on the ray of d (its length on the
scale of the gradients, as the reference's step; the main phase then rescales alpha to
sum_i |alpha_i| = m as usual). Since d . v_r >= ||d||^2 for every row (min-norm
optimality), the step still descends, to first order, along every non-zero row (every
task in the main phase and every active constraint), and d / ||d|| is the direction whose
smallest cosine with any row is largest: no row is left behind for having a long
gradient. (With an adaptive optimizer such as Adam these are properties of the gradient
fed to it, as for MGDA.) A row that is ~0 (a task with no gradient, or a constraint whose
task gradients cancel) takes beta's weight through its small n_r whenever w gives it
any, and the step is then ~0, as the reference's is with a ~0 vector in its hull. Not
the reference (which solves on the raw gradients: ``"none"``, the default); unlike MGDA's
reference normalisation (`mtl_tf.weighting.mgda`), the weights are mapped back so that
the step follows the direction that was solved for.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import tensorflow as tf

from mtl_tf.weighting.base import Weighting, register
from mtl_tf.weighting.min_norm import min_norm_element
from mtl_tf.weighting.preference_vectors import config_preferences

PHASE_INIT = 0
PHASE_MAIN = 1
# What the preferences are defined on: the raw losses (the reference) or L_i / L_i(0).
LOSS_SCALES = ("none", "initial")
# How the vectors of the min-norm problem are scaled before the solve: as they are (the
# reference) or to unit length.
GRAD_NORMALIZATIONS = ("none", "l2")
# Floor of a first-step loss used as a scale (a task that starts at exactly 0 loss).
_MIN_SCALE = 1e-12
# Norms below this are a zero gradient to the l2 gradient normalisation.
_MIN_NORM = 1e-30


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
      loss_scale: "none" (the reference) or "initial": run Alg. 1 on each loss divided
        by its first-step value (module docstring), for losses of different scales.
      grad_normalization: "none" (the reference) or "l2": solve the min-norm problems
        (eq. 9, 14) on unit-length task and constraint gradients (module docstring),
        for tasks whose gradients differ in size.

    State (non-trainable variables, checkpointed with the model so that a resumed run
    continues in the right phase): `phase` (0 = feasible start, 1 = main), `init_steps`
    (feasible-start steps taken) and `active_mask` (int32 [K - 1], 1 where constraint j was
    active on the last step; constraint order = preferences with row k removed); with
    ``loss_scale="initial"`` also `initial_losses` (float32 [m], 0 until the first step).
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
        loss_scale: str = "none",
        grad_normalization: str = "none",
        **kwargs: Any,
    ) -> None:
        super().__init__(num_tasks, **kwargs)
        if grad_normalization not in GRAD_NORMALIZATIONS:
            raise ValueError(
                "--pareto_grad_normalization must be one of "
                f"{', '.join(GRAD_NORMALIZATIONS)}, got {grad_normalization!r}"
            )
        if loss_scale not in LOSS_SCALES:
            raise ValueError(
                f"--pareto_loss_scale must be one of {', '.join(LOSS_SCALES)}, "
                f"got {loss_scale!r}"
            )
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
        self.loss_scale = loss_scale
        self.grad_normalization = grad_normalization
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
        # Created only when used, so that the reference's checkpoints keep their layout.
        self.initial_losses = None
        if loss_scale == "initial":
            self.initial_losses = self.add_weight(
                shape=(num_tasks,), dtype="float32", initializer="zeros",
                trainable=False, name="initial_losses",
            )

    @classmethod
    def model_variants(cls, config: Any) -> list[tuple[str, Any]]:
        """One model per preference vector (Algorithm 1: the K sub-problems are
        independent), or only `config.preference_index`'s."""
        given = getattr(config, "preferences", None)
        k = len(given) if given else config.num_preferences
        index = config.preference_index
        if index is not None and not 0 <= index < k:
            source = f"the {k} --preferences" if given else f"--num_preferences={k}"
            raise ValueError(
                f"--preference_index={index} is out of range for {source} "
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
            preferences=config_preferences(num_tasks, config),
            preference_index=0 if index is None else index,
            epsilon=config.pareto_epsilon,
            max_init_steps=math.ceil(config.pareto_max_init_epochs * steps_per_epoch),
            max_iters=config.min_norm_max_iters,
            tol=config.min_norm_tol,
            loss_scale=config.pareto_loss_scale,
            grad_normalization=config.pareto_grad_normalization,
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
        """alpha = rows^T w, w the min-norm weights of the vectors rows @ grads (eq. 14).

        With ``grad_normalization="l2"`` the vectors are first scaled to unit length and
        alpha = rows^T beta, beta = (w / n) / sum(w / n), n their norms (module docstring).
        """
        sub_gram = tf.matmul(tf.matmul(rows, gram), rows, transpose_b=True)
        if self.grad_normalization == "none":
            w, _ = min_norm_element(sub_gram, max_iters=self.max_iters, tol=self.tol)
            return tf.linalg.matvec(rows, w, transpose_a=True)
        # A zero row (a task or constraint with no gradient) stays zero: dividing it by
        # its norm would only give NaNs. A row that is only rounding noise (task
        # gradients that cancel in a constraint) gets a unit vector of noise, but any
        # weight w_r on it becomes w_r / n_r in beta, so the step is then ~that row's raw
        # vector, ~0: what the reference's min-norm step does with such a row.
        norms = tf.maximum(tf.sqrt(tf.maximum(tf.linalg.diag_part(sub_gram), 0.0)),
                           _MIN_NORM)
        unit_gram = sub_gram / (norms[:, None] * norms[None, :])
        w, _ = min_norm_element(unit_gram, max_iters=self.max_iters, tol=self.tol)
        beta = w / norms
        return tf.linalg.matvec(rows, beta / tf.reduce_sum(beta), transpose_a=True)

    def init_weights(self, active: tf.Tensor, gram: tf.Tensor) -> tf.Tensor:
        """Feasible-start weights alpha = A_act^T beta (Pareto MTL eq. 9), float64 [m].

        With ``grad_normalization="l2"``, beta comes from the unit-length constraint
        gradients (module docstring).

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
        losses = tf.cast(tf.stop_gradient(task_losses), tf.float64)
        scale = None
        if self.initial_losses is not None:
            scale = self._initial_scale(losses)
            losses = losses / scale
            gram = gram / (scale[:, None] * scale[None, :])
        active = self.active_constraints(losses)
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
        if scale is not None:
            # The weights of the scaled losses, as weights of the raw ones.
            alpha = alpha / scale
        return tf.cast(alpha, tf.float32)

    def _initial_scale(self, losses: tf.Tensor) -> tf.Tensor:
        """c = the task losses of the first step (recorded then), float64 [m]."""
        first = tf.reduce_all(tf.equal(self.initial_losses, 0.0))
        floored = tf.maximum(tf.cast(losses, tf.float32), _MIN_SCALE)
        self.initial_losses.assign(tf.where(first, floored, self.initial_losses))
        return tf.cast(self.initial_losses, tf.float64)

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
            "loss_scale": self.loss_scale,
            "grad_normalization": self.grad_normalization,
            "phase": "init" if int(self.phase.numpy()) == PHASE_INIT else "main",
            "init_steps": int(self.init_steps.numpy()),
            "active_constraints": [int(v) for v in self.active_mask.numpy()],
        }
        if self.initial_losses is not None:
            info["initial_losses"] = [float(v) for v in self.initial_losses.numpy()]
        if self.num_tasks == 2:
            info["preference_angle_deg"] = float(np.degrees(np.arctan2(u[1], u[0])))
        return info
