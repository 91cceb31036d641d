"""SavedModel export in the layout TensorFlow Serving watches.

    <export_dir>/
      models.config                 TF Serving model config (see `write_models_config`)
      <model_name>/
        1/                          one version per export; integers that only grow
          saved_model.pb
          variables/
          assets.extra/
            tf_serving_warmup_requests  replayed by TF Serving before the version serves
            class_names.json        {task: [name of class 0, ...]}, if the data set has names
        2/ ...
        .tmp-3-k2j4x/               an export in progress (or killed): TF Serving only
                                    loads integer-named directories, so it never sees it

Every exported model has two signatures:

* ``serving_default`` (method ``tensorflow/serving/predict``): input ``image``, float32
  ``[batch, H, W, C]`` with pixel values in [0, 1], exactly what the model was trained on.
  Anything else is refused with ``INVALID_ARGUMENT`` (`FLOAT_INPUT_POLICY`): without the
  check a NaN or infinite pixel got normal-looking probabilities, and 0..255 pixels sent
  as floats (or -1e6, 1e30) saturated the network into class 0 at probability 1.0.
* ``serving_uint8``: input ``image_uint8``, uint8 ``[batch, H, W, C]`` in 0..255, divided by
  255 inside the graph (clients can send raw pixels, 4x smaller over gRPC). It cannot be
  out of range, so it checks nothing but the shape.

Both return, per task ``<t>``, ``<t>_probabilities`` (float32 ``[batch, classes]``, the
softmax of the logits) and ``<t>_class_id`` (int64 ``[batch]``, the argmax), and, when the
task's classes have names (`mtl_tf.data.class_names`), ``<t>_class_name`` (string
``[batch]``, the name of the class id, from a constant vocabulary in the graph). A
regression task (its `TaskSpec`) returns ``<t>_prediction`` instead (float32 ``[batch,
d]``, the head's outputs; MTFL landmarks: centred normalised coordinates, see
`mtl_tf.data.mtfl_landmarks`).

Each version carries ``assets.extra/tf_serving_warmup_requests`` (see
`mtl_tf.export.warmup`): TF Serving runs these requests when it loads the version, so the
first client request does not pay the graph's start-up. ``assets.extra/class_names.json``
holds the same names as the ``<t>_class_name`` outputs, for clients that read ids.

The model runs in inference mode: BatchNorm uses its moving statistics and a VIB encoder
serves deterministically with z = mean (no sampling), so the same image always gets the
same answer, the answer `metrics.json` reports.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

# The version layout and models.config (`versions`), and the warm-up images (`warmup`),
# are re-exported here: they were first defined in this module.
from mtl_tf.export.versions import (  # noqa: F401
    DEFAULT_BASE_PATH_PREFIX,
    MODELS_CONFIG,
    exported_models,
    list_versions,
    publish_new_version,
    sanitize_model_name,
    validate_model_name,
    write_models_config,
    write_source,
)
from mtl_tf.export.warmup import (  # noqa: F401
    ASSETS_EXTRA,
    WARMUP_FILE,
    WARMUP_IMAGES,
    warmup_inputs,
    write_warmup_requests,
)

SERVING_DEFAULT = "serving_default"
SERVING_UINT8 = "serving_uint8"
INPUT_FLOAT = "image"
INPUT_UINT8 = "image_uint8"
CLASS_NAMES_FILE = "class_names.json"
# {task: [scale per output]} of regression heads trained on standardized losses
# (`TaskSpec.target_std`): what `--mode=eval --saved_model` attacks is the run's loss.
LOSS_SCALES_FILE = "regression_loss_scales.json"
# The error a client gets from serving_default for a non-finite or out-of-range pixel.
FLOAT_INPUT_POLICY = (
    "image must be finite float32 in [0, 1]; for 0..255 pixels use the serving_uint8 "
    "signature (input image_uint8)"
)

class _ServingModule(tf.Module):
    """What gets saved: the two serving functions and the variables they read.

    The tracked variables are the `tf.Variable`s the traced functions capture (weights
    and BatchNorm statistics), as `keras.export.ExportArchive` does, not the trainer or
    its Keras variables: (1) tracking Keras 3 variable wrappers gives a SavedModel that
    `tf.saved_model.load` accepts but the graph-mode loader used by TF Serving and
    `saved_model_cli run` does not ("Could not find variable logits/bias_1"); (2) the
    optimizer's slots, metric trackers and the VIB noise seed stay out of the export.
    """

    def __init__(
        self,
        trainer,
        input_shape: tuple[int, int, int],
        class_names: Mapping[str, Sequence[str]],
    ) -> None:
        super().__init__(name="mtl_serving")
        batch_shape = [None, *input_shape]
        task_names = tuple(trainer.task_names)
        # A regression head serves its raw outputs as `<task>_prediction` (its spec says
        # so); a classification head its probabilities, class id and class name.
        specs = {s.name: s for s in getattr(trainer, "task_specs", ())}
        regression = {t for t in task_names if t in specs and specs[t].is_regression}

        def predict(image: tf.Tensor) -> dict[str, tf.Tensor]:
            # A signature's TensorSpec is not checked when a SavedModel is run (TF
            # Serving, saved_model_cli): a wrong shape would otherwise fail deep inside
            # the network, or even abort the process (a rank-3 batch reaching the
            # oneDNN convolution). EnsureShape fails first, naming the expected shape.
            image = tf.ensure_shape(image, batch_shape)
            logits = trainer(image, training=False)  # VIB: z = mean
            outputs = {}
            for task in task_names:
                if task in regression:
                    outputs[f"{task}_prediction"] = tf.identity(logits[task])
                    continue
                outputs[f"{task}_probabilities"] = tf.nn.softmax(logits[task], axis=-1)
                outputs[f"{task}_class_id"] = tf.argmax(
                    logits[task], axis=-1, output_type=tf.int64
                )
                if task in class_names:
                    names = list(class_names[task])
                    if logits[task].shape[-1] != len(names):
                        raise ValueError(
                            f"task {task!r} has {logits[task].shape[-1]} classes but "
                            f"{len(names)} class names were given: {names}"
                        )
                    outputs[f"{task}_class_name"] = tf.gather(
                        tf.constant(names), outputs[f"{task}_class_id"]
                    )
            return outputs

        @tf.function(input_signature=[tf.TensorSpec(batch_shape, tf.float32, name=INPUT_FLOAT)])
        def serve_float(image):
            # Shape first: the range check's reductions assume the declared rank.
            image = tf.ensure_shape(image, batch_shape)
            return predict(_check_unit_range(image))

        @tf.function(input_signature=[tf.TensorSpec(batch_shape, tf.uint8, name=INPUT_UINT8)])
        def serve_uint8(image_uint8):
            image_uint8 = tf.ensure_shape(image_uint8, batch_shape)
            return predict(tf.cast(image_uint8, tf.float32) / 255.0)

        self.serve_float = serve_float
        self.serve_uint8 = serve_uint8
        self.serving_signatures = {
            SERVING_DEFAULT: serve_float.get_concrete_function(),
            SERVING_UINT8: serve_uint8.get_concrete_function(),
        }
        captured: dict[int, tf.Variable] = {}
        for fn in self.serving_signatures.values():
            for v in fn.variables:
                captured.setdefault(id(v), v)
        self.model_variables = list(captured.values())


def _check_unit_range(image: tf.Tensor) -> tf.Tensor:
    """`image`, after checking every value is finite and in [0, 1].

    Fails the request with ``InvalidArgumentError`` (``INVALID_ARGUMENT`` over REST /
    gRPC) whose message starts with `FLOAT_INPUT_POLICY`; the range check also reports
    the smallest and largest value received. CheckNumerics runs first (the range check
    reads its output): NaN compares false with everything, so only it names NaN / Inf.
    Two reductions over the batch: no measurable latency (22 ms vs 24 ms before for a
    batch of 200 36x36 images, Small AlexNet, 2 CPU cores).
    """
    image = tf.debugging.assert_all_finite(image, FLOAT_INPUT_POLICY)
    low, high = tf.reduce_min(image), tf.reduce_max(image)
    in_range = tf.logical_or(
        tf.equal(tf.size(image), 0),  # an empty batch has no pixel to be wrong
        tf.logical_and(low >= 0.0, high <= 1.0),
    )
    check = tf.debugging.Assert(
        in_range, [FLOAT_INPUT_POLICY, "got min", low, "max", high], summarize=1
    )
    with tf.control_dependencies([check]):
        return tf.identity(image)


def _input_shape(trainer) -> tuple[int, int, int]:
    shape = tuple(trainer.encoder.input_shape)[1:]
    if len(shape) != 3 or any(d is None for d in shape):
        raise ValueError(f"the encoder's input shape must be fully known (H, W, C), got {shape}")
    return tuple(int(d) for d in shape)  # type: ignore[return-value]



def _warmup_requests(module: _ServingModule, images: np.ndarray):
    """The ``(signature, input name, batch)`` warm-up requests, after running each
    through the model: a request that fails would make TF Serving refuse the version.

    Both signatures are warmed up: the server runs each as its own session callable
    (feeds and fetches differ), so warming ``serving_default`` alone leaves the first
    ``serving_uint8`` request cold.
    """
    batches = [images[:1], images] if len(images) > 1 else [images]
    requests = []
    for batch in batches:
        # x = u / 255 in float32 is within 1e-5 of u / 255, so rint restores u exactly.
        pixels = np.rint(batch * 255.0).astype(np.uint8)
        requests.append((SERVING_DEFAULT, INPUT_FLOAT, batch))
        requests.append((SERVING_UINT8, INPUT_UINT8, pixels))
    for signature, _, batch in requests:
        fn = module.serve_float if signature == SERVING_DEFAULT else module.serve_uint8
        fn(tf.constant(batch))
    return requests


def export_model(
    trainer,
    export_dir: str,
    model_name: str,
    *,
    class_names: Mapping[str, Sequence[str]] | None = None,
    warmup_images: np.ndarray | None = None,
    source: Mapping[str, object] | None = None,
) -> str:
    """Exports `trainer` as a new version of `model_name` under `export_dir`.

    The SavedModel has the signatures ``serving_default`` (input ``image``, float32
    ``[batch, H, W, C]`` in [0, 1]; a non-finite or out-of-range value fails the request
    with `FLOAT_INPUT_POLICY`) and ``serving_uint8`` (input ``image_uint8``, uint8 in
    0..255), each returning ``<task>_probabilities`` (float32 ``[batch, classes]``) and
    ``<task>_class_id`` (int64 ``[batch]``) per task, plus ``<task>_class_name`` (string
    ``[batch]``) for each task in `class_names`. The model serves in inference mode:
    BatchNorm moving statistics, and for VIB encoders z = mean, so predictions are
    deterministic.

    The version also holds ``assets.extra/tf_serving_warmup_requests`` (TF Serving's
    warm-up file: for each signature, a request of the first warm-up image and one of
    all of them) and, with class names, ``assets.extra/class_names.json``.

    Args:
      trainer: a `mtl_tf.training.trainer.MultiTaskTrainer` (anything with `.encoder`,
        `.task_names` and ``__call__(images, training=False) -> {task: logits}``).
      export_dir: the directory TF Serving watches (e.g. ``export/models``).
      model_name: the served model's name; must be a safe directory name
        (``[A-Za-z0-9_][A-Za-z0-9_.-]*``, see `sanitize_model_name`).
      class_names: ``{task: names, one per class id}``
        (`mtl_tf.data.class_names.class_names`); tasks the model does not serve are
        ignored. None: ids only.
      warmup_images: images for the warm-up requests, see `warmup_inputs` (the first
        `WARMUP_IMAGES`; real test images are the most faithful). None: blank images,
        which exercise the same graph and kernels.
      source: what the model was exported from (`mtl_tf.export.versions.checkpoint_source`),
        recorded in ``assets.extra/mtl_tf_source.json``; None records nothing.

    Returns:
      The new version directory ``<export_dir>/<model_name>/<version>``; the version is
      one more than the largest existing one (1 for a new model). Existing versions are
      never touched. Heads trained on standardized losses also get
      ``assets.extra/regression_loss_scales.json`` (see `read_loss_scales`).

    Raises:
      ValueError: `model_name` is not a safe directory name, the input shape is not
        fully known, a task's class count differs from its number of names, or the
        warm-up images do not fit the model.
    """
    validate_model_name(model_name)
    served = tuple(trainer.task_names)
    names = {t: tuple(str(n) for n in class_names[t]) for t in served
             if class_names and t in class_names}
    input_shape = _input_shape(trainer)
    scales = {s.name: list(s.target_std) for s in getattr(trainer, "task_specs", ())
              if s.name in served and s.target_std is not None}
    # Traced and warmed up before the temporary directory exists: a model that cannot
    # be traced, or warm-up images it refuses, fail here without touching export_dir.
    module = _ServingModule(trainer, input_shape, names)
    requests = _warmup_requests(module, warmup_inputs(warmup_images, input_shape))

    def write(tmp: str) -> None:
        tf.saved_model.save(module, tmp, signatures=module.serving_signatures)
        extra = os.path.join(tmp, ASSETS_EXTRA)
        os.makedirs(extra, exist_ok=True)
        write_warmup_requests(os.path.join(extra, WARMUP_FILE), model_name, requests)
        if names:
            with open(os.path.join(extra, CLASS_NAMES_FILE), "w", encoding="utf-8") as f:
                json.dump({t: list(n) for t, n in names.items()}, f, indent=2,
                          ensure_ascii=False)
                f.write("\n")
        if scales:
            with open(os.path.join(extra, LOSS_SCALES_FILE), "w", encoding="utf-8") as f:
                json.dump(scales, f, indent=2)
                f.write("\n")
        if source is not None:
            write_source(tmp, dict(source))

    return publish_new_version(os.path.join(export_dir, model_name), write)


def read_loss_scales(version_dir: str) -> dict[str, tuple[float, ...]]:
    """The per-output loss scales an export recorded for its regression heads
    (``TaskSpec.target_std``, `--regression_loss_units=standardized`); {} when the
    heads were trained on raw losses or the export predates the file."""
    path = os.path.join(version_dir, ASSETS_EXTRA, LOSS_SCALES_FILE)
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return {str(t): tuple(float(v) for v in s) for t, s in json.load(f).items()}
