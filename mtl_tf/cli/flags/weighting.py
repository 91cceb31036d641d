"""Flags of one method each: GS weights and grid, GradNorm, MGDA, Pareto MTL, synthetic."""

from __future__ import annotations

import math

from absl import flags

from mtl_tf import choices
from mtl_tf.config import RunConfig
from mtl_tf.preferences import parse_preferences

TITLE = "Method-specific: GS, GradNorm, MGDA, Pareto MTL, synthetic example"

_DEFAULTS = RunConfig()

# None, as RunConfig: equal weights.
flags.DEFINE_list("task_weights", None,
                  "Fixed task weights for --method=gs, one per task, e.g. 0.5,0.5 "
                  "(default: equal).")
flags.DEFINE_integer("grid_points", _DEFAULTS.grid_points,
                     "gs: grid-search this many weight vectors per task axis with keras-tuner "
                     "(needs --val_size); 0 = one run with --task_weights.", lower_bound=0)
flags.DEFINE_float("gradnorm_alpha", _DEFAULTS.gradnorm_alpha, "GradNorm asymmetry alpha.",
                   lower_bound=0.0)
flags.DEFINE_float("gradnorm_lr", _DEFAULTS.gradnorm_lr,
                   "GradNorm: step size of the task weights (--gradnorm_update=step).",
                   lower_bound=0.0)
flags.DEFINE_enum("gradnorm_update", _DEFAULTS.gradnorm_update, list(choices.GRADNORM_UPDATES),
                  "GradNorm: how the task weights move. step (default: the results so far): "
                  "w -= --gradnorm_lr * gradient; optimizer: trained by an optimizer of the "
                  "network's kind, learning rate and schedule, as Chen et al. 2018.")
flags.DEFINE_enum("grad_wrt", _DEFAULTS.grad_wrt, list(choices.GRAD_WRT),
                  "MGDA: gradients w.r.t. shared parameters, or the shared representation "
                  "(MGDA-UB).")
flags.DEFINE_enum("grad_normalization", _DEFAULTS.grad_normalization,
                  list(choices.GRAD_NORMALIZATIONS), "MGDA gradient normalisation.")
flags.DEFINE_integer("min_norm_max_iters", _DEFAULTS.min_norm_max_iters,
                     "Min-norm solver iteration cap.", lower_bound=1)
flags.DEFINE_float("min_norm_tol", _DEFAULTS.min_norm_tol, "Min-norm solver tolerance.",
                   lower_bound=0.0)
flags.DEFINE_integer("num_preferences", _DEFAULTS.num_preferences,
                     "Pareto MTL: number of preference vectors K (one model each).",
                     lower_bound=2)
flags.DEFINE_integer("preference_index", _DEFAULTS.preference_index,
                     "Pareto MTL: train only this preference (0-based); default all.",
                     lower_bound=0)
flags.DEFINE_list("preferences", _DEFAULTS.preferences,
                  "Pareto MTL: the preference vectors, one weight per task separated by "
                  "':' (e.g. 1:0:0,1:1:1,0:1:1 for 3 tasks); one model each, replacing "
                  "the --num_preferences spread ones.")
flags.DEFINE_float("pareto_epsilon", _DEFAULTS.pareto_epsilon,
                   "Pareto MTL: constraint j is active when G_j > -epsilon (eq. 11).",
                   lower_bound=0.0)
flags.DEFINE_float("pareto_max_init_epochs", _DEFAULTS.pareto_max_init_epochs,
                   "Pareto MTL: bound on the feasible-start phase, in epochs.",
                   lower_bound=0.0)
flags.DEFINE_enum("pareto_loss_scale", _DEFAULTS.pareto_loss_scale,
                  list(choices.PARETO_LOSS_SCALES),
                  "Pareto MTL: none (the reference): preferences and constraints on the raw "
                  "task losses; initial: on each loss divided by its value at the first "
                  "step, for tasks whose losses differ in scale (e.g. a regression beside "
                  "classifications).")
flags.DEFINE_enum("pareto_grad_normalization", _DEFAULTS.pareto_grad_normalization,
                  list(choices.PARETO_GRAD_NORMALIZATIONS),
                  "Pareto MTL: none (the reference): min-norm steps on the raw task and "
                  "constraint gradients, which favour the tasks with the smallest "
                  "gradients; l2: on unit-length gradients, for tasks whose gradients "
                  "differ in size (e.g. a many-output regression beside "
                  "classifications); the weights are mapped back to the raw losses.")
flags.DEFINE_integer("synthetic_runs", _DEFAULTS.synthetic_runs,
                     "Synthetic example: random starts of gs / mgda.", lower_bound=1)


def parse_weights(values: list[str] | None) -> tuple[float, ...] | None:
    """`--task_weights` as numbers (None when the flag is unset).

    Raises:
      ValueError: when a value is not a number.
    """
    if values is None:
        return None
    return tuple(float(v) for v in values)


@flags.validator("task_weights",
                 message="--task_weights must be comma-separated non-negative numbers, "
                         "not all zero, e.g. --task_weights=0.5,0.5")
def _check_task_weights(values: list[str] | None) -> bool:
    if values is None:
        return True
    try:
        weights = parse_weights(values)
    except ValueError:
        return False
    # inf passes `w >= 0` but is no weight (the weighted loss would be inf or nan).
    return all(math.isfinite(w) and w >= 0 for w in weights) and sum(weights) > 0


@flags.multi_flags_validator(
    ["preference_index", "num_preferences"],
    message="--preference_index must be below --num_preferences")
def _check_preference_index(values: dict) -> bool:
    # Checked here, before TensorFlow loads and data is generated, in the words the
    # strategy itself uses (`ParetoMTLWeighting.model_variants`).
    index, k = values["preference_index"], values["num_preferences"]
    if index is not None and k is not None and index >= k:
        raise flags.ValidationError(
            f"--preference_index={index} is out of range for --num_preferences={k} "
            f"(allowed: 0..{k - 1})")
    return True


@flags.multi_flags_validator(
    ["preferences", "preference_index", "dataset", "tasks"],
    message="--preferences must be one ':'-separated weight per task for each vector")
def _check_preferences(values: dict) -> bool:
    # Parsed before TensorFlow loads, with the strategy's own checks and words.
    given, dataset = values["preferences"], values["dataset"]
    if not given:
        return True
    tasks = len(values["tasks"]) if values["tasks"] else choices.NUM_TASKS.get(dataset)
    try:
        parse_preferences(given, tasks)
    except ValueError as error:
        raise flags.ValidationError(str(error)) from None
    index = values["preference_index"]
    if index is not None and index >= len(given):
        raise flags.ValidationError(
            f"--preference_index={index} is out of range for the {len(given)} "
            f"--preferences (allowed: 0..{len(given) - 1})")
    return True


@flags.multi_flags_validator(
    ["task_weights", "dataset", "tasks"],
    message="--task_weights needs one weight per task of --dataset")
def _check_task_weight_count(values: dict) -> bool:
    weights, dataset = values["task_weights"], values["dataset"]
    tasks = len(values["tasks"]) if values["tasks"] else choices.NUM_TASKS.get(dataset)
    if weights is not None and tasks is not None and len(weights) != tasks:
        raise flags.ValidationError(
            f"--task_weights has {len(weights)} values but the data set has {tasks} tasks; "
            "give one weight per task")
    return True
