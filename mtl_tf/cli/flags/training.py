"""Flags: the training budget, optimizer, seed and devices."""

from __future__ import annotations

import math

from absl import flags

from mtl_tf import choices, user_data
from mtl_tf.config import RunConfig

TITLE = "Training"

_DEFAULTS = RunConfig()

flags.DEFINE_integer("epochs", _DEFAULTS.epochs, "Training epochs.", lower_bound=1)
flags.DEFINE_integer("batch_size", _DEFAULTS.batch_size, "Mini-batch size.", lower_bound=1)
flags.DEFINE_enum("optimizer", _DEFAULTS.optimizer, list(choices.OPTIMIZERS), "Optimizer.")
flags.DEFINE_float("learning_rate", _DEFAULTS.learning_rate,
                   "Learning rate (the initial one under --lr_schedule).", lower_bound=0.0)
flags.DEFINE_float("momentum", _DEFAULTS.momentum,
                   "SGD momentum (--optimizer=sgd only). Default 0.9: what SGD always used "
                   "here, and the Pareto MTL reference's.", lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_enum("lr_schedule", _DEFAULTS.lr_schedule, list(choices.LR_SCHEDULES),
                  "Learning rate as a function of the step. constant (default: the runs so "
                  "far, and MTVIB's Adam 1e-4); multistep: times --lr_decay at each epoch "
                  "of --lr_milestones (Pareto MTL reference: 0.5 at 15,30,...,90); cosine: "
                  "down to 0 over --lr_decay_epochs (default: the run's --epochs, so a "
                  "cosine run cannot be continued with more --epochs).")
flags.DEFINE_list("lr_milestones", list(_DEFAULTS.lr_milestones),
                  "multistep: epochs (fractions allowed, for short budgets) at which the "
                  "learning rate is multiplied by --lr_decay, e.g. 15,30,45,60,75,90.")
flags.DEFINE_float("lr_decay", _DEFAULTS.lr_decay,
                   "multistep: the factor at each milestone (default 0.5, the Pareto MTL "
                   "reference's halving).", lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_float("lr_decay_epochs", _DEFAULTS.lr_decay_epochs,
                   "cosine: the epochs the decay spans; 0 (default): the run's --epochs, "
                   "i.e. its total steps. Set, a run may later raise --epochs and continue "
                   "exactly (at rate 0 past it). Other schedules ignore it.",
                   lower_bound=0.0)
flags.DEFINE_enum("weight_init", _DEFAULTS.weight_init, list(choices.WEIGHT_INITS),
                  "Initialisation of conv and dense layers. keras (default: the results so "
                  "far): glorot-uniform kernels, zero biases; pytorch: PyTorch's defaults, "
                  "kernels and biases ~ U(+-1/sqrt(fan_in)), as the Pareto MTL reference's "
                  "LeNet.")
flags.DEFINE_enum("regression_loss_units", _DEFAULTS.regression_loss_units,
                  list(choices.REGRESSION_LOSS_UNITS),
                  "Units of the regression tasks' losses (what every weighting combines). "
                  "raw (default): the targets' own units. standardized: each output's "
                  "error divided by its standard deviation over the training targets, so a "
                  "regression in small units (MTFL landmarks: mse ~3e-3) weighs like a "
                  "cross-entropy; predictions, metrics and exports stay in the targets' "
                  "units. Needs a regression task.")


@flags.multi_flags_validator(
    ["regression_loss_units", "dataset", "tasks"],
    message="--regression_loss_units=standardized needs a regression task")
def _check_regression_loss_units(values: dict) -> bool:
    # Known before TensorFlow loads for every data set but tfds: (whose feature types
    # decide the kinds; checked when it is read, before anything is written).
    if values["regression_loss_units"] == "raw":
        return True
    dataset, tasks = values["dataset"] or "", values["tasks"] or ()
    scheme, _ = user_data.split_dataset_name(dataset)
    if scheme == "tfds":
        return True
    if scheme == "csv":
        try:
            regression = [n for n, kind, _ in user_data.parse_task_entries(tasks)
                          if kind == "regression"]
        except ValueError:
            return True  # --tasks' own validator names the problem
    else:
        regression = [t for t in tasks
                      if t in choices.DATASET_REGRESSION_TASKS.get(dataset, ())]
    if not regression:
        raise flags.ValidationError(
            f"--regression_loss_units=standardized rescales regression losses, and "
            f"--dataset={dataset}"
            + (f" --tasks={','.join(tasks)}" if tasks else "")
            + " has no regression task; drop the flag"
            + (" or add --tasks=landmarks" if dataset == "mtfl" else ""))
    return True


flags.DEFINE_integer("seed", _DEFAULTS.seed, "Random seed (data, initialisation, shuffling).")
flags.DEFINE_boolean("deterministic", _DEFAULTS.deterministic,
                     "Enable TensorFlow op determinism (same seed -> same metrics).")
flags.DEFINE_enum("strategy", _DEFAULTS.strategy, list(choices.STRATEGIES),
                  "Distributed training (docs/distributed.md): none; mirrored (this "
                  "machine's GPUs, or its logical CPUs); multi_worker (several machines, "
                  "each running the same command with its own TF_CONFIG). --batch_size is "
                  "the global batch, split across replicas.")
flags.DEFINE_integer("verbose", _DEFAULTS.verbose,
                     "Keras verbosity: 0 silent, 1 progress bar, 2 one line per epoch.",
                     lower_bound=0, upper_bound=2)


def _milestone_values(values: list[str] | None) -> list[float]:
    return [float(v) for v in values or []]


@flags.validator("lr_milestones",
                 message="--lr_milestones must be comma-separated positive epochs in "
                         "increasing order, e.g. --lr_milestones=15,30,45")
def _check_milestones(values: list[str] | None) -> bool:
    try:
        epochs = _milestone_values(values)
    except ValueError:
        return False
    return (all(math.isfinite(e) and e > 0 for e in epochs)
            and all(a < b for a, b in zip(epochs, epochs[1:], strict=False)))


@flags.multi_flags_validator(
    ["lr_schedule", "lr_milestones"],
    message="--lr_schedule=multistep needs --lr_milestones")
def _check_multistep_has_milestones(values: dict) -> bool:
    if values["lr_schedule"] == "multistep" and not values["lr_milestones"]:
        raise flags.ValidationError(
            "--lr_schedule=multistep needs --lr_milestones (the epochs at which the rate is "
            "multiplied by --lr_decay, e.g. --lr_milestones=15,30,45,60,75,90)")
    return True


@flags.multi_flags_validator(
    ["optimizer", "momentum", "lr_schedule", "lr_milestones"],
    message="a schedule or optimizer option was given for another schedule or optimizer")
def _check_options_apply(values: dict) -> bool:
    # An option that would silently do nothing is refused: the run would not be the
    # one asked for.
    momentum = values["momentum"]
    # (nan and inf are left to the finite-number check, whose message names them.)
    if (values["optimizer"] != "sgd" and momentum is not None and math.isfinite(momentum)
            and momentum != _DEFAULTS.momentum):
        raise flags.ValidationError(
            f"--momentum applies to --optimizer=sgd only (got --optimizer="
            f"{values['optimizer']}); drop --momentum or pass --optimizer=sgd")
    if values["lr_milestones"] and values["lr_schedule"] != "multistep":
        raise flags.ValidationError(
            "--lr_milestones applies to --lr_schedule=multistep only; pass it too, or drop "
            "--lr_milestones")
    return True


@flags.multi_flags_validator(
    ["weight_init", "backbone_weights"],
    message="--weight_init=pytorch would overwrite the ImageNet weights")
def _check_init_keeps_pretrained_weights(values: dict) -> bool:
    # (Defined after model.py's flags: `definitions` imports `model` before `training`.)
    # Re-initialising every conv and dense layer would silently discard the weights the
    # user asked to start from.
    if values["weight_init"] == "pytorch" and values["backbone_weights"] == "imagenet":
        raise flags.ValidationError(
            "--weight_init=pytorch re-initialises every layer, which would discard "
            "--backbone_weights=imagenet; drop one of them")
    return True
