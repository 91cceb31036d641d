"""MTVIB Tables III-V: the robustness table, the attack behind it, Markdown and CSV.

Every file is written atomically (temporary name in the destination directory + rename,
`mtl_tf.io_utils`), so a crashed or concurrent report never leaves a truncated file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from absl import logging

from mtl_tf.evaluation import units
from mtl_tf.evaluation.reports import columns as cols
from mtl_tf.io_utils import atomic_write_text

__all__ = [
    "attack_description",
    "markdown_row",
    "markdown_table",
    "quantities",
    "robustness_table",
    "write_table_csv",
    "write_table_markdown",
]

_ATTACK_NAMES = {
    "fgsm": "FGSM (MTVIB eq. 25)",
    "fgsm-eot": "FGSM with expectation over transformation",
    "pgd": "L-inf PGD",
    "pgd-eot": "L-inf PGD with expectation over transformation",
}


def robustness_table(
    metrics_by_method: dict[str, dict],
) -> tuple[list[str], list[list[str]]]:
    """The layout of MTVIB Tables III-V: test accuracy (%) per (task, eta) and method
    (a regression task: its error, in its own units).

    Rows: every (task, eta) pair, tasks in the runs' order and etas ascending, then a
    block of ("joint", eta) rows: the joint accuracy of MTVIB Fig. 5 (null for STL/STVIB
    under attack, whose tasks are attacked separately; their clean joint accuracy is
    shown at eta 0). Columns: "task", "eta", then one per method in report order
    (STL, STVIB, GS, UWL, MTVIB, GradNorm, MGDA, Pareto MTL) followed by free-form labels
    in input order; Pareto MTL gets one column per preference model
    (`mtl_tf.evaluation.reports.columns`). Cells: accuracy in percent with one decimal
    ("94.8"), "n/a" where the run has no number. A regression task's rows hold its
    error instead, in the target's own units, not x100 (MAE; NME as the plain ratio to
    the inter-ocular distance), three significant figures ("0.0131"); the row label
    names the metric, its unit and that lower is better (`columns.task_label`).

    Args:
      metrics_by_method: method name -> metrics.json dictionary.

    Returns:
      (header, rows), all strings.

    Raises:
      ValueError: if no runs are given or the runs have different tasks.
    """
    tasks = cols.common_tasks(metrics_by_method)
    columns = cols.method_columns(metrics_by_method)
    if not cols.has_robustness(columns):
        logging.warning("No run has a robustness section: the table holds clean accuracy only")
    etas = cols.column_etas(columns)
    header = ["task", "eta", *[c.label for c in columns]]
    metric = {task: cols.error_metric(columns, task) for task in tasks}
    rows = [
        [cols.task_label(columns, task), eta,
         *[cols.format_cell(cols.task_accuracy(c, task, eta), metric[task]) for c in columns]]
        for task in tasks
        for eta in etas
    ]
    rows += [
        [cols.JOINT_ROW, eta, *[cols.format_percent(cols.joint_accuracy(c, eta)) for c in columns]]
        for eta in etas
    ]
    return header, rows


def quantities(metrics_by_method: dict[str, dict]) -> str:
    """What the table's cells are, for its title: "Test accuracy (%)", and with regression
    tasks "Test accuracy (%) and regression error (MAE: target's units; lower is
    better)"."""
    error_of = cols.error_metrics(metrics_by_method)
    if not error_of:
        return "Test accuracy (%)"
    return (f"Test accuracy (%) and regression error "
            f"({units.errors_description(error_of.values())}; lower is better)")


def attack_description(metrics_by_method: dict[str, dict]) -> str:
    """One line naming the attack (and attacked loss) behind the table's numbers."""
    described: dict[str, list[str]] = {}
    for column in cols.method_columns(metrics_by_method):
        rob = column.robustness
        if not rob:
            continue
        name = _ATTACK_NAMES.get(str(rob.get("attack")), str(rob.get("attack")))
        details = []
        if rob.get("eot_samples"):
            details.append(f"{rob['eot_samples']} EOT samples")
        if str(rob.get("attack", "")).startswith("pgd"):
            details.append(f"{rob.get('steps')} steps")
        if rob.get("num_examples"):
            details.append(f"{rob['num_examples']} test examples")
        protocol = rob.get("protocol") or {}
        if protocol.get("name"):
            details.append(f"{protocol['name']} protocol")
        text = name + (f" ({', '.join(details)})" if details else "")
        if rob.get("loss"):
            text += f"; attacked loss: {rob['loss']}"
        described.setdefault(text, []).append(column.label)
    if not described:
        return "No adversarial evaluation in these runs: clean test accuracy only (eta = 0)."
    if len(described) == 1:
        return f"Attack: {next(iter(described))}; inference-mode model, x clipped to [0, 1]."
    parts = [f"{', '.join(labels)}: {text}" for text, labels in described.items()]
    return "Attacks differ between columns: " + " | ".join(parts).replace("|", "/")


def protocol_view(metrics_by_method: dict[str, dict]) -> dict[str, dict] | None:
    """The runs with their ``robustness_protocol`` in place of ``robustness``, or None.

    A run evaluated under a non-standard protocol (`mtl_tf.evaluation.protocol`) carries
    that result beside the standard one; this view lets every table and description
    function show it. None when no run has one.
    """
    if not any(m.get("robustness_protocol") or any(
            e.get("robustness_protocol") for e in m.get("models") or [])
            for m in metrics_by_method.values()):
        return None
    view = {}
    for method, metrics in metrics_by_method.items():
        swapped = dict(metrics, robustness=metrics.get("robustness_protocol"))
        swapped["models"] = [dict(e, robustness=e.get("robustness_protocol"))
                             for e in metrics.get("models") or []]
        view[method] = swapped
    return view


def markdown_row(cells: Sequence[object]) -> str:
    """One GitHub pipe-table row; a "|" inside a cell becomes "/" (it would end the cell)."""
    return "| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub pipe table (no trailing newline)."""
    lines = [markdown_row(header), "|" + "|".join("---" for _ in header) + "|"]
    lines += [markdown_row(r) for r in rows]
    return "\n".join(lines)


def write_table_markdown(
    path: str,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    note: str | None = None,
) -> str:
    """Writes a GitHub pipe table (atomically), with an optional title and a note below.

    Args:
      path: destination file.
      header: the column names, as returned by `robustness_table`.
      rows: the cells, as returned by `robustness_table`.
      title: a line above the table.
      note: a line below the table (e.g. `attack_description`).

    Returns:
      ``path``.
    """
    parts = [title, "", markdown_table(header, rows)] if title else [markdown_table(header, rows)]
    if note:
        parts += ["", note]
    atomic_write_text(path, "\n".join(parts) + "\n")
    return path


def write_table_csv(path: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Writes the table as CSV (atomically); `csv.reader` gives back the same cells."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())
    return path
