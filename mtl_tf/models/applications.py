"""Standard image backbones from `keras.applications` as the shared encoder.

The papers' models (`small_alexnet`, `lenet`) fit their data sets: 36x36 digits and
150x150 faces. A practitioner's photos (224x224, say) want a standard convolutional
backbone; these are the `keras.applications` ones, by name (`APPLICATIONS`), used as
MTVIB's shared encoder ends its trunk (Table I(b)/(d)):

    image [0, 1] -> resize (only if asked, or below the application's minimum)
      -> grey to RGB -> the application's own `preprocess_input` (on 0..255 pixels)
      -> the application without its classifier, global average pooling
      -> FC 256 + BN + ReLU (the projection: the last layer every task shares)
      -> z                              (deterministic encoder)
      -> VariationalBottleneck -> z     (VIB encoder, MTVIB eq. 9)

and one linear head per task on z (as Pareto MTL's LeNet heads, and the linear
decoder of the deep VIB): the application already is a deep trunk.

Weights: random (``weights=None``) by default, which needs no network; ``"imagenet"``
loads Keras' ImageNet weights (downloaded once into ``~/.keras/models/``). The
applications' BatchNormalization layers get the run's `bn_momentum`: their built-in
0.99 / 0.999 leave a briefly trained model near chance in inference mode (see
`mtl_tf.config.RunConfig.bn_momentum`).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from typing import Any

import keras

from mtl_tf.models.vib import VariationalBottleneck

# Width of z (deterministic) and of the layer the VIB bottleneck reads: the latent size of
# MTVIB §VI-B, so a deterministic and a VIB encoder give heads the same width by default.
PROJECTION_DIM = 256
WEIGHTS: tuple[str, ...] = ("none", "imagenet")


@dataclasses.dataclass(frozen=True)
class Application:
    """One `keras.applications` backbone.

    Attributes:
      name: the `--backbone` name.
      module: the `keras.applications` submodule (it holds `preprocess_input`).
      constructor: the model function's name in ``module``.
      kwargs: extra constructor arguments (MobileNetV2's width multiplier ``alpha``).
      min_size: the smallest input side the application accepts (Keras checks it).
    """

    name: str
    module: str
    constructor: str
    kwargs: tuple[tuple[str, Any], ...] = ()
    min_size: int = 32

    def model_fn(self) -> Callable[..., keras.Model]:
        return getattr(getattr(keras.applications, self.module), self.constructor)

    def preprocess_fn(self) -> Callable[[Any], Any]:
        return getattr(keras.applications, self.module).preprocess_input


APPLICATIONS: dict[str, Application] = {
    app.name: app
    for app in (
        Application("resnet50", "resnet50", "ResNet50"),
        Application("mobilenet_v2", "mobilenet_v2", "MobileNetV2"),
        # MobileNetV2 with a 0.35 width multiplier: ~0.4M parameters, the cheapest one.
        Application("mobilenet_v2_035", "mobilenet_v2", "MobileNetV2", (("alpha", 0.35),)),
        Application("efficientnet_b0", "efficientnet", "EfficientNetB0"),
    )
}


@keras.saving.register_keras_serializable(package="mtl_tf")
class ApplicationPreprocess(keras.layers.Layer):
    """[0, 1] images -> what the named application expects.

    Scales to 0..255 and applies the application's own ``preprocess_input`` (ResNet50:
    RGB -> BGR and ImageNet mean subtraction; MobileNetV2: [-1, 1]; EfficientNet: as is,
    it normalises inside). A one-channel image is repeated to RGB first: ImageNet weights
    need three channels, and random weights lose nothing by it.
    """

    def __init__(self, backbone: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.backbone = backbone
        self._preprocess = APPLICATIONS[backbone].preprocess_fn()

    def call(self, images):
        if images.shape[-1] == 1:
            images = keras.ops.repeat(images, 3, axis=-1)
        return self._preprocess(images * 255.0)

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-1], 3)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "backbone": self.backbone}


def application_input_size(backbone: str, input_shape: tuple[int, int, int],
                           image_size: int = 0) -> tuple[int, int]:
    """The (height, width) the application is run at.

    Args:
      backbone: one of `APPLICATIONS`.
      input_shape: the data's ``(H, W, C)``.
      image_size: a side to resize to (e.g. 224, the ImageNet training size); 0 keeps the
        data's size, enlarged (keeping the aspect ratio) only when a side is below the
        application's minimum.
    """
    if image_size:
        return int(image_size), int(image_size)
    h, w = int(input_shape[0]), int(input_shape[1])
    small = APPLICATIONS[backbone].min_size
    scale = max(1.0, small / min(h, w))
    return max(small, round(h * scale)), max(small, round(w * scale))


def _load(app: Application, weights: str, size: tuple[int, int]) -> keras.Model:
    kwargs = dict(app.kwargs)
    try:
        with warnings.catch_warnings():
            # "Weights for input shape (224, 224) will be loaded": expected when the data's
            # size is another; convolution weights do not depend on the input size.
            warnings.filterwarnings("ignore", message=".*will be loaded as the default")
            return app.model_fn()(include_top=False,
                                  weights=None if weights == "none" else weights,
                                  input_shape=(*size, 3), pooling="avg", **kwargs)
    except Exception as e:  # keras.utils.get_file raises a bare Exception offline
        if weights == "none" or "fetch failure" not in str(e).lower():
            raise
        first = str(e).splitlines()[0][:400]
        raise OSError(
            f"--backbone_weights={weights}: could not download the {weights} weights of "
            f"{app.name} ({first}); connect to the internet once (Keras caches them in "
            "~/.keras/models/) or use --backbone_weights=none") from None


def build_application_encoder(
    *,
    backbone: str,
    encoder: str,
    input_shape: tuple[int, int, int],
    bn_momentum: float = 0.9,
    latent_dim: int = 256,
    seed: int = 0,
    weights: str = "none",
    image_size: int = 0,
    name: str = "encoder",
) -> keras.Model:
    """The shared encoder on a `keras.applications` backbone (module docstring).

    Args:
      backbone: one of `APPLICATIONS`.
      encoder: ``"deterministic"`` or ``"vib"``.
      input_shape: the data's ``(H, W, C)`` (C = 1 or 3); images in [0, 1].
      bn_momentum: momentum of every BatchNormalization layer, the application's included.
      latent_dim: the VIB latent size.
      seed: the VIB sampling seed.
      weights: ``"none"`` (random) or ``"imagenet"``.
      image_size: see `application_input_size`.
      name: the model name.

    Returns:
      A functional model from ``image`` to ``{"z"}`` or ``{"z", "mean", "log_var"}``.

    Raises:
      ValueError: an unknown backbone or weights name.
      OSError: ImageNet weights asked for and not downloadable (one line naming the fix).
    """
    if backbone not in APPLICATIONS:
        raise ValueError(f"Unknown application backbone {backbone!r}; expected one of "
                         f"{tuple(APPLICATIONS)}.")
    if weights not in WEIGHTS:
        raise ValueError(f"backbone weights must be one of {WEIGHTS}, got {weights!r}.")
    app = APPLICATIONS[backbone]
    size = application_input_size(backbone, input_shape, image_size)
    image = keras.Input(shape=tuple(input_shape), name="image")
    x = image
    if size != tuple(input_shape[:2]):
        x = keras.layers.Resizing(*size, name="resize")(x)
    x = ApplicationPreprocess(backbone, name="preprocess")(x)
    trunk = _load(app, weights, size)
    for layer in trunk.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = float(bn_momentum)
    x = trunk(x)
    x = keras.layers.Dense(PROJECTION_DIM, name=f"fc1_{PROJECTION_DIM}")(x)
    x = keras.layers.BatchNormalization(momentum=bn_momentum, name="bn_fc1")(x)
    x = keras.layers.ReLU(name="relu_fc1")(x)
    if encoder == "deterministic":
        return keras.Model(image, {"z": x}, name=name)
    posterior = VariationalBottleneck(latent_dim=latent_dim, seed=seed, name="vib")(x)
    return keras.Model(image, {key: posterior[key] for key in ("z", "mean", "log_var")},
                       name=name)
