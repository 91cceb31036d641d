"""The level and the shape of FGSM accuracy curves, ours under each protocol beside the paper's.

MTVIB Tables III-IV show a large drop from clean accuracy to eta 0.05, then a slow and
nearly linear decline to eta 0.3. This script puts numbers on that shape for every
re-scored model of ``<out>/results/<method>--<protocol>.json`` (the layout of
``scripts/convergence_protocols.sh`` and ``bench/attack_protocols.sh``; each file also
carries the standard protocol) and for the paper's row of the same method:

* ``level@0.3``: accuracy (%) at eta 0.3;
* ``first drop``: clean minus eta 0.05 (points);
* ``later slope``: mean loss per 0.05 of eta from 0.05 to 0.3 (points);
* ``linearity``: R^2 of a straight line through eta 0.05..0.3 (1 = linear);
* ``|gap|``: mean absolute difference from the paper over eta 0.05..0.3 (points).

Usage:
  python scripts/fgsm_shape.py OUT [--paper_table=mtvib_table_iii] > shape.md
"""

from __future__ import annotations

import argparse
import glob
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mtl_tf.evaluation.paper_tables import PAPER_TABLES  # noqa: E402
from mtl_tf.io_utils import read_json  # noqa: E402

_LATER = ("0.05", "0.1", "0.15", "0.2", "0.25", "0.3")


def _eta_key(eta: float) -> str:
    return f"{eta:g}"


def curve(section: dict, task: str) -> dict[str, float]:
    """``{eta: accuracy %}`` of one task from a metrics.json robustness section."""
    return {_eta_key(float(e)): 100 * float(acc[task]) for e, acc in section["accuracy"].items()}


def shape(points: dict[str, float], paper: dict[str, float] | None = None) -> dict[str, float]:
    """The shape numbers of one accuracy-vs-eta curve (see the module docstring)."""
    x = np.array([float(e) for e in _LATER])
    y = np.array([points[e] for e in _LATER])
    fit = np.polyfit(x, y, 1)
    residual = y - np.polyval(fit, x)
    total = float(((y - y.mean()) ** 2).sum())
    out = {
        "clean": points["0"],
        "level": points["0.3"],
        "first_drop": points["0"] - points["0.05"],
        "later_slope": (points["0.05"] - points["0.3"]) / (len(_LATER) - 1),
        "linearity": 1.0 - float((residual ** 2).sum()) / total if total > 0 else 1.0,
    }
    if paper is not None:
        out["gap"] = float(np.mean([abs(points[e] - paper[e]) for e in _LATER]))
    return out


def rows(out: str, table: str) -> list[tuple[str, str, str, dict[str, float]]]:
    """(method, protocol, task, shape) for every re-scored model, standard included once,
    then the paper's rows."""
    paper = PAPER_TABLES[table]
    seen: set[tuple[str, str]] = set()
    result = []
    for path in sorted(glob.glob(os.path.join(out, "results", "*--*.json"))):
        method, protocol = os.path.basename(path)[:-5].split("--")
        metrics = read_json(path)
        sections = [("standard", metrics["robustness"])]
        if metrics.get("robustness_protocol"):
            sections.append((protocol, metrics["robustness_protocol"]))
        for name, section in sections:
            if (method, name) in seen:
                continue
            seen.add((method, name))
            for task in paper.tasks:
                ref = paper.accuracy[task].get(method)
                result.append((method, name, task, shape(curve(section, task), ref)))
    for method in sorted({r[0] for r in result}):
        for task in paper.tasks:
            if method in paper.accuracy[task]:
                result.append((method, "paper", task, shape(paper.accuracy[task][method])))
    order = {"standard": 0, "paper": 99}
    return sorted(result, key=lambda r: (r[0], r[2], order.get(r[1], 1), r[1]))


def markdown(table_rows: list[tuple[str, str, str, dict[str, float]]]) -> str:
    lines = ["| method | task | protocol | clean | level@0.3 | first drop | later slope "
             "| linearity R² | mean abs. gap to paper |",
             "|---|---|---|---|---|---|---|---|---|"]
    for method, protocol, task, s in table_rows:
        gap = f"{s['gap']:.1f}" if "gap" in s else ""
        lines.append(f"| {method} | {task} | {protocol} | {s['clean']:.1f} | {s['level']:.1f} "
                     f"| {s['first_drop']:.1f} | {s['later_slope']:.1f} "
                     f"| {s['linearity']:.3f} | {gap} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out")
    parser.add_argument("--paper_table", default="mtvib_table_iii", choices=sorted(PAPER_TABLES))
    args = parser.parse_args(argv[1:])
    print(markdown(rows(args.out, args.paper_table)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
