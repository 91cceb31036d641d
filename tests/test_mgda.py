"""MGDA (Sener & Koltun 2018): descent for every task, normalisations, options, a real step."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtl_tf.config import RunConfig
from mtl_tf.data.pipeline import make_dataset
from mtl_tf.models import build_network
from mtl_tf.training.trainer import MultiTaskTrainer
from mtl_tf.weighting import build_weighting
from mtl_tf.weighting.mgda import NORMALIZATIONS, MGDAWeighting


def _weights(weighting: MGDAWeighting, losses: np.ndarray, grads: np.ndarray) -> np.ndarray:
    gram = tf.constant(grads @ grads.T, tf.float64)
    return weighting.compute_weights(tf.constant(losses, tf.float32), gram).numpy()


@pytest.mark.parametrize("seed", range(12))
def test_combined_direction_increases_no_task_loss(seed):
    """g_k . d >= 0 for d = sum_k w_k g_k, the min-norm element (first-order descent)."""
    rng = np.random.default_rng(seed)
    m, d = int(rng.integers(2, 6)), int(rng.integers(2, 40))
    grads = rng.normal(size=(m, d)) * rng.uniform(0.1, 10.0, size=(m, 1))
    if seed % 3 == 0:  # a shared component: the optimum sits on an edge or a vertex
        grads += rng.normal(size=d)
    w = _weights(MGDAWeighting(m), rng.uniform(0.5, 3.0, m), grads)
    assert np.all(w >= 0.0) and abs(w.sum() - 1.0) < 1e-6
    direction = w @ grads
    scale = float(np.max(np.sum(grads**2, axis=1)))
    assert np.all(grads @ direction >= -1e-6 * scale), grads @ direction


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_normalisation_is_the_documented_rescaling(normalization):
    """Weights equal plain MGDA on g_k / n_k, with n_k as Sener & Koltun's reference."""
    rng = np.random.default_rng(3)
    grads = rng.normal(size=(3, 8)) * np.array([[0.1], [1.0], [20.0]])
    losses = np.array([0.3, 2.0, 5.0])
    norms = np.linalg.norm(grads, axis=1)
    n = {"none": np.ones(3), "l2": norms, "loss": losses, "loss+": losses * norms}[normalization]
    w = _weights(MGDAWeighting(3, normalization=normalization), losses, grads)
    expected = _weights(MGDAWeighting(3), losses, grads / n[:, None])
    np.testing.assert_allclose(w, expected, atol=1e-6)
    assert np.all(w >= 0.0) and abs(w.sum() - 1.0) < 1e-6  # simplex, applied to raw losses
    # The normalised direction is still a descent direction for every task (n_k > 0).
    assert np.all(grads @ (w @ (grads / n[:, None])) >= -1e-6 * np.max(norms) ** 2)


def test_l2_normalisation_ignores_gradient_scale():
    rng = np.random.default_rng(4)
    grads = rng.normal(size=(2, 6))
    losses = np.ones(2)
    scaled = grads * np.array([[100.0], [1.0]])
    l2 = MGDAWeighting(2, normalization="l2")
    np.testing.assert_allclose(_weights(l2, losses, grads), _weights(l2, losses, scaled),
                               atol=1e-6)
    # Without normalisation the large gradient gets a much smaller weight.
    assert _weights(MGDAWeighting(2), losses, scaled)[0] < 0.05


def test_options_and_gradient_source():
    assert MGDAWeighting(2).gradient_source == "params"
    assert MGDAWeighting(2, grad_wrt="representation").gradient_source == "representation"
    assert MGDAWeighting.gradient_source == "params"  # the class attribute is untouched
    assert MGDAWeighting.gram_includes_heads is False
    with pytest.raises(ValueError, match="--grad_wrt must be one of params, representation"):
        MGDAWeighting(2, grad_wrt="logits")
    with pytest.raises(ValueError, match="--grad_normalization must be one of none, l2"):
        MGDAWeighting(2, normalization="l1")
    with pytest.raises(ValueError, match="Gram"):
        MGDAWeighting(2).compute_weights(tf.ones([2]))
    config = RunConfig(grad_wrt="representation", grad_normalization="loss+",
                       min_norm_max_iters=50, min_norm_tol=1e-4)
    w = build_weighting("mgda", 2, config)
    assert isinstance(w, MGDAWeighting)
    assert (w.gradient_source, w.normalization, w.max_iters, w.tol) == (
        "representation", "loss+", 50, 1e-4)


def test_compiled_weights_match_eager():
    rng = np.random.default_rng(5)
    grads = rng.normal(size=(4, 10))
    mgda = MGDAWeighting(4, normalization="l2")
    gram = tf.constant(grads @ grads.T, tf.float32)
    losses = tf.constant([1.0, 2.0, 0.5, 1.5])
    compiled = tf.function(mgda.compute_weights)(losses, gram).numpy()
    np.testing.assert_allclose(compiled, mgda.compute_weights(losses, gram).numpy(), atol=1e-6)


@pytest.mark.parametrize("grad_wrt", ["params", "representation"])
def test_keras_train_steps_lower_both_task_losses(tiny_data, grad_wrt):
    keras.utils.set_random_seed(0)
    encoder, heads = build_network(backbone="lenet", encoder="deterministic",
                                   input_shape=(36, 36, 1), num_classes=[10, 10],
                                   task_names=["top_left", "bottom_right"])
    trainer = MultiTaskTrainer(encoder, heads, MGDAWeighting(2, grad_wrt=grad_wrt))
    trainer.compile(optimizer=keras.optimizers.Adam(3e-3))
    batch = next(iter(make_dataset(tiny_data.train_images, tiny_data.train_labels,
                                   tiny_data.task_names, 64, shuffle=False, seed=0)))
    first = trainer.train_on_batch(*batch, return_dict=True)
    for _ in range(12):
        last = trainer.train_on_batch(*batch, return_dict=True)
    for task in ("top_left", "bottom_right"):
        assert last[f"{task}_loss"] < 0.9 * first[f"{task}_loss"], (task, first, last)
    weights = np.array([last["top_left_weight"], last["bottom_right_weight"]])
    assert np.all(weights >= 0.0) and abs(weights.sum() - 1.0) < 1e-5


@pytest.mark.parametrize("grad_wrt", ["params", "representation"])
def test_dominated_task_gets_the_reference_floor_not_zero(grad_wrt):
    """Two tasks, g1 = 2 g2: the exact min-norm weights are (0, 1); MGDA gives (0.001, 0.999)
    as Sener & Koltun's solver, so the dominated task's head still trains this step."""
    rng = np.random.default_rng(8)
    g2 = rng.normal(size=12)
    grads = np.stack([2.0 * g2, g2])
    w = _weights(MGDAWeighting(2, grad_wrt=grad_wrt), np.array([1.0, 1.0]), grads)
    np.testing.assert_allclose(w, [0.001, 0.999], rtol=1e-6)
    # Normalisation changes the Gram matrix, not the clamp: with l2 the two normalised
    # gradients coincide (every weight optimal) and the symmetric 0.5 is returned.
    w = _weights(MGDAWeighting(2, normalization="l2"), np.array([1.0, 1.0]), grads)
    np.testing.assert_allclose(w, [0.5, 0.5], atol=1e-6)
    # The combined direction still descends for both tasks.
    assert np.all(grads @ (w @ grads) > 0.0)
