"""``--dataset=csv:PATH``: a folder of images and a CSV file whose columns are the tasks.

The CSV (UTF-8, a header row) has an ``image`` column of image paths, relative to the
CSV's folder (or absolute), one column per task named by ``--tasks``, and optionally a
``split`` column (``train``, ``val`` or ``test``); other columns are ignored::

    image,species,age,split
    img/0001.png,cat,3.5,train
    img/0002.png,dog,1.0,test

* classification columns hold integers or strings; their distinct values, sorted
  (numerically if all are integers), become class ids 0..k-1 and the value is the
  class name (kept in the task spec: the export answers ``"cat"``, not 0);
* regression columns hold finite numbers (one output per column).

Without a ``split`` column, a seeded draw of ``test_size`` rows is the test split and
``val_size`` more the validation split; the rest is for training (``train_size`` of
them, in file order, or all with 0). Every row and every image used is checked before
anything is built or written: a bad row or a missing, empty or undecodable image stops
the run with ``PATH:LINE: ...`` naming the problem. Images are decoded and resized in
``tf.data`` (`mtl_tf.data.image_files`) to ``image_size`` (0: the first image's size).
"""

from __future__ import annotations

import csv
import math
import os

import numpy as np

from mtl_tf.data.image_files import ImageFileData, image_shape
from mtl_tf.data.mtfl_images import _image_problem  # the quick structure check + decode
from mtl_tf.tasks import CLASSIFICATION, TaskSpec
from mtl_tf.user_data import parse_task_entries

__all__ = ["IMAGE_COLUMN", "SPLIT_COLUMN", "load_csv_dataset"]

IMAGE_COLUMN = "image"
SPLIT_COLUMN = "split"
_SPLITS = ("train", "val", "test")


def _read_rows(path: str, columns: list[str]) -> list[tuple[int, dict[str, str]]]:
    """(line, {column: value}) of every data row; refuses a missing column or a row whose
    field count differs from the header's."""
    try:
        f = open(path, newline="", encoding="utf-8-sig")
    except FileNotFoundError:
        raise FileNotFoundError(f"--dataset=csv:{path}: no such file; give the path of the "
                                "CSV file (its image paths are relative to its folder)") from None
    with f:
        reader = csv.reader(f)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise ValueError(f"{path}:1: the file is empty; it needs a header row "
                             f"({IMAGE_COLUMN},<task columns>...)") from None
        except (UnicodeDecodeError, csv.Error) as e:
            raise ValueError(f"{path}:1: not a UTF-8 CSV file ({e})") from None
        missing = [c for c in columns if c not in header]
        if missing:
            raise ValueError(
                f"{path}:1: no column {', '.join(missing)} in the header (columns: "
                f"{', '.join(header)}); the CSV needs an {IMAGE_COLUMN!r} column and one "
                "column per --tasks entry")
        rows = []
        try:
            for fields in reader:
                if not fields or all(not v.strip() for v in fields):
                    continue  # blank lines
                if len(fields) != len(header):
                    raise ValueError(f"{path}:{reader.line_num}: {len(fields)} fields, but the "
                                     f"header has {len(header)}")
                rows.append((reader.line_num, dict(zip(header, (v.strip() for v in fields),
                                                       strict=True))))
        except (UnicodeDecodeError, csv.Error) as e:
            raise ValueError(f"{path}:{reader.line_num}: unreadable CSV ({e})") from None
    if not rows:
        raise ValueError(f"{path}: no data rows under the header")
    return rows


def _class_ids(values: list[str]) -> tuple[tuple[str, ...], np.ndarray]:
    """(class names, ids): the distinct values sorted (numerically when all are
    integers, so "2" < "10" and "01" is "1"), and each value's index among them."""
    try:
        keys: list = [int(v) for v in values]
    except ValueError:
        keys = list(values)
    vocabulary = sorted(set(keys))
    index = {k: i for i, k in enumerate(vocabulary)}
    return tuple(str(k) for k in vocabulary), np.array([index[k] for k in keys], np.int32)


def _labels(path: str, rows, entries) -> tuple[tuple[TaskSpec, ...], dict[str, np.ndarray]]:
    specs, labels = [], {}
    for name, kind, loss in entries:
        for line, row in rows:
            if not row[name]:
                raise ValueError(f"{path}:{line}: column {name!r} is empty")
        values = [row[name] for _, row in rows]
        if kind == CLASSIFICATION:
            names, ids = _class_ids(values)
            specs.append(TaskSpec(name, CLASSIFICATION, len(names), class_names=names))
            labels[name] = ids
            continue
        numbers = []
        for (line, _), v in zip(rows, values, strict=True):
            try:
                x = float(v)
            except ValueError:
                x = math.nan
            if not math.isfinite(x):
                raise ValueError(f"{path}:{line}: column {name!r} (regression) holds {v!r}, "
                                 "not a finite number")
            numbers.append(x)
        specs.append(TaskSpec(name, kind, 1, loss=loss))
        labels[name] = np.array(numbers, np.float32)[:, np.newaxis]
    return tuple(specs), labels


def _split_indices(path: str, rows, *, train_size: int, test_size: int, val_size: int,
                   seed: int) -> dict[str, np.ndarray]:
    n = len(rows)
    if rows and SPLIT_COLUMN in rows[0][1]:
        parts: dict[str, list[int]] = {s: [] for s in _SPLITS}
        for i, (line, row) in enumerate(rows):
            if row[SPLIT_COLUMN] not in parts:
                raise ValueError(f"{path}:{line}: split {row[SPLIT_COLUMN]!r} is not one of "
                                 f"{', '.join(_SPLITS)}")
            parts[row[SPLIT_COLUMN]].append(i)
        out = {s: np.array(v, np.int64) for s, v in parts.items()}
        if train_size:
            out["train"] = out["train"][:train_size]
    else:
        if test_size + val_size >= n:
            raise ValueError(
                f"{path}: {n} rows cannot give --test_size={test_size} test and "
                f"--val_size={val_size} validation rows and leave any for training; lower "
                "them, or add a 'split' column (train / val / test)")
        order = np.random.default_rng(np.random.SeedSequence([seed, 7])).permutation(n)
        rest = order[test_size + val_size:]
        out = {"test": np.sort(order[:test_size]),
               "val": np.sort(order[test_size:test_size + val_size]),
               "train": np.sort(rest[:train_size] if train_size else rest)}
    for split in ("train", "test"):
        if not len(out[split]):
            raise ValueError(f"{path}: no {split} rows; the 'split' column needs train and "
                             "test rows")
    return out


def load_csv_dataset(path: str, tasks: list[str] | tuple[str, ...] | None, *,
                     train_size: int = 0, test_size: int = 0, val_size: int = 0,
                     seed: int = 0, image_size: int = 0,
                     test_only: bool = False) -> ImageFileData:
    """Reads ``csv:PATH`` (module docstring) into an `ImageFileData`.

    Args:
      path: the CSV file.
      tasks: ``--tasks`` entries (``NAME[:KIND[:LOSS]]``, `mtl_tf.user_data`); required.
      train_size: training rows to keep (0: all).
      test_size / val_size: rows drawn for the test / validation split when the CSV has
        no ``split`` column.
      seed: seed of that draw.
      image_size: side of the square images the model sees; 0: the first image's size.
      test_only: check the test images only (scoring a served model trains nothing).

    Raises:
      FileNotFoundError: no such CSV, or an image it names does not exist.
      ValueError: a missing column, a bad row or value, an undecodable image, or sizes
        that leave no training rows; ``PATH:LINE:`` first.
    """
    if not tasks:
        raise ValueError(f"--dataset=csv:{path} needs --tasks naming its task columns, e.g. "
                         "--tasks=species,age:regression")
    entries = parse_task_entries(tasks)
    rows = _read_rows(path, [IMAGE_COLUMN, *(name for name, _, _ in entries)])
    specs, labels = _labels(path, rows, entries)
    splits = _split_indices(path, rows, train_size=train_size, test_size=test_size,
                            val_size=val_size, seed=seed)
    root = os.path.dirname(os.path.abspath(path))
    images = np.array([os.path.join(root, row[IMAGE_COLUMN]) for _, row in rows])
    checked = ("test",) if test_only else _SPLITS
    for i in np.sort(np.concatenate([splits[s] for s in checked])):
        line, row = rows[int(i)]
        if not row[IMAGE_COLUMN]:
            raise ValueError(f"{path}:{line}: column {IMAGE_COLUMN!r} is empty")
        problem = _image_problem(str(images[i]))
        if problem is not None:
            error = FileNotFoundError if problem == "does not exist" else ValueError
            raise error(f"{path}:{line}: image {images[i]} {problem}; fix the path or the file")
    h, w, c = image_shape(str(images[splits["test" if test_only else "train"][0]]))
    if image_size:
        h = w = int(image_size)

    def part(split):
        idx = splits[split]
        if split == "val" and not len(idx):
            return None, None
        return images[idx], {t: y[idx] for t, y in labels.items()}

    (train_x, train_y), (test_x, test_y), (val_x, val_y) = (part(s) for s in
                                                             ("train", "test", "val"))
    return ImageFileData(
        name=f"csv:{path}", tasks=specs, input_shape=(h, w, c),
        train_images=train_x, train_labels=train_y, test_images=test_x, test_labels=test_y,
        origin=f"{len(rows)} rows of {os.path.abspath(path)}",
        val_images=val_x, val_labels=val_y,
    )
