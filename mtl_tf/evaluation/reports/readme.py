"""The report's README.md: budgets, the table, the hypervolumes, and a link to every file.

The README is the report's entry point, so it links every file of the report directory
(except the per-method ``runs/`` and the ``tensorboard/`` event files): figures inline,
data files as links. `linked_files` decides which names those are.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from mtl_tf.evaluation import units
from mtl_tf.evaluation.reports import columns as cols
from mtl_tf.evaluation.reports import figures, tables

__all__ = ["COMPANION_FILES", "TENSORBOARD_DIR", "linked_files", "readme_markdown"]

# Report files that other code may write into the report directory (the experiment
# runner's paper comparison, the CLI's example grid): linked whenever they are present.
COMPANION_FILES: tuple[str, ...] = ("examples.png", "paper_comparison.md")
TENSORBOARD_DIR = "tensorboard"

_FIGURE_CAPTIONS = {
    "robustness.png": "Test accuracy vs FGSM eta, one panel per task (MTVIB Tables III-V); "
                      "dashed: single-task references; Pareto MTL's preferences light to dark",
    "joint_accuracy.png": "Joint accuracy vs FGSM eta (MTVIB Fig. 5), log y axis so that "
                          "every eta is readable",
    "front.png": "Task 1 vs task 2 test accuracy (a regression task: its error, lower is "
                 "better) of every model (Pareto MTL Fig. 4); "
                 "Pareto MTL's preference models labelled p0, p1, ... and joined in "
                 "preference order; dashed: single-task references",
    "examples.png": "Clean and FGSM adversarial examples (MTVIB Figs. 2-3)",
}
_DATA_CAPTIONS = {
    "table.md": "The table above, as Markdown",
    "table.csv": "The table above, as CSV",
    "table_protocol.md": "The same table under the selected (non-standard) evaluation "
                         "protocol",
    "hypervolume.json": "Every method's test points and hypervolumes",
    "paper_comparison.md": "Our accuracy beside the published numbers (MTVIB Tables III-V)",
}


def linked_files(report_dir: str, written: Mapping[str, str]) -> list[str]:
    """The names the README of `report_dir` links: what the report wrote, then the
    `COMPANION_FILES` present in the directory (written by other code, before or by an
    earlier run), then ``tensorboard`` if examples are linked and their events exist.

    Args:
      report_dir: the report directory.
      written: name -> path of the files this report wrote (README.md excluded).

    Returns:
      File names relative to `report_dir`, each once.
    """
    names = [n for n in written if n != "README.md"]
    names += [n for n in COMPANION_FILES
              if n not in names and os.path.isfile(os.path.join(report_dir, n))]
    if ("examples.png" in names and TENSORBOARD_DIR not in names
            and os.path.isdir(os.path.join(report_dir, TENSORBOARD_DIR))):
        names.append(TENSORBOARD_DIR)
    return names


def readme_markdown(
    metrics_by_method: Mapping[str, dict],
    *,
    title: str,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    attack: str,
    hypervolumes: dict,
    files: Sequence[str],
) -> str:
    """The README.md text of a report.

    Args:
      metrics_by_method: method -> metrics.json dictionary.
      title: the table's title.
      header: the robustness table's column names (`tables.robustness_table`).
      rows: the robustness table's cells.
      attack: `tables.attack_description` of the runs.
      hypervolumes: `fronts.front_hypervolumes` of the runs.
      files: the report's file names to link (`linked_files`); figures are shown inline,
        every other file is linked, ``tensorboard`` is named beside the examples.

    Returns:
      The Markdown text, ending with a newline.
    """
    tasks = hypervolumes["tasks"]
    lines = ["# Experiment report", ""]
    lines += ["| method | epochs | train pairs | test pairs | models | wall time (s) |",
              "|---|---|---|---|---|---|"]
    for method in cols.ordered_methods(metrics_by_method):
        m = metrics_by_method[method]
        lines.append(tables.markdown_row([
            cols.display_name(method), m.get("epochs"), m.get("train_size"), m.get("test_size"),
            len(m.get("models") or []), m.get("wall_time_seconds"),
        ]))
    error_of = cols.error_metrics(metrics_by_method)
    regression = (f" Regression tasks ({', '.join(t for t in tasks if t in error_of)}): "
                  f"their error in their own units, not a percentage "
                  f"({units.errors_description(error_of[t] for t in tasks if t in error_of)}"
                  f"; lower is better), left out of the joint accuracy."
                  if any(t in error_of for t in tasks) else "")
    lines += ["", f"## {title}", "", tables.markdown_table(header, rows), "", attack, "",
              "Rows: task x eta, then the joint accuracy (every task right, MTVIB Fig. 5). "
              "Pareto MTL: one column per preference model. n/a: not measured (STL/STVIB "
              "have no joint accuracy under attack: each task's model is attacked alone)."
              + regression, ""]
    excluded = hypervolumes.get("excluded_from_error_space") or {}
    error_tasks = hypervolumes.get("error_space_tasks", tasks)
    lines += ["## Hypervolume of the test points (larger is better)", "",
              f"Loss space: per-task test loss (cross-entropy; a regression task's mse / l1), "
              f"reference point {tuple(hypervolumes['loss_reference'])}, tasks {tuple(tasks)}; "
              f"error space: 1 - accuracy, reference point "
              f"{tuple(hypervolumes['error_reference'])}, tasks {tuple(error_tasks)}."]
    lines += [f"Not in the error space: {task}, a {reason}." for task, reason in excluded.items()]
    lines += ["", "| method | points | HV loss space | HV error space |", "|---|---|---|---|"]
    for method, hv in hypervolumes["methods"].items():
        loss = cols.NA if hv["loss_space"] is None else f"{hv['loss_space']:.4f}"
        error = cols.NA if hv["error_space"] is None else f"{hv['error_space']:.4f}"
        lines.append(tables.markdown_row([cols.display_name(method), hv["num_points"], loss,
                                          error]))
    lines += ["", "## Figures", ""]
    for name, caption in _FIGURE_CAPTIONS.items():
        if name not in files:
            continue
        if name == "examples.png" and TENSORBOARD_DIR in files:
            caption += f"; also in TensorBoard under {TENSORBOARD_DIR}/"
        lines.append(f"* {caption}: ![{name}]({name})")
    if not any(name in files for name in ("robustness.png", "joint_accuracy.png")):
        lines.append("* No robustness data in these runs: robustness plots skipped.")
    # Said here as well as under the figures: a reader of the table alone would otherwise
    # take accuracy climbing back at large eta for robustness.
    artefact = figures.fgsm_artefact_note(dict(metrics_by_method))
    if artefact:
        lines += ["", f"Note: {artefact}"]
    lines += ["", "## Data", ""]
    for name, caption in _DATA_CAPTIONS.items():
        if name in files:
            lines.append(f"* {caption}: [{name}]({name})")
    # Files a caller added (`write_report(extra_files=...)`) that have no caption here.
    others = [n for n in files
              if n not in _FIGURE_CAPTIONS and n not in _DATA_CAPTIONS and n != TENSORBOARD_DIR]
    lines += [f"* [{name}]({name})" for name in others]
    return "\n".join(lines) + "\n"
