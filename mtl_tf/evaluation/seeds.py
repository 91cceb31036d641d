"""Seed statistics over several reports of one experiment (BENCHMARKS.md's key cells).

A claim such as "MTVIB decays more slowly under FGSM than UWL and GS" (MTVIB §VI-C) or
"Pareto MTL beats GS, UWL and GradNorm" (Pareto MTL §6.1) is a comparison between two
methods; one seed cannot tell it from run-to-run noise. `run_experiment` writes one report
directory per seed (``--seed=N --methods=...``); this module reads them back and gives

* `accuracy_table`: per column (a method, or one Pareto MTL preference), task and eta,
  the mean and sample standard deviation over seeds;
* `paired_differences`: per seed, method A minus method B on the same seed (same pairs,
  same test set, same initialisation seed), with how many seeds favour A;
* `hypervolume_table`: each method's front hypervolume (`reports.front_hypervolumes`)
  per seed, mean and standard deviation, and how many seeds it beats each other method.

`scripts/seed_summary.py` is the command line.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

import numpy as np

from mtl_tf.evaluation import reports, units

__all__ = [
    "accuracy_table",
    "hypervolume_table",
    "load_report",
    "paired_differences",
    "summary_markdown",
]

Report = Mapping[str, dict]  # method -> metrics.json


def load_report(report_dir: str) -> dict[str, dict]:
    """The finished runs of one experiment report: ``<report_dir>/runs/<method>/metrics.json``.

    Raises:
      FileNotFoundError: when `report_dir` has no finished run (naming the directory).
    """
    runs = os.path.join(report_dir, "runs")
    methods = sorted(
        m for m in (os.listdir(runs) if os.path.isdir(runs) else [])
        if os.path.exists(os.path.join(runs, m, "metrics.json"))
    )
    if not methods:
        raise FileNotFoundError(
            f"{report_dir}: no finished run (no runs/<method>/metrics.json); pass the "
            "--report_dir of a finished `main.py --experiment` call")
    return reports.load_run_metrics({m: os.path.join(runs, m) for m in methods})


def _common_methods(seed_reports: Sequence[Report], methods: Sequence[str] | None) -> list[str]:
    if not seed_reports:
        raise ValueError("no reports given: pass one report directory per seed")
    common = [m for m in reports.ordered_methods(seed_reports[0])
              if all(m in r for r in seed_reports)]
    if methods:
        missing = [m for m in methods if m not in common]
        if missing:
            raise ValueError(f"method(s) {', '.join(missing)} are not in every report "
                             f"(common to all: {', '.join(common) or 'none'})")
        common = [m for m in common if m in methods]
    return common


def _column_index(seed_reports: Sequence[Report], methods: Sequence[str]) -> list[dict]:
    """Per report, {(method, column label): column}, built once (Pareto MTL: one column per
    preference)."""
    return [{(m, c.label): c for m in methods for c in reports.method_columns({m: r[m]})}
            for r in seed_reports]


def _value(column, task: str | None, eta: str) -> float | None:
    if column is None:
        return None
    return (reports.joint_accuracy(column, eta) if task is None
            else reports.task_accuracy(column, task, eta))


def _row_label(index: Sequence[dict], task: str | None) -> str:
    # "joint", a task's name, or a regression task's "name (MAE %)" (`reports.task_label`).
    if task is None:
        return "joint"
    return reports.task_label([c for i in index for c in i.values()], task)


def _labels(index: Sequence[dict], method: str) -> list[str]:
    # Columns present in every seed's report, in the first report's order.
    first = [label for (m, label) in index[0] if m == method]
    return [label for label in first if all((method, label) in i for i in index[1:])]


def _mean_sd(values: Sequence[float]) -> tuple[float, float]:
    array = np.asarray(values, dtype=float)
    sd = float(array.std(ddof=1)) if array.size > 1 else float("nan")
    return float(array.mean()), sd


def _fmt(values: Sequence[float | None], metric: str | None = None) -> str:
    # Mean ± sd as the report's cells: an accuracy (or hypervolume) x100 with one decimal,
    # a regression error (`metric` set) in its own units (`units.format_error`).
    present = [v for v in values if v is not None and math.isfinite(v)]
    if len(present) != len(values) or not present:
        return reports.NA
    mean, sd = _mean_sd(present)
    if math.isnan(sd):
        return units.format_score(mean, metric)
    return f"{units.format_score(mean, metric)} ± {units.format_score(sd, metric)}"


def _signed(value: float, metric: str | None) -> str:
    # A paired difference: accuracy points (x100, one decimal) or a regression error
    # difference in the error's own units, with its sign.
    text = units.format_score(abs(value), metric)
    return ("-" if value < 0 else "+") + text


def accuracy_table(
    seed_reports: Sequence[Report], methods: Sequence[str] | None = None
) -> tuple[list[str], list[list[str]]]:
    """Mean ± sample standard deviation (percent) over seeds of every accuracy cell.

    Rows: (task, eta) for every task and then "joint"; columns: every method's columns
    (`reports.robustness_table` layout) present in all reports. A regression task's rows
    are its error in its own units, not x100 (NME or MAE, named with its unit in the row
    label as in the report's table; `units.format_error`).

    Returns:
      (header, rows) of strings.
    """
    methods = _common_methods(seed_reports, methods)
    tasks = reports.common_tasks(seed_reports[0])
    index = _column_index(seed_reports, methods)
    columns = [(m, label) for m in methods for label in _labels(index, m)]
    etas = reports.column_etas(list(index[0].values()))
    header = ["task", "eta"] + [label for _, label in columns]
    rows = []
    every = [c for i in index for c in i.values()]
    for task in [*tasks, None]:
        metric = reports.error_metric(every, task) if task is not None else None
        for eta in etas:
            cells = [_fmt([_value(i[key], task, eta) for i in index], metric)
                     for key in columns]
            rows.append([_row_label(index, task), eta, *cells])
    return header, rows


def paired_differences(
    seed_reports: Sequence[Report], pairs: Sequence[tuple[str, str]]
) -> tuple[list[str], list[list[str]]]:
    """Per (task, eta): method A minus method B, paired by seed, in accuracy points (a
    regression task's rows: in its error's own units).

    Each cell reads ``mean [min, max] k/n``: the mean, smallest and largest per-seed
    difference and the number k of the n seeds in which A is ahead (higher accuracy; for a
    regression task's error rows, lower error: a negative difference). Both methods must
    give one column (not Pareto MTL's several).

    Returns:
      (header, rows) of strings.
    """
    for a, b in pairs:
        _common_methods(seed_reports, [a, b])
    tasks = reports.common_tasks(seed_reports[0])
    etas = reports.column_etas(reports.method_columns(seed_reports[0]))
    paired = sorted({m for pair in pairs for m in pair})
    index = _column_index(seed_reports, paired)
    labels = {}
    for method in paired:
        found = _labels(index, method)
        if len(found) != 1:
            raise ValueError(f"{method} has {len(found)} models per run; paired differences "
                             "need one (compare single-model methods)")
        labels[method] = found[0]
    header = ["task", "eta"] + [f"{reports.display_name(a)} − {reports.display_name(b)}"
                                for a, b in pairs]
    every = [c for i in index for c in i.values()]
    rows = []
    for task in [*tasks, None]:
        # A regression task's rows: error differences in its own units; lower is better.
        metric = reports.error_metric(every, task) if task is not None else None
        for eta in etas:
            cells = []
            for a, b in pairs:
                diffs = []
                for i in index:
                    va = _value(i[(a, labels[a])], task, eta)
                    vb = _value(i[(b, labels[b])], task, eta)
                    if va is None or vb is None:
                        break
                    diffs.append(va - vb)
                if len(diffs) != len(seed_reports):
                    cells.append(reports.NA)
                    continue
                ahead = sum(d < 0 if metric else d > 0 for d in diffs)
                cells.append(f"{_signed(float(np.mean(diffs)), metric)} "
                             f"[{_signed(min(diffs), metric)}, {_signed(max(diffs), metric)}] "
                             f"{ahead}/{len(diffs)}")
            rows.append([_row_label(index, task), eta, *cells])
    return header, rows


def _hv(entry: dict) -> float:
    # None: no classification task, no error space (`front_hypervolumes`); never ahead.
    return entry["error_space"] if entry["error_space"] is not None else float("-inf")


def hypervolume_table(
    seed_reports: Sequence[Report], methods: Sequence[str] | None = None
) -> tuple[list[str], list[list[str]]]:
    """Each method's front hypervolume (error and loss space) over seeds.

    Columns: points per run, error-space and loss-space hypervolume as mean ± sd (x100, so
    that error space reads as percent of the unit square), the per-seed error-space values,
    and for every other method how many seeds this method's error-space hypervolume is
    larger.

    Returns:
      (header, rows) of strings.
    """
    methods = _common_methods(seed_reports, methods)
    per_seed = [reports.front_hypervolumes({m: r[m] for m in methods})["methods"]
                for r in seed_reports]
    header = ["method", "points", "error-space HV ×100", "loss-space HV ×100",
              "error-space HV per seed", "seeds ahead of"]
    rows = []
    for method in methods:
        errors = [s[method]["error_space"] for s in per_seed]
        losses = [s[method]["loss_space"] for s in per_seed]
        ahead = ", ".join(
            f"{reports.display_name(other)} "
            f"{sum(_hv(s[method]) > _hv(s[other]) for s in per_seed)}"
            f"/{len(per_seed)}"
            for other in methods if other != method)
        rows.append([
            reports.display_name(method),
            str(per_seed[0][method]["num_points"]),
            _fmt(errors),
            _fmt(losses),
            ", ".join(reports.NA if e is None else f"{100 * e:.1f}" for e in errors),
            ahead,
        ])
    return header, rows


def summary_markdown(
    report_dirs: Sequence[str],
    *,
    methods: Sequence[str] | None = None,
    pairs: Sequence[tuple[str, str]] = (),
    hypervolume: bool = True,
) -> str:
    """The three tables for `report_dirs` (one per seed) as Markdown."""
    seed_reports = [load_report(d) for d in report_dirs]
    seeds = [str(next(iter(r.values())).get("seed", "?")) for r in seed_reports]
    error_of = reports.error_metrics(seed_reports[0])
    regression = (f" Regression rows ({', '.join(error_of)}): their error in its own units, "
                  f"not % ({units.errors_description(error_of.values())}; lower is better)."
                  if error_of else "")
    out = [f"Seeds: {', '.join(seeds)} ({len(seed_reports)} reports: "
           f"{', '.join(report_dirs)}). Accuracy in %, mean ± sample sd over seeds."
           + regression]
    header, rows = accuracy_table(seed_reports, methods)
    out += ["", reports.markdown_table(header, rows)]
    if pairs:
        header, rows = paired_differences(seed_reports, pairs)
        out += ["", "Paired by seed, accuracy points (regression rows: error difference in "
                "its own units; ahead = lower): mean [min, max] and seeds ahead.", "",
                reports.markdown_table(header, rows)]
    if hypervolume:
        header, rows = hypervolume_table(seed_reports, methods)
        out += ["", "Front hypervolume (error space: reference (1, 1); loss space: "
                "reference (2, 2)), x100, mean ± sample sd over seeds.", "",
                reports.markdown_table(header, rows)]
    return "\n".join(out) + "\n"
