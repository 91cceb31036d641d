"""Loading the single-item source data sets (MNIST, Fashion-MNIST).

Three places a source can come from:

* ``"dir"``: the four standard IDX files in a directory the user gives with
  ``--data_dir`` (``<data_dir>/mnist/``, ``<data_dir>/fashion-mnist/`` or
  ``<data_dir>/fashion_mnist/``, or the four files directly in ``<data_dir>``).
* ``"tfds"``: tensorflow-datasets (downloads on first use if the machine is online). A
  copy already prepared on this machine is used without any network access. Otherwise a
  quick probe of the download host comes first, so that an offline machine gets one clear
  error within seconds instead of minutes of retries; a download that fails midway leaves
  nothing behind.
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
import shutil
import threading
import urllib.parse

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

# Seconds the connectivity probe before a tensorflow-datasets download may take, DNS
# included. A reachable host answers a HEAD request in well under a second; offline,
# tensorflow-datasets itself would retry every file for minutes.
_PROBE_SECONDS = 5.0
# Where tensorflow-datasets 4.9 downloads each source from (its builders' `URL`, read from
# the installed version at run time; these are only the fallback).
_TFDS_URLS = {
    "mnist": "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "fashion_mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}


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
    if os.path.isfile(data_dir):
        # Pointing --data_dir at one of the files (or an archive) is an easy slip; "does not
        # exist" would be wrong and would not say what to pass instead.
        parent = os.path.dirname(os.path.abspath(data_dir))
        folders = "/ or ".join(sub for sub in _SUBDIRS[name] if sub)
        raise NotADirectoryError(
            f"--data_dir {data_dir} is a file, not a folder. Fix: pass the folder that holds "
            f"the four {_PRETTY[name]} IDX files or their {folders}/ folder, e.g. "
            f"--data_dir={parent} if they are next to this file; or use "
            "--data_source=embedded / --data_source=tfds"
        )
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


def _root_cause(error: BaseException) -> str:
    """The innermost cause of a (requests / urllib3) error, as one short line."""
    seen = {id(error)}
    while True:
        reason = getattr(error, "reason", None)  # urllib3's MaxRetryError / ProxyError
        inner = error.__cause__ or (reason if isinstance(reason, BaseException) else None)
        inner = inner or error.__context__
        if inner is None or id(inner) in seen:
            break
        seen.add(id(inner))
        error = inner
    text = " ".join(str(error).split()) or "no details"
    return f"{type(error).__name__}: {text[:300]}"


def _without_credentials(url: str) -> str:
    """`url` with any user:password removed, so that a proxy's secret is never printed."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _probe_download_host(url: str) -> str | None:
    """Checks that a download from `url` can start: None if so, else why not (one line).

    Sends one HEAD request with the library tensorflow-datasets downloads with
    (``requests``, which honours HTTPS_PROXY / HTTP_PROXY / NO_PROXY and REQUESTS_CA_BUNDLE
    exactly as the download will), without retries. Any HTTP answer, even an error status,
    proves the network path works and lets tensorflow-datasets proceed as it always did;
    only a connection that cannot be made counts as offline. The request runs in a daemon
    thread bounded by `_PROBE_SECONDS` overall, because a name lookup with an unreachable
    DNS server is not covered by the request's own timeout.
    """
    import requests  # a dependency of tensorflow-datasets, needed only here

    outcome: list[str | None] = []

    def probe() -> None:
        try:
            with requests.Session() as session:
                session.head(url, timeout=_PROBE_SECONDS, allow_redirects=False)
            outcome.append(None)
        except Exception as e:  # any failure to get an answer means "offline"
            outcome.append(_root_cause(e))

    thread = threading.Thread(target=probe, name="tfds-download-probe", daemon=True)
    thread.start()
    thread.join(_PROBE_SECONDS)
    if outcome and outcome[0] is None:
        return None
    reason = outcome[0] if outcome else f"no answer within {_PROBE_SECONDS:g} s"
    host = urllib.parse.urlsplit(url).hostname
    proxy = requests.utils.select_proxy(url, requests.utils.get_environ_proxies(url))
    where = host if proxy is None else f"{host} through proxy {_without_credentials(proxy)}"
    return f"no network connection to {where} ({reason})"


def _tfds_paths(root: str, name: str) -> set[str]:
    """Paths a tensorflow-datasets download of `name` into `root` may create.

    The entries of `root`, of ``<root>/<name>/`` (the ``incomplete.*`` build folders), of
    ``<root>/downloads/`` and ``<root>/downloads/extracted/``, and everything under
    ``<root>/downloads/<name>/`` (the partial ``*.tmp.*`` files). Only this dataset's
    download folder is walked: a shared data dir can hold millions of extracted files of
    other datasets.
    """
    downloads = os.path.join(root, "downloads")
    paths: set[str] = set()
    for top in (root, os.path.join(root, name), downloads, os.path.join(downloads, "extracted")):
        if os.path.isdir(top):
            paths.update(os.path.join(top, entry) for entry in os.listdir(top))
    for directory, subdirs, files in os.walk(os.path.join(downloads, name)):
        paths.update(os.path.join(directory, entry) for entry in subdirs + files)
    return paths


def _remove_created(root: str, name: str, before: set[str], missing: list[str]) -> None:
    """Removes what a failed download created: paths absent from `before`, then the folders
    in `missing` (`root` and any ancestors that did not exist), innermost first, if empty."""
    created = sorted(_tfds_paths(root, name) - before)
    for path in created:
        # Sorted, so a new folder comes before its contents: skip what is already gone.
        if not os.path.lexists(path):
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.remove(path)
            except OSError:
                pass
    for folder in missing:
        try:
            os.rmdir(folder)  # only if empty: never anything this attempt did not create
        except OSError:
            break


def _missing_folders(path: str) -> list[str]:
    """`path` and its ancestors that do not exist yet, innermost first."""
    missing = []
    path = os.path.abspath(path)
    while not os.path.exists(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return missing


def _load_tfds(name: str, data_dir: str | None) -> SourceData:
    """Loads `name` with tensorflow-datasets, downloading it first if it is not prepared.

    A prepared copy (in `data_dir`, or tensorflow-datasets' default and registered data
    dirs) is read without touching the network. Otherwise the download host is probed
    first (`_probe_download_host`): offline, this fails within `_PROBE_SECONDS` with one
    error naming the host and the fix, instead of tensorflow-datasets retrying every file
    for minutes (212 s here) and ending with a raw urllib3 error. If the download or the
    preparation fails anyway, whatever it created under the data dir is removed, so no
    partial download is left behind for a later run to trip over.

    Raises:
      NotADirectoryError: `data_dir` is a file.
      ConnectionError: the download host cannot be reached (an OSError).
      OSError: the download or preparation failed.
    """
    if data_dir is not None and os.path.isfile(data_dir):
        raise NotADirectoryError(
            f"--data_dir {data_dir} is a file, not a folder. Fix: with --data_source=tfds, "
            "--data_dir is the folder tensorflow-datasets keeps its copy in; pass a folder, "
            "or leave --data_dir out to use its default (~/tensorflow_datasets)"
        )
    import tensorflow_datasets as tfds  # slow import: only when actually used

    builder = tfds.builder(name, data_dir=data_dir)
    # `is_prepared()` logs a warning ("Variant folder ... has no dataset_info.json") for a
    # version folder that does not exist yet -- the ordinary not-yet-downloaded case, which
    # would add a misleading line before our error: check a local folder first. (A remote
    # data dir such as gs://... is left to tensorflow-datasets.)
    version_dir = os.fspath(builder.data_dir)
    local = "://" not in version_dir
    if not ((os.path.isdir(version_dir) or not local) and builder.is_prepared()):
        root = os.fspath(builder.data_dir_root)
        url = urllib.parse.urljoin(
            getattr(type(builder), "URL", None) or _TFDS_URLS[name],
            _FILES["train_images"] + ".gz",
        )
        fix = (
            f"download the {_PRETTY[name]} IDX files elsewhere and pass --data_source=dir "
            "--data_dir=DIR, or use --data_source=embedded (the sample shipped with mtl_tf)"
        )
        problem = _probe_download_host(url)
        if problem is not None:
            raise ConnectionError(
                f"cannot download {name} with tensorflow-datasets: {problem}; nothing was "
                f"downloaded. Fix: {fix}"
            )
        # What exists now, so that a failure removes exactly what this attempt created.
        before = _tfds_paths(root, name) if local else None
        missing = _missing_folders(root) if local else []
        try:
            builder.download_and_prepare()
        except BaseException as e:
            if before is not None:
                _remove_created(root, name, before, missing)
            if not isinstance(e, Exception):  # Ctrl-C and exits: cleaned up, passed on
                raise
            left = "the partial download was removed" if before is not None else "not cleaned up"
            raise OSError(
                f"cannot download {name} with tensorflow-datasets into {root}: "
                f"{_root_cause(e)}; {left}. Fix: {fix}"
            ) from e

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
