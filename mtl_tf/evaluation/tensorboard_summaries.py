"""TensorBoard views that compare models: one HParams row per model, and the report figures.

Written after a run's evaluation (and again by an experiment, for every run it reports),
from the run's `metrics.json` and configuration alone:

    <model_dir>/tensorboard/hparams/   one HParams session: the model's hyperparameters
                                       (`hp.hparams`) and its final test metrics as
                                       scalars (clean, and under attack at every eta)
    <run_dir>/tensorboard/figures/     runs with several models for the same tasks
                                       (Pareto MTL, a weight grid): the accuracy front
                                       and robustness curves as images
    <report_dir>/tensorboard/figures/  an experiment: the same figures over every method

`<model_dir>` is each model's directory: the run directory for a single model,
``models/preference_<i>`` per Pareto MTL preference, ``grid/<i>`` per grid point. A
single-task method (STL, STVIB) is one row for its run (``<run_dir>/tensorboard/hparams``):
its models together are one point of the front, as in Pareto MTL Fig. 4.

A session holds only the hyperparameters and final metrics, none of the training curves,
so the HParams plugin infers the metric list (the final tags) and every hyperparameter's
domain from the sessions themselves: `tensorboard --logdir` on one run, an experiment's
report directory, or a folder of both lists every model as its own row, with no
experiment-wide configuration that could disagree between runs. Each row's trial id names
the model (method, preference vector or grid weights, seed) and ends in a digest of its
hyperparameters, so a repeat of exactly the same settings joins the same row (averaged by
the plugin) and anything else stays apart.

Every write replaces the previous one (new event file published by rename, old ones
removed): a rerun that trains more epochs or re-scores under another attack shows the new
numbers, never both.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

from mtl_tf import choices
from mtl_tf.evaluation.reports import (
    front_points,
    plot_accuracy_front,
    plot_joint_accuracy,
    plot_robustness_curves,
)
from mtl_tf.io_utils import make_temp_dir
from mtl_tf.user_data import split_dataset_name

__all__ = [
    "FIGURES_DIR",
    "HPARAMS_DIR",
    "SessionRow",
    "session_rows",
    "write_experiment_summaries",
    "write_figures",
    "write_run_summaries",
]

TENSORBOARD_DIR = "tensorboard"
HPARAMS_DIR = "hparams"
FIGURES_DIR = "figures"

HParamValue = bool | int | float | str

# Settings of the run every row carries, when set: what a reader sorts and filters by.
_RUN_HPARAMS = ("dataset", "backbone", "optimizer", "learning_rate", "batch_size", "epochs",
                "seed", "train_size", "test_size", "val_size", "bn_momentum", "lr_schedule",
                "weight_init")
# Settings that exist for one backbone, encoder or weighting only (absent from the
# others' rows, so a column is never filled with a value that did nothing): the
# keras.applications backbones' initial weights and input side (the flags refuse them
# with the papers' backbones).
_BACKBONE_HPARAMS = {name: ("backbone_weights", "backbone_image_size")
                     for name in choices.APPLICATION_BACKBONES}
_ENCODER_HPARAMS = {"vib": ("beta", "latent_dim", "vib_posterior")}
# Settings of the image data sets that have them: MTFL's input side and framing, and the
# input side of csv:/tfds: images (the MultiMNIST family is 36x36, unframed, always).
_MTFL_HPARAMS = ("image_size", "mtfl_framing")
_USER_DATA_HPARAMS = ("image_size",)
_WEIGHTING_HPARAMS = {
    "gradnorm": ("gradnorm_alpha", "gradnorm_lr", "gradnorm_update"),
    "mgda": ("grad_wrt", "grad_normalization"),
    "pareto_mtl": ("num_preferences", "pareto_epsilon", "pareto_max_init_epochs",
                   "pareto_loss_scale", "pareto_grad_normalization"),
}
# The image tags, and the report figure each is.
_FIGURES: tuple[tuple[str, Callable[[dict, str], str | None]], ...] = (
    ("accuracy_front", plot_accuracy_front),
    ("robustness_curves", plot_robustness_curves),
    ("joint_accuracy_under_attack", plot_joint_accuracy),
)


@dataclasses.dataclass(frozen=True)
class SessionRow:
    """One model as one HParams row.

    Attributes:
      directory: the model's directory relative to the run directory ("." for the run
        directory itself); the session goes to ``<directory>/tensorboard/hparams``.
      trial_id: the row's name in the HParams dashboard.
      hparams: hyperparameter name -> value.
      metrics: scalar tag -> final value (written at step `step`).
      step: the epochs the model was trained for.
    """

    directory: str
    trial_id: str
    hparams: dict[str, HParamValue]
    metrics: dict[str, float]
    step: int


def _config_dict(config: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(config):
        return dataclasses.asdict(config)
    return dict(config)


def _components(values) -> list[float]:
    # Six decimals: cos(pi/2) = 6e-17 reads as 0, and float32 weights as the grid's.
    return [round(float(v), 6) + 0.0 for v in values]


def _vector(values) -> str:
    return "(" + ", ".join(f"{v:.3g}" for v in _components(values)) + ")"


def _final_metrics(entry: Mapping[str, Any], tasks: list[str]) -> dict[str, float]:
    """The test numbers of one model (or a single-task run's combined result) as tags."""
    out: dict[str, float] = {}
    for task in tasks:
        accuracy = (entry.get("accuracy") or {}).get(task)
        if accuracy is not None:
            out[f"test/{task}_accuracy"] = float(accuracy)
    if entry.get("joint_accuracy") is not None:
        out["test/joint_accuracy"] = float(entry["joint_accuracy"])
    for task in tasks:
        loss = (entry.get("loss") or {}).get(task)
        if loss is not None:
            out[f"test/{task}_loss"] = float(loss)
        # Regression tasks: their errors (MAE, RMSE, and NME for landmarks).
        for name, value in ((entry.get("error") or {}).get(task) or {}).items():
            out[f"test/{task}_{name}"] = float(value)
    robustness = entry.get("robustness") or {}
    attack = robustness.get("attack", "attack")
    joint = robustness.get("joint_accuracy") or {}
    # Keys are the etas as written ("0", "0.05", ...); sorted as numbers.
    for key in sorted(robustness.get("accuracy") or {}, key=float):
        prefix = f"test_{attack}/eta_{key}"
        for task in tasks:
            value = robustness["accuracy"][key].get(task)
            if value is not None:
                out[f"{prefix}/{task}_accuracy"] = float(value)
            # A regression task's main error under attack (NME or MAE, `error_metric`).
            for task, value in ((robustness.get("error") or {}).get(key) or {}).items():
                metric = (robustness.get("error_metric") or {}).get(task, "error")
                if task in tasks and value is not None:
                    out[f"{prefix}/{task}_{metric}"] = float(value)
        if joint.get(key) is not None:  # None for STL/STVIB: tasks attacked separately
            out[f"{prefix}/joint_accuracy"] = float(joint[key])
    validation = entry.get("validation") or {}
    if validation.get("joint_accuracy") is not None:  # grid points: what picked the best
        out["validation/joint_accuracy"] = float(validation["joint_accuracy"])
    for task, weight in (entry.get("task_weights") or {}).items():
        # Learned weightings (uncertainty, GradNorm, MGDA, Pareto MTL): the last epoch's.
        out[f"task_weight/{task}"] = float(weight)
    return out


def _trial_id(label: str, hparams: Mapping[str, HParamValue]) -> str:
    digest = hashlib.sha256(json.dumps(hparams, sort_keys=True).encode()).hexdigest()[:8]
    return f"{label} [{digest}]"


def session_rows(config: Any, metrics: Mapping[str, Any]) -> list[SessionRow]:
    """One row per model of a finished run (one for a single-task run), from its results.

    Args:
      config: the run's `RunConfig`, or its config.json dictionary.
      metrics: the run's metrics.json dictionary.

    Returns:
      The rows in the run's model order (grid points in grid order).
    """
    cfg = _config_dict(config)
    tasks = list(metrics["tasks"])
    method = str(metrics["method"])
    encoder = str(metrics.get("encoder") or cfg.get("encoder") or "")
    weighting = str(metrics.get("weighting") or "")
    base: dict[str, HParamValue] = {"method": method, "encoder": encoder,
                                    "weighting": weighting}
    dataset = str(cfg.get("dataset") or "")
    data_names = (_MTFL_HPARAMS if dataset == "mtfl" else _USER_DATA_HPARAMS
                  if split_dataset_name(dataset)[0] is not None else ())
    names = (*_RUN_HPARAMS, *data_names,
             *_BACKBONE_HPARAMS.get(str(cfg.get("backbone")), ()),
             *_ENCODER_HPARAMS.get(encoder, ()),
             *_WEIGHTING_HPARAMS.get(weighting, ()))
    if any(s.get("kind") == "regression" for s in metrics.get("task_specs") or ()):
        names = (*names, "regression_loss_units")
    for name in names:
        if cfg.get(name) is not None:
            base[name] = cfg[name]
    # The attack the robustness metrics were measured under (a rerun may change it).
    evaluated = metrics.get("evaluated_with") or {}
    base["attack"] = str(evaluated.get("attack") or cfg.get("attack") or "")
    step = int(metrics.get("epochs") or cfg.get("epochs") or 0)

    grid = metrics.get("grid")
    models = list(metrics.get("models") or [])
    # A model scores a task by accuracy (classification) or error (regression).
    single_task = any(set(m.get("accuracy") or {}) | set(m.get("error") or {}) != set(tasks)
                      for m in models)
    rows = []
    if grid:
        best = grid.get("best_index")
        for index, point in enumerate(grid["points"]):
            weights = _components(point["task_weights"][t] for t in tasks)
            hparams = {**base, "model": str(point["name"]), "grid_points": cfg.get(
                "grid_points", len(grid["points"])), "grid_index": index,
                "grid_selected": index == best,
                **{f"weight/{t}": w for t, w in zip(tasks, weights, strict=True)}}
            label = f"{method} w={_vector(weights)}{' selected' if index == best else ''}"
            rows.append(SessionRow(str(point.get("directory") or f"grid/{index}"),
                                   _trial_id(f"{label}, seed {cfg.get('seed')}", hparams),
                                   hparams, _final_metrics(point, tasks), step))
        return rows
    if single_task:
        # One model per task: together they are the run's one answer (its top level).
        hparams = {**base, "model": f"{method} (one model per task)"}
        return [SessionRow(".", _trial_id(f"{method}, seed {cfg.get('seed')}", hparams),
                           hparams, _final_metrics(metrics, tasks), step)]
    for model in models:
        hparams = {**base, "model": str(model.get("name", method))}
        label = method if model.get("name") == method else f"{method} {model.get('name')}"
        if model.get("preference") is not None:  # Pareto MTL: the model's preference vector
            u = _components(model["preference"])
            hparams.update({f"preference/{t}": v for t, v in zip(tasks, u, strict=True)})
            if model.get("preference_index") is not None:
                hparams["preference_index"] = int(model["preference_index"])
            if model.get("preference_angle_deg") is not None:
                hparams["preference_angle_deg"] = float(model["preference_angle_deg"])
            label += f" u={_vector(u)}"
        elif weighting == "fixed":
            # Fixed weights are a setting: --task_weights, or equal (1/m each).
            weights = cfg.get("task_weights") or [1.0 / len(tasks)] * len(tasks)
            total = float(sum(weights))
            weights = _components(float(w) / total for w in weights)
            hparams.update({f"weight/{t}": w for t, w in zip(tasks, weights, strict=True)})
            label += f" w={_vector(weights)}"
        rows.append(SessionRow(str(model.get("directory") or "."),
                               _trial_id(f"{label}, seed {cfg.get('seed')}", hparams),
                               hparams, _final_metrics(model, tasks), step))
    return rows


def _replace_events(destination: str, write: Callable[[], None]) -> None:
    """Runs `write` (which writes summaries to the default writer) into a fresh event file
    in `destination`, published by rename, then removes the earlier event files there.

    The file is written in a temporary sibling directory first, so a TensorBoard watching
    `destination` never reads half of it.
    """
    import tensorflow as tf

    parent = os.path.dirname(os.path.abspath(destination))
    os.makedirs(destination, exist_ok=True)
    old = [f for f in os.listdir(destination) if f.startswith("events.out.tfevents")]
    tmp = make_temp_dir(parent, ".tmp-tensorboard-")
    try:
        writer = tf.summary.create_file_writer(tmp)
        with writer.as_default():
            write()
        writer.flush()
        writer.close()
        new = os.listdir(tmp)
        for name in new:
            os.replace(os.path.join(tmp, name), os.path.join(destination, name))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for name in old:
        if name not in new:
            os.remove(os.path.join(destination, name))


def _write_session(session_dir: str, row: SessionRow) -> None:
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    def write() -> None:
        hp.hparams(row.hparams, trial_id=row.trial_id)
        for tag, value in row.metrics.items():
            tf.summary.scalar(tag, value, step=row.step)

    _replace_events(session_dir, write)


def write_figures(metrics_by_method: Mapping[str, dict], figures_dir: str) -> list[str]:
    """The report's figures as TensorBoard images in `figures_dir` (its event file replaced).

    Tags: ``accuracy_front`` (task 1 vs task 2 test accuracy of every model, Pareto MTL
    Fig. 4; two tasks only), ``robustness_curves`` (accuracy vs eta per task) and
    ``joint_accuracy_under_attack`` (MTVIB Fig. 5), each drawn by the report's own
    plotting function; a figure with nothing to draw is left out.

    Returns:
      The tags written (none: nothing is written).
    """
    import tensorflow as tf

    pngs: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="mtl_tf-figures-") as tmp:
        for tag, plot in _FIGURES:
            path = plot(dict(metrics_by_method), os.path.join(tmp, f"{tag}.png"))
            if path:
                with open(path, "rb") as f:
                    pngs[tag] = f.read()
    if not pngs:
        return []

    def write() -> None:
        for tag, png in pngs.items():
            tf.summary.image(tag, tf.io.decode_png(png, channels=3)[None], step=0)

    _replace_events(figures_dir, write)
    return list(pngs)


def write_run_summaries(run_dir: str, config: Any, metrics: dict) -> list[str]:
    """Writes one HParams session per model of a finished run, and its figures.

    Figures are drawn for runs whose front has several points (Pareto MTL, a grid).

    Args:
      run_dir: the run directory.
      config: the run's `RunConfig`, or its config.json dictionary.
      metrics: the run's metrics.json dictionary (the synthetic example has no models:
        nothing is written).

    Returns:
      The directories written (sessions, then figures).
    """
    if not metrics.get("tasks") or not metrics.get("models"):
        return []
    written = []
    for row in session_rows(config, metrics):
        session_dir = os.path.normpath(
            os.path.join(run_dir, row.directory, TENSORBOARD_DIR, HPARAMS_DIR))
        _write_session(session_dir, row)
        written.append(session_dir)
    if len(front_points(metrics)) > 1:
        figures_dir = os.path.join(run_dir, TENSORBOARD_DIR, FIGURES_DIR)
        if write_figures({str(metrics["method"]): metrics}, figures_dir):
            written.append(figures_dir)
    return written


def write_experiment_summaries(
    report_dir: str,
    metrics_by_method: Mapping[str, dict],
    configs: Mapping[str, Any],
    run_dirs: Mapping[str, str],
) -> list[str]:
    """An experiment's TensorBoard view: every run's sessions (re)written, so that
    `tensorboard --logdir <report_dir>` lists every model of every method as a row, and
    the figures over all methods in ``<report_dir>/tensorboard/figures``.

    Args:
      report_dir: the experiment's report directory.
      metrics_by_method: method -> metrics.json dictionary, in report order.
      configs: method -> its run's `RunConfig` (or config.json dictionary).
      run_dirs: method -> its run directory (under `report_dir`).

    Returns:
      The directories written.
    """
    written = []
    for method, metrics in metrics_by_method.items():
        written += write_run_summaries(run_dirs[method], configs[method], metrics)
    figures_dir = os.path.join(report_dir, TENSORBOARD_DIR, FIGURES_DIR)
    if write_figures(metrics_by_method, figures_dir):
        written.append(figures_dir)
    return written
