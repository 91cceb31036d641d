"""Export trained models as SavedModels for TensorFlow Serving.

`export_model` writes one model as a new version ``<export_dir>/<name>/<version>/``,
`write_models_config` lists the exported models in ``<export_dir>/models.config``, and
`export_run` does both for every model of a finished run directory. Layout and
signatures: `mtl_tf.export.saved_model`; warm-up requests: `mtl_tf.export.warmup`;
serving instructions: ``export/README.md``.
"""

from mtl_tf.export.runs import export_run
from mtl_tf.export.saved_model import (
    CLASS_NAMES_FILE,
    INPUT_FLOAT,
    INPUT_UINT8,
    MODELS_CONFIG,
    SERVING_DEFAULT,
    SERVING_UINT8,
    WARMUP_IMAGES,
    export_model,
    exported_models,
    list_versions,
    sanitize_model_name,
    validate_model_name,
    warmup_inputs,
    write_models_config,
)
from mtl_tf.export.warmup import ASSETS_EXTRA, WARMUP_FILE
from mtl_tf.run_dir.restore import INPUT_SHAPES

__all__ = [
    "ASSETS_EXTRA",
    "CLASS_NAMES_FILE",
    "INPUT_FLOAT",
    "INPUT_SHAPES",
    "INPUT_UINT8",
    "MODELS_CONFIG",
    "SERVING_DEFAULT",
    "SERVING_UINT8",
    "WARMUP_FILE",
    "WARMUP_IMAGES",
    "export_model",
    "export_run",
    "exported_models",
    "list_versions",
    "sanitize_model_name",
    "validate_model_name",
    "warmup_inputs",
    "write_models_config",
]
