"""Export the models of a finished run directory.

Each model is rebuilt by `mtl_tf.run_dir.restore_run` and exported with `export_model`
under a name derived from the method and the run's model plan:

* one shared model: ``<method>`` (e.g. ``mtvib``; grid search: its best grid point);
* one model per task (STL / STVIB): ``<method>_<task>`` (e.g. ``stl_top_left``);
* one model per strategy variant (Pareto MTL): ``<method>_<variant>``, e.g.
  ``pareto_mtl_preference_0``.

Each export carries the data set's class names (`mtl_tf.data.class_names`) and TF
Serving warm-up requests made of the run's first test images: the run's data set is
loaded again from its config.json (`load_run_dataset`: same data_dir, sizes and seed,
so the same test pairs). If it cannot be loaded (the data moved, MTFL's folder is gone),
the export still completes, with blank warm-up images and a one-line warning saying why:
the warm-up only has to exercise the graph, and refusing to export a trained model for
want of its test images would help no one.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow as tf
from absl import logging

from mtl_tf.data.class_names import class_names
from mtl_tf.export.saved_model import (
    DEFAULT_BASE_PATH_PREFIX,
    WARMUP_IMAGES,
    export_model,
    sanitize_model_name,
    write_models_config,
)
from mtl_tf.export.versions import checkpoint_source, latest_version_with_source
from mtl_tf.run_dir.restore import restore_run


def run_test_images(config, count: int = WARMUP_IMAGES) -> np.ndarray:
    """The first `count` test images of a run's data set as the model sees them: float32
    ``[count, H, W, C]`` in [0, 1], from the run's own test pairs (MTFL: decoded).

    Raises:
      Whatever loading the data raises (ValueError for missing or bad files, ...).
    """
    from mtl_tf.data.datasets import load_run_dataset
    from mtl_tf.data.pipeline import split_dataset

    data = load_run_dataset(config, test_only=True)  # the training pairs are not needed
    # Only the first images go through the pipeline: MTFL decodes JPEGs from paths.
    head = dataclasses.replace(
        data, test_images=data.test_images[:count],
        test_labels={t: y[:count] for t, y in data.test_labels.items()},
    )
    batches = split_dataset(head, "test", [0], count, shuffle=False, seed=config.seed)
    return np.concatenate([images.numpy() for images, _ in batches])


def _warmup_images(run_dir: str, config) -> np.ndarray | None:
    """`run_test_images`, or None (blank warm-up images) after a one-line warning."""
    try:
        return run_test_images(config)
    except Exception as e:  # noqa: BLE001 - any data failure: blank images, said once
        text = (str(e).splitlines() or [""])[0]
        logging.warning(
            "Warm-up requests of %s use blank images (they warm the model up all the "
            "same): its %s test data could not be loaded (%s: %s)",
            run_dir, config.dataset, type(e).__name__, text,
        )
        return None


def export_run(
    run_dir: str,
    export_dir: str,
    *,
    base_path_prefix: str | None = DEFAULT_BASE_PATH_PREFIX,
    write_config: bool = True,
    input_shape: tuple[int, int, int] | None = None,
    warmup_images: np.ndarray | None = None,
    skip_exported: bool = False,
    skipped: list[str] | None = None,
) -> list[str]:
    """Exports every model of the finished run in `run_dir` as a new SavedModel version.

    Args:
      run_dir: a run directory with config.json, metrics.json and checkpoints.
      export_dir: where to export (``<export_dir>/<model_name>/<version>``).
      base_path_prefix: passed to `write_models_config`.
      write_config: (re)write ``<export_dir>/models.config`` afterwards.
      input_shape: (H, W, C) of the images, for data sets not in `INPUT_SHAPES`.
      warmup_images: images for the warm-up requests (see
        `mtl_tf.export.saved_model.warmup_inputs`); None loads the run's data set and
        takes its first test images, falling back to blank images with a warning.
      skip_exported: export no new version of a model whose newest version already
        holds this run's same trained model (same checkpoint, by digest): rerunning a
        finished training command must not pile up identical versions. False (the
        default, and `--mode=export`): always a new version.
      skipped: if given, receives the existing version directories that were skipped.

    Returns:
      The new version directories, in the run's model order.

    Raises:
      ValueError: `run_dir` is not a finished run (no config.json / metrics.json /
        checkpoints), or holds no networks (synthetic example).
    """
    from mtl_tf.methods import get_method

    config, _, data, restored = restore_run(run_dir, input_shape)
    spec = get_method(config.method)
    # A task spec's own names (your data: CSV values, tfds ClassLabel names) first,
    # else the known data sets' (`mtl_tf.data.class_names`).
    names = {**class_names(data.name, data.task_names, data.num_classes),
             **{t.name: t.class_names for t in data.tasks if t.class_names}}
    todo = []
    for plan, trainer, model_dir in restored:
        single = not plan.subdir or config.grid_points
        name = sanitize_model_name(spec.name if single else f"{spec.name}_{plan.name}")
        latest = tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
        source = checkpoint_source(run_dir, model_dir, latest)
        same = latest_version_with_source(os.path.join(export_dir, name), source)
        if skip_exported and same:
            if skipped is not None:
                skipped.append(same)
            continue
        todo.append((trainer, name, source))
    if todo and warmup_images is None:
        warmup_images = _warmup_images(run_dir, config)
    exported = [export_model(trainer, export_dir, name, class_names=names,
                             warmup_images=warmup_images, source=source)
                for trainer, name, source in todo]
    if write_config:
        write_models_config(export_dir, base_path_prefix=base_path_prefix)
    return exported
