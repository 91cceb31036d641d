"""Named experiments as data: which methods, on which data set, with which budget.

An `Experiment` is the comparison behind one of the papers' tables or figures: every
method of the list is trained with ONE shared budget (as MTVIB §VI-B compares its
methods) into ``<report_dir>/runs/<method>``, and `run_experiment` then writes the report
(`mtl_tf.evaluation.reports.write_report`) into ``<report_dir>``.

Full experiments (the papers' budgets, MTVIB §VI-A/B): 120,000 training and 10,000 test
pairs (MTFL: 9,000 / 1,000 images), 200 epochs, Adam lr 1e-4, batch 200, Small AlexNet
(Tables I-II), VIB latent 256 and beta 1e-3; grid search over 3 weight vectors picked on
10,000 validation pairs; Pareto MTL with 5 preferences. The validation split is part of
the SHARED budget (every method's ``val_size``), because holding out validation images
changes which images the training pairs are built from: with a per-method split GS
would train on different pairs than the others.

Quick experiments (``quick_<dataset>``) keep the method list and shrink the data and
the epochs so that the whole list finishes on 2 CPU cores in under 30 minutes; grid
search is then a single equal-weight run (no grid, no validation split). The estimate
is computed by `estimate_seconds` from measured speeds (see `COST_MODEL`):

* quick_multi_mnist, quick_multi_fashion: 6,000 / 2,000 pairs, 3 epochs, all 8 methods:
  ~19 min each;
* quick_multi_fashion_mnist: same budget, the 6 methods of Pareto MTL Fig. 4: ~15 min;
* quick_mtfl: 2,400 / 1,000 images, 3 epochs, 5 methods: ~21 min;
* multi_mnist, multi_fashion (full): 120,000 / 10,000 pairs, 200 epochs: ~14 days each;
* multi_fashion_mnist (full): same budget, 6 methods: ~11 days;
* mtfl (full): 9,000 / 1,000 images, 200 epochs: ~3.3 days.

Reproduction experiments (``repro_<dataset>``, the published BENCHMARKS.md): the full
method lists with GS's real 3-point grid picked on 2,000 validation pairs, 12,000 training
and 5,000 test pairs, 3 epochs; estimated 39 / 39 / 31 min (measured: see BENCHMARKS.md).
MTFL's reproduction uses ``quick_mtfl``. ``--methods`` reruns a subset of an experiment
(the key cells of a claim) under another ``--seed``.

(`python -c "from mtl_tf.orchestration import experiments as e; print(e.format_estimates())"` prints
the current numbers.) Worked example, quick_multi_mnist: training image-passes weighted by
step cost = 3 epochs x 6,000 pairs x (STL 2 + GS 1 + UWL 1 + GradNorm 1 + MGDA 1.7 +
Pareto MTL 5 x 1.7) / 440 img/s = 621 s, plus the VIB methods 3 x 6,000 x (STVIB 2 +
MTVIB 1) / 280 img/s = 193 s; 14 models each evaluate the 2,000 test pairs after every
epoch and at the end (4 passes at 1,500 img/s: 75 s in all) and run the FGSM grid
(2.1 passes: 39 s); plus 15 s per model of graph tracing and checkpointing (210 s):
about 1,140 s = 19 min.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from absl import logging

from mtl_tf.config import RunConfig

__all__ = [
    "COST_MODEL",
    "EXPERIMENTS",
    "Experiment",
    "estimate_seconds",
    "format_estimates",
    "get_experiment",
    "method_config",
    "run_experiment",
]

_CONFIG_FIELDS = frozenset(f.name for f in dataclasses.fields(RunConfig))
# Set per method by `run_experiment` itself, never by an experiment.
_RESERVED_FIELDS = frozenset({"method", "dataset", "output_dir"})


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One named comparison.

    Attributes:
      name: the experiment's key in `EXPERIMENTS`.
      dataset: the `--dataset` of every run.
      methods: the `--method`s to train, in report order.
      overrides: `RunConfig` fields shared by every method (the budget).
      description: one line for listings and reports.
      method_overrides: method -> extra `RunConfig` fields for that method only, for
        settings that exist for one method alone (GS's grid, Pareto MTL's preferences).
      paper_table: key of `mtl_tf.evaluation.paper_tables.PAPER_TABLES` whose published
        numbers the report prints beside ours (``paper_comparison.md``), or None.
      example_method: the method whose model draws the clean and adversarial example
        images (MTVIB Figs. 2-3 show MTVIB's); the first method run when it was not run.
    """

    name: str
    dataset: str
    methods: tuple[str, ...]
    overrides: Mapping[str, Any]
    description: str = ""
    method_overrides: Mapping[str, Mapping[str, Any]] = dataclasses.field(
        default_factory=dict
    )
    paper_table: str | None = None
    example_method: str = "mtvib"

    def __post_init__(self) -> None:
        # Fail at definition time, not after hours of training the first methods.
        for where, fields in [("overrides", self.overrides)] + [
            (f"method_overrides[{m!r}]", o) for m, o in self.method_overrides.items()
        ]:
            unknown = sorted(set(fields) - _CONFIG_FIELDS)
            reserved = sorted(set(fields) & _RESERVED_FIELDS)
            if unknown:
                raise ValueError(f"experiment {self.name}: {where} has unknown RunConfig "
                                 f"fields {unknown}")
            if reserved:
                raise ValueError(f"experiment {self.name}: {where} may not set {reserved}")
        extra = sorted(set(self.method_overrides) - set(self.methods))
        if extra:
            raise ValueError(f"experiment {self.name}: method_overrides for methods not run: "
                             f"{extra}")
        # Read-only views: an Experiment is shared module-level data.
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides)))
        object.__setattr__(self, "method_overrides", MappingProxyType(
            {m: MappingProxyType(dict(o)) for m, o in self.method_overrides.items()}))


# ----------------------------------------------------------------------------- budgets
# MTVIB §VI-B: Adam, lr 1e-4, batch 200, 200 epochs, latent 256, beta 1e-3; Small AlexNet
# (Tables I-II). Listed explicitly so that an experiment does not depend on RunConfig's
# defaults (which are a short CPU budget).
_MTVIB_TRAINING = {
    "backbone": "small_alexnet",
    "optimizer": "adam",
    "learning_rate": 1e-4,
    "batch_size": 200,
    "latent_dim": 256,
    "beta": 1e-3,
}
_FULL_PAIRS = {"train_size": 120_000, "test_size": 10_000, "val_size": 10_000, "epochs": 200}
_QUICK_PAIRS = {"train_size": 6_000, "test_size": 2_000, "val_size": 0, "epochs": 3}
# The reduced budget of the published reproduction (BENCHMARKS.md, issue 8): the full
# lists with GS's real grid search on a validation split, sized so that the three
# MultiMNIST-family tables plus two more seeds of the key cells finish within one 3-hour
# session on 2 CPU cores. 12,000 pairs x 3 epochs = 180 Adam steps per model; 5,000 test
# pairs put the standard error of an accuracy near 70% at 0.65 points.
_REPRO_PAIRS = {"train_size": 12_000, "test_size": 5_000, "val_size": 2_000, "epochs": 3}
# MTVIB §VI-A: 9,000 training and 1,000 test images of MTFL's 10,000 + 2,995; the 1,000
# validation images are the rest of MTFL's training split.
_FULL_MTFL = {"train_size": 9_000, "test_size": 1_000, "val_size": 1_000, "epochs": 200}
# 2,400 = 12 batches of 200: with MTFL ~4x slower per image than MultiMNIST the four STL
# and four STVIB models dominate; 3,000 images would estimate ~25 min, too close to 30.
_QUICK_MTFL = {"train_size": 2_400, "test_size": 1_000, "val_size": 0, "epochs": 3}

_MTVIB_METHODS = ("stl", "stvib", "gs", "uwl", "mtvib", "gradnorm", "mgda", "pareto_mtl")
# Pareto MTL Fig. 4: Single Task (the reference), Grid Search, Uncertainty, GradNorm,
# MOO-MTL and Pareto MTL.
_PARETO_METHODS = ("stl", "gs", "uwl", "gradnorm", "mgda", "pareto_mtl")
_MTFL_METHODS = ("stl", "stvib", "gs", "uwl", "mtvib")


def _full_method_overrides(methods: tuple[str, ...], grid_points: int) -> dict:
    # gs: linear scalarisation over the interior simplex lattice, best point by validation
    # joint accuracy (Pareto MTL §6.1's baseline); pareto_mtl: 5 preferences (Lin et al.).
    out: dict[str, dict] = {"gs": {"grid_points": grid_points}}
    if "pareto_mtl" in methods:
        out["pareto_mtl"] = {"num_preferences": 5}
    return out


def _quick_method_overrides(methods: tuple[str, ...]) -> dict:
    # gs: one run with equal weights (no grid); task_weights None = 1/m each.
    out: dict[str, dict] = {"gs": {"grid_points": 0, "task_weights": None}}
    if "pareto_mtl" in methods:
        out["pareto_mtl"] = {"num_preferences": 5}
    return out


def _experiments() -> dict[str, Experiment]:
    paper = {
        "multi_mnist": ("MultiMNIST", _MTVIB_METHODS, "MTVIB Table III, Fig. 2, Fig. 5(a)",
                        "mtvib_table_iii"),
        "multi_fashion": ("MultiFashion", _MTVIB_METHODS, "MTVIB Table IV, Fig. 3, Fig. 5(b)",
                          "mtvib_table_iv"),
        "multi_fashion_mnist": ("Multi-(Fashion+MNIST)", _PARETO_METHODS,
                                "Pareto MTL Fig. 4(c)", None),
    }
    experiments = {}
    for dataset, (title, methods, reproduces, table) in paper.items():
        experiments[dataset] = Experiment(
            dataset, dataset, methods, {**_MTVIB_TRAINING, **_FULL_PAIRS},
            f"{title}, papers' full budget (MTVIB §VI-B): {reproduces}",
            _full_method_overrides(methods, grid_points=3), table,
        )
        experiments[f"repro_{dataset}"] = Experiment(
            f"repro_{dataset}", dataset, methods, {**_MTVIB_TRAINING, **_REPRO_PAIRS},
            f"{title}, the reduced budget of BENCHMARKS.md: {reproduces}",
            _full_method_overrides(methods, grid_points=3), table,
        )
        experiments[f"quick_{dataset}"] = Experiment(
            f"quick_{dataset}", dataset, methods, {**_MTVIB_TRAINING, **_QUICK_PAIRS},
            f"{title}, < 30 min on 2 CPU cores: the layout of {reproduces}",
            _quick_method_overrides(methods), table,
        )
    # MTFL has four tasks: grid_points=3 would leave one interior vector (1/4 each);
    # 4 gives C(4, 3) = 4 vectors, each favouring one task (2/5 vs 1/5).
    experiments["mtfl"] = Experiment(
        "mtfl", "mtfl", _MTFL_METHODS, {**_MTVIB_TRAINING, **_FULL_MTFL},
        "MTFL (4 tasks), papers' full budget: MTVIB Table V, Fig. 4, Fig. 5(c)",
        _full_method_overrides(_MTFL_METHODS, grid_points=4), "mtvib_table_v",
    )
    experiments["quick_mtfl"] = Experiment(
        "quick_mtfl", "mtfl", _MTFL_METHODS, {**_MTVIB_TRAINING, **_QUICK_MTFL},
        "MTFL (4 tasks), < 30 min on 2 CPU cores: the layout of MTVIB Table V, Fig. 5(c)",
        _quick_method_overrides(_MTFL_METHODS), "mtvib_table_v",
    )
    return experiments


EXPERIMENTS: dict[str, Experiment] = _experiments()


def get_experiment(name: str) -> Experiment:
    """Looks up an experiment; ValueError lists the known names."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(sorted(EXPERIMENTS))}")
    return EXPERIMENTS[name]


# ----------------------------------------------------------------------------- cost model
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
    "num_tasks": {"mtfl": 4},
}


def method_config(exp: Experiment, method: str, base_config: RunConfig,
                  report_dir: str) -> RunConfig:
    """The `RunConfig` of one method of `exp`: base, then the shared budget, then the
    method's own overrides."""
    return dataclasses.replace(
        base_config,
        method=method,
        dataset=exp.dataset,
        output_dir=os.path.join(report_dir, "runs", method),
        **dict(exp.overrides),
        **dict(exp.method_overrides.get(method, {})),
    )


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
    rates divided by the data set's slowdown. See `COST_MODEL`.

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
        train_rate = cm["train_images_per_second"][encoder] / slow
        infer_rate = cm["inference_images_per_second"] / slow
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
        lines.append(f"{name:<28} {seconds:>12,.0f} s  ({human})")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- running
def run_experiment(
    name: str,
    *,
    base_config: RunConfig,
    report_dir: str,
    run: Callable[[RunConfig], dict] | None = None,
    methods: tuple[str, ...] | None = None,
    **report_kwargs: Any,
) -> dict:
    """Trains every method of experiment `name` and writes its report into `report_dir`.

    Each method runs in ``<report_dir>/runs/<method>`` with `method_config`. A rerun
    resumes: finished runs (metrics.json present, same config) are read back, not run
    again; unfinished ones resume from their epoch checkpoints (`run` does that).

    Args:
      name: a key of `EXPERIMENTS`.
      base_config: settings not fixed by the experiment (data_dir, seed, etas, ...).
      report_dir: where the runs and the report go.
      run: ``run(config) -> metrics``; default `mtl_tf.orchestration.runs.run`.
      methods: a subset of the experiment's methods to run and report (for example the
        key cells of a claim, rerun under more seeds); None runs them all. Each method's
        config is the same as in the full experiment, so the runs are interchangeable.
      **report_kwargs: passed to `mtl_tf.evaluation.reports.write_report` (e.g.
        example_model, example_images, example_labels).

    Returns:
      {"experiment": name, "metrics": {method: metrics}, "report": {file: path},
       "estimate_seconds": {...}}.

    Raises:
      ValueError: on an unknown experiment name (listing the known ones), or on
        `methods` that the experiment does not have.
    """
    exp = get_experiment(name)
    if methods:
        unknown = [m for m in methods if m not in exp.methods]
        if unknown:
            raise ValueError(f"experiment {name} has no method(s) {', '.join(unknown)}; "
                             f"--methods must be a subset of {', '.join(exp.methods)}")
        # Report order stays the experiment's.
        exp = dataclasses.replace(
            exp, methods=tuple(m for m in exp.methods if m in methods),
            method_overrides={m: o for m, o in exp.method_overrides.items() if m in methods})
    # Lazy: TensorFlow and the trainers; the experiment definitions above stay TF-free
    # (the command line validates --experiment before loading TensorFlow).
    from mtl_tf.evaluation.reports import write_report
    from mtl_tf.run_dir import finished_metrics

    if run is None:
        from mtl_tf.orchestration.runs import run

    metrics_by_method: dict[str, dict] = {}
    for method in exp.methods:
        config = method_config(exp, method, base_config, report_dir)
        finished = finished_metrics(config)
        if finished is not None:
            logging.info("%s/%s: finished run found in %s", name, method, config.output_dir)
            metrics_by_method[method] = finished
            continue
        logging.info("%s/%s: training into %s", name, method, config.output_dir)
        metrics_by_method[method] = run(config)
    if "example_model" not in report_kwargs:
        report_kwargs.update(_example_kwargs(exp, metrics_by_method, report_dir))
    extra_files = {}
    if exp.paper_table:
        from mtl_tf.evaluation.paper_tables import PAPER_TABLES, comparison_markdown

        extra_files["paper_comparison.md"] = comparison_markdown(
            metrics_by_method, PAPER_TABLES[exp.paper_table])
    paths = write_report(metrics_by_method, report_dir, extra_files=extra_files,
                         **report_kwargs)
    # Every model one HParams row under `tensorboard --logdir <report_dir>`, plus figures.
    from mtl_tf.evaluation.tensorboard_summaries import write_experiment_summaries

    configs = {m: method_config(exp, m, base_config, report_dir) for m in metrics_by_method}
    write_experiment_summaries(report_dir, metrics_by_method, configs,
                               {m: c.output_dir for m, c in configs.items()})
    return {
        "experiment": name,
        "metrics": metrics_by_method,
        "report": paths,
        "estimate_seconds": estimate_seconds(exp, base_config),
    }


def _example_kwargs(exp: Experiment, metrics_by_method: Mapping[str, dict],
                    report_dir: str) -> dict[str, Any]:
    """The model and test images whose clean and adversarial versions the report draws
    (MTVIB Figs. 2-3): `exp.example_method`'s first model if it was run, else the first
    method's."""
    from mtl_tf.data.datasets import load_run_dataset
    from mtl_tf.data.pipeline import split_dataset
    from mtl_tf.run_dir.restore import restore_run

    ran = list(metrics_by_method)
    method = exp.example_method if exp.example_method in ran else ran[0]
    if not metrics_by_method[method].get("models"):
        return {}
    config, _, _, restored = restore_run(os.path.join(report_dir, "runs", method))
    plan, trainer, _ = restored[0]
    data = load_run_dataset(config)
    images, labels = next(iter(split_dataset(data, "test", plan.task_indices, 8,
                                             shuffle=False, seed=0)))
    return {"example_model": trainer, "example_images": images, "example_labels": labels,
            "example_etas": config.etas or (0.0, 0.1, 0.2, 0.3)}
