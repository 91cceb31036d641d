"""Flags that change what the process prints, never what a run computes."""

from __future__ import annotations

import sys

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


class _VersionFlag(flags.BooleanFlag):
    """--version: prints `mtl-tf <version>` and exits, as --help does, before any check."""

    def __init__(self) -> None:
        super().__init__("version", False, "Print mtl_tf's version and exit.")

    def parse(self, argument: str) -> None:
        super().parse(argument)
        if self.value:
            from mtl_tf import __version__

            print(f"mtl-tf {__version__}", flush=True)
            sys.exit(0)


flags.DEFINE_flag(_VersionFlag(), module_name=__name__)
