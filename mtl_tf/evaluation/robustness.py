"""Robustness of trained models under attack, and the overall result of a run.

`evaluate_robustness` attacks one model on the test set at every eta (MTVIB eq. 25,
Tables III-V) and writes the curves to TensorBoard. `overall_result` turns the per-model
results of a run into its single answer per task, where it has one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

from mtl_tf.config import RunConfig
from mtl_tf.evaluation import attacks
from mtl_tf.evaluation import metrics as metrics_lib
from mtl_tf.tasks import TaskSpec


def evaluate_robustness(
    config: RunConfig, model, dataset: tf.data.Dataset, tasks: Sequence[str],
    model_dir: str | None = None,
) -> dict:
    """Test accuracy under `config.attack` at every eta (MTVIB eq. 25, Tables III-V).

    Also writes the curves as TensorBoard scalars under `<model_dir>/tensorboard/robustness`
    (step = round(1000 * eta), so the x axis reads as eta in thousandths).
    """
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
                # Regression tasks: error growth (NME or MAE) with eta.
                for task, err in (result.get("error") or {}).get(key, {}).items():
                    metric = result["error_metric"][task]
                    tf.summary.scalar(f"{result['attack']}/{task}_{metric}", err, step=step)
                if result["joint_accuracy"][key] is not None:
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
    combined = {k: v for k, v in parts[0].items()
                if k not in ("accuracy", "joint_accuracy", "error", "error_metric")}
    combined["accuracy"] = {
        key: {t: a for p in parts for t, a in p["accuracy"][key].items()}
        for key in parts[0]["accuracy"]
    }
    if any(p.get("error") for p in parts):  # the regression tasks' errors under attack
        combined["error"] = {
            key: {t: e for p in parts for t, e in (p.get("error") or {}).get(key, {}).items()}
            for key in parts[0]["accuracy"]
        }
        combined["error_metric"] = {t: m for p in parts
                                    for t, m in (p.get("error_metric") or {}).items()}
    combined["joint_accuracy"] = None
    return combined


def overall_result(
    *,
    single_task: bool,
    model_results: Sequence[dict],
    logits_by_task: Mapping[str, np.ndarray] | None,
    labels: Mapping[str, np.ndarray] | np.ndarray,
    task_names: Sequence[str],
    best_index: int | None = None,
    specs: Sequence[TaskSpec] | None = None,
) -> dict | None:
    """A run's single answer per task (the top level of metrics.json), or None.

    * one model per task (single-task methods): their predictions side by side, joint
      accuracy per example over them, and the per-task attacks combined;
    * one shared model: its result;
    * a grid search (`best_index`): its best point, picked on validation data;
    * several models for the same tasks (Pareto MTL's preferences): None, there is no
      single answer; see each model.

    Args:
      single_task: the method trains one model per task.
      model_results: one dict per model (accuracy, loss, joint_accuracy, robustness).
      logits_by_task: the test logits of every task (None when not available, e.g. a
        grid search whose points were read back).
      labels: {task: test labels} (or the papers' int [N, len(task_names)] matrix).
      specs: the tasks' specs (default: all classification), see `summarize`.
      task_names: the data set's tasks.
      best_index: for a grid search, the index of the selected point in
        `model_results`.
    """
    keys = ("accuracy", "loss", "error", "joint_accuracy", "robustness")
    if best_index is not None:
        return {k: model_results[best_index].get(k) for k in keys}
    if single_task:
        overall = metrics_lib.summarize(logits_by_task, labels, task_names, specs)
        overall["robustness"] = combine_single_task_robustness(model_results)
        return overall
    if len(model_results) == 1:
        if logits_by_task is None:
            return {k: model_results[0].get(k) for k in keys}
        overall = metrics_lib.summarize(logits_by_task, labels, task_names, specs)
        overall["robustness"] = model_results[0].get("robustness")
        return overall
    return None
