"""Clean and adversarial test images: MTVIB Figs. 2-3 (Fig. 4 for MTFL), as a PNG grid and
as TensorBoard image summaries."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence

import numpy as np

from mtl_tf.evaluation import units
from mtl_tf.evaluation.reports import canvas
from mtl_tf.evaluation.reports import columns as cols

__all__ = ["MTVIB_ETAS", "default_example_etas", "plot_adversarial_examples"]

# MTVIB's FGSM grid (Tables III-V, Figs. 2-3).
MTVIB_ETAS: tuple[float, ...] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)


def default_example_etas(metrics_by_method: dict[str, dict]) -> list[float]:
    """The example rows of a report: the robustness table's etas, else `MTVIB_ETAS`."""
    table_etas = [float(e) for e in cols.column_etas(cols.method_columns(metrics_by_method))]
    return table_etas if len(table_etas) > 1 else list(MTVIB_ETAS)


def _as_images(images) -> np.ndarray:
    """uint8 [B, H, W] / [B, H, W, C] or float in [0, 1] -> float32 [B, H, W, C] in [0, 1]."""
    x = np.asarray(images)
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    return x[..., None] if x.ndim == 3 else x


def _label_dict(labels, task_names: Sequence[str], specs) -> dict[str, np.ndarray]:
    # {task: labels} in each spec's dtype: class ids, or a regression task's [B, d] targets.
    if isinstance(labels, Mapping):
        return {s.name: np.asarray(labels[s.name]).astype(s.label_dtype)
                .reshape(s.label_shape(len(labels[s.name]))) for s in specs}
    matrix = np.asarray(labels).astype(np.int64).reshape(len(labels), len(task_names))
    return {t: matrix[:, k] for k, t in enumerate(task_names)}


def _cell_text(specs, values: Mapping[str, np.ndarray], j: int, targets=None) -> str:
    # One example's text: each classification task's class id; for a regression task its
    # main error on that example (`TaskSpec.error_metric`), "-" on the title (targets are
    # vectors a cell cannot show).
    from mtl_tf.evaluation.metrics import regression_errors

    parts = []
    for spec in specs:
        if spec.is_classification:
            parts.append(str(int(values[spec.name][j])))
        elif targets is None:
            parts.append("-")
        else:
            error = regression_errors(values[spec.name][j:j + 1],
                                      targets[spec.name][j:j + 1].astype(np.float64), spec)
            # In the target's own units, as the table (`units.format_error`).
            parts.append(f"{spec.error_metric.upper()} "
                         f"{units.format_error(error[spec.error_metric])}")
    return ",".join(parts)


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
    the model's inference-mode predictions (green: every task right, red: not). A
    regression task (the model's `task_specs`) shows its main error on the example
    (NME or MAE) under the image and "-" in the title, and is not counted for the colour.

    Args:
      model: a `MultiTaskTrainer`.
      images: [B, H, W(, C)], uint8 or float in [0, 1]; the first `max_examples` are used.
      labels: {task: labels [B] (class ids) or [B, d] (a regression task's targets)}, or
        int [B, T] in ``task_names`` order (all classification).
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
    from mtl_tf.evaluation.attack_graph import task_specs_of

    specs = task_specs_of(model, task_names)
    x = _as_images(images)[:max_examples]
    label_dict = {t: v[: len(x)] for t, v in _label_dict(labels, task_names, specs).items()}
    classified = [s.name for s in specs if s.is_classification]
    # The clean row first, then every positive eta in ascending order.
    grid_etas = [0.0] + sorted({float(e) for e in attacks.validate_etas(etas) if float(e) > 0})
    rows = [
        x if eta == 0.0 else np.asarray(
            attacks.perturb_fgsm(model, x, label_dict, eta, task_names=task_names)
        )
        for eta in grid_etas
    ]
    predictions = [_predict(model, r, specs) for r in rows]

    n = len(x)
    fig = canvas.new_figure(1.25 * n + 0.8, 1.35 * len(grid_etas) + 0.4)
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
            # Right: every classification task (a regression has no "right", as in the
            # joint accuracy); its error on the example is printed instead.
            right = all(pred[t][j] == label_dict[t][j] for t in classified)
            ax.set_xlabel("p " + _cell_text(specs, pred, j, label_dict), fontsize=7,
                          color="green" if right else "red")
            if i == 0:
                ax.set_title("y " + _cell_text(specs, label_dict, j), fontsize=7)
            if j == 0:
                ax.set_ylabel("clean" if eta == 0.0 else f"eta {attacks.eta_key(eta)}",
                              fontsize=8)
    png = canvas.save_png(fig, path)
    if tensorboard_dir:
        summaries = {
            f"adversarial_examples/eta_{attacks.eta_key(eta)}": row
            for eta, row in zip(grid_etas, rows, strict=True)
        }
        _write_tensorboard_images(tensorboard_dir, summaries, grid_png=png)
    return path


def _predict(model, images: np.ndarray, specs) -> dict[str, np.ndarray]:
    # {task: predicted class ids [B], or a regression head's outputs [B, d]}.
    outputs = model(images, training=False)
    return {s.name: np.asarray(outputs[s.name]).argmax(-1) if s.is_classification
            else np.asarray(outputs[s.name]) for s in specs}


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
