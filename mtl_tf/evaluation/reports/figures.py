"""The robustness table as figures: accuracy vs eta per task, and joint accuracy (MTVIB Fig. 5).

Both figures draw the table's numbers unchanged. Every method keeps its colour and marker
(`canvas`); Pareto MTL's preference models are shades of its colour, light to dark in
preference order; single-task references are dashed; the legend sits beside the panels.
A caption under the figure says what is not obvious from it, in particular when a task's
accuracy rises with eta (`rising_with_eta`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence

from absl import logging

from mtl_tf.evaluation import units
from mtl_tf.evaluation.reports import canvas
from mtl_tf.evaluation.reports import columns as cols

__all__ = [
    "JOINT_LINEAR_BELOW",
    "RISE_TOLERANCE",
    "fgsm_artefact_note",
    "plot_joint_accuracy",
    "plot_robustness_curves",
    "rising_with_eta",
]

# A rise of at most this (a fraction: one percentage point) is test-set noise; the
# comparison allows for float rounding of table values (0.013 - 0.003).
RISE_TOLERANCE = 0.01
# The joint figure's y axis is linear below this (percent) and logarithmic above: joint
# accuracy falls from ~60 % to a few tenths of a percent (and to 0), which a linear axis
# flattens into one line from eta 0.1 on and a log axis cannot place at 0.
JOINT_LINEAR_BELOW = 0.1


def _series(
    etas: Sequence[str], value: Callable[[str], float | None], scale: float = 100.0
) -> tuple[list[float], list[float]]:
    # `scale` x value: percent for an accuracy, 1 for a regression error (its own units,
    # `units.plot_scale`); an eta without a value is left out (the line joins its
    # neighbours).
    pairs = [(float(e), value(e)) for e in etas]
    return [x for x, y in pairs if y is not None], [scale * y for _, y in pairs if y is not None]


def rising_with_eta(
    metrics_by_method: dict[str, dict], *, tolerance: float = RISE_TOLERANCE
) -> list[dict]:
    """Where accuracy rises with eta: a larger eta beats a smaller one by > `tolerance`.

    A stronger perturbation cannot make a model right more often; when FGSM's numbers say
    so, the one-step attack has stopped measuring robustness (`fgsm_artefact_note`). The
    smaller eta may be 0 (accuracy under attack above the clean accuracy) or an earlier
    eta under attack (the curve falls, then climbs back, as on MTFL).

    Args:
      metrics_by_method: method -> metrics.json dictionary.
      tolerance: the smallest rise (fraction) reported.

    Returns:
      One entry per (column, task) that rises, in table order: {"column", "task",
      "from_eta", "to_eta", "from_accuracy", "to_accuracy"}, the largest rise of that
      curve; task "joint" for the joint accuracy. Empty without robustness data.
      Regression tasks are not checked: their curve is an error, which should rise.
    """
    # A regression task's curve is its error, which is meant to rise: not an accuracy.
    error_of = cols.error_metrics(metrics_by_method)
    tasks = [t for t in cols.common_tasks(metrics_by_method) if t not in error_of]
    columns = [c for c in cols.method_columns(metrics_by_method) if c.robustness]
    etas = cols.column_etas(columns)
    found = []
    for column in columns:
        curves = {t: (lambda e, c=column, t=t: cols.task_accuracy(c, t, e)) for t in tasks}
        curves[cols.JOINT_ROW] = lambda e, c=column: cols.joint_accuracy(c, e)
        for task, value in curves.items():
            points = [(e, v) for e in etas if (v := value(e)) is not None]
            best = None
            for i, (low_eta, low) in enumerate(points):
                for high_eta, high in points[i + 1:]:
                    rise = high - low
                    if rise > tolerance + 1e-9 and (best is None or rise > best[3] - best[1]):
                        best = (low_eta, low, high_eta, high)
            if best:
                found.append({"column": column.label, "task": task, "from_eta": best[0],
                              "from_accuracy": best[1], "to_eta": best[2],
                              "to_accuracy": best[3]})
    return found


def fgsm_artefact_note(
    metrics_by_method: dict[str, dict], *, tasks: Sequence[str] | None = None
) -> str | None:
    """One sentence naming the curves that rise with eta and why, None if none does.

    Args:
      metrics_by_method: method -> metrics.json dictionary.
      tasks: only these curves (task names, `columns.JOINT_ROW` for the joint accuracy);
        default all.
    """
    rises = [r for r in rising_with_eta(metrics_by_method)
             if tasks is None or r["task"] in tasks]
    if not rises:
        return None
    by_column: dict[str, list[str]] = {}
    for r in rises:
        by_column.setdefault(r["column"], []).append(r["task"])
    where = "; ".join(f"{c}: {', '.join(t)}" for c, t in by_column.items())
    return (f"Accuracy rising with eta ({where}) is an FGSM artefact, not robustness: one "
            f"large sign step saturates pixels and overshoots the loss it climbs, so "
            f"predictions drift (e.g. towards a task's majority class) rather than being "
            f"pushed to a wrong answer. Read robustness from the drop at small eta; a "
            f"multi-step attack (--attack pgd) checks it.")


def _styles(columns: Sequence[cols.Column], methods: Sequence[str]) -> list[dict]:
    # Lines drawn earlier are a little wider, with larger markers: where two columns have
    # the same numbers (e.g. 0 % under attack), the later line lies inside the earlier
    # one instead of hiding it.
    counts = Counter(c.method for c in columns)
    drawn = list(counts)  # the figure's methods, in drawing (report) order
    styles = []
    for column in columns:
        style = canvas.column_style(column, methods, counts[column.method])
        # 1 for the first method drawn, 0 for the last.
        depth = 1.0 - drawn.index(column.method) / max(len(drawn) - 1, 1)
        style["linewidth"] += 1.4 * depth
        style["markersize"] += 4.0 * depth
        styles.append(style)
    return styles


def _preference_note(columns: Sequence[cols.Column]) -> str | None:
    # Which lines are shades of one method, so that the reader knows light-to-dark order.
    counts = Counter(c.method for c in columns)
    several = [m for m, n in counts.items() if n > 1]
    if not several:
        return None
    names = ", ".join(cols.display_name(m) for m in several)
    return f"{names}: one line per model, light to dark in preference order."


def _grid(n: int) -> tuple[int, int]:
    # Panels per row: all in one row up to 3, else rows of at most 3 (MTFL: 2 x 2).
    if n <= 3:
        return 1, n
    per_row = math.ceil(n / math.ceil(n / 3))
    return math.ceil(n / per_row), per_row


def plot_robustness_curves(metrics_by_method: dict[str, dict], path: str) -> str | None:
    """Accuracy vs eta, one panel per task, one line per column: MTVIB Tables III-V as curves.

    A regression task's panel plots its main error metric instead (NME or MAE, in its own
    units as in the table: not x100), on its own y axis labelled with that metric and unit:
    it grows upward under attack, where an accuracy falls.

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
    styles = _styles(columns, methods)
    error_of = cols.error_metrics(metrics_by_method)
    rows, per_row = _grid(len(tasks))
    fig = canvas.new_figure(3.9 * per_row + 1.9, 3.3 * rows + 0.3)
    axes = fig.subplots(rows, per_row, squeeze=False).ravel()
    for ax, task in zip(axes, tasks, strict=False):
        metric = error_of.get(task)
        for column, style in zip(columns, styles, strict=True):
            xs, ys = _series(etas, lambda e, c=column, t=task: cols.task_accuracy(c, t, e),
                             units.plot_scale(metric))
            ax.plot(xs, ys, label=column.label, **style)
        ax.set_title(f"Task {task}" + (f" ({metric.upper()}, regression)" if metric else ""))
        ax.set_xlabel("FGSM eta")
        ax.set_ylabel(cols.quantity_label(task, metric).removeprefix(f"{task} "))
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    for ax in axes[len(tasks):]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    canvas.legend_outside(fig, handles, labels)
    caption = ["Test accuracy on FGSM adversarial test images (eta 0: clean images)"
               + ("; dashed: single-task references." if any(
                   cols.is_single_task(c.method) for c in columns) else ".")]
    if error_of:
        caption.append(f"Regression tasks ({', '.join(t for t in tasks if t in error_of)}): "
                       f"their test error on the same images instead, on its own axis in "
                       f"its own units, not % "
                       f"({units.errors_description(error_of[t] for t in tasks if t in error_of)}"
                       f"): growth under attack goes upward; lower is better.")
    caption += [n for n in (_preference_note(columns),
                            fgsm_artefact_note(metrics_by_method, tasks=tasks)) if n]
    canvas.add_caption(fig, caption)
    canvas.save_png(fig, path)
    return path


def plot_joint_accuracy(metrics_by_method: dict[str, dict], path: str) -> str | None:
    """Joint test accuracy (all tasks right) vs eta: MTVIB Fig. 5.

    With regression tasks the joint accuracy counts the classification tasks (metrics.json
    ``joint_accuracy``); the caption names the tasks left out.

    Only columns with a joint accuracy under attack are drawn (not STL/STVIB, whose tasks
    are attacked separately). The y axis is symmetric-log (linear below
    `JOINT_LINEAR_BELOW` percent, logarithmic above), so that a few tenths of a percent
    at large eta are as readable as the clean accuracy, and 0 still has a place.

    Returns:
      ``path``, or None (nothing written, warning logged) when there is nothing to draw.
    """
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

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
    fig = canvas.new_figure(6.6, 4.0)
    ax = fig.subplots()
    for column, style in zip(columns, _styles(columns, methods), strict=True):
        xs, ys = _series(etas, lambda e, c=column: cols.joint_accuracy(c, e))
        ax.plot(xs, ys, label=column.label, **style)
    ax.set_yscale("symlog", linthresh=JOINT_LINEAR_BELOW, linscale=0.5)
    ax.set_ylim(0, 100)
    ticks = [0, 0.1, 0.3, 1, 3, 10, 30, 100]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_title("Joint accuracy under FGSM (MTVIB Fig. 5)")
    ax.set_xlabel("FGSM eta")
    ax.set_ylabel("joint test accuracy (%, log scale)")
    ax.grid(alpha=0.3)
    canvas.legend_outside(ax)
    regression = [t for t in cols.common_tasks(metrics_by_method)
                  if t in cols.error_metrics(metrics_by_method)]
    every = (f"every classification task right (regression tasks, which have no 'right', "
             f"left out: {', '.join(regression)})" if regression else "every task right")
    caption = [f"Joint accuracy: {every}. Log y axis (linear below "
               f"{JOINT_LINEAR_BELOW:g} %, 0 at the bottom) so that every eta is readable; "
               f"it makes differences of a few tenths of a percent look large."]
    caption += [n for n in (_preference_note(columns),
                            fgsm_artefact_note(metrics_by_method, tasks=[cols.JOINT_ROW])) if n]
    canvas.add_caption(fig, caption)
    canvas.save_png(fig, path)
    return path
