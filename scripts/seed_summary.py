"""Mean ± sd over seeds, paired method differences and front hypervolumes of one experiment.

Reads the report directories that ``main.py --experiment=<name> --seed=N`` wrote (one per
seed; ``--methods`` runs may hold only the key methods) and prints Markdown tables; the
numbers of BENCHMARKS.md's seed tables are what this prints. See
`mtl_tf.evaluation.seeds`.

Usage, from the repository root:

    python scripts/seed_summary.py --methods=gs,uwl,mtvib --compare=mtvib:uwl,mtvib:gs \
        --report_dirs=runs/repro_multi_mnist-seed0,runs/repro_multi_mnist-seed1,...
"""

from __future__ import annotations

import os
import sys

from absl import app, flags

# Runnable as a plain script from a source checkout without installing the package.
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from mtl_tf.evaluation.seeds import summary_markdown  # noqa: E402
from mtl_tf.io_utils import atomic_write_text  # noqa: E402

_REPORT_DIRS = flags.DEFINE_list(
    "report_dirs", None, "Report directories of one experiment, one per seed.", required=True)
_METHODS = flags.DEFINE_list(
    "methods", None, "Methods to tabulate (default: those present in every report).")
_COMPARE = flags.DEFINE_list(
    "compare", [], "Pairs A:B of single-model methods; prints A minus B paired by seed.")
_HYPERVOLUME = flags.DEFINE_boolean(
    "hypervolume", True, "Also print each method's front hypervolume over seeds.")
_OUTPUT = flags.DEFINE_string(
    "output", None, "Also write the Markdown to this file (atomically).")


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    pairs = []
    for item in _COMPARE.value:
        a, sep, b = item.partition(":")
        if not sep or not a or not b:
            print(f"error: --compare item {item!r} is not of the form A:B (e.g. mtvib:uwl)",
                  file=sys.stderr)
            return 2
        pairs.append((a, b))
    try:
        text = summary_markdown(_REPORT_DIRS.value, methods=_METHODS.value, pairs=pairs,
                                hypervolume=_HYPERVOLUME.value)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(text, end="")
    if _OUTPUT.value:
        atomic_write_text(_OUTPUT.value, text)
    return 0


if __name__ == "__main__":
    app.run(main)
