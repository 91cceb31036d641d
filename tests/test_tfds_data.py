"""``--dataset=tfds:NAME`` (issue #18 item 4), offline: a tiny tensorflow-datasets builder
that the test defines, prepares in a temporary folder and then reads by name (through
main.py too, which has never seen the builder's code: a prepared folder describes
itself). Tasks chosen among its features with their types, checked with clear lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

from mtl_tf.data.tfds_data import load_tfds_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = os.path.join(ROOT, "main.py")
NAME = "mtl_tiny_faces"


class MtlTinyFaces(tfds.core.GeneratorBasedBuilder):
    """20x20 RGB 'faces': smile (ClassLabel no/yes, a bright band when yes), pose (an
    integer 0/1/2), age (a float), box (4 floats), and a nested attributes dict."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(20, 20, 3)),
            "smile": tfds.features.ClassLabel(names=["no", "yes"]),
            "pose": tfds.features.Scalar(dtype=np.int64),
            "age": tfds.features.Scalar(dtype=np.float32),
            "box": tfds.features.Tensor(shape=(4,), dtype=np.float32),
            "attributes": {"glasses": tfds.features.ClassLabel(num_classes=2)},
            "note": tfds.features.Text(),
        }))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(0, 48), "test": self._generate_examples(1, 16)}

    def _generate_examples(self, seed, n):
        rng = np.random.default_rng(seed)
        for i in range(n):
            image = rng.integers(0, 60, (20, 20, 3), dtype=np.uint8)
            smile = int(rng.integers(0, 2))
            image[8:12] = 255 * smile
            yield i, {"image": image, "smile": smile, "pose": int(3 * (i % 3) + 1),
                      "age": float(20 + i), "box": np.full(4, i / n, np.float32),
                      "attributes": {"glasses": int(i % 2)}, "note": f"face {i}"}


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp("tfds"))
    MtlTinyFaces(data_dir=root).download_and_prepare()
    return root


def test_tasks_from_features_with_their_types(tfds_dir):
    data = load_tfds_dataset(NAME, ["smile", "pose", "age:regression", "box:regression:l1",
                                    "attributes/glasses"], data_dir=tfds_dir)
    smile, pose, age, box, glasses = data.tasks
    assert (smile.size, smile.class_names) == (2, ("no", "yes"))  # ClassLabel names kept
    assert (pose.size, pose.class_names) == (3, ("1", "4", "7"))  # integer values -> ids
    assert (age.kind, age.size, age.loss) == ("regression", 1, "mse")
    assert (box.size, box.loss) == (4, "l1")
    assert glasses.name == "attributes_glasses" and glasses.size == 2
    assert data.num_examples("train") == 48 and data.num_examples("test") == 16
    assert data.input_shape == (20, 20, 3) and data.train_images.dtype == np.uint8
    train = data.labels("train")
    # tfds stores examples in its own order: example i has age 20 + i, pose value
    # 3 (i % 3) + 1, i.e. class id i % 3.
    index = train["age"][:, 0].astype(int) - 20
    np.testing.assert_array_equal(np.sort(index), np.arange(48))
    np.testing.assert_array_equal(train["pose"], index % 3)
    np.testing.assert_allclose(train["box"], np.repeat(index[:, None] / 48, 4, axis=1),
                               rtol=1e-6)
    # The smile band is in the images: the labels line up with them.
    bright = data.train_images[:, 8:12].mean(axis=(1, 2, 3)) > 200
    np.testing.assert_array_equal(bright, train["smile"] == 1)


def test_test_only_reads_the_same_test_split_and_no_training_examples(tfds_dir):
    tasks = ["smile", "box:regression"]
    full = load_tfds_dataset(NAME, tasks, data_dir=tfds_dir)
    test = load_tfds_dataset(NAME, tasks, data_dir=tfds_dir, test_only=True)
    assert test.num_examples("train") == 0 and test.labels("train")["box"].shape == (0, 4)
    np.testing.assert_array_equal(test.test_images, full.test_images)
    np.testing.assert_array_equal(test.labels("test")["box"], full.labels("test")["box"])


def test_defaults_sizes_and_resizing(tfds_dir):
    data = load_tfds_dataset(NAME, None, data_dir=tfds_dir, train_size=10, test_size=5,
                             image_size=32)
    assert data.task_names == ("smile",)  # every top-level ClassLabel
    assert data.num_examples("train") == 10 and data.num_examples("test") == 5
    assert data.train_images.shape == (10, 32, 32, 3)


@pytest.mark.parametrize("tasks, message", [
    (["mood"], "feature 'mood' of tfds:mtl_tiny_faces is not a label feature of it"),
    (["age"], "is not a ClassLabel or an integer scalar; a numeric feature is a regression: "
              "--tasks=age:regression"),
    (["note"], "feature 'note' of tfds:mtl_tiny_faces is text, not numbers"),
    (["smile:ordinal"], "the kind must be classification or regression, not 'ordinal'"),
])
def test_bad_task_choices_are_one_clear_line(tfds_dir, tasks, message):
    with pytest.raises(ValueError) as raised:
        load_tfds_dataset(NAME, tasks, data_dir=tfds_dir)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_unknown_or_unprepared_names_say_how_to_fix(tfds_dir, tmp_path):
    with pytest.raises(ValueError, match="no such tensorflow-datasets data set"):
        load_tfds_dataset("no_such_set_xyz", None, data_dir=tfds_dir)
    with pytest.raises(ValueError, match=r"is not prepared in .*--data_source=tfds to "
                                         r"download and prepare it"):
        load_tfds_dataset("mnist", None, data_dir=str(tmp_path))


def test_main_trains_on_a_tfds_set_by_name(tfds_dir, tmp_path):
    run, export = tmp_path / "run", tmp_path / "export"
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    result = subprocess.run(
        [sys.executable, MAIN, f"--dataset=tfds:{NAME}", f"--data_dir={tfds_dir}",
         "--tasks=smile,age:regression", "--train_size=0", "--test_size=0",
         "--image_size=24", "--backbone=lenet", "--method=uwl", "--epochs=1",
         "--batch_size=16", "--etas=0,0.1", "--verbose=0", f"--output_dir={run}",
         f"--export_dir={export}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "use blank images" not in result.stderr  # the warm-up read the test split
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["tasks"] == ["smile", "age"] and metrics["dataset"] == f"tfds:{NAME}"
    assert json.loads((export / "uwl" / "1" / "assets.extra" / "class_names.json")
                      .read_text()) == {"smile": ["no", "yes"]}
