"""Learning curves of staged runs: clean and FGSM accuracy against training steps.

A long run is trained in stages by raising ``--epochs`` on the same ``--output_dir`` (the
run resumes from its last checkpoint, and the epochs done are exactly those of one
uninterrupted run); after each stage its ``metrics.json`` is copied to
``<stages_dir>/<method>/epochs_<E>.json``. This script reads those copies and writes, into
``--out``:

* ``curves.csv`` / ``curves.md``: one row per (method, epochs): steps, and the test
  accuracy of each task at each eta of ``--etas`` (percent);
* ``learning_curves.png``: accuracy against steps, one panel per (task, eta), one line
  per method, the paper's value (``--paper_table``, `mtl_tf.evaluation.paper_tables`) as
  a dashed line of the method's colour.

Usage:
  python scripts/learning_curves.py --stages_dir=results/convergence_multi_mnist/stages \
      --out=results/convergence_multi_mnist --paper_table=mtvib_table_iii
"""

from __future__ import annotations

import argparse
import glob
import math
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mtl_tf.evaluation.paper_tables import PAPER_TABLES  # noqa: E402
from mtl_tf.evaluation.reports import canvas  # noqa: E402
from mtl_tf.evaluation.reports.columns import display_name, method_order  # noqa: E402
from mtl_tf.io_utils import atomic_write_text, read_json  # noqa: E402

_STAGE = re.compile(r"epochs_(\d+)\.json$")


def load_stages(stages_dir: str) -> dict[str, list[dict]]:
    """``{method: [metrics of each stage, by epochs]}`` from ``<dir>/<method>/epochs_E.json``."""
    out: dict[str, list[dict]] = {}
    for path in sorted(glob.glob(os.path.join(stages_dir, "*", "epochs_*.json"))):
        if not _STAGE.search(path):
            continue
        metrics = read_json(path)
        out.setdefault(metrics["method"], []).append(metrics)
    for stages in out.values():
        stages.sort(key=lambda m: m["epochs"])
    order = {m: i for i, m in enumerate(method_order())}
    return dict(sorted(out.items(), key=lambda kv: order.get(kv[0], len(order))))


def steps(metrics: dict) -> int:
    """Training steps of a run: epochs x batches per epoch (the last batch kept)."""
    per_epoch = math.ceil(int(metrics["train_size"]) / int(metrics["batch_size"]))
    return int(metrics["epochs"]) * per_epoch


def accuracy(metrics: dict, task: str, eta: str) -> float | None:
    """Test accuracy (%) of `task` at `eta` ("0" = clean), or None if not evaluated."""
    rob = metrics.get("robustness") or {}
    by_eta = rob.get("accuracy") or {}
    for key, row in by_eta.items():
        if float(key) == float(eta) and task in row:
            return 100.0 * float(row[task])
    if float(eta) == 0.0 and metrics.get("accuracy"):
        return 100.0 * float(metrics["accuracy"][task])
    return None


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def write_tables(stages: dict[str, list[dict]], etas: list[str], out: str,
                 paper: str | None) -> None:
    """Writes curves.csv and curves.md (the paper's value per column in the last row)."""
    tasks = next(iter(stages.values()))[0]["tasks"]
    header = ["method", "epochs", "steps", "wall_time_s"] + [
        f"{task}@{eta}" for task in tasks for eta in etas]
    rows = []
    for method, runs in stages.items():
        for m in runs:
            rows.append([display_name(method), str(m["epochs"]), str(steps(m)),
                         f"{m.get('wall_time_seconds', 0):.0f}"]
                        + [_fmt(accuracy(m, t, e)) for t in tasks for e in etas])
        if paper:
            table = PAPER_TABLES[paper]
            rows.append([f"{display_name(method)} (paper)", "", "120000", ""] + [
                _fmt(table.accuracy.get(t, {}).get(method, {}).get(e))
                for t in tasks for e in etas])
    atomic_write_text(os.path.join(out, "curves.csv"),
                      "\n".join(",".join(r) for r in [header, *rows]) + "\n")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    atomic_write_text(os.path.join(out, "curves.md"), "\n".join(lines) + "\n")


def plot(stages: dict[str, list[dict]], etas: list[str], out: str, paper: str | None) -> None:
    """Writes learning_curves.png: one panel per (task, eta)."""
    tasks = next(iter(stages.values()))[0]["tasks"]
    methods = list(stages)
    fig = canvas.new_figure(4.0 * len(etas), 3.2 * len(tasks))
    axes = fig.subplots(len(tasks), len(etas), squeeze=False)
    for i, task in enumerate(tasks):
        for j, eta in enumerate(etas):
            ax = axes[i][j]
            for method, runs in stages.items():
                colour = canvas.method_colour(method, methods)
                xs = [steps(m) for m in runs]
                ys = [accuracy(m, task, eta) for m in runs]
                ax.plot(xs, ys, marker=canvas.method_marker(method, methods), color=colour,
                        label=display_name(method))
                if paper:
                    ref = PAPER_TABLES[paper].accuracy.get(task, {}).get(method, {}).get(eta)
                    if ref is not None:
                        ax.axhline(ref, color=colour, linestyle="--", linewidth=1)
            ax.set_xscale("log")
            # The stages' own step counts as ticks: log-axis defaults overlap here.
            ticks = sorted({steps(m) for runs in stages.values() for m in runs})
            ax.set_xticks(ticks, [f"{t:,}" for t in ticks])
            ax.minorticks_off()
            ax.set_title(f"{task}, " + ("clean" if float(eta) == 0 else f"FGSM eta {eta}"))
            ax.set_xlabel("training steps")
            ax.set_ylabel("test accuracy (%)")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    if paper:
        canvas.add_caption(fig, [f"Dashed: {PAPER_TABLES[paper].title} at the paper's "
                                 "budget (120,000 pairs x 200 epochs)."])
    canvas.save_png(fig, os.path.join(out, "learning_curves.png"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages_dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--etas", default="0,0.1,0.3")
    parser.add_argument("--paper_table", default=None, choices=sorted(PAPER_TABLES))
    args = parser.parse_args(argv)
    stages = load_stages(args.stages_dir)
    if not stages:
        print(f"error: no <method>/epochs_<E>.json under {args.stages_dir}", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    etas = [e.strip() for e in args.etas.split(",")]
    write_tables(stages, etas, args.out, args.paper_table)
    plot(stages, etas, args.out, args.paper_table)
    print(f"Wrote {args.out}/curves.md, curves.csv, learning_curves.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
