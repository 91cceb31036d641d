"""keras.applications backbones as the shared encoder (issue #18 item 5): built by name,
pooled and projected (deterministic and VIB), preprocessed as the application expects,
resized when needed, BatchNorm momentum of the run, ImageNet weights refused in one line
when they cannot be downloaded, and a tiny run through main.py: train, export, serve."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from mtl_tf.config import RunConfig
from mtl_tf.models import build_encoder, build_network, encoder_feature_dim
from mtl_tf.models.applications import (
    APPLICATIONS,
    PROJECTION_DIM,
    ApplicationPreprocess,
    application_input_size,
)
from mtl_tf.training.trainer import MultiTaskTrainer
from mtl_tf.weighting import build_weighting

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = os.path.join(ROOT, "main.py")
SMALL = "mobilenet_v2_035"  # MobileNetV2, width 0.35: the cheapest application


@pytest.mark.parametrize("backbone", sorted(APPLICATIONS))
def test_every_application_builds_a_pooled_projected_encoder(backbone):
    enc, heads = build_network(backbone=backbone, encoder="deterministic",
                               input_shape=(32, 32, 3), num_classes=(3, 4),
                               task_names=("a", "b"))
    x = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    z = enc(x, training=False)["z"]
    assert tuple(z.shape) == (2, PROJECTION_DIM)
    assert encoder_feature_dim(backbone=backbone, encoder="deterministic") == PROJECTION_DIM
    assert float(np.min(z)) >= 0.0  # the projection ends in ReLU
    # The application is the trunk: it holds nearly all of the encoder's parameters.
    trunk = [layer for layer in enc.layers if isinstance(layer, keras.Model)]
    assert len(trunk) == 1 and trunk[0].count_params() > 0.5 * enc.count_params()
    # Heads are linear on z (the application is deep already).
    assert tuple(heads["b"](z).shape) == (2, 4)
    assert [type(layer).__name__ for layer in heads["b"].layers] == ["InputLayer", "Dense"]


def test_vib_encoder_on_an_application_samples_in_training_only():
    enc = build_encoder(backbone=SMALL, encoder="vib", input_shape=(32, 32, 3), latent_dim=16)
    x = np.random.default_rng(1).random((3, 32, 32, 3), dtype=np.float32)
    inference = enc(x, training=False)
    np.testing.assert_array_equal(inference["z"].numpy(), inference["mean"].numpy())
    sampled = enc(x, training=True)
    assert tuple(sampled["z"].shape) == (3, 16)
    assert not np.allclose(sampled["z"].numpy(), sampled["mean"].numpy())


def test_grey_small_images_are_resized_to_the_minimum_and_made_rgb():
    # MultiMNIST-sized grey images: 28 < 32, MobileNetV2's minimum side.
    assert application_input_size(SMALL, (28, 28, 1)) == (32, 32)
    assert application_input_size(SMALL, (16, 64, 3)) == (32, 128)  # aspect ratio kept
    assert application_input_size(SMALL, (150, 150, 3)) == (150, 150)  # no resize needed
    assert application_input_size(SMALL, (36, 36, 1), image_size=96) == (96, 96)
    enc = build_encoder(backbone=SMALL, encoder="deterministic", input_shape=(28, 28, 1))
    assert enc.get_layer("resize").output.shape[1:3] == (32, 32)
    assert enc.get_layer("preprocess").output.shape[-1] == 3
    unresized = build_encoder(backbone=SMALL, encoder="deterministic", input_shape=(36, 36, 1))
    assert "resize" not in [layer.name for layer in unresized.layers]
    sized = build_encoder(backbone=SMALL, encoder="deterministic", input_shape=(36, 36, 1),
                          image_size=64)
    assert sized.get_layer("resize").output.shape[1:3] == (64, 64)


@pytest.mark.parametrize("backbone", ["resnet50", "mobilenet_v2", "efficientnet_b0"])
def test_preprocessing_is_the_applications_own_on_0_255_pixels(backbone):
    x = np.random.default_rng(2).random((2, 8, 8, 3), dtype=np.float32)
    ours = ApplicationPreprocess(backbone)(x).numpy()
    module = getattr(keras.applications, APPLICATIONS[backbone].module)
    np.testing.assert_allclose(ours, module.preprocess_input(x * 255.0), rtol=1e-5, atol=1e-4)
    if backbone == "resnet50":  # caffe: BGR, ImageNet means subtracted
        np.testing.assert_allclose(ours[..., 0], x[..., 2] * 255.0 - 103.939, atol=1e-3)
    if backbone == "mobilenet_v2":  # [-1, 1]
        np.testing.assert_allclose(ours, x * 2.0 - 1.0, atol=1e-5)
    grey = ApplicationPreprocess(backbone)(x[..., :1]).numpy()
    assert grey.shape == (2, 8, 8, 3)


def test_the_applications_batchnorm_uses_the_runs_momentum():
    enc = build_encoder(backbone=SMALL, encoder="deterministic", input_shape=(32, 32, 3),
                        bn_momentum=0.8)
    trunk = next(layer for layer in enc.layers if isinstance(layer, keras.Model))
    momenta = {layer.momentum for layer in trunk.layers
               if isinstance(layer, keras.layers.BatchNormalization)}
    # MobileNetV2's own is 0.999: a briefly trained model would be at chance in inference.
    assert momenta == {0.8}
    x = np.random.default_rng(3).random((4, 32, 32, 3), dtype=np.float32)
    bn = next(layer for layer in trunk.layers
              if isinstance(layer, keras.layers.BatchNormalization))
    before = bn.moving_mean.numpy().copy()
    enc(x, training=True)
    moved = bn.moving_mean.numpy() - before
    assert np.abs(moved).max() > 0


@pytest.mark.parametrize("encoder", ["deterministic", "vib"])
def test_gradnorm_finds_the_projection_as_last_shared_layer(encoder):
    enc, heads = build_network(backbone=SMALL, encoder=encoder, input_shape=(32, 32, 3),
                               num_classes=(2, 2), task_names=("a", "b"), latent_dim=8)
    trainer = MultiTaskTrainer(enc, heads, build_weighting("gradnorm", 2, RunConfig()))
    assert trainer.last_shared_kernel() is enc.get_layer(f"fc1_{PROJECTION_DIM}").kernel


def test_paper_backbones_refuse_application_options():
    with pytest.raises(ValueError, match="keras.applications"):
        build_encoder(backbone="lenet", encoder="deterministic", input_shape=(36, 36, 1),
                      weights="imagenet")


def _main(*args, env=None, timeout=600):
    base = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    return subprocess.run([sys.executable, MAIN, *args], cwd=ROOT, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=timeout)


def test_flags_refuse_application_options_on_a_paper_backbone(tmp_path):
    result = _main("--backbone_weights=imagenet", f"--output_dir={tmp_path / 'run'}")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[-1]] and lines[0].startswith("error: ")
    assert "--backbone_weights=imagenet applies to the keras.applications backbones" in lines[0]
    assert not (tmp_path / "run").exists()


def test_imagenet_weights_offline_is_one_line(tmp_path):
    # Offline for certain: an empty Keras cache and a proxy that refuses connections.
    env = {"KERAS_HOME": str(tmp_path / "keras"), "HTTPS_PROXY": "http://127.0.0.1:9",
           "https_proxy": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
           "http_proxy": "http://127.0.0.1:9"}
    result = _main(f"--backbone={SMALL}", "--backbone_weights=imagenet", "--epochs=1",
                   "--train_size=20", "--test_size=20", "--export_dir=",
                   f"--output_dir={tmp_path / 'run'}", env=env)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1
    assert errors[0].startswith(f"error: --backbone_weights=imagenet: could not download the "
                                f"imagenet weights of {SMALL}")
    assert errors[0].endswith("or use --backbone_weights=none")
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_main_trains_exports_and_serves_an_application_backbone(tiny_idx_dir, tmp_path):
    run, export = tmp_path / "run", tmp_path / "export"
    result = _main(f"--data_dir={tiny_idx_dir}", "--train_size=200", "--test_size=50",
                   "--batch_size=50", "--epochs=1", f"--backbone={SMALL}",
                   "--etas=0", "--verbose=0",
                   f"--output_dir={run}", f"--export_dir={export}")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["backbone"] == SMALL and metrics["encoder"] == "deterministic"
    assert 0.0 <= metrics["joint_accuracy"] <= 1.0
    config = json.loads((run / "config.json").read_text())
    assert (config["backbone_weights"], config["backbone_image_size"]) == ("none", 0)
    served = _main("--mode=eval", f"--saved_model={export / 'gs' / '1'}",
                   f"--data_dir={tiny_idx_dir}", "--train_size=200", "--test_size=50",
                   "--etas=0", f"--output_dir={tmp_path / 'served'}")
    assert served.returncode == 0, served.stderr
    scored = json.loads((tmp_path / "served" / "saved_model_eval.json").read_text())
    for task, accuracy in metrics["accuracy"].items():
        assert abs(scored["accuracy"][task] - accuracy) <= 1 / 50 + 1e-9
