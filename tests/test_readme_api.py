"""The README's Python API snippet ("Use it on your own data", issue #18 item 6), run
exactly as printed, in a fresh directory; and `from_tf_data`'s own checks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from mtl_tf.data import from_tf_data
from mtl_tf.tasks import TaskSpec

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readme_snippet() -> str:
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("## Use it on your own data", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the section holds one Python snippet"
    return blocks[0]


def test_the_readme_snippet_runs_as_printed(tmp_path):
    code = readme_snippet()
    assert 10 <= len(code.strip().splitlines()) <= 20  # "about a dozen lines"
    env = {**{k: v for k, v in os.environ.items() if k != "TF_CONFIG"}, "PYTHONPATH": ROOT}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "Test accuracy (uwl on pets" in result.stdout
    metrics = json.loads((tmp_path / "runs" / "pets" / "metrics.json").read_text())
    assert metrics["tasks"] == ["species", "weight"] and metrics["backbone"] == "mobilenet_v2_035"
    assert 0.0 <= metrics["accuracy"]["species"] <= 1.0
    assert os.path.isdir(tmp_path / "runs" / "pets" / "tensorboard")


def _pairs(n, batched=False, floats=True):
    rng = np.random.default_rng(0)
    x = rng.random((n, 8, 8, 1), dtype=np.float32)
    if not floats:
        x = (x * 255).astype(np.uint8)
    y = {"a": rng.integers(0, 2, n), "b": rng.random((n, 2), dtype=np.float32)}
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    return (ds.batch(3) if batched else ds), x, y


def test_from_tf_data_reads_batched_or_not_and_keeps_labels():
    tasks = (TaskSpec("a", "classification", 2), TaskSpec("b", "regression", 2))
    train, x, y = _pairs(10, batched=True)
    test, xt, _ = _pairs(4, floats=False)
    data = from_tf_data(tasks, train=train, test=test)
    assert data.input_shape == (8, 8, 1) and data.num_examples("train") == 10
    np.testing.assert_array_equal(data.train_images, np.rint(x * 255).astype(np.uint8))
    np.testing.assert_array_equal(data.test_images, xt)
    np.testing.assert_array_equal(data.labels("train")["a"], y["a"])
    np.testing.assert_allclose(data.labels("train")["b"], y["b"])
    assert data.val_images is None


def test_from_tf_data_refuses_what_does_not_fit():
    tasks = (TaskSpec("a", "classification", 2),)
    ds, _, _ = _pairs(4)
    with pytest.raises(ValueError, match=r"lack the tasks \['c'\]"):
        from_tf_data((TaskSpec("c", "classification", 2),), train=ds, test=ds)
    bad = tf.data.Dataset.from_tensor_slices((np.full((2, 4, 4, 1), 3.0, np.float32),
                                              {"a": np.zeros(2, np.int64)}))
    with pytest.raises(ValueError, match=r"uint8, or floats in \[0, 1\]"):
        from_tf_data(tasks, train=bad, test=bad)
    images_only = tf.data.Dataset.from_tensor_slices(np.zeros((2, 4, 4, 1), np.float32))
    with pytest.raises(ValueError, match=r"must yield \(image, \{task: label\}\) pairs"):
        from_tf_data(tasks, train=images_only, test=images_only)
