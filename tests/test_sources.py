"""Tests for mtl_tf.data.sources and mtl_tf.data.datasets on small generated IDX files."""

import logging
import os

import numpy as np
import pytest

from mtl_tf.data.datasets import DATASETS, load_dataset
from mtl_tf.data.idx import IdxFormatError, write_idx
from mtl_tf.data.sources import load_source

REAL_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def _write_source(directory, train_value=200, test_value=100, n_train=40, n_test=20, gz=True):
    """Writes a tiny source whose train/test images are constant train_value/test_value."""
    os.makedirs(directory, exist_ok=True)
    arrays = {
        "train_images": np.full((n_train, 28, 28), train_value, np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": np.full((n_test, 28, 28), test_value, np.uint8),
        "test_labels": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for key, array in arrays.items():
        write_idx(os.path.join(directory, NAMES[key] + (".gz" if gz else "")), array)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_flat_dir(tmp_path, gz):
    arrays = _write_source(tmp_path, gz=gz)
    data = load_source("mnist", data_dir=str(tmp_path))
    for key, array in arrays.items():
        np.testing.assert_array_equal(getattr(data, key), array)
    assert data.origin == f"IDX files in {tmp_path}"


@pytest.mark.parametrize("name,sub", [
    ("mnist", "mnist"), ("fashion_mnist", "fashion-mnist"), ("fashion_mnist", "fashion_mnist"),
])
def test_nested_dir(tmp_path, name, sub):
    _write_source(tmp_path / sub, train_value=7)
    data = load_source(name, data_dir=str(tmp_path), data_source="dir")
    assert data.train_images.shape == (40, 28, 28) and np.all(data.train_images == 7)
    assert str(tmp_path / sub) in data.origin


def test_missing_dir_message(tmp_path):
    missing = tmp_path / "no-such-dir"
    with pytest.raises(FileNotFoundError) as info:
        load_source("mnist", data_dir=str(missing), data_source="dir")
    message = str(info.value)
    assert str(missing) in message and "--data_dir" in message
    assert "train-images-idx3-ubyte" in message and "t10k-labels-idx1-ubyte" in message


@pytest.mark.parametrize("data_source", ["dir", "auto"])
def test_data_dir_that_is_a_file_says_so_and_names_the_folder(tmp_path, data_source):
    """--data_dir pointing at one of the IDX files: not "does not exist" (it does), but
    that it is a file, with the folder to pass instead."""
    _write_source(tmp_path / "mnist")
    path = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    with pytest.raises(NotADirectoryError) as info:
        load_source("mnist", data_dir=str(path), data_source=data_source)
    message = str(info.value)
    assert f"--data_dir {path} is a file, not a folder" in message
    assert "does not exist" not in message
    assert f"--data_dir={tmp_path / 'mnist'}" in message
    # The folder it names really is the fix.
    fixed = load_source("mnist", data_dir=str(tmp_path / "mnist"), data_source=data_source)
    assert fixed.train_images.shape == (40, 28, 28)


def test_incomplete_dir_names_missing_files(tmp_path):
    _write_source(tmp_path / "mnist")
    os.remove(tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(FileNotFoundError, match="missing t10k-labels-idx1-ubyte.*--data_dir"):
        load_source("mnist", data_dir=str(tmp_path))


def test_mismatched_counts_name_files(tmp_path):
    _write_source(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(39, np.uint8))
    with pytest.raises(IdxFormatError, match="40 images but .*train-labels.* 39 labels"):
        load_source("mnist", data_dir=str(tmp_path))


def test_bad_names():
    with pytest.raises(ValueError, match="mnist, fashion_mnist"):
        load_source("cifar10")
    with pytest.raises(ValueError, match="auto, dir, tfds, embedded"):
        load_source("mnist", data_source="web")


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_embedded_fallback_offline(tmp_path, monkeypatch, caplog, name):
    # An empty tensorflow-datasets dir: "auto" must fall back to the embedded sample.
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    with caplog.at_level(logging.WARNING):
        data = load_source(name)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "--data_dir" in warnings[0], warnings
    assert "embedded sample of 4000 train / 1000 test" in warnings[0]
    assert data.origin == "embedded sample (4000 train / 1000 test images)"
    assert data.train_images.shape == (4000, 28, 28) and data.train_images.dtype == np.uint8
    assert data.test_images.shape == (1000, 28, 28) and data.test_images.dtype == np.uint8
    for labels, per_class in ((data.train_labels, 400), (data.test_labels, 100)):
        np.testing.assert_array_equal(np.bincount(labels, minlength=10), [per_class] * 10)
    # Real images: mostly black background with bright strokes, all different.
    assert 0.1 < np.mean(data.train_images > 0) < 0.7
    assert data.train_images.max() == 255
    assert len({img.tobytes() for img in data.test_images[:100]}) == 100


def test_load_dataset_train_test_separation(tmp_path):
    _write_source(tmp_path, train_value=200, test_value=100)
    data = load_dataset("multi_mnist", data_dir=str(tmp_path), train_size=300, test_size=100)
    assert data.task_names == ("top_left", "bottom_right")
    assert data.num_classes == (10, 10) and data.input_shape == (36, 36, 1)
    assert data.train_images.shape == (300, 36, 36) and data.test_images.shape == (100, 36, 36)
    matrix = data.label_matrix("train")
    assert matrix.dtype == np.int32 and matrix.shape == (300, 2)
    assert set(np.unique(data.train_images)) == {0, 200}
    assert set(np.unique(data.test_images)) == {0, 100}
    assert np.all(data.label_matrix("test")[:, 0] != data.label_matrix("test")[:, 1])


def test_multi_fashion_mnist_corners(tmp_path):
    _write_source(tmp_path / "mnist", train_value=50, test_value=50)
    _write_source(tmp_path / "fashion-mnist", train_value=150, test_value=150)
    data = load_dataset("multi_fashion_mnist", data_dir=str(tmp_path), train_size=50, test_size=50)
    # Rows/cols 0..3 can only hold the top-left item and rows/cols 32..35 only the
    # bottom-right one: Fashion-MNIST (150) top-left, MNIST (50) bottom-right.
    images = data.train_images
    top_only = np.concatenate([images[:, :4, :].ravel(), images[:, :, :4].ravel()])
    bottom_only = np.concatenate([images[:, 32:, :].ravel(), images[:, :, 32:].ravel()])
    assert set(np.unique(top_only)) == {0, 150}
    assert set(np.unique(bottom_only)) == {0, 50}
    assert "fashion_mnist" in data.origin and "mnist" in data.origin


def test_load_dataset_seeds():
    a = load_dataset("multi_fashion", data_source="embedded", train_size=20, test_size=20, seed=1)
    b = load_dataset("multi_fashion", data_source="embedded", train_size=20, test_size=20, seed=1)
    c = load_dataset("multi_fashion", data_source="embedded", train_size=20, test_size=20, seed=2)
    np.testing.assert_array_equal(a.train_images, b.train_images)
    assert not np.array_equal(a.train_images, c.train_images)
    # Train and test pairs use different derived seeds (not the same draws on both splits).
    assert not np.array_equal(a.label_matrix("train"), a.label_matrix("test"))


def test_unknown_dataset():
    with pytest.raises(ValueError, match=", ".join(DATASETS)):
        load_dataset("multi_cifar")


def test_real_data_if_present():
    if not os.path.isdir(os.path.join(REAL_DATA, "mnist")):
        pytest.skip(f"real MNIST copy not found at {os.path.abspath(REAL_DATA)}/mnist")
    data = load_source("mnist", data_dir=REAL_DATA)
    assert data.train_images.shape == (60000, 28, 28) and data.test_images.shape == (10000, 28, 28)
    np.testing.assert_array_equal(data.train_labels[:5], [5, 0, 4, 1, 9])
