"""The robustness table as figures: accuracy vs eta per task, and joint accuracy (MTVIB Fig. 5)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from absl import logging

from mtl_tf.evaluation.reports import canvas
from mtl_tf.evaluation.reports import columns as cols

__all__ = ["plot_joint_accuracy", "plot_robustness_curves"]


def _series(
    etas: Sequence[str], value: Callable[[str], float | None]
) -> tuple[list[float], list[float]]:
    # Percent; an eta without a value is left out (the line joins its neighbours).
    pairs = [(float(e), value(e)) for e in etas]
    return [x for x, y in pairs if y is not None], [100.0 * y for _, y in pairs if y is not None]


def plot_robustness_curves(metrics_by_method: dict[str, dict], path: str) -> str | None:
    """Accuracy vs eta, one panel per task, one line per column: MTVIB Tables III-V as curves.

    Returns:
      ``path``, or None (nothing written, warning logged) when no run has robustness data.
    """
    tasks = cols.common_tasks(metrics_by_method)
    columns = [c for c in cols.method_columns(metrics_by_method) if c.robustness]
    if not columns:
        logging.warning("No robustness data: skipping %s", path)
        return None
    methods = cols.ordered_methods(metrics_by_method)
    etas = cols.column_etas(columns)
    fig = canvas.new_figure(4.2 * len(tasks), 3.6)
    axes = fig.subplots(1, len(tasks), squeeze=False)[0]
    for ax, task in zip(axes, tasks, strict=True):
        for column in columns:
            xs, ys = _series(etas, lambda e, c=column, t=task: cols.task_accuracy(c, t, e))
            ax.plot(xs, ys, label=column.label, **canvas.column_style(column, methods))
        ax.set_title(f"Task {task}")
        ax.set_xlabel("FGSM eta")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize="small")
    canvas.save_png(fig, path)
    return path


def plot_joint_accuracy(metrics_by_method: dict[str, dict], path: str) -> str | None:
    """Joint test accuracy (all tasks right) vs eta: MTVIB Fig. 5.

    Only columns with a joint accuracy under attack are drawn (not STL/STVIB, whose tasks
    are attacked separately).

    Returns:
      ``path``, or None (nothing written, warning logged) when there is nothing to draw.
    """
    cols.common_tasks(metrics_by_method)  # refuses runs on different tasks
    columns = [
        c for c in cols.method_columns(metrics_by_method)
        if c.robustness and any(v is not None for v in (c.robustness.get("joint_accuracy") or {})
                                .values())
    ]
    if not columns:
        logging.warning("No joint accuracy under attack: skipping %s", path)
        return None
    methods = cols.ordered_methods(metrics_by_method)
    etas = cols.column_etas(columns)
    fig = canvas.new_figure(5.0, 3.8)
    ax = fig.subplots()
    for column in columns:
        xs, ys = _series(etas, lambda e, c=column: cols.joint_accuracy(c, e))
        ax.plot(xs, ys, label=column.label, **canvas.column_style(column, methods))
    ax.set_title("Joint accuracy under FGSM (MTVIB Fig. 5)")
    ax.set_xlabel("FGSM eta")
    ax.set_ylabel("joint test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    canvas.save_png(fig, path)
    return path
