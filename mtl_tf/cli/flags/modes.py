"""Flags that choose what the command does: train one run (the default), re-evaluate a
finished run or a SavedModel, export a finished run, or run a named experiment.

One `--mode` names it. `--experiment=NAME` names the experiment and, given alone, implies
`--mode=experiment` (the experiment commands read as before); `--eval_only` and
`--export_only` are the old spellings of `--mode=eval` and `--mode=export`, still accepted,
and the command says so in one line. Asking for two modes at once, a mode without what it
works on, or a mode's argument in another mode is refused in one line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from absl import flags

TITLE = "Mode: what the command does"

MODES: tuple[str, ...] = ("train", "eval", "export", "experiment")
DEFAULT_MODE = "train"
# The old boolean spellings and the mode each stands for.
OLD_SPELLINGS: dict[str, str] = {"eval_only": "eval", "export_only": "export"}

flags.DEFINE_enum("mode", None, list(MODES),
                  "What the command does. train: train one run (the default); eval: "
                  "re-evaluate (test accuracy, and --attack at --etas) the finished run in "
                  "--run_dir, or the SavedModel in --saved_model on the data flags, without "
                  "training; export: export the finished run in --run_dir to --export_dir; "
                  "experiment: run the named --experiment and write its report. Default: "
                  "experiment when --experiment is given, else train.")
flags.DEFINE_string("run_dir", None,
                    "A finished run directory, for --mode=eval or --mode=export.")
flags.DEFINE_string("saved_model", None,
                    "An exported SavedModel version directory, for --mode=eval.")
flags.DEFINE_string("experiment", None,
                    "The named experiment of --mode=experiment (given alone, it implies the "
                    "mode): a set of methods on one data set with one budget "
                    "(mtl_tf/orchestration/experiment_catalog.py; e.g. quick_multi_mnist, "
                    "multi_mnist), reported as tables, robustness curves, examples and fronts.")
flags.DEFINE_string("report_dir", None,
                    "Report directory of --mode=experiment (default "
                    "runs/<experiment>-seed<seed>).")
flags.DEFINE_list("methods", None,
                  "--mode=experiment: run and report only these of its methods (e.g. the key "
                  "cells of a claim under more --seed values); each keeps the experiment's "
                  "configuration.")
flags.DEFINE_boolean("eval_only", False,
                     "Old spelling of --mode=eval (still accepted; says so in one line).")
flags.DEFINE_boolean("export_only", False,
                     "Old spelling of --mode=export (still accepted; says so in one line).")


_MODE_FLAGS = ["mode", "eval_only", "export_only", "experiment"]


def _as_values(values: Mapping[str, Any] | flags.FlagValues) -> Mapping[str, Any]:
    # FlagValues maps a name to its Flag; a multi-flag validator gets name -> value.
    if isinstance(values, flags.FlagValues):
        return {name: values[name].value for name in _MODE_FLAGS}
    return values


def requested_modes(values: Mapping[str, Any] | flags.FlagValues) -> dict[str, str]:
    """Every flag that asks for a mode, as it was spelled, and the mode it asks for.

    Args:
      values: the parsed `FlagValues`, or a multi-flag validator's dict of flag name ->
        value holding at least `mode`, `eval_only`, `export_only` and `experiment`.

    Returns:
      e.g. ``{"--mode=eval": "eval", "--eval_only": "eval"}``; empty when none does.
    """
    values = _as_values(values)
    asked: dict[str, str] = {}
    if values["mode"] is not None:
        asked[f"--mode={values['mode']}"] = values["mode"]
    for name, mode in OLD_SPELLINGS.items():
        if values[name]:
            asked[f"--{name}"] = mode
    if values["experiment"] is not None:
        asked[f"--experiment={values['experiment']}"] = "experiment"
    return asked


def resolved_mode(values: Mapping[str, Any] | flags.FlagValues) -> str:
    """The mode the flags ask for (`DEFAULT_MODE` when none does); they must agree."""
    modes = set(requested_modes(values).values())
    if len(modes) > 1:  # the validator below refuses this at parse time
        raise ValueError(f"conflicting modes: {', '.join(sorted(modes))}")
    return modes.pop() if modes else DEFAULT_MODE


def old_spelling_notices(values: Mapping[str, Any] | flags.FlagValues) -> list[str]:
    """One line per old mode spelling in use, naming the new one."""
    values = _as_values(values)
    return [f"note: --{name} is now spelled --mode={mode} (the old spelling still works)"
            for name, mode in OLD_SPELLINGS.items() if values[name]]


def _spelling(values: Mapping[str, Any], mode: str) -> str:
    # Errors name the mode as the user wrote it: `--export_only needs --run_dir` for the
    # old spelling, `--mode=export needs --run_dir` for the new one.
    for spelled, asked in requested_modes(values).items():
        if asked == mode and not spelled.startswith("--experiment="):
            return spelled
    return f"--mode={mode}"


@flags.multi_flags_validator(_MODE_FLAGS, message="conflicting modes")
def _check_one_mode(values: dict) -> bool:
    asked = requested_modes(values)
    if len(set(asked.values())) > 1:
        raise flags.ValidationError(
            f"{' and '.join(asked)} ask for different modes; give one --mode "
            f"({', '.join(MODES)})")
    return True


@flags.validator("experiment", message="unknown --experiment")
def _check_experiment(name: str | None) -> bool:
    if name is None:
        return True
    # The registry itself: the module holds plain data at import and imports no TensorFlow.
    from mtl_tf.orchestration.experiments import EXPERIMENTS

    if name not in EXPERIMENTS:
        raise flags.ValidationError(
            f"unknown --experiment {name!r}; allowed: {', '.join(sorted(EXPERIMENTS))}")
    return True


@flags.multi_flags_validator([*_MODE_FLAGS, "run_dir", "saved_model"],
                             message="the mode lacks what it works on")
def _check_mode_has_its_input(values: dict) -> bool:
    mode = resolved_mode(values)
    spelled = _spelling(values, mode)
    if mode == "eval":
        if not (values["run_dir"] or values["saved_model"]):
            raise flags.ValidationError(
                f"{spelled} needs --run_dir=<a finished run> or --saved_model=<a SavedModel>")
        if values["run_dir"] and values["saved_model"]:
            raise flags.ValidationError(
                f"{spelled} evaluates one thing: give --run_dir or --saved_model, not both")
    elif mode == "export" and not values["run_dir"]:
        raise flags.ValidationError(f"{spelled} needs --run_dir=<a finished run directory>")
    elif mode == "experiment" and values["experiment"] is None:
        raise flags.ValidationError(
            f"{spelled} needs --experiment=<name> (see mtl_tf/orchestration/experiment_catalog.py)")
    return True


# The modes that read each mode argument; given to another mode it would be ignored, which
# hides a mistake (`--run_dir=runs/x` without `--mode=eval` would train a new run).
_ARGUMENT_MODES: dict[str, tuple[str, ...]] = {
    "run_dir": ("eval", "export"),
    "saved_model": ("eval",),
    "report_dir": ("experiment",),
    "methods": ("experiment",),
}


@flags.multi_flags_validator([*_MODE_FLAGS, *_ARGUMENT_MODES],
                             message="a mode's argument given to another mode")
def _check_arguments_belong_to_the_mode(values: dict) -> bool:
    mode = resolved_mode(values)
    for name, modes in _ARGUMENT_MODES.items():
        if values[name] is not None and mode not in modes:
            wanted = " or ".join(f"--mode={m}" for m in modes)
            raise flags.ValidationError(
                f"--{name} is read only by {wanted}; this command is --mode={mode}")
    return True


@flags.multi_flags_validator(["eta_units", "dataset", "run_dir", "experiment"],
                             message="--eta_units=standardized needs a known data set std")
def _check_eta_units(values: dict) -> bool:
    # A re-scored run (--run_dir) or an experiment names its data set elsewhere: checked
    # when it is read, still before anything is computed.
    if values["eta_units"] != "standardized" or values["run_dir"] or values["experiment"]:
        return True
    from mtl_tf.evaluation.protocol import Protocol  # TensorFlow-free

    try:
        Protocol(eta_units="standardized").eta_scale(values["dataset"])
    except ValueError as e:
        raise flags.ValidationError(str(e)) from None
    return True
