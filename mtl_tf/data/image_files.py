"""A multi-task data set of image files, decoded and resized in ``tf.data``.

`ImageFileData` holds image *paths* in its ``*_images`` fields (the `MultiTaskData`
contract for data sets that decode files) and builds its own pipeline: read, decode
(JPEG, PNG, GIF, BMP; the first frame), resize to the data set's ``input_shape``
(bilinear, antialiased), uint8, cached in memory after the first pass, then the seeded
per-epoch shuffle, batch, [0, 1] floats and the per-task label dict.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from mtl_tf.data.multitask import MultiTaskData

__all__ = ["ImageFileData", "decode_resized", "image_shape"]


def decode_resized(path, height: int, width: int, channels: int):
    """Reads and decodes one image file to uint8 ``[height, width, channels]``."""
    import tensorflow as tf

    image = tf.io.decode_image(tf.io.read_file(path), channels=channels,
                               expand_animations=False)
    image = tf.image.resize(image, (height, width), method="bilinear", antialias=True)
    # Round, not truncate: an image already at the size comes back unchanged.
    return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)


def image_shape(path: str) -> tuple[int, int, int]:
    """(H, W, C) of an image file as decoded (C: 1 grey, 3 colour; alpha dropped)."""
    import tensorflow as tf

    shape = tf.io.extract_jpeg_shape if path.lower().endswith((".jpg", ".jpeg")) else None
    data = tf.io.read_file(path)
    if shape is not None:
        h, w, c = (int(v) for v in shape(data).numpy())
    else:
        h, w, c = tf.io.decode_image(data, expand_animations=False).shape
    return int(h), int(w), 1 if int(c) in (1, 2) else 3


@dataclasses.dataclass
class ImageFileData(MultiTaskData):
    """Image files and their per-task labels (see the module docstring).

    Attributes (beyond `MultiTaskData`'s): the ``*_images`` fields are numpy str
    ``[N]`` absolute paths; ``input_shape`` is the size every image is resized to.
    """

    _decoded_cache: dict = dataclasses.field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def _decoded(self, split: str):
        # Memoised per split: every epoch's pipeline must read the same cache(), so that
        # only the first pass decodes the files.
        if split in self._decoded_cache:
            return self._decoded_cache[split]
        import tensorflow as tf

        h, w, c = self.input_shape
        paths = np.asarray(getattr(self, f"{split}_images"), dtype=str)
        labels = dict(getattr(self, f"{split}_labels"))

        def decode(path, label):
            return decode_resized(path, h, w, c), label

        ds = tf.data.Dataset.from_tensor_slices((paths, labels))
        ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).cache()
        self._decoded_cache[split] = ds
        return ds

    def make_split_dataset(self, split: str, task_indices: Sequence[int], batch_size: int, *,
                           shuffle: bool, seed: int, epoch: int = 0):
        """Batches of ``(float32 [B, H, W, C] in [0, 1], {task: labels})`` of one split;
        the shuffle order depends only on ``(seed, epoch)`` (as for in-memory data)."""
        import tensorflow as tf

        from mtl_tf.data.pipeline import epoch_seed

        if getattr(self, f"{split}_images", None) is None:
            raise ValueError(f"the {self.name} data has no {split!r} split")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        names = [self.task_names[int(k)] for k in task_indices]
        ds = self._decoded(split)
        if shuffle:
            ds = ds.shuffle(self.num_examples(split), seed=epoch_seed(seed, epoch),
                            reshuffle_each_iteration=False)

        def to_model_input(image, label):
            return tf.cast(image, tf.float32) / 255.0, {n: label[n] for n in names}

        ds = ds.batch(batch_size).map(to_model_input, num_parallel_calls=tf.data.AUTOTUNE,
                                      deterministic=True)
        return ds.prefetch(tf.data.AUTOTUNE)
