"""Tests for mtl_tf.data.mtfl, mtfl_annotations and mtfl_images on a miniature MTFL written
in the released layout.

The miniature keeps the release's quirks (CRLF endings, a leading space on every record
after the first, backslash paths in training.txt, forward slashes in testing.txt) and
its image folders and sizes: AFLW/ 150x150, lfw_5590/ 250x250, net_7876/ 400x400 and
160x216 for names starting with ``_``, a few grayscale JPEGs among them. Every image is
one flat gray level that encodes its record's pose and gender labels, so a test can
check that the pipeline pairs each image with its own labels.
"""

from __future__ import annotations

import dataclasses
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from mtl_tf.data import mtfl, mtfl_images
from mtl_tf.data.datasets import load_dataset
from mtl_tf.data.mtfl import load_mtfl
from mtl_tf.data.mtfl_annotations import (
    NUM_CLASSES,
    TASK_NAMES,
    MtflFormatError,
    MtflRecord,
    parse_annotations,
)

NUM_TRAIN, NUM_TEST = 24, 12


def _level(pose: int, gender: int) -> int:
    """Gray level of an image: 20 steps per (pose, gender) combination, 20..200."""
    return 20 + 20 * (2 * (pose - 1) + (gender - 1))


def _decode_level(mean: float) -> tuple[int, int]:
    """Inverse of `_level` on a [0, 1] image mean: 0-based (pose, gender) labels."""
    step = int(round((mean * 255.0 - 20.0) / 20.0))
    return step // 2, step % 2


def _write_jpeg(path: str, height: int, width: int, level: int, gray: bool) -> None:
    image = tf.fill((height, width, 1 if gray else 3), tf.constant(level, tf.uint8))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(tf.io.encode_jpeg(image, quality=95).numpy())


def _record(i: int, path: str) -> MtflRecord:
    rng = np.random.default_rng(i)
    landmarks = tuple(float(v) for v in np.round(rng.uniform(10, 140, size=10), 6))
    return MtflRecord(path, landmarks, gender=(i // 5) % 2 + 1, smile=(i // 2) % 2 + 1,
                      glasses=(i // 3) % 2 + 1, pose=i % 5 + 1)


def _annotation_text(records: list[MtflRecord], backslashes: bool) -> bytes:
    lines = []
    for r in records:
        path = r.path.replace("/", "\\") if backslashes else r.path
        coords = " ".join(f"{v:.6f}" for v in r.landmarks)
        lines.append(f"{path} {coords} {r.gender} {r.smile} {r.glasses} {r.pose}")
    # As released: CRLF endings, every record after the first starts with a space.
    return ("\r\n ".join(lines) + "\r\n").encode("ascii")


def write_mini_mtfl(root: str) -> tuple[list[MtflRecord], list[MtflRecord], set[str]]:
    """Writes the miniature; returns (train records, test records, grayscale paths)."""
    train, test, gray, shapes = [], [], set(), {}
    for i in range(NUM_TRAIN):
        if i < 10:
            path, shapes[path] = f"lfw_5590/Person_{i:04d}.jpg", (250, 250)
        elif i < 18:
            path, shapes[path] = f"net_7876/{i:04d}.jpg", (400, 400)
        else:  # 160 wide, 216 high, as the release's net_7876/_*.jpg
            path, shapes[path] = f"net_7876/_{i:04d}.jpg", (216, 160)
        train.append(dataclasses.replace(_record(i, path), line=i + 1))
        if i in (3, 12, 20):
            gray.add(path)
    for i in range(NUM_TEST):
        path, shapes[path] = f"AFLW/{i:04d}-image{i:05d}.jpg", (150, 150)
        test.append(dataclasses.replace(_record(100 + i, path), line=i + 1))
        if i == 4:
            gray.add(path)
    for r in train + test:
        _write_jpeg(os.path.join(root, r.path), *shapes[r.path], _level(r.pose, r.gender),
                    r.path in gray)
    with open(os.path.join(root, "training.txt"), "wb") as f:
        f.write(_annotation_text(train, backslashes=True))
    with open(os.path.join(root, "testing.txt"), "wb") as f:
        f.write(_annotation_text(test, backslashes=False))
    return train, test, gray


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    """(parent, root, train records, test records, grayscale paths); root = parent/mtfl."""
    parent = str(tmp_path_factory.mktemp("mtfl_parent"))
    root = os.path.join(parent, "mtfl")
    train, test, gray = write_mini_mtfl(root)
    return parent, root, train, test, gray


@pytest.fixture
def mini_copy(mini, tmp_path):
    """A private copy of the miniature that a test may damage."""
    root = str(tmp_path / "mtfl")
    shutil.copytree(mini[1], root)
    return root


def _collect(ds) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    images, labels = [], {}
    for x, y in ds:
        images.append(x.numpy())
        for k, v in y.items():
            labels.setdefault(k, []).append(v.numpy())
    return np.concatenate(images), {k: np.concatenate(v) for k, v in labels.items()}


def test_parse_annotations_reads_the_released_format(mini):
    _, root, train, test, _ = mini
    raw = open(os.path.join(root, "training.txt"), "rb").read()
    assert b"\r\n " in raw and b"\\" in raw  # the quirks are really in the file
    parsed = parse_annotations(os.path.join(root, "training.txt"))
    assert len(parsed) == NUM_TRAIN
    for got, want in zip(parsed, train, strict=True):
        assert got.path == want.path and "\\" not in got.path
        np.testing.assert_allclose(got.landmarks, want.landmarks, atol=1e-6)
        assert (got.gender, got.smile, got.glasses, got.pose, got.line) == (
            want.gender, want.smile, want.glasses, want.pose, want.line)
    assert [r.path for r in parse_annotations(os.path.join(root, "testing.txt"))] == [
        r.path for r in test]


def test_tasks_classes_and_label_mapping(mini):
    _, root, train, _, _ = mini
    assert TASK_NAMES == ("pose", "gender", "smile", "glasses")
    assert NUM_CLASSES == (5, 2, 2, 2)
    # pose 1..5 -> 0..4; gender 1 male -> 0, 2 female -> 1;
    # smile / glasses 1 (present) -> 1, 2 (absent) -> 0.
    assert MtflRecord("a", (0.0,) * 10, 1, 1, 1, 1).labels() == (0, 0, 1, 1)
    assert MtflRecord("a", (0.0,) * 10, 2, 2, 2, 5).labels() == (4, 1, 0, 0)
    data = load_mtfl(root, train_size=None, test_size=None)
    assert (data.name, data.task_names, data.num_classes, data.input_shape) == (
        "mtfl", TASK_NAMES, NUM_CLASSES, (150, 150, 3))
    matrix = data.label_matrix("train")
    assert matrix.dtype == np.int32 and matrix.shape == (NUM_TRAIN, 4)
    np.testing.assert_array_equal(data.label_matrix("train"), [r.labels() for r in train])
    assert data.train_images[0] == os.path.join(root, train[0].path)
    assert data.val_images is None and data.val_labels is None


def test_pipeline_shapes_range_and_grayscale(mini):
    _, root, _, test, gray = mini
    data = load_mtfl(root, train_size=None, test_size=None)
    batches = list(data.make_split_dataset("test", [0, 1, 2, 3], 5, shuffle=False, seed=0))
    assert [int(x.shape[0]) for x, _ in batches] == [5, 5, 2]
    x, y = batches[0]
    assert x.dtype == tf.float32 and tuple(x.shape) == (5, 150, 150, 3)
    assert list(y) == list(TASK_NAMES) and all(v.dtype == tf.int32 for v in y.values())
    images, _ = _collect(batches)
    assert images.min() >= 0.0 and images.max() <= 1.0
    (gray_index,) = [i for i, r in enumerate(test) if r.path in gray]
    g = images[gray_index]
    np.testing.assert_array_equal(g[..., 0], g[..., 1])
    np.testing.assert_array_equal(g[..., 0], g[..., 2])
    # A subset of tasks, in the requested order.
    _, y = next(iter(data.make_split_dataset("test", [3, 0], 4, shuffle=False, seed=0)))
    assert list(y) == ["glasses", "pose"]


def test_labels_line_up_with_their_images(mini):
    _, root, _, _, _ = mini
    data = load_mtfl(root, train_size=None, test_size=None)
    for split in ("train", "test"):
        ds = data.make_split_dataset(split, [0, 1, 2, 3], 7, shuffle=True, seed=3)
        images, labels = _collect(ds)
        decoded = [_decode_level(float(m)) for m in images.mean(axis=(1, 2, 3))]
        assert decoded == list(zip(labels["pose"], labels["gender"], strict=True))


def test_seeded_sampling_sizes_and_full_split(mini):
    _, root, train, test, _ = mini
    a = load_mtfl(root, train_size=10, test_size=5, seed=1)
    b = load_mtfl(root, train_size=10, test_size=5, seed=1)
    c = load_mtfl(root, train_size=10, test_size=5, seed=2)
    assert (len(a.label_matrix("train")), len(a.label_matrix("test"))) == (10, 5)
    np.testing.assert_array_equal(a.train_images, b.train_images)
    np.testing.assert_array_equal(a.test_images, b.test_images)
    assert list(a.train_images) != list(c.train_images)
    all_train = [os.path.join(root, r.path) for r in train]
    assert set(a.train_images) <= set(all_train)
    assert list(a.train_images) == sorted(a.train_images, key=all_train.index)  # file order
    for full in (load_mtfl(root, train_size=None, test_size=None),
                 load_mtfl(root, train_size=0, test_size=0)):
        assert list(full.train_images) == all_train
        assert list(full.test_images) == [os.path.join(root, r.path) for r in test]
    with pytest.raises(ValueError, match="test_size=13"):
        load_mtfl(root, test_size=13, train_size=None)
    with pytest.raises(ValueError, match="train_size must be >= 0"):
        load_mtfl(root, train_size=-1)


def test_validation_split_is_disjoint_from_train(mini):
    _, root, _, _, _ = mini
    plain = load_mtfl(root, train_size=10, test_size=None, seed=4)
    data = load_mtfl(root, train_size=10, test_size=None, val_size=6, seed=4)
    assert len(data.label_matrix("val")) == 6 and data.label_matrix("val").shape == (6, 4)
    assert not set(data.val_images) & set(data.train_images)
    np.testing.assert_array_equal(data.train_images, plain.train_images)  # unchanged
    full = load_mtfl(root, train_size=None, test_size=None, val_size=6, seed=4)
    assert len(full.label_matrix("train")) == NUM_TRAIN - 6
    assert set(full.train_images) | set(full.val_images) == set(plain.train_images) | set(
        load_mtfl(root, train_size=None, test_size=None).train_images)
    x, y = next(iter(data.make_split_dataset("val", [0, 1, 2, 3], 6, shuffle=False, seed=0)))
    assert tuple(x.shape) == (6, 150, 150, 3)
    np.testing.assert_array_equal(y["pose"], data.label_matrix("val")[:, 0])
    with pytest.raises(ValueError, match="disjoint"):
        load_mtfl(root, train_size=20, val_size=6)
    with pytest.raises(ValueError, match="no 'val' split"):
        plain.make_split_dataset("val", [0], 4, shuffle=False, seed=0)


def test_shuffle_is_deterministic_per_seed_and_epoch(mini):
    _, root, _, _, _ = mini
    data = load_mtfl(root, train_size=None, test_size=None)

    def order(seed: int, epoch: int, shuffle: bool = True) -> list[str]:
        ds = data.make_split_dataset("train", [0, 1, 2, 3], 5, shuffle=shuffle, seed=seed,
                                     epoch=epoch)
        images, labels = _collect(ds)
        # Identify examples by (gray level, labels): enough to compare orders.
        return [f"{round(float(m), 3)}-{p}{g}{s}{q}" for m, p, g, s, q in zip(
            images.mean(axis=(1, 2, 3)), *labels.values(), strict=True)]

    first = order(0, 0)
    assert first == order(0, 0)
    assert first != order(0, 1) and first != order(1, 0)
    assert sorted(first) == sorted(order(0, 1))
    unshuffled = order(0, 0, shuffle=False)
    assert [s.split("-")[1] for s in unshuffled] == [
        "".join(map(str, row)) for row in data.label_matrix("train")]


def test_decode_cache_is_shared_across_epochs(mini_copy):
    data = load_mtfl(mini_copy, train_size=None, test_size=None)
    base = data._decoded("train")
    assert data._decoded("train") is base  # memoised: every epoch reads this cache
    first, _ = _collect(data.make_split_dataset("train", [0], 8, shuffle=True, seed=0))
    # With the images gone, only a cache can still produce epoch 1.
    shutil.rmtree(os.path.join(mini_copy, "lfw_5590"))
    shutil.rmtree(os.path.join(mini_copy, "net_7876"))
    second, _ = _collect(data.make_split_dataset("train", [0], 8, shuffle=True, seed=0,
                                                 epoch=1))
    np.testing.assert_array_equal(np.sort(first.mean(axis=(1, 2, 3))),
                                  np.sort(second.mean(axis=(1, 2, 3))))
    # Control: the same data without the memoised cache must read the (missing) files.
    fresh = dataclasses.replace(data)
    with pytest.raises(tf.errors.NotFoundError):
        _collect(fresh.make_split_dataset("train", [0], 8, shuffle=False, seed=0))


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ("lfw_5590\\x.jpg 1 2 3 4 5 6 7 8 9 10 1 1 2", "expected 15"),
        ("lfw_5590\\x.jpg 1 2 3 abc 5 6 7 8 9 10 1 1 2 3", "landmark x4"),
        ("lfw_5590\\x.jpg 1 2 3 4 5 6 7 8 9 10 1 1 2 7", "pose must be an integer in 1..5"),
        ("lfw_5590\\x.jpg 1 2 3 4 5 6 7 8 9 10 3 1 2 3", "gender must be"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, bad_line, message):
    good = "lfw_5590\\a.jpg 1 2 3 4 5 6 7 8 9 10 1 2 2 3"
    path = tmp_path / "training.txt"
    path.write_bytes(("\r\n ".join([good, good, bad_line, good]) + "\r\n").encode())
    with pytest.raises(MtflFormatError, match=rf"training\.txt:3: {message}"):
        parse_annotations(path)
    assert issubclass(MtflFormatError, ValueError)


def test_malformed_annotations_fail_in_load(mini_copy):
    path = os.path.join(mini_copy, "testing.txt")
    with open(path, "ab") as f:
        f.write(b" AFLW/x.jpg 1 2 3 4 5 6 7 8 9 10 1 1 2\r\n")
    with pytest.raises(MtflFormatError, match=rf"testing\.txt:{NUM_TEST + 1}: expected 15"):
        load_mtfl(mini_copy, train_size=None, test_size=None)


def test_missing_image_is_reported_before_any_pipeline(mini, mini_copy, monkeypatch):
    _, _, train, _, _ = mini
    missing = train[13]
    os.remove(os.path.join(mini_copy, missing.path))

    def no_pipeline(*args, **kwargs):
        raise AssertionError("a pipeline was built before the images were checked")

    monkeypatch.setattr(mtfl.MtflData, "make_split_dataset", no_pipeline)
    monkeypatch.setattr(mtfl.MtflData, "_decoded", no_pipeline)
    with pytest.raises(FileNotFoundError) as info:
        load_mtfl(mini_copy, train_size=None, test_size=None)
    text = str(info.value)
    assert "training.txt:14" in text and missing.path in text


def _damage(path: str, kind: str) -> None:
    """Replaces the image at `path` with a damaged one of the given kind."""
    with open(path, "rb") as f:
        good = f.read()
    os.remove(path)
    if kind == "directory":
        os.mkdir(path)
        return
    content = {
        "truncated": good[:-20],  # the headers survive, the end of the scan is cut
        "header cut": good[:300],
        "empty": b"",
        "text": b"<html>404 Not Found</html>\n",
        "no frame size": good.replace(b"\xff\xc0\x00\x11\x08\x00\xfa\x00\xfa",
                                      b"\xff\xc0\x00\x11\x08\x00\x00\x00\x00", 1),
    }[kind]
    assert content != good or kind == "empty"
    with open(path, "wb") as f:
        f.write(content)


@pytest.mark.parametrize(
    "kind, problem",
    [
        ("truncated", "is a truncated JPEG (no end-of-image marker); TensorFlow cannot "
                      "decode it: jpeg::Uncompress failed"),
        ("header cut", "is a truncated JPEG (its header ends early); TensorFlow cannot "
                       "decode it"),
        ("empty", "is empty (0 bytes)"),
        ("text", "is not a JPEG or PNG image (it starts with 3c 68 74 6d 6c 3e 34 30); "
                 "TensorFlow cannot decode it: Unknown image file format"),
        ("directory", "is a directory, not an image file"),
        ("no frame size", "is not a valid JPEG (frame size 0x0); TensorFlow cannot decode"),
    ],
)
def test_damaged_image_is_reported_before_any_pipeline(mini, mini_copy, monkeypatch, kind,
                                                       problem):
    _, _, train, _, _ = mini
    bad = train[4]  # lfw_5590, 250x250 color (the frame-size case patches that header)
    _damage(os.path.join(mini_copy, bad.path), kind)

    def no_pipeline(*args, **kwargs):
        raise AssertionError("a pipeline was built before the images were checked")

    monkeypatch.setattr(mtfl.MtflData, "_decoded", no_pipeline)
    with pytest.raises(MtflFormatError) as info:
        load_mtfl(mini_copy, train_size=None, test_size=None)
    message = str(info.value)
    where = f"{os.path.join(mini_copy, 'training.txt')}:{bad.line}: image "
    assert message.startswith(where + os.path.join(mini_copy, bad.path) + " " + problem)
    assert "replace it with a good copy" in message


def test_damaged_test_image_names_testing_txt_and_counts_the_others(mini, mini_copy):
    _, _, train, test, _ = mini
    _damage(os.path.join(mini_copy, test[4].path), "truncated")
    _damage(os.path.join(mini_copy, test[6].path), "empty")
    _damage(os.path.join(mini_copy, test[9].path), "directory")
    with pytest.raises(MtflFormatError) as info:
        load_mtfl(mini_copy, train_size=None, test_size=None)
    message = str(info.value)
    assert message.startswith(f"{os.path.join(mini_copy, 'testing.txt')}:5: image "
                              f"{os.path.join(mini_copy, test[4].path)} is a truncated JPEG")
    assert "(2 more missing, empty or not files)" in message
    # Only the sampled images are checked: a sample without the damaged ones loads.
    os.remove(os.path.join(mini_copy, train[0].path))
    with pytest.raises(FileNotFoundError, match="training.txt:1: image .* does not exist"):
        load_mtfl(mini_copy, train_size=None, test_size=None)


def test_images_the_decoder_reads_are_accepted(mini, mini_copy):
    """PNG content, and a JPEG with bytes after its end marker (the quick check doubts
    it, the decoder reads it): both load, and decode to their own pixels."""
    _, _, train, _, _ = mini
    png_record, padded_record = train[0], train[1]
    png_path = os.path.join(mini_copy, png_record.path)
    level = _level(png_record.pose, png_record.gender)
    with open(png_path, "wb") as f:  # PNG bytes under the .jpg name, as a converted copy
        f.write(tf.io.encode_png(tf.fill((250, 250, 3), tf.constant(level, tf.uint8))).numpy())
    with open(os.path.join(mini_copy, padded_record.path), "ab") as f:
        f.write(b"\x00" * 100 + b"trailer")
    data = load_mtfl(mini_copy, train_size=None, test_size=None)
    images, _ = _collect(data.make_split_dataset("train", [0, 1], 64, shuffle=False, seed=0))
    order = {path: i for i, path in enumerate(data.train_images)}
    png_image = images[order[png_path]]
    np.testing.assert_array_equal(png_image, np.full_like(png_image, level / 255.0))
    padded = images[order[os.path.join(mini_copy, padded_record.path)]]
    assert _decode_level(float(padded.mean())) == padded_record.labels()[:2]


def test_good_images_are_not_decoded_by_the_check(mini, monkeypatch):
    """The check reads each file once; TensorFlow decodes only the doubtful ones."""
    _, root, train, test, _ = mini
    decoded = []
    original = mtfl_images._decode_error
    monkeypatch.setattr(mtfl_images, "_decode_error", lambda path: decoded.append(path) or
                        original(path))
    mtfl_images.check_images(root, train + test, "annotations")
    assert decoded == []


def test_cli_damaged_test_image_stops_before_training(mini, mini_copy, tmp_path):
    """What the user sees: one error line naming testing.txt's line and the image, before
    any training (it used to come after a full training run, naming no file)."""
    import subprocess
    import sys

    _, _, _, test, _ = mini
    _damage(os.path.join(mini_copy, test[2].path), "truncated")
    out = str(tmp_path / "run")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(
        [sys.executable, os.path.join(repo, "main.py"), "--dataset=mtfl",
         f"--data_dir={mini_copy}", "--train_size=0", "--test_size=0", "--epochs=1",
         "--batch_size=8", "--verbose=0", "--export_dir=", f"--output_dir={out}"],
        cwd=repo, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), capture_output=True,
        text=True, timeout=300,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: {os.path.join(mini_copy, 'testing.txt')}:3: image "
        f"{os.path.join(mini_copy, test[2].path)} is a truncated JPEG (no end-of-image "
        "marker); TensorFlow cannot decode it: jpeg::Uncompress failed. Invalid JPEG data "
        "or crop window; replace it with a good copy of the image (is --data_dir a "
        "complete MTFL copy?)"
    ], result.stderr[-3000:]
    assert not os.path.exists(out)


def test_missing_data_dir_names_the_flag(tmp_path):
    with pytest.raises(FileNotFoundError, match="--data_dir"):
        load_mtfl(None)
    with pytest.raises(FileNotFoundError, match=f"{tmp_path}.*--data_dir"):
        load_mtfl(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="--data_dir"):
        load_dataset("mtfl")


def test_load_dataset_with_parent_folder(mini):
    parent, root, _, _, _ = mini
    data = load_dataset("mtfl", data_dir=parent, train_size=0, test_size=0, seed=0)
    assert isinstance(data, mtfl.MtflData)
    assert (data.num_examples("train"), data.num_examples("test")) == (NUM_TRAIN, NUM_TEST)
    assert data.origin.endswith(root)
    data = load_dataset("mtfl", data_dir=root, train_size=8, test_size=4, val_size=4, seed=1)
    assert tuple(data.num_examples(s) for s in ("train", "val", "test")) == (8, 4, 4)
    with pytest.raises(ValueError, match="--data_dir only"):
        load_dataset("mtfl", data_dir=root, data_source="tfds")


def test_table_ii_model_trains_with_four_task_pareto_mtl(mini):
    import keras

    from mtl_tf.config import RunConfig
    from mtl_tf.models import build_network
    from mtl_tf.training.trainer import MultiTaskTrainer
    from mtl_tf.weighting import build_weighting

    data = load_mtfl(mini[1], train_size=None, test_size=None)
    encoder, heads = build_network(backbone="small_alexnet", encoder="deterministic",
                                   input_shape=(150, 150, 3), num_classes=[5, 2, 2, 2],
                                   task_names=list(TASK_NAMES))
    weighting = build_weighting(
        "pareto_mtl", 4, RunConfig(num_preferences=5, train_size=NUM_TRAIN, batch_size=8))
    trainer = MultiTaskTrainer(encoder, heads, weighting)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
    ds = data.make_split_dataset("train", [0, 1, 2, 3], 8, shuffle=True, seed=0)
    for x, y in ds.take(2):
        logs = trainer.train_on_batch(x, y, return_dict=True)
    assert np.isfinite(float(logs["loss"]))
    assert {f"{t}_loss" for t in TASK_NAMES} <= set(logs)


def test_run_end_to_end(mini, tmp_path):
    from mtl_tf.config import RunConfig
    from mtl_tf.orchestration.runs import run

    metrics = run(RunConfig(method="uwl", dataset="mtfl", data_dir=mini[1], train_size=0,
                            test_size=0, epochs=1, batch_size=8, backbone="small_alexnet",
                            verbose=0, output_dir=str(tmp_path / "run")))
    assert metrics["dataset"] == "mtfl"
    assert metrics["tasks"] == list(TASK_NAMES)
    assert metrics["num_classes"] == list(NUM_CLASSES)
    assert (metrics["train_size"], metrics["test_size"]) == (NUM_TRAIN, NUM_TEST)
    assert set(metrics["accuracy"]) == set(TASK_NAMES)
    assert os.path.exists(tmp_path / "run" / "metrics.json")


@pytest.mark.parametrize("method", ["stl", "stvib", "gs", "mtvib", "gradnorm", "mgda",
                                    "pareto_mtl"])
def test_every_method_runs_with_four_tasks(mini, tmp_path, method):
    """Every method of the methods issue on MTFL's four tasks (uwl: the test above);
    Pareto MTL with 4-D preference vectors."""
    from mtl_tf.config import RunConfig
    from mtl_tf.orchestration.runs import run

    metrics = run(RunConfig(method=method, dataset="mtfl", data_dir=mini[1], train_size=0,
                            test_size=0, epochs=1, batch_size=8, backbone="small_alexnet",
                            num_preferences=5, preference_index=3, etas=(0.0, 0.1),
                            verbose=0, output_dir=str(tmp_path / method)))
    tasks_seen = {t for model in metrics["models"] for t in model["accuracy"]}
    assert tasks_seen == set(TASK_NAMES)
    for model in metrics["models"]:
        assert all(np.isfinite(v) for v in model["loss"].values())
        assert set(model["robustness"]["accuracy"]["0.1"]) == set(model["accuracy"])
    if method == "pareto_mtl":
        (model,) = metrics["models"]
        assert len(model["preference"]) == 4 and model["preference_index"] == 3
        np.testing.assert_allclose(np.linalg.norm(model["preference"]), 1.0, rtol=1e-6)
    if method in ("stl", "stvib"):
        assert len(metrics["models"]) == 4
