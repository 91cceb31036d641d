"""Tests of the model builders against MTVIB Tables I/II, eq. 9/10 and the ParetoMTL LeNet."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import functools  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mtl_tf.models import (  # noqa: E402
    BACKBONES,
    ENCODERS,
    VariationalBottleneck,
    build_encoder,
    build_head,
    build_network,
    encoder_feature_dim,
    gaussian_kl,
)

TABLE_I = (36, 36, 1)  # MultiMNIST / MultiFashion.
TABLE_II = (150, 150, 3)  # MTFL.
TWO_TASKS = ((10, 10), ("left", "right"))
MTFL_TASKS = ((5, 2, 2, 2), ("gender", "smile", "glasses", "pose"))

# Every supported configuration: (backbone, input_shape, (num_classes, task_names)).
CONFIGS = [
    ("small_alexnet", TABLE_I, TWO_TASKS),
    ("small_alexnet", TABLE_II, MTFL_TASKS),
    ("lenet", TABLE_I, TWO_TASKS),
]


@functools.cache
def _network(
    backbone: str, encoder: str, input_shape: tuple[int, int, int], tasks: tuple
) -> tuple[keras.Model, dict[str, keras.Model]]:
    """Builds (once per configuration) a network with the default arguments."""
    num_classes, task_names = tasks
    return build_network(
        backbone=backbone,
        encoder=encoder,
        input_shape=input_shape,
        num_classes=num_classes,
        task_names=task_names,
    )


def _kernel_shapes(model: keras.Model) -> dict[str, tuple[int, ...]]:
    """``{variable path: shape}`` of every kernel, nested layers (the VIB's Dense) included."""
    return {v.path: tuple(v.shape) for v in model.trainable_variables if v.path.endswith("kernel")}


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("encoder", ENCODERS)
@pytest.mark.parametrize(("backbone", "input_shape", "tasks"), CONFIGS)
def test_output_shapes(backbone, input_shape, tasks, encoder):
    enc, heads = _network(backbone, encoder, input_shape, tasks)
    num_classes, task_names = tasks
    assert enc.name == "encoder"
    assert list(heads) == list(task_names)
    assert [h.name for h in heads.values()] == [f"head_{t}" for t in task_names]

    x = np.random.default_rng(0).random((3, *input_shape), dtype=np.float32)
    for training in (False, True):
        out = enc(x, training=training)
        dim = encoder_feature_dim(backbone=backbone, encoder=encoder)
        expected_keys = {"z"} if encoder == "deterministic" else {"z", "mean", "log_var"}
        assert set(out) == expected_keys
        for value in out.values():
            assert tuple(value.shape) == (3, dim)
        for (task, head), n in zip(heads.items(), num_classes, strict=True):
            assert tuple(head(out["z"], training=training).shape) == (3, n), task


def test_feature_dims():
    assert encoder_feature_dim(backbone="small_alexnet", encoder="deterministic") == 384
    assert encoder_feature_dim(backbone="lenet", encoder="deterministic") == 50
    assert encoder_feature_dim(backbone="small_alexnet", encoder="vib", latent_dim=64) == 64
    assert encoder_feature_dim(backbone="lenet", encoder="vib") == 256


@pytest.mark.parametrize("encoder", ENCODERS)
@pytest.mark.parametrize(
    ("backbone", "input_shape", "tasks", "flatten"),
    [
        ("small_alexnet", TABLE_I, TWO_TASKS, 3136),  # Table I: 7*7*64.
        ("small_alexnet", TABLE_II, MTFL_TASKS, 4096),  # Table II: 8*8*64.
        ("lenet", TABLE_I, TWO_TASKS, 500),  # ParetoMTL: 5*5*20.
    ],
)
def test_flatten_size(backbone, input_shape, tasks, flatten, encoder):
    enc, _ = _network(backbone, encoder, input_shape, tasks)
    assert tuple(enc.get_layer("flatten").output.shape) == (None, flatten)


# --------------------------------------------------------------------------- table dims


@pytest.mark.parametrize(
    ("input_shape", "tasks", "conv", "flatten"),
    [
        (TABLE_I, TWO_TASKS, [(3, 3, 1, 64), (3, 3, 64, 64)], 3136),
        (TABLE_II, MTFL_TASKS, [(5, 5, 3, 64), (5, 5, 64, 64)], 4096),
    ],
)
def test_small_alexnet_deterministic_dims(input_shape, tasks, conv, flatten):
    """Table I(b) / II(b): every kernel, exactly."""
    enc, heads = _network("small_alexnet", "deterministic", input_shape, tasks)
    assert _kernel_shapes(enc) == {
        "conv1/kernel": conv[0],
        "conv2/kernel": conv[1],
        "fc1_384/kernel": (flatten, 384),
    }
    stride = 1 if input_shape == TABLE_I else 2
    for name in ("conv1", "conv2"):
        assert enc.get_layer(name).strides == (stride, stride)
        assert enc.get_layer(name).padding == "valid"
    for head, n in zip(heads.values(), tasks[0], strict=True):
        assert _kernel_shapes(head) == {"fc1_192/kernel": (384, 192), "logits/kernel": (192, n)}


@pytest.mark.parametrize(
    ("input_shape", "tasks", "flatten"),
    [(TABLE_I, TWO_TASKS, 3136), (TABLE_II, MTFL_TASKS, 4096)],
)
def test_small_alexnet_vib_dims(input_shape, tasks, flatten):
    """Table I(d) / II(d): every kernel, exactly."""
    enc, heads = _network("small_alexnet", "vib", input_shape, tasks)
    c = input_shape[2]
    k = 3 if input_shape == TABLE_I else 5
    assert _kernel_shapes(enc) == {
        "conv1/kernel": (k, k, c, 64),
        "conv2/kernel": (k, k, 64, 64),
        "fc1_1024/kernel": (flatten, 1024),
        "fc2_1024/kernel": (1024, 1024),
        "fc3_1024/kernel": (1024, 1024),
        "vib/vib_mean/kernel": (1024, 256),
        "vib/vib_log_var/kernel": (1024, 256),
    }
    for head, n in zip(heads.values(), tasks[0], strict=True):
        assert _kernel_shapes(head) == {
            "fc1_384/kernel": (256, 384),
            "fc2_192/kernel": (384, 192),
            "logits/kernel": (192, n),
        }


def test_lenet_dims():
    """ParetoMTL model_lenet.py: Conv2d(1,10,9), Conv2d(10,20,5), Linear(500,50), Linear(50,10)."""
    enc, heads = _network("lenet", "deterministic", TABLE_I, TWO_TASKS)
    assert _kernel_shapes(enc) == {
        "conv1/kernel": (9, 9, 1, 10),
        "conv2/kernel": (5, 5, 10, 20),
        "fc1_50/kernel": (500, 50),
    }
    for head in heads.values():
        assert _kernel_shapes(head) == {"logits/kernel": (50, 10)}
    # 820 + 5020 + 25050 shared, 510 per head: no BN, no hidden head layer.
    assert enc.count_params() == (9 * 9 * 1 * 10 + 10) + (5 * 5 * 10 * 20 + 20) + (500 * 50 + 50)
    assert all(h.count_params() == 50 * 10 + 10 for h in heads.values())


def test_table_i_b_total_trainable_parameters():
    """Table I(b): encoder + 2 heads, hand-computed from the table dims (bias + BN gamma/beta)."""
    conv1 = 3 * 3 * 1 * 64 + 64
    bn1 = 2 * 64
    conv2 = 3 * 3 * 64 * 64 + 64
    bn2 = 2 * 64
    fc_384 = 3136 * 384 + 384
    bn_384 = 2 * 384
    shared = conv1 + bn1 + conv2 + bn2 + fc_384 + bn_384  # 1,243,200
    fc_192 = 384 * 192 + 192
    bn_192 = 2 * 192
    logits = 192 * 10 + 10
    head = fc_192 + bn_192 + logits  # 76,234
    expected = shared + 2 * head  # 1,395,668

    enc, heads = _network("small_alexnet", "deterministic", TABLE_I, TWO_TASKS)
    models = [enc, *heads.values()]
    trainable = sum(int(np.prod(v.shape)) for m in models for v in m.trainable_variables)
    assert trainable == expected == 1_395_668
    # The BN moving mean/variance are the only non-trainable weights.
    moving = 2 * (64 + 64 + 384) + 2 * (2 * 192)
    assert sum(m.count_params() for m in models) == expected + moving


# --------------------------------------------------------------------------- batch norm


@pytest.mark.parametrize("encoder", ENCODERS)
def test_bn_momentum(encoder):
    enc, heads = build_network(
        backbone="small_alexnet",
        encoder=encoder,
        input_shape=TABLE_I,
        num_classes=(10, 10),
        task_names=("a", "b"),
        bn_momentum=0.77,
    )
    bns = [
        layer
        for model in (enc, *heads.values())
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    # Encoder: 2 conv BN + 1 (deterministic) or 3 (vib) FC BN; heads: 1 or 2 each.
    assert len(bns) == (2 + 1 + 2 * 1 if encoder == "deterministic" else 2 + 3 + 2 * 2)
    assert all(layer.momentum == pytest.approx(0.77) for layer in bns)


def test_bn_momentum_default_is_0_9():
    enc, _ = _network("small_alexnet", "vib", TABLE_I, TWO_TASKS)
    assert enc.get_layer("bn1").momentum == pytest.approx(0.9)


# --------------------------------------------------------------------------- VIB (eq. 9)


def _bottleneck(in_dim: int = 6, latent_dim: int = 4, seed: int = 0) -> VariationalBottleneck:
    layer = VariationalBottleneck(latent_dim=latent_dim, seed=seed)
    layer.build((None, in_dim))
    rng = np.random.default_rng(1)
    # Spread the log-variances over ~[-2, 2] so the variance check is not only about 1.
    layer.set_weights(
        [
            rng.normal(size=(in_dim, latent_dim)).astype(np.float32),
            rng.normal(size=latent_dim).astype(np.float32),
            0.5 * rng.normal(size=(in_dim, latent_dim)).astype(np.float32),
            np.linspace(-2.0, 2.0, latent_dim).astype(np.float32),
        ]
    )
    return layer


def test_vib_sampling_is_stochastic_and_matches_posterior_moments():
    layer = _bottleneck()
    features = np.random.default_rng(2).random((1, 6), dtype=np.float32)
    n = 40_000
    batch = np.repeat(features, n, axis=0)  # n draws from the same posterior.

    first = layer(batch, training=True)
    second = layer(batch, training=True)
    assert not np.allclose(first["z"].numpy(), second["z"].numpy())

    mean = first["mean"].numpy()[0]
    var = np.exp(first["log_var"].numpy()[0])
    z = first["z"].numpy()
    # Standard errors: sqrt(var / n) for the mean, ~var * sqrt(2 / n) for the variance.
    np.testing.assert_array_less(np.abs(z.mean(axis=0) - mean), 5 * np.sqrt(var / n))
    np.testing.assert_allclose(z.var(axis=0), var, rtol=5 * np.sqrt(2 / n))


def test_vib_inference_is_the_mean():
    layer = _bottleneck()
    features = np.random.default_rng(3).random((5, 6), dtype=np.float32)
    for training in (False, None):
        out = layer(features, training=training)
        np.testing.assert_array_equal(out["z"].numpy(), out["mean"].numpy())


def test_vib_is_deterministic_for_a_seed():
    features = np.random.default_rng(4).random((5, 6), dtype=np.float32)
    a = _bottleneck(seed=7)(features, training=True)["z"].numpy()
    b = _bottleneck(seed=7)(features, training=True)["z"].numpy()
    c = _bottleneck(seed=8)(features, training=True)["z"].numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_vib_config_round_trip():
    layer = VariationalBottleneck(latent_dim=32, seed=5, name="vib")
    clone = VariationalBottleneck.from_config(layer.get_config())
    assert (clone.latent_dim, clone.seed, clone.name) == (32, 5, "vib")


@pytest.mark.parametrize("backbone", BACKBONES)
def test_vib_encoder_train_vs_inference(backbone):
    enc, _ = _network(backbone, "vib", TABLE_I, TWO_TASKS)
    x = np.random.default_rng(5).random((4, *TABLE_I), dtype=np.float32)
    inference = enc(x, training=False)
    # The export/serving path: deterministic, z is exactly the posterior mean.
    np.testing.assert_array_equal(inference["z"].numpy(), inference["mean"].numpy())
    np.testing.assert_array_equal(enc(x)["z"].numpy(), inference["z"].numpy())
    sampled = enc(x, training=True)
    assert not np.allclose(sampled["z"].numpy(), sampled["mean"].numpy())


# --------------------------------------------------------------------------- KL (eq. 10)


def _kl_eq10(mean: np.ndarray, log_var: np.ndarray) -> np.ndarray:
    """Eq. 10 literally: 1/2 [tr(S) + mu^T mu - d - log det S] with S = diag(exp(log_var))."""
    out = []
    for mu, lv in zip(mean.astype(np.float64), log_var.astype(np.float64), strict=True):
        cov = np.diag(np.exp(lv))
        _, logdet = np.linalg.slogdet(cov)
        out.append(0.5 * (np.trace(cov) + mu @ mu - mu.size - logdet))
    return np.array(out)


def test_gaussian_kl_matches_closed_form():
    rng = np.random.default_rng(6)
    mean = rng.normal(size=(8, 16)).astype(np.float32)
    log_var = rng.uniform(-3, 3, size=(8, 16)).astype(np.float32)
    kl = gaussian_kl(mean, log_var).numpy()
    assert kl.shape == (8,)
    np.testing.assert_allclose(kl, _kl_eq10(mean, log_var), rtol=1e-5)
    assert np.all(kl > 0)


def test_gaussian_kl_zero_at_prior():
    kl = gaussian_kl(np.zeros((3, 256), np.float32), np.zeros((3, 256), np.float32)).numpy()
    np.testing.assert_array_equal(kl, np.zeros(3, np.float32))


def test_gaussian_kl_stays_finite_for_extreme_log_var():
    kl = gaussian_kl(np.zeros((2, 4), np.float32), np.array([[1e4] * 4, [-1e4] * 4], np.float32))
    assert np.all(np.isfinite(kl.numpy()))


# --------------------------------------------------------------------------- validation


def test_unknown_backbone_or_encoder():
    with pytest.raises(ValueError, match="small_alexnet.*lenet"):
        build_encoder(backbone="resnet", encoder="vib", input_shape=TABLE_I)
    with pytest.raises(ValueError, match="deterministic.*vib"):
        build_head(backbone="lenet", encoder="gauss", num_classes=10, feature_dim=50, name="h")


def test_small_alexnet_rejects_other_sizes():
    with pytest.raises(ValueError, match=r"\(64, 64, 3\)"):
        build_encoder(backbone="small_alexnet", encoder="deterministic", input_shape=(64, 64, 3))


def test_lenet_other_sizes():
    enc = build_encoder(backbone="lenet", encoder="deterministic", input_shape=(28, 28, 1))
    # 28 -conv9-> 20 -pool-> 10 -conv5-> 6 -pool-> 3.
    assert tuple(enc.get_layer("flatten").output.shape) == (None, 3 * 3 * 20)
    enc = build_encoder(backbone="lenet", encoder="deterministic", input_shape=(20, 20, 1))
    assert tuple(enc.get_layer("flatten").output.shape) == (None, 1 * 1 * 20)
    with pytest.raises(ValueError, match=r">= 20.*\(19, 20, 1\)"):
        build_encoder(backbone="lenet", encoder="deterministic", input_shape=(19, 20, 1))


@pytest.mark.parametrize(
    ("num_classes", "task_names"),
    [((10,), ("a", "b")), ((10, 10), ("a", "a")), ((), ())],
)
def test_build_network_rejects_bad_tasks(num_classes, task_names):
    with pytest.raises(ValueError):
        build_network(
            backbone="lenet",
            encoder="deterministic",
            input_shape=TABLE_I,
            num_classes=num_classes,
            task_names=task_names,
        )
