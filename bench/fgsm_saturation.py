"""Does FGSM lose its bite on long-trained models, and does the loss it differentiates matter?

BENCHMARKS.md compares our FGSM accuracies with MTVIB Tables III-V, whose numbers are far
higher (76 % at eta 0.3 on MultiMNIST) and have a tell-tale shape: a large drop at the
first eta, then a slow, almost flat decline. One candidate cause is gradient saturation:
when a trained network is very confident, the cross-entropy's input gradient underflows
to exactly zero in float32, sign(0) = 0, and FGSM leaves the example untouched at every
eta. How soon that happens depends on how the loss is computed:

* ``logits``: cross-entropy from the logits (log-softmax), as this library's FGSM does;
  the gradient is softmax - one_hot, zero only when the other classes' probabilities
  underflow (a margin of ~100 nats in float32);
* ``softmax``: cross-entropy from softmax probabilities clipped to [1e-7, 1 - 1e-7], as a
  model whose last layer is a softmax (MTVIB Tables I-II) attacked through
  `keras.losses.sparse_categorical_crossentropy(from_logits=False)` gets: the clip's
  gradient is zero as soon as the true class has p > 1 - 1e-7 (a margin of ~16 nats).

This script trains one GS model (Table I(b)) on MultiMNIST in stages -- the same run
resumed to more epochs -- and after each stage attacks the same test pairs both ways,
printing the fraction of test pairs whose input gradient is exactly zero and the accuracy
at every eta. Usage (from the repository root):

    python bench/fgsm_saturation.py --data_dir=../shared/data --stages=3,10,30
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time

from absl import app, flags

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

_DATA_DIR = flags.DEFINE_string("data_dir", "../shared/data", "Folder holding mnist/.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "runs/bench-fgsm-saturation",
                                  "Run directory of the staged GS run (resumed per stage).")
_STAGES = flags.DEFINE_list("stages", ["3", "10", "30"], "Epoch counts to attack after.")
_TRAIN_SIZE = flags.DEFINE_integer("train_size", 6000, "Training pairs.")
_TEST_SIZE = flags.DEFINE_integer("test_size", 2000, "Test pairs attacked.")
_ETAS = (0.0, 0.05, 0.1, 0.2, 0.3)


def main(argv: list[str]) -> int:
    del argv
    from mtl_tf.config import RunConfig
    from mtl_tf.data.datasets import load_run_dataset
    from mtl_tf.data.pipeline import split_dataset
    from mtl_tf.evaluation.attacks import eta_key, fgsm_evaluate
    from mtl_tf.evaluation.protocol import Protocol
    from mtl_tf.orchestration import runs as run_lib
    from mtl_tf.run_dir.restore import restore_run

    stages = sorted(int(s) for s in _STAGES.value)
    base = RunConfig(method="gs", dataset="multi_mnist", data_dir=_DATA_DIR.value,
                     backbone="small_alexnet", train_size=_TRAIN_SIZE.value,
                     test_size=_TEST_SIZE.value, batch_size=200, learning_rate=1e-4,
                     etas=(), output_dir=_OUTPUT_DIR.value, verbose=0, seed=0)
    print(f"GS, Table I(b), MultiMNIST {_TRAIN_SIZE.value} training / {_TEST_SIZE.value} "
          f"test pairs, Adam 1e-4, batch 200; run directory {_OUTPUT_DIR.value}\n")
    for epochs in stages:
        start = time.perf_counter()
        metrics = run_lib.run(dataclasses.replace(base, epochs=epochs))
        config, _, _, restored = restore_run(_OUTPUT_DIR.value)
        plan, trainer, _ = restored[0]
        data = load_run_dataset(config)
        tasks = [data.task_names[k] for k in plan.task_indices]
        results = {}
        for mode, ce in (("logits", "logits"), ("softmax", "clipped_softmax")):
            dataset = split_dataset(data, "test", plan.task_indices, 500, shuffle=False, seed=0)
            results[mode] = fgsm_evaluate(trainer, dataset, tasks, _ETAS,
                                          protocol=Protocol(attack_ce=ce))
        seconds = time.perf_counter() - start
        print(f"## after {epochs} epochs (stage took {seconds:.0f} s; clean test accuracy "
              + ", ".join(f"{t} {100 * metrics['accuracy'][t]:.1f}%" for t in tasks) + ")\n")
        print("| | logits CE (ours) | softmax CE, clipped (a softmax-output model) |")
        print("|---|---|---|")
        zero = {m: r["zero_gradient_fraction"]["pair"] for m, r in results.items()}
        print(f"| test pairs with an all-zero input gradient | "
              f"{100 * zero['logits']:.1f}% | {100 * zero['softmax']:.1f}% |")
        for eta in _ETAS:
            cells = [" / ".join(f"{100 * results[m]['accuracy'][eta_key(eta)][t]:.1f}"
                                for t in tasks) for m in ("logits", "softmax")]
            print(f"| accuracy at eta {eta:g} ({' / '.join(tasks)}) | {cells[0]} | {cells[1]} |")
        print()
    return 0


if __name__ == "__main__":
    app.run(main)
