"""MTFL, the Multi-Task Facial Landmark data set (Zhang et al., ECCV 2014), as four tasks.

MTVIB (Qian et al.) §VI-A uses MTFL as its four-task problem: images at 150x150, 9,000
training and 1,000 test images sampled from the data set, and Table II's networks with
a 5-way first head followed by three 2-way heads. This module reads a user's copy of
the data set exactly as it is published and serves it through ``tf.data``.

Layout of the MTFL root (the folder holding ``training.txt``)::

    training.txt   10,000 records (images in lfw_5590/ and net_7876/)
    testing.txt     2,995 records (images in AFLW/)
    AFLW/  lfw_5590/  net_7876/

One annotation record per line: ``path x1..x5 y1..y5 gender smile glasses pose``. The
files keep the release's quirks: CRLF line endings, every record after the first starts
with a space, ``training.txt`` paths use backslashes and ``testing.txt`` forward slashes.
:func:`parse_annotations` splits on whitespace and turns backslashes into slashes.

Tasks and labels (column ``i`` of the label arrays belongs to ``TASK_NAMES[i]``); the
order follows MTVIB Table II, whose first head is the 5-way one:

=========  =======  ===============================================================
task       classes  0-based label (published value in parentheses)
=========  =======  ===============================================================
pose       5        0 left profile (1), 1 left (2), 2 frontal (3), 3 right (4),
                    4 right profile (5)
gender     2        0 male (1), 1 female (2)
smile      2        0 not smiling (2), 1 smiling (1)
glasses    2        0 no glasses (2), 1 wearing glasses (1)
=========  =======  ===============================================================

For the binary attributes "smiling" and "glasses" the published 1 means *present*; we
map it to label 1 so that label 1 always means "has the attribute".

Images: every image is decoded with ``decode_jpeg(channels=3)``, which expands the few
grayscale JPEGs to three identical channels, then resized to 150x150 with
``tf.image.resize(method="bilinear", antialias=True)`` (antialiasing matters for the
400x400 ``net_7876`` images, which are shrunk by more than 2x). The resize stretches the
non-square 160x216 ``net_7876/_*.jpg`` images instead of cropping them: the paper gives
no crop, and the faces fill those images.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import stat
from collections.abc import Sequence

import numpy as np
from absl import logging

from mtl_tf.data.multitask import MultiTaskData

__all__ = [
    "IMAGE_SIZE",
    "NUM_CLASSES",
    "TASK_NAMES",
    "MtflData",
    "MtflFormatError",
    "MtflRecord",
    "check_images",
    "load_mtfl",
    "parse_annotations",
    "resolve_root",
]

TASK_NAMES = ("pose", "gender", "smile", "glasses")
NUM_CLASSES = (5, 2, 2, 2)
# MTVIB §VI-A: "images in the MTFL data set are with the resolution size of 150x150".
IMAGE_SIZE = 150
TRAIN_FILE = "training.txt"
TEST_FILE = "testing.txt"

# path + 10 landmark coordinates + 4 attributes.
_NUM_FIELDS = 15
# Published attribute ranges (inclusive), in the order the fields appear on a line.
_ATTRIBUTES = (("gender", 1, 2), ("smile", 1, 2), ("glasses", 1, 2), ("pose", 1, 5))
# Seed streams of the sampling (see _derived_seed).
_STREAM_TRAIN, _STREAM_TEST = 0, 1

# Image signatures the quick check knows (the decoder also reads GIF, BMP, WebP: a file
# with another signature is judged by decoding it, see _image_problem).
_JPEG_SOI = b"\xff\xd8\xff"
_JPEG_EOI = b"\xff\xd9"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
# JPEG start-of-frame markers (C4 DHT, C8 JPG and CC DAC are not frames).
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Header bytes read per image: the headers (EXIF included) are far smaller.
_HEAD_BYTES = 1 << 20


class MtflFormatError(ValueError):
    """An MTFL annotation file does not have the published format."""


@dataclasses.dataclass(frozen=True)
class MtflRecord:
    """One annotation record, with the values as published.

    Attributes:
      path: Image path relative to the MTFL root, with forward slashes.
      landmarks: ``(x1..x5, y1..y5)`` in original-image pixels: left eye, right eye,
        nose, left and right mouth corner.
      gender: 1 male, 2 female.
      smile: 1 smiling, 2 not smiling.
      glasses: 1 wearing glasses, 2 not.
      pose: 1 left profile, 2 left, 3 frontal, 4 right, 5 right profile.
      line: 1-based line number in the annotation file, for error messages.
    """

    path: str
    landmarks: tuple[float, ...]
    gender: int
    smile: int
    glasses: int
    pose: int
    line: int = 0

    def labels(self) -> tuple[int, int, int, int]:
        """The 0-based task labels in :data:`TASK_NAMES` order (mapping: module doc)."""
        return (self.pose - 1, self.gender - 1, 2 - self.smile, 2 - self.glasses)


def parse_annotations(path: str | os.PathLike) -> list[MtflRecord]:
    """Reads an MTFL annotation file (``training.txt`` or ``testing.txt``) as published.

    Handles CRLF or LF endings, leading/trailing whitespace and backslash paths; blank
    lines (the release ends with a line break) are skipped.

    Args:
      path: The annotation file.

    Returns:
      The records in file order.

    Raises:
      FileNotFoundError: If the file does not exist.
      MtflFormatError: If a line has the wrong number of fields, a non-numeric or
        non-finite coordinate, a non-integer attribute or an attribute out of its
        published range, or the file holds no record. The message names the file and
        the 1-based line number.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        # Find the line for the message: count line breaks before the bad byte.
        line = raw[: e.start].count(b"\n") + 1
        raise MtflFormatError(f"{path}:{line}: not UTF-8 text ({e.reason})") from None

    records = []
    # splitlines() accepts \r\n, \n and \r, so the CRLF release parses like an LF copy.
    for lineno, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path}:{lineno}"
        if len(fields) != _NUM_FIELDS:
            raise MtflFormatError(
                f"{where}: expected {_NUM_FIELDS} whitespace-separated fields (image path, "
                f"x1..x5, y1..y5, gender, smile, glasses, pose), got {len(fields)}: "
                f"{line.strip()[:120]!r}"
            )
        landmarks = []
        for k, token in enumerate(fields[1:11]):
            try:
                value = float(token)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                name = f"{'xy'[k // 5]}{k % 5 + 1}"
                raise MtflFormatError(
                    f"{where}: landmark {name} must be a finite number, got {token!r}"
                ) from None
            landmarks.append(value)
        attributes = []
        for token, (name, low, high) in zip(fields[11:], _ATTRIBUTES, strict=True):
            # int() also accepts "+1" or " 1"; isdigit() keeps to the published "1".."5".
            if not token.isdigit() or not low <= int(token) <= high:
                raise MtflFormatError(
                    f"{where}: {name} must be an integer in {low}..{high}, got {token!r}"
                )
            attributes.append(int(token))
        # training.txt was written on Windows (backslashes); os.path.join on POSIX needs /.
        image_path = fields[0].replace("\\", "/")
        records.append(MtflRecord(image_path, tuple(landmarks), *attributes, line=lineno))
    if not records:
        raise MtflFormatError(f"{path}: no annotation records")
    return records


def _jpeg_problem(head: bytes, tail: bytes) -> str | None:
    """What looks wrong with a JPEG's structure, or None.

    Walks the marker segments of ``head`` up to the first scan (SOS), checking there is
    a frame header (SOF) with a non-zero size before it, and that the file ends with the
    end-of-image marker. It cannot see damage inside the compressed data.
    """
    pos, frame = 2, False
    while True:
        if pos + 4 > len(head):
            return "is a truncated JPEG (its header ends early)"
        if head[pos] != 0xFF:
            return f"is not a valid JPEG (no marker at byte {pos})"
        marker = head[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        if marker == 0xD9:
            return "is not a valid JPEG (it ends before any image data)"
        length = int.from_bytes(head[pos + 2:pos + 4], "big")
        if length < 2:
            return f"is not a valid JPEG (segment length {length} at byte {pos})"
        if marker in _JPEG_SOF:
            if pos + 10 > len(head):
                return "is a truncated JPEG (its header ends early)"
            height = int.from_bytes(head[pos + 5:pos + 7], "big")
            width = int.from_bytes(head[pos + 7:pos + 9], "big")
            if not height or not width:
                return f"is not a valid JPEG (frame size {width}x{height})"
            frame = True
        elif marker == 0xDA:
            if not frame:
                return "is not a valid JPEG (image data before the frame header)"
            break
        pos += 2 + length
    if not tail.endswith(_JPEG_EOI):
        return "is a truncated JPEG (no end-of-image marker)"
    return None


def _structure_problem(head: bytes, tail: bytes) -> str | None:
    """What looks wrong with an image file's bytes (first ``_HEAD_BYTES``, last 16)."""
    if head.startswith(_JPEG_SOI):
        return _jpeg_problem(head, tail)
    if head.startswith(_PNG_SIGNATURE):
        if len(head) < 24 or head[12:16] != b"IHDR":
            return "is not a valid PNG (no IHDR header)"
        width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        if not width or not height:
            return f"is not a valid PNG (size {width}x{height})"
        if not tail.endswith(_PNG_IEND):
            return "is a truncated PNG (no IEND chunk)"
        return None
    return f"is not a JPEG or PNG image (it starts with {head[:8].hex(' ')})"


def _decode_error(path: str) -> str | None:
    """Decodes one image as the pipeline does; its error's first line, or None."""
    import tensorflow as tf

    try:
        _decode_image(tf.constant(path))
    except (tf.errors.OpError, ValueError) as e:
        lines = getattr(e, "message", str(e)).strip().splitlines() or [type(e).__name__]
        # Drop the eager wrapper's "{{function_node ...}} " and " [Op:DecodeJpeg]".
        text = re.sub(r"^\{\{[^}]*\}\}\s*|\s*\[Op:\w+\].*$", "", lines[0]) or lines[0]
        return text.rstrip(".")
    return None


def _image_problem(path: str) -> str | None:
    """Why ``path`` cannot be used as an image, or None if it can.

    A quick look first (a regular, non-empty file with a complete JPEG or PNG
    structure: ~0.1 s for 10,000 MTFL images). It only filters: a file it doubts is
    decoded with TensorFlow exactly as the pipeline will, and only a decode failure
    makes it unusable (a JPEG with bytes after its end marker decodes fine).
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "does not exist"
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    if stat.S_ISDIR(info.st_mode):
        return "is a directory, not an image file"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if info.st_size == 0:
        return "is empty (0 bytes)"
    try:
        with open(path, "rb") as f:
            head = f.read(_HEAD_BYTES)
            f.seek(max(info.st_size - 16, 0))
            tail = f.read()
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    problem = _structure_problem(head, tail)
    if problem is None:
        return None
    error = _decode_error(path)
    return None if error is None else f"{problem}; TensorFlow cannot decode it: {error}"


def check_images(
    root: str | os.PathLike,
    records: Sequence[MtflRecord],
    annotation_file: str | os.PathLike,
) -> None:
    """Checks that every record's image is a usable image, before anything is built.

    Each image must exist, be a regular non-empty file and either have a complete JPEG
    or PNG structure or decode with TensorFlow (see `_image_problem`); costs ~0.1 s for
    the 10,000 images of the default sample once they are in the page cache. Without it
    a bad image surfaces as ``jpeg::Uncompress failed`` from inside the pipeline, naming
    no file, during training (or after it, for a test image).

    Args:
      root: The MTFL root the record paths are relative to.
      records: The records to check, in the order to report them.
      annotation_file: The file the records came from, for the message.

    Raises:
      FileNotFoundError: If the first unusable image is missing.
      MtflFormatError: If it is a directory, empty, unreadable or not a decodable image.
      Either names the annotation file and line, the image path, what is wrong with it
      and how many other images look unusable.
    """
    root = os.fspath(root)
    first: tuple[MtflRecord, str] | None = None
    others = 0
    for record in records:
        path = os.path.join(root, record.path)
        if first is None:
            problem = _image_problem(path)
            if problem is not None:
                first = (record, problem)
        elif not os.path.isfile(path) or os.path.getsize(path) == 0:
            # Counting the rest cheaply; the first one is what the message is about.
            others += 1
    if first is None:
        return
    record, problem = first
    more = f" ({others} more missing, empty or not files)" if others else ""
    where = f"{os.fspath(annotation_file)}:{record.line}: image {os.path.join(root, record.path)}"
    if problem == "does not exist":
        raise FileNotFoundError(
            f"{where} does not exist{more}; is --data_dir a complete MTFL copy?"
        )
    raise MtflFormatError(
        f"{where} {problem}{more}; replace it with a good copy of the image (is --data_dir "
        "a complete MTFL copy?)"
    )


def resolve_root(data_dir: str | os.PathLike | None) -> str:
    """The MTFL root: ``data_dir`` itself or its ``mtfl/`` subfolder.

    Args:
      data_dir: The MTFL root (holding ``training.txt`` and ``testing.txt``) or a parent
        with an ``mtfl/`` subfolder, as ``--data_dir=../shared/data`` is for MNIST.

    Returns:
      The root folder, as an absolute path.

    Raises:
      FileNotFoundError: If ``data_dir`` is None (MTFL has no embedded or
        tensorflow-datasets copy) or neither candidate holds both annotation files.
    """
    if data_dir is None:
        raise FileNotFoundError(
            "MTFL is read from a local copy only: pass --data_dir=<MTFL folder with "
            f"{TRAIN_FILE}, {TEST_FILE} and the image folders, or its parent with an "
            "mtfl/ subfolder>"
        )
    data_dir = os.fspath(data_dir)
    candidates = (data_dir, os.path.join(data_dir, "mtfl"))
    for root in candidates:
        if all(os.path.isfile(os.path.join(root, f)) for f in (TRAIN_FILE, TEST_FILE)):
            # Absolute, so the image paths stay valid if the working directory changes.
            return os.path.abspath(root)
    raise FileNotFoundError(
        f"no MTFL annotations ({TRAIN_FILE} and {TEST_FILE}) in {candidates[0]} or "
        f"{candidates[1]}; check --data_dir"
    )


@dataclasses.dataclass
class MtflData(MultiTaskData):
    """MTFL as a multi-task data set: the fields of ``MultiTaskData`` plus a pipeline.

    Images are not held in memory here: the ``*_images`` fields hold absolute image
    *paths*, and :meth:`make_split_dataset` decodes them (``split_dataset`` in
    ``mtl_tf.data.pipeline`` asks a data set with that method for its own pipeline).

    Attributes:
      name: ``"mtfl"``.
      task_names: :data:`TASK_NAMES`; label column ``i`` belongs to ``task_names[i]``.
      num_classes: :data:`NUM_CLASSES`.
      input_shape: ``(150, 150, 3)``.
      train_images: numpy str ``[N]`` image paths.
      train_labels: int32 ``[N, 4]`` 0-based labels (mapping: module docstring).
      test_images: numpy str ``[M]`` image paths.
      test_labels: int32 ``[M, 4]``.
      origin: Where the data came from, for logs.
      val_images: numpy str ``[V]`` paths of held-out training records, or None.
      val_labels: int32 ``[V, 4]``, or None.
    """

    # split -> decoded, cached tf.data.Dataset; see _decoded().
    _decoded_cache: dict = dataclasses.field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def _decoded(self, split: str):
        """The decoded, in-memory-cached ``(uint8 image, int32 labels[4])`` of a split.

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

        paths = getattr(self, f"{split}_images")
        labels = getattr(self, f"{split}_labels")

        def decode(path: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            return _decode_image(path), label

        ds = tf.data.Dataset.from_tensor_slices(
            (np.asarray(paths, dtype=str), np.asarray(labels, dtype=np.int32))
        )
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
          A dataset of ``(float32 [B, 150, 150, 3] in [0, 1], {task_name: int32 [B]})``.

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
                buffer_size=len(getattr(self, f"{split}_labels")),
                seed=epoch_seed(seed, epoch),
                reshuffle_each_iteration=False,
            )
        ds = ds.batch(batch_size)
        names = [self.task_names[k] for k in task_indices]

        def to_model_input(image: tf.Tensor, label: tf.Tensor):
            labels = {name: label[:, k] for name, k in zip(names, task_indices, strict=True)}
            return tf.cast(image, tf.float32) / 255.0, labels

        ds = ds.map(to_model_input, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return ds.prefetch(tf.data.AUTOTUNE)


def _decode_image(path):
    """Reads and decodes one image to uint8 ``[150, 150, 3]``: the pipeline's map, and
    what `check_images` uses to judge a doubtful file.

    ``decode_jpeg`` reads PNG (and GIF, BMP, WebP) too; ``channels=3`` expands grayscale.
    """
    import tensorflow as tf

    image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
    image = tf.image.resize(image, (IMAGE_SIZE, IMAGE_SIZE), method="bilinear", antialias=True)
    # Back to uint8 for the cache (4x smaller than float32); round, not truncate, so that
    # an image already at 150x150 (AFLW) comes back unchanged.
    return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)


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


def _as_arrays(root: str, records: Sequence[MtflRecord]) -> tuple[np.ndarray, np.ndarray]:
    paths = np.array([os.path.join(root, r.path) for r in records], dtype=str)
    labels = np.array([r.labels() for r in records], dtype=np.int32).reshape(-1, len(TASK_NAMES))
    return paths, labels


def load_mtfl(
    data_dir: str | os.PathLike | None,
    *,
    train_size: int | None = 9000,
    test_size: int | None = 1000,
    val_size: int = 0,
    seed: int = 0,
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

    Returns:
      The sampled data set; images are decoded lazily by its pipeline.

    Raises:
      FileNotFoundError: If ``data_dir`` is None or lacks the annotation files, or a
        sampled image is missing (see :func:`check_images`).
      MtflFormatError: If an annotation file is malformed, or a sampled image is a
        directory, empty, unreadable or not a decodable image.
      ValueError: If a size is negative or the sizes exceed the records available.
    """
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
    check_images(root, sorted(train + (val or []), key=lambda r: r.line), train_file)
    check_images(root, test, test_file)

    train_images, train_labels = _as_arrays(root, train)
    test_images, test_labels = _as_arrays(root, test)
    val_images = val_labels = None
    if val is not None:
        val_images, val_labels = _as_arrays(root, val)
    origin = f"MTFL annotations in {root}"
    logging.info(
        "mtfl: %d train / %d validation / %d test images sampled (seed %d) from %s",
        len(train), len(val or []), len(test), seed, origin,
    )
    return MtflData(
        name="mtfl",
        task_names=TASK_NAMES,
        num_classes=NUM_CLASSES,
        input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3),
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        origin=origin,
        val_images=val_images,
        val_labels=val_labels,
    )
