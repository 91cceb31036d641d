"""Regression tasks under every evaluation protocol (issue #15 items 1, 6, 7 x issue #18
item 3): the protocols' sampled prediction, clipped-softmax loss, weighted and per-task
attacked losses and standardised eta units all work on a mixed classification +
regression VIB model, and the regression task's error is reported beside accuracy."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from mtl_tf.data.pipeline import make_dataset
from mtl_tf.evaluation import attacks
from mtl_tf.evaluation.protocol import Protocol
from mtl_tf.models import build_network
from mtl_tf.training.trainer import MultiTaskTrainer
from mtl_tf.weighting.uncertainty import UncertaintyWeighting
from tests.test_regression_tasks import ROW, WHERE, _square_data

TASKS = ["where", "row"]


@pytest.fixture(scope="module")
def vib_mixed():
    keras.utils.set_random_seed(0)
    images, labels = _square_data(400, 0)
    encoder, heads = build_network(backbone="lenet", encoder="vib", input_shape=(36, 36, 1),
                                   num_classes=[2, 3], task_names=TASKS, latent_dim=16)
    trainer = MultiTaskTrainer(encoder, heads, UncertaintyWeighting(2), beta=1e-3,
                               task_specs=[WHERE, ROW])
    trainer.compile(optimizer=keras.optimizers.Adam(3e-3))
    for epoch in range(6):
        trainer.fit(make_dataset(images, labels, TASKS, 50, shuffle=True, seed=0, epoch=epoch),
                    verbose=0)
    images, labels = _square_data(100, 1)
    return trainer, make_dataset(images, labels, TASKS, 50, shuffle=False, seed=0)


def _fgsm(model, test, **protocol):
    weights = None
    if protocol.get("attack_loss") == "weighted":
        weights = (TASKS, [0.5, 2.0], "given")
    return attacks.fgsm_evaluate(model, test, TASKS, (0.0, 0.1, 0.3), seed=3,
                                 protocol=Protocol(**protocol), weights=weights,
                                 eta_scale=0.3 if protocol.get("eta_units") else 1.0)


@pytest.mark.parametrize("protocol", [
    {}, {"vib_prediction": "sample"}, {"vib_prediction": "average", "vib_prediction_samples": 4},
    {"attack_ce": "clipped_softmax"}, {"attack_loss": "weighted"}, {"attack_loss": "per_task"},
    {"eta_units": "standardized"},
], ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()) or "standard")
def test_every_protocol_reports_regression_error_growth(vib_mixed, protocol):
    model, test = vib_mixed
    result = _fgsm(model, test, **protocol)
    assert result["error_metric"] == {"where": "mae"}
    assert set(result["accuracy"]["0.3"]) == {"row"}
    errors = [result["error"][k]["where"] for k in ("0", "0.1", "0.3")]
    assert all(np.isfinite(errors)) and errors[2] > errors[0], errors
    assert result["clean_error"]["where"] == pytest.approx(errors[0], rel=1e-5)
    assert set(result["zero_gradient_fraction"]["tasks"]) == set(TASKS)


def test_sampled_prediction_of_a_regression_head_is_the_mean_output_over_samples(vib_mixed):
    model, test = vib_mixed
    mean = _fgsm(model, test)["error"]["0"]["where"]
    one = _fgsm(model, test, vib_prediction="sample")["error"]["0"]["where"]
    many = _fgsm(model, test, vib_prediction="average",
                 vib_prediction_samples=64)["error"]["0"]["where"]
    # One sample is noisier than z = mean; the mean output of many samples comes back to it.
    assert one != mean
    assert abs(many - mean) < abs(one - mean)
