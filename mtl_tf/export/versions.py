"""The TensorFlow Serving layout of an export directory: model names, integer versions
written atomically, and ``models.config`` listing the models (see
`mtl_tf.export.saved_model` for what a version holds)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from typing import Any

from mtl_tf.io_utils import atomic_write_text, make_temp_dir

MODELS_CONFIG = "models.config"
DEFAULT_BASE_PATH_PREFIX = "/models"
# Where a version records the trained model it was exported from (``assets.extra/``):
# the run directory, and the checkpoint with a digest of its index (which holds a CRC of
# every variable), so that "the same trained model" means the same weights.
SOURCE_FILE = "mtl_tf_source.json"
_ASSETS_EXTRA = "assets.extra"

# A model name becomes a directory name, a URL path segment (/v1/models/<name>) and a
# string in a text protobuf: letters, digits, "_", "-", "." only, not starting with "."
# (hidden, and "." / ".." would escape export_dir).
_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


def validate_model_name(model_name: str) -> str:
    """Returns `model_name` if it is a safe directory name, else raises ValueError."""
    if not isinstance(model_name, str) or not _SAFE_NAME.fullmatch(model_name):
        raise ValueError(
            f"invalid model name {model_name!r}: use 1-128 characters from [A-Za-z0-9_.-], "
            "not starting with '.'"
        )
    return model_name


def sanitize_model_name(name: str) -> str:
    """Turns any string into a name `validate_model_name` accepts (runs of other
    characters become "_")."""
    cleaned = _UNSAFE_CHARS.sub("_", name).lstrip(".")[:128]
    return validate_model_name(cleaned or "model")


def list_versions(model_dir: str) -> list[int]:
    """The integer version directories under `model_dir`, sorted (none if it is missing)."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(
        int(entry.name)
        for entry in os.scandir(model_dir)
        if entry.is_dir() and entry.name.isdigit()
    )




def _fsync_tree(root: str) -> None:
    """Flushes every file and directory under `root` to disk, so that a directory made
    visible by rename holds complete files even after a power loss."""
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(dirpath)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish_new_version(model_dir: str, write: Callable[[str], None]) -> str:
    """Writes a new version with `write(tmp_dir)` and makes it visible atomically.

    The version is written into ``<model_dir>/.tmp-<version>-<random>`` (TF Serving
    ignores non-integer names) and renamed to ``<model_dir>/<version>`` only when
    complete. Whatever interrupts `write` (an exception here; a kill leaves only the
    hidden temporary directory), no integer directory appears.

    Returns:
      The version directory.
    """
    os.makedirs(model_dir, exist_ok=True)
    versions = list_versions(model_dir)
    version = (versions[-1] + 1) if versions else 1
    # Not tempfile.mkdtemp's 0700, which the rename would keep: a TF Serving process
    # running as another user could not read the version.
    tmp = make_temp_dir(model_dir, prefix=f".tmp-{version}-")
    try:
        write(tmp)
        _fsync_tree(tmp)
        while True:
            final = os.path.join(model_dir, str(version))
            # Another exporter may have taken this version meanwhile: never replace it
            # (os.rename would fail on a non-empty directory anyway), take the next one.
            if not os.path.exists(final):
                try:
                    os.rename(tmp, final)
                    break
                except OSError:
                    if not os.path.exists(final):
                        raise
            version = max(list_versions(model_dir) + [version]) + 1
        _fsync_dir(model_dir)
        return final
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise



def exported_models(export_dir: str) -> list[str]:
    """Names of the model directories under `export_dir` holding at least one complete
    version (an integer directory with saved_model.pb), sorted."""
    if not os.path.isdir(export_dir):
        return []
    names = []
    for entry in os.scandir(export_dir):
        if not entry.is_dir() or not _SAFE_NAME.fullmatch(entry.name):
            continue
        if any(
            os.path.exists(os.path.join(entry.path, str(v), "saved_model.pb"))
            for v in list_versions(entry.path)
        ):
            names.append(entry.name)
    return sorted(names)


def write_models_config(
    export_dir: str, *, base_path_prefix: str | None = DEFAULT_BASE_PATH_PREFIX
) -> str:
    """(Re)writes ``<export_dir>/models.config`` listing every exported model.

    The file is a TF Serving model config (text `ModelServerConfig`), written atomically
    so a server reloading it (``--model_config_file_poll_wait_seconds``) never reads half
    a file::

        model_config_list {
          config { name: "stl_top_left" base_path: "/models/stl_top_left"
                   model_platform: "tensorflow" }
        }

    Args:
      export_dir: the export directory (models in ``<export_dir>/<name>/<version>``).
      base_path_prefix: where `export_dir` is seen by the server. The default
        ``"/models"`` suits ``docker run -v $PWD/export/models:/models tensorflow/serving
        --model_config_file=/models/models.config``; None writes absolute paths of this
        machine, for a native ``tensorflow_model_server --model_config_file=...``.

    Returns:
      The path of the written config.
    """
    names = exported_models(export_dir)
    if base_path_prefix is None:
        root = os.path.abspath(export_dir)
        join = os.path.join
    else:
        # The server's path syntax, not this machine's: always "/".
        root = base_path_prefix.rstrip("/") or "/"

        def join(a: str, b: str) -> str:
            return a.rstrip("/") + "/" + b

    lines = ["model_config_list {"]
    for name in names:
        base_path = join(root, name)
        lines += [
            "  config {",
            f'    name: "{name}"',
            f'    base_path: "{_escape(base_path)}"',
            '    model_platform: "tensorflow"',
            "  }",
        ]
    lines.append("}")
    path = os.path.join(export_dir, MODELS_CONFIG)
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def _escape(text: str) -> str:
    """Escapes a string for a double-quoted text-protobuf literal."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def checkpoint_source(run_dir: str, model_dir: str, checkpoint: str) -> dict[str, Any]:
    """What a version records about the model it holds: ``run_dir``, ``model_dir`` (real
    paths), the ``checkpoint`` file name and ``checkpoint_digest`` (SHA-256 of its
    ``.index`` file: a retrained model, even with the same checkpoint number, differs)."""
    with open(checkpoint + ".index", "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return {"run_dir": os.path.realpath(run_dir), "model_dir": os.path.realpath(model_dir),
            "checkpoint": os.path.basename(checkpoint), "checkpoint_digest": digest}


def write_source(version_dir: str, source: dict[str, Any]) -> None:
    """Writes `source` (see `checkpoint_source`) into a version being written."""
    extra = os.path.join(version_dir, _ASSETS_EXTRA)
    os.makedirs(extra, exist_ok=True)
    with open(os.path.join(extra, SOURCE_FILE), "w", encoding="utf-8") as f:
        json.dump(source, f, indent=2)
        f.write("\n")


def latest_version_with_source(model_dir: str, source: dict[str, Any]) -> str | None:
    """The newest version under `model_dir` if it was exported from exactly `source`
    (same run directory, model and checkpoint digest), else None. Versions written
    before sources were recorded, or unreadable records, never match."""
    versions = list_versions(model_dir)
    if not versions:
        return None
    version_dir = os.path.join(model_dir, str(versions[-1]))
    try:
        with open(os.path.join(version_dir, _ASSETS_EXTRA, SOURCE_FILE),
                  encoding="utf-8") as f:
            recorded = json.load(f)
    except (OSError, ValueError):
        return None
    return version_dir if recorded == source else None
