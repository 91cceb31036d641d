"""The FGSM table of every evaluation protocol, from the results of bench/attack_protocols.sh.

Reads ``<out>/results/<method>--<protocol>.json`` (metrics.json copies after each
re-scoring) and prints, per protocol, the accuracy (%) per task and model at every eta
(joint accuracy below) and the fraction of test pairs whose attacked loss has an exactly
zero input gradient (per task: that task's loss alone; per pair: the attacked loss), in
the markdown of bench/ATTACK_PROTOCOLS.md. The standard protocol's table comes from the
``robustness`` section every re-scoring recomputes (identical in each file: checked).

    python bench/attack_protocols_table.py runs/ap
"""

from __future__ import annotations

import glob
import json
import os
import sys

METHODS = ("mtvib", "uwl", "gs")


def _load(out: str) -> dict[str, dict[str, dict]]:
    by_protocol: dict[str, dict[str, dict]] = {}
    for path in sorted(glob.glob(os.path.join(out, "results", "*--*.json"))):
        method, protocol = os.path.basename(path)[:-5].split("--")
        with open(path) as f:
            by_protocol.setdefault(protocol, {})[method] = json.load(f)
    return by_protocol


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}"


def _table(results: dict[str, dict], key: str) -> list[str]:
    methods = [m for m in METHODS if m in results]
    first = results[methods[0]][key]
    tasks = list(first["accuracy"]["0"] if "0" in first["accuracy"] else
                 next(iter(first["accuracy"].values())))
    etas = list(first["accuracy"])
    lines = ["| task | eta | " + " | ".join(methods) + " |",
             "|---|---|" + "---|" * len(methods)]
    for task in tasks:
        for eta in etas:
            lines.append(f"| {task} | {eta} | " + " | ".join(
                _pct(results[m][key]["accuracy"][eta][task]) for m in methods) + " |")
    for eta in etas:
        cells = [results[m][key]["joint_accuracy"] for m in methods]
        lines.append(f"| joint | {eta} | " + " | ".join(
            _pct(c[eta] if c else None) for c in cells) + " |")
    zero = [results[m][key].get("zero_gradient_fraction") for m in methods]
    if any(zero):
        for task in tasks:
            lines.append(f"| zero gradient, {task} | | " + " | ".join(
                _pct(z["tasks"][task]) if z else "n/a" for z in zero) + " |")
        lines.append("| zero gradient, pair | | " + " | ".join(
            _pct(z.get("pair")) if z else "n/a" for z in zero) + " |")
    return lines


def main(argv: list[str]) -> int:
    out = argv[1] if len(argv) > 1 else "runs/ap"
    by_protocol = _load(out)
    if not by_protocol:
        print(f"no results in {out}/results", file=sys.stderr)
        return 2
    # The standard result: the same in every file of a model (it is deterministic).
    standard: dict[str, dict] = {}
    for results in by_protocol.values():
        for method, metrics in results.items():
            if method in standard:
                assert standard[method]["robustness"] == metrics["robustness"], method
            else:
                standard[method] = metrics
    print("### standard (z = mean, unweighted sum, CE from logits, eta in [0, 1] pixels)\n")
    print("\n".join(_table(standard, "robustness")) + "\n")
    for protocol, results in by_protocol.items():
        methods = [m for m in METHODS if m in results]
        print(f"### {protocol}\n")
        for m in methods:  # a deterministic model falls back to z = mean: names differ
            rob = results[m]["robustness_protocol"]
            print(f"- {m}: protocol `{rob['protocol']['name']}` (eta scale "
                  f"{rob['protocol']['eta_scale']:g} pixels per unit); attacked loss: "
                  f"{rob['loss']}")
        print()
        print("\n".join(_table(results, "robustness_protocol")) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
