"""Whether generated pairs fit in this machine's memory, checked before any is generated."""

from __future__ import annotations

import os

from absl import logging

from mtl_tf.data.multi_mnist import pair_nbytes

__all__ = ["check_pair_memory", "memory_limit"]

_CANVAS = 36
# Copies of a split's generated pairs a run holds at once: the numpy arrays, the tensor
# tf.data.Dataset.from_tensor_slices makes of them and its in-memory cache(), plus, for
# the training pairs, the shuffle buffer (the whole split). This is a lower bound (400k
# training pairs, 494 MB of images, raised the peak RSS by 2.2 GB, 4.5x, in the first
# epoch), so a size it refuses certainly cannot run.
_COPIES = {"train_size": 4, "val_size": 3, "test_size": 3}


def _format_bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _read_int(path: str) -> int | None:
    """The integer in a one-line kernel file, or None (missing, or "max")."""
    try:
        with open(path, encoding="ascii") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def memory_limit() -> tuple[int, str]:
    """The most memory this process can ever have, and where that bound comes from.

    Physical memory (``os.sysconf``), or the container's cgroup memory limit when that
    is lower: in a container, sysconf reports the host's memory.

    Returns:
      ``(bytes, description)``, e.g. ``(25275924480, "physical memory")``.
    """
    limit, where = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "physical memory"
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        cgroup = _read_int(path)  # v2, then v1; "max" / absent mean no limit
        if cgroup is not None and 0 < cgroup < limit:
            limit, where = cgroup, "the cgroup memory limit"
    return limit, where


def _available_memory() -> int | None:
    """MemAvailable from /proc/meminfo (free + reclaimable cache), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_pair_memory(
    train_size: int, test_size: int, val_size: int = 0, *, limit: tuple[int, str] | None = None
) -> int:
    """Refuses sizes whose generated pairs cannot fit in memory, before allocating any.

    Args:
      train_size: Training pairs asked for (``--train_size``).
      test_size: Test pairs (``--test_size``).
      val_size: Validation pairs (``--val_size``).
      limit: ``(bytes, description)`` to check against; default :func:`memory_limit`.

    Returns:
      The estimated bytes the pairs need (see ``_COPIES``).

    Raises:
      ValueError: Naming the flag that asks for the most, its value, the memory the
        sizes need, the memory the machine has and the largest value that would fit.
    """
    sizes = {"train_size": train_size, "val_size": val_size, "test_size": test_size}
    per_pair = pair_nbytes(_CANVAS)
    needs = {flag: n * per_pair * _COPIES[flag] for flag, n in sizes.items()}
    total = sum(needs.values())
    limit_bytes, where = limit if limit is not None else memory_limit()
    if total > limit_bytes:
        # Blame the size that asks for the most, and say how far it could go with the
        # other sizes unchanged.
        flag = max(needs, key=needs.get)
        fits = (limit_bytes - (total - needs[flag])) // (per_pair * _COPIES[flag])
        others = " ".join(f"--{f}={n}" for f, n in sizes.items() if f != flag and n)
        fix = (f"use --{flag}={fits} or less" + (f" (with {others})" if others else "")
               if fits >= 1 else "reduce --train_size, --test_size and --val_size")
        raise ValueError(
            f"--{flag}={sizes[flag]} is too large: the generated pairs need at least "
            f"{_format_bytes(total)} of memory ({per_pair:,} bytes per {_CANVAS}x{_CANVAS} "
            "pair, held 3-4 times: the arrays, the tf.data tensor, its cache and the "
            f"training shuffle buffer) but this machine has {_format_bytes(limit_bytes)} "
            f"({where}); {fix}"
        )
    available = _available_memory() if limit is None else None
    if available is not None and total > available:
        logging.warning(
            "The generated pairs need at least %s of memory but only %s is available now; "
            "the run may be slow or killed. Smaller --train_size / --test_size avoid that.",
            _format_bytes(total), _format_bytes(available),
        )
    return total
