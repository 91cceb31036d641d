"""`MultiTaskData`: a multi-task data set as the trainer sees it."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class MultiTaskData:
    """A multi-task data set as numpy arrays.

    Attributes:
      name: Registry name, one of :data:`DATASETS`.
      task_names: One name per task; label column ``i`` belongs to ``task_names[i]``.
      num_classes: Number of classes of each task.
      input_shape: ``(H, W, C)`` of one input image as the model sees it.
      train_images: uint8 ``[N, H, W]``.
      train_labels: int32 ``[N, num_tasks]``.
      test_images: uint8 ``[M, H, W]``.
      test_labels: int32 ``[M, num_tasks]``.
      origin: Where the source data came from, for logs.
      val_images: uint8 ``[V, H, W]`` validation pairs, or None without a validation
        split. Built from source training images that no training pair uses.
      val_labels: int32 ``[V, num_tasks]``, or None without a validation split.
    """

    name: str
    task_names: tuple[str, ...]
    num_classes: tuple[int, ...]
    input_shape: tuple[int, int, int]
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    origin: str
    val_images: np.ndarray | None = None
    val_labels: np.ndarray | None = None
