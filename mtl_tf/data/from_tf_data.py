"""Your own ``tf.data`` pipelines as a `MultiTaskData`: the Python API's way in.

`from_tf_data` reads each split once, from a dataset of ``(image, {task: label})``
elements (batched or not), checks the labels against the task specs and keeps the split
in memory, so the run trains exactly as the CLI's runs do (seeded per-epoch shuffles,
checkpoints, resume, metrics, attacks, export):

    data = from_tf_data(tasks, train=train_ds, test=test_ds)
    metrics = run(RunConfig(method="mtvib", ...), data)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mtl_tf.data.multitask import MultiTaskData
from mtl_tf.tasks import TaskSpec

__all__ = ["from_tf_data"]


def _read(ds, tasks: Sequence[TaskSpec], split: str) -> tuple[np.ndarray, dict]:
    images, labels = [], {t.name: [] for t in tasks}
    for element in ds.as_numpy_iterator():
        if not (isinstance(element, tuple) and len(element) == 2
                and isinstance(element[1], dict)):
            raise ValueError(f"the {split} dataset must yield (image, {{task: label}}) pairs")
        image, label = element
        missing = [t.name for t in tasks if t.name not in label]
        if missing:
            raise ValueError(f"the {split} dataset's labels lack the tasks {missing}; they "
                             f"hold {sorted(label)}")
        batched = image.ndim == 4
        images.append(image if batched else image[np.newaxis])
        for t in tasks:
            y = np.asarray(label[t.name])
            labels[t.name].append(y if batched else y[np.newaxis])
    if not images:
        raise ValueError(f"the {split} dataset is empty")
    pixels = np.concatenate(images)
    if pixels.ndim != 4:
        raise ValueError(f"{split} images must be [H, W, C] each, got {list(pixels.shape[1:])}")
    if pixels.dtype != np.uint8:
        # Floats in [0, 1], as the models take them: kept as 0..255 (the in-memory form
        # of every data set here, 4x smaller), exact to 1/510.
        pixels = pixels.astype(np.float32)
        if not np.all(np.isfinite(pixels)) or pixels.min() < 0.0 or pixels.max() > 1.0:
            raise ValueError(f"{split} images must be uint8, or floats in [0, 1]; got values "
                             f"in [{pixels.min()}, {pixels.max()}]")
        pixels = np.rint(pixels * 255.0).astype(np.uint8)
    out = {}
    for t in tasks:
        y = np.concatenate(labels[t.name])
        out[t.name] = y.astype(np.int32) if t.is_classification else y.astype(np.float32)
    return pixels, out


def from_tf_data(tasks: Sequence[TaskSpec], *, train, test, val=None,
                 name: str = "tf_data") -> MultiTaskData:
    """A `MultiTaskData` from ``tf.data`` pipelines of ``(image, {task: label})``.

    Args:
      tasks: the task specs (`mtl_tf.tasks.TaskSpec`), in head order.
      train / test / val: ``tf.data.Dataset``s (val optional) of images (uint8 0..255 or
        float in [0, 1], ``[H, W, C]``, batched or not) and per-task labels (class ids
        ``[]`` or regression targets ``[size]``).
      name: the data set's name in metrics.json and reports.

    Raises:
      ValueError: an element that is not ``(image, {task: label})``, a task missing from
        the labels, labels that do not fit their spec, or images of different sizes.
    """
    tasks = tuple(tasks)
    splits = {s: _read(ds, tasks, s) for s, ds in (("train", train), ("test", test),
                                                   ("val", val)) if ds is not None}
    shapes = {tuple(x.shape[1:]) for x, _ in splits.values()}
    if len(shapes) != 1:
        raise ValueError(f"every split needs images of one shape, got {sorted(shapes)}")
    (shape,) = shapes
    val_images, val_labels = splits.get("val", (None, None))
    return MultiTaskData(
        name=name, tasks=tasks, input_shape=shape,
        train_images=splits["train"][0], train_labels=splits["train"][1],
        test_images=splits["test"][0], test_labels=splits["test"][1],
        origin="tf.data pipelines (mtl_tf.data.from_tf_data)",
        val_images=val_images, val_labels=val_labels,
    )
