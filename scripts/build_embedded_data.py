"""Builds the embedded MNIST / Fashion-MNIST samples shipped in mtl_tf/data/embedded.

Draws a class-balanced subset (default 400 train and 100 test images per class, i.e.
4000 + 1000 per data set) from the full IDX files with a fixed seed, keeps the chosen
images in their original file order, and writes them as gzip IDX files with
``mtl_tf.data.idx.write_idx`` (``mtime=0``, so reruns are byte-identical).

Usage, from the repository root:

    .venv/bin/python scripts/build_embedded_data.py --data_dir ../shared/data
"""

from __future__ import annotations

import os
import sys

import numpy as np
from absl import app, flags

# Runnable as a plain script from a source checkout without installing the package.
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from mtl_tf.data.idx import write_idx  # noqa: E402
from mtl_tf.data.sources import load_source  # noqa: E402

_DATA_DIR = flags.DEFINE_string(
    "data_dir", "../shared/data", "Folder holding mnist/ and fashion-mnist/ IDX files."
)
_OUT_DIR = flags.DEFINE_string(
    "out_dir",
    os.path.join(_REPO, "mtl_tf", "data", "embedded"),
    "Output folder; one sub-folder per data set is written.",
)
_TRAIN_PER_CLASS = flags.DEFINE_integer("train_per_class", 400, "Train images per class.")
_TEST_PER_CLASS = flags.DEFINE_integer("test_per_class", 100, "Test images per class.")
_SEED = flags.DEFINE_integer("seed", 20240501, "Seed of the class-balanced sampling.")

_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def balanced_indices(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Returns ``per_class`` indices of every class, sorted into original file order.

    Args:
      labels: ``[N]`` integer labels.
      per_class: How many items to draw (without replacement) from each class.
      rng: Random generator; the result is a function of its state.

    Returns:
      Sorted int64 indices, ``per_class * num_classes`` of them.
    """
    chosen = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        if members.size < per_class:
            raise ValueError(f"class {cls} has only {members.size} items, need {per_class}")
        chosen.append(rng.choice(members, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def main(argv: list[str]) -> None:
    del argv
    total = 0
    for offset, name in enumerate(("mnist", "fashion_mnist")):
        source = load_source(name, data_dir=_DATA_DIR.value, data_source="dir")
        # One stream per data set so adding a data set never changes the others.
        rng = np.random.default_rng([_SEED.value, offset])
        train = balanced_indices(source.train_labels, _TRAIN_PER_CLASS.value, rng)
        test = balanced_indices(source.test_labels, _TEST_PER_CLASS.value, rng)
        arrays = {
            "train_images": source.train_images[train],
            "train_labels": source.train_labels[train].astype(np.uint8),
            "test_images": source.test_images[test],
            "test_labels": source.test_labels[test].astype(np.uint8),
        }
        out = os.path.join(_OUT_DIR.value, name)
        os.makedirs(out, exist_ok=True)
        for key, filename in _FILES.items():
            path = os.path.join(out, filename)
            write_idx(path, arrays[key])
            size = os.path.getsize(path)
            total += size
            print(f"{path}: {arrays[key].shape} {size / 1e6:.3f} MB")
    print(f"total: {total / 1e6:.3f} MB")


if __name__ == "__main__":
    app.run(main)
