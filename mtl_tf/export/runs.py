"""Export the models of a finished run directory (see `mtl_tf.training.run`).

Each model is rebuilt exactly as training built it (`plan_models` + `_build_trainer`
from the run's `config.json`), its latest checkpoint is restored, and it is exported
with `export_model` under a name derived from the method:

* one shared model: ``<method>`` (e.g. ``mtvib``; grid search: its best grid point);
* STL / STVIB: ``<method>_<task>`` (e.g. ``stl_top_left``);
* Pareto MTL: ``<method>_preference_<i>``.

The data set itself is not loaded: the task names and class counts come from the run's
`metrics.json`, the image shape from the data set's name.
"""

from __future__ import annotations

import dataclasses
import os

import tensorflow as tf

from mtl_tf.config import RunConfig
from mtl_tf.export.saved_model import (
    DEFAULT_BASE_PATH_PREFIX,
    export_model,
    sanitize_model_name,
    write_models_config,
)
from mtl_tf.run_dir import read_json
from mtl_tf.training.checkpoints import restore_checkpoint

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
    task_names: tuple[str, ...]
    num_classes: tuple[int, ...]
    input_shape: tuple[int, int, int]
    num_train: int


def _read_json(path: str) -> dict:
    return read_json(path, what="part of a finished run")


def _load_run(run_dir: str, input_shape: tuple[int, int, int] | None):
    """(config, metrics, data info) of a finished run; ValueError if it is not one."""
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
    if raw.get("task_weights") is not None:
        raw["task_weights"] = tuple(raw["task_weights"])
    config = RunConfig(**raw)
    metrics = _read_json(os.path.join(run_dir, "metrics.json"))
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
        task_names=tuple(metrics["tasks"]),
        num_classes=tuple(int(c) for c in metrics["num_classes"]),
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
        text = (getattr(e, "message", None) or str(e)).splitlines()[0][:160]
        raise ValueError(
            f"checkpoint {latest} is damaged ({type(e).__name__}: {text}); rerun the "
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
    from mtl_tf import methods as methods_lib
    from mtl_tf.training import run as run_lib
    from mtl_tf.weighting.fixed import FixedWeighting

    config, metrics, data = _load_run(run_dir, input_shape)
    spec = methods_lib.get_method(config.method)
    if config.grid_points:
        # Grid search serves its answer: the point picked on the validation pairs.
        from mtl_tf.training.grid_search import grid_weight_vectors

        best = int(metrics["grid"]["best_index"])
        weights = grid_weight_vectors(len(data.task_names), config.grid_points)[best]
        m = len(data.task_names)
        plans = [
            run_lib.ModelPlan(spec.name, tuple(range(m)), FixedWeighting(m, weights),
                              f"grid/{best}")
        ]
    else:
        plans = run_lib.plan_models(config, spec, data.task_names, data.num_train)
    restored = []
    for plan in plans:
        model_dir = os.path.join(run_dir, plan.subdir) if plan.subdir else run_dir
        trainer = run_lib._build_trainer(config, spec, data, plan)
        _restore_latest(trainer, model_dir)
        restored.append((plan, trainer, model_dir))
    return config, metrics, data, restored


def export_run(
    run_dir: str,
    export_dir: str,
    *,
    base_path_prefix: str | None = DEFAULT_BASE_PATH_PREFIX,
    write_config: bool = True,
    input_shape: tuple[int, int, int] | None = None,
) -> list[str]:
    """Exports every model of the finished run in `run_dir` as a new SavedModel version.

    Args:
      run_dir: a run directory with config.json, metrics.json and checkpoints.
      export_dir: where to export (``<export_dir>/<model_name>/<version>``).
      base_path_prefix: passed to `write_models_config`.
      write_config: (re)write ``<export_dir>/models.config`` afterwards.
      input_shape: (H, W, C) of the images, for data sets not in `INPUT_SHAPES`.

    Returns:
      The new version directories, in the run's model order.

    Raises:
      ValueError: `run_dir` is not a finished run (no config.json / metrics.json /
        checkpoints), or holds no networks (synthetic example).
    """
    from mtl_tf.methods import get_method

    config, _, _, restored = restore_run(run_dir, input_shape)
    spec = get_method(config.method)
    exported = []
    for plan, trainer, _ in restored:
        single = not plan.subdir or config.grid_points
        name = spec.name if single else f"{spec.name}_{plan.name}"
        exported.append(export_model(trainer, export_dir, sanitize_model_name(name)))
    if write_config:
        write_models_config(export_dir, base_path_prefix=base_path_prefix)
    return exported
