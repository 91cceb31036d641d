"""Flags that change what the process prints, never what a run computes."""

from __future__ import annotations

from absl import flags

TITLE = "Diagnostics"

flags.DEFINE_integer("tf_log_level", None,
                     "TensorFlow's C++ log level (sets TF_CPP_MIN_LOG_LEVEL): 0 everything, "
                     "1 no INFO, 2 no INFO or WARNING, 3 no ERROR either. It also filters "
                     "TensorFlow's start-up lines (the oneDNN notice; on a machine without an "
                     "NVIDIA driver the failed CUDA probe counts as INFO). Default: "
                     "$TF_CPP_MIN_LOG_LEVEL if set, else 2.",
                     lower_bound=0, upper_bound=3)
flags.DEFINE_boolean("traceback", False,
                     "Let an error end in its full Python traceback instead of one "
                     "'error: ...' line (for bug reports).")
