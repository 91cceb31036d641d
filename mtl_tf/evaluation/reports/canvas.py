"""What every report figure shares: a headless matplotlib figure, atomic PNGs, styles.

Styles belong to the method, not to the figure: a method's colour and marker come from its
position in `mtl_tf.methods.known_methods` (report order), so GS is the same green in
every report whichever other methods it is compared with. Free-form labels (seed studies,
tests) take fallback colours and markers that no known method uses, in the order they
appear in the figure.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from typing import Any

from mtl_tf.evaluation.reports import columns as cols
from mtl_tf.evaluation.reports.columns import Column
from mtl_tf.io_utils import atomic_write_bytes

__all__ = [
    "FALLBACK_COLOURS",
    "FALLBACK_MARKERS",
    "MARKERS",
    "METHOD_COLOURS",
    "add_caption",
    "column_style",
    "legend_outside",
    "method_colour",
    "method_marker",
    "new_figure",
    "save_png",
    "shade",
]

# One per known method, by position in `known_methods()` (STL, STVIB, GS, UWL, MTVIB,
# GradNorm, MGDA, Pareto MTL). tab10 without its grey: grey reads as "disabled", and
# Pareto MTL was grey before, its five preferences indistinguishable from the grid.
METHOD_COLOURS: tuple[str, ...] = (
    "#1f77b4",  # STL: blue
    "#ff7f0e",  # STVIB: orange
    "#2ca02c",  # GS: green
    "#d62728",  # UWL: red
    "#9467bd",  # MTVIB: purple
    "#8c564b",  # GradNorm: brown
    "#e377c2",  # MGDA: pink
    "#17becf",  # Pareto MTL: cyan (its preferences: light to dark teal)
)
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "h")
# Free-form labels: colours and markers no known method has, so a label never passes
# for a method.
FALLBACK_COLOURS: tuple[str, ...] = ("#7f7f7f", "#bcbd22", "#393b79", "#637939", "#843c39")
FALLBACK_MARKERS: tuple[str, ...] = ("<", ">", "d", "8", "p")


def new_figure(width: float, height: float):
    """A matplotlib Figure of `width` x `height` inches, constrained layout.

    A bare Figure (no pyplot): no global state and no GUI backend, safe in threads and on
    headless machines.
    """
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save_png(fig, path: str) -> bytes:
    """Renders `fig` to PNG (120 dpi), writes it atomically and returns the bytes.

    ``bbox_inches="tight"`` so that legends placed beside the axes and captions below
    them are inside the image rather than cut off at the figure's edge.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight", pad_inches=0.1)
    data = buffer.getvalue()
    atomic_write_bytes(path, data)
    return data


def _position(method: str, methods: Sequence[str] = ()) -> tuple[bool, int]:
    # (known, index): the index in report order for a known method, else among the
    # figure's free-form labels (so that two labels of one figure differ).
    order = cols.method_order()
    if method in order:
        return True, order.index(method)
    others = [m for m in methods if m not in order]
    return False, others.index(method) if method in others else 0


def method_colour(method: str, methods: Sequence[str] = ()):
    """The colour of `method`, the same in every figure of every report.

    Args:
      method: a method key; a known method's colour is fixed by its report position.
      methods: the figure's methods (only to tell its free-form labels apart).

    Returns:
      A matplotlib colour (hex string).
    """
    known, index = _position(method, methods)
    palette = METHOD_COLOURS if known else FALLBACK_COLOURS
    return palette[index % len(palette)]


def method_marker(method: str, methods: Sequence[str] = ()) -> str:
    """The marker of `method`, fixed like its colour (`method_colour`)."""
    known, index = _position(method, methods)
    markers = MARKERS if known else FALLBACK_MARKERS
    return markers[index % len(markers)]


def shade(colour, k: int, n: int):
    """The `k`-th of `n` shades of `colour`, light (k = 0) to dark (k = n - 1).

    A sequential ramp within one method's colour family: Pareto MTL's preference models
    stay recognisably Pareto MTL while their order reads off the lightness.
    """
    import numpy as np
    from matplotlib.colors import to_rgb

    rgb = np.array(to_rgb(colour))
    t = 0.5 if n <= 1 else k / (n - 1)
    # From 45 % white mixed in (still visible on white) to 45 % black mixed in.
    lightness = 0.45 - 0.9 * t
    mixed = rgb + (1 - rgb) * lightness if lightness > 0 else rgb * (1 + lightness)
    return tuple(float(c) for c in mixed)


def column_style(column: Column, methods: Sequence[str], siblings: int = 1) -> dict[str, Any]:
    """Line keywords of one column: its method's colour and marker.

    A method with several columns (Pareto MTL's preference models) gets shades of its
    colour, light to dark in preference order, and thinner lines. Single-task methods
    (STL, STVIB) are dashed: they are the reference the multi-task methods are read
    against.

    Args:
      column: the line's column.
      methods: every method of the figure, in report order.
      siblings: how many columns the figure draws for ``column.method``.
    """
    colour = method_colour(column.method, methods)
    if siblings > 1:
        colour = shade(colour, column.index, siblings)
    return {
        "color": colour,
        "marker": method_marker(column.method, methods),
        "markersize": 4.5 if siblings > 1 else 5.5,
        "linewidth": 1.2 if siblings > 1 else 1.8,
        "linestyle": "--" if cols.is_single_task(column.method) else "-",
    }


def legend_outside(target, handles=None, labels=None, *, title: str | None = None):
    """A legend to the right of `target` (an Axes, or a Figure: beside every panel), never
    over the data.

    Returns:
      The Legend.
    """
    from matplotlib.figure import Figure

    kwargs: dict[str, Any] = {"fontsize": "small", "frameon": False, "title": title,
                              "title_fontsize": "small"}
    if handles is not None:
        kwargs.update(handles=handles, labels=labels)
    if isinstance(target, Figure):
        # "outside": constrained layout shrinks the panels to make room.
        return target.legend(loc="outside right upper", **kwargs)
    return target.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
                         **kwargs)


def add_caption(fig, lines: Sequence[str], *, width_chars: int | None = None) -> None:
    """Writes `lines` under the figure, each wrapped to the figure's width.

    The caption is a figure text below the axes (y < 0, taken in by `save_png`'s tight
    bounding box), ``gid="caption"`` so that tests can find it.
    """
    if not lines:
        return
    width = width_chars or max(40, int(fig.get_figwidth() * 15))
    text = "\n".join(textwrap.fill(line, width) for line in lines)
    fig.text(0.0, -0.01, text, ha="left", va="top", fontsize="small", color="0.25",
             gid="caption")
