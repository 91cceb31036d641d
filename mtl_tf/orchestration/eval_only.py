"""`--eval_only`: score a finished run, or an exported SavedModel, without training.

Both report test accuracy, joint accuracy and adversarial accuracy under the current
attack flags (`--attack`, `--etas`, ...), so a model trained once can be attacked in new
ways later. A run's `metrics.json` is updated in place (atomically); a SavedModel's
results are returned (and written by the CLI if asked).
"""

from __future__ import annotations

import dataclasses
import os
import types

import numpy as np
import tensorflow as tf

from mtl_tf.config import RunConfig
from mtl_tf.data.datasets import load_run_dataset
from mtl_tf.data.pipeline import split_dataset
from mtl_tf.evaluation import metrics as metrics_lib
from mtl_tf.evaluation.protocol import Protocol
from mtl_tf.evaluation.robustness import (
    evaluate_robustness,
    overall_result,
    split_protocol_result,
)
from mtl_tf.evaluation.tensorboard_summaries import write_run_summaries
from mtl_tf.export.saved_model import read_loss_scales
from mtl_tf.io_utils import atomic_write_json
from mtl_tf.methods import get_method
from mtl_tf.run_dir import REEVALUATION_FIELDS, locked
from mtl_tf.run_dir.restore import restore_run


def evaluate_run(run_dir: str, eval_config: RunConfig) -> dict:
    """Re-scores every model of the finished run in `run_dir`; rewrites its metrics.json.

    The test pairs are regenerated from the run's own data settings and seed (the same
    pairs it was scored on); the attack settings come from `eval_config`.
    """
    restored = restore_run(run_dir)  # first: refuses what is not a finished run
    with locked(run_dir):  # metrics.json is rewritten: no training may run meanwhile
        return _evaluate_run(run_dir, eval_config, restored)


def _evaluate_run(run_dir: str, eval_config: RunConfig, restored_run) -> dict:
    config, metrics, _, restored = restored_run
    config = dataclasses.replace(
        config, **{f: getattr(eval_config, f) for f in REEVALUATION_FIELDS})
    if config.etas:  # the protocol, before any data is generated
        Protocol.from_config(config).eta_scale(config.dataset)
    spec = get_method(config.method)
    data = load_run_dataset(
        dataclasses.replace(config, data_dir=config.data_dir or eval_config.data_dir))
    logits_by_task: dict[str, np.ndarray] = {}
    for (plan, trainer, model_dir), entry in zip(restored, metrics["models"], strict=True):
        tasks = [data.task_names[k] for k in plan.task_indices]
        test_ds = split_dataset(data, "test", plan.task_indices, config.batch_size,
                                shuffle=False, seed=config.seed)
        logits = metrics_lib.predict_logits(trainer, test_ds)
        logits_by_task.update(logits)
        entry.update(metrics_lib.summarize(logits, data.test_labels, data.task_names,
                                           data.tasks))
        entry.pop("robustness", None)
        entry.pop("robustness_protocol", None)
        if config.etas:
            entry["robustness"] = evaluate_robustness(
                config, trainer, test_ds, tasks, model_dir, dataset_name=data.name,
                task_weights=entry.get("task_weights"))
            split_protocol_result(entry)
    if metrics.get("accuracy") is not None:  # the run has a single answer per task
        overall = overall_result(
            single_task=spec.single_task, model_results=metrics["models"],
            logits_by_task=logits_by_task, labels=data.test_labels,
            task_names=data.task_names, specs=data.tasks)
        for key in ("accuracy", "loss", "error", "joint_accuracy", "robustness",
                    "robustness_protocol"):
            metrics[key] = overall.get(key)
        if metrics["robustness_protocol"] is None:
            del metrics["robustness_protocol"]
    metrics["evaluated_with"] = {f: getattr(config, f) for f in REEVALUATION_FIELDS}
    atomic_write_json(os.path.join(run_dir, "metrics.json"), metrics)
    write_run_summaries(run_dir, config, metrics)  # the HParams rows show the new scores
    return metrics


def check_saved_model_dir(path: str) -> None:
    """Refuses a `--saved_model` that is not a complete SavedModel version directory."""
    if not os.path.exists(os.path.join(path, "saved_model.pb")):
        raise FileNotFoundError(
            f"--saved_model {path} holds no saved_model.pb; pass a version directory "
            "such as export/models/<name>/1")
    if not os.path.isdir(os.path.join(path, "variables")):
        # Every mtl_tf export has weights; without this check TensorFlow's error is a
        # hint about `experimental_io_device`.
        raise FileNotFoundError(
            f"--saved_model {path} has no variables/ folder (an incomplete copy of an "
            "export?); copy the whole version directory, saved_model.pb and variables/")


class SavedModelClassifier:
    """An exported SavedModel seen through the interface the evaluation code uses.

    `serving_default` returns class probabilities; their logarithms are logits up to a
    per-example constant, so argmax, cross-entropy and input gradients are those of the
    served model. The "encoder" is the identity and each "head" reads one task's output
    of the signature -- both only adapt the call structure, nothing is re-implemented.
    """

    is_vib = False  # a served VIB model is deterministic (z = mean): no sampling to attack

    def __init__(self, path: str, task_names, input_shape, task_specs=()) -> None:
        check_saved_model_dir(path)
        self._loaded = tf.saved_model.load(path)  # keep alive: its variables die with it
        signature = self._loaded.signatures["serving_default"]
        outputs = set(signature.structured_outputs)
        # A model may serve a subset of the data set's tasks (an STL/STVIB export serves
        # one): it is scored on the tasks it serves.
        served = tuple(t for t in task_names if f"{t}_probabilities" in outputs
                       or f"{t}_prediction" in outputs)
        if not served:
            raise ValueError(f"--saved_model {path} serves none of the data set's tasks "
                             f"{list(task_names)}; its outputs are {sorted(outputs)}")
        self.task_names = served
        # The attacks read each task's type here: a served regression head is attacked
        # through its own loss and scored by its error, not as a one-class classifier.
        self.task_specs = tuple(s for s in task_specs if s.name in served)
        self.encoder = _Identity([None, *input_shape])
        self.heads = {t: _SignatureHead(signature, t, f"{t}_prediction" in outputs)
                      for t in self.task_names}

    def __call__(self, images, training: bool = False) -> dict[str, tf.Tensor]:
        del training
        return {t: self.heads[t](images) for t in self.task_names}


class _Identity:
    def __init__(self, shape) -> None:
        self.inputs = [types.SimpleNamespace(shape=shape)]

    def __call__(self, images, training: bool = False) -> dict[str, tf.Tensor]:
        del training
        return {"z": images}


class _SignatureHead:
    def __init__(self, signature, task: str, regression: bool = False) -> None:
        # A regression head serves its predictions as they are (`<task>_prediction`).
        self._regression = regression
        self._signature = signature
        self._key = f"{task}_prediction" if regression else f"{task}_probabilities"

    def __call__(self, images, training: bool = False) -> tf.Tensor:
        del training
        served = self._signature(image=images)[self._key]
        if self._regression:
            return served
        return tf.math.log(tf.maximum(served, 1e-30))


def evaluate_saved_model(path: str, config: RunConfig) -> dict:
    """Scores an exported SavedModel on the test pairs described by `config`."""
    check_saved_model_dir(path)  # before generating any data
    if config.etas:
        Protocol.from_config(config).eta_scale(config.dataset)
    # Only the test pairs: a served model trains nothing (they are the same pairs, each
    # split has its own seed).
    data = load_run_dataset(config, test_only=True)
    # The scales its regression heads were trained with: the attacked loss is the run's.
    scales = read_loss_scales(path)
    specs = tuple(dataclasses.replace(s, target_std=scales[s.name])
                  if s.is_regression and s.name in scales else s for s in data.tasks)
    model = SavedModelClassifier(path, data.task_names, data.input_shape, specs)
    indices = [data.task_names.index(t) for t in model.task_names]
    test_ds = split_dataset(data, "test", indices, config.batch_size, shuffle=False,
                            seed=config.seed)
    summary = metrics_lib.summarize(metrics_lib.predict_logits(model, test_ds),
                                    data.test_labels, data.task_names, data.tasks)
    if config.etas:
        summary["robustness"] = evaluate_robustness(config, model, test_ds, model.task_names,
                                                    dataset_name=data.name)
        split_protocol_result(summary)
    return {"saved_model": path, "dataset": data.name, "tasks": list(model.task_names),
            "data_origin": data.origin, **summary}
