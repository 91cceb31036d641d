"""`MultiTaskData`: a multi-task data set as the trainer sees it, and its data contract."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from mtl_tf.choices import REGRESSION_LOSS_UNITS
from mtl_tf.tasks import TaskSpec, as_label_dict, with_target_std

SPLITS = ("train", "val", "test")


@dataclasses.dataclass
class MultiTaskData:
    """A multi-task data set: its task specs, images and per-task labels.

    The data contract every source (generated pairs, MTFL, a tfds data set, an image
    folder with a CSV) follows:

    * ``tasks`` declares each task (:class:`mtl_tf.tasks.TaskSpec`: name, kind
      classification | regression, size = classes or outputs, regression loss, class
      names); its order is the head order.
    * ``*_labels`` is a dict ``{task name: array}`` with one entry per task, all of the
      same length N: int32 ``[N]`` class ids in ``0..size-1`` for a classification task,
      float32 ``[N, size]`` targets for a regression task. The legacy int ``[N, T]``
      matrix (all tasks classification, column k = task k) is accepted by the
      constructor and converted; consumers always see the dict.
    * ``*_images`` is uint8 ``[N, H, W]`` / ``[N, H, W, C]`` for in-memory data; a data
      set that decodes files instead holds what its own ``make_split_dataset`` needs
      there (MTFL: the image paths) and provides that method (see
      ``mtl_tf.data.pipeline.split_dataset``), yielding ``(float32 images in [0, 1],
      {task: label batch})`` with labels as above.

    Attributes:
      name: Registry name, one of :data:`DATASETS`, or a user source's name.
      tasks: One spec per task.
      input_shape: ``(H, W, C)`` of one input image as the model sees it.
      train_images: ``[N, ...]`` images (or paths, see above).
      train_labels: ``{task: labels}`` of the N training examples.
      test_images: ``[M, ...]``.
      test_labels: ``{task: labels}`` of the M test examples.
      origin: Where the source data came from, for logs.
      val_images: ``[V, ...]`` validation examples, or None without a validation split
        (the generated pairs build them from source training images no training pair
        uses).
      val_labels: ``{task: labels}``, or None without a validation split.
    """

    name: str
    tasks: tuple[TaskSpec, ...]
    input_shape: tuple[int, int, int]
    train_images: np.ndarray
    train_labels: Mapping[str, np.ndarray]
    test_images: np.ndarray
    test_labels: Mapping[str, np.ndarray]
    origin: str
    val_images: np.ndarray | None = None
    val_labels: Mapping[str, np.ndarray] | None = None

    def __post_init__(self) -> None:
        self.tasks = tuple(self.tasks)
        names = [t.name for t in self.tasks]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"{self.name}: task names must be non-empty and unique, got {names}")
        for split in SPLITS:
            labels = getattr(self, f"{split}_labels")
            if labels is not None:
                setattr(self, f"{split}_labels",
                        as_label_dict(labels, self.tasks, f"{self.name} {split} labels"))

    @property
    def task_names(self) -> tuple[str, ...]:
        """Task names in head order."""
        return tuple(t.name for t in self.tasks)

    @property
    def num_classes(self) -> tuple[int, ...]:
        """Each task's size: classes (classification) or outputs (regression)."""
        return tuple(t.size for t in self.tasks)

    def spec(self, task: str) -> TaskSpec:
        """The spec of the task named ``task``."""
        for t in self.tasks:
            if t.name == task:
                return t
        raise KeyError(f"{self.name} has no task {task!r}; its tasks: {', '.join(self.task_names)}")

    def num_examples(self, split: str) -> int:
        """Examples in a split (0 for an absent validation split)."""
        labels = getattr(self, f"{split}_labels")
        return 0 if labels is None else len(next(iter(labels.values())))

    def labels(self, split: str, tasks: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """``{task: labels}`` of a split, for ``tasks`` (default all) in that order."""
        labels = getattr(self, f"{split}_labels")
        if labels is None:
            raise ValueError(f"the {self.name} data has no {split!r} split")
        return {t: labels[t] for t in (tasks if tasks is not None else self.task_names)}

    def with_regression_loss_units(self, units: str) -> MultiTaskData:
        """This data set with its regression losses in ``units``: ``"raw"`` returns it
        as it is; ``"standardized"`` a shallow copy whose regression specs carry the
        training targets' std (`mtl_tf.tasks.with_target_std`; ValueError without a
        regression task). The arrays are shared, not copied."""
        if units == "raw":
            return self
        if units not in REGRESSION_LOSS_UNITS:
            raise ValueError(f"unknown regression loss units {units!r}; allowed: "
                             f"{', '.join(REGRESSION_LOSS_UNITS)}")
        out = copy.copy(self)
        out.tasks = with_target_std(self.tasks, self.train_labels)
        return out

    def label_matrix(self, split: str) -> np.ndarray:
        """int32 ``[N, T]`` labels of an all-classification split, column k = task k
        (the papers' layout, for code and tests that index columns)."""
        regression = [t.name for t in self.tasks if not t.is_classification]
        if regression:
            raise ValueError(f"{self.name}: tasks {regression} are regressions; use labels()")
        labels = self.labels(split)
        return np.stack([labels[t] for t in self.task_names], axis=1).astype(np.int32)
