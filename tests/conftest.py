"""Shared fixtures: small, generated, learnable multi-task data.

Source "items" are 28x28 images whose class is drawn as a bright bar at a class-specific
row, plus noise; pairs are built with the real MultiMNIST generator, so the tests run
the same code path as real runs, in seconds and without any download.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mtl_tf.data.datasets import MultiTaskData  # noqa: E402
from mtl_tf.data.idx import write_idx  # noqa: E402
from mtl_tf.data.multi_mnist import make_multi_pairs  # noqa: E402
from mtl_tf.tasks import classification_specs  # noqa: E402


def make_items(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n 28x28 uint8 items, class c drawn as a thick bar at rows 2c+4 .. 2c+6."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    images = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
    for c in range(10):
        images[labels == c, 2 * c + 4 : 2 * c + 7, 4:24] = 255
    return images, labels


def make_tiny_data(train_size: int = 400, test_size: int = 200, seed: int = 0) -> MultiTaskData:
    """A learnable two-task data set shaped like MultiMNIST (36x36, 10 + 10 classes)."""
    tr_x, tr_y = make_items(300, seed)
    te_x, te_y = make_items(150, seed + 1)
    train_images, train_labels = make_multi_pairs(
        tr_x, tr_y, tr_x, tr_y, train_size, seed, require_different_classes=True
    )
    test_images, test_labels = make_multi_pairs(
        te_x, te_y, te_x, te_y, test_size, seed + 1, require_different_classes=True
    )
    return MultiTaskData(
        name="multi_mnist",
        tasks=classification_specs(("top_left", "bottom_right"), (10, 10)),
        input_shape=(36, 36, 1),
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        origin="generated test items",
    )


@pytest.fixture(scope="session")
def tiny_data() -> MultiTaskData:
    return make_tiny_data()


@pytest.fixture(scope="session")
def tiny_idx_dir(tmp_path_factory) -> str:
    """A flat folder of the four standard MNIST IDX files holding generated items."""
    root = tmp_path_factory.mktemp("idx")
    tr_x, tr_y = make_items(300, 10)
    te_x, te_y = make_items(100, 11)
    write_idx(root / "train-images-idx3-ubyte.gz", tr_x)
    write_idx(root / "train-labels-idx1-ubyte.gz", tr_y)
    write_idx(root / "t10k-images-idx3-ubyte.gz", te_x)
    write_idx(root / "t10k-labels-idx1-ubyte.gz", te_y)
    return str(root)
