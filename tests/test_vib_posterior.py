"""The VIB posterior's two parameterisations (issue #15 item 3): a linear log-variance
(default) and Alemi et al.'s std = softplus(rho - 5); the KL term of MTVIB eq. 10 is
checked against numpy for both."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtl_tf.models import build_encoder
from mtl_tf.models.vib import VariationalBottleneck, gaussian_kl


def _numpy_kl(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    # KL(N(mean, std^2) || N(0, 1)) per dimension, summed: the textbook closed form.
    return np.sum(np.log(1.0 / std) + (std**2 + mean**2) / 2.0 - 0.5, axis=-1)


def _std_from_raw(raw: np.ndarray, posterior: str) -> np.ndarray:
    if posterior == "log_var":
        return np.exp(0.5 * raw)
    return np.log1p(np.exp(raw - 5.0))  # softplus(rho - 5)


@pytest.mark.parametrize("posterior", ["log_var", "softplus"])
def test_kl_matches_numpy_for_both_posteriors(posterior):
    keras.utils.set_random_seed(1)
    layer = VariationalBottleneck(latent_dim=8, seed=0, posterior=posterior)
    features = np.random.default_rng(0).normal(size=(5, 6)).astype("float32")
    out = layer(features, training=False)
    mean = layer.mean_dense(features).numpy()
    raw = layer.log_var_dense(features).numpy()
    std = _std_from_raw(raw.astype("float64"), posterior)
    np.testing.assert_allclose(out["mean"].numpy(), mean, rtol=1e-6)
    np.testing.assert_allclose(np.exp(0.5 * out["log_var"].numpy()), std, rtol=1e-4)
    kl = gaussian_kl(out["mean"], out["log_var"]).numpy()
    np.testing.assert_allclose(kl, _numpy_kl(mean.astype("float64"), std), rtol=1e-4)


def test_softplus_starts_almost_deterministic_and_log_var_near_unit_noise():
    """At initialisation (bias 0, rho ~ 0) std = softplus(-5) ~ 0.0067; log_var's ~ 1."""
    features = np.zeros((64, 16), "float32")
    soft = VariationalBottleneck(latent_dim=32, seed=3, posterior="softplus")
    out = soft(features, training=True)
    assert np.exp(0.5 * out["log_var"].numpy()) == pytest.approx(np.log1p(np.exp(-5.0)),
                                                                 rel=1e-5)
    noise = (out["z"] - out["mean"]).numpy()
    assert 0.005 < noise.std() < 0.0085
    linear = VariationalBottleneck(latent_dim=32, seed=3)
    assert linear.posterior == "log_var"  # the default: the results in BENCHMARKS.md
    noise = (linear(features, training=True)["z"]).numpy()
    assert 0.9 < noise.std() < 1.1


def test_softplus_gradients_stay_finite_where_softplus_underflows():
    layer = VariationalBottleneck(latent_dim=4, posterior="softplus")
    features = tf.constant([[1.0, -1.0]])
    layer(features)
    layer.log_var_dense.kernel.assign([[-1e4] * 4, [0.0] * 4])  # rho = -1e4: softplus = 0
    with tf.GradientTape() as tape:
        out = layer(features, training=True)
        loss = tf.reduce_sum(gaussian_kl(out["mean"], out["log_var"])) + tf.reduce_sum(out["z"])
    grads = tape.gradient(loss, layer.trainable_variables)
    assert all(np.all(np.isfinite(g.numpy())) for g in grads)
    assert np.all(np.isfinite(out["log_var"].numpy()))


def test_encoder_flag_reaches_the_bottleneck_and_names_its_layer():
    enc = build_encoder(backbone="lenet", encoder="vib", input_shape=(36, 36, 1),
                        latent_dim=8, vib_posterior="softplus")
    names = {w.path for w in enc.weights}
    assert "vib/vib_rho/kernel" in names and "vib/vib_mean/kernel" in names
    with pytest.raises(ValueError, match="posterior must be one of"):
        VariationalBottleneck(latent_dim=4, posterior="exp")
