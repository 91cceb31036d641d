"""MTFL annotation files: the published record format, the task labels, the root folder.

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
"""

from __future__ import annotations

import dataclasses
import math
import os

__all__ = [
    "NUM_CLASSES",
    "TASK_NAMES",
    "TEST_FILE",
    "TRAIN_FILE",
    "MtflFormatError",
    "MtflRecord",
    "parse_annotations",
    "resolve_root",
]

TASK_NAMES = ("pose", "gender", "smile", "glasses")
NUM_CLASSES = (5, 2, 2, 2)
TRAIN_FILE = "training.txt"
TEST_FILE = "testing.txt"

# path + 10 landmark coordinates + 4 attributes.
_NUM_FIELDS = 15
# Published attribute ranges (inclusive), in the order the fields appear on a line.
_ATTRIBUTES = (("gender", 1, 2), ("smile", 1, 2), ("glasses", 1, 2), ("pose", 1, 5))


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
