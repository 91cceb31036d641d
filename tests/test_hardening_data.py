"""Bad data stops while it is loaded, with one line naming the file and the fix.

Hardening issue #14, data cases: out-of-range labels, an IDX file with no images, sizes
that cannot fit in memory, damaged MTFL images. Library calls on real (generated, then
broken) files, and real `main.py` subprocesses for what the user sees: `error: ...`, a
non-zero exit, no traceback, and no run directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from mtl_tf.data.datasets import check_pair_memory, load_dataset, memory_limit
from mtl_tf.data.idx import read_idx, write_idx
from mtl_tf.data.multi_mnist import pair_nbytes
from mtl_tf.data.sources import load_source

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"


def _main(*args: str) -> tuple[subprocess.CompletedProcess, float]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    start = time.monotonic()
    result = subprocess.run([sys.executable, os.path.join(ROOT, "main.py"), "--verbose=0",
                             "--export_dir=", *args], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    return result, time.monotonic() - start


def _assert_one_line_error(result, out: str, *needles: str) -> str:
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr[-3000:]
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not os.path.exists(out), "bad input must leave nothing behind"
    return lines[0]


def _copy_with(tiny_idx_dir: str, dst: str, name: str, array: np.ndarray) -> str:
    shutil.copytree(tiny_idx_dir, dst)
    write_idx(os.path.join(dst, name), array)
    return dst


# --------------------------------------------------------------------------- labels
@pytest.mark.parametrize(
    "name, value, dtype",
    [(TRAIN_LABELS, 11, np.uint8), (TRAIN_LABELS, 255, np.uint8),
     (TRAIN_LABELS, -1, np.int8), (TEST_LABELS, 10, np.uint8)],
)
def test_out_of_range_label_names_file_value_index_and_range(tiny_idx_dir, tmp_path, name,
                                                             value, dtype):
    labels = read_idx(os.path.join(tiny_idx_dir, name)).astype(dtype)
    labels[[7, 40, 41]] = value
    data_dir = _copy_with(tiny_idx_dir, str(tmp_path / "data"), name, labels)
    with pytest.raises(ValueError) as info:
        load_dataset("multi_mnist", data_dir=data_dir, train_size=50, test_size=20)
    message = str(info.value)
    assert message.startswith(os.path.join(data_dir, name) + ": ")
    assert f"label {value} at index 7 is out of range (allowed 0..9" in message
    assert f"3 of {labels.size} labels are out of range" in message
    assert "--data_dir" in message


def test_labels_are_checked_in_both_corners_of_multi_fashion_mnist(tiny_idx_dir, tmp_path):
    # Fashion-MNIST's folder is good, MNIST's (the bottom-right corner) is not.
    parent = tmp_path / "data"
    shutil.copytree(tiny_idx_dir, parent / "fashion-mnist")
    labels = read_idx(os.path.join(tiny_idx_dir, TEST_LABELS))
    labels[3] = 12
    _copy_with(tiny_idx_dir, str(parent / "mnist"), TEST_LABELS, labels)
    with pytest.raises(ValueError, match=r"mnist/t10k-labels-idx1-ubyte\.gz: label 12 at "
                       r"index 3 .*MNIST classes"):
        load_dataset("multi_fashion_mnist", data_dir=str(parent), train_size=50,
                     test_size=20)


def test_good_sources_pass_the_checks(tiny_idx_dir):
    data = load_dataset("multi_mnist", data_dir=tiny_idx_dir, train_size=50, test_size=20)
    assert data.num_classes == (10, 10)
    # The embedded sample is checked too, and is clean.
    load_dataset("multi_fashion_mnist", data_source="embedded", train_size=10, test_size=10)


# --------------------------------------------------------------------------- empty file
def test_idx_file_with_no_images_is_named(tiny_idx_dir, tmp_path):
    data_dir = _copy_with(tiny_idx_dir, str(tmp_path / "data"), TEST_IMAGES,
                          np.zeros((0, 28, 28), np.uint8))
    write_idx(os.path.join(data_dir, TEST_LABELS), np.zeros((0,), np.uint8))
    assert load_source("mnist", data_dir=data_dir).test_images.shape == (0, 28, 28)
    with pytest.raises(ValueError) as info:
        load_dataset("multi_mnist", data_dir=data_dir, train_size=50, test_size=20)
    assert str(info.value).startswith(
        f"{os.path.join(data_dir, TEST_IMAGES)} holds no images (shape [0, 28, 28]); "
        "re-download it")


# --------------------------------------------------------------------------- sizes
def test_impossible_size_is_refused_before_any_file_is_read(tmp_path):
    # The data directory does not exist: the size error must come first, so nothing was
    # read (reading would have failed on the missing files instead), let alone allocated
    # (7.28 TiB for the index array alone).
    with pytest.raises(ValueError) as info:
        load_dataset("multi_mnist", data_dir=str(tmp_path / "absent"),
                     train_size=10**12, test_size=200)
    message = str(info.value)
    limit, where = memory_limit()
    assert message.startswith("--train_size=1000000000000 is too large: the generated pairs "
                              "need at least ")
    assert "TiB of memory" in message and where in message
    assert "use --train_size=" in message and "(with --test_size=200)" in message


def test_memory_bound_arithmetic_and_suggestion():
    per_pair = pair_nbytes(36)
    assert per_pair == 36 * 36 + 8
    # 4 copies of the training pairs, 3 of the test / validation pairs.
    assert check_pair_memory(100, 10, 5, limit=(10**9, "test")) == per_pair * (400 + 30 + 15)
    limit = (per_pair * (4 * 1000 + 3 * 50), "a 5 MB box")
    assert check_pair_memory(1000, 50, limit=limit) == limit[0]  # exactly fits
    with pytest.raises(ValueError) as info:
        check_pair_memory(1001, 50, limit=limit)
    message = str(info.value)
    assert "--train_size=1001 is too large" in message and "(a 5 MB box)" in message
    assert "use --train_size=1000 or less (with --test_size=50)" in message
    # The largest request is blamed, here the test pairs.
    with pytest.raises(ValueError, match=r"--test_size=100000 is too large.*use "
                       r"--test_size=\d+ or less \(with --train_size=10\)"):
        check_pair_memory(10, 100_000, limit=limit)
    with pytest.raises(ValueError, match="reduce --train_size, --test_size and --val_size"):
        check_pair_memory(10**6, 10**6, 10**6, limit=limit)


def test_memory_limit_is_this_machine():
    limit, where = memory_limit()
    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert 0 < limit <= physical
    assert where in ("physical memory", "the cgroup memory limit")


# --------------------------------------------------------------------------- main.py
def test_cli_bad_labels_stop_before_training(tiny_idx_dir, tmp_path):
    labels = read_idx(os.path.join(tiny_idx_dir, TRAIN_LABELS))
    labels[5] = 11
    data_dir = _copy_with(tiny_idx_dir, str(tmp_path / "data"), TRAIN_LABELS, labels)
    out = str(tmp_path / "run")
    result, seconds = _main(f"--data_dir={data_dir}", "--train_size=200", "--test_size=50",
                            "--backbone=lenet", "--epochs=1", f"--output_dir={out}")
    _assert_one_line_error(result, out, f"error: {data_dir}/{TRAIN_LABELS}: label 11 at "
                           "index 5 is out of range (allowed 0..9")
    assert "Epoch" not in result.stdout  # no training step ran


def test_cli_impossible_size(tiny_idx_dir, tmp_path):
    out = str(tmp_path / "run")
    result, _ = _main(f"--data_dir={tiny_idx_dir}", "--train_size=1000000000000",
                      f"--output_dir={out}")
    _assert_one_line_error(result, out, "error: --train_size=1000000000000 is too large",
                           "of memory", "use --train_size=")
