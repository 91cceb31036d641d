"""What every source loader returns: `SourceData`, built only from checked arrays.

Shared by the IDX-folder and embedded loaders (`mtl_tf.data.sources`) and the
tensorflow-datasets loader (`mtl_tf.data.tfds_source`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mtl_tf.data.idx import IdxFormatError

__all__ = ["DISPLAY_NAMES", "IDX_FILES", "SourceData", "checked_source_data"]

# The four standard IDX files of MNIST and Fashion-MNIST (a loader also accepts them .gz).
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# Source names as messages spell them.
DISPLAY_NAMES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}


@dataclasses.dataclass(frozen=True)
class SourceData:
    """One single-item source data set, as numpy arrays.

    Attributes:
      train_images: uint8 ``[N, 28, 28]``.
      train_labels: Integer ``[N]`` class ids in ``0..9``.
      test_images: uint8 ``[M, 28, 28]``.
      test_labels: Integer ``[M]``.
      origin: Where the data came from, for logs, e.g. ``"IDX files in /x/mnist"``.
      files: The file each array was read from (keys ``train_images``, ``train_labels``,
        ``test_images``, ``test_labels``), for messages that name a file; None for the
        embedded sample and a tensorflow-datasets copy.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    origin: str
    files: dict[str, str] | None = None


def checked_source_data(
    arrays: dict[str, np.ndarray],
    names: dict[str, str],
    origin: str,
    files: dict[str, str] | None = None,
) -> SourceData:
    """Checks shapes and dtypes and returns the `SourceData`.

    Args:
      arrays: The four arrays, keyed as `IDX_FILES`.
      names: Each key's name in error messages (a path, or a description).
      origin: `SourceData.origin`.
      files: `SourceData.files`.

    Raises:
      IdxFormatError: Naming the file, for images that are not uint8 ``[N, 28, 28]``,
        labels that are not integer ``[N]``, or image and label counts that differ.
    """
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        image_file, label_file = names[f"{split}_images"], names[f"{split}_labels"]
        if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
            raise IdxFormatError(
                f"{image_file}: expected uint8 images of shape [N, 28, 28], got "
                f"{images.dtype} {list(images.shape)}; point --data_dir at the standard "
                "MNIST / Fashion-MNIST files"
            )
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise IdxFormatError(
                f"{label_file}: expected integer labels of shape [N], got "
                f"{labels.dtype} {list(labels.shape)}; point --data_dir at the standard "
                "MNIST / Fashion-MNIST files"
            )
        if labels.shape[0] != images.shape[0]:
            raise IdxFormatError(
                f"{image_file} holds {images.shape[0]} images but {label_file} holds "
                f"{labels.shape[0]} labels; the two files are from different releases or "
                "one is damaged: re-download them"
            )
    return SourceData(origin=origin, files=files, **arrays)
