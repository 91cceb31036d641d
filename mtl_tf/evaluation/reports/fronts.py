"""Fronts of test points: Pareto MTL Fig. 4 and each method's front hypervolume."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from absl import logging

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
      one point, the combined per-task accuracy and loss of the run;
    * otherwise every model (one for a shared model, one per preference for Pareto MTL).

    Returns:
      [{"name", "accuracy": {task: acc}, "loss": {task: CE} | None}].
    """
    tasks = list(metrics["tasks"])
    models = metrics.get("models") or []
    if metrics.get("grid"):
        models = metrics["grid"]["points"]
    elif any(set(m.get("accuracy", {})) != set(tasks) for m in models):
        if metrics.get("accuracy") is None:
            return []
        models = [{"name": metrics.get("method", "combined"), "accuracy": metrics["accuracy"],
                   "loss": metrics.get("loss")}]
    return [
        {"name": str(m.get("name", i)), "accuracy": dict(m["accuracy"]), "loss": m.get("loss")}
        for i, m in enumerate(models)
        if m.get("accuracy") and all(m["accuracy"].get(t) is not None for t in tasks)
    ]


def plot_accuracy_front(metrics_by_method: dict[str, dict], path: str) -> str | None:
    """Task 1 vs task 2 test accuracy of every model of every method: Pareto MTL Fig. 4.

    Single-task references (the methods whose spec says ``single_task``: STL, STVIB) are
    drawn as a star with dashed guide lines, the reference Pareto MTL compares against.

    Returns:
      ``path``, or None (nothing written, warning logged) unless the runs have 2 tasks.
    """
    tasks = cols.common_tasks(metrics_by_method)
    if len(tasks) != 2:
        logging.warning("The accuracy front needs 2 tasks, the runs have %d: skipping %s",
                        len(tasks), path)
        return None
    methods = cols.ordered_methods(metrics_by_method)
    fig = canvas.new_figure(5.0, 4.4)
    ax = fig.subplots()
    for i, method in enumerate(methods):
        points = front_points(metrics_by_method[method])
        if not points:
            continue
        xs = [100 * p["accuracy"][tasks[0]] for p in points]
        ys = [100 * p["accuracy"][tasks[1]] for p in points]
        colour = canvas.method_colour(i)
        reference = cols.is_single_task(method)
        ax.scatter(xs, ys, color=colour, marker="*" if reference else canvas.MARKERS[i % 10],
                   s=160 if reference else 45, label=cols.display_name(method), zorder=3)
        if reference:
            for x, y in zip(xs, ys, strict=True):
                ax.axvline(x, color=colour, linestyle="--", linewidth=0.8)
                ax.axhline(y, color=colour, linestyle="--", linewidth=0.8)
    ax.set_xlabel(f"Task 1: {tasks[0]} test accuracy (%)")
    ax.set_ylabel(f"Task 2: {tasks[1]} test accuracy (%)")
    dataset = next(iter(metrics_by_method.values())).get("dataset", "")
    ax.set_title(f"{dataset} (Pareto MTL Fig. 4)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    canvas.save_png(fig, path)
    return path


def front_hypervolumes(
    metrics_by_method: dict[str, dict],
    *,
    loss_reference: Sequence[float] | None = None,
    error_reference: Sequence[float] | None = None,
) -> dict:
    """Per method, the hypervolume of its models' test points, for any number of tasks.

    Loss space: per-task test cross-entropy, reference (2, ..., 2) by default (COSMOS's
    point for MultiMNIST-type fronts). Error space: 1 - per-task test accuracy, reference
    (1, ..., 1) by default (result in [0, 1]). Larger is better; a point worse than the
    reference in some task contributes nothing. The points are `front_points` (every grid
    point, every Pareto MTL preference, STL/STVIB's combined single-task point).

    Args:
      metrics_by_method: method -> metrics.json dictionary.
      loss_reference: the loss-space reference point, one coordinate per task.
      error_reference: the error-space reference point, one coordinate per task.

    Returns:
      {"tasks", "loss_reference", "error_reference", "note",
       "methods": {method: {"num_points", "loss_space" (None if a point lacks losses),
                            "error_space", "points": [...]}}}, methods in report order.

    Raises:
      ValueError: if a reference point does not have one coordinate per task.
    """
    tasks = cols.common_tasks(metrics_by_method)
    m = len(tasks)
    loss_ref = [2.0] * m if loss_reference is None else [float(r) for r in loss_reference]
    error_ref = [1.0] * m if error_reference is None else [float(r) for r in error_reference]
    if len(loss_ref) != m or len(error_ref) != m:
        raise ValueError(f"reference points must have {m} coordinates (one per task)")
    methods: dict[str, dict] = {}
    for method in cols.ordered_methods(metrics_by_method):
        points = front_points(metrics_by_method[method])
        acc = np.array([[p["accuracy"][t] for t in tasks] for p in points], float).reshape(-1, m)
        has_loss = bool(points) and all(
            p["loss"] and all(p["loss"].get(t) is not None for t in tasks) for p in points
        )
        loss = (np.array([[p["loss"][t] for t in tasks] for p in points], float)
                if has_loss else None)
        methods[method] = {
            "num_points": len(points),
            "loss_space": loss_space_hypervolume(loss, loss_ref) if has_loss else None,
            "error_space": error_space_hypervolume(acc, error_ref) if points else 0.0,
            "points": [
                {"name": p["name"], "accuracy": acc[i].tolist(),
                 "loss": None if loss is None else loss[i].tolist()}
                for i, p in enumerate(points)
            ],
        }
    return {
        "tasks": tasks,
        "loss_reference": loss_ref,
        "error_reference": error_ref,
        "note": (
            "Hypervolume (larger is better) of each method's test points, minimising per-task "
            "test cross-entropy (loss space) and per-task test error = 1 - accuracy (error "
            "space), bounded by the stated reference points; point coordinates in task order."
        ),
        "methods": methods,
    }
