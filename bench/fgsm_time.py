"""Cost of the FGSM eta grid (MTVIB eq. 25) relative to one clean + one gradient pass.

    python bench/fgsm_time.py [--num_examples=10000] [--batch_size=1000] [--rounds=3]

Model: MTVIB Table I(d) (Small AlexNet + VIB, 36x36x1, two 10-class tasks), untrained
(timing does not depend on the weights), in inference mode. Data: N random 36x36 pairs.
Timed over the whole data set, per round:

  (a) clean:    one inference pass (compiled), counting correct predictions;
  (b) gradient: one input-gradient pass of the attacked loss (`attacks.input_gradient`);
  (c) grid:     `attacks.fgsm_evaluate` over the default grid 0, .05, ..., .3 -- one
                gradient per batch, every eta scored from that one sign;
  (n) naive:    per eta, recompute the gradient (`perturb_fgsm`) and score it.

Reported: c / (a + b), and for reference the ideal c* = b + (E - 1) * a (the grid can do no
better than one gradient pass plus one inference pass per non-zero eta, since eta = 0
reuses the clean logits of the gradient pass), c / c*, and n / c. The machine is shared and
noisy: the four measurements are interleaved round by round and medians are reported.
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

from mtl_tf.data.pipeline import make_dataset  # noqa: E402
from mtl_tf.evaluation import attacks  # noqa: E402
from mtl_tf.models import build_network  # noqa: E402
from mtl_tf.training.trainer import MultiTaskTrainer  # noqa: E402
from mtl_tf.weighting.fixed import FixedWeighting  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("num_examples", 10000, "Test pairs (MTVIB's test set has 10000).")
flags.DEFINE_integer("batch_size", 1000, "Evaluation batch size.")
flags.DEFINE_integer("rounds", 3, "Interleaved timing rounds (medians are reported).")
flags.DEFINE_boolean("naive", True, "Also time the naive per-eta recomputation.")

TASKS = ("top_left", "bottom_right")


def _build() -> MultiTaskTrainer:
    keras.utils.set_random_seed(0)
    encoder, heads = build_network(
        backbone="small_alexnet",
        encoder="vib",
        input_shape=(36, 36, 1),
        num_classes=[10, 10],
        task_names=list(TASKS),
    )
    return MultiTaskTrainer(encoder, heads, FixedWeighting(2))


def _stack(labels) -> tf.Tensor:
    return tf.stack([tf.cast(labels[t], tf.int32) for t in TASKS], axis=1)


def main(argv: list[str]) -> None:
    del argv
    n, bs = FLAGS.num_examples, FLAGS.batch_size
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 36, 36), dtype=np.uint8)
    labels = rng.integers(0, 10, size=(n, 2))
    dataset = make_dataset(images, labels, TASKS, bs, shuffle=False, seed=0)
    model = _build()
    etas = attacks.DEFAULT_ETAS

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, 36, 36, 1], tf.float32),
            tf.TensorSpec([None, 2], tf.int32),
        ]
    )
    def clean_correct(x, y):
        out = model(x, training=False)
        return tf.stack(
            [
                tf.reduce_sum(
                    tf.cast(
                        tf.equal(tf.argmax(out[t], -1, output_type=tf.int32), y[:, k]), tf.int32
                    )
                )
                for k, t in enumerate(TASKS)
            ]
        )

    def clean():
        total = 0
        for x, y in dataset:
            total += int(clean_correct(x, _stack(y))[0])
        return total

    def gradient():
        total = 0.0
        for x, y in dataset:
            total += float(tf.reduce_sum(tf.abs(attacks.input_gradient(model, x, y))))
        return total

    def grid():
        return attacks.fgsm_evaluate(model, dataset, TASKS, etas)

    def naive():
        for eta in etas:
            for x, y in dataset:
                clean_correct(attacks.perturb_fgsm(model, x, y, eta), _stack(y))

    cases = {"clean (a)": clean, "gradient (b)": gradient, "grid (c)": grid}
    if FLAGS.naive:
        cases["naive per-eta (n)"] = naive
    for fn in cases.values():  # trace, compile, fill the dataset cache
        fn()
    times: dict[str, list[float]] = {k: [] for k in cases}
    for r in range(FLAGS.rounds):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
        print(
            f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()),
            flush=True,
        )
    med = {k: statistics.median(v) for k, v in times.items()}
    a, b, c = med["clean (a)"], med["gradient (b)"], med["grid (c)"]
    ideal = b + (len(etas) - 1) * a
    print(f"\nN = {n}, batch {bs}, etas {list(etas)}, {FLAGS.rounds} rounds, medians:")
    for k, v in med.items():
        print(f"  {k:20s} {v:8.2f} s")
    print(f"  c / (a + b)          {c / (a + b):8.2f}   (brief's target <= 1.3)")
    print(f"  c / (b + {len(etas) - 1}a) ideal   {c / ideal:8.2f}")
    if FLAGS.naive:
        print(f"  naive / c            {med['naive per-eta (n)'] / c:8.2f}")


if __name__ == "__main__":
    app.run(main)
