"""The run directory: what defines a run, who may write it, and rebuilding its models.

* `rules`: which `RunConfig` fields define a run (identity) and which a rerun may change
  (presentation, evaluation, continuation); the same-run check; finished runs.
* `lock`: one process writes a run directory at a time.
* `restore`: a finished run's models rebuilt from config.json, metrics.json and
  checkpoints (for export, re-evaluation and reports).
"""

from mtl_tf.run_dir.lock import LOCK_FILE, RunDirBusyError, locked
from mtl_tf.run_dir.rules import (
    CONTINUATION_FIELDS,
    EVALUATION_FIELDS,
    PRESENTATION_FIELDS,
    REEVALUATION_FIELDS,
    RESUMABLE_FIELDS,
    RunDirConflictError,
    check_output_dir_is_usable,
    check_same_run,
    config_dict,
    finished_metrics,
)

__all__ = [
    "CONTINUATION_FIELDS",
    "EVALUATION_FIELDS",
    "LOCK_FILE",
    "PRESENTATION_FIELDS",
    "REEVALUATION_FIELDS",
    "RESUMABLE_FIELDS",
    "RunDirBusyError",
    "RunDirConflictError",
    "check_output_dir_is_usable",
    "check_same_run",
    "config_dict",
    "finished_metrics",
    "locked",
]
