"""The table model every report shares: methods, columns, tasks, etas and cell values.

A report's input is one ``metrics.json`` dictionary per method, keyed by method name.
Keys that name a known method (`mtl_tf.methods`) are ordered and named as the method
says (report order; ``display_name``); any other key is a free-form label (tests, seed
studies): shown as it is, after the known methods, in input order.

Columns of multi-model methods
------------------------------
A method whose run has a single answer (one shared model; STL/STVIB's per-task models
combined; grid search's best point) gets ONE column. A method that trains several models
for the same tasks and has no single answer (Pareto MTL: one model per preference,
top-level ``accuracy``/``robustness`` null) gets ONE COLUMN PER MODEL, "Pareto MTL (pref
i)". Why not the best model by clean joint accuracy: Pareto MTL's point is the trade-off
set; picking one preference after looking at test accuracy would be test-set selection,
and the extreme preferences are exactly the models that differ in robustness per task.

Missing robustness
------------------
Runs made before the FGSM evaluation was added have no ``"robustness"`` section. Their
eta = 0 cell falls back to the clean test accuracy (the same quantity: inference mode on
the test set); other cells have no value (`NA` once formatted).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from absl import logging

from mtl_tf import methods as methods_lib
from mtl_tf.evaluation import units
from mtl_tf.evaluation.units import NA, format_percent, quantity_label
from mtl_tf.tasks import TaskSpec

if TYPE_CHECKING:
    from mtl_tf.methods import MethodSpec

__all__ = [
    "JOINT_ROW",
    "NA",
    "Column",
    "column_etas",
    "common_tasks",
    "display_name",
    "error_metric",
    "error_metrics",
    "format_cell",
    "format_percent",
    "has_robustness",
    "is_single_task",
    "joint_accuracy",
    "method_columns",
    "method_order",
    "ordered_methods",
    "quantity_label",
    "task_accuracy",
    "task_label",
]

JOINT_ROW = "joint"


# ----------------------------------------------------------------------------- methods
def _known_methods() -> dict[str, MethodSpec]:
    # The method table only: reports read method facts without loading TensorFlow.
    return methods_lib.known_methods()


def method_order() -> tuple[str, ...]:
    """The known methods in report order (MTVIB Tables III-V's columns, then the Pareto
    MTL paper's other baselines), as `mtl_tf.methods.known_methods` lists them."""
    return tuple(_known_methods())


def display_name(method: str) -> str:
    """How tables and figures name `method`: its ``display_name`` ("Pareto MTL"), or the
    key itself for a free-form label."""
    spec = _known_methods().get(method)
    name = spec.display_name if spec is not None and spec.display_name else method
    # "|" would end a Markdown cell; method keys are free-form labels.
    return name.replace("|", "/")


def is_single_task(method: str) -> bool:
    """True for the single-task references (STL, STVIB: one model per task)."""
    spec = _known_methods().get(method)
    return spec is not None and spec.single_task


def ordered_methods(metrics_by_method: Mapping[str, Any]) -> list[str]:
    """The keys of `metrics_by_method`: known methods in report order, then the others in
    input order."""
    order = method_order()
    known = [m for m in order if m in metrics_by_method]
    return known + [m for m in metrics_by_method if m not in order]


# ----------------------------------------------------------------------------- columns
@dataclasses.dataclass(frozen=True)
class Column:
    """One table column / one plotted line: a method's single answer or one of its models.

    Attributes:
      label: the column header ("MTVIB", "Pareto MTL (pref 2)").
      method: the metrics key the column comes from.
      robustness: the ``robustness`` section behind the column, None if it has none.
      accuracy: clean test accuracy per task.
      joint_accuracy: clean test joint accuracy.
      index: position among the method's columns (line styles).
    """

    label: str
    method: str
    robustness: dict | None
    accuracy: Mapping[str, float] | None
    joint_accuracy: float | None
    index: int = 0


def _model_label(method: str, model: Mapping[str, Any]) -> str:
    name = str(model.get("name", "?"))
    if name.startswith("preference_"):
        name = "pref " + name[len("preference_") :]
    return f"{display_name(method)} ({name})".replace("|", "/")


def method_columns(metrics_by_method: Mapping[str, dict]) -> list[Column]:
    """The columns of `metrics_by_method`, in `ordered_methods` order (module docstring)."""
    columns: list[Column] = []
    for method in ordered_methods(metrics_by_method):
        metrics = metrics_by_method[method]
        models = metrics.get("models") or []
        if metrics.get("robustness") or metrics.get("accuracy") is not None:
            # One answer: a shared model, STL/STVIB combined, or the grid's best point.
            robustness = metrics.get("robustness")
            if not robustness and len(models) == 1:
                robustness = models[0].get("robustness")
            columns.append(
                Column(display_name(method), method, robustness or None,
                       metrics.get("accuracy"), metrics.get("joint_accuracy"))
            )
        else:
            # Several models for the same tasks (Pareto MTL): one column per model.
            for i, model in enumerate(models):
                columns.append(
                    Column(_model_label(method, model), method, model.get("robustness") or None,
                           model.get("accuracy"), model.get("joint_accuracy"), i)
                )
    return columns


def common_tasks(metrics_by_method: Mapping[str, dict]) -> list[str]:
    """The runs' common task list (a warning is logged if their data sets differ).

    Raises:
      ValueError: if no runs are given or the runs have different tasks (comparing runs
        on different tasks is a mistake).
    """
    if not metrics_by_method:
        raise ValueError("no runs to report on: metrics_by_method is empty")
    tasks = None
    for method, metrics in metrics_by_method.items():
        these = list(metrics["tasks"])
        if tasks is None:
            tasks = these
        elif these != tasks:
            raise ValueError(f"{method} has tasks {these}, the other runs {tasks}")
    datasets = {m.get("dataset") for m in metrics_by_method.values()}
    if len(datasets) > 1:
        logging.warning("Reporting runs on different data sets together: %s", sorted(
            str(d) for d in datasets))
    return tasks or []


def error_metrics(metrics_by_method: Mapping[str, dict]) -> dict[str, str]:
    """Task -> main error metric ("nme" or "mae", `TaskSpec.error_metric`) of every
    regression task of the runs, read from their ``task_specs``.

    Classification tasks are absent (they are scored by accuracy), and so are the tasks of
    runs written before task specs existed (all classification).
    """
    out: dict[str, str] = {}
    for metrics in metrics_by_method.values():
        for entry in metrics.get("task_specs") or ():
            spec = TaskSpec.from_json(entry)
            if spec.error_metric:
                out[spec.name] = spec.error_metric
    return out


def column_etas(columns: Sequence[Column]) -> list[str]:
    """Union of the eta keys of every robustness dict, sorted by value; ["0"] if none."""
    keys = {k for c in columns if c.robustness for k in c.robustness.get("accuracy", {})}
    return sorted(keys, key=float) if keys else ["0"]


def has_robustness(columns: Sequence[Column]) -> bool:
    """True if any column was evaluated under attack."""
    return any(c.robustness for c in columns)


# ----------------------------------------------------------------------------- values
def task_accuracy(column: Column, task: str, eta: str) -> float | None:
    """The column's test accuracy on `task` at `eta` (a robustness key), None if unknown.

    A regression task has no accuracy: its mean error under attack is returned instead
    (NME or MAE, `error_metric`; the table's row label says which, `task_label`), so the
    report shows its error growing with eta.
    """
    if column.robustness:
        value = column.robustness.get("accuracy", {}).get(eta, {}).get(task)
        if value is None:
            value = (column.robustness.get("error") or {}).get(eta, {}).get(task)
        if value is not None:
            return float(value)
    if float(eta) == 0.0 and column.accuracy and column.accuracy.get(task) is not None:
        return float(column.accuracy[task])  # clean accuracy = the eta = 0 entry
    return None


def error_metric(columns: Sequence[Column], task: str) -> str | None:
    """"nme" or "mae" if `task` is a regression task in some column's results, else None."""
    for column in columns:
        metric = ((column.robustness or {}).get("error_metric") or {}).get(task)
        if metric:
            return metric
    return None


def task_label(columns: Sequence[Column], task: str) -> str:
    """A table row's task label: the name, or for a regression task, whose cells are its
    error in its own units (lower is better), not an accuracy in percent, the name with
    that error's metric, unit and direction: "weight MAE (target's units, lower is
    better)" (`units.error_label`)."""
    metric = error_metric(columns, task)
    return f"{task} {units.error_label(metric)}" if metric else task


def joint_accuracy(column: Column, eta: str) -> float | None:
    """The column's joint test accuracy (every task right) at `eta`, None if unknown."""
    if column.robustness and column.robustness.get("joint_accuracy"):
        value = column.robustness["joint_accuracy"].get(eta)
        if value is not None:
            return float(value)
    # STL/STVIB: no joint attack (each task's model is attacked alone), but the clean
    # joint accuracy of their combined predictions is well defined.
    if float(eta) == 0.0 and column.joint_accuracy is not None:
        return float(column.joint_accuracy)
    return None


def format_cell(value: float | None, metric: str | None) -> str:
    """A table cell: an accuracy in percent ("94.8", `metric` None), or a regression
    task's error in its own units ("0.0131", `units.format_error`); `NA` if missing."""
    return units.format_score(value, metric)
