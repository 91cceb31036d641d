"""Your own data by name, TensorFlow-free: ``--dataset=csv:PATH`` and ``--dataset=tfds:NAME``
and the ``--tasks`` entries that choose their tasks (checked with the flags, before
TensorFlow loads; the loaders are `mtl_tf.data.csv_data` and `mtl_tf.data.tfds_data`).

A task entry is ``NAME[:KIND[:LOSS]]``: ``smile`` or ``smile:classification`` (the
default kind), ``age:regression`` (mean squared error) or ``age:regression:l1``.
"""

from __future__ import annotations

import os
import re

__all__ = [
    "SCHEMES",
    "TaskEntry",
    "dataset_slug",
    "parse_task_entries",
    "split_dataset_name",
]

# csv:PATH (an image column and task columns) and tfds:NAME (a tensorflow-datasets set).
SCHEMES: tuple[str, ...] = ("csv", "tfds")
_KINDS = ("classification", "regression")
_LOSSES = ("mse", "l1")

TaskEntry = tuple[str, str, "str | None"]  # (name, kind, regression loss or None)


def split_dataset_name(dataset: str) -> tuple[str | None, str]:
    """``"csv:data/labels.csv"`` -> ``("csv", "data/labels.csv")``; a registry name (no
    known scheme) -> ``(None, name)``."""
    scheme, sep, rest = dataset.partition(":")
    if sep and scheme in SCHEMES:
        return scheme, rest
    return None, dataset


def dataset_slug(dataset: str) -> str:
    """A file-name-safe short name of a data set, for default run directories:
    ``csv:/x/faces/labels.csv`` -> ``csv-faces-labels``, ``tfds:celeb_a`` -> ``tfds-celeb_a``."""
    scheme, rest = split_dataset_name(dataset)
    if scheme is None:
        return dataset
    if scheme == "csv":
        path = os.path.splitext(os.path.normpath(rest))[0]
        rest = "-".join(p for p in path.split(os.sep)[-2:] if p not in ("", ".", ".."))
    return f"{scheme}-" + (re.sub(r"[^A-Za-z0-9_.-]+", "_", rest).strip("._") or "data")


def parse_task_entries(entries: list[str] | tuple[str, ...]) -> list[TaskEntry]:
    """Parses ``--tasks`` entries of a user data set.

    Returns:
      ``[(name, kind, loss)]`` with kind ``"classification"`` or ``"regression"`` and
      loss ``"mse"`` / ``"l1"`` for a regression (None for a classification).

    Raises:
      ValueError: an empty name, an unknown kind or loss, a loss on a classification, a
        task named twice; the message shows the accepted spelling.
    """
    out: list[TaskEntry] = []
    for entry in entries:
        parts = entry.strip().split(":")
        name = parts[0].strip()
        kind = parts[1].strip() if len(parts) > 1 else "classification"
        loss = parts[2].strip() if len(parts) > 2 else None
        problem = None
        if not name or len(parts) > 3:
            problem = "expected NAME, NAME:classification, NAME:regression or NAME:regression:l1"
        elif kind not in _KINDS:
            problem = f"the kind must be classification or regression, not {kind!r}"
        elif loss is not None and (kind != "regression" or loss not in _LOSSES):
            problem = (f"a loss applies to regression tasks only and is mse or l1, "
                       f"not {loss!r}")
        elif name in [t[0] for t in out]:
            problem = "the task is named twice"
        if problem:
            raise ValueError(f"--tasks entry {entry!r}: {problem}")
        if kind == "regression" and loss is None:
            loss = "mse"
        out.append((name, kind, loss))
    return out
