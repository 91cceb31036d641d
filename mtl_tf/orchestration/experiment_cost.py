"""Wall-time estimates of the named experiments on 2 CPU cores, from measured speeds.

`estimate_seconds` applies `COST_MODEL` to one experiment; `format_estimates` prints the
current numbers of all of them (``python -c "from mtl_tf.orchestration import
experiment_cost as e; print(e.format_estimates())"``).

Worked example, quick_multi_mnist: training image-passes weighted by step cost = 3 epochs
x 6,000 pairs x (STL 2 + GS 1 + UWL 1 + GradNorm 1 + MGDA 1.7 + Pareto MTL 5 x 1.7) /
440 img/s = 621 s, plus the VIB methods 3 x 6,000 x (STVIB 2 + MTVIB 1) / 280 img/s =
193 s; 14 models each evaluate the 2,000 test pairs after every epoch and at the end (4
passes at 1,500 img/s: 75 s in all) and run the FGSM grid (2.1 passes: 39 s); plus 15 s
per model of graph tracing and checkpointing (210 s): about 1,140 s = 19 min.
"""

from __future__ import annotations

from typing import Any

from mtl_tf.config import RunConfig
from mtl_tf.orchestration.experiment_catalog import EXPERIMENTS, Experiment, method_config

__all__ = ["COST_MODEL", "estimate_seconds", "format_estimates"]

COST_MODEL: dict[str, Any] = {
    # Measured on 2 CPU cores, MultiMNIST-sized 36x36 images (step-cost ratios and FGSM
    # timings: bench/README.md, bench/FGSM.md): training throughput of a Small AlexNet
    # step (Table I(b)) and of a VIB model (Table I(c)/(d)).
    "train_images_per_second": {"deterministic": 440.0, "vib": 280.0},
    "inference_images_per_second": 1500.0,
    # Step cost relative to a GS step: MGDA w.r.t. the shared parameters and Pareto MTL
    # need one backward pass per task (GradNorm and MGDA-UB: ~1x).
    # Keyed by the strategy's `gradient_source`.
    "step_cost": {"params": 1.7},
    # FGSM over the eta grid: ~2.1 inference passes over the test set (clean + gradient
    # pass; every eta's forward pass reuses one sign), per model.
    "fgsm_passes": 2.1,
    # Per model: graph tracing, checkpoint writes, data pipeline start (an assumption).
    "model_overhead_seconds": 15.0,
    # Per-image slowdown of a data set relative to 36x36 MultiMNIST (MTFL: 150x150 RGB).
    "dataset_slowdown": {"mtfl": 4.0},
    # Speed of a backbone relative to Small AlexNet, training and inference alike. LeNet:
    # reference_multi_fashion_mnist_scaled's STL, GS and UWL models took 73-92 s each for
    # 5 epochs of 120,000 pairs (2 shared cores), ~24x Small AlexNet's rate; 20 is kept.
    "backbone_speedup": {"lenet": 20.0},
    "num_tasks": {"mtfl": 4},
}


def _num_models(spec: Any, config: RunConfig, num_tasks: int) -> int:
    from mtl_tf.weighting import registered
    from mtl_tf.weighting.fixed import grid_weight_vectors

    if spec.single_task:
        return num_tasks
    if spec.grid_search and config.grid_points:
        return len(grid_weight_vectors(num_tasks, config.grid_points))
    return len(registered()[spec.weighting].model_variants(config)) or 1


def estimate_seconds(exp: Experiment, base_config: RunConfig | None = None) -> dict[str, float]:
    """Wall-time estimate (2 CPU cores) of every method of `exp` and their total.

    Per model: ``epochs x train_size x step_cost / train_rate`` for training,
    ``(epochs + 1) x eval_size / inference_rate`` for the per-epoch validation pass and
    the final test pass (eval_size: validation pairs for grid points, else test pairs),
    ``fgsm_passes x test_size / inference_rate`` for the FGSM grid, plus a fixed overhead;
    rates divided by the data set's slowdown and multiplied by the backbone's speedup. See
    `COST_MODEL`.

    Returns:
      {method: seconds, ..., "total": seconds}.
    """
    cm = COST_MODEL
    slow = cm["dataset_slowdown"].get(exp.dataset, 1.0)
    num_tasks = cm["num_tasks"].get(exp.dataset, 2)
    out: dict[str, float] = {}
    from mtl_tf.methods import get_method  # lazy: the method registry loads TensorFlow
    from mtl_tf.weighting import build_weighting

    for method in exp.methods:
        config = method_config(exp, method, base_config or RunConfig(), "/unused")
        spec = get_method(method)
        models = _num_models(spec, config, num_tasks)
        encoder = config.resolved_encoder(spec.encoder)
        speed = cm["backbone_speedup"].get(config.backbone, 1.0) / slow
        train_rate = cm["train_images_per_second"][encoder] * speed
        infer_rate = cm["inference_images_per_second"] * speed
        source = build_weighting(spec.weighting, num_tasks, config).gradient_source
        step = cm["step_cost"].get(source, 1.0)
        grid = spec.grid_search and config.grid_points
        eval_size = config.val_size if grid else config.test_size
        per_model = (
            config.epochs * config.train_size * step / train_rate
            + (config.epochs * eval_size + config.test_size) / infer_rate
            + cm["fgsm_passes"] * config.test_size / infer_rate * bool(config.etas)
            + cm["model_overhead_seconds"]
        )
        out[method] = models * per_model
    out["total"] = sum(out.values())
    return out


def format_estimates() -> str:
    """One line per experiment: its estimated wall time on 2 CPU cores."""
    lines = []
    for name, exp in EXPERIMENTS.items():
        seconds = estimate_seconds(exp)["total"]
        human = f"{seconds / 60:.0f} min" if seconds < 2 * 3600 else f"{seconds / 86400:.1f} days"
        lines.append(f"{name:<40} {seconds:>12,.0f} s  ({human})")
    return "\n".join(lines)
