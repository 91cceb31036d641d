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
from mtl_tf.evaluation.attack_loss import objective_weights
from mtl_tf.evaluation.protocol import STANDARD, Protocol
from mtl_tf.tasks import TaskSpec


def evaluate_robustness(
    config: RunConfig, model, dataset: tf.data.Dataset, tasks: Sequence[str],
    model_dir: str | None = None, *, dataset_name: str | None = None,
    task_weights: Mapping[str, float] | None = None,
) -> dict:
    """Test accuracy under `config.attack` at every eta (MTVIB eq. 25, Tables III-V).

    Always under the standard protocol; when `config` selects another one
    (`mtl_tf.evaluation.protocol`), also under it, kept apart (`split_protocol_result`).

    Also writes the curves as TensorBoard scalars under `<model_dir>/tensorboard/robustness`
    (step = round(1000 * eta), so the x axis reads as eta in thousandths).

    Args:
      config: the attack settings (`--attack`, `--etas`, ..., the protocol fields).
      model: a `MultiTaskTrainer` (or a SavedModel seen as one).
      dataset: the test batches.
      tasks: the tasks to attack and score.
      model_dir: where the TensorBoard curves go (None: nowhere).
      dataset_name: the data set, for `--eta_units=standardized`.
      task_weights: the model's logged last-epoch task weights (metrics.json), for
        `--attack_loss=weighted` with gradient-based strategies.

    Returns:
      The standard result (`mtl_tf.evaluation.attacks`), with the other protocol's result
      under the key ``"protocol_result"`` when one is selected (popped by the callers
      into metrics.json's ``robustness_protocol``).
    """
    protocol = Protocol.from_config(config).for_model(model)
    result = _attack(config, model, dataset, tasks, STANDARD, 1.0, None)
    if not protocol.is_standard:
        weights = None
        if protocol.attack_loss == "weighted":
            values, source = objective_weights(model, tasks, task_weights)
            weights = (list(tasks), values, source)
        result["protocol_result"] = _attack(config, model, dataset, tasks, protocol,
                                            protocol.eta_scale(dataset_name), weights)
    if model_dir:
        writer = tf.summary.create_file_writer(os.path.join(model_dir, "tensorboard", "robustness"))
        with writer.as_default():
            for part in (result, result.get("protocol_result")):
                if part is None:
                    continue
                prefix = part["attack"] + ("" if part is result else
                                           f"/{part['protocol']['name']}")
                for eta in part["etas"]:
                    key, step = attacks.eta_key(eta), int(round(1000 * eta))
                    for task, acc in part["accuracy"][key].items():
                        tf.summary.scalar(f"{prefix}/{task}_accuracy", acc, step=step)
                    # Regression tasks: error growth (NME or MAE) with eta.
                    for task, err in (part.get("error") or {}).get(key, {}).items():
                        metric = part["error_metric"][task]
                        tf.summary.scalar(f"{prefix}/{task}_{metric}", err, step=step)
                    joint = (part["joint_accuracy"] or {}).get(key)
                    if joint is not None:
                        tf.summary.scalar(f"{prefix}/joint_accuracy", joint, step=step)
        writer.close()
    return result


def _attack(config: RunConfig, model, dataset, tasks, protocol: Protocol, eta_scale: float,
            weights) -> dict:
    common = dict(seed=config.seed, eot_samples=config.eot_samples, protocol=protocol,
                  eta_scale=eta_scale, weights=weights)
    if config.attack == "fgsm":
        return attacks.fgsm_evaluate(model, dataset, tasks, config.etas, **common)
    if config.attack == "pgd":
        return attacks.pgd_evaluate(model, dataset, tasks, config.etas, steps=config.pgd_steps,
                                    step_size=config.pgd_step_size, **common)
    raise ValueError(f"unknown --attack {config.attack!r}; allowed: fgsm, pgd")


def split_protocol_result(summary: dict) -> None:
    """Moves ``robustness["protocol_result"]`` to ``summary["robustness_protocol"]``.

    metrics.json keeps the standard result in ``robustness`` (the one every report
    compares) and a selected other protocol's in ``robustness_protocol`` (absent
    otherwise).
    """
    robustness = summary.get("robustness") or {}
    summary.pop("robustness_protocol", None)
    if "protocol_result" in robustness:
        summary["robustness_protocol"] = robustness.pop("protocol_result")


def combine_single_task_robustness(model_results: Sequence[dict],
                                   key: str = "robustness") -> dict | None:
    """STL/STVIB: per-task adversarial accuracy, each task from its own model.

    Joint accuracy under attack is left out (null): each model is attacked on its own
    task's loss, so there is no single perturbed input whose tasks could all be right.
    """
    parts = [m.get(key) for m in model_results]
    if not parts or any(p is None for p in parts):
        return None
    combined = {k: v for k, v in parts[0].items()
                if k not in ("accuracy", "joint_accuracy", "error", "error_metric")}
    if all(p.get("clean_accuracy") is not None for p in parts):
        combined["clean_accuracy"] = {t: a for p in parts for t, a in p["clean_accuracy"].items()}
        combined["clean_joint_accuracy"] = None
    if all(p.get("zero_gradient_fraction") for p in parts):
        combined["zero_gradient_fraction"] = {
            "tasks": {t: f for p in parts for t, f in p["zero_gradient_fraction"]["tasks"].items()},
            "pair": None}
    if any(p.get("error") for p in parts) and all(p.get("clean_error") is not None
                                                  for p in parts if p.get("error")):
        combined["clean_error"] = {t: e for p in parts
                                   for t, e in (p.get("clean_error") or {}).items()} or None
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
    keys = ("accuracy", "loss", "error", "joint_accuracy", "robustness", "robustness_protocol")
    if best_index is not None:
        return {k: model_results[best_index].get(k) for k in keys}
    if single_task:
        overall = metrics_lib.summarize(logits_by_task, labels, task_names, specs)
        for key in ("robustness", "robustness_protocol"):
            overall[key] = combine_single_task_robustness(model_results, key)
        return overall
    if len(model_results) == 1:
        if logits_by_task is None:
            return {k: model_results[0].get(k) for k in keys}
        overall = metrics_lib.summarize(logits_by_task, labels, task_names, specs)
        for key in ("robustness", "robustness_protocol"):
            overall[key] = model_results[0].get(key)
        return overall
    return None
