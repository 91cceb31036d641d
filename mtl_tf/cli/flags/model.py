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
                  "small_alexnet: MTVIB Table I/II (the default: the papers' model); lenet: "
                  "Pareto MTL's LeNet; resnet50, mobilenet_v2, mobilenet_v2_035 (width "
                  "0.35), efficientnet_b0: keras.applications, pooled, then FC 256 (for "
                  "photos; mtl_tf/models/applications.py).")
flags.DEFINE_enum("backbone_weights", _DEFAULTS.backbone_weights,
                  list(choices.BACKBONE_WEIGHTS),
                  "Initial weights of a keras.applications --backbone. Default none "
                  "(random): works offline; imagenet: Keras' ImageNet weights, downloaded "
                  "once into ~/.keras/models/.")
flags.DEFINE_integer("backbone_image_size", _DEFAULTS.backbone_image_size,
                     "keras.applications --backbone only: resize images to this side "
                     "(e.g. 224, the ImageNet size). Default 0: the data's own size (no "
                     "resize, cheapest), enlarged only below the application's 32 minimum.",
                     lower_bound=0)
flags.DEFINE_float("bn_momentum", _DEFAULTS.bn_momentum,
                   "BatchNorm moving-average momentum (Keras' 0.99 is too slow for short runs).",
                   lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_float("beta", _DEFAULTS.beta, "VIB KL weight (MTVIB eq. 23).", lower_bound=0.0)
flags.DEFINE_integer("latent_dim", _DEFAULTS.latent_dim, "VIB latent dimension.", lower_bound=1)
flags.DEFINE_enum("vib_posterior", _DEFAULTS.vib_posterior, list(choices.VIB_POSTERIORS),
                  "VIB posterior scale. log_var (default: the results in BENCHMARKS.md): a "
                  "linear log-variance, std ~ 1 at initialisation; softplus: Alemi et al.'s "
                  "std = softplus(rho - 5), ~ 0.007 at initialisation.")


@flags.multi_flags_validator(["backbone", "backbone_weights", "backbone_image_size"],
                             message="backbone options of another backbone")
def _check_backbone_options(values: dict) -> bool:
    # The papers' models have no pretrained weights and a fixed input size: silently
    # ignoring the options would hide a mistake.
    if values["backbone"] in choices.APPLICATION_BACKBONES:
        return True
    for name, default in (("backbone_weights", _DEFAULTS.backbone_weights),
                          ("backbone_image_size", _DEFAULTS.backbone_image_size)):
        if values[name] != default:
            raise flags.ValidationError(
                f"--{name}={values[name]} applies to the keras.applications backbones "
                f"({', '.join(choices.APPLICATION_BACKBONES)}), not --backbone="
                f"{values['backbone']}; drop it or choose one of them")
    return True


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
