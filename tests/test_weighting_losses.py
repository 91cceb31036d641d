"""Uncertainty weighting (UWL, MTVIB) and GradNorm; STL/STVIB's one model per task."""

from __future__ import annotations

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtl_tf.config import RunConfig
from mtl_tf.data.pipeline import make_dataset
from mtl_tf.methods import get_method
from mtl_tf.models import build_network
from mtl_tf.orchestration import runs as run_lib
from mtl_tf.training.trainer import MultiTaskTrainer
from mtl_tf.weighting.gradnorm import GradNormWeighting
from mtl_tf.weighting.uncertainty import UncertaintyWeighting


def _trainer(weighting, encoder="deterministic"):
    keras.utils.set_random_seed(0)
    enc, heads = build_network(backbone="lenet", encoder=encoder, input_shape=(36, 36, 1),
                               num_classes=[10, 10], task_names=["top_left", "bottom_right"])
    trainer = MultiTaskTrainer(enc, heads, weighting, beta=1e-3 if encoder == "vib" else 0.0)
    trainer.compile(optimizer=keras.optimizers.Adam(3e-3))
    return trainer


def _batch(data, size=100):
    return next(iter(make_dataset(data.train_images, data.train_labels, data.task_names, size,
                                  shuffle=False, seed=0)))


def test_uncertainty_objective_is_mtvib_eq23():
    w = UncertaintyWeighting(2)
    w.log_variances.assign([np.log(4.0), 0.0])  # sigma^2 = 4 and 1
    np.testing.assert_allclose(w.compute_weights(tf.constant([1.0, 1.0])).numpy(), [0.25, 1.0])
    # s/2 = log sigma.
    np.testing.assert_allclose(float(w.regularization()), np.log(2.0), rtol=1e-6)


def test_uncertainty_converges_to_its_closed_form_optimum():
    """For fixed CE_k, exp(-s) CE + s/2 is minimised at s = log(2 CE)."""
    w = UncertaintyWeighting(2)
    losses = tf.constant([0.3, 2.0])
    opt = keras.optimizers.SGD(0.5)
    for _ in range(300):
        with tf.GradientTape() as tape:
            objective = tf.reduce_sum(w.compute_weights(losses) * losses) + w.regularization()
        opt.apply(tape.gradient(objective, [w.log_variances]), [w.log_variances])
    np.testing.assert_allclose(w.log_variances.numpy(), np.log(2 * losses.numpy()), atol=1e-3)


@pytest.mark.parametrize("encoder", ["deterministic", "vib"])  # uwl, mtvib
def test_uncertainty_training_lowers_loss_and_moves_the_weights(tiny_data, encoder):
    trainer = _trainer(UncertaintyWeighting(2), encoder)
    batch = _batch(tiny_data)
    logs = [trainer.train_on_batch(*batch, return_dict=True) for _ in range(25)]
    for task in ("top_left", "bottom_right"):
        assert logs[-1][f"{task}_loss"] < 0.6 * logs[0][f"{task}_loss"]
    s = trainer.weighting.log_variances.numpy()
    assert np.all(np.abs(s) > 1e-3), s  # learned, not stuck at the initial 0
    assert logs[-1]["top_left_weight"] == pytest.approx(float(np.exp(-s[0])), rel=0.2)
    if encoder == "vib":
        assert "kl" in logs[-1] and logs[-1]["kl"] > 0


def test_gradnorm_weights_stay_positive_sum_to_m_and_balance_gradients():
    w = GradNormWeighting(2, alpha=1.5, learning_rate=0.05)
    gram = tf.constant([[100.0, 0.0], [0.0, 1.0]])  # task 0's gradient is 10x larger
    losses = tf.constant([1.0, 1.0])
    history = []
    for _ in range(40):
        w.compute_weights(losses, gram)
        history.append(w.task_weights.numpy().copy())
    history = np.array(history)
    assert np.all(history > 0)
    np.testing.assert_allclose(history.sum(axis=1), 2.0, rtol=1e-5)
    # Equal training rates: the weighted norms w_k ||g_k|| move towards each other.
    assert history[-1][0] < 0.5 and history[-1][1] > 1.5, history[-1]


def test_gradnorm_favours_the_task_that_trains_slower():
    w = GradNormWeighting(2, alpha=1.5, learning_rate=0.05)
    gram = tf.eye(2)
    w.compute_weights(tf.constant([2.0, 2.0]), gram)  # records L(0)
    for _ in range(20):
        w.compute_weights(tf.constant([0.5, 1.5]), gram)  # task 1 lags behind
    weights = w.task_weights.numpy()
    assert weights[1] > weights[0], weights
    with pytest.raises(ValueError, match="--gradnorm_lr"):
        GradNormWeighting(2, learning_rate=0.0)


def test_gradnorm_trains_a_real_model(tiny_data):
    trainer = _trainer(GradNormWeighting(2))
    batch = _batch(tiny_data)
    logs = [trainer.train_on_batch(*batch, return_dict=True) for _ in range(20)]
    assert logs[-1]["loss"] < 0.6 * logs[0]["loss"]
    weights = trainer.weighting.task_weights.numpy()
    assert np.all(weights > 0) and weights.sum() == pytest.approx(2.0, rel=1e-5)


@pytest.mark.parametrize("method", ["stl", "stvib"])
def test_single_task_methods_train_one_model_per_task(tiny_data, tmp_path, method):
    config = RunConfig(method=method, backbone="lenet", epochs=1, batch_size=50, verbose=0,
                       learning_rate=3e-3, output_dir=str(tmp_path / method))
    metrics = run_lib.run(config, data=tiny_data)
    assert [m["name"] for m in metrics["models"]] == ["top_left", "bottom_right"]
    for model in metrics["models"]:
        assert list(model["accuracy"]) == [model["name"]]  # one task each
        ckpt = os.path.join(config.output_dir, "models", model["name"], "checkpoints")
        assert os.path.exists(os.path.join(ckpt, "checkpoint"))
    assert metrics["encoder"] == ("vib" if method == "stvib" else "deterministic")
    # The combined report scores both tasks and their joint accuracy per example.
    assert set(metrics["accuracy"]) == {"top_left", "bottom_right"}
    assert metrics["joint_accuracy"] <= min(metrics["accuracy"].values())
    with open(os.path.join(config.output_dir, "metrics.json")) as f:
        assert json.load(f)["method"] == method
    assert get_method(method).single_task
