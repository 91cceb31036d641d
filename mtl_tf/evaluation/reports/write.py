"""A whole report: read the runs' metrics, write every table and figure, then the README."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence

from mtl_tf.evaluation.reports import examples, figures, fronts, readme, tables
from mtl_tf.io_utils import atomic_write_bytes, atomic_write_json, atomic_write_text

__all__ = ["load_run_metrics", "write_report"]

# What `write_report` writes itself; `extra_files` may not take these names.
_REPORT_FILES = frozenset({
    "table.md", "table.csv", "table_protocol.md", "robustness.png", "joint_accuracy.png",
    "front.png", "hypervolume.json", "README.md", readme.TENSORBOARD_DIR, "runs",
})


def load_run_metrics(run_dirs: dict[str, str]) -> dict[str, dict]:
    """Reads ``<run_dir>/metrics.json`` for each method.

    Args:
      run_dirs: method -> run directory.

    Returns:
      method -> metrics.json dictionary, in the order of `run_dirs`.

    Raises:
      FileNotFoundError: naming the method whose run has no metrics.json (unfinished).
    """
    result = {}
    for method, run_dir in run_dirs.items():
        path = os.path.join(run_dir, "metrics.json")
        if not os.path.exists(path):
            raise FileNotFoundError(f"{method}: {path} does not exist (run not finished?)")
        with open(path, encoding="utf-8") as f:
            result[method] = json.load(f)
    return result


def _check_extra_files(extra_files: Mapping[str, str | bytes], drawing_examples: bool) -> None:
    reserved = _REPORT_FILES | ({"examples.png"} if drawing_examples else set())
    for name in extra_files:
        if not name or name in (".", "..") or os.path.basename(name) != name or "\\" in name:
            raise ValueError(f"extra_files: {name!r} is not a plain file name")
        if name in reserved:
            raise ValueError(f"extra_files: {name} is a file the report writes itself")


def write_report(
    metrics_by_method: dict[str, dict],
    report_dir: str,
    *,
    example_model=None,
    example_images=None,
    example_labels=None,
    example_etas: Sequence[float] | None = None,
    example_task_names: Sequence[str] | None = None,
    extra_files: Mapping[str, str | bytes] | None = None,
) -> dict[str, str]:
    """Writes every report file into `report_dir`, the README last.

    Files: ``table.md`` and ``table.csv`` (MTVIB Tables III-V + joint rows, standard
    protocol), ``table_protocol.md`` (the same under another protocol, when selected),
    ``robustness.png`` (one panel per task) and ``joint_accuracy.png`` (MTVIB Fig. 5) when
    robustness data exist, ``front.png`` (Pareto MTL Fig. 4) for two tasks,
    ``hypervolume.json``, ``examples.png`` and ``tensorboard/`` (MTVIB Figs. 2-3) when an
    example model is given, the `extra_files`, and ``README.md`` summarising them and
    linking every one (and the `readme.COMPANION_FILES` already in `report_dir`).

    Args:
      metrics_by_method: method -> metrics.json dictionary.
      report_dir: destination directory (created).
      example_model: a `MultiTaskTrainer` whose adversarial examples to draw.
      example_images: the images to attack (see `plot_adversarial_examples`).
      example_labels: their labels (see `plot_adversarial_examples`).
      example_etas: the example rows; default the etas of the robustness table, else
        MTVIB's grid (0, 0.05, ..., 0.3).
      example_task_names: the tasks to attack and label, in `example_labels`' order;
        default the model's ``task_names``.
      extra_files: file name -> content (str: UTF-8 text, bytes: as is) of further report
        files to write into `report_dir` (e.g. ``{"paper_comparison.md": text}``), before
        the README so that it links them.

    Returns:
      file name -> path of every file (and the tensorboard directory) written.

    Raises:
      ValueError: on no runs or runs on different tasks, an example model without images
        and labels, or an extra file name that is not a plain name or is the report's own.
    """
    extra_files = dict(extra_files or {})
    if example_model is not None and (example_images is None or example_labels is None):
        raise ValueError("example_model needs example_images and example_labels")
    _check_extra_files(extra_files, drawing_examples=example_model is not None)
    os.makedirs(report_dir, exist_ok=True)
    written: dict[str, str] = {}

    def out(name: str) -> str:
        return os.path.join(report_dir, name)

    header, rows = tables.robustness_table(metrics_by_method)
    attack = tables.attack_description(metrics_by_method)
    dataset = ", ".join(sorted({str(m.get("dataset")) for m in metrics_by_method.values()}))
    title = (f"{tables.quantities(metrics_by_method)} under adversarial attack on {dataset} "
             f"(MTVIB Tables III-V layout)")
    written["table.md"] = tables.write_table_markdown(out("table.md"), header, rows, title=title,
                                                      note=attack)
    written["table.csv"] = tables.write_table_csv(out("table.csv"), header, rows)
    protocol_runs = tables.protocol_view(metrics_by_method)
    if protocol_runs is not None:  # a non-standard protocol, beside the standard table
        p_header, p_rows = tables.robustness_table(protocol_runs)
        written["table_protocol.md"] = tables.write_table_markdown(
            out("table_protocol.md"), p_header, p_rows,
            title=f"{title}, under the selected evaluation protocol",
            note=tables.attack_description(protocol_runs))
    for name, plot in (("robustness.png", figures.plot_robustness_curves),
                       ("joint_accuracy.png", figures.plot_joint_accuracy),
                       ("front.png", fronts.plot_accuracy_front)):
        if plot(metrics_by_method, out(name)):
            written[name] = out(name)
    hypervolumes = fronts.front_hypervolumes(metrics_by_method)
    atomic_write_json(out("hypervolume.json"), hypervolumes)
    written["hypervolume.json"] = out("hypervolume.json")
    for name, content in extra_files.items():
        if isinstance(content, bytes):
            atomic_write_bytes(out(name), content)
        else:
            atomic_write_text(out(name), content)
        written[name] = out(name)
    if example_model is not None:
        etas = (example_etas if example_etas is not None
                else examples.default_example_etas(metrics_by_method))
        task_names = list(example_task_names if example_task_names is not None
                          else example_model.task_names)
        written["examples.png"] = examples.plot_adversarial_examples(
            example_model, example_images, example_labels, task_names, etas, out("examples.png"),
            tensorboard_dir=out(readme.TENSORBOARD_DIR),
        )
        written[readme.TENSORBOARD_DIR] = out(readme.TENSORBOARD_DIR)
    # Last, so that it links every file above (and companions other code wrote earlier).
    atomic_write_text(out("README.md"), readme.readme_markdown(
        metrics_by_method, title=title, header=header, rows=rows, attack=attack,
        hypervolumes=hypervolumes, files=readme.linked_files(report_dir, written)))
    written["README.md"] = out("README.md")
    return written

