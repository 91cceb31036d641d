"""mtl_tf command line from a checkout: `python main.py [--flags]`.

The command itself lives in the package (`mtl_tf.cli`), so that an installed wheel has it
as the `mtl-tf` console script and `python -m mtl_tf`; this file is the same command for
a checkout, e.g. `python main.py --flagfile=flags/mtvib_multi_mnist.flags`. `--help`
lists the flags by topic.
"""

from __future__ import annotations

from mtl_tf.cli.app import (  # noqa: F401  (the names main.py has always offered)
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    EXIT_UNEXPECTED,
    INTERRUPTED_MESSAGE,
    _experiment,
    command,
    error_line,
    main,
    usage_text,
)

if __name__ == "__main__":
    main()
