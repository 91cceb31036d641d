"""Reports follow the task specs (issue #18 item 1): with a regression task the Pareto
front (front.png and its TensorBoard image) plots that task's main error, labelled
"lower is better"; hypervolume.json leaves it out of the error space and says why; the
robustness curves give it its own error axis; and the keras.applications backbone
settings are HParams columns. A tiny real experiment (STL, GS, Pareto MTL with 3
preferences, LeNet, 1 epoch) on a generated image + CSV folder with a classification
column and a regression column, read back from the files a reader opens."""

from __future__ import annotations

import csv
import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from matplotlib.backends.backend_agg import FigureCanvasAgg

from mtl_tf.config import RunConfig
from mtl_tf.evaluation import reports
from mtl_tf.evaluation.hypervolume import hypervolume
from mtl_tf.evaluation.reports import canvas, figures
from mtl_tf.orchestration import experiments
from mtl_tf.orchestration.experiments import Experiment, run_experiment
from tests.test_csv_data import make_folder

TASKS = ("species", "weight")
ETAS = (0.0, 0.1)
PREFERENCES = 3


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """(report_dir, metrics by method, drawn figures: file name -> [Figure, ...])."""
    root = tmp_path_factory.mktemp("regression_report")
    path = make_folder(root / "data", n=60)
    report_dir = str(root / "report")
    tiny = Experiment(
        "tiny_regression_report", f"csv:{path}", ("stl", "gs", "pareto_mtl"),
        {"backbone": "lenet", "epochs": 1, "batch_size": 16, "verbose": 0,
         "test_size": 12, "image_size": 24, "learning_rate": 1e-2,
         "tasks": ("species", "weight:regression")},
        "a classification and a regression column",
        {"pareto_mtl": {"num_preferences": PREFERENCES}}, example_method="gs",
        # A published table of other tasks (MTFL's attributes): compared only on its tasks.
        paper_table="mtvib_table_v",
    )
    drawn: dict[str, list] = {}
    save = canvas.save_png

    def keep(fig, png_path):
        # The real PNG is written; the figure is kept to read what it shows.
        data = save(fig, png_path)
        FigureCanvasAgg(fig)
        fig.draw_without_rendering()
        drawn.setdefault(os.path.basename(png_path), []).append(fig)
        return data

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(experiments.EXPERIMENTS, tiny.name, tiny)
        patch.setattr(canvas, "save_png", keep)
        result = run_experiment(tiny.name, base_config=RunConfig(etas=ETAS),
                                report_dir=report_dir)
    return report_dir, result["metrics"], drawn


def _models(metrics: dict) -> list[dict]:
    # Every point of the front: STL's combined run, GS's model, each preference model.
    return [metrics["stl"], *metrics["gs"]["models"], *metrics["pareto_mtl"]["models"]]


def _caption(fig) -> str:
    # The caption's words, its wrapping undone.
    return " ".join(" ".join(t.get_text() for t in fig.texts if t.get_gid() == "caption").split())


def _image_tags(directory: str) -> set[str]:
    tags = set()
    for path in glob.glob(os.path.join(directory, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update(v.tag for v in event.summary.value
                        if v.metadata.plugin_data.plugin_name == "images")
    return tags


# ----------------------------------------------------------------------------- front
def test_front_plots_the_regression_task_error_lower_is_better(mixed):
    report_dir, metrics, drawn = mixed
    assert os.path.isfile(os.path.join(report_dir, "front.png"))
    # front.png, then the TensorBoard copies: the Pareto MTL run's (written when it
    # finished, again by the experiment), then the experiment's over every method.
    # Accuracy in percent, the weight error in its own units (not x100).
    expected = sorted((100 * m["accuracy"]["species"], m["error"]["weight"]["mae"])
                      for m in _models(metrics))
    expected_run = sorted(
        (100 * m["accuracy"]["species"], m["error"]["weight"]["mae"])
        for m in metrics["pareto_mtl"]["models"])
    *run_fronts, experiment_front = drawn["accuracy_front.png"]
    assert run_fronts
    for fig, want in [(drawn["front.png"][0], expected), (experiment_front, expected),
                      *[(f, expected_run) for f in run_fronts]]:
        ax = fig.axes[0]
        assert ax.get_xlabel() == "Task 1: species test accuracy (%)"
        assert ax.get_ylabel() == "Task 2: weight test MAE (target's units, lower is better)"
        assert "down and to the right is better" in _caption(fig)
        # Every model's (accuracy, error) marker, nothing else (no zoom inset here).
        points = sorted(tuple(xy) for c in ax.collections for xy in c.get_offsets())
        np.testing.assert_allclose(points, want, rtol=1e-6)
    pareto_dir = os.path.join(report_dir, "runs", "pareto_mtl", "tensorboard", "figures")
    assert {"accuracy_front", "robustness_curves"} <= _image_tags(pareto_dir)
    assert {"accuracy_front", "robustness_curves"} <= _image_tags(
        os.path.join(report_dir, "tensorboard", "figures"))


# ----------------------------------------------------------------------------- table
def test_table_shows_the_regression_error_in_its_own_units(mixed):
    report_dir, metrics, _ = mixed
    with open(os.path.join(report_dir, "table.csv"), encoding="utf-8") as f:
        header, *rows = list(csv.reader(f))
    gs = header.index("GS")
    cells = {(r[0], r[1]): r[gs] for r in rows}
    robustness = metrics["gs"]["robustness"]
    label = "weight MAE (target's units, lower is better)"
    assert [r[0] for r in rows] == ["species"] * 2 + [label] * 2 + ["joint"] * 2
    for eta in ("0", "0.1"):
        # The weight error as measured (kg, say): 3 significant figures, not x100.
        error = robustness["error"][eta]["weight"]
        assert cells[(label, eta)] == f"{error:#.3g}".rstrip(".")
        assert cells[("species", eta)] == f"{100 * robustness['accuracy'][eta]['species']:.1f}"
    with open(os.path.join(report_dir, "table.md"), encoding="utf-8") as f:
        title, *table = f.read().splitlines()
    assert title.startswith("Test accuracy (%) and regression error (MAE: target's units; "
                            "lower is better) under adversarial attack")
    assert not any("MAE %" in line for line in table)


# ----------------------------------------------------------------------------- hypervolume
def test_hypervolume_json_keeps_regression_out_of_error_space_and_says_why(mixed):
    report_dir, metrics, _ = mixed
    with open(os.path.join(report_dir, "hypervolume.json"), encoding="utf-8") as f:
        hv = json.load(f)
    assert hv["tasks"] == list(TASKS) and hv["error_space_tasks"] == ["species"]
    assert hv["error_reference"] == [1.0] and hv["loss_reference"] == [2.0, 2.0]
    assert hv["error_metric"] == {"weight": "mae"}
    assert "MAE" in hv["excluded_from_error_space"]["weight"]
    assert "not in the error space" in hv["note"].lower()
    pareto = hv["methods"]["pareto_mtl"]
    models = metrics["pareto_mtl"]["models"]
    assert pareto["num_points"] == PREFERENCES
    # Error space over the classification task: 1-D, so the best accuracy.
    assert pareto["error_space"] == pytest.approx(
        max(m["accuracy"]["species"] for m in models))
    # Loss space over every task, the regression loss included.
    losses = np.array([[m["loss"][t] for t in TASKS] for m in models])
    assert pareto["loss_space"] == pytest.approx(hypervolume(losses, [2.0, 2.0]))
    np.testing.assert_allclose([p["error"] for p in pareto["points"]],
                               [[m["error"]["weight"]["mae"]] for m in models], rtol=1e-9)
    with open(os.path.join(report_dir, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert "Not in the error space: weight, a regression task" in readme
    assert ("Regression tasks (weight): their error in their own units, not a percentage "
            "(MAE: target's units; lower is better)") in readme
    assert "error in %" not in readme


def test_landmarks_front_axis_is_nme_lower_is_better(tmp_path, monkeypatch):
    from mtl_tf.evaluation.reports import fronts

    drawn = []
    save = canvas.save_png
    monkeypatch.setattr(canvas, "save_png", lambda fig, p: (drawn.append(fig), save(fig, p))[1])
    specs = [{"name": "landmarks", "kind": "regression", "size": 10, "loss": "mse",
              "landmark_eyes": [0, 1]},
             {"name": "gender", "kind": "classification", "size": 2}]
    models = [{"name": f"preference_{i}", "accuracy": {"gender": 0.6 + 0.1 * i},
               "error": {"landmarks": {"mae": 0.05, "rmse": 0.06, "nme": 0.2 + 0.05 * i}}}
              for i in range(3)]
    metrics = {"pareto_mtl": {"tasks": ["landmarks", "gender"], "task_specs": specs,
                              "dataset": "mtfl", "accuracy": None, "models": models}}
    assert fronts.plot_accuracy_front(metrics, str(tmp_path / "front.png"))
    (fig,) = drawn
    ax = fig.axes[0]
    assert ax.get_xlabel() == ("Task 1: landmarks test NME (ratio to the inter-ocular "
                               "distance, lower is better)")
    assert ax.get_ylabel() == "Task 2: gender test accuracy (%)"
    assert "up and to the left is better" in _caption(fig)
    points = sorted(tuple(xy) for c in ax.collections for xy in c.get_offsets())
    # NME (not MAE) as the plain ratio, not x100; accuracy in percent.
    np.testing.assert_allclose(points, [(0.2, 60), (0.25, 70), (0.3, 80)])


def test_error_space_of_regression_only_runs_is_none_and_references_are_checked():
    specs = [{"name": "a", "kind": "classification", "size": 2},
             {"name": "b", "kind": "regression", "size": 1, "loss": "mse"},
             {"name": "c", "kind": "regression", "size": 2, "loss": "l1"}]
    model = {"name": "m", "accuracy": {"a": 0.75}, "loss": {"a": 0.5, "b": 0.1, "c": 0.2},
             "error": {"b": {"mae": 0.3, "rmse": 0.4}, "c": {"mae": 0.1, "rmse": 0.2}}}
    mixed = {"gs": {"tasks": ["a", "b", "c"], "task_specs": specs, "dataset": "x",
                    "accuracy": model["accuracy"], "loss": model["loss"],
                    "error": model["error"], "models": [model]}}
    hv = reports.front_hypervolumes(mixed)
    assert hv["methods"]["gs"]["error_space"] == pytest.approx(0.75)
    assert hv["methods"]["gs"]["points"][0]["error"] == [0.3, 0.1]
    with pytest.raises(ValueError, match="one per classification task"):
        reports.front_hypervolumes(mixed, error_reference=(1, 1, 1))
    only = {"gs": {**mixed["gs"], "tasks": ["b", "c"], "task_specs": specs[1:],
                   "accuracy": {}, "models": [dict(model, accuracy={})]}}
    hv = reports.front_hypervolumes(only)
    assert hv["error_space_tasks"] == [] and hv["methods"]["gs"]["error_space"] is None
    assert hv["methods"]["gs"]["num_points"] == 1
    assert hv["methods"]["gs"]["loss_space"] == pytest.approx((2 - 0.1) * (2 - 0.2))
    # Runs without task specs (written before them) are all classification, as before.
    old = {"gs": {"tasks": ["a"], "dataset": "x", "accuracy": {"a": 0.75},
                  "models": [{"name": "m", "accuracy": {"a": 0.75}, "loss": {"a": 0.5}}]}}
    hv = reports.front_hypervolumes(old)
    assert "excluded_from_error_space" not in hv and hv["error_space_tasks"] == ["a"]
    assert hv["methods"]["gs"]["points"][0] == {"name": "m", "accuracy": [0.75],
                                                "loss": [0.5]}


# ----------------------------------------------------------------------------- robustness
def test_robustness_curves_give_the_regression_task_an_error_axis(mixed):
    report_dir, metrics, drawn = mixed
    assert os.path.isfile(os.path.join(report_dir, "robustness.png"))
    columns = 2 + PREFERENCES  # STL, GS, one per preference
    for fig in drawn["robustness.png"] + drawn["robustness_curves.png"][-1:]:
        panels = {ax.get_title(): ax for ax in fig.axes if ax.get_visible()}
        assert set(panels) == {"Task species", "Task weight (MAE, regression)"}
        accuracy, error = panels["Task species"], panels["Task weight (MAE, regression)"]
        assert accuracy.get_ylabel() == "test accuracy (%)"
        assert error.get_ylabel() == "test MAE (target's units, lower is better)"
        assert len(accuracy.get_lines()) == len(error.get_lines()) == columns
        assert "weight" in _caption(fig) and "upward" in _caption(fig)
        assert "not % (MAE: target's units)" in _caption(fig) and "error (%)" not in _caption(fig)
    (joint,) = drawn["joint_accuracy.png"]
    assert "every classification task right" in _caption(joint)
    assert "left out: weight" in _caption(joint)
    # GS's line is its error under attack, unchanged from metrics.json (own units).
    (fig,) = drawn["robustness.png"]
    error = next(ax for ax in fig.axes if ax.get_title().startswith("Task weight"))
    gs = next(line for line in error.get_lines() if line.get_label() == "GS")
    curve = metrics["gs"]["robustness"]["error"]
    assert list(gs.get_xdata()) == pytest.approx(list(ETAS))
    assert list(gs.get_ydata()) == pytest.approx([curve[k]["weight"] for k in ("0", "0.1")])


def test_a_growing_regression_error_is_not_called_an_fgsm_artefact():
    specs = [{"name": "a", "kind": "classification", "size": 2},
             {"name": "b", "kind": "regression", "size": 1, "loss": "mse"}]
    robustness = {"attack": "fgsm", "accuracy": {"0": {"a": 0.9}, "0.1": {"a": 0.5}},
                  "joint_accuracy": {"0": 0.9, "0.1": 0.5},
                  "error": {"0": {"b": 0.1}, "0.1": {"b": 0.6}}, "error_metric": {"b": "mae"}}
    run = {"gs": {"tasks": ["a", "b"], "task_specs": specs, "dataset": "x",
                  "accuracy": {"a": 0.9}, "joint_accuracy": 0.9, "robustness": robustness,
                  "models": [{"name": "gs", "accuracy": {"a": 0.9}}]}}
    assert figures.rising_with_eta(run) == []
    assert figures.fgsm_artefact_note(run) is None
    # An accuracy that rises is still flagged.
    rising = json.loads(json.dumps(run))
    rising["gs"]["robustness"]["accuracy"]["0.1"]["a"] = 0.99
    assert [r["task"] for r in figures.rising_with_eta(rising)] == ["a"]


# ----------------------------------------------------------------------------- hparams
def _hparams(session_dir: str) -> tuple[dict, set[str]]:
    """(hyperparameters, scalar tags) of the HParams session written in `session_dir`,
    read back from its event file as the HParams plugin reads it."""
    from tensorboard.plugins.hparams import plugin_data_pb2

    hparams, tags = {}, set()
    (path,) = glob.glob(os.path.join(session_dir, "events.out.tfevents.*"))
    for event in tf.compat.v1.train.summary_iterator(path):
        for value in event.summary.value:
            tags.add(value.tag)
            if value.metadata.plugin_data.plugin_name != "hparams":
                continue
            data = plugin_data_pb2.HParamsPluginData.FromString(
                value.metadata.plugin_data.content)
            if data.HasField("session_start_info"):
                for name, v in data.session_start_info.hparams.items():
                    hparams[name] = getattr(v, v.WhichOneof("kind"))
    return hparams, tags


def test_regression_errors_under_attack_are_hparams_metrics(mixed):
    report_dir, _, _ = mixed
    hparams, tags = _hparams(os.path.join(report_dir, "runs", "gs", "tensorboard", "hparams"))
    assert hparams["backbone"] == "lenet"
    # The application-only settings did nothing for LeNet: no column value.
    assert "backbone_weights" not in hparams and "backbone_image_size" not in hparams
    assert {"test/weight_mae", "test_fgsm/eta_0.1/weight_mae",
            "test_fgsm/eta_0.1/species_accuracy"} <= tags


def test_application_backbone_settings_are_hparams_columns(mixed, tmp_path):
    from mtl_tf.orchestration.runs import run

    _, metrics, _ = mixed
    run(RunConfig(dataset=metrics["gs"]["dataset"], tasks=("species", "weight:regression"),
                  backbone="mobilenet_v2_035", backbone_image_size=40, epochs=1,
                  batch_size=16, test_size=12, image_size=24, etas=(0.0,), verbose=0,
                  output_dir=str(tmp_path / "run")))
    hparams, _ = _hparams(str(tmp_path / "run" / "tensorboard" / "hparams"))
    assert hparams["backbone"] == "mobilenet_v2_035"
    assert hparams["backbone_weights"] == "none"
    assert hparams["backbone_image_size"] == 40


# ----------------------------------------------------------------------------- examples
def test_adversarial_examples_show_a_regression_task_by_its_error(mixed):
    report_dir, _, drawn = mixed
    assert os.path.isfile(os.path.join(report_dir, "examples.png"))
    (fig,) = drawn["examples.png"]
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    labels = [ax.get_xlabel() for ax in fig.axes]
    # Title: the true class of species, "-" for the weight vector; under each image the
    # predicted class and the example's MAE on weight, for the clean row and each eta.
    assert titles and all(t.startswith("y ") and t.endswith(",-") for t in titles)
    assert len(labels) == len(titles) * len(ETAS)
    assert all(label.startswith("p ") and ",MAE " in label for label in labels)


def test_a_paper_table_of_other_tasks_is_left_out_not_fatal(mixed):
    # The experiment names MTVIB Table V (MTFL's four attributes): its runs have other
    # tasks, so the report has no comparison, and everything else (it used to raise after
    # training every method).
    report_dir, _, _ = mixed
    assert not os.path.exists(os.path.join(report_dir, "paper_comparison.md"))
    with open(os.path.join(report_dir, "README.md"), encoding="utf-8") as f:
        assert "paper_comparison" not in f.read()


# ----------------------------------------------------------------------------- seeds
def _seed_run(method: str, accuracy: float, error: float) -> dict:
    specs = [{"name": "a", "kind": "classification", "size": 2},
             {"name": "b", "kind": "regression", "size": 1, "loss": "mse"}]
    robustness = {"attack": "fgsm", "accuracy": {"0": {"a": accuracy}},
                  "joint_accuracy": {"0": accuracy}, "error": {"0": {"b": error}},
                  "error_metric": {"b": "mae"}}
    model = {"name": method, "accuracy": {"a": accuracy}, "loss": {"a": 0.5, "b": error},
             "error": {"b": {"mae": error, "rmse": error}}}
    return {"method": method, "tasks": ["a", "b"], "task_specs": specs, "dataset": "x",
            "accuracy": {"a": accuracy}, "error": model["error"], "joint_accuracy": accuracy,
            "robustness": robustness, "models": [model]}


def test_seed_tables_name_the_error_rows_and_count_lower_error_as_ahead():
    from mtl_tf.evaluation import seeds

    # GS: better on a (higher accuracy) in 1 of 2 seeds, lower error on b in both.
    runs = [{"gs": _seed_run("gs", 0.8, 0.10), "uwl": _seed_run("uwl", 0.7, 0.20)},
            {"gs": _seed_run("gs", 0.6, 0.30), "uwl": _seed_run("uwl", 0.7, 0.50)}]
    header, rows = seeds.accuracy_table(runs)
    b = "b MAE (target's units, lower is better)"
    assert [r[0] for r in rows] == ["a", b, "joint"]
    # Accuracy in percent; the error in its own units (GS's 0.10, 0.30: 0.2 ± 0.141).
    cells = {r[0]: r[2] for r in rows}
    assert cells["a"] == "70.0 ± 14.1" and cells[b] == "0.200 ± 0.141"
    header, rows = seeds.paired_differences(runs, [("gs", "uwl")])
    cells = {r[0]: r[2] for r in rows}
    # GS - UWL on b: -0.10 and -0.20 in the target's units, lower is ahead in both seeds.
    assert cells["a"] == "+0.0 [-10.0, +10.0] 1/2" and cells[b] == "-0.150 [-0.200, -0.100] 2/2"
