"""Flags: the method (encoder + weighting) and the network it trains."""

from __future__ import annotations

from absl import flags

from mtl_tf import choices
from mtl_tf.config import RunConfig

TITLE = "Method and model"

_DEFAULTS = RunConfig()

flags.DEFINE_enum("method", _DEFAULTS.method, list(choices.METHODS),
                  "Training method (a named encoder + weighting combination).")
flags.DEFINE_enum("encoder", _DEFAULTS.encoder, list(choices.ENCODERS),
                  "Override the method's encoder (e.g. vib with any weighting).")
flags.DEFINE_enum("backbone", _DEFAULTS.backbone, list(choices.BACKBONES),
                  "small_alexnet: MTVIB Table I/II; lenet: Pareto MTL's LeNet.")
flags.DEFINE_float("bn_momentum", _DEFAULTS.bn_momentum,
                   "BatchNorm moving-average momentum (Keras' 0.99 is too slow for short runs).",
                   lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_float("beta", _DEFAULTS.beta, "VIB KL weight (MTVIB eq. 23).", lower_bound=0.0)
flags.DEFINE_integer("latent_dim", _DEFAULTS.latent_dim, "VIB latent dimension.", lower_bound=1)
flags.DEFINE_enum("vib_posterior", _DEFAULTS.vib_posterior, list(choices.VIB_POSTERIORS),
                  "VIB posterior scale. log_var (default: the results in BENCHMARKS.md): a "
                  "linear log-variance, std ~ 1 at initialisation; softplus: Alemi et al.'s "
                  "std = softplus(rho - 5), ~ 0.007 at initialisation.")


@flags.multi_flags_validator(["image_size", "backbone"],
                             message="--image_size does not fit --backbone")
def _check_image_size_for_backbone(values: dict) -> bool:
    # Before TensorFlow loads and the images are decoded: the backbone would refuse it.
    size, backbone = values["image_size"], values["backbone"]
    if not size:
        return True
    if backbone == "small_alexnet" and size not in (36, 150):
        raise flags.ValidationError(
            f"--image_size={size}: small_alexnet takes 36x36 or 150x150 inputs (MTVIB "
            "Tables I and II); use --image_size=36 or 150, or --backbone=lenet (any size "
            ">= 20)")
    if backbone == "lenet" and size < 20:
        raise flags.ValidationError(f"--image_size={size}: lenet needs images of at least "
                                    "20x20; use --image_size=20 or more")
    return True
