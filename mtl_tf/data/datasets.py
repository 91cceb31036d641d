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

Bad input stops here, before any pair is generated, anything is written or any step is
trained: sizes whose pairs cannot fit in this machine's memory
(:func:`check_pair_memory`, checked before any file is read), a source file holding no
images or a label outside ``0..9`` (:func:`check_source`, both splits), each with one
message naming the flag or the file and the fix.

``mtfl`` (MTFL, four face-attribute tasks; MTVIB §VI-A) is read from a local copy by
:func:`mtl_tf.data.mtfl.load_mtfl` and returns an :class:`mtl_tf.data.mtfl.MtflData`,
which decodes its images in its own pipeline.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Sequence

import numpy as np
from absl import logging

from mtl_tf.choices import DATASETS  # the flags' TF-free list of data set names
from mtl_tf.data.memory import check_pair_memory, memory_limit
from mtl_tf.data.mtfl import MtflData, load_mtfl
from mtl_tf.data.multi_mnist import make_multi_pairs
from mtl_tf.data.multitask import MultiTaskData
from mtl_tf.data.source_data import IDX_FILES, SourceData
from mtl_tf.data.sources import SOURCES, load_source
from mtl_tf.tasks import classification_specs
from mtl_tf.user_data import split_dataset_name

__all__ = [
    "DATASETS",
    "MultiTaskData",
    "check_pair_memory",
    "check_source",
    "load_dataset",
    "load_run_dataset",
    "memory_limit",
]

# name -> (top-left source, bottom-right source, require different classes)
_SPECS = {
    "multi_mnist": ("mnist", "mnist", True),
    "multi_fashion": ("fashion_mnist", "fashion_mnist", True),
    "multi_fashion_mnist": ("fashion_mnist", "mnist", False),
}
_TASK_NAMES = ("top_left", "bottom_right")
# One in this many source training images is held out for validation when val_size > 0.
_VAL_HOLDOUT_DENOMINATOR = 6
# Classes of each source (labels must be 0..n-1): digits, and Fashion-MNIST's 10 kinds.
_SOURCE_CLASSES = {"mnist": 10, "fashion_mnist": 10}
_SOURCE_PRETTY = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}
_CANVAS = 36
_IDX_FIX = "re-download it or point --data_dir at a complete copy"


def _derived_seed(seed: int, stream: int) -> int:
    """Independent seed for one use of ``seed``.

    Streams: 0 train pairs, 1 test pairs, 2 validation pairs, ``3 + SOURCES.index(name)``
    the validation hold-out of source ``name``.
    """
    return int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])


def _source_file(name: str, source: SourceData, key: str) -> str:
    """The file a source array was read from, for messages (e.g. ``DIR/mnist/t10k-...``).

    `SourceData.files` names it for IDX files; the embedded sample's file is found in the
    package. Otherwise (tensorflow-datasets) it falls back to the origin.
    """
    if source.files is not None:
        return source.files[key]
    if source.origin.startswith("embedded sample"):
        root = importlib.resources.files("mtl_tf.data") / "embedded" / name
        return f"{root / (IDX_FILES[key] + '.gz')} (embedded sample)"
    return f"{source.origin}, {key.replace('_', ' ')}"


def check_source(name: str, source: SourceData) -> None:
    """Checks a loaded source's content: images present, labels in the class range.

    Both splits are checked when the source is loaded, so a bad file stops the run
    before any pair is generated or anything is written, not as an
    InvalidArgumentError from the loss in the middle of training (training labels) or
    an IndexError after it (test labels).

    Args:
      name: ``"mnist"`` or ``"fashion_mnist"``.
      source: The loaded source.

    Raises:
      ValueError: Naming the file, and either that it holds no images or the first
        out-of-range label, its index, the allowed range and how many labels are bad.
    """
    classes = _SOURCE_CLASSES[name]
    for split in ("train", "test"):
        images = getattr(source, f"{split}_images")
        if images.shape[0] == 0:
            raise ValueError(
                f"{_source_file(name, source, f'{split}_images')} holds no images (shape "
                f"{list(images.shape)}); {_IDX_FIX}"
            )
        labels = getattr(source, f"{split}_labels")
        # Widen first: uint8 255 or int8 -1 must compare as what the file says.
        bad = np.flatnonzero((labels.astype(np.int64) < 0) | (labels >= classes))
        if bad.size:
            first = int(bad[0])
            raise ValueError(
                f"{_source_file(name, source, f'{split}_labels')}: label {labels[first]} "
                f"at index {first} is out of range (allowed 0..{classes - 1}, the "
                f"{classes} {_SOURCE_PRETTY[name]} classes; {bad.size} of {labels.size} "
                f"labels are out of range); the file is damaged or is not the "
                f"{_SOURCE_PRETTY[name]} label file: {_IDX_FIX}"
            )


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
    tasks: Sequence[str] | None = None,
    image_size: int = 0,
    test_only: bool = False,
    mtfl_framing: str = "none",
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
      tasks: The tasks to serve (MTFL: a selection of ``mtl_tf.data.mtfl.ALL_TASKS``);
        None or empty: the data set's own tasks. The generated pairs have exactly two.
      image_size: MTFL only: the side images are resized to; 0 for the data set's own.
      val_size: Number of validation pairs to generate; 0 for none. When positive,
        1/6 of each source's training images are held out (see the module docstring):
        validation pairs use only those, training pairs only the rest.
      test_only: Build only the test pairs (the same as with training pairs: each split
        has its own seed); the training and validation arrays are empty. For scoring an
        exported model and for its warm-up images, which train nothing.
      mtfl_framing: MTFL only: ``"none"`` (whole images) or ``"test"`` (training images
        cropped to frame faces like the test images; `mtl_tf.data.mtfl_framing`).

    For ``name="mtfl"`` the arguments mean what :func:`mtl_tf.data.mtfl.load_mtfl`
    says: ``data_dir`` is required (MTFL has no embedded or tensorflow-datasets copy),
    ``train_size`` / ``test_size`` of 0 mean the whole split, ``val_size`` training
    records are held out, and ``data_source`` must be ``"auto"`` or ``"dir"``.

    Returns:
      The generated train, test and (if ``val_size > 0``) validation pairs with their
      metadata (for MTFL, the sampled image paths and labels).

    Raises:
      ValueError: If ``name`` is unknown, ``train_size`` or ``test_size`` is not
        positive, ``val_size`` is negative, the sizes cannot fit in memory
        (:func:`check_pair_memory`), a source file holds no images or out-of-range
        labels (:func:`check_source`), or a source is too small to hold out validation
        images.
    """
    if name == "mtfl":
        if data_source not in ("auto", "dir"):
            raise ValueError(
                f"MTFL is read from --data_dir only, not --data_source={data_source}"
            )
        return load_mtfl(data_dir, train_size=train_size, test_size=test_size,
                         val_size=val_size, seed=seed, tasks=tasks, image_size=image_size,
                         test_only=test_only, framing=mtfl_framing)
    if mtfl_framing != "none":
        raise ValueError(f"--mtfl_framing={mtfl_framing} applies to --dataset=mtfl only; "
                         "unset it")
    scheme, location = split_dataset_name(name)
    if scheme is not None:  # your own data: csv:PATH, tfds:NAME
        return _user_dataset(scheme, location, tasks=tasks, data_dir=data_dir,
                             data_source=data_source, train_size=train_size,
                             test_size=test_size, val_size=val_size, seed=seed,
                             image_size=image_size, test_only=test_only)
    if name not in _SPECS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    if image_size:
        raise ValueError(f"--image_size applies to MTFL only; {name} pairs are "
                         f"{_CANVAS}x{_CANVAS}: unset it")
    if tasks and tuple(tasks) != _TASK_NAMES:
        raise ValueError(
            f"--tasks={','.join(tasks)}: {name} has the tasks {','.join(_TASK_NAMES)}; "
            "leave --tasks unset (or use --method=stl for one task at a time)"
        )
    if train_size < 1 or test_size < 1:
        raise ValueError(
            "--train_size and --test_size must be >= 1 for the generated pair data sets "
            f"(0, the whole split, applies to MTFL only), got {train_size} and {test_size}"
        )
    if val_size < 0:
        raise ValueError(f"val_size must be >= 0 (0: no validation split), got {val_size}")
    if test_only:
        train_size = val_size = 0
    # Before reading any file: an impossible size fails at once, not as a MemoryError.
    check_pair_memory(train_size, test_size, val_size)
    top, bottom, different = _SPECS[name]
    source_top = load_source(top, data_dir=data_dir, data_source=data_source)
    check_source(top, source_top)
    source_bottom = source_top
    if bottom != top:
        source_bottom = load_source(bottom, data_dir=data_dir, data_source=data_source)
        check_source(bottom, source_bottom)

    # Per corner: the source training images available to training pairs.
    train_top = (source_top.train_images, source_top.train_labels)
    train_bottom = (source_bottom.train_images, source_bottom.train_labels)
    val_images = val_labels = None
    if val_size > 0:  # never with test_only (val_size 0)
        split_top = _split_holdout(top, source_top, seed)
        split_bottom = split_top if bottom == top else _split_holdout(bottom, source_bottom, seed)
        train_top, train_bottom = split_top[:2], split_bottom[:2]
        val_images, val_labels = make_multi_pairs(
            *split_top[2:], *split_bottom[2:],
            val_size, _derived_seed(seed, 2), require_different_classes=different,
        )
    if test_only:
        train_images = np.zeros((0, _CANVAS, _CANVAS), np.uint8)
        train_labels = np.zeros((0, len(_TASK_NAMES)), np.int32)
    else:
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
        tasks=classification_specs(
            _TASK_NAMES, (_SOURCE_CLASSES[top], _SOURCE_CLASSES[bottom])
        ),
        input_shape=(train_images.shape[1], train_images.shape[2], 1),
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        origin=origin,
        val_images=val_images,
        val_labels=val_labels,
    )


def _user_dataset(scheme: str, location: str, **kwargs) -> MultiTaskData:
    """``csv:PATH`` (`mtl_tf.data.csv_data`) or ``tfds:NAME`` (`mtl_tf.data.tfds_data`)."""
    if scheme == "csv":
        from mtl_tf.data.csv_data import load_csv_dataset

        kwargs.pop("data_dir")
        source = kwargs.pop("data_source")
        if source not in ("auto", "dir"):
            raise ValueError(f"a csv: data set reads the image paths in its CSV file, not "
                             f"--data_source={source}")
        return load_csv_dataset(location, kwargs.pop("tasks"), **kwargs)
    from mtl_tf.data.tfds_data import load_tfds_dataset

    return load_tfds_dataset(location, kwargs.pop("tasks"), **kwargs)


def load_run_dataset(config, test_only: bool = False) -> MultiTaskData | MtflData:
    """The data set a `RunConfig` trains and tests on (its dataset, data_dir, data_source,
    sizes and seed): the same pairs as the run itself, for restoring or re-scoring it.
    ``test_only`` builds only its test split (see `load_dataset`)."""
    return load_dataset(config.dataset, data_dir=config.data_dir,
                        data_source=config.data_source, train_size=config.train_size,
                        test_size=config.test_size, seed=config.seed, val_size=config.val_size,
                        tasks=config.tasks, image_size=config.image_size, test_only=test_only,
                        mtfl_framing=config.mtfl_framing)
