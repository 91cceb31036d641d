"""Clean and adversarial test images: MTVIB Figs. 2-3 (Fig. 4 for MTFL), as a PNG grid and
as TensorBoard image summaries."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence

import numpy as np

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
            right = bool(np.all(pred[j] == y[j]))
            ax.set_xlabel("p " + ",".join(map(str, pred[j])), fontsize=7,
                          color="green" if right else "red")
            if i == 0:
                ax.set_title("y " + ",".join(map(str, y[j])), fontsize=7)
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
