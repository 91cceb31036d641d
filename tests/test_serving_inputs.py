"""The exported serving signatures refuse pixels they were not trained on.

`serving_default` takes float32 in [0, 1]. A NaN or infinite pixel used to get
normal-looking probabilities and 0..255 floats (or -1e6, 1e30) class 0 at probability
1.0; now each is an InvalidArgumentError (INVALID_ARGUMENT over TF Serving) saying what
is allowed and pointing 0..255 clients to `serving_uint8`. Real export, real loading,
and the graph-mode loader TF Serving uses (`saved_model_cli run`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtl_tf.export import export_model
from mtl_tf.export.saved_model import FLOAT_INPUT_POLICY, _check_unit_range
from mtl_tf.models import build_network
from mtl_tf.training.trainer import MultiTaskTrainer
from mtl_tf.weighting.fixed import FixedWeighting

TASKS = ["top_left", "bottom_right"]
SHAPE = (36, 36, 1)
OUTPUTS = [f"{t}_{k}" for t in TASKS for k in ("probabilities", "class_id")]


@pytest.fixture(scope="module")
def trainer() -> MultiTaskTrainer:
    """A tiny LeNet after one real training step (non-trivial BatchNorm statistics)."""
    keras.utils.set_random_seed(0)
    enc, heads = build_network(backbone="lenet", encoder="deterministic", input_shape=SHAPE,
                               num_classes=[10, 10], task_names=TASKS)
    trainer = MultiTaskTrainer(enc, heads, FixedWeighting(2))
    trainer.compile(optimizer=keras.optimizers.Adam(1e-2))
    rng = np.random.default_rng(0)
    trainer.fit(rng.random((16, *SHAPE), dtype=np.float32),
                {t: rng.integers(0, 10, 16) for t in TASKS}, batch_size=16, epochs=1, verbose=0)
    return trainer


@pytest.fixture(scope="module")
def version_dir(trainer, tmp_path_factory) -> str:
    return export_model(trainer, str(tmp_path_factory.mktemp("export")), "gs")


@pytest.fixture(scope="module")
def loaded(version_dir):
    return tf.saved_model.load(version_dir)


def _good(n: int = 2) -> np.ndarray:
    return np.random.default_rng(1).random((n, *SHAPE), dtype=np.float32)


def _with(value: float, where: str) -> np.ndarray:
    image = _good()
    if where == "one pixel":
        image[1, 17, 9, 0] = value
    else:
        image[:] = value
    return image


def _reference(trainer, images: np.ndarray) -> dict[str, np.ndarray]:
    logits = trainer(tf.constant(images), training=False)
    out = {}
    for t in TASKS:
        out[f"{t}_probabilities"] = tf.nn.softmax(logits[t]).numpy()
        out[f"{t}_class_id"] = np.argmax(logits[t].numpy(), axis=-1)
    return out


@pytest.mark.parametrize(
    "value, where, detail",
    [
        (np.nan, "one pixel", "Tensor had NaN values"),
        (np.nan, "all", "Tensor had NaN values"),
        (np.inf, "all", "Tensor had Inf values"),
        (-np.inf, "one pixel", "Tensor had Inf values"),
        (255.0, "all", r"\[got min\] \[255\] \[max\] \[255\]"),
        (-1e6, "all", r"\[got min\] \[-1e\+06\]"),
        (1e30, "all", r"\[max\] \[1e\+30\]"),
        (1.0001, "one pixel", r"\[max\] \[1.0001"),
        (-1e-6, "one pixel", r"\[got min\] \[-1e-06\]"),
    ],
)
def test_bad_float_pixels_are_refused(loaded, value, where, detail):
    serve = loaded.signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        serve(image=tf.constant(_with(value, where)))
    message = info.value.message
    assert FLOAT_INPUT_POLICY in message
    assert "image must be finite float32 in [0, 1]; for 0..255 pixels use the serving_uint8 " \
           "signature" in message
    assert re.search(detail, message), message


def test_0_255_floats_used_to_be_class_0_at_probability_1(trainer):
    """Why the range check matters: the network itself saturates on 0..255 floats."""
    probabilities = _reference(trainer, _good() * 255.0)["top_left_probabilities"]
    assert probabilities.max(axis=-1).min() > 0.99


def test_good_inputs_still_give_the_model_answer(trainer, loaded):
    serve = loaded.signatures["serving_default"]
    for images in (_good(5), np.zeros((1, *SHAPE), np.float32),
                   np.ones((1, *SHAPE), np.float32),
                   np.concatenate([np.zeros((1, *SHAPE)), np.ones((1, *SHAPE))]).astype(
                       np.float32)):
        got = serve(image=tf.constant(images))
        expected = _reference(trainer, images)
        for name in OUTPUTS:
            np.testing.assert_allclose(got[name].numpy(), expected[name], atol=1e-5, rtol=0)
    # An empty batch has no pixel to be wrong (its min is +inf, its max -inf).
    check = tf.function(_check_unit_range)
    assert check(tf.zeros((0, *SHAPE))).shape == (0, *SHAPE)
    with pytest.raises(tf.errors.InvalidArgumentError, match="got min"):
        check(tf.fill((1, *SHAPE), 2.0))


def test_uint8_signature_takes_the_full_0_255_range(trainer, loaded):
    pixels = np.random.default_rng(2).integers(0, 256, (3, *SHAPE)).astype(np.uint8)
    pixels[0] = 0
    pixels[1] = 255
    got = loaded.signatures["serving_uint8"](image_uint8=tf.constant(pixels))
    expected = _reference(trainer, pixels.astype(np.float32) / 255.0)
    for name in OUTPUTS:
        np.testing.assert_allclose(got[name].numpy(), expected[name], atol=1e-5, rtol=0)


def _cli_run(version_dir: str, images: np.ndarray, tmp_path) -> subprocess.CompletedProcess:
    path = tmp_path / "batch.npy"
    np.save(path, images)
    return subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "saved_model_cli"), "run", "--dir",
         version_dir, "--tag_set", "serve", "--signature_def", "serving_default",
         "--inputs", f"image={path}"],
        capture_output=True, text=True, timeout=120, check=False,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )


def test_graph_mode_loader_enforces_the_policy_too(version_dir, tmp_path):
    """saved_model_cli loads the SavedModel into a session, as TF Serving does."""
    result = _cli_run(version_dir, _with(np.nan, "one pixel"), tmp_path)
    assert "InvalidArgumentError" in result.stderr
    assert f"{FLOAT_INPUT_POLICY} : Tensor had NaN values" in result.stderr
    assert "Result for output key" not in result.stdout
    result = _cli_run(version_dir, _good(), tmp_path)
    assert "Result for output key top_left_class_id" in result.stdout, result.stderr[-2000:]
