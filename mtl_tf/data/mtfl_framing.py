"""MTFL training faces framed like its test faces (``--mtfl_framing=test``, issue #18).

MTFL's test images (``AFLW/``, 150x150) are face crops; its training images are framed
much wider (measured on the release's annotations: eye-centre distance over image side
0.296 on AFLW, 0.166 on ``lfw_5590/`` 250x250, 0.236 on ``net_7876/`` 400x400, 0.189 of
the width on ``net_7876/_*.jpg`` 160x216). Resizing every whole image to the same square
(the papers' protocol, ``--mtfl_framing=none``) makes training faces 1.3-1.8x smaller
than test faces.

With ``test``, every training (and validation) image is cropped, before the resize, to
a square that frames its face like the test images. Images are grouped by ``(top
folder, width, height)``, which separates the three kinds above; for each group the
training sample's annotations give the mean face centre ``(cx, cy)`` (mean of the 5
landmarks) and mean eye-centre distance ``d`` (landmarks 0 and 1), and the group's crop
is the square of side ``s = d / TEST_EYE_DISTANCE_OVER_SIDE`` centred at ``(cx, cy)``,
shrunk if needed to fit the image and shifted inside it. A group's box is one constant
for all its images: an image's own landmarks never place its crop (that would leak the
answer into the input). Test images are never cropped: they are already face crops, and
a crop computed from test labels would leak.

Landmark targets follow the crop: a point's position in the model's input is ``((x -
x0) / s, (y - y0) / s)`` instead of ``(x / W, y / H)`` (`mtl_tf.data.mtfl_landmarks`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import numpy as np

from mtl_tf.choices import MTFL_FRAMINGS
from mtl_tf.data.mtfl_annotations import MtflRecord
from mtl_tf.data.mtfl_landmarks import image_size

__all__ = [
    "MTFL_FRAMINGS",
    "TEST_EYE_DISTANCE_OVER_SIDE",
    "CropBox",
    "FramingGroup",
    "crop_boxes",
    "framing_groups",
    "group_key",
]

# A property of MTFL's test crops, not a tuning knob: the mean eye-centre distance of
# the AFLW/ test images (150x150) over their side, measured on the release's
# testing.txt (2,995 records). Their face centre is at (0.50, 0.49) of the image, so a
# square centred on the face matches their framing.
TEST_EYE_DISTANCE_OVER_SIDE = 0.296


@dataclasses.dataclass(frozen=True)
class CropBox:
    """An integer square crop: left column ``x0``, top row ``y0``, ``side`` pixels."""

    x0: int
    y0: int
    side: int


@dataclasses.dataclass(frozen=True)
class FramingGroup:
    """One image group's statistics and crop.

    Attributes:
      folder: Top folder of the group's image paths (``lfw_5590``, ``net_7876``).
      width: Image width in pixels.
      height: Image height in pixels.
      images: Training records the statistics come from.
      centre: Mean face centre ``(cx, cy)`` in pixels (mean of the 5 landmarks).
      eye_distance: Mean distance between landmarks 0 and 1 (the eye centres), pixels.
      box: The group's crop.
    """

    folder: str
    width: int
    height: int
    images: int
    centre: tuple[float, float]
    eye_distance: float
    box: CropBox

    @property
    def key(self) -> tuple[str, int, int]:
        return self.folder, self.width, self.height

    def to_json(self) -> dict:
        """The group as metrics.json records it (``data_framing.groups``)."""
        return {"folder": self.folder, "width": self.width, "height": self.height,
                "images": self.images, "centre": [round(c, 3) for c in self.centre],
                "eye_distance": round(self.eye_distance, 3),
                "box": {"x0": self.box.x0, "y0": self.box.y0, "side": self.box.side}}

    def describe(self) -> str:
        """One log line."""
        b = self.box
        return (f"mtfl framing: {self.folder} {self.width}x{self.height} ({self.images} "
                f"training images): centre ({self.centre[0]:.1f}, {self.centre[1]:.1f}), eye "
                f"distance {self.eye_distance:.1f} px -> crop x0={b.x0} y0={b.y0} "
                f"side={b.side}")


def group_key(path: str, width: int, height: int) -> tuple[str, int, int]:
    """``(top folder, width, height)`` of an image (path relative to the MTFL root)."""
    folder = path.replace("\\", "/").split("/", 1)[0]
    return folder, int(width), int(height)


def _square_box(cx: float, cy: float, eye_distance: float, width: int, height: int) -> CropBox:
    """The square of side ``eye_distance / TEST_EYE_DISTANCE_OVER_SIDE`` centred at
    ``(cx, cy)``, in whole pixels: shrunk to the image's shorter side if larger, then
    shifted (not shrunk further) so that it lies inside the image; still square."""
    side = int(round(eye_distance / TEST_EYE_DISTANCE_OVER_SIDE))
    side = max(1, min(side, width, height))
    x0 = int(round(cx - side / 2.0))
    y0 = int(round(cy - side / 2.0))
    return CropBox(min(max(x0, 0), width - side), min(max(y0, 0), height - side), side)


def framing_groups(
    records: Sequence[MtflRecord], sizes: Sequence[tuple[int, int]]
) -> tuple[FramingGroup, ...]:
    """The crop of every image group, from the given (training) records only.

    Args:
      records: The training sample's records; only their landmarks and paths are read.
      sizes: ``(width, height)`` of each record's image.

    Returns:
      One group per ``(top folder, width, height)``, sorted by key.
    """
    members: dict[tuple[str, int, int], list[np.ndarray]] = {}
    for record, (width, height) in zip(records, sizes, strict=True):
        members.setdefault(group_key(record.path, width, height), []).append(
            np.asarray(record.landmarks, dtype=np.float64))
    groups = []
    for (folder, width, height), points in sorted(members.items()):
        p = np.stack(points)  # [n, 10]: x1..x5, y1..y5
        cx, cy = float(p[:, :5].mean()), float(p[:, 5:].mean())
        eye = float(np.hypot(p[:, 0] - p[:, 1], p[:, 5] - p[:, 6]).mean())
        groups.append(FramingGroup(folder, width, height, len(points), (cx, cy), eye,
                                   _square_box(cx, cy, eye, width, height)))
    return tuple(groups)


def image_sizes(root: str, records: Sequence[MtflRecord]) -> list[tuple[int, int]]:
    """``(width, height)`` of each record's image, from its header."""
    return [image_size(os.path.join(root, r.path)) for r in records]


def crop_boxes(
    records: Sequence[MtflRecord],
    sizes: Sequence[tuple[int, int]],
    groups: Sequence[FramingGroup],
) -> np.ndarray:
    """int32 ``[N, 3]`` ``(x0, y0, side)`` of each record: its group's box.

    Raises:
      ValueError: A record whose group has no training image (a validation image of a
        size no training image has), naming it.
    """
    by_key = {g.key: g.box for g in groups}
    out = np.empty((len(records), 3), dtype=np.int32)
    for i, (record, (width, height)) in enumerate(zip(records, sizes, strict=True)):
        box = by_key.get(group_key(record.path, width, height))
        if box is None:
            raise ValueError(
                f"--mtfl_framing=test: image {record.path} ({width}x{height}) is of a kind "
                "no training image has, so no crop is known for it; use a larger "
                "--train_size or --mtfl_framing=none")
        out[i] = (box.x0, box.y0, box.side)
    return out
