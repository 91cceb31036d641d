"""Per-step training time of each weighting method relative to `gs`, in one process.

    python bench/step_time.py [--steps=20] [--rounds=5] [--batch_size=200]

Model: MTVIB Table I(b) (multi-task Small AlexNet, 2 tasks), batch 200, Adam. Every
method trains through the same compiled `MultiTaskTrainer.train_step`. Machines here are
shared and noisy, so methods are timed in interleaved rounds (gs, mgda, ..., gs, mgda, ...)
and each method's median over rounds is divided by gs's: the ratio is what is reported,
never an absolute time.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from mtl_tf.config import RunConfig  # noqa: E402
from mtl_tf.models import build_network  # noqa: E402
from mtl_tf.training.trainer import MultiTaskTrainer  # noqa: E402
from mtl_tf.weighting import build_weighting, registered  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("steps", 20, "Timed steps per round.")
flags.DEFINE_integer("rounds", 5, "Interleaved rounds.")
flags.DEFINE_integer("batch_size", 200, "Batch size.")
flags.DEFINE_string("backbone", "small_alexnet", "Backbone.")
flags.DEFINE_string("encoder", "deterministic", "Encoder.")

# (label, weighting name, RunConfig overrides)
CASES = [
    ("gs", "fixed", {}),
    ("uwl", "uncertainty", {}),
    ("gradnorm", "gradnorm", {}),
    ("mgda (params)", "mgda", {"grad_wrt": "params"}),
    ("mgda (representation)", "mgda", {"grad_wrt": "representation"}),
    ("pareto_mtl", "pareto_mtl", {}),
]


def _make(weighting_name: str, overrides: dict, batch):
    keras.utils.set_random_seed(0)
    config = RunConfig(**overrides)
    encoder, heads = build_network(backbone=FLAGS.backbone, encoder=FLAGS.encoder,
                                   input_shape=(36, 36, 1), num_classes=[10, 10],
                                   task_names=["top_left", "bottom_right"])
    trainer = MultiTaskTrainer(encoder, heads, build_weighting(weighting_name, 2, config))
    trainer.compile(optimizer=keras.optimizers.Adam(1e-4))
    for _ in range(3):  # trace, compile and warm up
        trainer.train_on_batch(*batch)
    return trainer


def main(argv):
    del argv
    rng = np.random.default_rng(0)
    images = tf.constant(rng.random((FLAGS.batch_size, 36, 36, 1), dtype=np.float32))
    labels = {t: tf.constant(rng.integers(0, 10, FLAGS.batch_size), tf.int32)
              for t in ("top_left", "bottom_right")}
    batch = (images, labels)
    cases = [c for c in CASES if c[1] in registered()]
    trainers = {label: _make(name, overrides, batch) for label, name, overrides in cases}
    times: dict[str, list[float]] = {label: [] for label in trainers}
    for _ in range(FLAGS.rounds):
        for label, trainer in trainers.items():
            start = time.perf_counter()
            for _ in range(FLAGS.steps):
                logs = trainer.train_on_batch(*batch, return_dict=True)
            float(logs["loss"])  # wait for the last step
            times[label].append((time.perf_counter() - start) / FLAGS.steps)
    base = statistics.median(times["gs"])
    print(f"{FLAGS.backbone}/{FLAGS.encoder}, batch {FLAGS.batch_size}, "
          f"{FLAGS.rounds} rounds x {FLAGS.steps} steps, tf {tf.__version__}")
    print(f"{'method':<24}{'ms/step':>10}{'ratio to gs':>14}")
    for label, t in times.items():
        median = statistics.median(t)
        print(f"{label:<24}{median * 1e3:>10.1f}{median / base:>14.2f}")


if __name__ == "__main__":
    app.run(main)
