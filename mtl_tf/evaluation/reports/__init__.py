"""Experiment reports: the papers' robustness tables, curves, example grids and fronts.

Input: one `metrics.json` dictionary per method (schema in `mtl_tf.evaluation.schema`),
keyed by method name, e.g. ``{"stl": ..., "gs": ..., "mtvib": ..., "pareto_mtl": ...}``.
Outputs and the paper items they reproduce, one module per concern:

* `columns`: the table model every output shares: methods in report order and their
  display names (asked of `mtl_tf.methods`), one column per method or per Pareto MTL
  preference, tasks, etas and cell values.
* `tables`: `robustness_table` / `write_table_markdown` / `write_table_csv`: MTVIB
  Tables III-V (test accuracy per task and FGSM eta, one column per method), plus a block
  of joint accuracy rows (the numbers of MTVIB Fig. 5); `attack_description`.
* `figures`: `plot_robustness_curves` (the same numbers as curves, one panel per task)
  and `plot_joint_accuracy` (MTVIB Fig. 5).
* `fronts`: `plot_accuracy_front` (Pareto MTL Fig. 4: task 1 vs task 2 test accuracy,
  every model) and `front_hypervolumes` (each method's models in loss and error space).

A regression task (its `TaskSpec` in the runs' ``task_specs``) is shown by its main error
metric (`TaskSpec.error_metric`: NME for landmarks, else MAE) wherever a classification
task shows accuracy: in the target's own units, not x100 (NME as the plain ratio), three
significant figures, with labels naming the metric, its unit and that lower is better
(`mtl_tf.evaluation.units`); the error-space hypervolume covers the classification tasks
only (`fronts.front_hypervolumes`).
* `examples`: `plot_adversarial_examples` (MTVIB Figs. 2-3: clean row, then one row per
  eta; also as TensorBoard images).
* `write`: `write_report`, all of the above into one directory, with a README.md
  (`readme`) that links every file of the report; `load_run_metrics`.

Every file is written atomically (temporary name in the destination directory + rename,
`mtl_tf.io_utils`), so a crashed or concurrent report never leaves a truncated file.
"""

from __future__ import annotations

from mtl_tf.evaluation.reports.columns import (
    JOINT_ROW,
    NA,
    Column,
    column_etas,
    common_tasks,
    display_name,
    error_metric,
    error_metrics,
    format_cell,
    format_percent,
    has_robustness,
    is_single_task,
    joint_accuracy,
    method_columns,
    method_order,
    ordered_methods,
    quantity_label,
    task_accuracy,
    task_label,
)
from mtl_tf.evaluation.reports.examples import (
    MTVIB_ETAS,
    default_example_etas,
    plot_adversarial_examples,
)
from mtl_tf.evaluation.reports.figures import plot_joint_accuracy, plot_robustness_curves
from mtl_tf.evaluation.reports.fronts import (
    front_hypervolumes,
    front_points,
    plot_accuracy_front,
)
from mtl_tf.evaluation.reports.tables import (
    attack_description,
    markdown_row,
    markdown_table,
    protocol_view,
    robustness_table,
    write_table_csv,
    write_table_markdown,
)
from mtl_tf.evaluation.reports.write import load_run_metrics, write_report

__all__ = [
    "DISPLAY_NAMES",
    "JOINT_ROW",
    "METHOD_ORDER",
    "MTVIB_ETAS",
    "NA",
    "Column",
    "attack_description",
    "column_etas",
    "common_tasks",
    "default_example_etas",
    "display_name",
    "error_metric",
    "error_metrics",
    "format_cell",
    "format_percent",
    "front_hypervolumes",
    "front_points",
    "has_robustness",
    "is_single_task",
    "joint_accuracy",
    "load_run_metrics",
    "markdown_row",
    "markdown_table",
    "method_columns",
    "method_order",
    "ordered_methods",
    "plot_accuracy_front",
    "plot_adversarial_examples",
    "plot_joint_accuracy",
    "plot_robustness_curves",
    "protocol_view",
    "quantity_label",
    "robustness_table",
    "task_accuracy",
    "task_label",
    "write_report",
    "write_table_csv",
    "write_table_markdown",
]


def __getattr__(name: str):
    # METHOD_ORDER and DISPLAY_NAMES were constants of the former single module; they are
    # now facts of `mtl_tf.methods`, derived on use because its registry imports TensorFlow
    # and importing the reports should not. New code calls the functions.
    if name == "METHOD_ORDER":
        return method_order()
    if name == "DISPLAY_NAMES":
        return {m: display_name(m) for m in method_order()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
