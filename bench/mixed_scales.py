"""How each weighting treats two tasks whose losses differ by orders of magnitude.

Issue #18 item 1: MGDA's `loss` / `loss+` normalisations, GradNorm and Pareto MTL (which
normalises the loss vector by its norm) on a regression loss ~1e-3 beside a
cross-entropy ~1. Data: 36x36 images with a bright 6x6 square; task "where" regresses the
square's centre ((x, y) / 36 - 0.5, mse: ~0.05 at the start, ~1e-3 once learned), task
"row" classifies which third of the image it is in (3 classes, cross-entropy ~1.1 at the
start). LeNet, Adam 3e-3, batch 50, 1,200 training / 400 test images.

For every method: the mean task weights of the last epoch, test MAE of "where" (the best
constant scores CONST) and accuracy of "row" (majority ~0.37). The "std" rows train with
--regression_loss_units=standardized: their "where mse" is in units of the training
targets' variance (~1 for the best constant), the others' in squared coordinates.

Usage (from the repository root):
    python bench/mixed_scales.py [--epochs 8] [--out bench/MIXED_SCALES.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from mtl_tf.config import RunConfig  # noqa: E402
from mtl_tf.data.multitask import MultiTaskData  # noqa: E402
from mtl_tf.methods import get_method  # noqa: E402
from mtl_tf.orchestration.model import train_model  # noqa: E402
from mtl_tf.tasks import TaskSpec  # noqa: E402
from mtl_tf.training.fit import plan_models  # noqa: E402

SPECS = (TaskSpec("where", "regression", 2), TaskSpec("row", "classification", 3))
# (label, method, extra RunConfig fields)
RUNS = (
    ("gs (0.5, 0.5)", "gs", {}),
    ("uwl", "uwl", {}),
    ("gradnorm", "gradnorm", {}),
    ("mgda none", "mgda", {"grad_normalization": "none"}),
    ("mgda l2", "mgda", {"grad_normalization": "l2"}),
    ("mgda loss", "mgda", {"grad_normalization": "loss"}),
    ("mgda loss+", "mgda", {"grad_normalization": "loss+"}),
    ("pareto_mtl", "pareto_mtl", {"num_preferences": 3}),
    ("pareto_mtl initial", "pareto_mtl", {"num_preferences": 3, "pareto_loss_scale": "initial"}),
    # --regression_loss_units=standardized: the mse of `where` in units of its training std.
    ("gs std", "gs", {"regression_loss_units": "standardized"}),
    ("mgda none std", "mgda", {"grad_normalization": "none",
                               "regression_loss_units": "standardized"}),
    ("pareto_mtl std", "pareto_mtl", {"num_preferences": 3,
                                      "regression_loss_units": "standardized"}),
    # --pareto_grad_normalization=l2: the min-norm steps on unit-length gradients.
    ("pareto_mtl l2", "pareto_mtl", {"num_preferences": 3, "pareto_grad_normalization": "l2"}),
    ("pareto_mtl std l2", "pareto_mtl", {"num_preferences": 3,
                                         "regression_loss_units": "standardized",
                                         "pareto_grad_normalization": "l2"}),
)


def square_data(n: int, seed: int) -> tuple[np.ndarray, dict]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 40, size=(n, 36, 36)).astype(np.uint8)
    corner = rng.integers(0, 30, size=(n, 2))
    for i, (x, y) in enumerate(corner):
        images[i, y:y + 6, x:x + 6] = 255
    return images, {"where": ((corner + 3.0) / 36.0 - 0.5).astype(np.float32),
                    "row": np.minimum((corner[:, 1] + 3) // 12, 2).astype(np.int32)}


def selected_labels(values: list[str]) -> set[str]:
    """The `RUNS` labels named by the --only values (a whole label, or a comma list).

    Raises:
      SystemExit: naming an unknown label and the known ones.
    """
    labels = {label for label, _, _ in RUNS}
    chosen = set()
    for value in values:
        parts = [value] if value in labels else [p.strip() for p in value.split(",")]
        unknown = [p for p in parts if p not in labels]
        if unknown:
            raise SystemExit(f"error: --only: unknown row label(s) {unknown}; known: "
                             f"{sorted(labels)}")
        chosen.update(parts)
    return chosen


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--out", default=None)
    parser.add_argument("--only", action="append", default=None,
                        help="row labels to run, comma-separated; repeat the flag for a "
                        "label that has a comma, e.g. --only 'gs (0.5, 0.5)' (default: all)")
    args = parser.parse_args()
    only = None if args.only is None else selected_labels(args.only)
    train_x, train_y = square_data(1200, 0)
    test_x, test_y = square_data(400, 1)
    data = MultiTaskData("squares", SPECS, (36, 36, 1), train_x, train_y, test_x, test_y,
                         "generated squares")
    const = float(np.abs(test_y["where"] - train_y["where"].mean(0)).mean())
    rows = []
    start_all = time.time()
    for label, method, extra in RUNS:
        if only is not None and label not in only:
            continue
        config = dataclasses.replace(
            RunConfig(), method=method, backbone="lenet", epochs=args.epochs, batch_size=50,
            learning_rate=3e-3, etas=(), verbose=0, seed=0, **extra)
        spec = get_method(method)
        run_data = data.with_regression_loss_units(config.regression_loss_units)
        for plan in plan_models(config, spec, data.task_names, data.num_examples("train")):
            keras.utils.set_random_seed(0)
            start = time.time()
            with tempfile.TemporaryDirectory() as tmp:
                _, summary, _ = train_model(config, spec, run_data, plan, tmp)
            weights = summary.get("task_weights") or {}
            name = label if plan.name == spec.name else f"{label} {plan.name}"
            rows.append((name, weights.get("where"), weights.get("row"),
                         summary["error"]["where"]["mae"], summary["accuracy"]["row"],
                         summary["loss"]["where"], summary["loss"]["row"],
                         time.time() - start))
            print(rows[-1], flush=True)
    lines = [f"Best constant MAE of 'where': {const:.4f}; epochs {args.epochs}; total "
             f"{time.time() - start_all:.0f} s", "",
             "| method | w_where | w_row | where MAE | row acc | where mse | row CE | s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, ww, wr, mae, acc, lw, lr, sec in rows:
        lines.append(f"| {name} | {fmt(ww)} | {fmt(wr)} | {mae:.4f} | {acc:.3f} | {lw:.2e} "
                     f"| {lr:.3f} | {sec:.0f} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
