"""Flags: where a run is written, how many checkpoints it keeps, how often TensorBoard
curves are logged, where it is exported."""

from __future__ import annotations

from absl import flags

from mtl_tf.config import RunConfig, parse_update_freq

TITLE = "Run directory and export"

_DEFAULTS = RunConfig()

# The one flag whose default differs from RunConfig's: unset, the run directory is named
# after the run (`definitions.default_output_dir`), so two methods never share one.
flags.DEFINE_string("output_dir", None,
                    "Run directory (default runs/<method>-<dataset>-seed<seed>). Rerunning "
                    "the same command resumes from its last checkpoint.")
flags.DEFINE_integer("keep_checkpoints", _DEFAULTS.keep_checkpoints,
                     "How many per-epoch checkpoints to keep.", lower_bound=1)
flags.DEFINE_string("tb_update_freq", _DEFAULTS.tb_update_freq,
                    "How often the TensorBoard training curves (tensorboard/train/) get a "
                    "point: epoch (once per epoch), batch (every training step), or N "
                    "(every N training steps; batch_* scalars, steps numbered across "
                    "epochs and resumes). Changes no result: a rerun may change it.")
# Not a setting of the run (no RunConfig field): where to put a copy of it afterwards.
flags.DEFINE_string("export_dir", "export/models",
                    "After training, export every trained model as a versioned SavedModel "
                    "for TensorFlow Serving under <export_dir>/<model>/<version>/ (and "
                    "write <export_dir>/models.config); empty: do not export.")


@flags.validator("tb_update_freq",
                 message="--tb_update_freq must be epoch, batch or a positive integer N "
                         "(log every N training steps), e.g. --tb_update_freq=10")
def _check_tb_update_freq(value: str) -> bool:
    try:
        parse_update_freq(value)
    except ValueError:
        return False
    return True
