"""Tests for the validation split of mtl_tf.data.datasets.load_dataset.

The sources are tiny IDX files in which every image is one constant pixel value, unique
to that image (its id). An overlay pair max-merges two constant items, so the nonzero
pixel values of a pair are exactly the ids of the source images visible in it: that
makes "which source images went into which split" directly checkable.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from mtl_tf.data import datasets
from mtl_tf.data.datasets import load_dataset
from mtl_tf.data.idx import write_idx
from mtl_tf.data.multi_mnist import make_multi_pairs

N_TRAIN = 60  # per source; 60 // 6 = 10 images held out
N_TEST = 20
# Image ids (= pixel values) per source and split; all distinct and nonzero.
IDS = {
    "mnist": {"train": np.arange(1, 61), "test": np.arange(201, 221)},
    "fashion-mnist": {"train": np.arange(101, 161), "test": np.arange(231, 251)},
}
SIZES = {"train_size": 600, "test_size": 100, "seed": 3}


@pytest.fixture(scope="module")
def id_dir(tmp_path_factory) -> str:
    """mnist/ and fashion-mnist/ sub-folders of identifiable constant images."""
    root = tmp_path_factory.mktemp("ids")
    names = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
    for source, splits in IDS.items():
        os.makedirs(root / source)
        for split, ids in splits.items():
            images = np.broadcast_to(ids[:, None, None], (len(ids), 28, 28)).astype(np.uint8)
            write_idx(root / source / f"{names[split][0]}.gz", images)
            write_idx(root / source / f"{names[split][1]}.gz", _label(ids).astype(np.uint8))
    return str(root)


def _label(ids: np.ndarray) -> np.ndarray:
    return ids % 10


def _visible_ids(images: np.ndarray) -> set[int]:
    return set(np.unique(images).tolist()) - {0}


def _check_pairs(images: np.ndarray, labels: np.ndarray) -> None:
    """Every item visible in a pair carries one of that pair's labels."""
    for image, row in zip(images, labels, strict=True):
        visible = np.array(sorted(_visible_ids(image)))
        assert 1 <= len(visible) <= 2
        assert set(_label(visible).tolist()) <= set(row.tolist())


@pytest.mark.parametrize("name,top,bottom", [
    ("multi_mnist", "mnist", "mnist"),
    ("multi_fashion_mnist", "fashion-mnist", "mnist"),
])
def test_validation_shares_no_source_image_with_training(id_dir, name, top, bottom):
    data = load_dataset(name, data_dir=id_dir, val_size=400, **SIZES)
    assert data.val_images.shape == (400, 36, 36) and data.label_matrix("val").shape == (400, 2)
    assert data.val_images.dtype == np.uint8 and data.label_matrix("val").dtype == np.int32
    train_ids = _visible_ids(data.train_images)
    val_ids = _visible_ids(data.val_images)
    assert not train_ids & val_ids
    source_train_ids = set(IDS[top]["train"]) | set(IDS[bottom]["train"])
    assert train_ids <= source_train_ids and val_ids <= source_train_ids
    # One sixth of each source's training images is held out, and only those are used.
    held_out = len({top, bottom}) * (N_TRAIN // 6)
    assert len(val_ids) == held_out
    assert len(train_ids) <= len(source_train_ids) - held_out
    # Test pairs come from the test split only, and are unaffected by the split.
    assert _visible_ids(data.test_images) <= set(IDS[top]["test"]) | set(IDS[bottom]["test"])
    plain = load_dataset(name, data_dir=id_dir, **SIZES)
    np.testing.assert_array_equal(data.test_images, plain.test_images)
    np.testing.assert_array_equal(data.label_matrix("test"), plain.label_matrix("test"))
    _check_pairs(data.val_images, data.label_matrix("val"))
    _check_pairs(data.train_images[:100], data.label_matrix("train")[:100])


def test_corners_use_their_own_held_out_source(id_dir):
    data = load_dataset("multi_fashion_mnist", data_dir=id_dir, val_size=200, **SIZES)
    fashion, mnist = set(IDS["fashion-mnist"]["train"]), set(IDS["mnist"]["train"])
    for image, (top_label, _) in zip(data.val_images, data.label_matrix("val"), strict=True):
        visible = _visible_ids(image)
        # Fashion ids exceed MNIST ids, so the max-merge always shows the top-left
        # (Fashion) item; its id gives the top-left label.
        (top_id,) = visible & fashion
        assert top_id % 10 == top_label
        assert len(visible & mnist) <= 1


def test_val_size_zero_is_unchanged(id_dir):
    data = load_dataset("multi_mnist", data_dir=id_dir, val_size=0, **SIZES)
    default = load_dataset("multi_mnist", data_dir=id_dir, **SIZES)
    assert data.val_images is None and data.val_labels is None
    for key in ("train_images", "test_images"):
        np.testing.assert_array_equal(getattr(data, key), getattr(default, key))
    for split in ("train", "test"):
        np.testing.assert_array_equal(data.label_matrix(split), default.label_matrix(split))
    # Exactly the pairs of the generator over the whole training split with the train
    # stream's seed: the arrays a run without validation always got.
    ids = IDS["mnist"]["train"]
    items = np.broadcast_to(ids[:, None, None], (len(ids), 28, 28)).astype(np.uint8)
    expected_images, expected_labels = make_multi_pairs(
        items, _label(ids), items, _label(ids), SIZES["train_size"],
        datasets._derived_seed(SIZES["seed"], 0), require_different_classes=True,
    )
    np.testing.assert_array_equal(data.train_images, expected_images)
    np.testing.assert_array_equal(data.label_matrix("train"), expected_labels)
    assert _visible_ids(data.train_images) == set(ids)  # nothing held out


def test_split_is_deterministic_and_seeded(id_dir):
    a = load_dataset("multi_mnist", data_dir=id_dir, val_size=300, **SIZES)
    b = load_dataset("multi_mnist", data_dir=id_dir, val_size=300, **SIZES)
    for key in ("train_images", "val_images"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    for split in ("train", "val"):
        np.testing.assert_array_equal(a.label_matrix(split), b.label_matrix(split))
    other = load_dataset("multi_mnist", data_dir=id_dir, val_size=300,
                         **{**SIZES, "seed": 4})
    assert _visible_ids(other.val_images) != _visible_ids(a.val_images)


def test_embedded_sample_split():
    data = load_dataset("multi_mnist", data_source="embedded", train_size=100,
                        test_size=50, val_size=60)
    assert data.val_images.shape == (60, 36, 36) and data.label_matrix("val").shape == (60, 2)
    assert np.all(data.label_matrix("val")[:, 0] != data.label_matrix("val")[:, 1])


def test_bad_val_size(id_dir, tmp_path):
    with pytest.raises(ValueError, match="val_size must be >= 0"):
        load_dataset("multi_mnist", data_dir=id_dir, val_size=-1, **SIZES)
    tiny = tmp_path / "tiny"
    os.makedirs(tiny)
    write_idx(tiny / "train-images-idx3-ubyte.gz", np.ones((5, 28, 28), np.uint8))
    write_idx(tiny / "train-labels-idx1-ubyte.gz", np.arange(5, dtype=np.uint8))
    write_idx(tiny / "t10k-images-idx3-ubyte.gz", np.ones((5, 28, 28), np.uint8))
    write_idx(tiny / "t10k-labels-idx1-ubyte.gz", np.arange(5, dtype=np.uint8))
    with pytest.raises(ValueError, match="only 5 training images.*--val_size=0"):
        load_dataset("multi_mnist", data_dir=str(tiny), val_size=10, **SIZES)
