"""Grid search over fixed task weights (the "GS" baseline), driven by keras-tuner.

Linear scalarisation L = sum_k w_k L_k (Pareto MTL eq. 2) is trained once per weight
vector w of an interior simplex lattice, the grid Pareto MTL compares against, and the
best vector is picked by joint accuracy on held-out validation pairs (never on the test
set). keras-tuner's `GridSearchOracle` walks the grid: the only hyperparameter is
`weights_index`, an index into the lattice, and each trial trains one model with
`mtl_tf.orchestration.model.train_model`.

Layout inside the run directory:

    <run_dir>/
      grid/<i>/            grid point i: checkpoints/ and tensorboard/
      tuner/epochs_<E>/    keras-tuner's oracle and trial state for an E-epoch budget;
                           trial_<id>/grid_point.json holds a finished point's results

Resuming: the tuner is created with `overwrite=False`, so rerunning the same command
reloads its state; finished grid points are not trained again (their results are read
back from their trial's grid_point.json), and a point interrupted mid-training is retried by
keras-tuner and resumes from its last epoch checkpoint. The tuner project is keyed by
the epoch budget because a rerun with a larger `epochs` (allowed by the run directory
check) must train every point further, which a finished tuner would not do.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from typing import Any

import keras
import keras_tuner
import numpy as np
from absl import logging

from mtl_tf.config import RunConfig
from mtl_tf.data.datasets import MultiTaskData
from mtl_tf.evaluation import metrics as metrics_lib
from mtl_tf.io_utils import atomic_write_json
from mtl_tf.methods import MethodSpec
from mtl_tf.orchestration.model import train_model
from mtl_tf.training.fit import ModelPlan
from mtl_tf.weighting.fixed import FixedWeighting, grid_weight_vectors

__all__ = ["grid_weight_vectors", "run_grid_search"]  # the lattice lives with FixedWeighting

_HP_NAME = "weights_index"
_OBJECTIVE = "val_joint_accuracy"
_RESULT_FILE = "grid_point.json"


def _point_name(weights: tuple[float, ...]) -> str:
    return "w=" + ",".join(f"{w:.3g}" for w in weights)


class _GridPointError(keras_tuner.errors.FatalError):
    """Carries a grid point's training error through keras-tuner.

    keras-tuner records an ordinary exception raised by `run_trial` as a failed trial
    and carries on with the next one; a broken run should stop instead, with the
    original error, so `run_trial` wraps it in this FatalError (which keras-tuner
    re-raises) and `run_grid_search` unwraps it.
    """


def _point_dir(run_dir: str, index: int) -> str:
    return os.path.join(run_dir, "grid", str(index))


def _train_point(
    config: RunConfig,
    spec: MethodSpec,
    data: MultiTaskData,
    run_dir: str,
    index: int,
    weights: tuple[float, ...],
) -> dict:
    """Trains (or resumes) grid point ``index`` and scores it on the validation pairs."""
    from mtl_tf.data.pipeline import split_dataset

    m = len(data.task_names)
    plan = ModelPlan(
        _point_name(weights), tuple(range(m)), FixedWeighting(m, weights), f"grid/{index}"
    )
    model_dir = _point_dir(run_dir, index)
    logging.info("Grid point %d: training %s in %s", index, plan.name, model_dir)
    # Same seed for every point, as `run` seeds its single model: each point's result
    # then depends only on its weights, not on which points ran before it in this
    # process (which differs between a fresh run and a resumed one).
    keras.utils.set_random_seed(config.seed)
    trainer, summary, _ = train_model(config, spec, data, plan, model_dir)
    if not summary["task_weights"]:
        # Nothing was trained in this call (the checkpoint already had every epoch), so
        # there is no last-epoch log of the weights; they are the constant grid weights.
        summary["task_weights"] = dict(zip(data.task_names, weights, strict=True))

    val_ds = split_dataset(data, "val", plan.task_indices, config.batch_size,
                           shuffle=False, seed=config.seed)
    val = metrics_lib.summarize(
        metrics_lib.predict_logits(trainer, val_ds), data.val_labels, data.task_names, data.tasks
    )
    logging.info(
        "Grid point %d (%s): validation joint accuracy %.4f, test joint accuracy %.4f",
        index, plan.name, val["joint_accuracy"], summary["joint_accuracy"],
    )
    return {
        "name": plan.name,
        "directory": plan.subdir,
        **summary,
        "validation": {"accuracy": val["accuracy"], "joint_accuracy": val["joint_accuracy"]},
    }


class _WeightGridTuner(keras_tuner.GridSearch):
    """Grid search whose trials each train one fixed-weight model.

    A trial's full result (test summary and validation accuracy) is saved as JSON in
    its keras-tuner trial directory, next to the trial state that marks it finished, so
    a resumed search reads finished points back instead of retraining them.
    """

    def __init__(
        self,
        config: RunConfig,
        spec: MethodSpec,
        data: MultiTaskData,
        run_dir: str,
        grid: list[tuple[float, ...]],
        **kwargs: Any,
    ) -> None:
        self._config = config
        self._spec = spec
        self._data = data
        self._run_dir = run_dir
        self._grid = grid
        super().__init__(**kwargs)

    def run_trial(self, trial: keras_tuner.engine.trial.Trial, *args, **kwargs) -> dict:
        """Trains one grid point; returns its validation joint accuracy (the objective)."""
        del args, kwargs  # everything comes from the constructor
        index = trial.hyperparameters.Choice(_HP_NAME, list(range(len(self._grid))))
        try:
            result = _train_point(
                self._config, self._spec, self._data, self._run_dir, index, self._grid[index]
            )
            atomic_write_json(
                os.path.join(self.get_trial_dir(trial.trial_id), _RESULT_FILE), result
            )
        except Exception as e:
            raise _GridPointError(f"grid point {index} failed: {e}") from e
        return {_OBJECTIVE: result["validation"]["joint_accuracy"]}

    def point_results(self) -> list[dict]:
        """The saved result of every grid point, in grid order.

        Raises:
          RuntimeError: If a point has no finished trial or its result file is gone.
        """
        by_index: dict[int, dict] = {}
        for trial in self.oracle.trials.values():
            if trial.status != keras_tuner.engine.trial.TrialStatus.COMPLETED:
                continue
            path = os.path.join(self.get_trial_dir(trial.trial_id), _RESULT_FILE)
            if not os.path.exists(path):
                raise RuntimeError(
                    f"keras-tuner lists trial {trial.trial_id} as finished but its result "
                    f"{path} is missing; delete {self.project_dir} and rerun (the grid "
                    "points resume from their checkpoints)"
                )
            with open(path, encoding="utf-8") as f:
                by_index[trial.hyperparameters.get(_HP_NAME)] = json.load(f)
        missing = [i for i in range(len(self._grid)) if i not in by_index]
        if missing:
            raise RuntimeError(
                f"grid points {missing} did not finish; see the log above, then rerun "
                "to resume"
            )
        return [by_index[i] for i in range(len(self._grid))]


def run_grid_search(
    config: RunConfig, spec: MethodSpec, data: MultiTaskData, run_dir: str
) -> tuple[list[dict], int]:
    """Trains one fixed-weight model per grid point; picks the best on validation data.

    The grid is ``grid_weight_vectors(num_tasks, config.grid_points)``. Each point is a
    keras-tuner trial that trains a model in ``<run_dir>/grid/<i>`` and scores it in
    inference mode on ``data.val_images``. Rerunning with the same arguments resumes:
    finished points are not retrained (see the module docstring).

    Args:
      config: The run configuration; ``grid_points`` sets the grid, the rest is used
        as for a single run (``task_weights`` is ignored).
      spec: The method; its encoder is used for every grid point.
      data: The data set; must have a validation split.
      run_dir: The run directory.

    Returns:
      ``(results, best_index)``: one dict per grid point, in grid order, with ``name``,
      ``directory`` (relative to ``run_dir``), the test summary of
      :func:`mtl_tf.orchestration.model.train_model` (``accuracy``, ``loss``,
      ``joint_accuracy``, ``num_examples``, ``task_weights``) and ``validation``
      (``accuracy`` per task and ``joint_accuracy``); and the index of the point with
      the highest validation joint accuracy (the first one on ties).

    Raises:
      ValueError: If ``data`` has no validation split, the method trains single-task
        models, or ``config.grid_points`` is out of range.
    """
    if data.val_images is None or data.val_labels is None:
        raise ValueError(
            "the weight grid search picks its best point on validation data, but the "
            "data set has no validation split: pass --val_size > 0"
        )
    if spec.single_task:
        raise ValueError(
            f"--grid_points searches task weights of a shared model; method {spec.name} "
            "trains single-task models, which have no task weights"
        )
    if not any(t.is_classification for t in data.tasks):
        # The best point is the one with the highest validation joint accuracy, which
        # only classification tasks define.
        raise ValueError(
            "--grid_points picks the point with the best validation joint accuracy, which "
            "needs a classification task; every task here is a regression: choose "
            "--task_weights instead"
        )
    grid = grid_weight_vectors(len(data.task_names), config.grid_points)

    hp = keras_tuner.HyperParameters()
    hp.Choice(_HP_NAME, list(range(len(grid))))
    tuner_dir = os.path.join(run_dir, "tuner")
    # keras-tuner prints "Reloading Tuner from ..." on resume; our log line says it.
    with contextlib.redirect_stdout(io.StringIO()):
        tuner = _WeightGridTuner(
            config, spec, data, run_dir, grid,
            objective=keras_tuner.Objective(_OBJECTIVE, "max"),
            max_trials=len(grid),
            hyperparameters=hp,
            # The grid is exactly the declared choice; anything else is a bug.
            allow_new_entries=False,
            tune_new_entries=False,
            directory=tuner_dir,
            project_name=f"epochs_{config.epochs}",
            overwrite=False,
        )
    done = sum(
        t.status == keras_tuner.engine.trial.TrialStatus.COMPLETED
        for t in tuner.oracle.trials.values()
    )
    logging.info(
        "Weight grid search: %d points (%d already done), tuner state in %s",
        len(grid), done, tuner.project_dir,
    )
    try:
        tuner.search(verbose=0)
    except _GridPointError as e:
        raise e.__cause__ from None

    results = tuner.point_results()
    best_index = int(np.argmax([r["validation"]["joint_accuracy"] for r in results]))
    logging.info(
        "Best grid point: %d (%s), validation joint accuracy %.4f",
        best_index, results[best_index]["name"],
        results[best_index]["validation"]["joint_accuracy"],
    )
    return results, best_index
