"""tf.data input pipelines for multi-task image data held in numpy arrays."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

__all__ = ["epoch_seed", "make_dataset", "split_dataset"]


def epoch_seed(seed: int, epoch: int) -> int:
    """Derives the shuffle seed of one epoch from the run seed.

    Hashing ``(seed, epoch)`` through ``np.random.SeedSequence`` gives well-separated,
    platform-independent seeds, so epoch ``e`` always sees the same order whether the run
    was interrupted and resumed or not.

    Args:
      seed: The run seed.
      epoch: Zero-based epoch index.

    Returns:
      A non-negative int fitting in int64 (tf.data's seed type).
    """
    if seed < 0 or epoch < 0:
        raise ValueError(f"seed and epoch must be >= 0, got seed={seed}, epoch={epoch}")
    state = np.random.SeedSequence([seed, epoch]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


def _label_dict(labels, task_names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Labels as ``{task: array}``: a dict passes (int -> int32, float -> float32), an int
    ``[N, T]`` matrix (the papers' all-classification layout) is split by column."""
    if isinstance(labels, Mapping):
        missing = [t for t in task_names if t not in labels]
        if missing:
            raise ValueError(f"labels lack tasks {missing}; they hold {list(labels)}")
        out = {}
        for t in task_names:
            y = np.asarray(labels[t])
            out[t] = y.astype(np.int32 if np.issubdtype(y.dtype, np.integer) else np.float32)
        return out
    labels = np.asarray(labels)
    if labels.ndim == 1 and len(task_names) == 1:
        labels = labels[:, np.newaxis]
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be a dict task -> array or integers of shape [N, num_tasks], got "
            f"{labels.dtype} {labels.shape}"
        )
    if labels.shape[1] != len(task_names):
        raise ValueError(
            f"labels have {labels.shape[1]} columns (shape {labels.shape}) but "
            f"{len(task_names)} task names were given: {task_names}"
        )
    return {name: labels[:, i].astype(np.int32) for i, name in enumerate(task_names)}


def make_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    task_names: Sequence[str],
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    epoch: int = 0,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """Builds the ``(image, {task: label})`` pipeline for one epoch.

    Pipeline: ``from_tensor_slices -> cache -> shuffle -> batch -> map(to float) ->
    prefetch``. The images stay uint8 until after batching, which keeps the cache and the
    shuffle buffer four times smaller and converts a whole batch per map call. The
    shuffle seed is :func:`epoch_seed` of ``(seed, epoch)`` with
    ``reshuffle_each_iteration=False``: the trainer builds one dataset per epoch, and a
    resumed run sees exactly the batches an uninterrupted one would.

    Args:
      images: uint8 ``[N, H, W]`` (a channel axis is added) or ``[N, H, W, C]``.
      labels: ``{task: array}`` (int ``[N]`` class ids, float ``[N, d]`` regression
        targets; see `MultiTaskData`), or the papers' integer ``[N, num_tasks]`` matrix
        whose column ``i`` belongs to ``task_names[i]``.
      task_names: Names of the tasks, used as the keys of the label dict.
      batch_size: Examples per batch.
      shuffle: Shuffle the examples (over the whole data set) before batching.
      seed: Run seed; see :func:`epoch_seed`.
      epoch: Zero-based epoch index; see :func:`epoch_seed`.
      drop_remainder: Drop the last, smaller batch.

    Returns:
      A dataset of ``(float32 [B, H, W, C] in [0, 1], {task_name: labels})``: int32
      ``[B]`` for a classification task, float32 ``[B, d]`` for a regression task.

    Raises:
      ValueError: If shapes, dtypes or arguments are inconsistent.
    """
    images = np.asarray(images)
    task_names = tuple(task_names)
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {images.dtype} with shape {images.shape}")
    if images.ndim == 3:
        images = images[..., np.newaxis]
    elif images.ndim != 4:
        raise ValueError(f"images must have shape [N, H, W] or [N, H, W, C], got {images.shape}")
    if len(set(task_names)) != len(task_names) or not task_names:
        raise ValueError(f"task names must be non-empty and unique, got {task_names}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    label_dict = _label_dict(labels, task_names)
    for name, y in label_dict.items():
        if len(y) != images.shape[0]:
            raise ValueError(
                f"images and labels disagree on the number of examples: images "
                f"{images.shape}, labels of {name} {y.shape}"
            )
    ds = tf.data.Dataset.from_tensor_slices((images, label_dict)).cache()
    if shuffle:
        ds = ds.shuffle(
            buffer_size=images.shape[0],
            seed=epoch_seed(seed, epoch),
            reshuffle_each_iteration=False,
        )
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)

    def _to_float(x: tf.Tensor, y: dict[str, tf.Tensor]) -> tuple[tf.Tensor, dict]:
        return tf.cast(x, tf.float32) / 255.0, y

    ds = ds.map(_to_float, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def split_dataset(
    data,
    split: str,
    task_indices: Sequence[int],
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    epoch: int = 0,
) -> tf.data.Dataset:
    """The `tf.data` pipeline of one split of a multi-task data set, for some of its tasks.

    The one entry point the trainer uses. In-memory data sets (the MultiMNIST family)
    go through `make_dataset`; a data set that decodes from files (MTFL) provides
    `make_split_dataset(split, task_indices, batch_size, shuffle=, seed=, epoch=)` and is
    asked for its own pipeline.

    Args:
      data: a `MultiTaskData` (or any object with the same fields).
      split: "train", "val" or "test".
      task_indices: which label columns (tasks) to yield, in this order.
      batch_size: batch size.
      shuffle: shuffle by (seed, epoch) (training) or keep the order (evaluation).
      seed: run seed.
      epoch: epoch index, for the per-epoch shuffle.

    Returns:
      Batches of (float32 images in [0, 1], {task name: labels}).
    """
    tasks = [data.task_names[k] for k in task_indices]
    if hasattr(data, "make_split_dataset"):
        return data.make_split_dataset(split, list(task_indices), batch_size,
                                       shuffle=shuffle, seed=seed, epoch=epoch)
    images = getattr(data, f"{split}_images")
    if images is None:
        raise ValueError(f"the {data.name} data has no {split!r} split")
    return make_dataset(images, data.labels(split, tasks), tasks, batch_size,
                        shuffle=shuffle, seed=seed, epoch=epoch)
