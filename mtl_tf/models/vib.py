"""The variational information bottleneck layer of MTVIB (Qian et al.).

The shared encoder of MTVIB ends in a stochastic layer: a Gaussian posterior
``p(z|x) = N(mean(x), diag(exp(log_var(x))))`` from which the latent representation is
drawn with the reparameterisation trick (MTVIB eq. 9), and whose divergence from the
standard-normal prior ``q(z) = N(0, I)`` is the compression term of the loss (MTVIB eq. 10).

Reading of MTVIB Table I(c)/(d) and II(c)/(d): the row "FC 1024x256 + BN + ReLU" appears
twice side by side, i.e. two parallel layers producing the mean and the variance of the
posterior. We keep both LINEAR (no BN, no ReLU): a ReLU'd mean could never be negative and a
ReLU'd log-variance could never drop below 0 (variance >= 1), so the result would not be a
free Gaussian posterior and the KL term of eq. 10 could not reach zero at the prior. We
parameterise the variance through its logarithm so that any real output is a valid variance.

That is the default posterior, ``"log_var"``: its standard deviation starts near 1
(signal-to-noise about 1 at initialisation), and BENCHMARKS.md's results were made with
it. ``"softplus"`` is Alemi et al.'s deep VIB, which MTVIB builds on: the second layer
outputs rho and ``std = softplus(rho - 5)``, about 0.0067 at initialisation, so training
starts almost deterministic and learns how much noise to add. Both give the layer's
``log_var`` output (for softplus ``2 log std``), from which the KL term of eq. 10 is the
same function, `gaussian_kl`.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

# exp(20) ~ 4.9e8 and exp(-20) ~ 2e-9: far beyond any useful posterior scale, yet small
# enough that exp(), the KL sum over 256 dims and its gradient stay finite in float32
# (exp overflows float32 near 88). Without the clip a single diverging unit turns the whole
# loss into inf/NaN. Outside the range the gradient of the clipped value is zero, which is
# harmless because a well-behaved posterior never gets there.
LOG_VAR_MIN = -20.0
LOG_VAR_MAX = 20.0
# `mtl_tf.choices.VIB_POSTERIORS`: how the posterior's scale is parameterised.
POSTERIORS: tuple[str, ...] = ("log_var", "softplus")
# Alemi et al. (2017), deep VIB: std = softplus(rho - 5), small at initialisation.
SOFTPLUS_SHIFT = 5.0


def clip_log_var(log_var: tf.Tensor) -> tf.Tensor:
    """Clips a log-variance to ``[LOG_VAR_MIN, LOG_VAR_MAX]`` so ``exp`` stays finite."""
    return tf.clip_by_value(log_var, LOG_VAR_MIN, LOG_VAR_MAX)


def softplus_log_var(rho: tf.Tensor) -> tf.Tensor:
    """``2 log std`` for Alemi et al.'s ``std = softplus(rho - 5)``, within the clip range.

    The scale is floored at ``exp(LOG_VAR_MIN / 2)`` before the log (softplus underflows
    to 0 for very negative rho, and log 0 would give an infinite log-variance and a NaN
    gradient); a floor that is never reached in practice (std ~ 5e-5).
    """
    std = tf.nn.softplus(rho - SOFTPLUS_SHIFT)
    return 2.0 * tf.math.log(tf.maximum(std, tf.exp(LOG_VAR_MIN / 2.0)))


def gaussian_kl(mean: tf.Tensor, log_var: tf.Tensor) -> tf.Tensor:
    """Per-example KL divergence of a diagonal Gaussian from the standard normal (eq. 10).

    MTVIB eq. 10 writes ``KL(p(z|x) || q(z)) = 1/2 [tr(Sigma) + mu^T mu - d - log det Sigma]``
    for ``p(z|x) = N(mu, Sigma)`` and ``q(z) = N(0, I)``. With a diagonal
    ``Sigma = diag(exp(log_var))`` the trace and log-determinant are sums over the latent
    dimensions, giving ``1/2 sum_j [exp(log_var_j) + mean_j^2 - 1 - log_var_j]``.

    Args:
        mean: Posterior means, shape ``[batch, latent_dim]``.
        log_var: Posterior log-variances, same shape. Clipped to
            ``[LOG_VAR_MIN, LOG_VAR_MAX]`` before ``exp`` so the result stays finite.

    Returns:
        The KL divergence of each example, shape ``[batch]`` (summed over latent dims,
        not averaged, as in eq. 10). Non-negative; exactly 0 for ``mean = 0, log_var = 0``.
    """
    mean = tf.convert_to_tensor(mean)
    log_var = clip_log_var(tf.cast(tf.convert_to_tensor(log_var), mean.dtype))
    per_dim = tf.exp(log_var) + tf.square(mean) - 1.0 - log_var
    return 0.5 * tf.reduce_sum(per_dim, axis=-1)


@keras.saving.register_keras_serializable(package="mtl_tf")
class VariationalBottleneck(keras.layers.Layer):
    """Gaussian bottleneck layer: features -> ``{"z", "mean", "log_var"}`` (MTVIB eq. 9).

    Owns two parallel linear ``Dense(latent_dim)`` layers, ``vib_mean`` and ``vib_log_var``
    (MTVIB Table I/II (c)/(d), "FC 1024x256", read as linear; see the module docstring),
    or ``vib_mean`` and ``vib_rho`` with ``posterior="softplus"`` (std = softplus(rho - 5)).

    * ``training=True``: ``z = mean + exp(0.5 * log_var) * eps`` with ``eps ~ N(0, I)``
      (reparameterisation, eq. 9), so gradients flow to both mean and log-variance. The
      noise comes from a ``keras.random.SeedGenerator(seed)``: a freshly built layer with a
      given seed draws the same sequence of noise, and each call advances the generator.
    * ``training=False`` or ``None`` (inference): ``z = mean`` exactly. Deterministic
      inference is what the export/serving path relies on: an exported model then maps an
      image to the same prediction every time, with no random op in the serving graph's
      result. (The deep-VIB paper averages predictions over several samples at test time;
      the posterior mean is the usual deterministic stand-in.)

    The returned ``log_var`` is the clipped one actually used for sampling, so ``z``,
    ``mean`` and ``log_var`` are mutually consistent and can be fed to `gaussian_kl`.

    Args:
        latent_dim: Dimension of the latent representation (256 in MTVIB §VI-B).
        seed: Seed of the noise generator.
        posterior: ``"log_var"`` (linear log-variance) or ``"softplus"`` (Alemi et al.).
        **kwargs: Standard `keras.layers.Layer` arguments (``name``, ``dtype``, ...).
    """

    def __init__(
        self, latent_dim: int = 256, seed: int = 0, posterior: str = "log_var", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if int(latent_dim) <= 0:
            raise ValueError(f"latent_dim must be a positive integer, got {latent_dim!r}.")
        if posterior not in POSTERIORS:
            raise ValueError(f"posterior must be one of {POSTERIORS}, got {posterior!r}.")
        self.latent_dim = int(latent_dim)
        self.seed = int(seed)
        self.posterior = posterior
        self.mean_dense = keras.layers.Dense(self.latent_dim, name="vib_mean")
        # "log_var": the layer's output is the log-variance; "softplus": it is rho.
        scale_name = "vib_log_var" if posterior == "log_var" else "vib_rho"
        self.log_var_dense = keras.layers.Dense(self.latent_dim, name=scale_name)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        # The generator's state advances every training step. tf.train.Checkpoint does not
        # look inside a SeedGenerator, so hand its state variable to the checkpoint through
        # a plain tf.Module (which Keras does not count among the layer's weights): a
        # resumed run then continues the noise sequence instead of replaying it.
        self._noise_checkpoint = tf.Module(name="vib_noise_state")
        self._noise_checkpoint.state = self.seed_generator.state.value

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        # Build the sub-layers eagerly so their weights exist before the first call, which
        # `load_weights` and parameter counting need.
        self.mean_dense.build(input_shape)
        self.log_var_dense.build(input_shape)
        super().build(input_shape)

    def call(self, features: tf.Tensor, training: bool | None = None) -> dict[str, tf.Tensor]:
        """Computes the posterior and the latent code.

        Args:
            features: Encoder features, shape ``[batch, in_dim]``.
            training: ``True`` samples ``z`` (eq. 9); ``False``/``None`` returns the mean.

        Returns:
            ``{"z", "mean", "log_var"}``, each of shape ``[batch, latent_dim]``.
        """
        mean = self.mean_dense(features)
        scale = self.log_var_dense(features)
        if self.posterior == "softplus":
            scale = softplus_log_var(scale)
        log_var = clip_log_var(scale)
        if training:
            eps = keras.random.normal(
                keras.ops.shape(mean), dtype=mean.dtype, seed=self.seed_generator
            )
            z = mean + keras.ops.exp(0.5 * log_var) * eps
        else:
            z = mean
        return {"z": z, "mean": mean, "log_var": log_var}

    def compute_output_shape(
        self, input_shape: tuple[int | None, ...]
    ) -> dict[str, tuple[int | None, ...]]:
        # Declared explicitly so that building a functional model does not have to trace
        # the random op symbolically.
        shape = (*tuple(input_shape)[:-1], self.latent_dim)
        return {"z": shape, "mean": shape, "log_var": shape}

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"latent_dim": self.latent_dim, "seed": self.seed,
                       "posterior": self.posterior})
        return config
