"""Flags: where a run is written, how many checkpoints it keeps, where it is exported."""

from __future__ import annotations

from absl import flags

from mtl_tf.config import RunConfig

TITLE = "Run directory and export"

_DEFAULTS = RunConfig()

# The one flag whose default differs from RunConfig's: unset, the run directory is named
# after the run (`definitions.default_output_dir`), so two methods never share one.
flags.DEFINE_string("output_dir", None,
                    "Run directory (default runs/<method>-<dataset>-seed<seed>). Rerunning "
                    "the same command resumes from its last checkpoint.")
flags.DEFINE_integer("keep_checkpoints", _DEFAULTS.keep_checkpoints,
                     "How many per-epoch checkpoints to keep.", lower_bound=1)
# Not a setting of the run (no RunConfig field): where to put a copy of it afterwards.
flags.DEFINE_string("export_dir", "export/models",
                    "After training, export every trained model as a versioned SavedModel "
                    "for TensorFlow Serving under <export_dir>/<model>/<version>/ (and "
                    "write <export_dir>/models.config); empty: do not export.")
