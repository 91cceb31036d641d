"""The `metrics.json` schema (version 1).

    {
      "schema_version": 1,
      "method": "gs",                  # --method
      "encoder": "deterministic",      # resolved encoder ("deterministic" | "vib")
      "weighting": "fixed",            # weighting strategy
      "backbone": "small_alexnet",
      "dataset": "multi_mnist",
      "data_origin": "IDX files in ...",
      "data_framing": {"framing": "test", "groups": [...]},  # only when images were
                                       # cropped (MTFL --mtfl_framing=test): each image
                                       # group's statistics and crop box
      "tasks": ["top_left", "bottom_right"],
      "num_classes": [10, 10],         # each task's size: classes, or regression outputs
      "task_specs": [{"name": "top_left", "kind": "classification", "size": 10}, ...],
                                       # mtl_tf.tasks.TaskSpec.to_json; a regression task
                                       # adds "loss" (mse | l1) and maybe "landmark_eyes"
                                       # and "target_std" (--regression_loss_units)
      "accuracy": {"top_left": 0.91, "bottom_right": 0.89},   # classification tasks only
      "loss": {"top_left": 0.31, "bottom_right": 0.35},       # test loss of every task
                                       # (a regression's in its training units: divided
                                       # by target_std when the spec has one)
      "error": {"landmarks": {"mae": 0.02, "rmse": 0.03, "nme": 0.09}},
                                       # regression tasks only (absent without any)
      "joint_accuracy": 0.83,          # fraction of test examples with every
                                       # classification task right (regression left out)
      "robustness": {                  # adversarial test accuracy (mtl_tf.evaluation.attacks)
        "attack": "fgsm", "loss": "...", "etas": [0.0, 0.05, ...],
        "accuracy": {"0": {"top_left": 0.91, ...}, "0.05": {...}, ...},
        "joint_accuracy": {"0": 0.83, "0.05": 0.6, ...},  # null for STL/STVIB
        "protocol": {"name": "standard", "vib_prediction": "mean", "attack_loss": "sum",
                     "attack_ce": "logits", "eta_units": "pixel", "eta_scale": 1.0, ...},
        "zero_gradient_fraction": {"tasks": {"top_left": 0.0, ...}, "pair": 0.0},  # FGSM
        "clean_accuracy": {...}, "clean_joint_accuracy": 0.83   # under the protocol
      },
      "robustness_protocol": {...},    # only with a non-standard protocol
                                       # (--vib_prediction, --attack_loss, --attack_ce,
                                       # --eta_units): the same fields, under it
      "models": [                       # one entry per trained model
        {"name": "gs", "directory": ".", "accuracy": {...}, "loss": {...},
         "joint_accuracy": 0.83, "num_examples": 2000,
         "task_weights": {"top_left": 0.5, "bottom_right": 0.5}}   # last-epoch mean
      ],
      "epochs": 3, "batch_size": 200, "learning_rate": 0.0001, "optimizer": "adam",
      "train_size": 10000, "test_size": 2000, "seed": 0,
      "evaluation": "inference mode: BatchNorm moving statistics; VIB z = mean",
      "wall_time_seconds": 61.2
    }

Each entry of `models` carries its own `robustness`. `accuracy`, `loss`,
`joint_accuracy` and `robustness` at the top level are null for methods that train
several models for the same tasks (Pareto MTL: one per preference); see `models`.
"""

from __future__ import annotations

from typing import Any

from mtl_tf.tasks import specs_to_json

SCHEMA_VERSION = 1


def build_metrics(
    *,
    config: Any,
    spec: Any,
    data: Any,
    model_results: list[dict],
    overall: dict | None,
    wall_time_seconds: float,
) -> dict:
    """Assembles the metrics.json dictionary (schema above)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "method": spec.name,
        "encoder": config.resolved_encoder(spec.encoder),
        "weighting": spec.weighting,
        "backbone": config.backbone,
        "dataset": data.name,
        "data_origin": data.origin,
        **({"data_framing": data.framing} if getattr(data, "framing", None) else {}),
        "tasks": list(data.task_names),
        "num_classes": list(data.num_classes),
        "task_specs": specs_to_json(data.tasks),
        "input_shape": [int(d) for d in data.input_shape],
        "accuracy": overall["accuracy"] if overall else None,
        "loss": overall["loss"] if overall else None,
        "error": overall.get("error") if overall else None,
        "joint_accuracy": overall["joint_accuracy"] if overall else None,
        "robustness": overall.get("robustness") if overall else None,
        **({"robustness_protocol": overall["robustness_protocol"]}
           if overall and overall.get("robustness_protocol") else {}),
        "models": model_results,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
        "optimizer": config.optimizer,
        "train_size": data.num_examples("train"),
        "test_size": data.num_examples("test"),
        "seed": config.seed,
        "evaluation": "inference mode: BatchNorm moving statistics; VIB z = mean",
        "wall_time_seconds": round(float(wall_time_seconds), 3),
    }


REQUIRED_KEYS = (
    "schema_version", "method", "dataset", "tasks", "accuracy", "joint_accuracy",
    "models", "epochs", "wall_time_seconds", "seed",
)


def validate_metrics(metrics: dict) -> None:
    """Raises ValueError if `metrics` does not follow the schema above."""
    missing = [k for k in REQUIRED_KEYS if k not in metrics]
    if missing:
        raise ValueError(f"metrics.json lacks {missing}")
    if metrics["schema_version"] != SCHEMA_VERSION:
        raise ValueError(f"metrics.json schema_version {metrics['schema_version']} unsupported")
    for model in metrics["models"]:
        for task, acc in model["accuracy"].items():
            if task not in metrics["tasks"] or not 0.0 <= acc <= 1.0:
                raise ValueError(f"bad accuracy entry {task}: {acc}")
