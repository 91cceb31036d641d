"""Rebuilding a finished run's models from its config.json, metrics.json and checkpoints.

Each model is rebuilt exactly as training built it (`plan_models` + `build_trainer`), and
its newest checkpoint restored. Export (`mtl_tf.export.runs`), re-evaluation
(`mtl_tf.orchestration.eval_only`) and reports use it. The data set itself is not loaded:
task names, class counts and the training-set size come from the run's metrics.json, the
image shape from metrics.json (or the data set's name, for older runs).
"""

from __future__ import annotations

import dataclasses
import os

import tensorflow as tf

from mtl_tf import methods as methods_lib
from mtl_tf.config import RunConfig
from mtl_tf.io_utils import read_json
from mtl_tf.tasks import TaskSpec, classification_specs, specs_from_json
from mtl_tf.training.checkpoints import damage_reason, restore_checkpoint
from mtl_tf.training.fit import ModelPlan, build_trainer, plan_models
from mtl_tf.weighting.fixed import FixedWeighting, grid_weight_vectors

# Input shape (H, W, C) per data set: the MultiMNIST family is a 36x36 grey canvas
# (`mtl_tf.data.multi_mnist.make_multi_pairs`, canvas_size=36).
INPUT_SHAPES: dict[str, tuple[int, int, int]] = {
    "multi_mnist": (36, 36, 1),
    "multi_fashion": (36, 36, 1),
    "multi_fashion_mnist": (36, 36, 1),
}


@dataclasses.dataclass(frozen=True)
class _DataInfo:
    """The few attributes of `MultiTaskData` that building a model needs."""

    name: str
    tasks: tuple[TaskSpec, ...]
    input_shape: tuple[int, int, int]
    num_train: int

    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tasks)

    @property
    def num_classes(self) -> tuple[int, ...]:
        return tuple(t.size for t in self.tasks)


def _read_json(path: str) -> dict:
    return read_json(path, what="part of a finished run")


def load_finished_run(run_dir: str, input_shape: tuple[int, int, int] | None = None):
    """(config, metrics, data info) of a finished run; ValueError if it is not one.

    The data info holds what rebuilding its models needs (tasks, class counts, image
    shape, training-set size), read from metrics.json: the data is not loaded.
    """
    missing = [
        name for name in ("config.json", "metrics.json")
        if not os.path.isfile(os.path.join(run_dir, name))
    ]
    if missing:
        raise ValueError(
            f"{run_dir!r} is not a finished run directory: no {' or '.join(missing)} "
            "(train it first, or pass the --output_dir of a finished run)"
        )
    raw = _read_json(os.path.join(run_dir, "config.json"))
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    raw = {k: v for k, v in raw.items() if k in fields}
    for name in ("task_weights", "lr_milestones", "tasks"):
        if raw.get(name) is not None:
            raw[name] = tuple(raw[name])
    config = RunConfig(**raw)
    metrics = _read_json(os.path.join(run_dir, "metrics.json"))
    done = metrics.get("epochs")
    if isinstance(done, int) and config.epochs > done:
        # A rerun with a larger --epochs rewrote config.json and is training (or was cut
        # off): the newest checkpoint may be of an epoch metrics.json does not describe.
        raise ValueError(
            f"run {run_dir!r} is being extended to {config.epochs} epochs (its metrics.json "
            f"is of {done}): rerun its training command with --epochs={config.epochs} to "
            "finish it, then evaluate or export")
    dataset = metrics.get("dataset", config.dataset)
    if dataset == "synthetic" or not metrics.get("models"):
        raise ValueError(f"run {run_dir!r} ({dataset}) has no trained networks to export")
    shape = input_shape or metrics.get("input_shape") or INPUT_SHAPES.get(dataset)
    if shape is None:
        raise ValueError(
            f"unknown input shape for data set {dataset!r} of run {run_dir!r}; "
            f"known: {', '.join(INPUT_SHAPES)} (pass input_shape=(H, W, C))"
        )
    data = _DataInfo(
        name=dataset,
        # Runs written before task specs existed were all classification.
        tasks=(specs_from_json(metrics["task_specs"]) if metrics.get("task_specs")
               else classification_specs(metrics["tasks"], metrics["num_classes"])),
        input_shape=tuple(int(d) for d in shape),  # type: ignore[arg-type]
        num_train=int(metrics["train_size"]),
    )
    return config, metrics, data


def _restore_latest(trainer, model_dir: str) -> None:
    ckpt_dir = os.path.join(model_dir, "checkpoints")
    latest = tf.train.latest_checkpoint(ckpt_dir)
    if latest is None:
        raise ValueError(
            f"no checkpoint in {ckpt_dir!r}: the run in {model_dir!r} did not finish an epoch"
        )
    # Only the model: the optimizer and epoch counter are in the checkpoint too but not
    # needed for serving (partial), while every model variable must be restored.
    try:
        restore_checkpoint(tf.train.Checkpoint(model=trainer), latest, partial=True)
    except (tf.errors.OpError, IndexError) as e:
        # Serving an older epoch than metrics.json describes would be wrong: say what is
        # damaged; rerunning the training command falls back to the newest intact
        # checkpoint and retrains the lost epochs.
        raise ValueError(
            f"checkpoint {latest} is damaged ({damage_reason(e)}); rerun the "
            f"training command of {model_dir} to retrain from the newest intact "
            "checkpoint, then export again"
        ) from None


def restore_run(run_dir: str, input_shape: tuple[int, int, int] | None = None):
    """Rebuilds every trained model of a finished run from its config and checkpoints.

    Returns:
      (config, metrics, data info, [(plan, trainer, model_dir), ...]) in the run's model
      order; a grid search contributes only its best point (the one it serves).

    Raises:
      ValueError: `run_dir` is not a finished run, or holds no networks.
    """
    config, metrics, data = load_finished_run(run_dir, input_shape)
    spec = methods_lib.get_method(config.method)
    if config.grid_points:
        # Grid search serves its answer: the point picked on the validation pairs.
        best = int(metrics["grid"]["best_index"])
        weights = grid_weight_vectors(len(data.task_names), config.grid_points)[best]
        m = len(data.task_names)
        plans = [
            ModelPlan(spec.name, tuple(range(m)), FixedWeighting(m, weights),
                              f"grid/{best}")
        ]
    else:
        plans = plan_models(config, spec, data.task_names, data.num_train)
    restored = []
    # The checkpoint overwrites every variable: initial ImageNet weights would only be
    # downloaded (or fail offline) for nothing.
    build_config = dataclasses.replace(config, backbone_weights="none")
    for plan in plans:
        model_dir = os.path.join(run_dir, plan.subdir) if plan.subdir else run_dir
        trainer = build_trainer(build_config, spec, data, plan, data.num_train)
        _restore_latest(trainer, model_dir)
        restored.append((plan, trainer, model_dir))
    return config, metrics, data, restored
