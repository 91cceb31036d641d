"""Tests for mtl_tf.data.multi_mnist.make_multi_pairs (Pareto MTL §6.1 overlays)."""

import time

import numpy as np
import pytest

from mtl_tf.data.multi_mnist import make_multi_pairs

N = 50  # items per synthetic source: small enough to encode the item index in a pixel


def _labels(n=N, classes=10):
    return (np.arange(n) % classes).astype(np.uint8)


def _const_items(values):
    """Items whose every pixel equals values[i]: the canvas then reveals which item and where."""
    values = np.asarray(values, np.uint8)
    return np.broadcast_to(values[:, None, None], (len(values), 28, 28)).copy()


def _textures(seed, n=N):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


def _box(mask):
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def _generate(images_a, images_b, num_pairs=200, seed=3, different=True):
    return make_multi_pairs(
        images_a, _labels(), images_b, _labels(), num_pairs, seed,
        require_different_classes=different,
    )


def test_shapes_dtypes_and_range():
    images, labels = _generate(_textures(0), _textures(1))
    assert images.shape == (200, 36, 36) and images.dtype == np.uint8
    assert labels.shape == (200, 2) and labels.dtype == np.int32
    assert labels.min() >= 0 and labels.max() <= 9


def test_different_classes_when_required():
    # Only 2 classes: half of the first draws collide, so the redraw loop really runs.
    labels = _labels(classes=2)
    _, pair_labels = make_multi_pairs(
        _textures(0), labels, _textures(1), labels, 5000, 0, require_different_classes=True
    )
    assert np.all(pair_labels[:, 0] != pair_labels[:, 1])


def test_same_classes_allowed_when_not_required():
    _, labels = _generate(_textures(0), _textures(1), num_pairs=2000, different=False)
    assert np.any(labels[:, 0] == labels[:, 1])


def test_items_stay_in_their_corners():
    full, empty = _const_items([255] * N), _const_items([0] * N)
    top, _ = _generate(full, empty, num_pairs=500)
    bottom, _ = _generate(empty, full, num_pairs=500)
    starts_top, starts_bottom = set(), set()
    for canvas_top, canvas_bottom in zip(top, bottom, strict=True):
        r0, r1, c0, c1 = _box(canvas_top > 0)
        # Top-left item: a full 28x28 block inside rows/cols [0, 28 + 4).
        assert 0 <= r0 <= 4 and 0 <= c0 <= 4 and r1 - r0 == 28 and c1 - c0 == 28
        assert np.all(canvas_top[r0:r1, c0:c1] == 255)
        assert np.count_nonzero(canvas_top) == 28 * 28
        starts_top.add((r0, c0))
        r0, r1, c0, c1 = _box(canvas_bottom > 0)
        # Bottom-right item: offsets 4..8, so inside rows/cols [4, 36).
        assert 4 <= r0 <= 8 and 4 <= c0 <= 8 and r1 - r0 == 28 and c1 - c0 == 28
        assert np.count_nonzero(canvas_bottom) == 28 * 28
        starts_bottom.add((r0, c0))
    # Every one of the 5 x 5 offsets is used.
    assert len(starts_top) == 25 and len(starts_bottom) == 25


def test_overlap_is_pixelwise_maximum():
    seed, num_pairs = 11, 100
    values = np.arange(1, N + 1)
    # Pass 1 and 2: constant marker items reveal each pair's item index and offset. The
    # random draws do not depend on pixel values, so pass 3 uses the same draws.
    mark_a, _ = _generate(_const_items(values), _const_items([0] * N), num_pairs, seed)
    mark_b, _ = _generate(_const_items([0] * N), _const_items(values), num_pairs, seed)
    tex_a, tex_b = _textures(5), _textures(6)
    images, labels = _generate(tex_a, tex_b, num_pairs, seed)
    for i in range(num_pairs):
        ra, _, ca, _ = _box(mark_a[i] > 0)
        rb, _, cb, _ = _box(mark_b[i] > 0)
        ia, ib = mark_a[i, ra, ca] - 1, mark_b[i, rb, cb] - 1
        assert tuple(labels[i]) == (_labels()[ia], _labels()[ib])
        expected = np.zeros((36, 36), np.uint8)
        expected[ra : ra + 28, ca : ca + 28] = tex_a[ia]
        region = expected[rb : rb + 28, cb : cb + 28]
        expected[rb : rb + 28, cb : cb + 28] = np.maximum(region, tex_b[ib])
        np.testing.assert_array_equal(images[i], expected)


def test_deterministic_for_seed():
    a, b = _textures(0), _textures(1)
    first = _generate(a, b, seed=7)
    second = _generate(a, b, seed=7)
    other = _generate(a, b, seed=8)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[0], other[0])


def test_rejects_impossible_inputs():
    a = _textures(0)
    one_class = np.zeros(N, np.uint8)
    with pytest.raises(ValueError, match="two classes"):
        make_multi_pairs(a, one_class, a, one_class, 10, 0, require_different_classes=True)
    with pytest.raises(ValueError, match="max_shift"):
        make_multi_pairs(a, _labels(), a, _labels(), 10, 0,
                         require_different_classes=False, max_shift=9)
    with pytest.raises(ValueError, match=r"labels_b must have shape \[50\]"):
        make_multi_pairs(a, _labels(), a, _labels()[:3], 10, 0, require_different_classes=False)
    with pytest.raises(ValueError, match="uint8"):
        make_multi_pairs(a.astype(np.float32), _labels(), a, _labels(), 10, 0,
                         require_different_classes=False)


def test_120k_pairs_of_different_classes():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(60000, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=60000).astype(np.uint8)
    start = time.perf_counter()
    pairs, pair_labels = make_multi_pairs(
        images, labels, images, labels, 120000, 0, require_different_classes=True
    )
    # Printed, not asserted: timings belong in bench/, not in a test's verdict.
    print(f"make_multi_pairs: 120000 pairs in {time.perf_counter() - start:.2f} s")
    assert pairs.shape == (120000, 36, 36)
    assert np.all(pair_labels[:, 0] != pair_labels[:, 1])
