"""What every report figure shares: a headless matplotlib figure, atomic PNGs, styles."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from mtl_tf.evaluation.reports.columns import Column
from mtl_tf.io_utils import atomic_write_bytes

__all__ = ["MARKERS", "column_style", "method_colour", "new_figure", "save_png"]

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def new_figure(width: float, height: float):
    """A matplotlib Figure of `width` x `height` inches, constrained layout.

    A bare Figure (no pyplot): no global state and no GUI backend, safe in threads and on
    headless machines.
    """
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save_png(fig, path: str) -> bytes:
    """Renders `fig` to PNG (120 dpi), writes it atomically and returns the bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    data = buffer.getvalue()
    atomic_write_bytes(path, data)
    return data


def method_colour(index: int):
    """The colour of the `index`-th method (tab10, cycling)."""
    from matplotlib import colormaps

    return colormaps["tab10"](index % 10)


def column_style(column: Column, methods: Sequence[str]) -> dict[str, Any]:
    """Line keywords: one colour per method; a method's several models differ by marker and
    line style.

    Args:
      column: the line's column.
      methods: every method of the figure, in report order (its colours).
    """
    position = methods.index(column.method)
    return {
        "color": method_colour(position),
        "marker": MARKERS[(position + column.index) % len(MARKERS)],
        "linestyle": ("-", "--", ":", "-.")[column.index % 4],
    }
