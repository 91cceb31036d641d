"""The rules of a run directory: its JSON files, who may write it, and what "the same run" is.

A run directory (`--output_dir`) holds `config.json`, `metrics.json`, checkpoints and
events (layout in `mtl_tf.training.run`). This module reads its JSON files with errors
that name the file, refuses to mix runs made with different settings, and locks the
directory while a process trains or re-scores in it, so that two processes never write
the same run at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import json
import os
import socket
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from mtl_tf.config import RunConfig, comparable_config

LOCK_FILE = ".lock"


class RunDirConflictError(ValueError):
    """The output directory holds a run made with different settings."""


class RunDirBusyError(OSError):
    """Another live process holds the run directory's lock."""


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


def config_dict(config: RunConfig) -> dict[str, Any]:
    """`config` as config.json holds it (JSON types only)."""
    d = dataclasses.asdict(config)
    if d.get("task_weights") is not None:
        d["task_weights"] = list(d["task_weights"])
    if d.get("etas") is not None:
        d["etas"] = list(d["etas"])
    return d


def check_output_dir_is_usable(run_dir: str) -> None:
    """Refuses an `--output_dir` that exists but is not a directory."""
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise ValueError(
            f"--output_dir {run_dir} is a file, not a directory; pass a folder path "
            "(it is created if missing)"
        )


def check_same_run(run_dir: str, config: RunConfig, resumable: Sequence[str]) -> None:
    """Refuses to mix runs: an existing config.json must match `config`.

    Args:
      run_dir: the run directory.
      config: the configuration about to run.
      resumable: fields a rerun may change and still continue the same run.

    Raises:
      RunDirConflictError: naming every differing field, old -> new.
      ValueError: `run_dir` is a file, or its config.json is damaged.
    """
    check_output_dir_is_usable(run_dir)
    path = os.path.join(run_dir, "config.json")
    if not os.path.exists(path):
        return
    previous = comparable_config(read_json(path, what="the run's configuration"))
    current = comparable_config(config_dict(config))
    diffs = sorted(
        k
        for k in set(previous) | set(current)
        if k not in resumable and previous.get(k) != current.get(k)
    )
    if diffs:
        detail = ", ".join(f"{k}: {previous.get(k)!r} -> {current.get(k)!r}" for k in diffs)
        raise RunDirConflictError(
            f"--output_dir {run_dir} holds a run with different settings ({detail}); "
            "choose another --output_dir or delete that directory"
        )


@contextlib.contextmanager
def locked(run_dir: str) -> Iterator[None]:
    """Holds `run_dir`'s lock for the duration of the block.

    An advisory `flock` on `<run_dir>/.lock`: the kernel releases it when the holding
    process ends in any way (including `kill -9`), so a stale lock never blocks a resume.
    The file records the holder (pid, host, command) for the refusal message.

    Raises:
      RunDirBusyError: another live process holds the lock.
    """
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, LOCK_FILE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "unknown"
            raise RunDirBusyError(
                f"--output_dir {run_dir} is in use by another process ({holder}); wait for "
                "it to finish or stop it, or choose another --output_dir"
            ) from None
        command = " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]]) if sys.argv else ""
        owner = f"pid {os.getpid()} on {socket.gethostname()}: {command}"
        os.ftruncate(fd, 0)
        os.pwrite(fd, owner.encode("utf-8")[:4000] + b"\n", 0)
        yield
    finally:
        # Closing the descriptor releases the lock.
        os.close(fd)
