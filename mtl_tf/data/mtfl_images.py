"""MTFL images: the quick structure check of every sampled image, and their decoding.

Images: every image is decoded with ``decode_jpeg(channels=3)``, which expands the few
grayscale JPEGs to three identical channels, then resized to 150x150 with
``tf.image.resize(method="bilinear", antialias=True)`` (antialiasing matters for the
400x400 ``net_7876`` images, which are shrunk by more than 2x). The resize stretches the
non-square 160x216 ``net_7876/_*.jpg`` images instead of cropping them: the paper gives
no crop, and the faces fill those images.

:func:`check_images` looks at the JPEG / PNG structure of each file (no decoding) and
decodes with TensorFlow, as the pipeline will (:func:`decode_image`), only a file it
doubts, so that a broken copy fails at load naming the annotation line and the image.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence

from mtl_tf.data.mtfl_annotations import MtflFormatError, MtflRecord

__all__ = ["IMAGE_SIZE", "check_images", "decode_image"]

# MTVIB §VI-A: "images in the MTFL data set are with the resolution size of 150x150".
IMAGE_SIZE = 150

# Image signatures the quick check knows (the decoder also reads GIF, BMP, WebP: a file
# with another signature is judged by decoding it, see _image_problem).
_JPEG_SOI = b"\xff\xd8\xff"
_JPEG_EOI = b"\xff\xd9"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
# JPEG start-of-frame markers (C4 DHT, C8 JPG and CC DAC are not frames).
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Header bytes read per image: the headers (EXIF included) are far smaller.
_HEAD_BYTES = 1 << 20


def _jpeg_problem(head: bytes, tail: bytes) -> str | None:
    """What looks wrong with a JPEG's structure, or None.

    Walks the marker segments of ``head`` up to the first scan (SOS), checking there is
    a frame header (SOF) with a non-zero size before it, and that the file ends with the
    end-of-image marker. It cannot see damage inside the compressed data.
    """
    pos, frame = 2, False
    while True:
        if pos + 4 > len(head):
            return "is a truncated JPEG (its header ends early)"
        if head[pos] != 0xFF:
            return f"is not a valid JPEG (no marker at byte {pos})"
        marker = head[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        if marker == 0xD9:
            return "is not a valid JPEG (it ends before any image data)"
        length = int.from_bytes(head[pos + 2:pos + 4], "big")
        if length < 2:
            return f"is not a valid JPEG (segment length {length} at byte {pos})"
        if marker in _JPEG_SOF:
            if pos + 10 > len(head):
                return "is a truncated JPEG (its header ends early)"
            height = int.from_bytes(head[pos + 5:pos + 7], "big")
            width = int.from_bytes(head[pos + 7:pos + 9], "big")
            if not height or not width:
                return f"is not a valid JPEG (frame size {width}x{height})"
            frame = True
        elif marker == 0xDA:
            if not frame:
                return "is not a valid JPEG (image data before the frame header)"
            break
        pos += 2 + length
    if not tail.endswith(_JPEG_EOI):
        return "is a truncated JPEG (no end-of-image marker)"
    return None


def _structure_problem(head: bytes, tail: bytes) -> str | None:
    """What looks wrong with an image file's bytes (first ``_HEAD_BYTES``, last 16)."""
    if head.startswith(_JPEG_SOI):
        return _jpeg_problem(head, tail)
    if head.startswith(_PNG_SIGNATURE):
        if len(head) < 24 or head[12:16] != b"IHDR":
            return "is not a valid PNG (no IHDR header)"
        width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        if not width or not height:
            return f"is not a valid PNG (size {width}x{height})"
        if not tail.endswith(_PNG_IEND):
            return "is a truncated PNG (no IEND chunk)"
        return None
    return f"is not a JPEG or PNG image (it starts with {head[:8].hex(' ')})"


def _decode_error(path: str) -> str | None:
    """Decodes one image as the pipeline does; its error's first line, or None."""
    import tensorflow as tf

    try:
        decode_image(tf.constant(path))
    except (tf.errors.OpError, ValueError) as e:
        lines = getattr(e, "message", str(e)).strip().splitlines() or [type(e).__name__]
        # Drop the eager wrapper's "{{function_node ...}} " and " [Op:DecodeJpeg]".
        text = re.sub(r"^\{\{[^}]*\}\}\s*|\s*\[Op:\w+\].*$", "", lines[0]) or lines[0]
        return text.rstrip(".")
    return None


def _image_problem(path: str) -> str | None:
    """Why ``path`` cannot be used as an image, or None if it can.

    A quick look first (a regular, non-empty file with a complete JPEG or PNG
    structure: ~0.1 s for 10,000 MTFL images). It only filters: a file it doubts is
    decoded with TensorFlow exactly as the pipeline will, and only a decode failure
    makes it unusable (a JPEG with bytes after its end marker decodes fine).
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "does not exist"
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    if stat.S_ISDIR(info.st_mode):
        return "is a directory, not an image file"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if info.st_size == 0:
        return "is empty (0 bytes)"
    try:
        with open(path, "rb") as f:
            head = f.read(_HEAD_BYTES)
            f.seek(max(info.st_size - 16, 0))
            tail = f.read()
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    problem = _structure_problem(head, tail)
    if problem is None:
        return None
    error = _decode_error(path)
    return None if error is None else f"{problem}; TensorFlow cannot decode it: {error}"


def check_images(
    root: str | os.PathLike,
    records: Sequence[MtflRecord],
    annotation_file: str | os.PathLike,
) -> None:
    """Checks that every record's image is a usable image, before anything is built.

    Each image must exist, be a regular non-empty file and either have a complete JPEG
    or PNG structure or decode with TensorFlow (see `_image_problem`); costs ~0.1 s for
    the 10,000 images of the default sample once they are in the page cache. Without it
    a bad image surfaces as ``jpeg::Uncompress failed`` from inside the pipeline, naming
    no file, during training (or after it, for a test image).

    Args:
      root: The MTFL root the record paths are relative to.
      records: The records to check, in the order to report them.
      annotation_file: The file the records came from, for the message.

    Raises:
      FileNotFoundError: If the first unusable image is missing.
      MtflFormatError: If it is a directory, empty, unreadable or not a decodable image.
      Either names the annotation file and line, the image path, what is wrong with it
      and how many other images look unusable.
    """
    root = os.fspath(root)
    first: tuple[MtflRecord, str] | None = None
    others = 0
    for record in records:
        path = os.path.join(root, record.path)
        if first is None:
            problem = _image_problem(path)
            if problem is not None:
                first = (record, problem)
        elif not os.path.isfile(path) or os.path.getsize(path) == 0:
            # Counting the rest cheaply; the first one is what the message is about.
            others += 1
    if first is None:
        return
    record, problem = first
    more = f" ({others} more missing, empty or not files)" if others else ""
    where = f"{os.fspath(annotation_file)}:{record.line}: image {os.path.join(root, record.path)}"
    if problem == "does not exist":
        raise FileNotFoundError(
            f"{where} does not exist{more}; is --data_dir a complete MTFL copy?"
        )
    raise MtflFormatError(
        f"{where} {problem}{more}; replace it with a good copy of the image (is --data_dir "
        "a complete MTFL copy?)"
    )


def decode_image(path, size: int = IMAGE_SIZE, box=None):
    """Reads and decodes one image to uint8 ``[size, size, 3]`` (default 150, MTVIB's):
    the pipeline's map, and what `check_images` uses to judge a doubtful file.

    ``decode_jpeg`` reads PNG (and GIF, BMP, WebP) too; ``channels=3`` expands grayscale.
    ``box``: int32 ``(x0, y0, side)`` of a square to crop before the resize
    (``--mtfl_framing=test``, `mtl_tf.data.mtfl_framing`), or None for the whole image.
    """
    import tensorflow as tf

    image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
    if box is not None:
        image = tf.image.crop_to_bounding_box(image, box[1], box[0], box[2], box[2])
    image = tf.image.resize(image, (size, size), method="bilinear", antialias=True)
    # Back to uint8 for the cache (4x smaller than float32); round, not truncate, so that
    # an image already at 150x150 (AFLW) comes back unchanged.
    return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)
