"""What "the same run" is: which settings define a run, declared once.

A run directory (`--output_dir`) holds `config.json` (the `RunConfig` it was made with),
`metrics.json` (written last, so its presence means the run finished), checkpoints and
events. Every `RunConfig` field is one of:

* presentation / location (`PRESENTATION_FIELDS`): never part of what a run computed;
* evaluation (`EVALUATION_FIELDS`): how finished models are attacked; a rerun or
  `--eval_only` may change them and re-score the same models;
* continuation (`CONTINUATION_FIELDS`): a rerun may change them and continue the run
  (more epochs; other hardware);
* identity: every other field. A rerun that changes one is another run, and is refused.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

from mtl_tf.config import RunConfig, comparable_config
from mtl_tf.io_utils import read_json

# Settings that never change what a run computed.
# `tb_update_freq` only sets how often TensorBoard samples the training curves.
PRESENTATION_FIELDS: tuple[str, ...] = ("verbose", "keep_checkpoints", "output_dir",
                                        "tb_update_freq")
# How finished models are attacked (MTVIB eq. 25): re-scoring may change them.
EVALUATION_FIELDS: tuple[str, ...] = ("etas", "attack", "eot_samples", "pgd_steps",
                                      "pgd_step_size")
# A rerun may continue the same run with these changed: raising `epochs` continues from
# the last checkpoint (the epochs done are exactly those of an uninterrupted longer run);
# `strategy` gives the same global batches and updates on any number of replicas (up to
# float summation order), so a run may resume on other hardware.
CONTINUATION_FIELDS: tuple[str, ...] = ("epochs", "strategy")
RESUMABLE_FIELDS: tuple[str, ...] = (
    *PRESENTATION_FIELDS, *EVALUATION_FIELDS, *CONTINUATION_FIELDS)
# What `--eval_only` takes from the caller, not from the run: the attack, and the batch
# size of evaluation (inference-mode results do not depend on it).
REEVALUATION_FIELDS: tuple[str, ...] = (*EVALUATION_FIELDS, "batch_size")


class RunDirConflictError(ValueError):
    """The output directory holds a run made with different settings."""


def config_dict(config: RunConfig) -> dict[str, Any]:
    """`config` as config.json holds it (JSON types only)."""
    d = dataclasses.asdict(config)
    if d.get("task_weights") is not None:
        d["task_weights"] = list(d["task_weights"])
    if d.get("tasks") is not None:
        d["tasks"] = list(d["tasks"])
    if d.get("etas") is not None:
        d["etas"] = list(d["etas"])
    return d


def check_output_dir_is_usable(run_dir: str) -> None:
    """Refuses an `--output_dir` that exists but is not a directory."""
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise ValueError(
            f"--output_dir {run_dir} is a file, not a directory; pass a folder path "
            "(it is created if missing)"
        )


def check_same_run(run_dir: str, config: RunConfig,
                   resumable: Sequence[str] = RESUMABLE_FIELDS) -> None:
    """Refuses to mix runs: an existing config.json must match `config`.

    Args:
      run_dir: the run directory.
      config: the configuration about to run.
      resumable: fields a rerun may change and still continue the same run.

    Raises:
      RunDirConflictError: naming every differing field, old -> new.
      ValueError: `run_dir` is a file, or its config.json is damaged.
    """
    check_output_dir_is_usable(run_dir)
    path = os.path.join(run_dir, "config.json")
    if not os.path.exists(path):
        return
    previous = comparable_config(read_json(path, what="the run's configuration"))
    current = comparable_config(config_dict(config))
    diffs = sorted(
        k
        for k in set(previous) | set(current)
        if k not in resumable and previous.get(k) != current.get(k)
    )
    if diffs:
        detail = ", ".join(f"{k}: {previous.get(k)!r} -> {current.get(k)!r}" for k in diffs)
        raise RunDirConflictError(
            f"--output_dir {run_dir} holds a run with different settings ({detail}); "
            "choose another --output_dir or delete that directory"
        )


def finished_metrics(config: RunConfig) -> dict[str, Any] | None:
    """The metrics of a finished run of exactly `config` in `config.output_dir`, or None.

    metrics.json is written last (atomically), so its presence means the run finished;
    config.json must match up to presentation (a larger `epochs`, say, must continue
    training instead, and other attack settings must re-score it).
    """
    run_dir = config.output_dir
    metrics_path = os.path.join(run_dir, "metrics.json")
    config_path = os.path.join(run_dir, "config.json")
    if not (os.path.isfile(metrics_path) and os.path.isfile(config_path)):
        return None
    previous = comparable_config(read_json(config_path, what="the run's configuration"))
    current = comparable_config(config_dict(config))
    keys = (set(previous) | set(current)) - set(PRESENTATION_FIELDS)
    if any(previous.get(k) != current.get(k) for k in keys):
        return None
    return read_json(metrics_path, what="the run's metrics")
