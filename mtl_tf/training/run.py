"""Train-and-evaluate driver: one run directory, one or several trained models.

A run directory holds everything a run produced:

    <output_dir>/
      config.json          the resolved `RunConfig` (a rerun with other settings is refused)
      flags.txt            (CLI only) a flagfile that reproduces the run
      metrics.json         test metrics, schema in `mtl_tf.evaluation.report`
      tensorboard/         TensorBoard events (train/ and validation/)
      checkpoints/         one checkpoint per epoch; rerunning resumes from the last
      models/<name>/...    the same, per model, for methods that train several models
                           (STL/STVIB: one per task)

Resuming: a checkpoint holds the model, the optimizer, the weighting's state and the
epoch counter; each epoch's shuffle order depends only on (seed, epoch), so a resumed run
sees the same batches as an uninterrupted one.

Distributed (`--strategy`, `mtl_tf.training.distribute`, docs/distributed.md): models,
optimizers and checkpoints are built under the strategy's scope and `fit` splits every
global batch across the replicas. In a multi-worker run only the chief writes the run
directory; the other workers save their (required) share of each checkpoint to a
temporary directory that is removed afterwards.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import time
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from mtl_tf import methods as methods_lib
from mtl_tf import run_dir as run_dir_lib
from mtl_tf.config import RunConfig
from mtl_tf.evaluation import metrics as metrics_lib
from mtl_tf.evaluation import report
from mtl_tf.io_utils import atomic_write_json, atomic_write_text
from mtl_tf.training import checkpoints as checkpoints_lib
from mtl_tf.training import distribute
from mtl_tf.training.trainer import MultiTaskTrainer
from mtl_tf.weighting import Weighting, build_weighting

# Settings a rerun may change and still continue the same run: presentation, where the
# run lives, and `epochs` (raising it continues training from the last checkpoint; the
# epochs already done are exactly those an uninterrupted longer run would have done).
_RESUMABLE_FIELDS = (
    "verbose", "keep_checkpoints", "output_dir", "epochs",
    # Evaluation only: a rerun may attack the same trained models differently.
    "etas", "attack", "eot_samples", "pgd_steps", "pgd_step_size",
    # The same global batches and updates on any number of replicas (up to float
    # summation order): a run may resume on other hardware.
    "strategy",
)


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


def make_optimizer(config: RunConfig) -> keras.optimizers.Optimizer:
    """The optimizer named by `config.optimizer` (Adam: MTVIB §VI-B)."""
    if config.optimizer == "adam":
        return keras.optimizers.Adam(config.learning_rate)
    if config.optimizer == "sgd":
        # Pareto MTL's reference: SGD with momentum 0.9.
        return keras.optimizers.SGD(config.learning_rate, momentum=0.9)
    raise ValueError(f"unknown --optimizer {config.optimizer!r}; allowed: adam, sgd")


def plan_models(
    config: RunConfig,
    spec: methods_lib.MethodSpec,
    task_names: Sequence[str],
    num_train: int,
) -> list[ModelPlan]:
    """The models a method trains: one shared model, one per task (STL, STVIB), or one per
    preference vector (Pareto MTL, Algorithm 1: the K subproblems are independent).

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
    if spec.weighting == "pareto_mtl":
        k = config.num_preferences
        if config.preference_index is not None and config.preference_index >= k:
            raise ValueError(
                f"--preference_index={config.preference_index} is out of range for "
                f"--num_preferences={k} (allowed: 0..{k - 1})"
            )
        indices = (
            [config.preference_index]
            if config.preference_index is not None
            else range(config.num_preferences)
        )
        return [
            ModelPlan(
                f"preference_{i}",
                tasks,
                build_weighting(
                    spec.weighting, m,
                    # The real training-set size: the feasible-start bound is in epochs.
                    dataclasses.replace(config, preference_index=i,
                                        train_size=int(num_train)),
                ),
                f"models/preference_{i}",
            )
            for i in indices
        ]
    return [ModelPlan(spec.name, tasks, build_weighting(spec.weighting, m, config))]


def check_run_dir(run_dir: str, config: RunConfig) -> None:
    """Refuses to mix runs: an existing config.json must match `config` (up to the
    fields a rerun may change, `_RESUMABLE_FIELDS`)."""
    run_dir_lib.check_same_run(run_dir, config, _RESUMABLE_FIELDS)


def _build_trainer(config: RunConfig, spec, data, plan: ModelPlan) -> MultiTaskTrainer:
    from mtl_tf.models import build_network

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
    )
    trainer = MultiTaskTrainer(
        encoder, heads, plan.weighting, beta=config.beta if encoder_kind == "vib" else 0.0
    )
    trainer.compile(optimizer=make_optimizer(config))
    # Build every variable now (model and optimizer slots) so that a checkpoint restores
    # into existing variables instead of relying on deferred restoration.
    trainer(tf.zeros((1, *data.input_shape)), training=False)
    trainer.optimizer.build(trainer.trainable_variables)
    return trainer


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


class _Progress(keras.callbacks.Callback):
    """Where training is (epoch, step), for the message of an interrupted run."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch, self.step = 0, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.step = epoch, 0

    def on_train_batch_end(self, batch, logs=None):
        self.step = batch + 1


def train_model(
    config: RunConfig,
    spec: methods_lib.MethodSpec,
    data,
    plan: ModelPlan,
    model_dir: str,
    strategy: tf.distribute.Strategy | None = None,
) -> tuple[MultiTaskTrainer, dict, dict[str, np.ndarray]]:
    """Trains (or resumes) one model and evaluates it on the test set.

    Args:
      config: the run configuration.
      spec: the method.
      data: the data set.
      plan: the model to train (its weighting built under `strategy`'s scope).
      model_dir: where this model's checkpoints, events and last logs go.
      strategy: a `tf.distribute.Strategy` from `distribute.make_strategy`, or None.

    Returns:
      (trainer, summary, logits): summary has per-task accuracy/loss, joint accuracy and
      the strategy's mean task weights over the last epoch; logits are the test logits
      per task, in test-set order.
    """
    from mtl_tf.data.pipeline import split_dataset

    chief = distribute.is_chief(strategy)
    tasks = [data.task_names[k] for k in plan.task_indices]
    num_train = len(data.train_labels)
    test_labels = data.test_labels[:, list(plan.task_indices)]
    with distribute.scope(strategy):
        trainer = _build_trainer(config, spec, data, plan)
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

        test_ds = split_dataset(data, "test", plan.task_indices, config.batch_size,
                                shuffle=False, seed=config.seed)
        callbacks = [
            _StopOnNonFiniteLoss(tasks, checkpoint_dir),
            _EpochCheckpoint(manager, epoch_var, model_dir if chief else None),
        ]
        if chief:
            callbacks.insert(
                0, keras.callbacks.TensorBoard(log_dir=os.path.join(model_dir, "tensorboard"))
            )
        last_logs: dict = {}
        if os.path.exists(os.path.join(model_dir, _LAST_LOGS)):
            last_logs = run_dir_lib.read_json(os.path.join(model_dir, _LAST_LOGS),
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

    # Evaluation runs outside the strategy, on every worker over the whole test set: the
    # model is identical everywhere, and only the chief writes the results.
    logits = metrics_lib.predict_logits(trainer, test_ds)
    summary = metrics_lib.summarize(logits, test_labels, tasks)
    summary["task_weights"] = {
        t: last_logs[f"{t}_weight"] for t in tasks if f"{t}_weight" in last_logs
    }
    summary.update(plan.weighting.describe())
    if config.etas:
        summary["robustness"] = evaluate_robustness(
            config, trainer, test_ds, tasks, model_dir if chief else None
        )
    return trainer, summary, logits


def evaluate_robustness(
    config: RunConfig, model, dataset: tf.data.Dataset, tasks: Sequence[str],
    model_dir: str | None = None,
) -> dict:
    """Test accuracy under `config.attack` at every eta (MTVIB eq. 25, Tables III-V).

    Also writes the curves as TensorBoard scalars under `<model_dir>/tensorboard/robustness`
    (step = round(1000 * eta), so the x axis reads as eta in thousandths).
    """
    from mtl_tf.evaluation import attacks

    if config.attack == "fgsm":
        result = attacks.fgsm_evaluate(model, dataset, tasks, config.etas,
                                       eot_samples=config.eot_samples, seed=config.seed)
    elif config.attack == "pgd":
        result = attacks.pgd_evaluate(model, dataset, tasks, config.etas,
                                      steps=config.pgd_steps, step_size=config.pgd_step_size,
                                      seed=config.seed, eot_samples=config.eot_samples)
    else:
        raise ValueError(f"unknown --attack {config.attack!r}; allowed: fgsm, pgd")
    if model_dir:
        writer = tf.summary.create_file_writer(os.path.join(model_dir, "tensorboard", "robustness"))
        with writer.as_default():
            for eta in result["etas"]:
                key, step = attacks.eta_key(eta), int(round(1000 * eta))
                for task, acc in result["accuracy"][key].items():
                    tf.summary.scalar(f"{result['attack']}/{task}_accuracy", acc, step=step)
                tf.summary.scalar(f"{result['attack']}/joint_accuracy",
                                  result["joint_accuracy"][key], step=step)
        writer.close()
    return result


def combine_single_task_robustness(model_results: Sequence[dict]) -> dict | None:
    """STL/STVIB: per-task adversarial accuracy, each task from its own model.

    Joint accuracy under attack is left out (null): each model is attacked on its own
    task's loss, so there is no single perturbed input whose tasks could all be right.
    """
    parts = [m.get("robustness") for m in model_results]
    if not parts or any(p is None for p in parts):
        return None
    combined = {k: v for k, v in parts[0].items() if k not in ("accuracy", "joint_accuracy")}
    combined["accuracy"] = {
        key: {t: a for p in parts for t, a in p["accuracy"][key].items()}
        for key in parts[0]["accuracy"]
    }
    combined["joint_accuracy"] = None
    return combined


def run(config: RunConfig, data=None, extra_files: dict[str, str] | None = None) -> dict:
    """Trains and evaluates every model of `config.method`; writes metrics.json.

    Everything that can be wrong with the input (method, run directory, data, task
    weights) is checked before anything is written, so bad input leaves no trace.

    Args:
      config: the run configuration.
      data: a `mtl_tf.data.datasets.MultiTaskData`; loaded from `config` when None.
      extra_files: name -> text, written (atomically) into the run directory once the
        input is validated (the CLI's flags.txt).

    Returns:
      The metrics dictionary written to `<output_dir>/metrics.json`.
    """
    start = time.time()
    spec = methods_lib.get_method(config.method)
    run_dir = config.output_dir
    check_run_dir(run_dir, config)
    if config.strategy not in distribute.STRATEGIES:
        raise ValueError(f"unknown --strategy {config.strategy!r}; allowed: "
                         f"{', '.join(distribute.STRATEGIES)}")
    if config.strategy != "none" and (config.dataset == "synthetic" or config.grid_points):
        raise ValueError(
            f"--strategy={config.strategy} distributes network training; it does not apply "
            "to --dataset=synthetic or to --grid_points (use --strategy=none)"
        )
    # Before any TensorFlow op: a multi-worker strategy configures the runtime.
    strategy = distribute.make_strategy(config.strategy)
    chief = distribute.is_chief(strategy)
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    if config.dataset == "synthetic":
        return _run_synthetic(config, spec, extra_files, start)
    if config.grid_points and spec.name != "gs":
        raise ValueError(f"--grid_points applies to --method=gs only, not {spec.name}")
    if config.grid_points and config.val_size <= 0:
        raise ValueError("--grid_points needs validation pairs: pass --val_size > 0")

    if data is None:
        from mtl_tf.data.datasets import load_run_dataset

        data = load_run_dataset(config)
    if config.grid_points:
        from mtl_tf.training.grid_search import grid_weight_vectors

        grid_weight_vectors(len(data.task_names), config.grid_points)  # validate before writing
        plans = []
    else:
        # Under the strategy: the weightings' state must be distributed variables.
        with distribute.scope(strategy), distribute.replica_identical_state(strategy):
            # Validates the weighting options.
            plans = plan_models(config, spec, data.task_names, len(data.train_labels))
    # Only the chief writes the run directory; it holds the directory's lock throughout,
    # so a second process started on the same --output_dir is refused, not interleaved.
    with run_dir_lib.locked(run_dir) if chief else contextlib.nullcontext():
        if chief:
            check_run_dir(run_dir, config)  # again: another process may have written it
            atomic_write_json(os.path.join(run_dir, "config.json"),
                              run_dir_lib.config_dict(config))
            for name, text in (extra_files or {}).items():
                atomic_write_text(os.path.join(run_dir, name), text)
        return _train_and_report(config, spec, data, plans, strategy, start)


def _train_and_report(config: RunConfig, spec, data, plans: list[ModelPlan], strategy,
                      start: float) -> dict:
    """Trains every planned model (or the grid), then writes metrics.json."""
    run_dir = config.output_dir
    chief = distribute.is_chief(strategy)
    model_results = []
    logits_by_task: dict[str, np.ndarray] = {}
    grid = None
    if config.grid_points:
        from mtl_tf.training.grid_search import run_grid_search

        grid_results, best = run_grid_search(config, spec, data, run_dir)
        grid = {"points": grid_results, "best_index": best,
                "selected_by": "validation joint accuracy"}
        # The grid's answer is its best point: report it as the run's model.
        model_results.append(grid_results[best])
        logits_by_task = None
    for plan in plans:
        model_dir = os.path.join(run_dir, plan.subdir) if plan.subdir else run_dir
        _, summary, logits = train_model(config, spec, data, plan, model_dir, strategy)
        model_results.append({"name": plan.name, "directory": plan.subdir or ".", **summary})
        logits_by_task.update(logits)

    # One prediction per task: a single shared model, or single-task models side by side
    # (STL/STVIB, whose joint accuracy combines their predictions per example). Methods
    # with several models for the same tasks (Pareto MTL) have no single answer.
    overall = None
    if grid is not None:
        best_model = grid["points"][grid["best_index"]]
        overall = {k: best_model.get(k) for k in ("accuracy", "loss", "joint_accuracy",
                                                  "robustness")}
    elif spec.single_task:
        overall = metrics_lib.summarize(logits_by_task, data.test_labels, data.task_names)
        overall["robustness"] = combine_single_task_robustness(model_results)
    elif len(model_results) == 1:
        overall = metrics_lib.summarize(logits_by_task, data.test_labels, data.task_names)
        overall["robustness"] = model_results[0].get("robustness")

    metrics = report.build_metrics(
        config=config,
        spec=spec,
        data=data,
        model_results=model_results,
        overall=overall,
        wall_time_seconds=time.time() - start,
    )
    if grid is not None:
        metrics["grid"] = grid
    if chief:
        atomic_write_json(os.path.join(run_dir, "metrics.json"), metrics)
    return metrics


def _run_synthetic(config: RunConfig, spec, extra_files, start: float) -> dict:
    """Pareto MTL §5: the concave two-objective example, for pareto_mtl, gs and mgda."""
    from mtl_tf import synthetic

    if spec.name not in ("pareto_mtl", "gs", "mgda"):
        raise ValueError(
            f"--dataset=synthetic supports --method=pareto_mtl, gs or mgda, not {spec.name}"
        )
    num_runs = config.num_preferences if spec.name == "pareto_mtl" else config.synthetic_runs
    results = synthetic.run_synthetic(spec.name, num_runs=num_runs, seed=config.seed)
    with run_dir_lib.locked(config.output_dir):
        atomic_write_json(os.path.join(config.output_dir, "config.json"),
                          run_dir_lib.config_dict(config))
        for name, text in (extra_files or {}).items():
            atomic_write_text(os.path.join(config.output_dir, name), text)
        paths = synthetic.write_synthetic_report({spec.name: results}, config.output_dir)
    metrics = {
        "schema_version": report.SCHEMA_VERSION,
        "method": spec.name,
        "dataset": "synthetic",
        "tasks": ["f1", "f2"],
        "accuracy": None,
        "joint_accuracy": None,
        "models": [],
        "synthetic": _jsonable(results),
        "files": [os.path.basename(p) for p in paths],
        "epochs": 0,
        "seed": config.seed,
        "wall_time_seconds": round(time.time() - start, 3),
    }
    atomic_write_json(os.path.join(config.output_dir, "metrics.json"), metrics)
    return metrics


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def format_summary(metrics: dict, task_names: Sequence[str] | None = None) -> str:
    """A small text table of per-task test accuracy for the end of a CLI run."""
    if metrics["dataset"] == "synthetic":
        solutions = np.asarray(metrics["synthetic"]["solutions"])
        lines = [f"Synthetic example ({metrics['method']}): objective values (f1, f2)"]
        lines += [f"  {i:>2}: ({f1:.3f}, {f2:.3f})" for i, (f1, f2) in enumerate(solutions)]
        return "\n".join(lines)
    lines = [f"Test accuracy ({metrics['method']} on {metrics['dataset']}, inference mode):"]
    for model in metrics["models"]:
        parts = [f"{t} {a:.2%}" for t, a in model["accuracy"].items()]
        joint = model.get("joint_accuracy")
        tail = f"  joint {joint:.2%}" if joint is not None and len(parts) > 1 else ""
        lines.append(f"  {model['name']:<12} " + "  ".join(parts) + tail)
    for model in metrics["models"]:
        robustness = model.get("robustness")
        if not robustness:
            continue
        cells = []
        for key, accs in robustness["accuracy"].items():
            joint = (robustness.get("joint_accuracy") or {}).get(key)
            text = "/".join(f"{a:.1%}" for a in accs.values())
            cells.append(f"{key}: {text}" + (f" (joint {joint:.1%})" if joint is not None
                                              and len(accs) > 1 else ""))
        lines.append(f"  {model['name']:<12} {robustness['attack']} eta " + ", ".join(cells))
    if "grid" in metrics:
        best = metrics["grid"]["best_index"]
        lines.append(f"  (best of {len(metrics['grid']['points'])} grid points by validation "
                     f"joint accuracy: point {best})")
    if metrics.get("joint_accuracy") is not None and len(metrics["models"]) > 1:
        lines.append(f"  {'joint (all tasks right)':<12} {metrics['joint_accuracy']:.2%}")
    return "\n".join(lines)
