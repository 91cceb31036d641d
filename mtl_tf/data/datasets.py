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

Validation split (``val_size > 0``): a seeded permutation of each source's *training*
images holds out one sixth of them (10,000 of MNIST's 60,000, the usual MNIST
validation set). Validation pairs are built only from the held-out images and training
pairs only from the rest, so no source image appears in both; a model selected on the
validation pairs (e.g. the best grid point of a weight grid search) has never seen
their items. Test pairs still come from the test split only and are the same as without
a validation split. With ``val_size = 0`` nothing is held out and the training pairs are
exactly those of a run without validation.

``mtfl`` (MTFL, four face-attribute tasks; MTVIB §VI-A) is read from a local copy by
:func:`mtl_tf.data.mtfl.load_mtfl` and returns an :class:`mtl_tf.data.mtfl.MtflData`,
which decodes its images in its own pipeline.
"""

from __future__ import annotations

import numpy as np
from absl import logging

from mtl_tf.data.mtfl import MtflData, load_mtfl
from mtl_tf.data.multi_mnist import make_multi_pairs
from mtl_tf.data.multitask import MultiTaskData
from mtl_tf.data.sources import SOURCES, SourceData, load_source

__all__ = ["DATASETS", "MultiTaskData", "load_dataset", "load_run_dataset"]

DATASETS = ("multi_mnist", "multi_fashion", "multi_fashion_mnist", "mtfl")

# name -> (top-left source, bottom-right source, require different classes)
_SPECS = {
    "multi_mnist": ("mnist", "mnist", True),
    "multi_fashion": ("fashion_mnist", "fashion_mnist", True),
    "multi_fashion_mnist": ("fashion_mnist", "mnist", False),
}
_TASK_NAMES = ("top_left", "bottom_right")
# One in this many source training images is held out for validation when val_size > 0.
_VAL_HOLDOUT_DENOMINATOR = 6


def _derived_seed(seed: int, stream: int) -> int:
    """Independent seed for one use of ``seed``.

    Streams: 0 train pairs, 1 test pairs, 2 validation pairs, ``3 + SOURCES.index(name)``
    the validation hold-out of source ``name``.
    """
    return int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])


def _split_holdout(
    name: str, source: SourceData, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Splits a source's training images into (kept, held out) by a seeded permutation.

    The hold-out is keyed by the source's name rather than its corner, so a source used
    in both corners (MultiMNIST) is split once and both corners see the same split.

    Returns:
      ``(train_images, train_labels, val_images, val_labels)``, each part in the
      source's original order.

    Raises:
      ValueError: If the source has too few training images to hold any out.
    """
    n = len(source.train_labels)
    n_val = n // _VAL_HOLDOUT_DENOMINATOR
    if n_val < 1:
        raise ValueError(
            f"{name} has only {n} training images; a validation split holds out "
            f"1/{_VAL_HOLDOUT_DENOMINATOR} of them and needs at least "
            f"{_VAL_HOLDOUT_DENOMINATOR}. Use more source data or --val_size=0"
        )
    order = np.random.default_rng(_derived_seed(seed, 3 + SOURCES.index(name))).permutation(n)
    # Sorting keeps each part in source order, so the pair generator's draws depend only
    # on which images are in a part, not on the permutation's order.
    val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    return (
        source.train_images[train_idx], source.train_labels[train_idx],
        source.train_images[val_idx], source.train_labels[val_idx],
    )


def load_dataset(
    name: str,
    *,
    data_dir: str | None = None,
    data_source: str = "auto",
    train_size: int = 120000,
    test_size: int = 10000,
    seed: int = 0,
    val_size: int = 0,
) -> MultiTaskData | MtflData:
    """Loads the sources and builds one of the Pareto MTL §6.1 overlay data sets, or MTFL.

    Args:
      name: One of :data:`DATASETS`.
      data_dir: Folder with the source IDX files; see
        :func:`mtl_tf.data.sources.load_source`.
      data_source: ``"auto"``, ``"dir"``, ``"tfds"`` or ``"embedded"``; see
        :func:`mtl_tf.data.sources.load_source`.
      train_size: Number of training pairs to generate.
      test_size: Number of test pairs to generate.
      seed: Seed of the pair generation and of the validation hold-out; each use gets
        its own derived seed.
      val_size: Number of validation pairs to generate; 0 for none. When positive,
        1/6 of each source's training images are held out (see the module docstring):
        validation pairs use only those, training pairs only the rest.

    For ``name="mtfl"`` the arguments mean what :func:`mtl_tf.data.mtfl.load_mtfl`
    says: ``data_dir`` is required (MTFL has no embedded or tensorflow-datasets copy),
    ``train_size`` / ``test_size`` of 0 mean the whole split, ``val_size`` training
    records are held out, and ``data_source`` must be ``"auto"`` or ``"dir"``.

    Returns:
      The generated train, test and (if ``val_size > 0``) validation pairs with their
      metadata (for MTFL, the sampled image paths and labels).

    Raises:
      ValueError: If ``name`` is unknown, ``train_size`` or ``test_size`` is not
        positive, ``val_size`` is negative, or a source is too small to hold out
        validation images.
    """
    if name == "mtfl":
        if data_source not in ("auto", "dir"):
            raise ValueError(
                f"MTFL is read from --data_dir only, not --data_source={data_source}"
            )
        return load_mtfl(data_dir, train_size=train_size, test_size=test_size,
                         val_size=val_size, seed=seed)
    if name not in _SPECS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    if train_size < 1 or test_size < 1:
        raise ValueError(
            "--train_size and --test_size must be >= 1 for the generated pair data sets "
            f"(0, the whole split, applies to MTFL only), got {train_size} and {test_size}"
        )
    if val_size < 0:
        raise ValueError(f"val_size must be >= 0 (0: no validation split), got {val_size}")
    top, bottom, different = _SPECS[name]
    source_top = load_source(top, data_dir=data_dir, data_source=data_source)
    source_bottom = (
        source_top if bottom == top
        else load_source(bottom, data_dir=data_dir, data_source=data_source)
    )

    # Per corner: the source training images available to training pairs.
    train_top = (source_top.train_images, source_top.train_labels)
    train_bottom = (source_bottom.train_images, source_bottom.train_labels)
    val_images = val_labels = None
    if val_size > 0:
        split_top = _split_holdout(top, source_top, seed)
        split_bottom = split_top if bottom == top else _split_holdout(bottom, source_bottom, seed)
        train_top, train_bottom = split_top[:2], split_bottom[:2]
        val_images, val_labels = make_multi_pairs(
            *split_top[2:], *split_bottom[2:],
            val_size, _derived_seed(seed, 2), require_different_classes=different,
        )
    train_images, train_labels = make_multi_pairs(
        *train_top, *train_bottom,
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
        "%s: %d train / %d validation / %d test pairs from %s",
        name, train_size, val_size, test_size, origin,
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
        val_images=val_images,
        val_labels=val_labels,
    )


def load_run_dataset(config) -> MultiTaskData | MtflData:
    """The data set a `RunConfig` trains and tests on (its dataset, data_dir, data_source,
    sizes and seed): the same pairs as the run itself, for restoring or re-scoring it."""
    return load_dataset(config.dataset, data_dir=config.data_dir,
                        data_source=config.data_source, train_size=config.train_size,
                        test_size=config.test_size, seed=config.seed, val_size=config.val_size)
