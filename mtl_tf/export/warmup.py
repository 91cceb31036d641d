"""TensorFlow Serving warm-up requests: ``assets.extra/tf_serving_warmup_requests``.

TF Serving replays this file when it loads a model version, before the version serves
(``SavedModelBundleWarmup``): without it the first client request pays the graph's
start-up (pruning, kernel creation, oneDNN primitives). The format is the server's own:
a TFRecord file whose records are serialized ``tensorflow.serving.PredictionLog``
messages, each a ``predict_log`` holding a ``PredictRequest``. A request that fails
makes the version fail to load, so `mtl_tf.export.saved_model` runs every request
through the model before writing it.

The messages are encoded here from the protobuf wire format rather than with
tensorflow-serving-api's classes: that package is an optional extra (each release pins
one TensorFlow minor version), and exporting must not need it. The encoding is four
nested length-delimited fields; the tests parse the file back with the real
``PredictionLog`` class.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

ASSETS_EXTRA = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
# Images in the warm-up requests: one request of the first image and one of all of
# them, per signature. Few, because the file is copied with every version (MTFL's is
# 1.7 MB, MultiMNIST's 33 KB); two batch sizes, as oneDNN builds primitives per shape.
WARMUP_IMAGES = 4

# Field numbers of tensorflow_serving/apis/{prediction_log,predict,model}.proto.
_PREDICTION_LOG_PREDICT_LOG = 6
_PREDICT_LOG_REQUEST = 1
_REQUEST_MODEL_SPEC = 1
_REQUEST_INPUTS = 2  # map<string, TensorProto>: repeated {key = 1, value = 2} entries
_MODEL_SPEC_NAME = 1
_MODEL_SPEC_SIGNATURE_NAME = 3
_MAP_KEY, _MAP_VALUE = 1, 2
_LENGTH_DELIMITED = 2


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes | str) -> bytes:
    """One length-delimited field (a string, bytes or an embedded message)."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    return _varint(number << 3 | _LENGTH_DELIMITED) + _varint(len(payload)) + payload


def prediction_log(
    model_name: str, signature_name: str, inputs: dict[str, np.ndarray]
) -> bytes:
    """A serialized ``PredictionLog`` whose ``predict_log.request`` asks `model_name`'s
    `signature_name` signature for `inputs` (input name -> array)."""
    model_spec = _field(_MODEL_SPEC_NAME, model_name) + _field(
        _MODEL_SPEC_SIGNATURE_NAME, signature_name
    )
    request = _field(_REQUEST_MODEL_SPEC, model_spec)
    for name, array in inputs.items():
        tensor = tf.make_tensor_proto(np.asarray(array)).SerializeToString()
        request += _field(_REQUEST_INPUTS, _field(_MAP_KEY, name) + _field(_MAP_VALUE, tensor))
    return _field(_PREDICTION_LOG_PREDICT_LOG, _field(_PREDICT_LOG_REQUEST, request))


def write_warmup_requests(
    path: str, model_name: str, requests: Sequence[tuple[str, str, np.ndarray]]
) -> None:
    """Writes `requests`, ``(signature name, input name, batch)`` each, as a TFRecord of
    ``PredictionLog`` messages at `path`."""
    with tf.io.TFRecordWriter(path) as writer:
        for signature_name, input_name, batch in requests:
            writer.write(prediction_log(model_name, signature_name, {input_name: batch}))


def warmup_inputs(
    images: np.ndarray | None, input_shape: Sequence[int], count: int = WARMUP_IMAGES
) -> np.ndarray:
    """The float32 ``[n, H, W, C]`` images in [0, 1] the warm-up requests send.

    Args:
      images: None for `count` blank (all-zero) images, or images as a data set holds
        them: uint8 pixels 0..255 (divided by 255, as the training pipeline does) or
        floats in [0, 1], ``[N, H, W, C]`` or ``[N, H, W]`` for one channel. Only the
        first `count` are used.
      input_shape: The model's ``(H, W, C)``.
      count: How many images to keep.

    Raises:
      ValueError: The images do not have the model's shape, are empty, or are floats
        that are not finite or outside [0, 1] (TF Serving would then fail to load the
        version: a failing warm-up request fails the load).
    """
    shape = tuple(int(d) for d in input_shape)
    if images is None:
        return np.zeros((count, *shape), np.float32)
    array = np.asarray(images)[:count]
    if array.ndim == 3 and shape[-1] == 1:
        array = array[..., np.newaxis]
    if array.ndim != 4 or array.shape[1:] != shape or array.shape[0] == 0:
        raise ValueError(
            f"warm-up images must be [N, {', '.join(map(str, shape))}] with N >= 1 (the "
            f"model's input), got shape {list(np.shape(images))}"
        )
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"warm-up images must be uint8 or float, got {array.dtype}")
    array = array.astype(np.float32)
    if not np.all(np.isfinite(array)) or array.min() < 0.0 or array.max() > 1.0:
        raise ValueError(f"float warm-up images must be finite and in [0, 1]; "
                         f"got values in [{array.min()}, {array.max()}]")
    return array
