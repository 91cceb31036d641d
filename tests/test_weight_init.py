"""Initialisation parity with the PyTorch reference (issue #15 item 5): with
``weight_init="pytorch"`` every conv and dense kernel and bias is U(-1/sqrt(fan_in),
1/sqrt(fan_in)), as PyTorch's nn.Conv2d / nn.Linear defaults."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from mtl_tf.models import build_network, initialize_weights
from mtl_tf.models.initialization import pytorch_bound


def _network(encoder="deterministic", backbone="lenet", init="pytorch", seed=0):
    keras.utils.set_random_seed(seed)
    enc, heads = build_network(backbone=backbone, encoder=encoder, input_shape=(36, 36, 1),
                               num_classes=(10, 10), task_names=("a", "b"), latent_dim=64)
    initialize_weights([enc, *heads.values()], init)
    return enc, heads


def _kernels_and_biases(models):
    out = []
    for model in models:
        for weight in model.weights:
            if weight.path.endswith("/kernel"):
                bias = next(w for w in model.weights
                            if w.path == weight.path.removesuffix("kernel") + "bias")
                out.append((weight.path, weight.numpy(), bias.numpy()))
    return out


@pytest.mark.parametrize("encoder", ["deterministic", "vib"])
def test_lenet_weights_have_pytorch_default_bounds_and_variance(encoder):
    enc, heads = _network(encoder)
    layers = _kernels_and_biases([enc, *heads.values()])
    # LeNet: conv1, conv2, fc1, (vib mean, vib log_var,) two heads.
    assert len(layers) == (7 if encoder == "vib" else 5)
    for path, kernel, bias in layers:
        bound = 1.0 / np.sqrt(np.prod(kernel.shape[:-1]))
        assert np.abs(kernel).max() <= bound, path
        assert np.abs(bias).max() <= bound, path
        assert np.any(bias != 0), path  # Keras' default bias is 0
        if kernel.size >= 1000:  # U(-b, b) has variance b^2 / 3
            assert kernel.var() == pytest.approx(bound**2 / 3, rel=0.1), path
            assert np.abs(kernel).max() > 0.95 * bound, path  # not a narrower draw


def test_reference_bounds_of_lenet():
    """ParetoMTL's MultiLeNet: conv 1->10 9x9 (fan_in 81), conv 10->20 5x5 (250),
    FC 500->50, heads 50->10."""
    assert pytorch_bound((9, 9, 1, 10)) == pytest.approx(1 / 9)
    assert pytorch_bound((5, 5, 10, 20)) == pytest.approx(1 / np.sqrt(250))
    assert pytorch_bound((500, 50)) == pytest.approx(1 / np.sqrt(500))
    assert pytorch_bound((50, 10)) == pytest.approx(1 / np.sqrt(50))


def test_keras_init_is_unchanged_and_pytorch_init_is_seeded():
    enc, heads = _network(init="keras")
    for path, _kernel, bias in _kernels_and_biases([enc, *heads.values()]):
        assert not np.any(bias), path  # the default: nothing re-drawn
    a = _network(seed=5)[0].get_weights()
    b = _network(seed=5)[0].get_weights()
    c = _network(seed=6)[0].get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])


def test_any_backbone_small_alexnet_included():
    enc, heads = _network(backbone="small_alexnet")
    layers = _kernels_and_biases([enc, *heads.values()])
    assert len(layers) == 3 + 2 * 2  # conv1, conv2, fc1; per head FC 192 and logits
    for path, kernel, bias in layers:
        bound = 1.0 / np.sqrt(np.prod(kernel.shape[:-1]))
        assert np.abs(kernel).max() <= bound and np.abs(bias).max() <= bound, path
    with pytest.raises(ValueError, match="unknown weight initialisation"):
        initialize_weights([enc], "xavier")
