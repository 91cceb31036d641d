"""Train-and-evaluate driver: one run directory, one or several trained models.

A run directory holds everything a run produced:

    <output_dir>/
      config.json          the resolved `RunConfig` (a rerun with other settings is refused;
                           which settings define a run: `mtl_tf.run_dir.rules`)
      flags.txt            (CLI only) a flagfile that reproduces the run
      metrics.json         test metrics, schema in `mtl_tf.evaluation.schema`
      .lock                held while a process writes the run (`mtl_tf.run_dir.lock`)
      tensorboard/, checkpoints/, last_epoch_logs.json
                           one model's training (`mtl_tf.training.fit`)
      models/<name>/...    the same, per model, for methods that train several models
                           (one per task, or one per strategy variant: Pareto MTL)
      grid/<i>/, tuner/    a weight grid search (`mtl_tf.orchestration.grid_search`)
      <model>/tensorboard/hparams/, tensorboard/figures/
                           one TensorBoard HParams row per model, the run's figures
                           (`mtl_tf.evaluation.tensorboard_summaries`)

`run` validates everything first (method, run directory, data, strategy options), so
bad input leaves no trace, then locks the run directory, trains each planned model
(`mtl_tf.training.fit.fit_model`), evaluates it on the test set, clean and under
attack (`mtl_tf.evaluation`), and writes metrics.json.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time

import keras
import numpy as np
import tensorflow as tf

from mtl_tf import methods as methods_lib
from mtl_tf import run_dir as run_dir_lib
from mtl_tf import synthetic
from mtl_tf.choices import REGRESSION_LOSS_UNITS
from mtl_tf.config import RunConfig, parse_update_freq
from mtl_tf.data.datasets import load_run_dataset
from mtl_tf.evaluation import schema
from mtl_tf.evaluation.protocol import Protocol
from mtl_tf.evaluation.robustness import overall_result
from mtl_tf.evaluation.summary import format_summary
from mtl_tf.evaluation.tensorboard_summaries import write_run_summaries
from mtl_tf.io_utils import atomic_write_json, atomic_write_text
from mtl_tf.orchestration.grid_search import run_grid_search
from mtl_tf.orchestration.model import train_model
from mtl_tf.training import distribute
from mtl_tf.training.fit import ModelPlan, plan_models
from mtl_tf.weighting import registered
from mtl_tf.weighting.fixed import grid_weight_vectors

__all__ = ["check_run_dir", "format_summary", "run"]


def check_run_dir(run_dir: str, config: RunConfig) -> None:
    """Refuses to mix runs: an existing config.json must match `config` (up to the
    fields a rerun may change, `mtl_tf.run_dir.RESUMABLE_FIELDS`)."""
    run_dir_lib.check_same_run(run_dir, config)


def run(config: RunConfig, data=None, extra_files: dict[str, str] | None = None) -> dict:
    """Trains and evaluates every model of `config.method`; writes metrics.json.

    Everything that can be wrong with the input (method, run directory, data, task
    weights) is checked before anything is written, so bad input leaves no trace.

    Args:
      config: the run configuration.
      data: a `mtl_tf.data.datasets.MultiTaskData`; loaded from `config` when None.
      extra_files: name -> text, written (atomically) into the run directory once the
        input is validated (the CLI's flags.txt).

    Returns:
      The metrics dictionary written to `<output_dir>/metrics.json`.
    """
    start = time.time()
    spec = methods_lib.get_method(config.method)
    run_dir = config.output_dir
    check_run_dir(run_dir, config)
    parse_update_freq(config.tb_update_freq)  # a library caller's bad value, before writing
    if config.etas and config.dataset != "synthetic":
        # The evaluation protocol, before training rather than after it.
        Protocol.from_config(config).eta_scale(config.dataset)
    if config.regression_loss_units not in REGRESSION_LOSS_UNITS:
        raise ValueError(f"unknown --regression_loss_units {config.regression_loss_units!r}; "
                         f"allowed: {', '.join(REGRESSION_LOSS_UNITS)}")
    if config.strategy not in distribute.STRATEGIES:
        raise ValueError(f"unknown --strategy {config.strategy!r}; allowed: "
                         f"{', '.join(distribute.STRATEGIES)}")
    if config.strategy != "none" and (config.dataset == "synthetic" or config.grid_points):
        raise ValueError(
            f"--strategy={config.strategy} distributes network training; it does not apply "
            "to --dataset=synthetic or to --grid_points (use --strategy=none)"
        )
    # Before any TensorFlow op: a multi-worker strategy configures the runtime.
    strategy = distribute.make_strategy(config.strategy)
    chief = distribute.is_chief(strategy)
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    if config.dataset == "synthetic":
        return _run_synthetic(config, spec, extra_files, start)
    if config.grid_points and not spec.grid_search:
        raise ValueError(f"--grid_points searches fixed task weights (--method=gs); "
                         f"{spec.name} has none to search")
    if config.grid_points and config.val_size <= 0:
        raise ValueError("--grid_points needs validation pairs: pass --val_size > 0")

    if data is None:
        data = load_run_dataset(config)
    # The specs (so metrics.json, a restored model and its attacks) carry the scales.
    data = data.with_regression_loss_units(config.regression_loss_units)
    if config.grid_points:
        grid_weight_vectors(len(data.task_names), config.grid_points)  # validate before writing
        plans = []
    else:
        # Under the strategy: the weightings' state must be distributed variables.
        with distribute.scope(strategy), distribute.replica_identical_state(strategy):
            # Validates the weighting options.
            plans = plan_models(config, spec, data.task_names, data.num_examples("train"))
    # Only the chief writes the run directory; it holds the directory's lock throughout,
    # so a second process started on the same --output_dir is refused, not interleaved.
    with run_dir_lib.locked(run_dir) if chief else contextlib.nullcontext():
        if chief:
            check_run_dir(run_dir, config)  # again: another process may have written it
            atomic_write_json(os.path.join(run_dir, "config.json"),
                              run_dir_lib.config_dict(config))
            for name, text in (extra_files or {}).items():
                atomic_write_text(os.path.join(run_dir, name), text)
        return _train_and_report(config, spec, data, plans, strategy, start)


def _train_and_report(config: RunConfig, spec, data, plans: list[ModelPlan], strategy,
                      start: float) -> dict:
    """Trains every planned model (or the grid), then writes metrics.json."""
    run_dir = config.output_dir
    chief = distribute.is_chief(strategy)
    model_results = []
    logits_by_task: dict[str, np.ndarray] = {}
    grid = None
    if config.grid_points:
        grid_results, best = run_grid_search(config, spec, data, run_dir)
        grid = {"points": grid_results, "best_index": best,
                "selected_by": "validation joint accuracy"}
        # The grid's answer is its best point: report it as the run's model.
        model_results.append(grid_results[best])
        logits_by_task = None
    for plan in plans:
        model_dir = os.path.join(run_dir, plan.subdir) if plan.subdir else run_dir
        _, summary, logits = train_model(config, spec, data, plan, model_dir, strategy)
        model_results.append({"name": plan.name, "directory": plan.subdir or ".", **summary})
        logits_by_task.update(logits)

    overall = overall_result(
        single_task=spec.single_task, model_results=model_results,
        logits_by_task=logits_by_task, labels=data.test_labels, task_names=data.task_names,
        best_index=0 if grid is not None else None, specs=data.tasks)

    metrics = schema.build_metrics(
        config=config,
        spec=spec,
        data=data,
        model_results=model_results,
        overall=overall,
        wall_time_seconds=time.time() - start,
    )
    if grid is not None:
        metrics["grid"] = grid
    if chief:
        atomic_write_json(os.path.join(run_dir, "metrics.json"), metrics)
        # After metrics.json: the TensorBoard rows show exactly the recorded results.
        write_run_summaries(run_dir, config, metrics)
    return metrics


def _run_synthetic(config: RunConfig, spec, extra_files, start: float) -> dict:
    """Pareto MTL §5: the concave two-objective example, for pareto_mtl, gs and mgda."""
    method = synthetic.method_for(spec)
    # A strategy with variants (Pareto MTL's preferences) runs once per variant.
    variants = registered()[spec.weighting].model_variants(
        dataclasses.replace(config, preference_index=None))
    num_runs = len(variants) or config.synthetic_runs
    results = synthetic.run_synthetic(
        method, num_runs=num_runs, seed=config.seed,
        grad_normalization=config.grad_normalization,
        pareto_loss_scale=config.pareto_loss_scale,
        pareto_grad_normalization=config.pareto_grad_normalization)
    with run_dir_lib.locked(config.output_dir):
        atomic_write_json(os.path.join(config.output_dir, "config.json"),
                          run_dir_lib.config_dict(config))
        for name, text in (extra_files or {}).items():
            atomic_write_text(os.path.join(config.output_dir, name), text)
        paths = synthetic.write_synthetic_report({method: results}, config.output_dir)
    metrics = {
        "schema_version": schema.SCHEMA_VERSION,
        "method": spec.name,
        "dataset": "synthetic",
        "tasks": ["f1", "f2"],
        "accuracy": None,
        "joint_accuracy": None,
        "models": [],
        "synthetic": _jsonable(results),
        "files": [os.path.basename(p) for p in paths],
        "epochs": 0,
        "seed": config.seed,
        "wall_time_seconds": round(time.time() - start, 3),
    }
    atomic_write_json(os.path.join(config.output_dir, "metrics.json"), metrics)
    return metrics


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
