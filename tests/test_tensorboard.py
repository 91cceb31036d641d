"""TensorBoard as a user sees it: a tiny real experiment (a 2-point weight grid and Pareto
MTL with 2 preferences, LeNet, 1 epoch, on generated IDX files), then a real `tensorboard`
server on its report directory, asked through the HTTP API its dashboards use: the
HParams plugin lists every model as a row with its hyperparameters and final metrics,
the per-step training curves are served at the chosen frequency, and the accuracy front
and robustness curves are images."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from mtl_tf.config import RunConfig
from mtl_tf.orchestration import experiments
from mtl_tf.orchestration.experiments import Experiment, run_experiment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TASKS = ("top_left", "bottom_right")
ETAS = (0.0, 0.1, 0.3)
# 200 training pairs in batches of 50: 4 steps per epoch; a point every 2 steps.
TRAIN_SIZE, BATCH_SIZE, UPDATE_FREQ = 200, 50, 2
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ALL_STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def _post_json(url: str, body: dict) -> dict:
    # As the HParams dashboard sends it: the request proto as JSON in a text/plain body.
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@contextlib.contextmanager
def tensorboard_server(logdir: str):
    """A real `tensorboard --logdir` on a free localhost port; yields its base URL."""
    binary = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--logdir", logdir, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(f"tensorboard exited: {process.stderr.read().decode()}")
            try:
                _get(base + "/data/plugins_listing")
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        yield base
    finally:
        process.kill()
        process.wait(timeout=30)
        process.stderr.close()


def _wait_for(fetch, ready, timeout: float = 60.0):
    """Polls `fetch()` until `ready(result)`: the server loads the logdir in the background."""
    deadline = time.monotonic() + timeout
    while True:
        result = fetch()
        if ready(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


@pytest.fixture(scope="module")
def served(tiny_idx_dir, tmp_path_factory):
    """(report_dir, metrics by method, server URL) of a tiny experiment."""
    report_dir = str(tmp_path_factory.mktemp("tb") / "report")
    tiny = Experiment(
        "tiny_tensorboard", "multi_mnist", ("gs", "pareto_mtl"),
        {"backbone": "lenet", "epochs": 1, "batch_size": BATCH_SIZE, "verbose": 0,
         "train_size": TRAIN_SIZE, "test_size": 100, "val_size": 100},
        "a 2-point grid and 2 Pareto MTL preferences",
        {"gs": {"grid_points": 2}, "pareto_mtl": {"num_preferences": 2}},
    )
    base = RunConfig(data_dir=tiny_idx_dir, data_source="dir", etas=ETAS,
                     tb_update_freq=str(UPDATE_FREQ))
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(experiments.EXPERIMENTS, tiny.name, tiny)
        result = run_experiment(tiny.name, base_config=base, report_dir=report_dir)
    with tensorboard_server(report_dir) as url:
        yield report_dir, result["metrics"], url


def _session_groups(url: str, col_params: list | None = None) -> dict:
    return _post_json(url + "/data/plugin/hparams/session_groups", {
        "experimentName": "", "allowedStatuses": ALL_STATUSES,
        "colParams": col_params or [], "startIndex": 0, "sliceSize": 100})


def _expected_rows(metrics_by_method: dict) -> dict[str, dict]:
    """Session (run) name -> the model's entry in metrics.json."""
    rows = {}
    for index, point in enumerate(metrics_by_method["gs"]["grid"]["points"]):
        rows[f"runs/gs/grid/{index}/tensorboard/hparams"] = point
    for model in metrics_by_method["pareto_mtl"]["models"]:
        rows[f"runs/pareto_mtl/{model['directory']}/tensorboard/hparams"] = model
    return rows


def test_hparams_dashboard_lists_every_model_with_its_settings_and_results(served):
    _, metrics_by_method, url = served
    expected = _expected_rows(metrics_by_method)
    assert len(expected) == 4  # 2 grid points + 2 preferences
    groups = _wait_for(lambda: _session_groups(url),
                       lambda r: r.get("totalSize") == len(expected))["sessionGroups"]
    by_session = {g["sessions"][0]["name"]: g for g in groups}
    assert set(by_session) == set(expected)

    experiment = _post_json(url + "/data/plugin/hparams/experiment", {"experimentName": ""})
    hparam_names = {h["name"] for h in experiment["hparamInfos"]}
    assert {"method", "model", "encoder", "weighting", "backbone", "learning_rate",
            "optimizer", "epochs", "batch_size", "seed", "preference/top_left",
            "preference/bottom_right", "weight/top_left", "weight/bottom_right"} <= hparam_names
    metric_tags = {m["name"]["tag"] for m in experiment["metricInfos"]}
    for eta in ("0", "0.1", "0.3"):
        assert {f"test_fgsm/eta_{eta}/{t}_accuracy" for t in TASKS} <= metric_tags
        assert f"test_fgsm/eta_{eta}/joint_accuracy" in metric_tags
    assert {"test/top_left_accuracy", "test/bottom_right_accuracy",
            "test/joint_accuracy"} <= metric_tags

    best = metrics_by_method["gs"]["grid"]["best_index"]
    for session, entry in expected.items():
        group = by_session[session]
        hparams, values = group["hparams"], {m["name"]["tag"]: m["value"]
                                             for m in group["metricValues"]}
        assert hparams["learning_rate"] == pytest.approx(1e-4)
        assert (hparams["backbone"], hparams["optimizer"], hparams["encoder"]) == (
            "lenet", "adam", "deterministic")
        assert (hparams["epochs"], hparams["batch_size"], hparams["seed"]) == (1, BATCH_SIZE, 0)
        # The row's name says which trade-off it is.
        if "/grid/" in session:
            index = int(session.split("/")[3])
            weights = [round(entry["task_weights"][t], 6) for t in TASKS]
            assert hparams["method"] == "gs" and hparams["weighting"] == "fixed"
            assert [hparams[f"weight/{t}"] for t in TASKS] == pytest.approx(weights)
            assert hparams["grid_selected"] is (index == best)
            assert group["name"].startswith(f"gs w=({weights[0]:.3g}, {weights[1]:.3g})")
            assert values["validation/joint_accuracy"] == pytest.approx(
                entry["validation"]["joint_accuracy"])
        else:
            u = [round(v, 6) + 0.0 for v in entry["preference"]]
            assert hparams["method"] == "pareto_mtl"
            assert [hparams[f"preference/{t}"] for t in TASKS] == pytest.approx(u)
            assert group["name"].startswith(
                f"pareto_mtl {entry['name']} u=({u[0]:.3g}, {u[1]:.3g})")
        # Final metrics: exactly the numbers in metrics.json.
        for task in TASKS:
            assert values[f"test/{task}_accuracy"] == pytest.approx(entry["accuracy"][task])
        assert values["test/joint_accuracy"] == pytest.approx(entry["joint_accuracy"])
        robustness = entry["robustness"]
        for eta in ("0", "0.1", "0.3"):
            for task in TASKS:
                assert values[f"test_fgsm/eta_{eta}/{task}_accuracy"] == pytest.approx(
                    robustness["accuracy"][eta][task])
            assert values[f"test_fgsm/eta_{eta}/joint_accuracy"] == pytest.approx(
                robustness["joint_accuracy"][eta])

    # Sorted by a metric, as the dashboard's column sort asks for it.
    tag = "test_fgsm/eta_0.3/top_left_accuracy"
    ordered = _session_groups(url, [{"metric": {"group": "", "tag": tag},
                                     "order": "ORDER_DESC"}])["sessionGroups"]
    column = [next(m["value"] for m in g["metricValues"] if m["name"]["tag"] == tag)
              for g in ordered]
    assert column == sorted(column, reverse=True) and len(column) == 4


def test_training_curves_are_served_per_step_at_the_chosen_frequency(served):
    _, _, url = served
    run = "runs/pareto_mtl/models/preference_1/tensorboard/train"
    tags = _wait_for(lambda: json.loads(_get(url + "/data/plugin/scalars/tags")),
                     lambda r: run in r)
    assert {"epoch_loss", "epoch_joint_accuracy", "batch_loss", "batch_top_left_weight",
            "batch_joint_accuracy"} <= set(tags[run])
    query = urllib.parse.urlencode({"run": run, "tag": "batch_loss"})
    points = json.loads(_get(f"{url}/data/plugin/scalars/scalars?{query}"))
    steps_per_epoch = TRAIN_SIZE // BATCH_SIZE
    assert [step for _, step, _ in points] == list(
        range(UPDATE_FREQ, steps_per_epoch + 1, UPDATE_FREQ))
    # The robustness curves and every grid point's curves are scalars too.
    assert "fgsm/joint_accuracy" in tags["runs/gs/grid/0/tensorboard/robustness"]
    assert "batch_loss" in tags["runs/gs/grid/1/tensorboard/train"]


def test_front_and_robustness_curves_are_images(served):
    _, _, url = served
    figures = {"tensorboard/figures", "runs/pareto_mtl/tensorboard/figures",
               "runs/gs/tensorboard/figures"}
    tags = _wait_for(lambda: json.loads(_get(url + "/data/plugin/images/tags")),
                     lambda r: figures <= set(r))
    for run in figures:
        assert {"accuracy_front", "robustness_curves",
                "joint_accuracy_under_attack"} <= set(tags[run]), run
    query = urllib.parse.urlencode({"run": "tensorboard/figures", "tag": "accuracy_front"})
    (image,) = json.loads(_get(f"{url}/data/plugin/images/images?{query}"))
    png = _get(f"{url}/data/plugin/images/individualImage?{image['query']}")
    assert png.startswith(PNG_MAGIC) and len(png) > 5000


def test_per_step_curves_continue_across_a_resume(tiny_data, tmp_path):
    """A resumed run numbers its steps after the first run's, so the curve is one line."""
    from tensorboard.backend.event_processing import event_accumulator

    from mtl_tf.orchestration.runs import run

    out = str(tmp_path / "run")
    config = RunConfig(method="gs", backbone="lenet", epochs=1, batch_size=100,
                       train_size=400, test_size=100, etas=(), verbose=0, output_dir=out,
                       tb_update_freq="batch")
    run(config, data=tiny_data)
    run(dataclasses.replace(config, epochs=2), data=tiny_data)
    accumulator = event_accumulator.EventAccumulator(os.path.join(out, "tensorboard", "train"))
    accumulator.Reload()
    steps = [event.step for event in accumulator.Tensors("batch_loss")]
    assert steps == list(range(1, 9))  # 4 steps per epoch, 2 epochs, none written twice


def test_update_frequency_flag():
    def main(*args):
        return subprocess.run([sys.executable, os.path.join(ROOT, "main.py"), *args],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)

    help_text = main("--help").stdout
    assert "--tb_update_freq" in help_text
    bad = main("--tb_update_freq=0")
    assert bad.returncode == 2
    assert "--tb_update_freq must be epoch, batch or a positive integer" in bad.stderr


def test_rows_carry_only_the_settings_that_apply():
    """A VIB method's row has beta, a GradNorm row its alpha and no beta; single-task
    methods are one row for the run (their models together are one answer)."""
    from mtl_tf.evaluation.tensorboard_summaries import session_rows

    def metrics(method, encoder, weighting, models, top=None):
        return {"method": method, "encoder": encoder, "weighting": weighting,
                "tasks": list(TASKS), "epochs": 3, "models": models, **(top or {})}

    shared = {"name": "m", "directory": ".", "accuracy": {"top_left": 0.9, "bottom_right": 0.8},
              "joint_accuracy": 0.75, "task_weights": {"top_left": 1.2, "bottom_right": 0.8}}
    (mtvib,) = session_rows(RunConfig(method="mtvib", beta=0.01),
                            metrics("mtvib", "vib", "uncertainty", [dict(shared, name="mtvib")]))
    assert (mtvib.hparams["beta"], mtvib.hparams["latent_dim"]) == (0.01, 256)
    assert "gradnorm_alpha" not in mtvib.hparams and mtvib.step == 3
    assert mtvib.trial_id.startswith("mtvib, seed 0 [")
    assert mtvib.metrics["task_weight/top_left"] == 1.2
    (gradnorm,) = session_rows(RunConfig(method="gradnorm"),
                               metrics("gradnorm", "deterministic", "gradnorm", [shared]))
    assert gradnorm.hparams["gradnorm_alpha"] == 1.5 and "beta" not in gradnorm.hparams

    # Data settings: MTFL's side and framing (runs that differ only in framing are told
    # apart); none for the 36x36 MultiMNIST family; the side of csv:/tfds: images.
    assert "image_size" not in mtvib.hparams and "mtfl_framing" not in mtvib.hparams
    (framed,) = session_rows(
        RunConfig(method="gradnorm", dataset="mtfl", image_size=36, mtfl_framing="test"),
        metrics("gradnorm", "deterministic", "gradnorm", [shared]))
    assert (framed.hparams["image_size"], framed.hparams["mtfl_framing"]) == (36, "test")
    (own,) = session_rows(RunConfig(method="gradnorm", dataset="tfds:x", image_size=24),
                          metrics("gradnorm", "deterministic", "gradnorm", [shared]))
    assert own.hparams["image_size"] == 24 and "mtfl_framing" not in own.hparams

    per_task = [{"name": t, "directory": f"models/{t}", "accuracy": {t: 0.9},
                 "joint_accuracy": 0.9} for t in TASKS]
    top = {"accuracy": {"top_left": 0.9, "bottom_right": 0.9}, "joint_accuracy": 0.82,
           "robustness": {"attack": "pgd", "accuracy": {"0.1": {"top_left": 0.5,
                                                                "bottom_right": 0.4}},
                          "joint_accuracy": None}}
    (stl,) = session_rows(RunConfig(method="stl"),
                          metrics("stl", "deterministic", "fixed", per_task, top))
    assert stl.directory == "." and stl.metrics["test/joint_accuracy"] == 0.82
    assert stl.metrics["test_pgd/eta_0.1/bottom_right_accuracy"] == 0.4
    assert "test_pgd/eta_0.1/joint_accuracy" not in stl.metrics  # tasks attacked apart
