"""One model of a run: fit it (`mtl_tf.training.fit`), then score it on the test set,
clean and under attack (`mtl_tf.evaluation`)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from mtl_tf.config import RunConfig
from mtl_tf.data.pipeline import split_dataset
from mtl_tf.evaluation import metrics as metrics_lib
from mtl_tf.evaluation.robustness import evaluate_robustness
from mtl_tf.methods import MethodSpec
from mtl_tf.training import distribute
from mtl_tf.training.fit import ModelPlan, fit_model
from mtl_tf.training.trainer import MultiTaskTrainer


def train_model(
    config: RunConfig,
    spec: MethodSpec,
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
      (trainer, summary, logits): summary has per-task accuracy/loss, joint accuracy,
      the strategy's mean task weights over the last epoch and, with `config.etas`, the
      accuracy under attack; logits are the test logits per task, in test-set order.
    """
    trainer, last_logs = fit_model(config, spec, data, plan, model_dir, strategy)
    # Evaluation runs outside the strategy, on every worker over the whole test set: the
    # model is identical everywhere, and only the chief writes the results.
    chief = distribute.is_chief(strategy)
    tasks = [data.task_names[k] for k in plan.task_indices]
    test_ds = split_dataset(data, "test", plan.task_indices, config.batch_size,
                            shuffle=False, seed=config.seed)
    logits = metrics_lib.predict_logits(trainer, test_ds)
    summary = metrics_lib.summarize(logits, data.test_labels, data.task_names, data.tasks)
    summary["task_weights"] = {
        t: last_logs[f"{t}_weight"] for t in tasks if f"{t}_weight" in last_logs
    }
    summary.update(plan.weighting.describe())
    if config.etas:
        summary["robustness"] = evaluate_robustness(
            config, trainer, test_ds, tasks, model_dir if chief else None
        )
    return trainer, summary, logits
