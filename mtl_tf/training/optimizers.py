"""The optimizer of a run and its learning-rate schedule.

The learning rate is a `keras.optimizers.schedules.LearningRateSchedule` of the
optimizer's step counter (`optimizer.iterations`, saved in every checkpoint), so a run
resumed after a crash continues the schedule exactly where it was, and epochs are turned
into steps with the run's steps per epoch (ceil(training pairs / batch size), as `fit`
iterates them).

* ``constant``: ``--learning_rate`` throughout (the default: what every run so far used).
* ``multistep``: multiplied by ``--lr_decay`` at each epoch of ``--lr_milestones``, the
  schedule of the Pareto MTL reference (PyTorch ``MultiStepLR``: 0.5 at epochs 15, 30,
  45, 60, 75, 90, stepped at the start of each epoch, so epoch 15 (0-based) already
  trains at half the rate). The milestones are fixed epochs: raising ``--epochs``
  continues the same schedule.
* ``cosine``: ``lr * (1 + cos(pi * step / T)) / 2`` (`CosineDecay`, down to 0), with
  ``T = --lr_decay_epochs * steps per epoch``; 0 (unset), ``--lr_decay_epochs`` is the run's
  ``--epochs``, i.e. the decay spans the run's total steps. Raising ``--epochs`` of such a
  run would change the rate of the steps already taken, so it is refused as another run
  (`mtl_tf.config.comparable_config`): a longer cosine run starts afresh in its own
  ``--output_dir``. A run given ``--lr_decay_epochs`` explicitly may raise ``--epochs``
  exactly (the rate stays 0 past ``T``).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from mtl_tf.config import RunConfig

LR_SCHEDULES: tuple[str, ...] = ("constant", "multistep", "cosine")
OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")


def multistep_boundaries(milestones: Sequence[float], steps_per_epoch: int) -> list[int]:
    """The last step index (0-based) before each milestone, for `PiecewiseConstantDecay`.

    `PiecewiseConstantDecay` keeps value i while ``step <= boundaries[i]``; a milestone at
    epoch e must change the rate from the first step of epoch e, step ``e * spe``, so the
    boundary is the step before it. Fractional milestones (a schedule scaled down to a
    short budget) round to the nearest step.
    """
    return [max(round(float(m) * steps_per_epoch), 1) - 1 for m in milestones]


def learning_rate_schedule(
    config: RunConfig, steps_per_epoch: int | None
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """`config.learning_rate` under `config.lr_schedule` (see the module docstring).

    Args:
      config: the run configuration (`learning_rate`, `lr_schedule`, `lr_milestones`,
        `lr_decay`, `lr_decay_epochs`, `epochs`).
      steps_per_epoch: training steps per epoch; needed by every schedule but constant.

    Returns:
      A float (constant) or a `LearningRateSchedule` of the optimizer's step.

    Raises:
      ValueError: an unknown schedule, multistep without milestones, or no steps per epoch.
    """
    lr = float(config.learning_rate)
    if config.lr_schedule == "constant":
        return lr
    if config.lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"unknown --lr_schedule {config.lr_schedule!r}; allowed: "
                         f"{', '.join(LR_SCHEDULES)}")
    if not steps_per_epoch or steps_per_epoch < 1:
        raise ValueError(f"--lr_schedule={config.lr_schedule} needs the steps per epoch")
    if config.lr_schedule == "multistep":
        milestones = sorted(config.lr_milestones or ())
        if not milestones:
            raise ValueError("--lr_schedule=multistep needs --lr_milestones (epochs, e.g. "
                             "15,30,45,60,75,90 as the Pareto MTL reference)")
        values = [lr * float(config.lr_decay) ** i for i in range(len(milestones) + 1)]
        return keras.optimizers.schedules.PiecewiseConstantDecay(
            multistep_boundaries(milestones, steps_per_epoch), values)
    horizon = config.lr_decay_epochs or config.epochs  # 0: the run's total steps
    return keras.optimizers.schedules.CosineDecay(
        lr, decay_steps=max(round(float(horizon) * steps_per_epoch), 1), alpha=0.0)


def make_optimizer(
    config: RunConfig, steps_per_epoch: int | None = None
) -> keras.optimizers.Optimizer:
    """The optimizer named by `config.optimizer` with its learning-rate schedule.

    Adam (MTVIB §VI-B, Keras' betas) or SGD with `config.momentum` (0.9: the Pareto MTL
    reference's, and what SGD always used here).

    Args:
      config: the run configuration.
      steps_per_epoch: training steps per epoch (for a schedule other than constant).

    Raises:
      ValueError: an unknown optimizer or schedule (see `learning_rate_schedule`).
    """
    if config.optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown --optimizer {config.optimizer!r}; allowed: adam, sgd")
    lr = learning_rate_schedule(config, steps_per_epoch)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(lr)
    return keras.optimizers.SGD(lr, momentum=float(config.momentum))
