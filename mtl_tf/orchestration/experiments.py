"""Running a named experiment: every method trained, then the experiment's report.

An `Experiment` (`mtl_tf.orchestration.experiment_catalog`) is the comparison behind one
of the papers' tables or figures: every method of the list is trained with ONE shared
budget (as MTVIB §VI-B compares its methods) into ``<report_dir>/runs/<method>``, and
`run_experiment` then writes the report (`mtl_tf.evaluation.reports.write_report`) into
``<report_dir>``. Wall-time estimates: `mtl_tf.orchestration.experiment_cost`.

The command line reads `EXPERIMENTS` from here before TensorFlow loads, so this module
imports none at import time (`run_experiment` loads it).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from typing import Any

from absl import logging

from mtl_tf.config import RunConfig
from mtl_tf.orchestration.experiment_catalog import (
    EXPERIMENTS,
    Experiment,
    get_experiment,
    method_config,
)
from mtl_tf.orchestration.experiment_cost import estimate_seconds

# EXPERIMENTS is re-exported: the command line looks experiments up here.
__all__ = ["EXPERIMENTS", "run_experiment"]


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
    # Lazy: TensorFlow and the trainers; this module stays TF-free at import (the command
    # line validates --experiment before loading TensorFlow).
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

        paper = PAPER_TABLES[exp.paper_table]
        tasks = next(iter(metrics_by_method.values()))["tasks"]
        if list(tasks) == list(paper.tasks):
            extra_files["paper_comparison.md"] = comparison_markdown(metrics_by_method, paper)
        else:
            # Other --tasks (e.g. MTFL's landmarks beside its attributes): the published
            # table does not describe them; the rest of the report still does.
            logging.warning("%s: no paper_comparison.md: the runs' tasks %s are not those "
                            "of %s (%s)", name, list(tasks), paper.title, list(paper.tasks))
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
