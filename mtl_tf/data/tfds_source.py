"""The tensorflow-datasets source: a prepared copy read offline, or a download.

Before a download, a quick probe of the download host, so that an offline machine gets
one clear error within seconds instead of minutes of retries; a download that fails
midway leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import threading
import urllib.parse

import numpy as np
from absl import logging

from mtl_tf.data.source_data import (
    DISPLAY_NAMES,
    IDX_FILES,
    SourceData,
    checked_source_data,
)

__all__ = ["load_tfds", "local_tfds_dir"]

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


def local_tfds_dir(name: str) -> str | None:
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


def load_tfds(name: str, data_dir: str | None) -> SourceData:
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
            IDX_FILES["train_images"] + ".gz",
        )
        fix = (
            f"download the {DISPLAY_NAMES[name]} IDX files elsewhere and pass --data_source=dir "
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
    names = {key: f"tensorflow-datasets {name} {key}" for key in arrays}
    return checked_source_data(arrays, names, "tensorflow-datasets")
