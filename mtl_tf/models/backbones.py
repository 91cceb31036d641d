"""Model builders: a shared encoder and one head per task.

Two backbones:

* ``"small_alexnet"``: the Small AlexNet of MTVIB (Qian et al.) Table I (36x36 inputs,
  MultiMNIST/MultiFashion) and Table II (150x150 inputs, MTFL). The conv stack is chosen
  from the input size: 3x3 stride-1 convolutions for 36x36 (flatten 7*7*64 = 3136, as in
  Table I), 5x5 stride-2 for 150x150 (flatten 8*8*64 = 4096, as in Table II). Both use
  'valid' padding, the only choice that reproduces the tables' flatten sizes:
  36 -conv3-> 34 -pool-> 17 -conv3-> 15 -pool-> 7, and
  150 -conv5s2-> 73 -pool-> 36 -conv5s2-> 16 -pool-> 8 ('same' would give 9*9*64 = 5184).
* ``"lenet"``: the MultiLeNet of the Pareto MTL reference implementation
  (Xi-L/ParetoMTL, ``multiMNIST/model_lenet.py``): conv 10@9x9, ReLU, max-pool 2,
  conv 20@5x5, ReLU, max-pool 2, FC 500->50 + ReLU shared; one linear FC 50->10 per task.
  No batch normalisation. It accepts any input size for which the conv stack leaves at
  least one pixel (height and width >= 20: 20 -conv9-> 12 -pool-> 6 -conv5-> 2 -pool-> 1);
  only 36x36 gives the reference's 5*5*20 = 500 flatten.

Two encoders (the shared part's ending):

* ``"deterministic"``: the plain multi-task model (Table I(b)/II(b); Pareto MTL's LeNet).
  The encoder outputs ``{"z": features}``.
* ``"vib"``: MTVIB (Table I(d)/II(d)). For Small AlexNet: FC 1024 + BN + ReLU three times,
  then a `VariationalBottleneck` (linear mean and log-variance heads, eq. 9). The encoder
  outputs ``{"z", "mean", "log_var"}``; ``z`` is sampled when ``training=True`` and equals
  ``mean`` in inference. For LeNet (an extension found in neither paper) the bottleneck
  sits on top of the FC 50 + ReLU features.

The encoder and each head are separate functional `keras.Model`s (``"encoder"``,
``"head_<task>"``) so that weighting methods can take gradients w.r.t. the shared
parameters or the shared representation ``z`` alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from mtl_tf.models.applications import (
    APPLICATIONS,
    PROJECTION_DIM,
    build_application_encoder,
)
from mtl_tf.models.vib import VariationalBottleneck

# The papers' models, then the keras.applications ones (`mtl_tf.models.applications`).
BACKBONES: tuple[str, ...] = ("small_alexnet", "lenet", *APPLICATIONS)
ENCODERS: tuple[str, ...] = ("deterministic", "vib")

# Small AlexNet conv configuration per input (height, width): MTVIB Table I and Table II.
_SMALL_ALEXNET_CONV: dict[tuple[int, int], dict[str, int]] = {
    (36, 36): {"kernel": 3, "stride": 1},  # Table I: Conv 64 (3x3, stride 1).
    (150, 150): {"kernel": 5, "stride": 2},  # Table II: Conv 64 (5x5, stride 2).
}
_SMALL_ALEXNET_FILTERS = 64
_SMALL_ALEXNET_FC = 384  # Table I/II (b): FC 3136x384 / 4096x384, shared.
_SMALL_ALEXNET_HEAD_FC = 192  # Table I/II (b),(d): FC 384x192 per task.
_VIB_FC = 1024  # Table I/II (d): FC x1024 + BN + ReLU, three times.
_VIB_NUM_FC = 3
_LENET_FILTERS = (10, 20)  # ParetoMTL model_lenet.py: Conv2d(1, 10, 9), Conv2d(10, 20, 5).
_LENET_KERNELS = (9, 5)
_LENET_FC = 50  # ParetoMTL model_lenet.py: Linear(5*5*20, 50).


def _check_choice(what: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"Unknown {what} {value!r}; expected one of {tuple(allowed)}.")


def _check_bn_momentum(bn_momentum: float) -> None:
    if not 0.0 <= float(bn_momentum) <= 1.0:
        raise ValueError(f"bn_momentum must lie in [0, 1], got {bn_momentum!r}.")


def _check_input_shape(input_shape: Sequence[int]) -> tuple[int, int, int]:
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(d, int) and d > 0 for d in shape):
        raise ValueError(
            f"input_shape must be (height, width, channels) of positive ints, got {shape!r}."
        )
    return shape  # type: ignore[return-value]


def _valid_out(size: int, kernel: int, stride: int = 1) -> int:
    """Output length of a 'valid' convolution/pooling along one axis."""
    return (size - kernel) // stride + 1


def encoder_feature_dim(*, backbone: str, encoder: str, latent_dim: int = 256) -> int:
    """Width of the encoder's ``z`` output, i.e. the ``feature_dim`` a head expects.

    Args:
        backbone: One of `BACKBONES`.
        encoder: One of `ENCODERS`.
        latent_dim: Latent dimension of the VIB encoder.

    Returns:
        384 (Small AlexNet, deterministic; Table I/II (b)), 50 (LeNet, deterministic),
        256 (a keras.applications backbone, deterministic: its projection), or
        ``latent_dim`` (any VIB encoder).
    """
    _check_choice("backbone", backbone, BACKBONES)
    _check_choice("encoder", encoder, ENCODERS)
    if encoder == "vib":
        return int(latent_dim)
    if backbone in APPLICATIONS:
        return PROJECTION_DIM
    return _SMALL_ALEXNET_FC if backbone == "small_alexnet" else _LENET_FC


def _dense_bn_relu(
    x: keras.KerasTensor, units: int, *, index: int, bn_momentum: float
) -> keras.KerasTensor:
    """``FC units + BN + ReLU``, the building row of MTVIB Tables I and II."""
    x = keras.layers.Dense(units, name=f"fc{index}_{units}")(x)
    x = keras.layers.BatchNormalization(momentum=bn_momentum, name=f"bn_fc{index}")(x)
    return keras.layers.ReLU(name=f"relu_fc{index}")(x)


def _small_alexnet_trunk(
    image: keras.KerasTensor, input_shape: tuple[int, int, int], bn_momentum: float
) -> keras.KerasTensor:
    """Conv 64 + BN + ReLU, MaxPool 2x2, twice, then flatten (MTVIB Table I/II)."""
    spatial = input_shape[:2]
    if spatial not in _SMALL_ALEXNET_CONV:
        raise ValueError(
            f"small_alexnet supports inputs of spatial size "
            f"{sorted(_SMALL_ALEXNET_CONV)} (MTVIB Table I: 36x36, Table II: 150x150), "
            f"got input_shape {input_shape!r}."
        )
    conv = _SMALL_ALEXNET_CONV[spatial]
    x = image
    for i in (1, 2):
        # The conv bias is redundant before BN (beta absorbs it) but kept, as in the
        # PyTorch defaults the tables were written for; it costs 64 parameters per layer.
        x = keras.layers.Conv2D(
            _SMALL_ALEXNET_FILTERS,
            conv["kernel"],
            strides=conv["stride"],
            padding="valid",  # The only padding giving the tables' 3136 / 4096 flatten.
            name=f"conv{i}",
        )(x)
        x = keras.layers.BatchNormalization(momentum=bn_momentum, name=f"bn{i}")(x)
        x = keras.layers.ReLU(name=f"relu{i}")(x)
        x = keras.layers.MaxPooling2D(pool_size=2, name=f"pool{i}")(x)
    return keras.layers.Flatten(name="flatten")(x)


def _lenet_trunk(image: keras.KerasTensor, input_shape: tuple[int, int, int]) -> keras.KerasTensor:
    """Conv/ReLU/pool twice, flatten, FC 50 + ReLU (ParetoMTL ``model_lenet.py``)."""
    for axis, size in zip(("height", "width"), input_shape[:2], strict=True):
        out = size
        for kernel in _LENET_KERNELS:
            out = _valid_out(out, kernel) // 2
        if out < 1:
            raise ValueError(
                f"lenet needs height and width >= 20 so its conv stack leaves a pixel; "
                f"got input_shape {input_shape!r} ({axis} {size})."
            )
    x = image
    for i, (filters, kernel) in enumerate(zip(_LENET_FILTERS, _LENET_KERNELS, strict=True), 1):
        # Reference order is conv -> ReLU -> max-pool (the two commute; kept for fidelity).
        x = keras.layers.Conv2D(filters, kernel, strides=1, padding="valid", name=f"conv{i}")(x)
        x = keras.layers.ReLU(name=f"relu{i}")(x)
        x = keras.layers.MaxPooling2D(pool_size=2, name=f"pool{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(_LENET_FC, name=f"fc1_{_LENET_FC}")(x)
    return keras.layers.ReLU(name="relu_fc1")(x)


def build_encoder(
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
    vib_posterior: str = "log_var",
) -> keras.Model:
    """Builds the shared encoder: image -> dict of representations.

    Small AlexNet, deterministic (MTVIB Table I(b) / II(b), shared rows): conv stack,
    flatten (3136 / 4096), FC 384 + BN + ReLU.
    Small AlexNet, VIB (Table I(d) / II(d), shared rows): conv stack, flatten,
    3 x (FC 1024 + BN + ReLU), `VariationalBottleneck` (1024 -> ``latent_dim``, eq. 9).
    LeNet (Pareto MTL reference): conv stack, flatten, FC 50 + ReLU; with ``"vib"`` a
    `VariationalBottleneck` (50 -> ``latent_dim``) follows.

    Args:
        backbone: One of `BACKBONES`.
        encoder: One of `ENCODERS`.
        input_shape: ``(height, width, channels)``. Small AlexNet accepts 36x36 (Table I)
            or 150x150 (Table II) with any channel count; LeNet any size >= 20x20.
        bn_momentum: Momentum of every BatchNormalization layer. Keras' default 0.99 leaves
            a briefly trained model near chance in inference mode; 0.9 tracks the weights.
        latent_dim: Latent dimension of the VIB encoder (256 in MTVIB §VI-B).
        seed: Seed of the VIB sampling noise (``keras.random.SeedGenerator``). Weight
            initialisation follows the global seed (`keras.utils.set_random_seed`): seeding
            every initializer with one value would give same-shaped layers equal weights.
        weights: A keras.applications backbone's initial weights: ``"none"`` (random) or
            ``"imagenet"``; the papers' backbones have only ``"none"``.
        image_size: A keras.applications backbone's input side (0: the data's, enlarged
            only below the application's minimum); see `mtl_tf.models.applications`.
        name: Model name.
        vib_posterior: The VIB posterior's scale, ``"log_var"`` or ``"softplus"``
            (`VariationalBottleneck`).

    Returns:
        A functional `keras.Model` with input ``image`` and outputs ``{"z": features}``
        (deterministic) or ``{"z", "mean", "log_var"}`` (VIB). In inference
        (``training=False``, the export/serving path) a VIB encoder's ``z`` equals ``mean``.

    Raises:
        ValueError: On an unknown backbone/encoder, an unsupported input shape or an
            invalid ``bn_momentum``/``latent_dim``.
    """
    _check_choice("backbone", backbone, BACKBONES)
    _check_choice("encoder", encoder, ENCODERS)
    _check_bn_momentum(bn_momentum)
    shape = _check_input_shape(input_shape)
    if encoder == "vib" and int(latent_dim) <= 0:
        raise ValueError(f"latent_dim must be a positive integer, got {latent_dim!r}.")
    if backbone in APPLICATIONS:
        return build_application_encoder(
            backbone=backbone, encoder=encoder, input_shape=shape, bn_momentum=bn_momentum,
            latent_dim=latent_dim, seed=seed, weights=weights, image_size=image_size,
            name=name)
    if weights != "none" or image_size:
        raise ValueError(f"{backbone} has no pretrained weights and a fixed input size; "
                         "backbone weights and image size are for the keras.applications "
                         f"backbones ({', '.join(APPLICATIONS)})")

    image = keras.Input(shape=shape, name="image")
    if backbone == "small_alexnet":
        x = _small_alexnet_trunk(image, shape, bn_momentum)
        if encoder == "deterministic":
            x = _dense_bn_relu(x, _SMALL_ALEXNET_FC, index=1, bn_momentum=bn_momentum)
            return keras.Model(image, {"z": x}, name=name)
        for i in range(1, _VIB_NUM_FC + 1):
            x = _dense_bn_relu(x, _VIB_FC, index=i, bn_momentum=bn_momentum)
    else:
        x = _lenet_trunk(image, shape)
        if encoder == "deterministic":
            return keras.Model(image, {"z": x}, name=name)
    posterior = VariationalBottleneck(
        latent_dim=latent_dim, seed=seed, posterior=vib_posterior, name="vib")(x)
    outputs = {key: posterior[key] for key in ("z", "mean", "log_var")}
    return keras.Model(image, outputs, name=name)


def build_head(
    *,
    backbone: str,
    encoder: str,
    num_classes: int,
    feature_dim: int,
    bn_momentum: float = 0.9,
    name: str,
) -> keras.Model:
    """Builds one task-specific head: ``z [batch, feature_dim]`` -> logits.

    Small AlexNet, deterministic (Table I(b) / II(b), per-task rows):
    FC 192 + BN + ReLU, FC ``num_classes``.
    Small AlexNet, VIB (Table I(c)/(d), II(c)/(d)): FC 384 + BN + ReLU,
    FC 192 + BN + ReLU, FC ``num_classes``.
    LeNet (either encoder): a single linear FC ``num_classes`` (ParetoMTL's
    ``nn.Linear(50, 10)`` per task, no hidden layer); so are the keras.applications
    backbones' heads (their trunk is deep already).

    The heads return logits; the tables' final "softmax" belongs to the loss/prediction.

    Args:
        backbone: One of `BACKBONES`.
        encoder: One of `ENCODERS`.
        num_classes: Number of classes of the task (10 for MultiMNIST; 5/2/2/2 for MTFL).
        feature_dim: Width of the encoder's ``z`` (see `encoder_feature_dim`).
        bn_momentum: Momentum of every BatchNormalization layer.
        name: Model name, e.g. ``"head_left"``.

    Returns:
        A functional `keras.Model` from input ``z`` to logits ``[batch, num_classes]``.

    Raises:
        ValueError: On an unknown backbone/encoder or non-positive sizes.
    """
    _check_choice("backbone", backbone, BACKBONES)
    _check_choice("encoder", encoder, ENCODERS)
    _check_bn_momentum(bn_momentum)
    if int(num_classes) < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}.")
    if int(feature_dim) < 1:
        raise ValueError(f"feature_dim must be a positive integer, got {feature_dim!r}.")

    z = keras.Input(shape=(int(feature_dim),), name="z")
    x = z
    if backbone == "small_alexnet":
        if encoder == "vib":
            x = _dense_bn_relu(x, _SMALL_ALEXNET_FC, index=1, bn_momentum=bn_momentum)
            # Table I(d)/II(d) print the multi-task heads' "FC 384x192" without
            # "+ BN + ReLU", unlike (c). Two stacked linear maps collapse into one, which
            # would make the row pointless, so we read it as a typesetting omission and
            # keep BN + ReLU as in (c).
            x = _dense_bn_relu(x, _SMALL_ALEXNET_HEAD_FC, index=2, bn_momentum=bn_momentum)
        else:
            x = _dense_bn_relu(x, _SMALL_ALEXNET_HEAD_FC, index=1, bn_momentum=bn_momentum)
    logits = keras.layers.Dense(int(num_classes), name="logits")(x)
    return keras.Model(z, logits, name=name)


def build_network(
    *,
    backbone: str,
    encoder: str,
    input_shape: tuple[int, int, int],
    num_classes: Sequence[int],
    task_names: Sequence[str],
    bn_momentum: float = 0.9,
    latent_dim: int = 256,
    seed: int = 0,
    vib_posterior: str = "log_var",
    weights: str = "none",
    image_size: int = 0,
) -> tuple[keras.Model, dict[str, keras.Model]]:
    """Builds the shared encoder and one head per task.

    E.g. MTVIB Table I(b): ``build_network(backbone="small_alexnet",
    encoder="deterministic", input_shape=(36, 36, 1), num_classes=(10, 10),
    task_names=("left", "right"))``; Table II(d): ``encoder="vib",
    input_shape=(150, 150, 3), num_classes=(5, 2, 2, 2)``.

    Args:
        backbone: One of `BACKBONES`.
        encoder: One of `ENCODERS`.
        input_shape: ``(height, width, channels)`` of the images.
        num_classes: Classes per task, in the order of ``task_names``.
        task_names: Unique task names; head ``i`` is named ``head_<task_names[i]>``.
        bn_momentum: Momentum of every BatchNormalization layer.
        latent_dim: Latent dimension of the VIB encoder.
        seed: Seed of the VIB sampling noise.
        vib_posterior: The VIB posterior's scale parameterisation (`build_encoder`).
        weights: Initial weights of a keras.applications backbone (see `build_encoder`).
        image_size: Input side of a keras.applications backbone (see `build_encoder`).

    Returns:
        ``(encoder, heads)``: the encoder model named ``"encoder"`` (see `build_encoder`)
        and ``{task_name: head}`` in task order (see `build_head`).

    Raises:
        ValueError: On invalid arguments, mismatched ``num_classes``/``task_names`` lengths,
            empty or duplicate task names.
    """
    names = tuple(task_names)
    classes = tuple(num_classes)
    if not names:
        raise ValueError("task_names must name at least one task.")
    if len(names) != len(classes):
        raise ValueError(
            f"num_classes has {len(classes)} entries but task_names has {len(names)}: "
            f"{classes!r} vs {names!r}."
        )
    if len(set(names)) != len(names):
        raise ValueError(f"task_names must be unique, got {names!r}.")

    enc = build_encoder(
        backbone=backbone,
        encoder=encoder,
        input_shape=input_shape,
        bn_momentum=bn_momentum,
        latent_dim=latent_dim,
        seed=seed,
        weights=weights,
        image_size=image_size,
        name="encoder",
        vib_posterior=vib_posterior,
    )
    feature_dim = encoder_feature_dim(backbone=backbone, encoder=encoder, latent_dim=latent_dim)
    heads = {
        task: build_head(
            backbone=backbone,
            encoder=encoder,
            num_classes=n,
            feature_dim=feature_dim,
            bn_momentum=bn_momentum,
            name=f"head_{task}",
        )
        for task, n in zip(names, classes, strict=True)
    }
    return enc, heads
