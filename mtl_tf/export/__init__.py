"""Export trained models as SavedModels for TensorFlow Serving.

`export_model` writes one model as a new version ``<export_dir>/<name>/<version>/``,
`write_models_config` lists the exported models in ``<export_dir>/models.config``, and
`export_run` does both for every model of a finished run directory. Layout and
signatures: `mtl_tf.export.saved_model`; serving instructions: ``export/README.md``.
"""

from mtl_tf.export.runs import export_run
from mtl_tf.export.saved_model import (
    INPUT_FLOAT,
    INPUT_UINT8,
    MODELS_CONFIG,
    SERVING_DEFAULT,
    SERVING_UINT8,
    export_model,
    exported_models,
    list_versions,
    sanitize_model_name,
    validate_model_name,
    write_models_config,
)
from mtl_tf.run_dir.restore import INPUT_SHAPES

__all__ = [
    "INPUT_FLOAT",
    "INPUT_SHAPES",
    "INPUT_UINT8",
    "MODELS_CONFIG",
    "SERVING_DEFAULT",
    "SERVING_UINT8",
    "export_model",
    "export_run",
    "exported_models",
    "list_versions",
    "sanitize_model_name",
    "validate_model_name",
    "write_models_config",
]
