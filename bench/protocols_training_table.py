"""Markdown tables of bench/protocols_training.sh's runs (for bench/PROTOCOLS_TRAINING.md).

    python bench/protocols_training_table.py runs/protocols_training

One row per model: clean test accuracy per task and joint (inference mode), FGSM
accuracy at every eta (top-left / bottom-right, joint), the last epoch's task weights
where they move, and the run's wall time (training + evaluation, from metrics.json).
"""

from __future__ import annotations

import json
import os
import sys


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else "runs/protocols_training"
    runs = sorted(d for d in os.listdir(out) if os.path.isfile(os.path.join(out, d,
                                                                            "metrics.json")))
    etas = None
    rows = []
    for name in runs:
        with open(os.path.join(out, name, "metrics.json")) as f:
            metrics = json.load(f)
        tasks = metrics["tasks"]
        for model in metrics["models"]:
            robustness = model.get("robustness") or metrics.get("robustness") or {}
            etas = etas or [e for e in robustness.get("accuracy", {}) if float(e) > 0]
            acc = model["accuracy"]
            cells = [f"{name} / {model['name']}" if len(metrics["models"]) > 1 else name,
                     _pct(acc[tasks[0]]), _pct(acc[tasks[1]]), _pct(model["joint_accuracy"])]
            for eta in etas:
                at = robustness["accuracy"][eta]
                cells.append(f"{_pct(at[tasks[0]])} / {_pct(at[tasks[1]])} "
                             f"({_pct(robustness['joint_accuracy'][eta])})")
            weights = model.get("task_weights") or {}
            cells.append(", ".join(f"{weights[t]:.3f}" for t in tasks) if weights else "-")
            cells.append(f"{metrics['wall_time_seconds']:.0f}")
            rows.append(cells)
    header = ["run / model", "top-left %", "bottom-right %", "joint %",
              *[f"FGSM eta {e}: TL / BR (joint) %" for e in etas or []],
              "task weights (last epoch)", "wall s"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for cells in rows:
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
