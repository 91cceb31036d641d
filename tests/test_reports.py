"""Experiment reports (MTVIB Tables III-V, Figs. 2-3 and 5; Pareto MTL Fig. 4) and the
named experiments that produce them."""

from __future__ import annotations

import copy
import csv
import dataclasses
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtl_tf.config import RunConfig
from mtl_tf.evaluation import reports
from mtl_tf.evaluation.attacks import LOSS_DESCRIPTION
from mtl_tf.evaluation.hypervolume import hypervolume
from mtl_tf.orchestration.experiment_catalog import Experiment, method_config
from mtl_tf.orchestration.experiment_cost import estimate_seconds
from mtl_tf.orchestration.experiments import EXPERIMENTS, run_experiment

TASKS = ("top_left", "bottom_right")
ETAS = ("0", "0.05", "0.1", "0.3")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------- fakes
def _acc(base: float, eta: str, task_index: int) -> float:
    # Distinct, exactly representable-enough values: base - eta - 1 % per task index.
    return round(base - float(eta) - 0.01 * task_index, 4)


def _robustness(base: float, tasks=TASKS, joint: bool = True) -> dict:
    return {
        "attack": "fgsm",
        "loss": LOSS_DESCRIPTION,
        "eot_samples": 0,
        "steps": 1,
        "step_size": None,
        "random_start": None,
        "seed": 0,
        "num_examples": 1000,
        "etas": [float(e) for e in ETAS],
        "accuracy": {e: {t: _acc(base, e, TASKS.index(t)) for t in tasks} for e in ETAS},
        "joint_accuracy": {e: round(_acc(base, e, 0) - 0.1, 4) for e in ETAS} if joint else None,
    }


def _model(name: str, base: float, tasks=TASKS, robust: bool = True) -> dict:
    entry = {
        "name": name,
        "directory": ".",
        "accuracy": {t: _acc(base, "0", TASKS.index(t)) for t in tasks},
        "loss": {t: round(0.3 + (1 - base) + 0.05 * TASKS.index(t), 4) for t in tasks},
        "joint_accuracy": round(_acc(base, "0", 0) - 0.1, 4),
        "num_examples": 1000,
    }
    if robust:
        entry["robustness"] = _robustness(base, tasks, joint=len(tasks) > 1)
    return entry


def _metrics(method: str, models: list[dict], top: dict | None, robustness) -> dict:
    out = {
        "schema_version": 1, "method": method, "dataset": "multi_mnist",
        "tasks": list(TASKS), "num_classes": [10, 10],
        "accuracy": top["accuracy"] if top else None,
        "loss": top["loss"] if top else None,
        "joint_accuracy": top["joint_accuracy"] if top else None,
        "models": models, "epochs": 1, "train_size": 400, "test_size": 1000,
        "seed": 0, "wall_time_seconds": 1.0,
    }
    if robustness is not False:
        out["robustness"] = robustness
    return out


@pytest.fixture()
def fake_metrics() -> dict[str, dict]:
    # STL: one single-task model per task; combined robustness, no joint under attack.
    stl_models = [_model("top_left", 0.95, ("top_left",)), _model("bottom_right", 0.95,
                                                                  ("bottom_right",))]
    stl_top = _model("stl", 0.95)
    stl_rob = _robustness(0.95)
    stl_rob["joint_accuracy"] = None
    gs = _model("gs", 0.93)
    gs_metrics = _metrics("gs", [gs], gs, gs["robustness"])
    # A grid-search run: three grid points, the best one reported.
    gs_metrics["grid"] = {"points": [_model(f"w{i}", 0.90 + 0.01 * i) for i in range(3)],
                          "best_index": 2}
    gs_metrics["grid"]["points"][2] = gs
    uwl = _model("uwl", 0.92, robust=False)  # a run from before robustness existed
    mtvib = _model("mtvib", 0.94)
    prefs = [_model(f"preference_{i}", 0.88 + 0.02 * i) for i in range(3)]
    for i, p in enumerate(prefs):
        p["preference"] = [float(i), float(2 - i)]
    return {
        "pareto_mtl": _metrics("pareto_mtl", prefs, None, None),
        "mtvib": _metrics("mtvib", [mtvib], mtvib, mtvib["robustness"]),
        "uwl": _metrics("uwl", [uwl], uwl, False),
        "gs": gs_metrics,
        "stl": _metrics("stl", stl_models, stl_top, stl_rob),
    }


def _parse_markdown_table(text: str) -> list[list[str]]:
    lines = [line for line in text.splitlines() if line.startswith("|")]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    assert set("".join(rows[1])) <= {"-", ":"}, "second line must be the separator"
    return [rows[0]] + rows[2:]


def _no_temp_files(root: str) -> None:
    leftovers = [os.path.join(d, f) for d, dirs, files in os.walk(root) for f in files + dirs
                 if f.startswith(".tmp")]
    assert not leftovers


def _assert_png(path: str) -> None:
    with open(path, "rb") as f:
        assert f.read(8) == PNG_MAGIC
    assert os.path.getsize(path) > 1000


# ----------------------------------------------------------------------------- table
def test_table_layout_and_values(fake_metrics):
    header, rows = reports.robustness_table(fake_metrics)
    # MTVIB's column order, then one column per Pareto MTL preference.
    assert header == ["task", "eta", "STL", "GS", "UWL", "MTVIB", "Pareto MTL (pref 0)",
                      "Pareto MTL (pref 1)", "Pareto MTL (pref 2)"]
    expected_keys = [(t, e) for t in TASKS for e in ETAS] + [("joint", e) for e in ETAS]
    assert [(r[0], r[1]) for r in rows] == expected_keys
    cell = {(r[0], r[1]): dict(zip(header[2:], r[2:], strict=True)) for r in rows}
    assert cell[("top_left", "0.1")]["MTVIB"] == f"{100 * _acc(0.94, '0.1', 0):.1f}"
    assert cell[("bottom_right", "0.3")]["STL"] == f"{100 * _acc(0.95, '0.3', 1):.1f}"
    assert cell[("top_left", "0.05")]["Pareto MTL (pref 2)"] == (
        f"{100 * _acc(0.92, '0.05', 0):.1f}")
    # GS: the best grid point's robustness.
    assert cell[("bottom_right", "0")]["GS"] == f"{100 * _acc(0.93, '0', 1):.1f}"
    # No robustness section: clean accuracy at eta 0, nothing under attack.
    assert cell[("top_left", "0")]["UWL"] == f"{100 * _acc(0.92, '0', 0):.1f}"
    assert cell[("top_left", "0.1")]["UWL"] == reports.NA
    # Joint: STL has none under attack, but its clean joint accuracy at eta 0.
    assert cell[("joint", "0.1")]["STL"] == reports.NA
    assert cell[("joint", "0")]["STL"] == f"{100 * (_acc(0.95, '0', 0) - 0.1):.1f}"
    assert cell[("joint", "0.3")]["MTVIB"] == f"{100 * (_acc(0.94, '0.3', 0) - 0.1):.1f}"
    assert "FGSM" in reports.attack_description(fake_metrics)


def test_table_without_any_robustness_is_clean_only(fake_metrics, tmp_path):
    for metrics in fake_metrics.values():
        metrics.pop("robustness", None)
        for model in metrics["models"]:
            model.pop("robustness", None)
    header, rows = reports.robustness_table(fake_metrics)
    assert [(r[0], r[1]) for r in rows] == [(t, "0") for t in (*TASKS, "joint")]
    paths = reports.write_report(fake_metrics, str(tmp_path))
    assert "robustness.png" not in paths and "joint_accuracy.png" not in paths
    assert {"table.md", "table.csv", "front.png", "hypervolume.json", "README.md"} <= set(paths)


def test_runs_on_different_tasks_are_refused(fake_metrics):
    fake_metrics["mtvib"]["tasks"] = ["a", "b"]
    with pytest.raises(ValueError, match="tasks"):
        reports.robustness_table(fake_metrics)


# ----------------------------------------------------------------------------- report
def test_write_report_files(fake_metrics, tmp_path):
    report_dir = str(tmp_path / "report")
    paths = reports.write_report(fake_metrics, report_dir)
    expected = {"table.md", "table.csv", "robustness.png", "joint_accuracy.png", "front.png",
                "hypervolume.json", "README.md"}
    assert set(paths) == expected
    for name in expected:
        assert os.path.exists(os.path.join(report_dir, name))
    _no_temp_files(report_dir)
    for name in ("robustness.png", "joint_accuracy.png", "front.png"):
        _assert_png(paths[name])

    header, rows = reports.robustness_table(fake_metrics)
    with open(paths["table.csv"], newline="", encoding="utf-8") as f:
        csv_cells = list(csv.reader(f))
    with open(paths["table.md"], encoding="utf-8") as f:
        markdown = f.read()
    md_cells = _parse_markdown_table(markdown)
    assert csv_cells == md_cells == [header, *rows]
    assert len({len(r) for r in md_cells}) == 1
    assert reports.attack_description(fake_metrics) in markdown

    with open(paths["hypervolume.json"], encoding="utf-8") as f:
        hv = json.load(f)
    assert hv["loss_reference"] == [2.0, 2.0] and hv["error_reference"] == [1.0, 1.0]
    prefs = fake_metrics["pareto_mtl"]["models"]
    losses = np.array([[m["loss"][t] for t in TASKS] for m in prefs])
    errors = 1 - np.array([[m["accuracy"][t] for t in TASKS] for m in prefs])
    assert hv["methods"]["pareto_mtl"]["num_points"] == 3
    assert hv["methods"]["pareto_mtl"]["loss_space"] == pytest.approx(
        hypervolume(losses, [2, 2]))
    assert hv["methods"]["pareto_mtl"]["error_space"] == pytest.approx(
        hypervolume(errors, [1, 1]))
    # Grid search contributes every grid point, STL its combined single-task point.
    assert hv["methods"]["gs"]["num_points"] == 3
    assert hv["methods"]["stl"]["num_points"] == 1

    with open(paths["README.md"], encoding="utf-8") as f:
        readme = f.read()
    assert "(2.0, 2.0)" in readme and "(1.0, 1.0)" in readme and "FGSM" in readme
    assert md_cells == _parse_markdown_table(
        readme.split("## Test accuracy")[1].split("## Hypervolume")[0])

    # A second report over the first replaces the files, leaves no temporary files.
    reports.write_report(fake_metrics, report_dir)
    _no_temp_files(report_dir)


def test_front_hypervolumes_any_number_of_tasks_and_custom_reference():
    tasks = ["a", "b", "c"]
    models = [{"name": f"preference_{i}",
               "accuracy": {t: 0.5 + 0.1 * ((i + k) % 3) for k, t in enumerate(tasks)},
               "loss": {t: 0.5 + 0.2 * ((i + k) % 3) for k, t in enumerate(tasks)}}
              for i in range(3)]
    metrics = {"pareto_mtl": {"tasks": tasks, "dataset": "x", "accuracy": None,
                              "models": models}}
    hv = reports.front_hypervolumes(metrics, loss_reference=(3, 3, 3))
    losses = [[m["loss"][t] for t in tasks] for m in models]
    assert hv["loss_reference"] == [3.0, 3.0, 3.0]
    assert hv["methods"]["pareto_mtl"]["loss_space"] == pytest.approx(
        hypervolume(np.array(losses), [3, 3, 3]))
    with pytest.raises(ValueError, match="coordinates"):
        reports.front_hypervolumes(metrics, error_reference=(1, 1))


def test_load_run_metrics(fake_metrics, tmp_path):
    run_dir = tmp_path / "gs"
    run_dir.mkdir()
    (run_dir / "metrics.json").write_text(json.dumps(fake_metrics["gs"]))
    assert reports.load_run_metrics({"gs": str(run_dir)}) == {"gs": fake_metrics["gs"]}
    with pytest.raises(FileNotFoundError, match="uwl"):
        reports.load_run_metrics({"uwl": str(tmp_path / "missing")})


# ----------------------------------------------------------------------------- examples
def _event_image_tags(directory: str) -> set[str]:
    tags = set()
    for name in os.listdir(directory):
        if not name.startswith("events.out.tfevents"):
            continue
        for event in tf.compat.v1.train.summary_iterator(os.path.join(directory, name)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "images":
                    tags.add(value.tag)
    return tags


def test_adversarial_examples_png_and_tensorboard(tiny_data, tmp_path, fake_metrics):
    from mtl_tf.models import build_network
    from mtl_tf.training.trainer import MultiTaskTrainer
    from mtl_tf.weighting.fixed import FixedWeighting

    keras.utils.set_random_seed(0)
    enc, heads = build_network(backbone="lenet", encoder="deterministic",
                               input_shape=(36, 36, 1), num_classes=[10, 10],
                               task_names=tiny_data.task_names)
    model = MultiTaskTrainer(enc, heads, FixedWeighting(2))
    tb_dir = str(tmp_path / "tb")
    path = reports.plot_adversarial_examples(
        model, tiny_data.test_images[:4], tiny_data.label_matrix("test")[:4], tiny_data.task_names,
        (0.0, 0.1, 0.3), str(tmp_path / "examples.png"), tensorboard_dir=tb_dir,
    )
    _assert_png(path)
    assert _event_image_tags(tb_dir) == {
        "adversarial_examples/eta_0", "adversarial_examples/eta_0.1",
        "adversarial_examples/eta_0.3", "adversarial_examples/grid",
    }
    # A second call replaces the event file instead of piling up copies.
    reports.plot_adversarial_examples(
        model, tiny_data.test_images[:2], tiny_data.label_matrix("test")[:2], tiny_data.task_names,
        (0.1,), path, tensorboard_dir=tb_dir,
    )
    assert len([f for f in os.listdir(tb_dir) if f.startswith("events")]) == 1
    _no_temp_files(str(tmp_path))

    # Through write_report: one row per eta of the table (0, 0.05, 0.1, 0.3).
    paths = reports.write_report(
        fake_metrics, str(tmp_path / "report"), example_model=model,
        example_images=tiny_data.test_images[:3], example_labels=tiny_data.label_matrix("test")[:3],
    )
    _assert_png(paths["examples.png"])
    assert _event_image_tags(paths["tensorboard"]) == {
        f"adversarial_examples/eta_{e}" for e in ETAS} | {"adversarial_examples/grid"}
    with open(paths["README.md"], encoding="utf-8") as f:
        assert "examples.png" in f.read()
    _no_temp_files(str(tmp_path))


# ----------------------------------------------------------------------------- experiments
def test_every_dataset_has_full_and_quick_experiments():
    for dataset in ("multi_mnist", "multi_fashion", "multi_fashion_mnist", "mtfl"):
        full, quick = EXPERIMENTS[dataset], EXPERIMENTS[f"quick_{dataset}"]
        assert full.dataset == quick.dataset == dataset
        assert full.methods == quick.methods
        for field in ("train_size", "epochs"):
            assert quick.overrides[field] < full.overrides[field], (dataset, field)
        # MTFL's full test set is already MTVIB's small 1,000 images.
        assert quick.overrides["test_size"] <= full.overrides["test_size"]
        assert estimate_seconds(quick)["total"] < 30 * 60
        assert estimate_seconds(full)["total"] > 30 * 60
        assert full.method_overrides["gs"]["grid_points"] > 0
        assert quick.method_overrides["gs"]["grid_points"] == 0
    mnist = EXPERIMENTS["multi_mnist"]
    assert mnist.methods == ("stl", "stvib", "gs", "uwl", "mtvib", "gradnorm", "mgda",
                             "pareto_mtl")
    assert (mnist.overrides["train_size"], mnist.overrides["test_size"],
            mnist.overrides["epochs"], mnist.overrides["batch_size"],
            mnist.overrides["learning_rate"]) == (120_000, 10_000, 200, 200, 1e-4)
    assert mnist.method_overrides["pareto_mtl"]["num_preferences"] == 5
    # Every experiment's configs are valid RunConfigs.
    for exp in EXPERIMENTS.values():
        for method in exp.methods:
            config = method_config(exp, method, RunConfig(), "/r")
            assert config.output_dir == os.path.join("/r", "runs", method)


def test_unknown_experiment_and_bad_overrides():
    with pytest.raises(ValueError, match="quick_multi_mnist"):
        run_experiment("nope", base_config=RunConfig(), report_dir="/nonexistent",
                       run=lambda c: {})
    with pytest.raises(ValueError, match="unknown RunConfig"):
        Experiment("bad", "multi_mnist", ("gs",), {"epoch": 1})
    with pytest.raises(ValueError, match="may not set"):
        Experiment("bad", "multi_mnist", ("gs",), {"method": "uwl"})


def test_run_experiment_end_to_end_and_resume(tiny_data, tmp_path, monkeypatch):
    from mtl_tf.orchestration.runs import run as train_run

    monkeypatch.setitem(EXPERIMENTS, "tiny", Experiment(
        "tiny", "multi_mnist", ("gs", "uwl"),
        {"backbone": "lenet", "epochs": 1, "batch_size": 50, "verbose": 0,
         "train_size": 400, "test_size": 200},
        "test experiment", paper_table="mtvib_table_iii",
    ))
    calls: list[str] = []

    def run(config: RunConfig) -> dict:
        calls.append(config.method)
        return train_run(config, data=tiny_data)

    report_dir = str(tmp_path / "report")
    base = RunConfig(etas=(0.0, 0.1, 0.3)) if "etas" in {
        f.name for f in dataclasses.fields(RunConfig)} else RunConfig()
    result = run_experiment("tiny", base_config=base, report_dir=report_dir, run=run)
    assert calls == ["gs", "uwl"]
    paths = result["report"]
    for name in ("table.md", "table.csv", "front.png", "hypervolume.json", "README.md"):
        assert os.path.exists(paths[name])
    with open(paths["paper_comparison.md"], encoding="utf-8") as f:
        # GS's clean top-left accuracy beside MTVIB Table III's 94.7 %.
        gs_clean = 100 * result["metrics"]["gs"]["accuracy"]["top_left"]
        assert f"| top_left | 0 | {gs_clean:.1f} (94.7) |" in f.read()
    _no_temp_files(report_dir)
    header, rows = reports.robustness_table(result["metrics"])
    assert header == ["task", "eta", "GS", "UWL"]
    if any("robustness" in m for m in result["metrics"].values()):
        # The robustness section (FGSM at every eta): the full table and both plots.
        assert {r[1] for r in rows} == {"0", "0.1", "0.3"}
        assert all(c != reports.NA for r in rows for c in r)
        _assert_png(paths["robustness.png"])
        _assert_png(paths["joint_accuracy.png"])
    else:
        assert {r[1] for r in rows} == {"0"}
    gs = result["metrics"]["gs"]
    assert rows[0][2] == f"{100 * gs['accuracy']['top_left']:.1f}"

    # Rerun: both runs are finished, nothing is trained again, same report.
    before = copy.deepcopy(result["metrics"])
    again = run_experiment("tiny", base_config=base, report_dir=report_dir, run=run)
    assert calls == ["gs", "uwl"]
    assert again["metrics"] == json.loads(json.dumps(before))

    # --methods: a subset reuses the finished runs and reports only those methods ...
    subset = run_experiment("tiny", base_config=base, report_dir=report_dir, run=run,
                            methods=("uwl",))
    assert calls == ["gs", "uwl"]
    assert list(subset["metrics"]) == ["uwl"]
    assert reports.robustness_table(subset["metrics"])[0] == ["task", "eta", "UWL"]
    # ... trains only those under another seed, with the same per-method config ...
    other = str(tmp_path / "seed1")
    seeded = dataclasses.replace(base, seed=1)
    run_experiment("tiny", base_config=seeded, report_dir=other, run=run, methods=("uwl",))
    assert calls == ["gs", "uwl", "uwl"]
    assert os.listdir(os.path.join(other, "runs")) == ["uwl"]
    with open(os.path.join(other, "runs", "uwl", "config.json"), encoding="utf-8") as f:
        assert json.load(f)["seed"] == 1
    # ... and a method the experiment does not have is refused before any training.
    with pytest.raises(ValueError, match="no method.*mgda.*subset of gs, uwl"):
        run_experiment("tiny", base_config=base, report_dir=str(tmp_path / "x"), run=run,
                       methods=("uwl", "mgda"))
    assert calls == ["gs", "uwl", "uwl"] and not os.path.exists(tmp_path / "x")


# ----------------------------------------------------------------------------- paper tables
def test_paper_comparison_puts_published_numbers_beside_ours(fake_metrics):
    from mtl_tf.evaluation.paper_tables import PAPER_TABLES, comparison_table

    table = PAPER_TABLES["mtvib_table_iii"]
    header, rows = comparison_table(fake_metrics, table)
    ours_header, ours_rows = reports.robustness_table(fake_metrics)
    assert header == ours_header
    by_key = {(r[0], r[1]): r for r in rows}
    for task in ("top_left", "bottom_right"):
        for eta in ETAS:
            ours = {(r[0], r[1]): r for r in ours_rows}[(task, eta)]
            row = by_key[(task, eta)]
            for method in ("gs", "mtvib", "stl"):
                col = header.index(reports.DISPLAY_NAMES[method])
                published = table.accuracy[task][method][eta]
                assert row[col] == f"{ours[col]} ({published:.1f})"
    # The paper's task 1 at eta 0.3 (Table III, GS): 76.4 %.
    assert table.accuracy["top_left"]["gs"]["0.3"] == 76.4
    # Pareto MTL's preferences and UWL's n/a cells: ours alone; joint rows: no paper number.
    pref = header.index("Pareto MTL (pref 0)")
    assert all("(" not in r[pref] for r in rows)
    assert all("(" not in c for r in rows if r[0] == "joint" for c in r)
    with pytest.raises(ValueError, match="has tasks"):
        comparison_table(fake_metrics, PAPER_TABLES["mtvib_table_v"])


def test_experiment_paper_tables_exist_and_match_their_tasks():
    from mtl_tf.data.datasets import _TASK_NAMES as MULTI_TASKS
    from mtl_tf.data.mtfl_annotations import TASK_NAMES as MTFL_TASKS
    from mtl_tf.evaluation.paper_tables import PAPER_TABLES

    with_table = {name: exp for name, exp in EXPERIMENTS.items() if exp.paper_table}
    assert {exp.dataset for exp in with_table.values()} == {
        "multi_mnist", "multi_fashion", "mtfl"}
    for exp in with_table.values():
        table = PAPER_TABLES[exp.paper_table]
        tasks = MTFL_TASKS if exp.dataset == "mtfl" else MULTI_TASKS
        assert list(table.tasks) == list(tasks)
        for task in table.tasks:
            assert set(table.accuracy[task]) == {"stl", "stvib", "gs", "uwl", "mtvib"}
            assert all(len(v) == 7 for v in table.accuracy[task].values())


def test_same_data_dir_spelled_differently_is_the_same_run(tmp_path, monkeypatch):
    # A run made with an absolute --data_dir is resumed / reused by a rerun that spells the
    # same directory relatively (the README's ../shared/data), and refused for another one.
    from mtl_tf.orchestration.runs import check_run_dir
    from mtl_tf.run_dir import RunDirConflictError, finished_metrics
    from mtl_tf.run_dir import config_dict as _config_dict

    data = tmp_path / "shared" / "data"
    data.mkdir(parents=True)
    (tmp_path / "other").mkdir()
    repo = tmp_path / "repo"
    repo.mkdir()
    monkeypatch.chdir(repo)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    written = RunConfig(data_dir=str(data), output_dir=str(run_dir))
    (run_dir / "config.json").write_text(json.dumps(_config_dict(written)))
    (run_dir / "metrics.json").write_text(json.dumps({"accuracy": {"t": 0.5}}))
    relative = dataclasses.replace(written, data_dir="../shared/data")
    check_run_dir(str(run_dir), relative)  # no error
    assert finished_metrics(relative) == {"accuracy": {"t": 0.5}}
    moved = dataclasses.replace(written, data_dir="../other")
    with pytest.raises(RunDirConflictError, match="data_dir"):
        check_run_dir(str(run_dir), moved)
    assert finished_metrics(moved) is None
