"""FGSM against one task at a time vs against the sum of the task losses.

The library's FGSM (like MTVIB eq. 25 read literally) differentiates ONE loss per model:
for a multi-task model the unweighted sum of its task losses, for a single-task (STL /
STVIB) model its own task's loss. The sign of a summed gradient is a compromise between
tasks, so every task of a multi-task model receives a perturbation that is only partly
aimed at it, while a single-task model receives one fully aimed at its task. Comparing
the two columns of a report therefore mixes robustness with attack strength.

This script re-attacks the finished runs of an experiment report with a task-targeted
FGSM: for each task t, the gradient of task t's loss alone, scored on task t -- the
library's ``--attack_loss=per_task`` protocol (`mtl_tf.evaluation.protocol`), which
`python main.py --mode=eval --run_dir=R --attack_loss=per_task` also applies to one run
(writing metrics.json's ``robustness_protocol``). Usage:

    python bench/fgsm_per_task.py --report_dir=runs/repro_multi_mnist-seed0 \
        --methods=stl,gs,uwl,mtvib

It prints, per method, task and eta: the accuracy under the summed-loss attack (as in
the report's metrics.json) and under the task-targeted attack.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

_REPORT_DIR = flags.DEFINE_string("report_dir", None, "An experiment report directory.",
                                  required=True)
_METHODS = flags.DEFINE_list("methods", ["stl", "gs", "uwl", "mtvib"],
                             "Single-model methods (and STL/STVIB) to re-attack.")


def main(argv: list[str]) -> int:
    del argv
    from mtl_tf.data.datasets import load_run_dataset
    from mtl_tf.data.pipeline import split_dataset
    from mtl_tf.evaluation.attacks import eta_key, fgsm_evaluate
    from mtl_tf.evaluation.protocol import Protocol
    from mtl_tf.run_dir.restore import restore_run

    rows: dict[tuple[str, str], dict[str, str]] = {}
    tasks_seen: list[str] = []
    etas_seen: list[float] = []
    for method in _METHODS.value:
        run_dir = os.path.join(_REPORT_DIR.value, "runs", method)
        config, metrics, _, restored = restore_run(run_dir)
        data = load_run_dataset(config)
        etas = [float(e) for e in config.etas]
        etas_seen = etas_seen or etas
        summed = metrics["robustness"]["accuracy"]
        for plan, trainer, _ in restored:
            tasks = [data.task_names[k] for k in plan.task_indices]
            for task in tasks:
                if task not in tasks_seen:
                    tasks_seen.append(task)
            dataset = split_dataset(data, "test", plan.task_indices, 500, shuffle=False, seed=0)
            targeted = fgsm_evaluate(trainer, dataset, tasks, etas,
                                     protocol=Protocol(attack_loss="per_task"))["accuracy"]
            for task in tasks:
                for eta in etas:
                    key = eta_key(eta)
                    rows.setdefault((task, key), {})[method] = (
                        f"{100 * summed[key][task]:.1f} / {100 * targeted[key][task]:.1f}")
    print(f"FGSM accuracy (%) on {_REPORT_DIR.value}: summed-loss attack (the report's) / "
          "task-targeted attack\n")
    print("| task | eta | " + " | ".join(_METHODS.value) + " |")
    print("|---|---|" + "---|" * len(_METHODS.value))
    for task in tasks_seen:
        for eta in etas_seen:
            cells = rows.get((task, eta_key(eta)), {})
            print(f"| {task} | {eta_key(eta)} | "
                  + " | ".join(cells.get(m, "n/a") for m in _METHODS.value) + " |")
    return 0


if __name__ == "__main__":
    app.run(main)
