"""Crash-safe file output that follows the user's umask.

Every file mtl_tf writes (metrics, flagfiles, reports) goes through these helpers: the
content is written to a temporary name in the destination directory and then renamed
over the final name. `os.replace` is atomic on POSIX within one file system, so a reader
(or a crashed run restarted later) sees either the old file or the complete new one,
never a truncated file.

Permissions: `tempfile.mkstemp` / `mkdtemp` create private files (0600) and folders
(0700) whatever the umask, and a rename keeps those modes. Files mtl_tf publishes must be
readable like any other file the user creates (0644 / 0755 under umask 022), for
example by a TensorFlow Serving process running as another user, so the temporaries
get ``0o666 & ~umask`` / ``0o777 & ~umask`` explicitly (`umask_mode`).
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "current_umask",
    "make_temp_dir",
    "umask_mode",
]


def current_umask() -> int:
    """The process umask, read without changing it where possible.

    Python 3.11 has no ``os.getumask``. ``/proc/self/status`` (Linux >= 4.7) reports it
    read-only. Elsewhere the umask must be set to read it and then restored; during that
    short window another thread could create a file, so the temporary value is the
    restrictive 0o077 (such a file would be too private, never world-writable).

    Returns:
      The umask, e.g. ``0o022``.
    """
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def umask_mode(*, directory: bool) -> int:
    """The mode a new file (0o666) or directory (0o777) gets under the current umask."""
    return (0o777 if directory else 0o666) & ~current_umask()


def make_temp_dir(directory: str | os.PathLike, prefix: str) -> str:
    """`tempfile.mkdtemp` in `directory`, with the mode an ordinary `mkdir` would give.

    Use it for a directory that is renamed into place and published (an export
    version): mkdtemp's 0700 would survive the rename and lock other users out.
    """
    path = tempfile.mkdtemp(prefix=prefix, dir=directory)
    try:
        os.chmod(path, umask_mode(directory=True))
    except BaseException:
        os.rmdir(path)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Writes `data` to `path` atomically (temporary file + rename).

    The file gets the mode a plain ``open(path, "wb")`` would give it (0o666 minus the
    umask), not mkstemp's 0600.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix="-" + os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), umask_mode(directory=False))
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        # Leave nothing half-written behind, whatever interrupted us.
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Writes UTF-8 `text` to `path` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Writes `obj` as indented JSON to `path` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str, *, what: str = "file") -> dict[str, Any]:
    """Reads a JSON object from `path`, with errors that name the file and the fix.

    Args:
      path: the file.
      what: what the file is, for the message (e.g. "run configuration").

    Raises:
      ValueError: the file is not valid JSON or does not hold a JSON object.
      OSError: the file cannot be read.
    """
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(
            f"{path} ({what}) is not valid JSON ({e.msg} at line {e.lineno}, column "
            f"{e.colno}): it was damaged or not written by mtl_tf; restore it, or delete "
            f"{os.path.dirname(path) or '.'} and run again"
        ) from None
    if not isinstance(value, dict):
        raise ValueError(
            f"{path} ({what}) holds a JSON {type(value).__name__}, not an object: it was "
            f"not written by mtl_tf; delete {os.path.dirname(path) or '.'} and run again"
        )
    return value
