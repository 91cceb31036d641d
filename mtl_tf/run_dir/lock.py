"""A run directory's lock: one process writes a run at a time."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import sys
from collections.abc import Iterator

LOCK_FILE = ".lock"


class RunDirBusyError(OSError):
    """Another live process holds the run directory's lock."""


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
