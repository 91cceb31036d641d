"""Two-item overlay images: MultiMNIST, MultiFashion and Multi-(Fashion+MNIST).

Construction (Pareto MTL §6.1, Lin et al. 2019, following Sabour et al. 2017 and the
reference generators used by later MTL papers): each example is a ``36 x 36`` canvas
holding two ``28 x 28`` items.

* The item from source *a* goes in the **top-left** corner, at row and column offsets
  drawn independently and uniformly from ``0..max_shift``.
* The item from source *b* goes in the **bottom-right** corner, at offsets
  ``canvas_size - 28 - s`` with ``s`` uniform in ``0..max_shift`` (``4..8`` for the
  default 36-pixel canvas and shift 4).
* Where the two items overlap, the canvas takes the pixel-wise **maximum**. Unlike a
  sum this keeps every value in ``0..255`` without clipping artefacts, and unlike an
  average neither item is dimmed: each stroke keeps its original intensity, as in
  the images the papers show.

The two labels are (top-left class, bottom-right class). For MultiMNIST and
MultiFashion both items come from the same source and must have different classes, so
the two tasks are never trivially identical.

Everything is vectorised numpy: the pairs are placed with broadcasted fancy-index
scatters (processed in fixed-size chunks to bound memory), and only the rare
same-class collisions are redrawn in a short loop.
"""

from __future__ import annotations

import numpy as np

__all__ = ["make_multi_pairs", "pair_nbytes"]

_ITEM = 28
# Pairs per scatter chunk: big enough to amortise numpy overhead, small enough that the
# temporaries (a few MB) stay in cache-friendly territory.
_CHUNK = 16384
# Redraw rounds for same-class collisions. Each round removes ~90% of the remaining
# collisions for 10 balanced classes, so 1000 rounds only run out if the constraint
# cannot be satisfied in practice.
_MAX_REDRAWS = 1000


def pair_nbytes(canvas_size: int = 36) -> int:
    """Bytes of one generated pair as :func:`make_multi_pairs` returns it.

    A uint8 ``canvas_size x canvas_size`` image plus two int32 labels: 1,304 bytes for
    the default 36-pixel canvas. The generator's own temporaries (indices and offsets,
    48 bytes a pair) are freed when it returns.
    """
    return canvas_size * canvas_size + 2 * np.dtype(np.int32).itemsize


def _check_source(images: np.ndarray, labels: np.ndarray, which: str) -> None:
    if images.ndim != 3 or images.shape[1:] != (_ITEM, _ITEM):
        raise ValueError(
            f"images_{which} must have shape [N, {_ITEM}, {_ITEM}], got {images.shape}"
        )
    if images.dtype != np.uint8:
        raise ValueError(f"images_{which} must be uint8, got {images.dtype}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(
            f"labels_{which} must have shape [{images.shape[0]}] to match images_{which} "
            f"{images.shape}, got {labels.shape}"
        )
    if images.shape[0] == 0:
        # load_dataset names the empty file before it gets here; this is for direct calls.
        raise ValueError(f"images_{which} is empty: there are no items to place")


def make_multi_pairs(
    images_a: np.ndarray,
    labels_a: np.ndarray,
    images_b: np.ndarray,
    labels_b: np.ndarray,
    num_pairs: int,
    seed: int,
    *,
    require_different_classes: bool,
    canvas_size: int = 36,
    max_shift: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """Builds overlay images of two items, one per corner (Pareto MTL §6.1).

    Items are drawn uniformly with replacement from each source. Source *a* fills the
    top-left corner and source *b* the bottom-right; see the module docstring for the
    exact offsets and the max-merge of overlapping pixels.

    Args:
      images_a: uint8 ``[Na, 28, 28]`` items for the top-left corner.
      labels_a: Integer ``[Na]`` labels of ``images_a``.
      images_b: uint8 ``[Nb, 28, 28]`` items for the bottom-right corner.
      labels_b: Integer ``[Nb]`` labels of ``images_b``.
      num_pairs: Number of images to generate.
      seed: Seed for ``np.random.default_rng``; the output is a pure function of the
        inputs and the seed.
      require_different_classes: If true, the two items of each image have different
        labels (used when both corners share a label space: MultiMNIST, MultiFashion).
      canvas_size: Side of the square output canvas.
      max_shift: Largest random offset from the item's corner; must be at most
        ``canvas_size - 28`` so both items fit.

    Returns:
      ``(images, labels)``: uint8 ``[num_pairs, canvas_size, canvas_size]`` and int32
      ``[num_pairs, 2]`` holding (top-left class, bottom-right class).

    Raises:
      ValueError: On malformed inputs, or if different classes are required but the
        sources cannot provide them.
    """
    images_a, images_b = np.asarray(images_a), np.asarray(images_b)
    labels_a, labels_b = np.asarray(labels_a), np.asarray(labels_b)
    _check_source(images_a, labels_a, "a")
    _check_source(images_b, labels_b, "b")
    if num_pairs < 0:
        raise ValueError(f"num_pairs must be >= 0, got {num_pairs}")
    if canvas_size < _ITEM:
        raise ValueError(f"canvas_size must be >= {_ITEM}, got {canvas_size}")
    if not 0 <= max_shift <= canvas_size - _ITEM:
        raise ValueError(
            f"max_shift must be in 0..{canvas_size - _ITEM} for canvas_size {canvas_size} "
            f"(so a shifted {_ITEM}x{_ITEM} item stays inside), got {max_shift}"
        )

    rng = np.random.default_rng(seed)
    idx_a = rng.integers(0, images_a.shape[0], size=num_pairs)
    idx_b = rng.integers(0, images_b.shape[0], size=num_pairs)
    if require_different_classes:
        if np.unique(labels_b).size < 2 and np.isin(labels_b[0], labels_a[idx_a]):
            raise ValueError(
                "require_different_classes needs at least two classes in labels_b, "
                f"got only class {labels_b[0]}"
            )
        clash = np.flatnonzero(labels_a[idx_a] == labels_b[idx_b])
        for _ in range(_MAX_REDRAWS):
            if clash.size == 0:
                break
            # Redraw only the clashing second items; clash shrinks geometrically.
            idx_b[clash] = rng.integers(0, images_b.shape[0], size=clash.size)
            clash = clash[labels_a[idx_a[clash]] == labels_b[idx_b[clash]]]
        else:
            raise ValueError(
                f"could not find different-class partners for {clash.size} pairs after "
                f"{_MAX_REDRAWS} redraws; the label distribution is too skewed"
            )

    # Offsets of each item's top-left pixel on the canvas.
    row_a, col_a = rng.integers(0, max_shift + 1, size=(2, num_pairs))
    far = canvas_size - _ITEM
    row_b, col_b = far - rng.integers(0, max_shift + 1, size=(2, num_pairs))

    canvas = np.zeros((num_pairs, canvas_size, canvas_size), dtype=np.uint8)
    grid = np.arange(_ITEM)
    for start in range(0, num_pairs, _CHUNK):
        sl = slice(start, min(start + _CHUNK, num_pairs))
        out = canvas[sl]  # a view: writes land in canvas
        pair = np.arange(out.shape[0])[:, None, None]
        # Broadcasted [n, 28, 28] index grids. Within one pair every target pixel is
        # distinct, so a plain fancy-index assignment is an exact scatter (no need for
        # the slower unbuffered np.maximum.at).
        rows = row_a[sl, None, None] + grid[None, :, None]
        cols = col_a[sl, None, None] + grid[None, None, :]
        out[pair, rows, cols] = images_a[idx_a[sl]]
        rows = row_b[sl, None, None] + grid[None, :, None]
        cols = col_b[sl, None, None] + grid[None, None, :]
        out[pair, rows, cols] = np.maximum(out[pair, rows, cols], images_b[idx_b[sl]])

    labels = np.stack([labels_a[idx_a], labels_b[idx_b]], axis=1).astype(np.int32)
    return canvas, labels
