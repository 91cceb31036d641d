"""GradNorm's task weights step by step, for each weight update (issue #15 item 4).

Reads GradNorm runs trained with ``--tb_update_freq=batch`` (bench/protocols_training.sh
makes two: ``--gradnorm_update=step`` and ``=optimizer``, same budget), recovers each
step's weights from TensorBoard's per-step curves and plots weight vs step, one panel per
run, into bench/GRADNORM_WEIGHTS.png. Keras logs a running mean m_t over the steps of the
epoch so far, so step t's value is t m_t - (t - 1) m_{t-1} (exact up to float32 sums).

    python bench/gradnorm_weights.py RUN_DIR [RUN_DIR ...] [--out bench/GRADNORM_WEIGHTS.png]
"""

from __future__ import annotations

import argparse
import json
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from tensorboard.backend.event_processing import event_accumulator  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402


def step_weights(run_dir: str) -> tuple[dict[str, np.ndarray], dict]:
    """Each task's weight at every training step (1-based) of the run in `run_dir`."""
    with open(os.path.join(run_dir, "metrics.json")) as f:
        metrics = json.load(f)
    with open(os.path.join(run_dir, "config.json")) as f:
        config = json.load(f)
    steps_per_epoch = math.ceil(metrics["train_size"] / config["batch_size"])
    accumulator = event_accumulator.EventAccumulator(
        os.path.join(run_dir, "tensorboard", "train"), size_guidance={"tensors": 0})
    accumulator.Reload()
    out = {}
    for task in metrics["tasks"]:
        events = accumulator.Tensors(f"batch_{task}_weight")
        if not events:
            raise SystemExit(f"{run_dir}: no per-step weights; train it with "
                             "--tb_update_freq=batch")
        steps = np.array([e.step for e in events])
        means = np.array([float(tensor_util.make_ndarray(e.tensor_proto)) for e in events],
                         dtype=np.float64)
        if not np.array_equal(steps, np.arange(1, len(steps) + 1)):
            raise SystemExit(f"{run_dir}: per-step curve has gaps (rerun with "
                             "--tb_update_freq=batch from the start)")
        t = (steps - 1) % steps_per_epoch + 1  # position within its epoch
        previous = np.where(t > 1, np.roll(means, 1), 0.0)
        out[task] = t * means - (t - 1) * previous
    return out, config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__),
                                                      "GRADNORM_WEIGHTS.png"))
    args = parser.parse_args()
    fig, axes = plt.subplots(1, len(args.runs), figsize=(5.5 * len(args.runs), 3.8),
                             sharey=True, squeeze=False)
    for ax, run_dir in zip(axes[0], args.runs, strict=True):
        weights, config = step_weights(run_dir)
        for task, values in weights.items():
            ax.plot(np.arange(1, len(values) + 1), values, lw=0.9, label=task)
            steps = np.abs(np.diff(values))
            print(f"{run_dir} {task}: steps {len(values)}, final {values[-1]:.4f}, "
                  f"min {values.min():.4f}, max {values.max():.4f}, "
                  f"mean |step-to-step change| {steps.mean():.4f}")
        update = config.get("gradnorm_update", "step")
        rule = (f"plain steps, gradnorm_lr {config['gradnorm_lr']}" if update == "step"
                else f"{config['optimizer']} lr {config['learning_rate']:g}")
        ax.set_title(f"--gradnorm_update={update} ({rule})", fontsize=9)
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("task weight (sum = 2)")
    axes[0][0].legend()
    fig.suptitle("GradNorm task weights per step (MultiMNIST, same budget)", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
