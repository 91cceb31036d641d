"""GradNorm's weight update (issue #15 item 4): plain steps of gradnorm_lr (default), or
an optimizer of the network's kind and learning rate (Chen et al. 2018), the weights
renormalised to sum to the task count either way, and resumed exactly."""

from __future__ import annotations

import dataclasses
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtl_tf.config import RunConfig
from mtl_tf.weighting.gradnorm import GradNormWeighting

LOSSES = tf.constant([2.0, 1.0])
# Per-task gradient norms 3 and 1 at the last shared layer (the Gram's diagonal).
GRAM = tf.constant([[9.0, 0.5], [0.5, 1.0]])


def _expected_grad(weights: np.ndarray, losses: np.ndarray, initial: np.ndarray,
                   alpha: float = 1.5) -> np.ndarray:
    """d L_grad / d w_k = sign(G_k - target_k) ||grad L_k|| (Chen et al. eq. 2)."""
    norms = np.sqrt(np.diag(GRAM.numpy()))
    ratio = losses / initial
    target = np.mean(weights * norms) * (ratio / ratio.mean()) ** alpha
    return np.sign(weights * norms - target) * norms


def test_default_is_todays_plain_step():
    assert RunConfig().gradnorm_update == "step"
    strategy = GradNormWeighting.from_config(2, RunConfig())
    assert strategy.update == "step" and strategy.weight_optimizer is None
    strategy.attach_optimizer(lambda: pytest.fail("step mode needs no optimizer"))


def test_sgd_optimizer_update_is_the_plain_step_and_sums_to_the_task_count():
    plain = GradNormWeighting(2, learning_rate=0.1)
    trained = GradNormWeighting(2, learning_rate=0.025, update="optimizer")
    trained.attach_optimizer(lambda: keras.optimizers.SGD(0.1))
    for losses in (LOSSES, tf.constant([1.5, 0.9]), tf.constant([1.2, 0.95])):
        np.testing.assert_allclose(trained.compute_weights(losses, GRAM).numpy(),
                                   plain.compute_weights(losses, GRAM).numpy(), rtol=1e-6)
    np.testing.assert_allclose(trained.task_weights.numpy(), plain.task_weights.numpy(),
                               rtol=1e-6)
    assert trained.task_weights.numpy().sum() == pytest.approx(2.0)


def test_adam_moves_the_weights_by_about_its_learning_rate():
    strategy = GradNormWeighting(2, update="optimizer")
    strategy.attach_optimizer(lambda: keras.optimizers.Adam(1e-2))
    strategy.compute_weights(LOSSES, GRAM)  # sets L(0); the gradient is sign(.) * norm
    before = strategy.task_weights.numpy().copy()
    losses = tf.constant([1.0, 0.9])
    grad = _expected_grad(before, losses.numpy(), LOSSES.numpy())
    strategy.compute_weights(losses, GRAM)
    # Adam's first steps are lr * sign(grad) whatever the gradient's size (here 3 and 1).
    assert strategy.weight_optimizer.iterations.numpy() == 2
    moved = np.maximum(before - 1e-2 * np.sign(grad), 1e-3)
    np.testing.assert_allclose(strategy.task_weights.numpy(), moved * 2 / moved.sum(),
                               atol=2e-4)
    assert np.abs(strategy.task_weights.numpy() - before).max() < 0.02


def test_optimizer_mode_needs_its_optimizer_and_checks_its_name():
    strategy = GradNormWeighting(2, update="optimizer")
    with pytest.raises(ValueError, match="attach_optimizer"):
        strategy.compute_weights(LOSSES, GRAM)
    with pytest.raises(ValueError, match="--gradnorm_update"):
        GradNormWeighting(2, update="adam")


def test_optimizer_mode_resumes_exactly_and_follows_the_network_optimizer(tiny_data, tmp_path):
    """Its optimizer (Adam 1e-4 like the network's) is checkpointed with the weights: 1
    epoch then --epochs=2 ends with the weights of an uninterrupted 2-epoch run."""
    from mtl_tf.orchestration.runs import run

    base = RunConfig(method="gradnorm", backbone="lenet", gradnorm_update="optimizer",
                     learning_rate=1e-3, batch_size=100, train_size=400, test_size=100,
                     etas=(), verbose=0)
    whole_dir, parts_dir = str(tmp_path / "whole"), str(tmp_path / "parts")
    whole = run(dataclasses.replace(base, epochs=2, output_dir=whole_dir), data=tiny_data)
    run(dataclasses.replace(base, epochs=1, output_dir=parts_dir), data=tiny_data)
    parts = run(dataclasses.replace(base, epochs=2, output_dir=parts_dir), data=tiny_data)
    assert parts["accuracy"] == whole["accuracy"]

    def weights(run_dir):
        with open(os.path.join(run_dir, "metrics.json")) as f:
            return json.load(f)["models"][0]["task_weights"]

    assert weights(parts_dir) == weights(whole_dir)
    w = weights(whole_dir)
    assert sum(w.values()) == pytest.approx(2.0, abs=1e-5)
    # 8 Adam steps of 1e-3 each: the weights stay within 8e-3 (before renormalising) of 1.
    assert all(abs(v - 1.0) < 0.02 for v in w.values()), w
