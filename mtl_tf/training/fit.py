"""Fitting one model: build it, resume it, train it epoch by epoch, checkpoint it.

A run trains one or several models (`plan_models`: one shared model, one per task, or
one per variant of its strategy, e.g. per Pareto MTL preference). `fit_model` trains one:

    <model_dir>/
      checkpoints/           one checkpoint per epoch (model, optimizer, epoch counter)
      tensorboard/train/     training curves: per epoch, and per step with
                             --tb_update_freq (validation/ with --val_size)
      last_epoch_logs.json   the last epoch's Keras logs (task weights, losses)

Resuming: each epoch's shuffle order depends only on (seed, epoch), so a resumed run
sees the same batches as an uninterrupted one; a damaged newest checkpoint falls back to
the newest intact one (`mtl_tf.training.checkpoints`).

Distributed (`--strategy`, `mtl_tf.training.distribute`, docs/distributed.md): models,
optimizers and checkpoints are built under the strategy's scope and `fit` splits every
global batch across the replicas. In a multi-worker run only the chief writes the model
directory; the other workers save their (required) share of each checkpoint to a
temporary directory that is removed afterwards.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from mtl_tf.config import RunConfig, parse_update_freq
from mtl_tf.data.pipeline import split_dataset
from mtl_tf.io_utils import atomic_write_json, read_json
from mtl_tf.methods import MethodSpec
from mtl_tf.models import build_network, initialize_weights
from mtl_tf.training import checkpoints as checkpoints_lib
from mtl_tf.training import distribute
from mtl_tf.training.optimizers import make_optimizer
from mtl_tf.training.trainer import MultiTaskTrainer
from mtl_tf.weighting import Weighting, build_weighting, registered


class NonFiniteLossError(ValueError):
    """A task loss became NaN or infinite; training stopped before saving anything."""


class _StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops training at the first non-finite task loss, naming epoch, step and task.

    Raising inside the batch means the epoch's checkpoint is never written: the last
    good checkpoint stays the newest, and rerunning resumes from it.
    """

    def __init__(self, tasks: Sequence[str], checkpoint_dir: str) -> None:
        super().__init__()
        self._tasks = list(tasks)
        self._checkpoint_dir = checkpoint_dir
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        for task in self._tasks:
            value = logs.get(f"{task}_loss")
            if value is not None and not math.isfinite(float(value)):
                raise NonFiniteLossError(
                    f"non-finite loss ({float(value)}) for task {task} at epoch "
                    f"{self._epoch + 1}, step {batch + 1}: training stopped; the last good "
                    f"checkpoint (if any) is kept in {self._checkpoint_dir}. Lower "
                    "--learning_rate or check the input data."
                )


@dataclasses.dataclass
class ModelPlan:
    """One model to train within a run.

    Attributes:
      name: model name (used for its sub-directory and in metrics.json).
      task_indices: which label columns (tasks) this model predicts.
      weighting: the strategy instance for this model.
      subdir: directory relative to the run directory ("" for the run directory itself).
    """

    name: str
    task_indices: tuple[int, ...]
    weighting: Weighting
    subdir: str = ""


def plan_models(
    config: RunConfig,
    spec: MethodSpec,
    task_names: Sequence[str],
    num_train: int,
) -> list[ModelPlan]:
    """The models a method trains: one shared model, one per task (a single-task method:
    STL, STVIB), or one per variant its strategy declares (`Weighting.model_variants`:
    Pareto MTL's preference vectors, Algorithm 1).

    Args:
      config: the run configuration.
      spec: the method.
      task_names: the data set's tasks, in label-column order.
      num_train: the number of training examples the run trains on (not the requested
        `config.train_size`, which may be 0 for "the whole split"): Pareto MTL bounds its
        feasible-start phase in epochs of it. A finished run records it in metrics.json
        (`train_size`), so export and re-evaluation rebuild exactly the same plan.
    """
    m = len(task_names)
    tasks = tuple(range(m))
    if spec.single_task:
        return [
            ModelPlan(t, (k,), build_weighting(spec.weighting, 1, None), f"models/{t}")
            for k, t in enumerate(task_names)
        ]
    # The real training-set size: e.g. Pareto MTL bounds its feasible start in epochs.
    config = dataclasses.replace(config, train_size=int(num_train))
    variants = registered()[spec.weighting].model_variants(config)
    if variants:
        return [ModelPlan(name, tasks, build_weighting(spec.weighting, m, variant_config),
                          f"models/{name}")
                for name, variant_config in variants]
    return [ModelPlan(spec.name, tasks, build_weighting(spec.weighting, m, config))]


def build_trainer(config: RunConfig, spec: MethodSpec, data, plan: ModelPlan,
                  num_train: int) -> MultiTaskTrainer:
    """The network and trainer of `plan`, compiled, with every variable built.

    `data` needs only `tasks`, `task_names`, `num_classes` and `input_shape`, so a finished
    run can be rebuilt from its metrics.json without loading its data; `num_train` (the
    training pairs) turns the learning-rate schedule's epochs into steps.
    """

    encoder_kind = config.resolved_encoder(spec.encoder)
    tasks = [data.task_names[k] for k in plan.task_indices]
    encoder, heads = build_network(
        backbone=config.backbone,
        encoder=encoder_kind,
        input_shape=tuple(data.input_shape),
        num_classes=[data.num_classes[k] for k in plan.task_indices],
        task_names=tasks,
        bn_momentum=config.bn_momentum,
        latent_dim=config.latent_dim,
        seed=config.seed,
        vib_posterior=config.vib_posterior,
        weights=config.backbone_weights,
        image_size=config.backbone_image_size,
    )
    initialize_weights([encoder, *heads.values()], config.weight_init)
    trainer = MultiTaskTrainer(
        encoder, heads, plan.weighting, beta=config.beta if encoder_kind == "vib" else 0.0,
        task_specs=[data.tasks[k] for k in plan.task_indices],
    )
    _start_regression_heads_at_the_mean(trainer, data)
    steps_per_epoch = math.ceil(num_train / config.batch_size)
    trainer.compile(optimizer=make_optimizer(config, steps_per_epoch))
    # A strategy that trains state of its own with the network's kind of optimizer
    # (GradNorm's weights, --gradnorm_update=optimizer) gets its own instance.
    plan.weighting.attach_optimizer(lambda: make_optimizer(config, steps_per_epoch))
    # Build every variable now (model and optimizer slots) so that a checkpoint restores
    # into existing variables instead of relying on deferred restoration.
    trainer(tf.zeros((1, *data.input_shape)), training=False)
    trainer.optimizer.build(trainer.trainable_variables)
    return trainer


def _start_regression_heads_at_the_mean(trainer: MultiTaskTrainer, data) -> None:
    """Sets each regression head's output bias to the mean training target.

    A fresh linear output predicts ~0; starting it at the mean target (the "mean shape"
    for landmarks) means training refines the best constant instead of first spending
    its steps walking to it (measured on MTFL landmarks at 36x36, 135 Adam steps at lr
    1e-3 without this: test NME 0.40, worse than the mean shape's 0.31). Classification
    heads keep their zero bias and initial kernel. A model rebuilt from a finished run
    (`data` without labels) gets its weights from the checkpoint instead.
    """
    labels = getattr(data, "train_labels", None)
    if not labels:
        return
    for spec in trainer.task_specs:
        if spec.is_regression and spec.name in labels:
            output = trainer.heads[spec.name].layers[-1]
            mean = np.asarray(labels[spec.name], np.float32).reshape(-1, spec.size).mean(0)
            output.bias.assign(mean)
            # Glorot's kernel maps the ~unit-scale features to outputs of std ~1, far
            # larger than targets of scale ~0.1 (normalised coordinates): 1/100 of it
            # starts the head at the mean while gradients still reach the encoder.
            output.kernel.assign(output.kernel * 0.01)


_LAST_LOGS = "last_epoch_logs.json"


class _EpochCheckpoint(keras.callbacks.Callback):
    """Saves model + optimizer + epoch counter at the end of every epoch, and that
    epoch's logs (so a finished run, rerun, still reports its last task weights)."""

    def __init__(
        self,
        manager: tf.train.CheckpointManager,
        epoch_var: tf.Variable,
        model_dir: str | None,
    ) -> None:
        super().__init__()
        self._manager = manager
        self._epoch_var = epoch_var
        # None: a non-chief worker, which saves its share of the checkpoint only.
        self._logs_path = os.path.join(model_dir, _LAST_LOGS) if model_dir else None

    def on_epoch_end(self, epoch, logs=None):
        self._epoch_var.assign(epoch + 1)
        # Logs first: a crash between the two leaves the previous checkpoint, whose
        # epoch is then retrained and both files rewritten.
        if self._logs_path:
            atomic_write_json(self._logs_path, {k: float(v) for k, v in (logs or {}).items()})
        checkpoints_lib.save(self._manager, epoch + 1)


class _TensorBoard(keras.callbacks.TensorBoard):
    """Keras' TensorBoard callback with per-step curves numbered across resumes.

    Keras counts the steps of `batch_*` scalars from 0 in every `fit` call, so a resumed
    run would write its steps over the first epochs' (and TensorBoard drops the points
    past a step that goes back). Starting the count at the steps already trained keeps
    one curve over the whole run.
    """

    def __init__(self, log_dir: str, update_freq: str | int, initial_step: int) -> None:
        super().__init__(log_dir=log_dir, update_freq=update_freq)
        self._initial_step = int(initial_step)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        # Read by on_train_batch_begin, which increments it before each step's summaries.
        self._global_train_batch = self._initial_step


class _Progress(keras.callbacks.Callback):
    """Where training is (epoch, step), for the message of an interrupted run."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch, self.step = 0, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.step = epoch, 0

    def on_train_batch_end(self, batch, logs=None):
        self.step = batch + 1


def fit_model(
    config: RunConfig,
    spec: MethodSpec,
    data,
    plan: ModelPlan,
    model_dir: str,
    strategy: tf.distribute.Strategy | None = None,
) -> tuple[MultiTaskTrainer, dict[str, float]]:
    """Trains (or resumes) one model: checkpoints every epoch, resumes from the newest
    intact one, stops on a non-finite loss, and says where Ctrl-C interrupted it.

    Args:
      config: the run configuration.
      spec: the method.
      data: the data set.
      plan: the model to train (its weighting built under `strategy`'s scope).
      model_dir: where this model's checkpoints, events and last logs go.
      strategy: a `tf.distribute.Strategy` from `distribute.make_strategy`, or None.

    Returns:
      (trainer, last_logs): the trained model, and the Keras logs of its last epoch
      (also of an earlier invocation when nothing was left to train).
    """
    chief = distribute.is_chief(strategy)
    tasks = [data.task_names[k] for k in plan.task_indices]
    num_train = data.num_examples("train")
    with distribute.scope(strategy):
        trainer = build_trainer(config, spec, data, plan, num_train)
        epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        checkpoint = tf.train.Checkpoint(
            model=trainer, optimizer=trainer.optimizer, epoch=epoch_var
        )
    checkpoint_dir = os.path.join(model_dir, "checkpoints")
    with distribute.worker_local_dir(strategy, checkpoint_dir) as save_dir:
        manager = tf.train.CheckpointManager(
            checkpoint, save_dir, max_to_keep=config.keep_checkpoints
        )
        if chief:
            # Left by a save cut short (kill -9, full disk); the run directory's lock
            # guarantees no other process is writing it.
            checkpoints_lib.remove_stale_temporaries(checkpoint_dir)
        # Every worker resumes from the chief's checkpoints (the run directory must be
        # shared, or copied, for a multi-worker run to resume), skipping damaged ones.
        latest = checkpoints_lib.restore_newest_intact(checkpoint, checkpoint_dir)
        if latest:
            logging.info("Resuming %s from %s (epoch %d)", plan.name, latest,
                         int(epoch_var.numpy()))
        start_epoch = int(epoch_var.numpy())
        distribute.check_same_on_all_replicas(strategy, start_epoch, "the epoch to resume from")

        callbacks = [
            _StopOnNonFiniteLoss(tasks, checkpoint_dir),
            _EpochCheckpoint(manager, epoch_var, model_dir if chief else None),
        ]
        steps_per_epoch = math.ceil(num_train / config.batch_size)
        if chief:
            callbacks.insert(0, _TensorBoard(
                os.path.join(model_dir, "tensorboard"),
                update_freq=parse_update_freq(config.tb_update_freq),
                initial_step=start_epoch * steps_per_epoch,
            ))
        last_logs: dict = {}
        if os.path.exists(os.path.join(model_dir, _LAST_LOGS)):
            last_logs = read_json(os.path.join(model_dir, _LAST_LOGS),
                                  what="the last epoch's logs")
        if start_epoch < config.epochs:
            # One pipeline per epoch, shuffled by (seed, epoch) so that a resumed run sees
            # the same batches as an uninterrupted one, chained into one fit() call so
            # that Keras numbers the epochs as the user expects; with steps_per_epoch set,
            # Keras keeps iterating the same iterator across epochs.
            train_ds = functools.reduce(
                lambda a, b: a.concatenate(b),
                [
                    split_dataset(data, "train", plan.task_indices, config.batch_size,
                                  shuffle=True, seed=config.seed, epoch=epoch)
                    for epoch in range(start_epoch, config.epochs)
                ],
            )
            # Keras' val_* numbers and TensorBoard's validation/ curves come from the
            # held-out validation pairs (--val_size), never from the test set; without a
            # validation split there are none.
            val_ds = None
            if data.val_labels is not None:
                val_ds = split_dataset(data, "val", plan.task_indices, config.batch_size,
                                       shuffle=False, seed=config.seed)
            if distribute.is_multi_worker(strategy):
                train_ds = train_ds.with_options(distribute.distribute_options())
                if val_ds is not None:
                    val_ds = val_ds.with_options(distribute.distribute_options())
            if chief and config.verbose and plan.subdir:
                # A run of several models (one per preference, per task): Keras' epoch
                # lines do not say which one is training.
                label = plan.weighting.label()
                print(f"Training {spec.name} {plan.name}{f' {label}' if label else ''}: "
                      f"epochs {start_epoch + 1}..{config.epochs}", flush=True)
            progress = _Progress()
            try:
                history = trainer.fit(
                    train_ds,
                    validation_data=val_ds,
                    steps_per_epoch=math.ceil(num_train / config.batch_size),
                    initial_epoch=start_epoch,
                    epochs=config.epochs,
                    callbacks=[*callbacks, progress],
                    shuffle=False,  # the pipeline is already shuffled by (seed, epoch)
                    verbose=config.verbose,
                )
            except KeyboardInterrupt:
                # Ctrl-C: the checkpoints of finished epochs are intact (a save cut short
                # leaves only a temporary folder, removed on the next start).
                where = "" if plan.name == spec.name else f" ({plan.name})"
                raise KeyboardInterrupt(
                    f"interrupted at epoch {progress.epoch + 1}, step {progress.step}{where}; "
                    "rerun the same command to resume"
                ) from None
            last_logs = {k: float(v[-1]) for k, v in history.history.items()}
    return trainer, last_logs
