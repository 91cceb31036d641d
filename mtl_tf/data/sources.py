"""Loading the single-item source data sets (MNIST, Fashion-MNIST).

Three places a source can come from:

* ``"dir"``: the four standard IDX files in a directory the user gives with
  ``--data_dir`` (``<data_dir>/mnist/``, ``<data_dir>/fashion-mnist/`` or
  ``<data_dir>/fashion_mnist/``, or the four files directly in ``<data_dir>``).
* ``"tfds"``: tensorflow-datasets (downloads on first use if the machine is online).
* ``"embedded"``: a class-balanced sample of 4000 train / 1000 test real images per
  data set that ships inside the package (``mtl_tf/data/embedded``), so that examples
  and tests run offline with no setup. See ``embedded/README.md``.

``"auto"`` picks the first that applies: a given ``data_dir``, then a tensorflow-datasets
copy that is already prepared on this machine (checked without network access), then
the embedded sample, with a one-line warning saying so.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import os

import numpy as np
from absl import logging

from mtl_tf.data.idx import IdxFormatError, read_idx

__all__ = ["SOURCES", "DATA_SOURCES", "SourceData", "load_source"]

SOURCES = ("mnist", "fashion_mnist")
DATA_SOURCES = ("auto", "dir", "tfds", "embedded")

# Sub-directories of --data_dir searched per source, in order; "" is data_dir itself
# (a flat folder holding the four files). Fashion-MNIST's own repository calls its
# folder "fashion-mnist", tensorflow-datasets calls the data set "fashion_mnist".
_SUBDIRS = {
    "mnist": ("mnist", ""),
    "fashion_mnist": ("fashion-mnist", "fashion_mnist", ""),
}
_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_PRETTY = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}


@dataclasses.dataclass(frozen=True)
class SourceData:
    """One single-item source data set, as numpy arrays.

    Attributes:
      train_images: uint8 ``[N, 28, 28]``.
      train_labels: Integer ``[N]`` class ids in ``0..9``.
      test_images: uint8 ``[M, 28, 28]``.
      test_labels: Integer ``[M]``.
      origin: Where the data came from, for logs, e.g. ``"IDX files in /x/mnist"``.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    origin: str


def _check_name(name: str, data_source: str) -> None:
    if name not in SOURCES:
        raise ValueError(f"unknown source {name!r}; expected one of {', '.join(SOURCES)}")
    if data_source not in DATA_SOURCES:
        raise ValueError(
            f"unknown data_source {data_source!r}; expected one of {', '.join(DATA_SOURCES)}"
        )


def _validate(
    arrays: dict[str, np.ndarray], files: dict[str, str], origin: str
) -> SourceData:
    """Checks shapes and dtypes; ``files`` maps each key to a name used in errors."""
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        image_file, label_file = files[f"{split}_images"], files[f"{split}_labels"]
        if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
            raise IdxFormatError(
                f"{image_file}: expected uint8 images of shape [N, 28, 28], got "
                f"{images.dtype} {list(images.shape)}; point --data_dir at the standard "
                "MNIST / Fashion-MNIST files"
            )
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise IdxFormatError(
                f"{label_file}: expected integer labels of shape [N], got "
                f"{labels.dtype} {list(labels.shape)}; point --data_dir at the standard "
                "MNIST / Fashion-MNIST files"
            )
        if labels.shape[0] != images.shape[0]:
            raise IdxFormatError(
                f"{image_file} holds {images.shape[0]} images but {label_file} holds "
                f"{labels.shape[0]} labels; the two files are from different releases or "
                "one is damaged: re-download them"
            )
    return SourceData(origin=origin, **arrays)


def _find_file(directory: str, stem: str) -> str | None:
    for candidate in (stem + ".gz", stem):
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            return path
    return None


def _load_dir(name: str, data_dir: str) -> SourceData:
    candidates = [os.path.join(data_dir, sub) if sub else data_dir for sub in _SUBDIRS[name]]
    looked_for = ", ".join(f"{stem}[.gz]" for stem in _FILES.values())
    partial: list[str] = []
    for directory in candidates:
        if not os.path.isdir(directory):
            continue
        found = {key: _find_file(directory, stem) for key, stem in _FILES.items()}
        paths = {key: path for key, path in found.items() if path is not None}
        if len(paths) == len(_FILES):
            arrays = {key: read_idx(path) for key, path in paths.items()}
            return _validate(arrays, paths, f"IDX files in {directory}")
        missing = [_FILES[key] for key, path in found.items() if path is None]
        if len(missing) < len(_FILES):
            partial.append(f"{directory} is missing {', '.join(missing)}")
    where = " or ".join(candidates)
    detail = f" ({'; '.join(partial)})" if partial else ""
    if not os.path.isdir(data_dir):
        problem = f"data directory {data_dir} does not exist"
    else:
        problem = f"no complete set of {_PRETTY[name]} IDX files in {where}{detail}"
    raise FileNotFoundError(
        f"{problem}; looked for {looked_for}. Fix: pass --data_dir pointing at a folder "
        f"that holds {'/ or '.join(s for s in _SUBDIRS[name] if s)}/ with those four "
        "files (or holds the four files directly), or use --data_source=embedded / "
        "--data_source=tfds"
    )


def _local_tfds_dir(name: str) -> str | None:
    """Returns the tensorflow-datasets data dir if ``name`` is prepared there, else None.

    Looks at the directory first so that the slow tensorflow_datasets import only happens
    when a copy may exist, and never touches the network.
    """
    data_dir = os.environ.get("TFDS_DATA_DIR") or os.path.join(
        os.path.expanduser("~"), "tensorflow_datasets"
    )
    if not os.path.isdir(os.path.join(data_dir, name)):
        return None
    try:
        import tensorflow_datasets as tfds

        if tfds.builder(name, data_dir=data_dir).is_prepared():
            return data_dir
    except Exception as e:  # Any failure just means "not usable": fall back.
        logging.info("tensorflow-datasets copy of %s in %s is not usable: %s", name, data_dir, e)
    return None


def _load_tfds(name: str, data_dir: str | None) -> SourceData:
    import tensorflow_datasets as tfds  # slow import: only when actually used

    train, test = tfds.as_numpy(
        tfds.load(name, split=["train", "test"], batch_size=-1, as_supervised=True,
                  data_dir=data_dir)
    )
    arrays = {
        # tfds images are [N, 28, 28, 1]; drop the channel axis to match the IDX layout.
        "train_images": np.asarray(train[0]).reshape(-1, 28, 28).astype(np.uint8),
        "train_labels": np.asarray(train[1]),
        "test_images": np.asarray(test[0]).reshape(-1, 28, 28).astype(np.uint8),
        "test_labels": np.asarray(test[1]),
    }
    files = {key: f"tensorflow-datasets {name} {key}" for key in arrays}
    return _validate(arrays, files, "tensorflow-datasets")


def _load_embedded(name: str) -> SourceData:
    root = importlib.resources.files("mtl_tf.data") / "embedded" / name
    arrays: dict[str, np.ndarray] = {}
    files: dict[str, str] = {}
    for key, stem in _FILES.items():
        resource = root / (stem + ".gz")
        # as_file gives a real path even if the package is installed zipped.
        with importlib.resources.as_file(resource) as path:
            if not path.is_file():
                raise FileNotFoundError(
                    f"embedded sample file {path} is missing from the mtl_tf install; "
                    "reinstall mtl_tf or rebuild it with scripts/build_embedded_data.py"
                )
            arrays[key] = read_idx(path)
            files[key] = str(path)
    n_train, n_test = len(arrays["train_labels"]), len(arrays["test_labels"])
    return _validate(
        arrays, files, f"embedded sample ({n_train} train / {n_test} test images)"
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
    """
    _check_name(name, data_source)
    if data_source == "dir" or (data_source == "auto" and data_dir is not None):
        if data_dir is None:
            raise FileNotFoundError(
                f"data_source='dir' needs a directory: pass --data_dir pointing at a folder "
                f"holding the {_PRETTY[name]} IDX files"
            )
        return _load_dir(name, os.fspath(data_dir))
    if data_source == "tfds":
        return _load_tfds(name, data_dir)
    if data_source == "auto":
        tfds_dir = _local_tfds_dir(name)
        if tfds_dir is not None:
            return _load_tfds(name, tfds_dir)
    data = _load_embedded(name)
    if data_source == "auto":
        logging.warning(
            "No --data_dir given and no local tensorflow-datasets copy of %s: using the "
            "embedded sample of %d train / %d test real %s images shipped with mtl_tf "
            "(pass --data_dir for the full data).",
            name, len(data.train_labels), len(data.test_labels), _PRETTY[name],
        )
    return data
