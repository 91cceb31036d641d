"""``--dataset=csv:PATH`` (issue #18 item 4): a folder of generated PNGs and a CSV whose
columns are the tasks. Labels (string and integer classes with their vocabulary,
regression numbers), the seeded or explicit split, images decoded and resized in
tf.data, every bad row and image reported with file and line before anything is
written, and main.py end to end: train -> export (class names) -> --mode=eval
--saved_model."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from mtl_tf.data.csv_data import load_csv_dataset
from mtl_tf.data.pipeline import split_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = os.path.join(ROOT, "main.py")
SPECIES = ("cat", "dog", "owl")


def make_folder(root, n: int = 60, size: int = 24, split: bool = False, seed: int = 0):
    """n PNGs in root/img/ and root/labels.csv: species (strings) drawn as a bright band
    at a species-specific row, legs (integers 2/4), weight (a number = mean brightness)."""
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(root, "img"), exist_ok=True)
    lines = ["image,species,legs,weight" + (",split" if split else "")]
    for i in range(n):
        species = int(rng.integers(0, 3))
        pixels = rng.integers(0, 60, (size, size, 3)).astype(np.uint8)
        pixels[4 + 6 * species: 8 + 6 * species] = 255
        name = f"img/{i:03d}.png"
        tf.io.write_file(os.path.join(root, name), tf.io.encode_png(pixels))
        legs = 2 if species == 2 else 4
        row = f"{name},{SPECIES[species]},{legs},{pixels.mean() / 255:.4f}"
        lines.append(row + (f",{'test' if i % 4 == 0 else 'train'}" if split else ""))
    path = os.path.join(root, "labels.csv")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


TASKS = ("species", "legs", "weight:regression")


def test_labels_vocabulary_and_seeded_split(tmp_path):
    path = make_folder(tmp_path)
    data = load_csv_dataset(path, TASKS, test_size=12, val_size=6, seed=1)
    species, legs, weight = data.tasks
    assert (species.kind, species.size, species.class_names) == ("classification", 3, SPECIES)
    assert (legs.size, legs.class_names) == (2, ("2", "4"))  # integers, numeric order
    assert (weight.kind, weight.size, weight.loss) == ("regression", 1, "mse")
    assert data.num_examples("test") == 12 and data.num_examples("val") == 6
    assert data.num_examples("train") == 42 and data.input_shape == (24, 24, 3)
    rows = [line.split(",") for line in open(path).read().splitlines()[1:]]
    by_path = {os.path.join(str(tmp_path), r[0]): r for r in rows}
    for split in ("train", "test", "val"):
        labels = data.labels(split)
        for k, image in enumerate(getattr(data, f"{split}_images")):
            row = by_path[image]
            assert SPECIES[labels["species"][k]] == row[1]
            assert legs.class_names[labels["legs"][k]] == row[2]
            assert labels["weight"][k, 0] == pytest.approx(float(row[3]))
    # Disjoint splits, the same for the same seed, another for another seed.
    seen = [set(getattr(data, f"{s}_images")) for s in ("train", "test", "val")]
    assert sum(map(len, seen)) == len(set().union(*seen)) == 60
    again = load_csv_dataset(path, TASKS, test_size=12, val_size=6, seed=1)
    np.testing.assert_array_equal(again.test_images, data.test_images)
    other = load_csv_dataset(path, TASKS, test_size=12, val_size=6, seed=2)
    assert set(other.test_images) != set(data.test_images)


def test_split_column_and_train_size(tmp_path):
    path = make_folder(tmp_path, n=40, split=True)
    data = load_csv_dataset(path, ["species"], train_size=20)
    assert data.num_examples("test") == 10 and data.num_examples("train") == 20
    assert data.val_images is None


def test_images_are_decoded_and_resized_in_tf_data(tmp_path):
    path = make_folder(tmp_path, n=20, size=30)
    data = load_csv_dataset(path, ["species"], test_size=5, image_size=16)
    assert data.input_shape == (16, 16, 3)
    images, labels = next(iter(split_dataset(data, "test", [0], 5, shuffle=False, seed=0)))
    assert images.shape == (5, 16, 16, 3) and images.dtype == tf.float32
    assert 0.0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 1.0
    assert labels["species"].dtype == tf.int32
    native = load_csv_dataset(path, ["species"], test_size=5)
    images, _ = next(iter(split_dataset(native, "test", [0], 5, shuffle=False, seed=0)))
    first = tf.io.decode_png(tf.io.read_file(native.test_images[0])).numpy()
    np.testing.assert_array_equal(np.rint(images[0].numpy() * 255).astype(np.uint8), first)


@pytest.mark.parametrize("edit, message", [
    (lambda rows: rows.__setitem__(3, rows[3] + ",extra"), "labels.csv:4: 5 fields, but the "
     "header has 4"),
    (lambda rows: rows.__setitem__(5, ",".join(["img/004.png", "", *rows[5].split(",")[2:]])),
     "labels.csv:6: column 'species' is empty"),
    (lambda rows: rows.__setitem__(7, rows[7].rsplit(",", 1)[0] + ",heavy"),
     "labels.csv:8: column 'weight' (regression) holds 'heavy', not a finite number"),
    (lambda rows: rows.__setitem__(9, rows[9].replace("img/", "gone/")),
     "labels.csv:10: image {root}/gone/008.png does not exist"),
    (lambda rows: rows.__setitem__(0, "picture,species,legs,weight"),
     "labels.csv:1: no column image in the header"),
])
def test_bad_rows_name_file_and_line(tmp_path, edit, message):
    path = make_folder(tmp_path, n=12)
    rows = open(path).read().splitlines()
    edit(rows)
    open(path, "w").write("\n".join(rows) + "\n")
    with pytest.raises((ValueError, FileNotFoundError)) as raised:
        load_csv_dataset(path, TASKS, test_size=3)
    assert message.format(root=str(tmp_path)) in str(raised.value)


def test_a_broken_image_is_reported_with_its_line(tmp_path):
    path = make_folder(tmp_path, n=12)
    with open(os.path.join(tmp_path, "img", "004.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(ValueError, match=r"labels.csv:6: image .*004.png .*TensorFlow cannot "
                                         r"decode it"):
        load_csv_dataset(path, TASKS, test_size=3)


def _main(*args):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    return subprocess.run([sys.executable, MAIN, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_bad_csv_through_main_is_one_line_and_writes_nothing(tmp_path):
    path = make_folder(tmp_path, n=12)
    os.remove(os.path.join(tmp_path, "img", "010.png"))
    out = tmp_path / "run"
    result = _main(f"--dataset=csv:{path}", "--tasks=species", "--test_size=3",
                   "--backbone=lenet", f"--output_dir={out}", "--export_dir=")
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {path}:12: image {tmp_path}/img/010.png does not exist; fix "
                      "the path or the file"], result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


def test_main_trains_exports_and_serves_a_csv_folder(tmp_path):
    path = make_folder(tmp_path / "data", n=60)
    run, export = tmp_path / "run", tmp_path / "export"
    common = [f"--dataset=csv:{path}", "--tasks=species,legs,weight:regression",
              "--test_size=12", "--image_size=24", "--backbone=lenet", "--etas=0,0.1"]
    result = _main(*common, "--epochs=2", "--batch_size=16",
                   "--learning_rate=1e-2", "--verbose=0", f"--output_dir={run}",
                   f"--export_dir={export}")
    assert result.returncode == 0, result.stderr
    assert "use blank images" not in result.stderr  # the warm-up read the test split
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["tasks"] == ["species", "legs", "weight"]
    version = export / "gs" / "1"
    assert json.loads((version / "assets.extra" / "class_names.json").read_text()) == {
        "species": list(SPECIES), "legs": ["2", "4"]}
    served = tf.saved_model.load(str(version))
    outputs = served.signatures["serving_default"](image=tf.zeros((2, 24, 24, 3)))
    assert set(outputs["species_class_name"].numpy()) <= {s.encode() for s in SPECIES}
    assert outputs["weight_prediction"].shape == (2, 1)
    scored = _main("--mode=eval", f"--saved_model={version}", *common,
                   f"--output_dir={tmp_path / 'served'}")
    assert scored.returncode == 0, scored.stderr
    result = json.loads((tmp_path / "served" / "saved_model_eval.json").read_text())
    assert result["accuracy"]["species"] == pytest.approx(metrics["accuracy"]["species"],
                                                          abs=1 / 12 + 1e-9)
    # The served regression head is attacked and scored as one: by its error.
    assert set(result["robustness"]["accuracy"]["0"]) == {"species", "legs"}
    for eta in ("0", "0.1"):
        assert result["robustness"]["error"][eta]["weight"] == pytest.approx(
            metrics["robustness"]["error"][eta]["weight"], rel=1e-3, abs=1e-4)
