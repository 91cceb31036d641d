"""MTFL's five facial landmarks as a regression task (Zhang et al., ECCV 2014, TCDCN).

Each annotation record holds ``x1..x5, y1..y5`` in original-image pixels: left eye
centre, right eye centre, nose tip, left and right mouth corner (MTFL ``readme.txt``;
TCDCN §4). By default the loader's only geometric transform is a stretch of the whole
image to 150x150 (`mtl_tf.data.mtfl_images.decode_image`, no crop), so a point's
position in the model's input is ``(x / W, y / H)`` of the original ``W x H`` image,
whatever the size. The targets are those normalised coordinates centred on the image
centre, ``x / W - 0.5`` and ``y / H - 0.5`` in ``[-0.5, 0.5]``, laid out ``(x1..x5,
y1..y5)`` as in the file. With ``--mtfl_framing=test`` a training image is first cropped
to a square ``(x0, y0, side)`` (`mtl_tf.data.mtfl_framing`) and the position is ``((x -
x0) / side, (y - y0) / side)``, centred alike. Centring matters: a freshly initialised
linear head outputs ~0, which is then the image centre (NME ~0.4 here) instead of its
corner (measured: uncentred targets, 135 Adam steps at lr 1e-4, test NME 1.70, worse
than predicting the mean shape, 0.31).

NME (`mtl_tf.evaluation.metrics.landmark_nme`) divides the mean point error by the
distance between landmarks 0 and 1, the two eye *centres* (MTFL has no eye corners):
TCDCN's "inter-ocular distance". On a stretched non-square image (the 160x216
``net_7876/_*`` training images) distances in the normalised frame are those of the
150x150 input the model sees; the AFLW test images are square (150x150), so there the
NME equals the NME in original pixels.

The image size comes from the JPEG frame header (or PNG IHDR), read without decoding.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from mtl_tf.data.mtfl_annotations import MtflFormatError, MtflRecord
from mtl_tf.tasks import REGRESSION, TaskSpec

__all__ = ["LANDMARKS", "LANDMARK_SPEC", "image_size", "landmark_targets"]

LANDMARKS = "landmarks"
# 10 outputs (x1..x5, y1..y5); NME normalised by the eye centres, landmarks 0 and 1.
LANDMARK_SPEC = TaskSpec(LANDMARKS, REGRESSION, 10, loss="mse", landmark_eyes=(0, 1))

_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_HEAD_BYTES = 1 << 18


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    pos = 2
    while pos + 4 <= len(head):
        if head[pos] != 0xFF:
            return None
        marker = head[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in _JPEG_SOF and pos + 9 <= len(head):
            height = int.from_bytes(head[pos + 5:pos + 7], "big")
            width = int.from_bytes(head[pos + 7:pos + 9], "big")
            return (width, height) if width and height else None
        if marker == 0xDA:
            return None
        pos += 2 + int.from_bytes(head[pos + 2:pos + 4], "big")
    return None


def image_size(path: str) -> tuple[int, int]:
    """``(width, height)`` of a JPEG or PNG from its header; other formats are decoded.

    Raises:
      MtflFormatError: If no size can be read (the file was checked by `check_images`
        before, so this means it changed since).
    """
    with open(path, "rb") as f:
        head = f.read(_HEAD_BYTES)
    size = None
    if head.startswith(b"\xff\xd8"):
        size = _jpeg_size(head)
    elif head.startswith(b"\x89PNG") and len(head) >= 24:
        size = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if size is None:
        import tensorflow as tf

        try:
            shape = tf.io.decode_image(tf.io.read_file(path), channels=3).shape
        except (tf.errors.InvalidArgumentError, ValueError) as e:
            raise MtflFormatError(f"{path}: cannot read the image size ({e})") from None
        size = int(shape[1]), int(shape[0])
    return size


def landmark_targets(
    root: str, records: Sequence[MtflRecord], boxes: np.ndarray | None = None
) -> np.ndarray:
    """float32 ``[N, 10]`` landmark targets of the records: normalised by the image size
    and centred (module docstring).

    Args:
      root: The MTFL root the record paths are relative to.
      records: The records.
      boxes: int ``[N, 3]`` ``(x0, y0, side)`` square crop of each image
        (``--mtfl_framing=test``, `mtl_tf.data.mtfl_framing`), or None for the whole
        image. With a crop the point's position in the model's input is ``((x - x0) /
        side, (y - y0) / side)``, centred the same way.
    """
    out = np.empty((len(records), 10), dtype=np.float32)
    for i, record in enumerate(records):
        points = np.asarray(record.landmarks, dtype=np.float64)
        if boxes is not None:
            x0, y0, side = (float(v) for v in boxes[i])
            out[i, :5] = (points[:5] - x0) / side - 0.5
            out[i, 5:] = (points[5:] - y0) / side - 0.5
            continue
        width, height = image_size(os.path.join(root, record.path))
        out[i, :5] = points[:5] / width - 0.5
        out[i, 5:] = points[5:] / height - 0.5
    return out
