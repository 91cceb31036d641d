"""Loading the single-item source data sets (MNIST, Fashion-MNIST).

Three places a source can come from:

* ``"dir"``: the four standard IDX files in a directory the user gives with
  ``--data_dir`` (``<data_dir>/mnist/``, ``<data_dir>/fashion-mnist/`` or
  ``<data_dir>/fashion_mnist/``, or the four files directly in ``<data_dir>``).
* ``"tfds"``: tensorflow-datasets (downloads on first use if the machine is online). A
  copy already prepared on this machine is used without any network access. Otherwise a
  quick probe of the download host comes first, so that an offline machine gets one clear
  error within seconds instead of minutes of retries; a download that fails midway leaves
  nothing behind. That path is `mtl_tf.data.tfds_source`.
* ``"embedded"``: a class-balanced sample of 4000 train / 1000 test real images per
  data set that ships inside the package (``mtl_tf/data/embedded``), so that examples
  and tests run offline with no setup. See ``embedded/README.md``.

``"auto"`` picks the first that applies: a given ``data_dir``, then a tensorflow-datasets
copy that is already prepared on this machine (checked without network access), then
the embedded sample, with a one-line warning saying so.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import os
from collections.abc import Iterator

import numpy as np
from absl import logging

from mtl_tf.data.idx import read_idx
from mtl_tf.data.source_data import (
    DISPLAY_NAMES,
    IDX_FILES,
    SourceData,
    checked_source_data,
)
from mtl_tf.data.tfds_source import load_tfds, local_tfds_dir

__all__ = ["SOURCES", "DATA_SOURCES", "load_source", "no_embedded_notice"]

SOURCES = ("mnist", "fashion_mnist")
DATA_SOURCES = ("auto", "dir", "tfds", "embedded")


class _Notice:
    """Whether the embedded-sample notice is printed (see `no_embedded_notice`)."""

    quiet = False


@contextlib.contextmanager
def no_embedded_notice() -> Iterator[None]:
    """Within it, falling back to the embedded sample prints no notice: for reloading
    data the user was already told about (the export's warm-up images after training,
    in the same `python main.py`)."""
    before, _Notice.quiet = _Notice.quiet, True
    try:
        yield
    finally:
        _Notice.quiet = before

# Sub-directories of --data_dir searched per source, in order; "" is data_dir itself
# (a flat folder holding the four files). Fashion-MNIST's own repository calls its
# folder "fashion-mnist", tensorflow-datasets calls the data set "fashion_mnist".
_SUBDIRS = {
    "mnist": ("mnist", ""),
    "fashion_mnist": ("fashion-mnist", "fashion_mnist", ""),
}


def _check_name(name: str, data_source: str) -> None:
    if name not in SOURCES:
        raise ValueError(f"unknown source {name!r}; expected one of {', '.join(SOURCES)}")
    if data_source not in DATA_SOURCES:
        raise ValueError(
            f"unknown data_source {data_source!r}; expected one of {', '.join(DATA_SOURCES)}"
        )


def _find_file(directory: str, stem: str) -> str | None:
    for candidate in (stem + ".gz", stem):
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            return path
    return None


def _load_dir(name: str, data_dir: str) -> SourceData:
    if os.path.isfile(data_dir):
        # Pointing --data_dir at one of the files (or an archive) is an easy slip; "does not
        # exist" would be wrong and would not say what to pass instead.
        parent = os.path.dirname(os.path.abspath(data_dir))
        folders = "/ or ".join(sub for sub in _SUBDIRS[name] if sub)
        raise NotADirectoryError(
            f"--data_dir {data_dir} is a file, not a folder. Fix: pass the folder that holds "
            f"the four {DISPLAY_NAMES[name]} IDX files or their {folders}/ folder, e.g. "
            f"--data_dir={parent} if they are next to this file; or use "
            "--data_source=embedded / --data_source=tfds"
        )
    candidates = [os.path.join(data_dir, sub) if sub else data_dir for sub in _SUBDIRS[name]]
    looked_for = ", ".join(f"{stem}[.gz]" for stem in IDX_FILES.values())
    partial: list[str] = []
    for directory in candidates:
        if not os.path.isdir(directory):
            continue
        found = {key: _find_file(directory, stem) for key, stem in IDX_FILES.items()}
        paths = {key: path for key, path in found.items() if path is not None}
        if len(paths) == len(IDX_FILES):
            arrays = {key: read_idx(path) for key, path in paths.items()}
            return checked_source_data(arrays, paths, f"IDX files in {directory}", files=paths)
        missing = [IDX_FILES[key] for key, path in found.items() if path is None]
        if len(missing) < len(IDX_FILES):
            partial.append(f"{directory} is missing {', '.join(missing)}")
    where = " or ".join(candidates)
    detail = f" ({'; '.join(partial)})" if partial else ""
    if not os.path.isdir(data_dir):
        problem = f"data directory {data_dir} does not exist"
    else:
        problem = f"no complete set of {DISPLAY_NAMES[name]} IDX files in {where}{detail}"
    raise FileNotFoundError(
        f"{problem}; looked for {looked_for}. Fix: pass --data_dir pointing at a folder "
        f"that holds {'/ or '.join(s for s in _SUBDIRS[name] if s)}/ with those four "
        "files (or holds the four files directly), or use --data_source=embedded / "
        "--data_source=tfds"
    )


def _load_embedded(name: str) -> SourceData:
    root = importlib.resources.files("mtl_tf.data") / "embedded" / name
    arrays: dict[str, np.ndarray] = {}
    names: dict[str, str] = {}
    for key, stem in IDX_FILES.items():
        resource = root / (stem + ".gz")
        # as_file gives a real path even if the package is installed zipped.
        with importlib.resources.as_file(resource) as path:
            if not path.is_file():
                raise FileNotFoundError(
                    f"embedded sample file {path} is missing from the mtl_tf install; "
                    "reinstall mtl_tf or rebuild it with scripts/build_embedded_data.py"
                )
            arrays[key] = read_idx(path)
            names[key] = str(path)
    n_train, n_test = len(arrays["train_labels"]), len(arrays["test_labels"])
    return checked_source_data(
        arrays, names, f"embedded sample ({n_train} train / {n_test} test images)"
    )


def load_source(
    name: str, data_dir: str | None = None, data_source: str = "auto"
) -> SourceData:
    """Loads MNIST or Fashion-MNIST as numpy arrays.

    Args:
      name: ``"mnist"`` or ``"fashion_mnist"``.
      data_dir: Folder with the IDX files (``mnist/``, ``fashion-mnist/`` or
        ``fashion_mnist/`` inside it, or the four files directly). With
        ``data_source="tfds"`` it is passed to tensorflow-datasets as its data dir.
      data_source: ``"dir"``, ``"tfds"``, ``"embedded"``, or ``"auto"`` (``data_dir`` if
        given, else a locally prepared tensorflow-datasets copy, else the embedded
        sample with a warning).

    Returns:
      The train and test splits and a description of where they came from.

    Raises:
      ValueError: Unknown ``name`` or ``data_source``; IdxFormatError (a ValueError)
        for damaged or inconsistent files.
      FileNotFoundError: ``data_dir`` or its files are missing (``"dir"``/``"auto"``),
        or ``data_source="dir"`` without a ``data_dir``.
      NotADirectoryError: ``data_dir`` is a file, not a folder.
      ConnectionError: ``data_source="tfds"``, the data set is not prepared locally and
        its download host cannot be reached (within about 5 s).
      OSError: a tensorflow-datasets download or preparation failed (partial files removed).
    """
    _check_name(name, data_source)
    if data_source == "dir" or (data_source == "auto" and data_dir is not None):
        if data_dir is None:
            raise FileNotFoundError(
                f"data_source='dir' needs a directory: pass --data_dir pointing at a folder "
                f"holding the {DISPLAY_NAMES[name]} IDX files"
            )
        return _load_dir(name, os.fspath(data_dir))
    if data_source == "tfds":
        return load_tfds(name, data_dir)
    if data_source == "auto":
        tfds_dir = local_tfds_dir(name)
        if tfds_dir is not None:
            return load_tfds(name, tfds_dir)
    data = _load_embedded(name)
    if data_source == "auto" and not _Notice.quiet:
        logging.warning(
            "No --data_dir given and no local tensorflow-datasets copy of %s: using the "
            "embedded sample of %d train / %d test real %s images shipped with mtl_tf "
            "(pass --data_dir for the full data).",
            name, len(data.train_labels), len(data.test_labels), DISPLAY_NAMES[name],
        )
    return data
