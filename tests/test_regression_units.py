"""A regression error is shown in the target's own units everywhere a user reads it (a
CSV column of kilograms: an MAE of 0.0131 reads "0.0131", not "1.31 %"); NME is the plain
ratio to the inter-ocular distance (0.188); accuracy stays in percent; every label says
which (`mtl_tf.evaluation.units`). The report files, figures and the seed tables are
checked on a real experiment in tests/test_regression_reports.py; here the formatter, the
labels, the printed run summary and the table built from small results."""

from __future__ import annotations

import pytest

from mtl_tf.evaluation import units
from mtl_tf.evaluation.reports import robustness_table
from mtl_tf.evaluation.reports.tables import quantities
from mtl_tf.evaluation.summary import format_summary

_SPECS = [{"name": "species", "kind": "classification", "size": 3},
          {"name": "weight", "kind": "regression", "size": 1, "loss": "mse"},
          {"name": "landmarks", "kind": "regression", "size": 4, "loss": "mse",
           "landmark_eyes": [0, 1]}]


def _run() -> dict:
    # One GS run: species by accuracy, weight by MAE (kg), landmarks by NME (a ratio).
    robustness = {"attack": "fgsm", "accuracy": {"0": {"species": 0.9}, "0.1": {"species": 0.5}},
                  "joint_accuracy": {"0": 0.9, "0.1": 0.5},
                  "error": {"0": {"weight": 0.0131, "landmarks": 0.188},
                            "0.1": {"weight": 0.0235, "landmarks": 0.3051}},
                  "error_metric": {"weight": "mae", "landmarks": "nme"}}
    errors = {"weight": {"mae": 0.0131, "rmse": 0.02},
              "landmarks": {"mae": 0.05, "rmse": 0.06, "nme": 0.188}}
    model = {"name": "gs", "accuracy": {"species": 0.9}, "error": errors,
             "joint_accuracy": 0.9, "robustness": robustness}
    return {"method": "gs", "dataset": "csv:pets", "tasks": ["species", "weight", "landmarks"],
            "task_specs": _SPECS, "accuracy": {"species": 0.9}, "error": errors,
            "joint_accuracy": 0.9, "robustness": robustness, "models": [model]}


@pytest.mark.parametrize("value, text", [
    (0.0131, "0.0131"), (0.188, "0.188"), (0.5, "0.500"), (16.0, "16.0"),
    (1234.5, "1234"), (-0.15, "-0.150"), (0.0, "0"), (None, "n/a"), (float("nan"), "n/a")])
def test_format_error_keeps_three_significant_figures_in_positional_notation(value, text):
    assert units.format_error(value) == text


def test_accuracy_is_percent_and_an_error_is_its_own_number():
    assert units.format_score(0.948, None) == "94.8"
    assert units.format_score(0.0131, "mae") == "0.0131"
    assert units.plot_scale(None) == 100.0 and units.plot_scale("mae") == 1.0


def test_labels_name_the_metric_its_unit_and_direction():
    assert units.quantity_label("species", None) == "species test accuracy (%)"
    assert units.quantity_label("weight", "mae") == (
        "weight test MAE (target's units, lower is better)")
    assert units.quantity_label("landmarks", "nme") == (
        "landmarks test NME (ratio to the inter-ocular distance, lower is better)")
    assert units.errors_description(["mae", "nme", "mae"]) == (
        "MAE: target's units, NME: ratio to the inter-ocular distance")


def test_printed_summary_shows_errors_in_their_units():
    lines = format_summary(_run()).splitlines()
    assert lines[0] == ("Test accuracy (gs on csv:pets, inference mode; regression tasks: MAE "
                        "in the target's own units, NME a ratio, not %; lower is better):")
    assert lines[1].split() == ["gs", "species", "90.00%", "weight", "MAE", "0.0131",
                                "landmarks", "NME", "0.188", "joint", "90.00%"]
    assert lines[2].split() == ["gs", "fgsm", "[standard]", "eta",
                                "0:", "90.0%/weight", "MAE", "0.0131/landmarks", "NME", "0.188,",
                                "0.1:", "50.0%/weight", "MAE", "0.0235/landmarks", "NME", "0.305"]


def test_summary_of_a_saved_model_without_specs_still_picks_nme():
    # `--mode=eval --saved_model` results carry no task_specs: landmarks (the only task
    # with an NME) by NME, any other regression task by MAE.
    run = _run()
    served = {"method": "SavedModel x", "dataset": "csv:pets",
              "models": [dict(run["models"][0], name="served", robustness=None)]}
    line = format_summary(served).splitlines()[1]
    assert "weight MAE 0.0131" in line and "landmarks NME 0.188" in line


def test_table_rows_and_title_say_what_each_cell_is():
    run = {"gs": _run()}
    header, rows = robustness_table(run)
    cells = {(r[0], r[1]): r[2] for r in rows}
    assert cells[("species", "0.1")] == "50.0"
    assert cells[("weight MAE (target's units, lower is better)", "0")] == "0.0131"
    assert cells[("weight MAE (target's units, lower is better)", "0.1")] == "0.0235"
    nme = "landmarks NME (ratio to the inter-ocular distance, lower is better)"
    assert cells[(nme, "0")] == "0.188" and cells[(nme, "0.1")] == "0.305"
    assert quantities(run) == ("Test accuracy (%) and regression error (MAE: target's units, "
                               "NME: ratio to the inter-ocular distance; lower is better)")
    # Classification only: the title is as before.
    only = {"gs": {**_run(), "tasks": ["species"], "task_specs": _SPECS[:1]}}
    assert quantities(only) == "Test accuracy (%)"


def test_attacked_loss_description_names_regression_terms():
    from mtl_tf.evaluation.attacks import LOSS_DESCRIPTION, describe_loss
    from mtl_tf.evaluation.protocol import STANDARD
    from mtl_tf.tasks import TaskSpec

    standard = STANDARD
    species = TaskSpec("species", "classification", 3)
    weight = TaskSpec("weight", "regression", 1, loss="l1")
    assert describe_loss(standard, specs=(species,)) == LOSS_DESCRIPTION
    assert describe_loss(standard, specs=(species, weight)) == (
        LOSS_DESCRIPTION + "; a regression task's term is its own training loss instead of "
        "the cross-entropy (weight: mean l1)")
