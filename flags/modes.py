"""Flags that run something other than one training run: re-evaluate, export, experiment."""

from __future__ import annotations

from absl import flags

TITLE = "Modes: instead of training one run"

flags.DEFINE_boolean("eval_only", False,
                     "Re-evaluate (test accuracy and --attack at --etas) the finished run in "
                     "--run_dir, or the SavedModel in --saved_model on the data flags; no "
                     "training.")
flags.DEFINE_string("saved_model", None,
                    "An exported SavedModel version directory, for --eval_only.")
flags.DEFINE_boolean("export_only", False,
                     "Export the finished run in --run_dir to --export_dir; no training.")
flags.DEFINE_string("run_dir", None, "A finished run directory (for --export_only).")
flags.DEFINE_string("experiment", None,
                    "Run a named experiment (a set of methods on one data set with one "
                    "budget, mtl_tf/experiments.py; e.g. quick_multi_mnist, multi_mnist) and "
                    "write its report (tables, robustness curves, examples, fronts).")
flags.DEFINE_string("report_dir", None,
                    "Report directory of --experiment (default runs/<experiment>-seed<seed>).")
flags.DEFINE_list("methods", None,
                  "With --experiment: run and report only these of its methods (e.g. the "
                  "key cells of a claim under more --seed values); each keeps the "
                  "experiment's configuration.")


@flags.validator("experiment", message="unknown --experiment; see mtl_tf/experiments.py")
def _check_experiment(name: str | None) -> bool:
    if name is None:
        return True
    # The registry itself: mtl_tf.experiments is plain data and does not import TensorFlow.
    from mtl_tf.experiments import EXPERIMENTS

    if name not in EXPERIMENTS:
        raise flags.ValidationError(
            f"unknown --experiment {name!r}; allowed: {', '.join(sorted(EXPERIMENTS))}")
    return True


@flags.multi_flags_validator(
    ["eval_only", "run_dir", "saved_model"],
    message="--eval_only needs --run_dir=<a finished run> or --saved_model=<a SavedModel>")
def _check_eval_only(values: dict) -> bool:
    return not values["eval_only"] or bool(values["run_dir"] or values["saved_model"])


@flags.multi_flags_validator(
    ["export_only", "run_dir"],
    message="--export_only needs --run_dir=<a finished run directory>")
def _check_export_only(values: dict) -> bool:
    return not values["export_only"] or bool(values["run_dir"])
