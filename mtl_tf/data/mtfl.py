"""MTFL, the Multi-Task Facial Landmark data set (Zhang et al., ECCV 2014), as four tasks.

MTVIB (Qian et al.) §VI-A uses MTFL as its four-task problem: images at 150x150, 9,000
training and 1,000 test images sampled from the data set, and Table II's networks with
a 5-way first head followed by three 2-way heads. This module reads a user's copy of
the data set exactly as it is published and serves it through ``tf.data``.

The annotation format and the task labels are in :mod:`mtl_tf.data.mtfl_annotations`,
the image checks and the decoding in :mod:`mtl_tf.data.mtfl_images`; this module samples
the MTVIB train / validation / test sets and builds their ``tf.data`` pipeline.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import numpy as np
from absl import logging

from mtl_tf.data.mtfl_annotations import (
    NUM_CLASSES,
    TASK_NAMES,
    TEST_FILE,
    TRAIN_FILE,
    MtflRecord,
    parse_annotations,
    resolve_root,
)
from mtl_tf.data.mtfl_framing import (
    MTFL_FRAMINGS,
    TEST_EYE_DISTANCE_OVER_SIDE,
    crop_boxes,
    framing_groups,
    image_sizes,
)
from mtl_tf.data.mtfl_images import IMAGE_SIZE, check_images, decode_image
from mtl_tf.data.mtfl_landmarks import LANDMARK_SPEC, LANDMARKS, landmark_targets
from mtl_tf.data.multitask import MultiTaskData
from mtl_tf.tasks import TaskSpec, classification_specs

__all__ = ["ALL_TASKS", "MtflData", "load_mtfl", "task_specs"]

# Every task MTFL can serve: the landmarks (regression, TCDCN's main task) and the four
# attributes; `--tasks` picks some of them, in head order.
ALL_TASKS = (LANDMARKS, *TASK_NAMES)

# Seed streams of the sampling (see _derived_seed).
_STREAM_TRAIN, _STREAM_TEST = 0, 1


@dataclasses.dataclass
class MtflData(MultiTaskData):
    """MTFL as a multi-task data set: the fields of ``MultiTaskData`` plus a pipeline.

    Images are not held in memory here: the ``*_images`` fields hold absolute image
    *paths*, and :meth:`make_split_dataset` decodes them (``split_dataset`` in
    ``mtl_tf.data.pipeline`` asks a data set with that method for its own pipeline).

    Attributes:
      name: ``"mtfl"``.
      tasks: The selected tasks' specs (default the four attributes, :data:`TASK_NAMES`).
      input_shape: ``(150, 150, 3)``.
      train_images: numpy str ``[N]`` image paths.
      train_labels: ``{task: labels}``: int32 ``[N]`` 0-based attribute labels (mapping:
        `mtfl_annotations`).
      test_images: numpy str ``[M]`` image paths.
      test_labels: ``{task: labels}`` of the M test images.
      origin: Where the data came from, for logs.
      val_images: numpy str ``[V]`` paths of held-out training records, or None.
      val_labels: ``{task: labels}``, or None.
      image_size: Side of the square the images are resized to.
      crops: ``{split: int32 [N, 3]}`` ``(x0, y0, side)`` square crop of each image of a
        split, applied before the resize (``--mtfl_framing=test``: train and val only);
        a split absent from it is resized whole.
      framing: What was cropped, as metrics.json records it (``data_framing``), or None.
    """

    # Side of the square the images are resized to (MTVIB: 150; `--image_size`).
    image_size: int = IMAGE_SIZE
    crops: dict = dataclasses.field(default_factory=dict)
    framing: dict | None = None
    # split -> decoded, cached tf.data.Dataset; see _decoded().
    _decoded_cache: dict = dataclasses.field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def _decoded(self, split: str):
        """The decoded, in-memory-cached ``(uint8 image, {task: label})`` of a split.

        Built once per split and memoised: the trainer asks for a new pipeline every
        epoch (and the test pipeline is reused for validation and prediction), and all
        of them must read the *same* ``cache()`` so that only the first pass decodes
        JPEGs. A ``cache()`` belongs to its dataset object; a rebuilt pipeline would
        start with an empty cache and decode everything again.

        Memory: 150*150*3 bytes = 67.5 KB per image, so the 9,000-image training sample
        is ~600 MB and 1,000 test images ~68 MB, which fits a workstation. The cache is
        filled only when a pass over the split completes.
        """
        if split in self._decoded_cache:
            return self._decoded_cache[split]
        import tensorflow as tf

        paths = np.asarray(getattr(self, f"{split}_images"), dtype=str)
        labels = dict(getattr(self, f"{split}_labels"))
        boxes = self.crops.get(split)

        if boxes is None:
            def decode(path: tf.Tensor, label: dict) -> tuple[tf.Tensor, dict]:
                return decode_image(path, self.image_size), label

            ds = tf.data.Dataset.from_tensor_slices((paths, labels))
        else:
            # The crop travels next to the path: one constant box per image group.
            def decode(path: tf.Tensor, box: tf.Tensor, label: dict):
                return decode_image(path, self.image_size, box), label

            ds = tf.data.Dataset.from_tensor_slices(
                (paths, np.asarray(boxes, dtype=np.int32), labels))
        ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = ds.cache()
        self._decoded_cache[split] = ds
        return ds

    def make_split_dataset(
        self,
        split: str,
        task_indices: Sequence[int],
        batch_size: int,
        *,
        shuffle: bool,
        seed: int,
        epoch: int = 0,
    ):
        """The ``tf.data`` pipeline of one split for one epoch.

        Pipeline: ``from_tensor_slices(paths, labels) -> map(read + decode_jpeg(3) +
        resize to 150x150 + uint8) -> cache`` (built once per split, see
        :meth:`_decoded`) ``-> shuffle(N, epoch_seed(seed, epoch),
        reshuffle_each_iteration=False) -> batch -> map(/255, label dict) -> prefetch``.
        The shuffle order depends only on ``(seed, epoch)``, as for the in-memory data
        sets, so a resumed run sees the batches an uninterrupted one would.

        Args:
          split: ``"train"``, ``"val"`` or ``"test"``.
          task_indices: Label columns (tasks) to yield, in this order.
          batch_size: Examples per batch; the last batch may be smaller.
          shuffle: Shuffle the whole split before batching (training).
          seed: Run seed; see ``mtl_tf.data.pipeline.epoch_seed``.
          epoch: Zero-based epoch index.

        Returns:
          A dataset of ``(float32 [B, 150, 150, 3] in [0, 1], {task_name: labels})``,
          labels as the `MultiTaskData` contract says (int32 ``[B]`` for an attribute).

        Raises:
          ValueError: If the split is unknown or absent, a task index is out of range or
            ``batch_size`` is not positive.
        """
        import tensorflow as tf

        from mtl_tf.data.pipeline import epoch_seed

        if split not in ("train", "val", "test"):
            raise ValueError(f"unknown split {split!r}; expected train, val or test")
        if getattr(self, f"{split}_images") is None:
            raise ValueError(f"the {self.name} data has no {split!r} split (--val_size=0?)")
        task_indices = [int(k) for k in task_indices]
        if not task_indices or any(not 0 <= k < len(self.task_names) for k in task_indices):
            raise ValueError(
                f"task_indices must be a non-empty subset of 0..{len(self.task_names) - 1}, "
                f"got {task_indices}"
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")

        ds = self._decoded(split)
        if shuffle:
            ds = ds.shuffle(
                buffer_size=self.num_examples(split),
                seed=epoch_seed(seed, epoch),
                reshuffle_each_iteration=False,
            )
        ds = ds.batch(batch_size)
        names = [self.task_names[k] for k in task_indices]

        def to_model_input(image: tf.Tensor, label: dict):
            return tf.cast(image, tf.float32) / 255.0, {name: label[name] for name in names}

        ds = ds.map(to_model_input, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return ds.prefetch(tf.data.AUTOTUNE)


def _derived_seed(seed: int, stream: int) -> int:
    """Independent seed for one use of ``seed`` (streams: 0 train records, 1 test)."""
    return int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])


def _sample_size(size: int | None, name: str) -> int | None:
    """Normalises a size argument: None or 0 means the whole split."""
    if size is None or size == 0:
        return None
    if size < 0:
        raise ValueError(f"{name} must be >= 0 (0 or None: the whole split), got {size}")
    return int(size)


def _as_arrays(
    root: str, records: Sequence[MtflRecord], tasks: Sequence[str],
    boxes: np.ndarray | None = None,
) -> tuple[np.ndarray, dict]:
    paths = np.array([os.path.join(root, r.path) for r in records], dtype=str)
    matrix = np.array([r.labels() for r in records], dtype=np.int32).reshape(-1, len(TASK_NAMES))
    labels = {name: matrix[:, k] for k, name in enumerate(TASK_NAMES) if name in tasks}
    if LANDMARKS in tasks:
        labels[LANDMARKS] = landmark_targets(root, records, boxes)
    return paths, {t: labels[t] for t in tasks}


def task_specs(tasks: Sequence[str] | None = None) -> tuple[TaskSpec, ...]:
    """The specs of the selected MTFL tasks (default: the four attributes, MTVIB §VI-A).

    Raises:
      ValueError: An unknown or repeated task, naming the allowed ones.
    """
    tasks = tuple(TASK_NAMES if not tasks else tasks)
    unknown = [t for t in tasks if t not in ALL_TASKS]
    if unknown or len(set(tasks)) != len(tasks):
        raise ValueError(
            f"--tasks={','.join(tasks)}: MTFL tasks are {', '.join(ALL_TASKS)}, each at most "
            "once" + (f" (unknown: {', '.join(unknown)})" if unknown else "")
        )
    attributes = dict(zip(TASK_NAMES, classification_specs(TASK_NAMES, NUM_CLASSES), strict=True))
    return tuple(LANDMARK_SPEC if t == LANDMARKS else attributes[t] for t in tasks)


def load_mtfl(
    data_dir: str | os.PathLike | None,
    *,
    train_size: int | None = 9000,
    test_size: int | None = 1000,
    val_size: int = 0,
    seed: int = 0,
    tasks: Sequence[str] | None = None,
    image_size: int = 0,
    test_only: bool = False,
    framing: str = "none",
) -> MtflData:
    """Loads MTFL annotations and samples the MTVIB §VI-A train / test sets.

    Sampling (MTVIB §VI-A: "9,000 images are sampled into the training set, and 1,000
    images are sampled into the test set"): a seeded permutation of the 10,000
    ``training.txt`` records gives the training sample (its first ``train_size``) and,
    with ``val_size > 0``, the validation sample (its *last* ``val_size``, so train and
    validation are disjoint and the training sample is the same with or without
    validation); an independent seeded permutation of the 2,995 ``testing.txt`` records
    gives the test sample. Each sample is kept in file order.

    Both annotation files are parsed and every sampled image is checked here (it exists
    and is a complete JPEG or PNG, see :func:`check_images`), so a broken copy fails
    before any pipeline or model is built, naming the annotation line and the image.

    Args:
      data_dir: The MTFL root or a parent with an ``mtfl/`` subfolder.
      train_size: Training records to sample; None or 0 for all of them (all except the
        validation records when ``val_size > 0``).
      test_size: Test records to sample; None or 0 for all 2,995.
      val_size: Training records to hold out for validation; 0 for none.
      seed: Seed of the sampling.
      tasks: The tasks to serve, in head order, from :data:`ALL_TASKS`: ``landmarks``
        (10 normalised coordinates, a regression; `mtl_tf.data.mtfl_landmarks`) and the
        four attributes. Default (None or empty): the four attributes, MTVIB's problem.
        The sample does not depend on the tasks.
      image_size: Side of the square the images are resized to; 0 for MTVIB's 150. A
        smaller size trains much faster on a CPU (36 is the other input size the
        ``small_alexnet`` backbone knows).
      test_only: Check only the test images (the training sample is drawn all the same,
        so the test sample is the run's): for scoring a served model, which trains
        nothing.
      framing: ``"none"`` (the papers': whole images are resized) or ``"test"``: every
        training and validation image is cropped, before the resize, to its image
        group's square computed from the training sample's annotations
        (`mtl_tf.data.mtfl_framing`); test images are never cropped.

    Returns:
      The sampled data set; images are decoded lazily by its pipeline.

    Raises:
      FileNotFoundError: If ``data_dir`` is None or lacks the annotation files, or a
        sampled image is missing (see :func:`check_images`).
      MtflFormatError: If an annotation file is malformed, or a sampled image is a
        directory, empty, unreadable or not a decodable image.
      ValueError: If a size is negative, the sizes exceed the records available or
        ``framing`` is unknown.
    """
    specs = task_specs(tasks)  # a bad --tasks fails before any file is read
    if framing not in MTFL_FRAMINGS:
        raise ValueError(f"unknown MTFL framing {framing!r}; expected one of "
                         f"{', '.join(MTFL_FRAMINGS)}")
    if image_size < 0:
        raise ValueError(f"image_size must be >= 0 (0: {IMAGE_SIZE}), got {image_size}")
    size = int(image_size) or IMAGE_SIZE
    names = [s.name for s in specs]
    train_size = _sample_size(train_size, "train_size")
    test_size = _sample_size(test_size, "test_size")
    if val_size < 0:
        raise ValueError(f"val_size must be >= 0 (0: no validation split), got {val_size}")
    root = resolve_root(data_dir)
    train_file = os.path.join(root, TRAIN_FILE)
    test_file = os.path.join(root, TEST_FILE)
    train_records = parse_annotations(train_file)
    test_records = parse_annotations(test_file)

    n_train, n_test = len(train_records), len(test_records)
    n_keep = n_train - val_size if train_size is None else train_size
    if n_keep < 1 or n_keep + val_size > n_train:
        raise ValueError(
            f"cannot sample train_size={train_size or 'all'} and val_size={val_size} "
            f"disjoint records from the {n_train} records of {train_file}"
        )
    if test_size is not None and test_size > n_test:
        raise ValueError(
            f"test_size={test_size} exceeds the {n_test} records of {test_file}; "
            "use 0 for all of them"
        )
    order = np.random.default_rng(_derived_seed(seed, _STREAM_TRAIN)).permutation(n_train)
    # Sorting keeps each sample in file order (stable, readable test/val predictions).
    train_idx = np.sort(order[:n_keep])
    val_idx = np.sort(order[n_train - val_size:]) if val_size else None
    test_order = np.random.default_rng(_derived_seed(seed, _STREAM_TEST)).permutation(n_test)
    test_idx = np.sort(test_order[: test_size or n_test])

    train = [train_records[i] for i in train_idx]
    val = [train_records[i] for i in val_idx] if val_idx is not None else None
    test = [test_records[i] for i in test_idx]
    # In line order, so the first missing image reported is the first in the file.
    if not test_only:
        check_images(root, sorted(train + (val or []), key=lambda r: r.line), train_file)
    check_images(root, test, test_file)

    crops: dict[str, np.ndarray] = {}
    described = None
    if framing == "test" and not test_only:
        crops, described = _framing_crops(root, train, val)
    train_images, train_labels = _as_arrays(root, train, names, crops.get("train"))
    test_images, test_labels = _as_arrays(root, test, names)
    val_images = val_labels = None
    if val is not None:
        val_images, val_labels = _as_arrays(root, val, names, crops.get("val"))
    origin = f"MTFL annotations in {root}"
    logging.info(
        "mtfl: %d train / %d validation / %d test images sampled (seed %d) from %s",
        len(train), len(val or []), len(test), seed, origin,
    )
    return MtflData(
        name="mtfl",
        tasks=specs,
        input_shape=(size, size, 3),
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        origin=origin,
        val_images=val_images,
        val_labels=val_labels,
        image_size=size,
        crops=crops,
        framing=described,
    )


def _framing_crops(
    root: str, train: Sequence[MtflRecord], val: Sequence[MtflRecord] | None
) -> tuple[dict[str, np.ndarray], dict]:
    """``--mtfl_framing=test``: each training / validation image's group crop, from the
    training sample's annotations only, and their description for metrics.json."""
    train_sizes = image_sizes(root, train)
    groups = framing_groups(train, train_sizes)
    for group in groups:
        logging.info("%s", group.describe())
    crops = {"train": crop_boxes(train, train_sizes, groups)}
    if val is not None:
        crops["val"] = crop_boxes(val, image_sizes(root, val), groups)
    described = {"framing": "test", "eye_distance_over_side": TEST_EYE_DISTANCE_OVER_SIDE,
                 "cropped_splits": sorted(crops), "groups": [g.to_json() for g in groups]}
    return crops, described
