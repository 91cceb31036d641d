"""Tests for --mtfl_framing (mtl_tf.data.mtfl_framing): MTFL training images cropped per
image group to frame faces like the test crops, on the miniature MTFL of tests/test_mtfl.py
(three training groups: lfw_5590 250x250, net_7876 400x400 and net_7876 160x216)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from mtl_tf.config import RunConfig
from mtl_tf.data.mtfl import load_mtfl
from mtl_tf.data.mtfl_annotations import MtflRecord, parse_annotations
from mtl_tf.data.mtfl_framing import (
    TEST_EYE_DISTANCE_OVER_SIDE,
    crop_boxes,
    framing_groups,
)
from mtl_tf.data.mtfl_landmarks import landmark_targets
from mtl_tf.run_dir.rules import RunDirConflictError, check_same_run, config_dict
from tests.test_cli import _without_tensorflow
from tests.test_mtfl import _annotation_text, write_mini_mtfl

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = {("lfw_5590", 250, 250), ("net_7876", 400, 400), ("net_7876", 160, 216)}


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    """A miniature MTFL whose images are noise (a flat image looks the same cropped)."""
    root = os.path.join(str(tmp_path_factory.mktemp("mtfl_framing")), "mtfl")
    train, test, _ = write_mini_mtfl(root)
    rng = np.random.default_rng(0)
    for r in train + test:
        path = os.path.join(root, r.path)
        height, width = tf.io.decode_jpeg(tf.io.read_file(path)).shape[:2]
        pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
        with open(path, "wb") as f:
            f.write(tf.io.encode_png(pixels).numpy())  # lossless: decode == pixels
    return root, train, test


def _load(root: str, **kwargs):
    args = dict(train_size=0, test_size=0, image_size=30, tasks=["landmarks", "gender"],
                framing="test")
    return load_mtfl(root, **{**args, **kwargs})


def _images(data, split: str) -> np.ndarray:
    ds = data.make_split_dataset(split, [0, 1], 64, shuffle=False, seed=0)
    return np.concatenate([x.numpy() for x, _ in ds])


def _expected(path: str, size: int, box=None) -> np.ndarray:
    """decode -> crop -> resize(bilinear, antialias) -> round to uint8, by hand."""
    image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
    if box is not None:
        x0, y0, side = (int(v) for v in box)
        image = image[y0:y0 + side, x0:x0 + side]
    image = tf.image.resize(image, (size, size), method="bilinear", antialias=True)
    pixels = np.clip(np.round(image.numpy()), 0, 255).astype(np.uint8)
    return pixels.astype(np.float32) / np.float32(255.0)  # as the pipeline scales them


def test_boxes_come_from_training_annotations_one_square_per_group_inside(mini, tmp_path):
    root, train, test = mini
    data = _load(root)
    groups = data.framing["groups"]
    assert {(g["folder"], g["width"], g["height"]) for g in groups} == SIZES
    assert data.framing["eye_distance_over_side"] == TEST_EYE_DISTANCE_OVER_SIDE == 0.296
    assert data.framing["cropped_splits"] == ["train"]
    for g in groups:
        box = g["box"]
        assert 0 <= box["x0"] and box["x0"] + box["side"] <= g["width"]
        assert 0 <= box["y0"] and box["y0"] + box["side"] <= g["height"]
        members = [r for r in train if r.path.startswith(g["folder"] + "/")
                   and (("/_" in r.path) == (g["width"] == 160))]
        p = np.array([r.landmarks for r in members])
        assert g["images"] == len(members)
        assert g["centre"] == pytest.approx([p[:, :5].mean(), p[:, 5:].mean()], abs=1e-3)
        eye = np.hypot(p[:, 0] - p[:, 1], p[:, 5] - p[:, 6]).mean()
        assert g["eye_distance"] == pytest.approx(eye, abs=1e-3)
        want = min(round(eye / 0.296), g["width"], g["height"])
        assert box["side"] == want
    # Every training image gets its group's box: one constant per group.
    per_image = {tuple(b) for b in data.crops["train"]}
    assert per_image == {(g["box"]["x0"], g["box"]["y0"], g["box"]["side"]) for g in groups}
    assert "test" not in data.crops

    # Moving every test landmark changes no box.
    copy = str(tmp_path / "mtfl")
    shutil.copytree(root, copy)
    moved = [dataclasses.replace(r, landmarks=tuple(v * 0.5 + 3 for v in r.landmarks))
             for r in parse_annotations(os.path.join(copy, "testing.txt"))]
    with open(os.path.join(copy, "testing.txt"), "wb") as f:
        f.write(_annotation_text(moved, backslashes=False))
    again = _load(copy)
    assert again.framing == data.framing
    assert not np.allclose(again.test_labels["landmarks"], data.test_labels["landmarks"])


def test_training_images_are_cropped_then_resized_and_test_images_are_not(mini):
    root, _, _ = mini
    data = _load(root, val_size=4, train_size=18)
    assert data.framing["cropped_splits"] == ["train", "val"]
    for split in ("train", "val"):
        got = _images(data, split)
        boxes = data.crops[split]
        for i, path in enumerate(getattr(data, f"{split}_images")):
            np.testing.assert_array_equal(got[i], _expected(path, 30, boxes[i]))
    # The crop really changed the input (noise images: any true crop differs); the
    # lfw_5590 box of the miniature's scattered landmarks is the whole image.
    boxes, paths, got = data.crops["train"], data.train_images, _images(data, "train")
    shapes = [tf.io.decode_jpeg(tf.io.read_file(p)).shape[:2] for p in paths]
    cropped = [i for i, (h, w) in enumerate(shapes) if boxes[i][2] < max(h, w)]
    assert {shapes[i] for i in cropped} == {(400, 400), (216, 160)}
    for i in cropped:
        assert not np.array_equal(got[i], _expected(paths[i], 30))
    test = _images(data, "test")
    for i, path in enumerate(data.test_images):
        np.testing.assert_array_equal(test[i], _expected(path, 30))
    # Without framing nothing is cropped (today's behaviour).
    plain = _load(root, framing="none", val_size=4, train_size=18)
    assert plain.crops == {} and plain.framing is None
    np.testing.assert_array_equal(_images(plain, "train")[0],
                                  _expected(plain.train_images[0], 30))


def test_landmark_targets_follow_the_crop_exactly():
    # Two lfw_5590 250x250 records: mean eye distance 29.6 px -> side 100; mean centre
    # (125, 125) -> box x0 = y0 = 75.
    def record(dx: float) -> MtflRecord:
        xs = (110.2 + dx, 139.8 + dx, 125.0, 115.0 - dx, 135.0 - dx)  # mean x 125
        ys = (115.0, 115.0, 125.0, 135.0, 135.0)  # mean y 125
        return MtflRecord(f"lfw_5590/a{dx}.jpg", xs + ys, gender=1, smile=1, glasses=1,
                          pose=3)

    records = [record(0.0), record(5.0)]
    sizes = [(250, 250)] * 2
    (group,) = framing_groups(records, sizes)
    assert group.eye_distance == pytest.approx(29.6)
    assert (group.box.x0, group.box.y0, group.box.side) == (75, 75, 100)
    boxes = crop_boxes(records, sizes, [group])
    targets = landmark_targets("/nowhere", records, boxes)  # no file read with boxes
    # The nose, at the crop's centre (125, 125), is at (0.5, 0.5) of the input: target 0.
    assert targets[0, 2] == pytest.approx(0.0) and targets[0, 7] == pytest.approx(0.0)
    # x' = (x - x0) / s, centred: (110.2 - 75) / 100 - 0.5 = -0.148.
    np.testing.assert_allclose(targets[0, :5], (np.array(records[0].landmarks[:5]) - 75) / 100
                               - 0.5, atol=1e-6)
    assert targets[1, 0] == pytest.approx((115.2 - 75) / 100 - 0.5)
    assert targets[0, 5] == pytest.approx((115.0 - 75) / 100 - 0.5)


def test_box_is_shrunk_and_shifted_to_fit_the_image():
    near_corner = MtflRecord("net_7876/_x.jpg", (10.0, 40.0, 25.0, 15.0, 35.0) +
                             (20.0, 20.0, 30.0, 40.0, 40.0), gender=1, smile=1, glasses=1,
                             pose=3)
    (group,) = framing_groups([near_corner], [(160, 216)])
    # side 30 / 0.296 = 101 fits; centred at (25, 30) it would start at negative
    # coordinates, so it is shifted to the corner, keeping its side.
    assert (group.box.x0, group.box.y0, group.box.side) == (0, 0, 101)
    wide = dataclasses.replace(near_corner, landmarks=(0.0, 100.0, 50.0, 20.0, 80.0) +
                               (100.0,) * 5)
    (group,) = framing_groups([wide], [(160, 216)])
    assert group.box.side == 160 and group.box.x0 == 0  # 100 / 0.296 > 160: shrunk
    assert 0 <= group.box.y0 <= 216 - 160


def test_a_run_with_another_framing_is_another_run(tmp_path):
    config = RunConfig(dataset="mtfl", output_dir=str(tmp_path))
    with open(tmp_path / "config.json", "w") as f:
        json.dump(config_dict(config), f)
    check_same_run(str(tmp_path), config)
    with pytest.raises(RunDirConflictError, match="mtfl_framing: 'none' -> 'test'"):
        check_same_run(str(tmp_path), dataclasses.replace(config, mtfl_framing="test"))


def test_framing_with_another_dataset_is_one_line_exit_2(tmp_path):
    out = tmp_path / "run"
    result = _without_tensorflow(tmp_path, "--dataset=multi_mnist", "--mtfl_framing=test",
                                 f"--output_dir={out}")
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.splitlines() == [
        "error: --mtfl_framing=test applies to --dataset=mtfl only, not "
        "--dataset=multi_mnist; unset it"]
    assert not out.exists() and result.stdout == ""


def test_cli_run_with_framing_trains_records_boxes_and_exports(mini, tmp_path):
    root, _, _ = mini
    out, export_dir = tmp_path / "run", tmp_path / "models"

    def main(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, os.path.join(ROOT, "main.py"), *args],
                              cwd=ROOT, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
                              capture_output=True, text=True, timeout=600)

    result = main("--method=gs", "--dataset=mtfl", f"--data_dir={root}",
                  "--tasks=landmarks,gender", "--mtfl_framing=test", "--image_size=36",
                  "--train_size=0", "--test_size=0", "--epochs=1", "--batch_size=8",
                  "--backbone=lenet", "--etas=0", "--verbose=0", f"--output_dir={out}",
                  f"--export_dir={export_dir}")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert sum("mtfl framing: " in line for line in result.stderr.splitlines()) == 3
    metrics = json.loads((out / "metrics.json").read_text())
    assert {(g["folder"], g["width"], g["height"])
            for g in metrics["data_framing"]["groups"]} == SIZES
    assert json.loads((out / "config.json").read_text())["mtfl_framing"] == "test"
    assert np.isfinite(metrics["error"]["landmarks"]["nme"])
    (name,) = [n for n in os.listdir(export_dir) if n != "models.config"]
    loaded = tf.saved_model.load(str(export_dir / name / "1"))
    served = loaded.signatures["serving_default"](image=tf.zeros((2, 36, 36, 3)))
    assert served["landmarks_prediction"].shape == (2, 10)

    # Re-scoring the finished run reads the same (uncropped) test images: same numbers,
    # and the record of what was cropped is kept.
    result = main("--eval_only", f"--run_dir={out}", "--etas=0")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    rescored = json.loads((out / "metrics.json").read_text())
    assert rescored["error"]["landmarks"]["nme"] == pytest.approx(
        metrics["error"]["landmarks"]["nme"], rel=1e-5)
    assert rescored["data_framing"] == metrics["data_framing"]
