"""Fronts of test points: Pareto MTL Fig. 4 and each method's front hypervolume."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from absl import logging

from mtl_tf.evaluation import units
from mtl_tf.evaluation.hypervolume import (
    error_space_hypervolume,
    loss_space_hypervolume,
)
from mtl_tf.evaluation.reports import canvas
from mtl_tf.evaluation.reports import columns as cols

__all__ = ["front_hypervolumes", "front_points", "plot_accuracy_front"]


def front_points(metrics: dict) -> list[dict]:
    """The test points a method contributes to a front (Pareto MTL Fig. 4).

    * grid search with a grid: every grid point (as Pareto MTL Fig. 4 draws them);
    * single-task methods (models that each predict a subset of the tasks, STL/STVIB):
      one point, the combined per-task scores of the run;
    * otherwise every model (one for a shared model, one per preference for Pareto MTL).

    A point scores each task as its spec says: a classification task by accuracy, a
    regression task by its main error metric (`TaskSpec.error_metric`: NME for landmarks,
    else MAE); a model missing either is left out.

    Returns:
      [{"name", "accuracy": {classification task: acc}, "error": {regression task: its
      main error}, "loss": {task: test loss} | None}].
    """
    tasks = list(metrics["tasks"])
    error_of = cols.error_metrics({"run": metrics})
    models = metrics.get("models") or []
    if metrics.get("grid"):
        models = metrics["grid"]["points"]
    elif any(set(m.get("accuracy") or {}) | set(m.get("error") or {}) != set(tasks)
             for m in models):
        if metrics.get("accuracy") is None and metrics.get("error") is None:
            return []
        models = [{"name": metrics.get("method", "combined"), "accuracy": metrics["accuracy"],
                   "error": metrics.get("error"), "loss": metrics.get("loss")}]
    points = []
    for i, m in enumerate(models):
        accuracy = {t: (m.get("accuracy") or {}).get(t) for t in tasks if t not in error_of}
        error = {t: ((m.get("error") or {}).get(t) or {}).get(metric)
                 for t, metric in error_of.items() if t in tasks}
        if tasks and all(v is not None for v in (*accuracy.values(), *error.values())):
            points.append({"name": str(m.get("name", i)), "accuracy": accuracy,
                           "error": error, "loss": m.get("loss")})
    return points


# Two markers whose centres are closer than this fraction of the axes' range on both
# axes cover each other at the figure's marker sizes.
_OVERLAP = 0.025
# Where a zoomed inset may go, in axes fractions (x0, y0, width, height), in order of
# preference: a front runs from the top left to the bottom right, so the bottom left
# (dominated, usually empty) first.
# Offsets leave room for the inset's own tick labels inside the main axes.
_INSET_PLACES = ((0.14, 0.12, 0.4, 0.4), (0.56, 0.5, 0.4, 0.4),
                 (0.14, 0.5, 0.4, 0.4), (0.56, 0.12, 0.4, 0.4))


def _method_series(
    metrics_by_method: dict[str, dict], tasks: Sequence[str]
) -> list[dict]:
    # Per method with points, in report order: what to draw and how.
    methods = cols.ordered_methods(metrics_by_method)
    series = []
    for method in methods:
        points = _xy(front_points(metrics_by_method[method]), tasks)
        if not points:
            continue
        # Several models and no single answer (Pareto MTL): labelled and joined in
        # preference order; a grid's points are alternatives, not a front.
        several = len(points) > 1 and not metrics_by_method[method].get("grid")
        ordered = (_preference_order(points) if several
                   else [(i, xy) for i, (_, xy) in enumerate(points)])
        series.append({
            "method": method, "points": ordered, "several": several,
            "colour": canvas.method_colour(method, methods),
            "marker": canvas.method_marker(method, methods),
            "label": _legend_label(method, len(points), several, metrics_by_method),
        })
    return series


def _draw_front(ax, series: list[dict], span: np.ndarray, *, size: float) -> list[tuple]:
    """Draws every series on `ax`; returns the (x, y) pairs of markers that cover each
    other (each later one drawn hollow, ringing the earlier)."""
    placed: list[tuple[float, float]] = []
    crowded: list[tuple[float, float]] = []
    for rank, item in enumerate(series):
        colour, points = item["colour"], item["points"]
        zorder = 3 + rank / 100  # later methods on top, in report order
        if item["several"]:
            ax.plot(*zip(*(xy for _, xy in points), strict=True), color=colour,
                    linewidth=1.2, zorder=2)
        for k, (index, (x, y)) in enumerate(points):
            face = canvas.shade(colour, k, len(points)) if item["several"] else colour
            under = [q for q in placed
                     if abs(q[0] - x) < _OVERLAP * span[0] and abs(q[1] - y) < _OVERLAP * span[1]]
            hollow = bool(under)
            if hollow:
                crowded += [*under, (x, y)]
            ax.scatter([x], [y], marker=item["marker"], s=2.2 * size if hollow else size,
                       facecolors="none" if hollow else [face],
                       edgecolors=[face] if hollow else "black",
                       linewidths=1.6 if hollow else 0.6, alpha=1.0 if hollow else 0.9,
                       zorder=zorder)
            if item["several"]:
                ax.annotate(f"p{index}", (x, y), xytext=(6, 4), textcoords="offset points",
                            fontsize="small", color="0.15", zorder=zorder, gid="preference")
            placed.append((x, y))
            if cols.is_single_task(item["method"]):
                ax.axvline(x, color=colour, linestyle="--", linewidth=0.9, zorder=1)
                ax.axhline(y, color=colour, linestyle="--", linewidth=0.9, zorder=1)
    return crowded


def _zoom_inset(ax, series: list[dict], crowded: list[tuple]):
    """A zoomed inset of the crowded markers, placed where it covers no marker; None if
    there is no such place (the rings of `_draw_front` then have to do)."""
    ax.autoscale_view()
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    every = np.array([xy for item in series for _, xy in item["points"]], float)
    frac = (every - [x0, y0]) / [x1 - x0, y1 - y0]
    cluster = np.array(crowded, float)
    lo, hi = cluster.min(axis=0), cluster.max(axis=0)
    pad = np.maximum(0.35 * (hi - lo), 0.04 * np.array([x1 - x0, y1 - y0]))
    lo, hi = lo - pad, hi + pad
    box = (np.array([lo, hi]) - [x0, y0]) / [x1 - x0, y1 - y0]
    for bx, by, w, h in _INSET_PLACES:
        # Free of markers (with a margin for their size), and not over the zoomed region.
        inside = ((frac[:, 0] > bx - 0.12) & (frac[:, 0] < bx + w + 0.04)
                  & (frac[:, 1] > by - 0.1) & (frac[:, 1] < by + h + 0.06))
        over_box = not (box[1, 0] < bx or box[0, 0] > bx + w
                        or box[1, 1] < by or box[0, 1] > by + h)
        if inside.any() or over_box:
            continue
        inset = ax.inset_axes([bx, by, w, h])
        inset.set_xlim(lo[0], hi[0])
        inset.set_ylim(lo[1], hi[1])
        inset.tick_params(labelsize="x-small")
        inset.grid(alpha=0.3)
        inset.set_title("zoom", fontsize="x-small", pad=2)
        ax.indicate_inset_zoom(inset, edgecolor="0.4")
        return inset
    return None


def plot_accuracy_front(metrics_by_method: dict[str, dict], path: str) -> str | None:
    """Task 1 vs task 2 test score of every model of every method: Pareto MTL Fig. 4.

    Each axis plots what its task's spec scores (`front_points`): test accuracy (%) for a
    classification task, the main error metric in its own units (NME or MAE, not x100;
    lower is better, as the axis label says) for a regression task, so that a regression
    task is on the figure too. The caption says which direction is better on each axis.

    Single-task references (the methods whose spec says ``single_task``: STL, STVIB) are
    drawn with dashed guide lines through their point, the reference Pareto MTL compares
    against. A method with several models for the same tasks (Pareto MTL) has its points
    labelled by preference ("p0", "p1", ...) and joined in preference order: its front.
    Colours and markers are the method's own (`canvas.method_colour`). A point that would
    cover one drawn before it (same spot, up to `_OVERLAP` of the axes) is drawn hollow
    and larger, a ring around the earlier marker, so that neither hides the other; and
    such a crowd is repeated, zoomed, in an inset where no marker is.

    Returns:
      ``path``, or None (nothing written, warning logged) unless the runs have 2 tasks.
    """
    from matplotlib.lines import Line2D

    tasks = cols.common_tasks(metrics_by_method)
    if len(tasks) != 2:
        logging.warning("The accuracy front needs 2 tasks, the runs have %d: skipping %s",
                        len(tasks), path)
        return None
    series = _method_series(metrics_by_method, tasks)
    every = np.array([xy for item in series for _, xy in item["points"]], float).reshape(-1, 2)
    span = np.maximum(np.ptp(every, axis=0), 1e-9) if len(every) else np.ones(2)
    fig = canvas.new_figure(6.4, 4.6)
    ax = fig.subplots()
    crowded = _draw_front(ax, series, span, size=90)
    error_of = cols.error_metrics(metrics_by_method)
    what = ("test accuracy" if not error_of else
            "test score (accuracy, or the main error metric of a regression task)")
    caption = [f"Each marker is one model's {what} on the two tasks; "
               f"{_better(tasks, error_of)}."]
    for item in series:
        if item["several"]:
            caption.append(f"{cols.display_name(item['method'])}: p0-p"
                           f"{len(item['points']) - 1} its preference models, joined in "
                           f"preference order (its front).")
    if any(cols.is_single_task(item["method"]) for item in series):
        caption.append("Dashed lines: the single-task references' score on each task.")
    if crowded:
        caption.append("Hollow marker: a model on (nearly) the same spot as a marker drawn "
                       "before it, which it rings.")
        inset = _zoom_inset(ax, series, crowded)
        if inset is not None:
            inset_span = np.array([np.ptp(inset.get_xlim()), np.ptp(inset.get_ylim())])
            _draw_front(inset, series, inset_span, size=45)
            caption.append("Inset: the crowded region, zoomed.")
    # The legend shows each method's filled marker, whichever of its points is hollow.
    handles = [Line2D([], [], linestyle="-" if item["several"] else "none",
                      color=item["colour"], marker=item["marker"], markersize=9,
                      markerfacecolor=item["colour"], markeredgecolor="black",
                      markeredgewidth=0.6) for item in series]
    ax.set_xlabel(f"Task 1: {cols.quantity_label(tasks[0], error_of.get(tasks[0]))}")
    ax.set_ylabel(f"Task 2: {cols.quantity_label(tasks[1], error_of.get(tasks[1]))}")
    dataset = next(iter(metrics_by_method.values())).get("dataset", "")
    ax.set_title(f"{dataset} (Pareto MTL Fig. 4)")
    ax.grid(alpha=0.3)
    canvas.legend_outside(ax, handles, [item["label"] for item in series])
    canvas.add_caption(fig, caption)
    canvas.save_png(fig, path)
    return path


def _value(point: dict, task: str) -> float:
    # A task's plotted quantity as the table shows it: accuracy in percent, or a
    # regression task's main error in its own units (`units.plot_scale`).
    if task in point["error"]:
        return point["error"][task]  # not scaled: a regression error is no fraction
    return units.plot_scale(None) * point["accuracy"][task]


def _xy(points: list[dict], tasks: Sequence[str]) -> list[tuple[str, tuple[float, float]]]:
    # (name, (task 1, task 2) value as plotted) of each front point.
    return [(p["name"], (_value(p, tasks[0]), _value(p, tasks[1]))) for p in points]


def _better(tasks: Sequence[str], error_of: dict[str, str]) -> str:
    # Which way is better on the figure, from each axis' quantity.
    x = "left" if tasks[0] in error_of else "right"
    y = "down" if tasks[1] in error_of else "up"
    if (x, y) == ("right", "up"):
        return "up and to the right is better"
    return (f"{y} and to the {x} is better (lower error is better on a regression task's "
            f"axis, higher accuracy on a classification task's)")


def _preference_order(
    points: list[tuple[str, tuple[float, float]]],
) -> list[tuple[int, tuple[float, float]]]:
    # (preference index, xy) in preference order: "preference_3" -> 3; a model named
    # otherwise keeps its position (the order the run trained them in).
    def index(i: int, name: str) -> int:
        suffix = name.rsplit("_", 1)[-1]
        return int(suffix) if name.startswith("preference_") and suffix.isdigit() else i

    return sorted(((index(i, name), xy) for i, (name, xy) in enumerate(points)),
                  key=lambda item: item[0])


def _legend_label(method: str, n: int, several: bool, metrics_by_method: dict) -> str:
    name = cols.display_name(method)
    if cols.is_single_task(method):
        return f"{name} (single-task reference)"
    if several:
        return f"{name} (p0-p{n - 1})"
    if n > 1 and metrics_by_method[method].get("grid"):
        return f"{name} ({n} grid points)"
    return name


# Why a regression task has no error-space coordinate (hypervolume.json says so).
_NOT_IN_ERROR_SPACE = (
    "regression task: its error ({metric}) is not 1 - accuracy and has no natural bound of "
    "1 (it is in the target's units), so the error-space reference (1, ..., 1) would "
    "measure nothing meaningful for it; it counts in the loss space, and front.png shows it"
)


def front_hypervolumes(
    metrics_by_method: dict[str, dict],
    *,
    loss_reference: Sequence[float] | None = None,
    error_reference: Sequence[float] | None = None,
) -> dict:
    """Per method, the hypervolume of its models' test points, for any number of tasks.

    Loss space: every task's test loss (cross-entropy; a regression task's own mse / l1),
    reference (2, ..., 2) by default (COSMOS's point for MultiMNIST-type fronts). Error
    space: 1 - test accuracy of the classification tasks, reference (1, ..., 1) by default
    (result in [0, 1]). A regression task is left out of the error space, with the reason
    in ``excluded_from_error_space``: its error is not bounded by 1, so reference 1 would
    not mean "always wrong" for it; with no classification task the error-space volume is
    None. Larger is better; a point worse than the reference in some task contributes
    nothing. The points are `front_points` (every grid point, every Pareto MTL
    preference, STL/STVIB's combined single-task point).

    Args:
      metrics_by_method: method -> metrics.json dictionary.
      loss_reference: the loss-space reference point, one coordinate per task.
      error_reference: the error-space reference point, one coordinate per classification
        task (every task when all are classification, as in the papers).

    Returns:
      {"tasks", "loss_reference", "error_space_tasks", "error_reference", "note",
       ["excluded_from_error_space": {task: reason}, "error_metric": {task: metric}],
       "methods": {method: {"num_points", "loss_space" (None if a point lacks losses),
                            "error_space" (None without a classification task),
                            "points": [{"name", "accuracy" (error-space tasks), "loss"
                                        (every task)[, "error" (regression tasks)]}]}}},
      methods in report order.

    Raises:
      ValueError: if a reference point does not have one coordinate per task (loss) or
        per classification task (error).
    """
    tasks = cols.common_tasks(metrics_by_method)
    error_of = {t: m for t, m in cols.error_metrics(metrics_by_method).items() if t in tasks}
    classified = [t for t in tasks if t not in error_of]
    m, k = len(tasks), len(classified)
    loss_ref = [2.0] * m if loss_reference is None else [float(r) for r in loss_reference]
    error_ref = [1.0] * k if error_reference is None else [float(r) for r in error_reference]
    if len(loss_ref) != m:
        raise ValueError(f"the loss-space reference point must have {m} coordinates (one "
                         f"per task), got {len(loss_ref)}")
    if len(error_ref) != k:
        raise ValueError(f"the error-space reference point must have {k} coordinates (one "
                         f"per classification task {classified}), got {len(error_ref)}")
    methods: dict[str, dict] = {}
    for method in cols.ordered_methods(metrics_by_method):
        points = front_points(metrics_by_method[method])
        acc = np.array([[p["accuracy"][t] for t in classified] for p in points],
                       float).reshape(len(points), k)
        has_loss = bool(points) and all(
            p["loss"] and all(p["loss"].get(t) is not None for t in tasks) for p in points
        )
        loss = (np.array([[p["loss"][t] for t in tasks] for p in points], float)
                if has_loss else None)
        if not k:
            error_space = None
        else:
            error_space = error_space_hypervolume(acc, error_ref) if points else 0.0
        methods[method] = {
            "num_points": len(points),
            "loss_space": loss_space_hypervolume(loss, loss_ref) if has_loss else None,
            "error_space": error_space,
            "points": [
                {"name": p["name"], "accuracy": acc[i].tolist(),
                 "loss": None if loss is None else loss[i].tolist(),
                 **({"error": [p["error"][t] for t in error_of]} if error_of else {})}
                for i, p in enumerate(points)
            ],
        }
    note = ("Hypervolume (larger is better) of each method's test points, minimising per-task "
            "test loss (loss space) and per-task test error = 1 - accuracy (error space), "
            "bounded by the stated reference points; point coordinates in task order.")
    extra: dict = {}
    if error_of:
        note = ("Hypervolume (larger is better) of each method's test points, minimising "
                "every task's test loss (loss space: cross-entropy, or a regression task's "
                "mse / l1 in its target's units) and the classification tasks' test error = "
                "1 - accuracy (error space, tasks in error_space_tasks), bounded by the stated "
                "reference points. Regression tasks are not in the error space (see "
                "excluded_from_error_space); their main error per point is under 'error', "
                "in the order of error_metric. A regression loss at or above its reference "
                "coordinate adds nothing: pass a loss reference in the targets' scale "
                "when they are not of order 1.")
        extra = {"excluded_from_error_space": {
                     t: _NOT_IN_ERROR_SPACE.format(metric=metric.upper())
                     for t, metric in error_of.items()},
                 "error_metric": dict(error_of)}
    return {
        "tasks": tasks,
        "loss_reference": loss_ref,
        "error_space_tasks": classified,
        "error_reference": error_ref,
        "note": note,
        **extra,
        "methods": methods,
    }
