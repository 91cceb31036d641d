"""Export the models of a finished run directory.

Each model is rebuilt by `mtl_tf.run_dir.restore_run` and exported with `export_model`
under a name derived from the method and the run's model plan:

* one shared model: ``<method>`` (e.g. ``mtvib``; grid search: its best grid point);
* one model per task (STL / STVIB): ``<method>_<task>`` (e.g. ``stl_top_left``);
* one model per strategy variant (Pareto MTL): ``<method>_<variant>``, e.g.
  ``pareto_mtl_preference_0``.
"""

from __future__ import annotations

from mtl_tf.export.saved_model import (
    DEFAULT_BASE_PATH_PREFIX,
    export_model,
    sanitize_model_name,
    write_models_config,
)
from mtl_tf.run_dir.restore import restore_run


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
