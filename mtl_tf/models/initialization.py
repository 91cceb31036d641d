"""Weight initialisation schemes: Keras' own, or PyTorch's defaults (reference parity).

The Pareto MTL reference (PyTorch) initialises its LeNet with PyTorch's defaults:
``nn.Conv2d`` and ``nn.Linear`` draw the kernel with ``kaiming_uniform_(a=sqrt(5))``,
whose bound is ``gain * sqrt(3 / fan_in)`` with ``gain = sqrt(2 / (1 + 5))``, i.e.
``1 / sqrt(fan_in)``, and the bias from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``. Keras
draws kernels glorot-uniform (bound ``sqrt(6 / (fan_in + fan_out))``) and zero biases.
For LeNet's FC 500 -> 50 the kernel bounds are 0.045 (PyTorch) and 0.10 (Keras).

``"pytorch"`` re-draws, after the model is built, every Conv2D / Dense kernel and bias of
the given models (any backbone, the VIB bottleneck's layers included) with those bounds;
BatchNorm starts at gamma 1, beta 0 in both frameworks and is left alone. The draws come
from Keras' global seed (`keras.utils.set_random_seed`), as every other initialiser here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import keras
import numpy as np

# `mtl_tf.choices.WEIGHT_INITS`.
WEIGHT_INITS: tuple[str, ...] = ("keras", "pytorch")


def _sublayers(layer: keras.layers.Layer) -> Iterator[keras.layers.Layer]:
    # Keras' own recursive walk over nested layers (functional models and layers that own
    # layers, such as the VIB bottleneck's two Dense layers); it has no public equivalent.
    # tests/test_protocols_training.py checks that every kernel of every model is reached.
    yield from layer._flatten_layers(include_self=True, recursive=True)


def pytorch_bound(kernel_shape: tuple[int, ...]) -> float:
    """``1 / sqrt(fan_in)`` for a Keras Dense ``(in, out)`` or Conv ``(kh, kw, in, out)``
    kernel: PyTorch's default bound for that layer's kernel and bias."""
    fan_in = int(np.prod(kernel_shape[:-1]))
    return 1.0 / float(np.sqrt(fan_in))


def initialize_weights(models: Iterable[keras.layers.Layer], scheme: str) -> None:
    """Applies the initialisation `scheme` to already built models, in place.

    Args:
      models: built Keras models or layers (an encoder and its heads).
      scheme: ``"keras"`` (leave the weights as built: the default, the results so far)
        or ``"pytorch"`` (PyTorch's default for conv and linear layers, see the module
        docstring).

    Raises:
      ValueError: an unknown scheme.
    """
    if scheme not in WEIGHT_INITS:
        raise ValueError(f"unknown weight initialisation {scheme!r}; allowed: "
                         f"{', '.join(WEIGHT_INITS)}")
    if scheme == "keras":
        return
    seen: set[int] = set()
    for model in models:
        for layer in _sublayers(model):
            if not isinstance(layer, keras.layers.Dense | keras.layers.Conv2D):
                continue
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            bound = pytorch_bound(tuple(layer.kernel.shape))
            draw = keras.initializers.RandomUniform(minval=-bound, maxval=bound)
            layer.kernel.assign(draw(layer.kernel.shape, dtype=layer.kernel.dtype))
            if layer.bias is not None:
                layer.bias.assign(draw(layer.bias.shape, dtype=layer.bias.dtype))
