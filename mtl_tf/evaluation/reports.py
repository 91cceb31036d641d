"""Experiment reports: the papers' robustness tables, curves, example grids and fronts.

Input: one `metrics.json` dictionary per method (schema in `mtl_tf.evaluation.report`),
keyed by method name, e.g. ``{"stl": ..., "gs": ..., "mtvib": ..., "pareto_mtl": ...}``.
Outputs and the paper items they reproduce:

* `robustness_table` / `write_table_markdown` / `write_table_csv`: MTVIB Tables III-V
  (test accuracy per task and FGSM eta, one column per method), plus a block of joint
  accuracy rows (the numbers of MTVIB Fig. 5).
* `plot_robustness_curves`: the same numbers as curves, one panel per task.
* `plot_joint_accuracy`: MTVIB Fig. 5 (joint accuracy vs eta).
* `plot_adversarial_examples`: MTVIB Figs. 2-3 (clean row, then one row per eta).
* `plot_accuracy_front`: Pareto MTL Fig. 4 (task 1 vs task 2 test accuracy, every model).
* `front_hypervolumes`: hypervolume of each method's models in loss and error space.
* `write_report`: all of the above into one directory, with a README.md.

Columns of multi-model methods
------------------------------
A method whose run has a single answer (one shared model; STL/STVIB's per-task models
combined; grid search's best point) gets ONE column. A method that trains several models
for the same tasks and has no single answer (Pareto MTL: one model per preference, top-level
``accuracy``/``robustness`` null) gets ONE COLUMN PER MODEL, "Pareto MTL (pref i)". Why not
the best model by clean joint accuracy: Pareto MTL's point is the trade-off set; picking one
preference after looking at test accuracy would be test-set selection, and the extreme
preferences are exactly the models that differ in robustness per task.

Missing robustness
------------------
Runs made before the FGSM evaluation was added have no ``"robustness"`` section. The table
then falls back to the clean test accuracy (the eta = 0 row, which is the same quantity:
inference mode on the test set), other cells read "n/a", and the robustness plots are
skipped with a logged warning.

Every file is written atomically (temporary name in the destination directory + rename,
`mtl_tf.io_utils`), so a crashed or concurrent report never leaves a truncated file.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from absl import logging

from mtl_tf.evaluation.hypervolume import (
    error_space_hypervolume,
    loss_space_hypervolume,
)
from mtl_tf.io_utils import atomic_write_bytes, atomic_write_json, atomic_write_text

__all__ = [
    "DISPLAY_NAMES",
    "METHOD_ORDER",
    "attack_description",
    "front_hypervolumes",
    "front_points",
    "load_run_metrics",
    "plot_accuracy_front",
    "plot_adversarial_examples",
    "plot_joint_accuracy",
    "plot_robustness_curves",
    "robustness_table",
    "write_report",
    "write_table_csv",
    "write_table_markdown",
]

# MTVIB Tables III-V's column order, then the Pareto MTL paper's other baselines.
METHOD_ORDER: tuple[str, ...] = (
    "stl", "stvib", "gs", "uwl", "mtvib", "gradnorm", "mgda", "pareto_mtl",
)
DISPLAY_NAMES: dict[str, str] = {
    "stl": "STL",
    "stvib": "STVIB",
    "gs": "GS",
    "uwl": "UWL",
    "mtvib": "MTVIB",
    "gradnorm": "GradNorm",
    "mgda": "MGDA",
    "pareto_mtl": "Pareto MTL",
}
_ATTACK_NAMES = {
    "fgsm": "FGSM (MTVIB eq. 25)",
    "fgsm-eot": "FGSM with expectation over transformation",
    "pgd": "L-inf PGD",
    "pgd-eot": "L-inf PGD with expectation over transformation",
}
NA = "n/a"
JOINT_ROW = "joint"


# ----------------------------------------------------------------------------- columns
@dataclasses.dataclass(frozen=True)
class _Column:
    """One table column / one plotted line: a method's single answer or one of its models."""

    label: str
    method: str
    robustness: dict | None
    accuracy: Mapping[str, float] | None  # clean test accuracy
    joint_accuracy: float | None  # clean test joint accuracy
    index: int = 0  # position among the method's columns (line styles)


def _display(method: str) -> str:
    # "|" would end a Markdown cell; method keys are free-form labels.
    return DISPLAY_NAMES.get(method, method).replace("|", "/")


def _ordered_methods(metrics_by_method: Mapping[str, dict]) -> list[str]:
    known = [m for m in METHOD_ORDER if m in metrics_by_method]
    return known + [m for m in metrics_by_method if m not in METHOD_ORDER]


def _model_label(method: str, model: Mapping[str, Any]) -> str:
    name = str(model.get("name", "?"))
    if name.startswith("preference_"):
        name = "pref " + name[len("preference_") :]
    return f"{_display(method)} ({name})".replace("|", "/")


def _columns(metrics_by_method: Mapping[str, dict]) -> list[_Column]:
    columns: list[_Column] = []
    for method in _ordered_methods(metrics_by_method):
        metrics = metrics_by_method[method]
        models = metrics.get("models") or []
        if metrics.get("robustness") or metrics.get("accuracy") is not None:
            # One answer: a shared model, STL/STVIB combined, or the grid's best point.
            robustness = metrics.get("robustness")
            if not robustness and len(models) == 1:
                robustness = models[0].get("robustness")
            columns.append(
                _Column(_display(method), method, robustness or None,
                        metrics.get("accuracy"), metrics.get("joint_accuracy"))
            )
        else:
            # Several models for the same tasks (Pareto MTL): one column per model.
            for i, model in enumerate(models):
                columns.append(
                    _Column(_model_label(method, model), method, model.get("robustness") or None,
                            model.get("accuracy"), model.get("joint_accuracy"), i)
                )
    return columns


def _tasks(metrics_by_method: Mapping[str, dict]) -> list[str]:
    """The common task list; comparing runs on different tasks is a mistake."""
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


def _etas(columns: Sequence[_Column]) -> list[str]:
    """Union of the eta keys of every robustness dict, sorted by value; ["0"] if none."""
    keys = {k for c in columns if c.robustness for k in c.robustness.get("accuracy", {})}
    return sorted(keys, key=float) if keys else ["0"]


def _has_robustness(columns: Sequence[_Column]) -> bool:
    return any(c.robustness for c in columns)


def _task_accuracy(column: _Column, task: str, eta: str) -> float | None:
    if column.robustness:
        value = column.robustness.get("accuracy", {}).get(eta, {}).get(task)
        if value is not None:
            return float(value)
    if float(eta) == 0.0 and column.accuracy and column.accuracy.get(task) is not None:
        return float(column.accuracy[task])  # clean accuracy = the eta = 0 entry
    return None


def _joint_accuracy(column: _Column, eta: str) -> float | None:
    if column.robustness and column.robustness.get("joint_accuracy"):
        value = column.robustness["joint_accuracy"].get(eta)
        if value is not None:
            return float(value)
    # STL/STVIB: no joint attack (each task's model is attacked alone), but the clean
    # joint accuracy of their combined predictions is well defined.
    if float(eta) == 0.0 and column.joint_accuracy is not None:
        return float(column.joint_accuracy)
    return None


def _pct(value: float | None) -> str:
    return NA if value is None or not math.isfinite(value) else f"{100.0 * value:.1f}"


# ----------------------------------------------------------------------------- table
def robustness_table(
    metrics_by_method: dict[str, dict],
) -> tuple[list[str], list[list[str]]]:
    """The layout of MTVIB Tables III-V: test accuracy (%) per (task, eta) and method.

    Rows: every (task, eta) pair, tasks in the runs' order and etas ascending, then a
    block of ("joint", eta) rows: the joint accuracy of MTVIB Fig. 5 (null for STL/STVIB
    under attack, whose tasks are attacked separately; their clean joint accuracy is
    shown at eta 0). Columns: "task", "eta", then one per method in `METHOD_ORDER`
    (STL, STVIB, GS, UWL, MTVIB, GradNorm, MGDA, Pareto MTL) followed by unknown methods
    in input order; Pareto MTL gets one column per preference model (module docstring).
    Cells: accuracy in percent with one decimal ("94.8"), "n/a" where the run has no
    number.

    Args:
      metrics_by_method: method name -> metrics.json dictionary.

    Returns:
      (header, rows), all strings.

    Raises:
      ValueError: if no runs are given or the runs have different tasks.
    """
    tasks = _tasks(metrics_by_method)
    columns = _columns(metrics_by_method)
    if not _has_robustness(columns):
        logging.warning("No run has a robustness section: the table holds clean accuracy only")
    etas = _etas(columns)
    header = ["task", "eta", *[c.label for c in columns]]
    rows = [
        [task, eta, *[_pct(_task_accuracy(c, task, eta)) for c in columns]]
        for task in tasks
        for eta in etas
    ]
    rows += [[JOINT_ROW, eta, *[_pct(_joint_accuracy(c, eta)) for c in columns]] for eta in etas]
    return header, rows


def attack_description(metrics_by_method: dict[str, dict]) -> str:
    """One line naming the attack (and attacked loss) behind the table's numbers."""
    described: dict[str, list[str]] = {}
    for column in _columns(metrics_by_method):
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


def _markdown_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |"


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [_markdown_row(header), "|" + "|".join("---" for _ in header) + "|"]
    lines += [_markdown_row(r) for r in rows]
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
      header, rows: as returned by `robustness_table`.
      title: a line above the table.
      note: a line below the table (e.g. `attack_description`).

    Returns:
      ``path``.
    """
    parts = [title, "", _markdown_table(header, rows)] if title else [_markdown_table(header, rows)]
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


# ----------------------------------------------------------------------------- plots
def _figure(width: float, height: float):
    # A bare Figure (no pyplot): no global state and no GUI backend, safe in threads and
    # on headless machines.
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _save_png(fig, path: str) -> bytes:
    """Renders `fig` to PNG and writes it atomically (temp file + os.replace)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    data = buffer.getvalue()
    atomic_write_bytes(path, data)
    return data


_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def _style(column: _Column, methods: Sequence[str]) -> dict[str, Any]:
    """One colour per method; a method's several models differ by marker and line style."""
    from matplotlib import colormaps

    colour = colormaps["tab10"](methods.index(column.method) % 10)
    return {
        "color": colour,
        "marker": _MARKERS[(methods.index(column.method) + column.index) % len(_MARKERS)],
        "linestyle": ("-", "--", ":", "-.")[column.index % 4],
    }


def plot_robustness_curves(metrics_by_method: dict[str, dict], path: str) -> str | None:
    """Accuracy vs eta, one panel per task, one line per column: MTVIB Tables III-V as curves.

    Returns:
      ``path``, or None (nothing written, warning logged) when no run has robustness data.
    """
    tasks = _tasks(metrics_by_method)
    columns = [c for c in _columns(metrics_by_method) if c.robustness]
    if not columns:
        logging.warning("No robustness data: skipping %s", path)
        return None
    methods = _ordered_methods(metrics_by_method)
    etas = _etas(columns)
    fig = _figure(4.2 * len(tasks), 3.6)
    axes = fig.subplots(1, len(tasks), squeeze=False)[0]
    for ax, task in zip(axes, tasks, strict=True):
        for column in columns:
            xs, ys = _series(etas, lambda e, c=column, t=task: _task_accuracy(c, t, e))
            ax.plot(xs, ys, label=column.label, **_style(column, methods))
        ax.set_title(f"Task {task}")
        ax.set_xlabel("FGSM eta")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize="small")
    _save_png(fig, path)
    return path


def _series(etas: Sequence[str], value) -> tuple[list[float], list[float]]:
    pairs = [(float(e), value(e)) for e in etas]
    return [x for x, y in pairs if y is not None], [100.0 * y for _, y in pairs if y is not None]


def plot_joint_accuracy(metrics_by_method: dict[str, dict], path: str) -> str | None:
    """Joint test accuracy (all tasks right) vs eta: MTVIB Fig. 5.

    Only columns with a joint accuracy under attack are drawn (not STL/STVIB, whose tasks
    are attacked separately).

    Returns:
      ``path``, or None (nothing written, warning logged) when there is nothing to draw.
    """
    _tasks(metrics_by_method)
    columns = [
        c for c in _columns(metrics_by_method)
        if c.robustness and any(v is not None for v in (c.robustness.get("joint_accuracy") or {})
                                .values())
    ]
    if not columns:
        logging.warning("No joint accuracy under attack: skipping %s", path)
        return None
    methods = _ordered_methods(metrics_by_method)
    etas = _etas(columns)
    fig = _figure(5.0, 3.8)
    ax = fig.subplots()
    for column in columns:
        xs, ys = _series(etas, lambda e, c=column: _joint_accuracy(c, e))
        ax.plot(xs, ys, label=column.label, **_style(column, methods))
    ax.set_title("Joint accuracy under FGSM (MTVIB Fig. 5)")
    ax.set_xlabel("FGSM eta")
    ax.set_ylabel("joint test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    _save_png(fig, path)
    return path


def _as_images(images) -> np.ndarray:
    """uint8 [B, H, W] / [B, H, W, C] or float in [0, 1] -> float32 [B, H, W, C] in [0, 1]."""
    x = np.asarray(images)
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    return x[..., None] if x.ndim == 3 else x


def _label_columns(labels, task_names: Sequence[str]) -> np.ndarray:
    if isinstance(labels, Mapping):
        return np.stack([np.asarray(labels[t]) for t in task_names], axis=1).astype(np.int64)
    return np.asarray(labels).astype(np.int64).reshape(len(labels), len(task_names))


def plot_adversarial_examples(
    model,
    images,
    labels,
    task_names: Sequence[str],
    etas: Sequence[float],
    path: str,
    *,
    tensorboard_dir: str | None = None,
    max_examples: int = 8,
) -> str:
    """Clean and FGSM adversarial examples: MTVIB Figs. 2-3 (and Fig. 4 for MTFL).

    Row 0 holds the original images, then one row per eta > 0 (as in the papers' figures),
    columns are examples. Each column is titled with the true labels, each image with
    the model's inference-mode predictions (green: every task right, red: not).

    Args:
      model: a `MultiTaskTrainer`.
      images: [B, H, W(, C)], uint8 or float in [0, 1]; the first `max_examples` are used.
      labels: {task: int [B]} or int [B, T] in ``task_names`` order.
      task_names: tasks to attack (the attacked loss sums over them) and to label.
      etas: perturbation sizes; eta = 0 is the clean row, always shown first.
      path: PNG destination.
      tensorboard_dir: if given, also writes the images as TensorBoard image summaries
        ("adversarial_examples/eta_<eta>", one image per example, and
        "adversarial_examples/grid", the whole figure).
      max_examples: at most this many columns.

    Returns:
      ``path``.
    """
    from mtl_tf.evaluation import attacks

    x = _as_images(images)[:max_examples]
    y = _label_columns(labels, task_names)[: len(x)]
    label_dict = {t: y[:, k] for k, t in enumerate(task_names)}
    # The clean row first, then every positive eta in ascending order.
    grid_etas = [0.0] + sorted({float(e) for e in attacks.validate_etas(etas) if float(e) > 0})
    rows = [
        x if eta == 0.0 else np.asarray(
            attacks.perturb_fgsm(model, x, label_dict, eta, task_names=task_names)
        )
        for eta in grid_etas
    ]
    predictions = [_predict(model, r, task_names) for r in rows]

    n = len(x)
    fig = _figure(1.25 * n + 0.8, 1.35 * len(grid_etas) + 0.4)
    axes = fig.subplots(len(grid_etas), n, squeeze=False)
    for i, (eta, row, pred) in enumerate(zip(grid_etas, rows, predictions, strict=True)):
        for j in range(n):
            ax = axes[i, j]
            image = row[j]
            if image.shape[-1] == 1:
                ax.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
            else:
                ax.imshow(np.clip(image, 0.0, 1.0))
            ax.set_xticks([])
            ax.set_yticks([])
            right = bool(np.all(pred[j] == y[j]))
            ax.set_xlabel("p " + ",".join(map(str, pred[j])), fontsize=7,
                          color="green" if right else "red")
            if i == 0:
                ax.set_title("y " + ",".join(map(str, y[j])), fontsize=7)
            if j == 0:
                ax.set_ylabel("clean" if eta == 0.0 else f"eta {attacks.eta_key(eta)}",
                              fontsize=8)
    png = _save_png(fig, path)
    if tensorboard_dir:
        summaries = {
            f"adversarial_examples/eta_{attacks.eta_key(eta)}": row
            for eta, row in zip(grid_etas, rows, strict=True)
        }
        _write_tensorboard_images(tensorboard_dir, summaries, grid_png=png)
    return path


def _predict(model, images: np.ndarray, task_names: Sequence[str]) -> np.ndarray:
    logits = model(images, training=False)
    return np.stack([np.asarray(logits[t]).argmax(-1) for t in task_names], axis=1)


def _write_tensorboard_images(
    tensorboard_dir: str, images_by_tag: Mapping[str, np.ndarray], *, grid_png: bytes
) -> None:
    """Writes image summaries into a fresh event file, published atomically.

    The event file is written in a temporary sub-directory and renamed into
    `tensorboard_dir` once closed, so TensorBoard never reads a half-written file; the
    event files of earlier reports in that directory are then removed (stale images).
    """
    import tensorflow as tf

    os.makedirs(tensorboard_dir, exist_ok=True)
    old = [f for f in os.listdir(tensorboard_dir) if f.startswith("events.out.tfevents")]
    tmp = tempfile.mkdtemp(prefix=".tmp-", dir=tensorboard_dir)
    try:
        writer = tf.summary.create_file_writer(tmp)
        with writer.as_default():
            for tag, images in images_by_tag.items():
                tf.summary.image(tag, images, step=0, max_outputs=len(images))
            grid = tf.io.decode_png(grid_png, channels=3)[None]
            tf.summary.image("adversarial_examples/grid", grid, step=0)
        writer.flush()
        writer.close()
        for name in os.listdir(tmp):
            os.replace(os.path.join(tmp, name), os.path.join(tensorboard_dir, name))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for name in old:
        os.remove(os.path.join(tensorboard_dir, name))


# ----------------------------------------------------------------------------- fronts
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

    Single-task baselines (STL, STVIB) are drawn as a star with dashed guide lines, the
    reference Pareto MTL compares against.

    Returns:
      ``path``, or None (nothing written, warning logged) unless the runs have 2 tasks.
    """
    tasks = _tasks(metrics_by_method)
    if len(tasks) != 2:
        logging.warning("The accuracy front needs 2 tasks, the runs have %d: skipping %s",
                        len(tasks), path)
        return None
    methods = _ordered_methods(metrics_by_method)
    fig = _figure(5.0, 4.4)
    ax = fig.subplots()
    from matplotlib import colormaps

    for i, method in enumerate(methods):
        points = front_points(metrics_by_method[method])
        if not points:
            continue
        xs = [100 * p["accuracy"][tasks[0]] for p in points]
        ys = [100 * p["accuracy"][tasks[1]] for p in points]
        colour = colormaps["tab10"](i % 10)
        reference = method in ("stl", "stvib")
        ax.scatter(xs, ys, color=colour, marker="*" if reference else _MARKERS[i % 10],
                   s=160 if reference else 45, label=_display(method), zorder=3)
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
    _save_png(fig, path)
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

    Returns:
      {"tasks", "loss_reference", "error_reference", "note",
       "methods": {method: {"num_points", "loss_space" (None if a point lacks losses),
                            "error_space", "points": [...]}}}
    """
    tasks = _tasks(metrics_by_method)
    m = len(tasks)
    loss_ref = [2.0] * m if loss_reference is None else [float(r) for r in loss_reference]
    error_ref = [1.0] * m if error_reference is None else [float(r) for r in error_reference]
    if len(loss_ref) != m or len(error_ref) != m:
        raise ValueError(f"reference points must have {m} coordinates (one per task)")
    methods: dict[str, dict] = {}
    for method in _ordered_methods(metrics_by_method):
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


# ----------------------------------------------------------------------------- report
def load_run_metrics(run_dirs: dict[str, str]) -> dict[str, dict]:
    """Reads ``<run_dir>/metrics.json`` for each method.

    Raises:
      FileNotFoundError: naming the method whose run has no metrics.json (unfinished).
    """
    result = {}
    for method, run_dir in run_dirs.items():
        path = os.path.join(run_dir, "metrics.json")
        if not os.path.exists(path):
            raise FileNotFoundError(f"{method}: {path} does not exist (run not finished?)")
        with open(path, encoding="utf-8") as f:
            result[method] = json.load(f)
    return result


def write_report(
    metrics_by_method: dict[str, dict],
    report_dir: str,
    *,
    example_model=None,
    example_images=None,
    example_labels=None,
    example_etas: Sequence[float] | None = None,
) -> dict[str, str]:
    """Writes every report file into `report_dir` (see the module docstring).

    Files: ``table.md`` and ``table.csv`` (MTVIB Tables III-V + joint rows),
    ``robustness.png`` (one panel per task) and ``joint_accuracy.png`` (MTVIB Fig. 5) when
    robustness data exist, ``front.png`` (Pareto MTL Fig. 4) for two tasks,
    ``hypervolume.json``, ``examples.png`` and ``tensorboard/`` (MTVIB Figs. 2-3) when an
    example model is given, and ``README.md`` summarising them.

    Args:
      metrics_by_method: method -> metrics.json dictionary.
      report_dir: destination directory (created).
      example_model: a `MultiTaskTrainer` whose adversarial examples to draw.
      example_images, example_labels: the images and labels to attack (see
        `plot_adversarial_examples`).
      example_etas: the example rows; default the etas of the robustness table, else
        MTVIB's grid (0, 0.05, ..., 0.3).

    Returns:
      file name -> path of every file (and the tensorboard directory) written.
    """
    os.makedirs(report_dir, exist_ok=True)
    written: dict[str, str] = {}

    def out(name: str) -> str:
        return os.path.join(report_dir, name)

    header, rows = robustness_table(metrics_by_method)
    attack = attack_description(metrics_by_method)
    tasks = _tasks(metrics_by_method)
    dataset = ", ".join(sorted({str(m.get("dataset")) for m in metrics_by_method.values()}))
    title = f"Test accuracy (%) under adversarial attack on {dataset} (MTVIB Tables III-V layout)"
    written["table.md"] = write_table_markdown(out("table.md"), header, rows, title=title,
                                               note=attack)
    written["table.csv"] = write_table_csv(out("table.csv"), header, rows)
    for name, plot in (("robustness.png", plot_robustness_curves),
                       ("joint_accuracy.png", plot_joint_accuracy),
                       ("front.png", plot_accuracy_front)):
        if plot(metrics_by_method, out(name)):
            written[name] = out(name)
    hypervolumes = front_hypervolumes(metrics_by_method)
    atomic_write_json(out("hypervolume.json"), hypervolumes)
    written["hypervolume.json"] = out("hypervolume.json")
    if example_model is not None:
        if example_images is None or example_labels is None:
            raise ValueError("example_model needs example_images and example_labels")
        etas = example_etas
        if etas is None:
            table_etas = [float(e) for e in _etas(_columns(metrics_by_method))]
            etas = table_etas if len(table_etas) > 1 else (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
        written["examples.png"] = plot_adversarial_examples(
            example_model, example_images, example_labels,
            list(example_model.task_names), etas, out("examples.png"),
            tensorboard_dir=out("tensorboard"),
        )
        written["tensorboard"] = out("tensorboard")
    atomic_write_text(out("README.md"), _readme(metrics_by_method, header, rows, attack, tasks,
                                                hypervolumes, written, title))
    written["README.md"] = out("README.md")
    return written


def _readme(metrics_by_method, header, rows, attack, tasks, hypervolumes, written, title) -> str:
    lines = ["# Experiment report", ""]
    lines += ["| method | epochs | train pairs | test pairs | models | wall time (s) |",
              "|---|---|---|---|---|---|"]
    for method in _ordered_methods(metrics_by_method):
        m = metrics_by_method[method]
        lines.append(_markdown_row([
            _display(method), m.get("epochs"), m.get("train_size"), m.get("test_size"),
            len(m.get("models") or []), m.get("wall_time_seconds"),
        ]))
    lines += ["", f"## {title}", "", _markdown_table(header, rows), "", attack, "",
              "Rows: task x eta, then the joint accuracy (every task right, MTVIB Fig. 5). "
              "Pareto MTL: one column per preference model. n/a: not measured (STL/STVIB "
              "have no joint accuracy under attack: each task's model is attacked alone).", ""]
    lines += ["## Hypervolume of the test points (larger is better)", "",
              f"Loss space: per-task test cross-entropy, reference point "
              f"{tuple(hypervolumes['loss_reference'])}; error space: 1 - accuracy, reference "
              f"point {tuple(hypervolumes['error_reference'])}; tasks {tuple(tasks)}.", "",
              "| method | points | HV loss space | HV error space |", "|---|---|---|---|"]
    for method, hv in hypervolumes["methods"].items():
        loss = "n/a" if hv["loss_space"] is None else f"{hv['loss_space']:.4f}"
        lines.append(_markdown_row([_display(method), hv["num_points"], loss,
                                    f"{hv['error_space']:.4f}"]))
    lines += ["", "## Figures", ""]
    captions = {
        "robustness.png": "Test accuracy vs FGSM eta, one panel per task (MTVIB Tables III-V)",
        "joint_accuracy.png": "Joint accuracy vs FGSM eta (MTVIB Fig. 5)",
        "front.png": "Task 1 vs task 2 test accuracy of every model (Pareto MTL Fig. 4)",
        "examples.png": "Clean and FGSM adversarial examples (MTVIB Figs. 2-3); also in "
                        "TensorBoard under tensorboard/",
    }
    for name, caption in captions.items():
        if name in written:
            lines.append(f"* {caption}: ![{name}]({name})")
    if not any(name in written for name in ("robustness.png", "joint_accuracy.png")):
        lines.append("* No robustness data in these runs: robustness plots skipped.")
    lines += ["", "Data: `table.csv` (the table), `hypervolume.json` (points and hypervolumes)."]
    return "\n".join(lines) + "\n"
