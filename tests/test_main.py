"""main.py end to end, as a user runs it: real subprocesses, real files."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from mtl_tf.evaluation.schema import validate_metrics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _main(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, os.path.join(ROOT, "main.py"), *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)


def _tiny_args(idx_dir: str, out: str, *extra: str) -> list[str]:
    return [f"--data_dir={idx_dir}", "--train_size=2000", "--test_size=100", "--batch_size=50",
            "--backbone=lenet", "--learning_rate=1e-2", f"--output_dir={out}", "--verbose=0",
            "--export_dir=", *extra]


def _kill_when_checkpointed(args: list[str], checkpoint_dir: str) -> None:
    """Starts main.py with `args` and SIGKILLs it once `checkpoint_dir` has a checkpoint
    the manager would resume from: its state file names it (the shard files alone appear
    a moment earlier, and a kill then restarts that model from scratch)."""
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "main.py"), *args], cwd=ROOT,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while tf.train.latest_checkpoint(checkpoint_dir) is None:
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline, f"no checkpoint appeared in {checkpoint_dir}"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def _scalar_tags(event_dir: str) -> set[str]:
    tags = set()
    for path in glob.glob(os.path.join(event_dir, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update(v.tag for v in event.summary.value)
    return tags


def test_main_end_to_end_writes_metrics_flags_events_checkpoints(tiny_idx_dir, tmp_path):
    out = str(tmp_path / "run")
    result = _main(*_tiny_args(tiny_idx_dir, out, "--epochs=2", "--task_weights=0.4,0.6"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Test accuracy" in result.stdout and "top_left" in result.stdout

    with open(os.path.join(out, "metrics.json")) as f:
        metrics = json.load(f)
    validate_metrics(metrics)
    assert metrics["method"] == "gs" and metrics["tasks"] == ["top_left", "bottom_right"]
    assert metrics["epochs"] == 2 and metrics["test_size"] == 100
    assert metrics["models"][0]["task_weights"] == pytest.approx(
        {"top_left": 0.4, "bottom_right": 0.6})
    # Learnable generated data: the model must have learned something real.
    assert min(metrics["accuracy"].values()) > 0.3, metrics["accuracy"]

    # TensorBoard: per-task loss, accuracy and weights for training. No validation curves:
    # the run has no validation split, and the test set is never used as one.
    train_tags = _scalar_tags(os.path.join(out, "tensorboard", "train"))
    assert {"epoch_top_left_loss", "epoch_bottom_right_accuracy",
            "epoch_top_left_weight"} <= train_tags, train_tags
    assert not os.path.exists(os.path.join(out, "tensorboard", "validation"))
    assert not any(k.startswith("val_") for k in
                   json.load(open(os.path.join(out, "last_epoch_logs.json"))))
    checkpoints = glob.glob(os.path.join(out, "checkpoints", "*.index"))
    assert sorted(os.path.basename(p) for p in checkpoints) == ["ckpt-1.index", "ckpt-2.index"]

    # flags.txt is a flagfile: replaying it into a new directory reproduces the metrics.
    flagfile = os.path.join(out, "flags.txt")
    text = open(flagfile).read()
    assert "--task_weights=0.4,0.6" in text and "--epochs=2" in text
    replay = str(tmp_path / "replay")
    result = _main(f"--flagfile={flagfile}", f"--output_dir={replay}", "--export_dir=")
    assert result.returncode == 0, result.stderr[-3000:]
    with open(os.path.join(replay, "metrics.json")) as f:
        replayed = json.load(f)
    assert replayed["accuracy"] == metrics["accuracy"]
    assert replayed["loss"] == metrics["loss"]


def test_killed_run_resumes_from_its_last_checkpoint(tiny_idx_dir, tmp_path):
    """SIGKILL after the first epoch's checkpoint; the same command then resumes and ends
    with the metrics of an uninterrupted run."""
    args = ["--epochs=3"]
    full = str(tmp_path / "full")
    assert _main(*_tiny_args(tiny_idx_dir, full, *args)).returncode == 0

    out = str(tmp_path / "killed")
    _kill_when_checkpointed(_tiny_args(tiny_idx_dir, out, *args), os.path.join(out, "checkpoints"))
    assert not os.path.exists(os.path.join(out, "metrics.json"))

    result = _main(*_tiny_args(tiny_idx_dir, out, *args))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Resuming" in result.stderr
    with open(os.path.join(full, "metrics.json")) as f:
        expected = json.load(f)
    with open(os.path.join(out, "metrics.json")) as f:
        resumed = json.load(f)
    assert resumed["accuracy"] == expected["accuracy"]
    assert resumed["loss"] == expected["loss"]


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--method=nope"], "--method"),
        (["--dataset=cifar"], "--dataset"),
        (["--task_weights=a,b"], "--task_weights"),
        (["--task_weights=0.2,0.3,0.5"], "--task_weights has 3 values"),
        (["--data_dir=/nonexistent/dir", "--data_source=dir"], "/nonexistent/dir"),
    ],
)
def test_bad_input_gives_one_clear_line_and_writes_nothing(tmp_path, args, expected):
    out = tmp_path / "run"
    result = _main(f"--output_dir={out}", "--verbose=0", "--export_dir=", *args, timeout=120)
    assert result.returncode != 0
    assert expected in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_output_dir_with_another_run_is_refused(tiny_idx_dir, tmp_path):
    out = str(tmp_path / "run")
    assert _main(*_tiny_args(tiny_idx_dir, out, "--epochs=1")).returncode == 0
    before = open(os.path.join(out, "metrics.json")).read()
    result = _main(*_tiny_args(tiny_idx_dir, out, "--epochs=1", "--seed=7"))
    assert result.returncode == 2
    assert "holds a run with different settings (seed: 0 -> 7)" in result.stderr
    assert open(os.path.join(out, "metrics.json")).read() == before


def test_training_exports_for_serving_and_export_only_adds_a_version(tiny_idx_dir, tmp_path):
    out, export_dir = str(tmp_path / "run"), str(tmp_path / "models")
    result = _main(*_tiny_args(tiny_idx_dir, out, "--epochs=1", f"--export_dir={export_dir}"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert os.path.exists(os.path.join(export_dir, "gs", "1", "saved_model.pb"))
    config_text = open(os.path.join(export_dir, "models.config")).read()
    assert 'name: "gs"' in config_text and 'base_path: "/models/gs"' in config_text

    result = _main("--export_only", f"--run_dir={out}", f"--export_dir={export_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(os.listdir(os.path.join(export_dir, "gs"))) == ["1", "2"]
    loaded = tf.saved_model.load(os.path.join(export_dir, "gs", "2"))
    outputs = loaded.signatures["serving_default"](image=tf.zeros((2, 36, 36, 1)))
    assert outputs["top_left_probabilities"].shape == (2, 10)

    result = _main("--export_only", f"--export_dir={export_dir}")
    assert result.returncode != 0 and "--export_only needs --run_dir" in result.stderr


def test_eval_only_rescores_a_run_and_a_saved_model_identically(tiny_idx_dir, tmp_path):
    out, export_dir = str(tmp_path / "run"), str(tmp_path / "models")
    args = _tiny_args(tiny_idx_dir, out, "--epochs=2", "--etas=0,0.1",
                      f"--export_dir={export_dir}")
    assert _main(*args).returncode == 0
    with open(os.path.join(out, "metrics.json")) as f:
        trained = json.load(f)
    robustness = trained["robustness"]
    assert robustness["attack"] == "fgsm" and set(robustness["accuracy"]) == {"0", "0.1"}
    assert robustness["accuracy"]["0"] == trained["accuracy"]  # eta 0 is the clean score
    # TensorBoard scalars of the robustness curve.
    assert "fgsm/joint_accuracy" in _scalar_tags(os.path.join(out, "tensorboard", "robustness"))

    # Re-scoring the finished run with a new attack keeps its clean numbers.
    result = _main("--eval_only", f"--run_dir={out}", "--etas=0,0.1", "--attack=pgd",
                   "--pgd_steps=3")
    assert result.returncode == 0, result.stderr[-3000:]
    with open(os.path.join(out, "metrics.json")) as f:
        rescored = json.load(f)
    assert rescored["accuracy"] == trained["accuracy"]
    assert rescored["robustness"]["attack"] == "pgd"
    assert rescored["robustness"]["accuracy"]["0.1"]["top_left"] <= \
        robustness["accuracy"]["0"]["top_left"]

    # The exported SavedModel, scored on the same test pairs, gives the same numbers.
    eval_dir = str(tmp_path / "eval")
    result = _main("--eval_only", f"--saved_model={export_dir}/gs/1", f"--data_dir={tiny_idx_dir}",
                   "--train_size=2000", "--test_size=100", "--etas=0,0.1",
                   f"--output_dir={eval_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    with open(os.path.join(eval_dir, "saved_model_eval.json")) as f:
        served = json.load(f)
    assert served["accuracy"] == pytest.approx(trained["accuracy"], abs=0.011)
    assert served["robustness"]["accuracy"]["0.1"] == pytest.approx(
        robustness["accuracy"]["0.1"], abs=0.021)


def test_killed_pareto_mtl_resumes_at_its_preference(tiny_idx_dir, tmp_path):
    """SIGKILL while the second preference trains: the rerun keeps the first preference's
    model as it was (not retrained), finishes the rest, and reproduces an uninterrupted
    run; the two metrics.json files are identical but for the wall time."""
    args = ["--method=pareto_mtl", "--num_preferences=3", "--epochs=2", "--etas=0,0.1"]
    full = str(tmp_path / "full")
    assert _main(*_tiny_args(tiny_idx_dir, full, *args)).returncode == 0

    out = str(tmp_path / "killed")
    _kill_when_checkpointed(_tiny_args(tiny_idx_dir, out, *args),
                            os.path.join(out, "models", "preference_1", "checkpoints"))
    first = os.path.join(out, "models", "preference_0", "checkpoints")
    first_files = {p: os.path.getmtime(p) for p in glob.glob(os.path.join(first, "*"))}

    result = _main(*_tiny_args(tiny_idx_dir, out, *args))
    assert result.returncode == 0, result.stderr[-3000:]
    assert {p: os.path.getmtime(p) for p in glob.glob(os.path.join(first, "*"))} == first_files
    with open(os.path.join(full, "metrics.json")) as f:
        expected = json.load(f)
    with open(os.path.join(out, "metrics.json")) as f:
        resumed = json.load(f)
    for metrics in (expected, resumed):
        metrics.pop("wall_time_seconds")
    assert resumed == expected


def test_experiment_command_prints_its_report_and_the_papers_numbers(
        tiny_idx_dir, tmp_path, monkeypatch, capsys):
    # main.py --experiment, in process (a tiny experiment cannot be named on a command
    # line): the printed report is the README, the table and MTVIB Table III beside ours.
    import dataclasses

    import main
    from mtl_tf.config import RunConfig
    from mtl_tf.orchestration.experiment_catalog import Experiment
    from mtl_tf.orchestration.experiments import EXPERIMENTS

    monkeypatch.setitem(EXPERIMENTS, "tiny", Experiment(
        "tiny", "multi_mnist", ("gs", "uwl"),
        {"backbone": "lenet", "epochs": 1, "batch_size": 50, "verbose": 0,
         "train_size": 400, "test_size": 100, "learning_rate": 1e-2},
        "test experiment", paper_table="mtvib_table_iii"))
    config = dataclasses.replace(RunConfig(), data_dir=tiny_idx_dir, etas=(0.0, 0.1))
    report_dir = str(tmp_path / "report")
    main._experiment(config, "tiny", report_dir, ("uwl",))
    printed = capsys.readouterr().out
    assert os.listdir(os.path.join(report_dir, "runs")) == ["uwl"]
    with open(os.path.join(report_dir, "runs", "uwl", "metrics.json"), encoding="utf-8") as f:
        uwl = json.load(f)
    clean = 100 * uwl["accuracy"]["top_left"]
    assert "| method | epochs | train pairs | test pairs | models | wall time (s) |" in printed
    assert f"| top_left | 0 | {clean:.1f} |" in printed  # the report's table
    assert f"| top_left | 0 | {clean:.1f} (95.0) |" in printed  # beside Table III's UWL
    assert "HV error space" in printed
    assert os.path.exists(os.path.join(report_dir, "examples.png"))
