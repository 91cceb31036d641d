"""The concave synthetic example of Pareto MTL (Lin et al. 2019, §5, Fig. 2).

Two objectives of x in R^n (n = 20),

    f1(x) = 1 - exp(-sum_i (x_i - 1/sqrt(n))^2),   f2(x) = 1 - exp(-sum_i (x_i + 1/sqrt(n))^2),

whose Pareto set is x = (t, ..., t), t in [-1/sqrt(n), 1/sqrt(n)], and whose Pareto front
is concave. Each method here uses the library's own weighting classes: every step
computes both losses and gradients, their Gram matrix, asks the strategy's
`compute_weights` for the task weights w, and moves x <- x - lr * sum_k w_k grad f_k --
the very update the Keras trainer applies to network parameters. This makes Fig. 2 an
end-to-end check of `ParetoMTLWeighting`, `MGDAWeighting` and `FixedWeighting`:

* ``"gs"`` (random linear scalarisation): weights (r, 1 - r), r ~ U(0, 1). On a concave
  front it can only reach the two ends (Boyd & Vandenberghe §4.7).
* ``"mgda"`` (MOO-MTL, Sener & Koltun 2018): random starts; lands in the middle.
* ``"pareto_mtl"``: one run per preference (10 preferences), x0 ~ U(-0.5, 0.5), a
  feasible-start phase bounded by 20% of the steps then the main phase (the reference's
  20 + 80 iterations; here the main phase also takes the steps the feasible start did not
  need). One solution per sub-region.

Settings are the reference's (step size 1, 100 iterations, x0 ~ U(-0.5, 0.5)). Runs are
deterministic for a seed (numpy ``default_rng(seed)`` draws every start and weight).

What to expect (measured, seeds 0-7, 80 Pareto MTL runs): every solution lies on the
front (distance < 1e-3); 74 of 80 lie in their own sub-region. The 6 others all used the
whole 20-step feasible-start budget without becoming feasible (5 at the extreme
preferences 0 and 90 deg, whose regions are narrowest; 1 started on the saturated plateau
f ~ (0.83, 0.99), where every gradient is ~e^-3 small): once the main phase reaches the
front, the task gradients are opposed, the min-norm element of eq. 14 is ~0 and the run
stops wherever it is. With a 75-step budget all but the plateau run reach their region.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from mtl_tf.io_utils import atomic_write_bytes, atomic_write_json
from mtl_tf.weighting.base import Weighting
from mtl_tf.weighting.fixed import FixedWeighting
from mtl_tf.weighting.mgda import MGDAWeighting
from mtl_tf.weighting.pareto_mtl import ParetoMTLWeighting
from mtl_tf.weighting.preference_vectors import preference_vectors

METHODS: tuple[str, ...] = ("gs", "mgda", "pareto_mtl")
NUM_PREFERENCES = 10
# Share of the iterations the feasible start may use (the reference: 20 of 100).
INIT_FRACTION = 0.2


def synthetic_losses(x: tf.Tensor) -> tf.Tensor:
    """(f1(x), f2(x)) of Pareto MTL §5; x is [..., n], the result [..., 2]."""
    x = tf.convert_to_tensor(x)
    shift = 1.0 / math.sqrt(int(x.shape[-1]))
    f1 = 1.0 - tf.exp(-tf.reduce_sum(tf.square(x - shift), axis=-1))
    f2 = 1.0 - tf.exp(-tf.reduce_sum(tf.square(x + shift), axis=-1))
    return tf.stack([f1, f2], axis=-1)


def true_front(num: int = 200, n: int = 20) -> np.ndarray:
    """[num, 2] points of the Pareto front: f at x = (t, ..., t), t in [-1/sqrt n, 1/sqrt n].

    Ordered from (f1, f2) = (~0.98, 0) to (0, ~0.98). The front does not depend on n.
    """
    t = np.linspace(-1.0 / math.sqrt(n), 1.0 / math.sqrt(n), num)
    x = np.repeat(t[:, None], n, axis=1)
    return synthetic_losses(tf.constant(x, tf.float64)).numpy()


def angle_deg(f: np.ndarray) -> np.ndarray:
    """Angle of objective vectors in the first quadrant, degrees from the f1 axis."""
    f = np.asarray(f, dtype=np.float64)
    return np.degrees(np.arctan2(f[..., 1], f[..., 0]))


class _Descent:
    """x <- x - lr * sum_k w_k grad f_k(x) for `steps` steps, compiled once per strategy."""

    def __init__(self, weighting: Weighting, n: int, lr: float) -> None:
        self.weighting = weighting
        self.x = tf.Variable(tf.zeros([n], tf.float32), trainable=False)
        self.lr = float(lr)

        @tf.function(reduce_retracing=True)
        def run(steps: tf.Tensor) -> tf.Tensor:
            for _ in tf.range(steps):
                self._step()
            return synthetic_losses(self.x)

        self._run = run

    def _step(self) -> None:
        with tf.GradientTape() as tape:
            tape.watch(self.x)  # non-trainable: not watched automatically
            losses = synthetic_losses(self.x)
        grads = tape.jacobian(losses, self.x)  # [2, n]: one row per task
        gram = tf.matmul(grads, grads, transpose_b=True)
        weights = self.weighting.compute_weights(losses, gram)
        self.x.assign_sub(self.lr * tf.linalg.matvec(grads, weights, transpose_a=True))

    def __call__(self, x0: np.ndarray, steps: int) -> np.ndarray:
        self.x.assign(tf.constant(x0, tf.float32))
        return self._run(tf.constant(steps, tf.int32)).numpy().astype(np.float64)


def run_synthetic(
    method: str,
    *,
    num_runs: int,
    seed: int,
    steps: int = 100,
    lr: float = 1.0,
    n: int = 20,
    grad_normalization: str = "none",
    pareto_loss_scale: str = "none",
    pareto_grad_normalization: str = "none",
) -> dict[str, Any]:
    """Runs one method of Pareto MTL Fig. 2 `num_runs` times.

    Args:
      method: ``"gs"`` (random linear scalarisation), ``"mgda"`` or ``"pareto_mtl"``.
      num_runs: independent runs; for ``"pareto_mtl"`` the number of preference vectors
        (one run per preference; the paper uses 10).
      seed: seeds the starting points (and the ``"gs"`` weights).
      steps: iterations per run (Pareto MTL: the feasible start may use up to 20%).
      lr: step size.
      n: dimension of x.
      grad_normalization: MGDA's gradient normalisation (`mtl_tf.weighting.mgda`).
      pareto_loss_scale: Pareto MTL's `loss_scale` (`mtl_tf.weighting.pareto_mtl`).
      pareto_grad_normalization: Pareto MTL's `grad_normalization` (same module).
        The three defaults are the references'.

    Returns:
      {"method", "solutions": [runs, 2] objective values at the final x, "angles_deg":
      [runs] angle of each solution from the f1 axis, "x0": [runs, n]}, plus for
      ``"gs"`` "task_weights" [runs, 2], and for ``"pareto_mtl"`` "preferences" [K, 2],
      "preference_angles_deg" [K], "angle_error_deg" [K] (solution angle minus own
      preference angle), "own_region" [K] (True when the solution's largest cosine is with
      its own preference, i.e. it lies in sub-region Omega_k of eq. 6), and "init_steps".
    """
    if method not in METHODS:
        raise ValueError(f"unknown synthetic method {method!r}; allowed: {', '.join(METHODS)}")
    if num_runs < 1:
        raise ValueError(f"num_runs must be >= 1, got {num_runs}")
    rng = np.random.default_rng(seed)
    x0 = rng.uniform(-0.5, 0.5, size=(num_runs, n))
    result: dict[str, Any] = {"method": method, "x0": x0}
    solutions = []
    if method == "gs":
        r = rng.uniform(0.0, 1.0, size=num_runs)
        weights = np.stack([r, 1.0 - r], axis=1)
        for i in range(num_runs):
            descent = _Descent(FixedWeighting(2, weights[i].tolist()), n, lr)
            solutions.append(descent(x0[i], steps))
        result["task_weights"] = weights
    elif method == "mgda":
        # MGDA is stateless: one compiled loop serves every run.
        descent = _Descent(MGDAWeighting(2, normalization=grad_normalization), n, lr)
        solutions = [descent(x0[i], steps) for i in range(num_runs)]
    else:
        prefs = preference_vectors(2, num_runs)
        init_steps = []
        for k in range(num_runs):
            # rescale=False: the reference's synthetic script uses the raw eq. 18 weights
            # (its network training rescales to sum |alpha| = m, which doubles the step here).
            weighting = ParetoMTLWeighting(
                2, prefs, k, max_init_steps=int(INIT_FRACTION * steps), rescale=False,
                loss_scale=pareto_loss_scale, grad_normalization=pareto_grad_normalization,
            )
            solutions.append(_Descent(weighting, n, lr)(x0[k], steps))
            init_steps.append(int(weighting.init_steps.numpy()))
        sol = np.asarray(solutions)
        cosine = (sol / np.linalg.norm(sol, axis=1, keepdims=True)) @ prefs.T
        result["preferences"] = prefs
        result["preference_angles_deg"] = angle_deg(prefs)
        result["angle_error_deg"] = angle_deg(sol) - angle_deg(prefs)
        result["own_region"] = np.argmax(cosine, axis=1) == np.arange(num_runs)
        result["init_steps"] = np.asarray(init_steps)
    result["solutions"] = np.asarray(solutions)
    result["angles_deg"] = angle_deg(result["solutions"])
    return result


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


# Fig. 2's methods by weighting strategy: the example has no network, so a method is its
# weighting (its encoder plays no part).
_BY_WEIGHTING = {"fixed": "gs", "mgda": "mgda", "pareto_mtl": "pareto_mtl"}


def method_for(spec: Any) -> str:
    """The Fig. 2 method (a key of `METHODS`) that runs `spec` (a `MethodSpec`).

    Raises:
      ValueError: `spec` has no counterpart in the example (single-task methods,
        uncertainty weighting, GradNorm: they need a network).
    """
    if spec.single_task or spec.weighting not in _BY_WEIGHTING:
        raise ValueError(
            "--dataset=synthetic supports the multi-task methods with fixed, MGDA or Pareto "
            f"MTL weights (--method=gs, mgda, pareto_mtl), not {spec.name}"
        )
    return _BY_WEIGHTING[spec.weighting]


_TITLES = {
    "gs": "Random linear scalarisation",
    "mgda": "MOO-MTL (MGDA)",
    "pareto_mtl": "Pareto MTL",
}


def write_synthetic_report(
    results_by_method: Mapping[str, Mapping[str, Any]], output_dir: str | os.PathLike
) -> dict[str, str]:
    """Writes `solutions.json` and `synthetic_front.png` (Pareto MTL Fig. 2) atomically.

    Args:
      results_by_method: method -> the dict returned by `run_synthetic`.
      output_dir: created if missing.

    Returns:
      {"json": path, "png": path}.
    """
    import matplotlib

    matplotlib.use("Agg")  # headless: no display on training machines
    import matplotlib.pyplot as plt

    output_dir = os.fspath(output_dir)
    os.makedirs(output_dir, exist_ok=True)
    json_path = os.path.join(output_dir, "solutions.json")
    png_path = os.path.join(output_dir, "synthetic_front.png")
    front = true_front()
    atomic_write_json(json_path, _jsonable({"true_front": front, "methods": results_by_method}))

    methods = list(results_by_method)
    fig, axes = plt.subplots(1, max(len(methods), 1), figsize=(4.2 * max(len(methods), 1), 4.2),
                             squeeze=False)
    for ax, name in zip(axes[0], methods, strict=False):
        res = results_by_method[name]
        sol = np.asarray(res["solutions"])
        ax.plot(front[:, 0], front[:, 1], color="tab:blue", lw=1.5, label="Pareto front")
        if "preferences" in res:
            for u in np.asarray(res["preferences"]):
                ax.plot([0, 1.1 * u[0]], [0, 1.1 * u[1]], color="0.75", lw=0.8, ls="--")
        ax.scatter(sol[:, 0], sol[:, 1], c="tab:red", s=40, zorder=3, label="solutions")
        ax.set_xlim(-0.03, 1.1)  # margin: the ends of the front sit on the axes
        ax.set_ylim(-0.03, 1.1)
        ax.set_aspect("equal")
        ax.set_xlabel("$f_1$")
        ax.set_ylabel("$f_2$")
        ax.set_title(f"{_TITLES.get(name, name)} ({len(sol)} runs)")
        ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=100)
    finally:
        plt.close(fig)
    # Atomic, and with the user's umask (mkstemp would make it 0600).
    atomic_write_bytes(png_path, buffer.getvalue())
    return {"json": json_path, "png": png_path}
