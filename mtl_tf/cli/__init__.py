"""The `mtl-tf` command line, inside the package so that an installed wheel has it.

`main` is the console script (`mtl-tf`, `python -m mtl_tf`, and `python main.py` in a
checkout); `mtl_tf.cli.app` holds the commands, `mtl_tf.cli.flags` the flags. Nothing here
imports TensorFlow until the flags have been checked.
"""

from mtl_tf.cli.app import main

__all__ = ["main"]
