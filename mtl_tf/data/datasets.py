"""Registry of the multi-task data sets the CLI can train on.

All three are two-task overlay data sets from Pareto MTL §6.1 (Lin et al., NeurIPS 2019),
built by :func:`mtl_tf.data.multi_mnist.make_multi_pairs`: a ``36 x 36`` canvas with one
item in the top-left and one in the bottom-right corner; task ``top_left`` classifies the
first item and task ``bottom_right`` the second (10 classes each).

* ``multi_mnist``: both items are MNIST digits, of different classes.
* ``multi_fashion``: both items are Fashion-MNIST images, of different classes.
* ``multi_fashion_mnist`` (Multi-(Fashion+MNIST)): a Fashion-MNIST item top-left and an
  MNIST digit bottom-right. The two label spaces differ, so no different-class
  constraint applies.

Training pairs are built only from the sources' training splits and test pairs only
from their test splits, each with its own seed derived from ``seed``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from absl import logging

from mtl_tf.data.multi_mnist import make_multi_pairs
from mtl_tf.data.sources import load_source

__all__ = ["DATASETS", "MultiTaskData", "load_dataset"]

DATASETS = ("multi_mnist", "multi_fashion", "multi_fashion_mnist")

# name -> (top-left source, bottom-right source, require different classes)
_SPECS = {
    "multi_mnist": ("mnist", "mnist", True),
    "multi_fashion": ("fashion_mnist", "fashion_mnist", True),
    "multi_fashion_mnist": ("fashion_mnist", "mnist", False),
}
_TASK_NAMES = ("top_left", "bottom_right")


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


def _derived_seed(seed: int, stream: int) -> int:
    """Independent seed for one use of ``seed`` (0: train pairs, 1: test pairs)."""
    return int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])


def load_dataset(
    name: str,
    *,
    data_dir: str | None = None,
    data_source: str = "auto",
    train_size: int = 120000,
    test_size: int = 10000,
    seed: int = 0,
) -> MultiTaskData:
    """Loads the sources and builds one of the Pareto MTL §6.1 overlay data sets.

    Args:
      name: One of :data:`DATASETS`.
      data_dir: Folder with the source IDX files; see
        :func:`mtl_tf.data.sources.load_source`.
      data_source: ``"auto"``, ``"dir"``, ``"tfds"`` or ``"embedded"``; see
        :func:`mtl_tf.data.sources.load_source`.
      train_size: Number of training pairs to generate.
      test_size: Number of test pairs to generate.
      seed: Seed of the pair generation; train and test use distinct derived seeds.

    Returns:
      The generated train and test pairs with their metadata.

    Raises:
      ValueError: If ``name`` is unknown or a size is not positive.
    """
    if name not in _SPECS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    if train_size < 1 or test_size < 1:
        raise ValueError(
            f"train_size and test_size must be >= 1, got {train_size} and {test_size}"
        )
    top, bottom, different = _SPECS[name]
    source_top = load_source(top, data_dir=data_dir, data_source=data_source)
    source_bottom = (
        source_top if bottom == top
        else load_source(bottom, data_dir=data_dir, data_source=data_source)
    )

    train_images, train_labels = make_multi_pairs(
        source_top.train_images, source_top.train_labels,
        source_bottom.train_images, source_bottom.train_labels,
        train_size, _derived_seed(seed, 0), require_different_classes=different,
    )
    test_images, test_labels = make_multi_pairs(
        source_top.test_images, source_top.test_labels,
        source_bottom.test_images, source_bottom.test_labels,
        test_size, _derived_seed(seed, 1), require_different_classes=different,
    )
    if source_bottom is source_top:
        origin = f"{top}: {source_top.origin}"
    else:
        origin = f"{top}: {source_top.origin}; {bottom}: {source_bottom.origin}"
    logging.info(
        "%s: %d train / %d test pairs from %s", name, train_size, test_size, origin
    )
    return MultiTaskData(
        name=name,
        task_names=_TASK_NAMES,
        num_classes=(10, 10),
        input_shape=(train_images.shape[1], train_images.shape[2], 1),
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        origin=origin,
    )
