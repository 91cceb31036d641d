"""Evaluation protocols end to end: chosen at training or by re-scoring a finished run
(`--mode=eval --run_dir`), written beside the standard result, and bad values refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mtl_tf.config import RunConfig
from mtl_tf.orchestration import runs as run_lib
from mtl_tf.orchestration.eval_only import evaluate_run
from mtl_tf.run_dir.rules import EVALUATION_FIELDS, REEVALUATION_FIELDS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROTOCOL_FIELDS = ("vib_prediction", "vib_prediction_samples", "attack_loss", "attack_ce",
                   "eta_units")


def _main(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, os.path.join(ROOT, "main.py"), *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)


def _read(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def _config(tmp_path, method, **kw):
    defaults = dict(method=method, backbone="lenet", epochs=1, batch_size=50, verbose=0,
                    learning_rate=3e-3, etas=(0.0, 0.1), output_dir=str(tmp_path / method))
    defaults.update(kw)
    return RunConfig(**defaults)


def test_protocol_fields_are_evaluation_settings():
    # A finished run may be re-scored under any protocol, and a rerun with another one
    # resumes the same run rather than being refused as a different one.
    assert set(PROTOCOL_FIELDS) <= set(EVALUATION_FIELDS) <= set(REEVALUATION_FIELDS)


def test_rescoring_a_mtvib_run_under_other_protocols_keeps_the_standard_one(
        tiny_idx_dir, tmp_path):
    out = str(tmp_path / "run")
    train = _main(f"--data_dir={tiny_idx_dir}", "--train_size=2000", "--test_size=100",
                  "--batch_size=50", "--backbone=lenet", "--learning_rate=1e-2",
                  "--method=mtvib", "--epochs=1", "--etas=0,0.1", f"--output_dir={out}",
                  "--verbose=0", "--export_dir=")
    assert train.returncode == 0, train.stderr[-3000:]
    trained, config = _read(f"{out}/metrics.json"), _read(f"{out}/config.json")
    assert "robustness_protocol" not in trained
    assert trained["robustness"]["protocol"]["name"] == "standard"

    result = _main("--mode=eval", f"--run_dir={out}", "--etas=0,0.1", "--vib_prediction=sample",
                   "--attack_ce=clipped_softmax")
    assert result.returncode == 0, result.stderr[-3000:]
    rescored = _read(f"{out}/metrics.json")
    # The standard result is always there, and unchanged (it is deterministic).
    assert rescored["robustness"] == trained["robustness"]
    assert rescored["accuracy"] == trained["accuracy"]
    extra = rescored["robustness_protocol"]
    assert extra["protocol"]["name"] == "vib-sample+clipped_softmax"
    assert extra["protocol"]["vib_prediction_samples"] == 1
    assert "clipped" in extra["loss"] and set(extra["zero_gradient_fraction"]) == {"tasks", "pair"}
    assert rescored["models"][0]["robustness_protocol"] == extra
    assert rescored["evaluated_with"]["vib_prediction"] == "sample"
    assert _read(f"{out}/config.json") == config  # how it was trained stays
    # The printed summary names each protocol and the zero-gradient fractions.
    assert "fgsm [standard]" in result.stdout
    assert "fgsm [vib-sample+clipped_softmax]" in result.stdout
    assert "zero input gradient" in result.stdout
    assert "vib-sample+clipped_softmax beside it" in result.stdout

    # The model's own objective: 1/sigma^2 weights and beta * KL.
    result = _main("--mode=eval", f"--run_dir={out}", "--etas=0,0.1", "--attack_loss=weighted",
                   "--eta_units=standardized")
    assert result.returncode == 0, result.stderr[-3000:]
    extra = _read(f"{out}/metrics.json")["robustness_protocol"]
    assert "training objective" in extra["loss"] and "beta * KL" in extra["loss"]
    assert extra["protocol"]["eta_scale"] == pytest.approx(0.3081)
    assert extra["etas"] == [0.0, 0.1]

    # Back to the standard protocol: the other result is gone.
    result = _main("--mode=eval", f"--run_dir={out}", "--etas=0,0.1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "robustness_protocol" not in _read(f"{out}/metrics.json")


def test_gradient_based_method_is_attacked_with_its_logged_weights(tiny_data, tmp_path):
    metrics = run_lib.run(_config(tmp_path, "mgda", attack_loss="weighted"), data=tiny_data)
    extra = metrics["robustness_protocol"]
    weights = metrics["models"][0]["task_weights"]
    assert "last training epoch" in extra["loss"]
    assert f"{weights['top_left']:.4g}" in extra["loss"]
    assert metrics["robustness"]["protocol"]["name"] == "standard"
    # Re-scoring under per-task attacks: no joint accuracy, each task's own attack.
    rescored = evaluate_run(str(tmp_path / "mgda"),
                            _config(tmp_path, "mgda", attack_loss="per_task"))
    assert rescored["robustness_protocol"]["joint_accuracy"] is None
    assert rescored["robustness_protocol"]["protocol"]["attack_loss"] == "per_task"


def test_single_task_models_combine_their_protocol_results(tiny_data, tmp_path):
    metrics = run_lib.run(_config(tmp_path, "stl", attack_ce="clipped_softmax"), data=tiny_data)
    extra = metrics["robustness_protocol"]
    assert set(extra["accuracy"]["0.1"]) == {"top_left", "bottom_right"}
    assert set(extra["zero_gradient_fraction"]["tasks"]) == {"top_left", "bottom_right"}
    assert extra["joint_accuracy"] is None and extra["zero_gradient_fraction"]["pair"] is None


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--dataset=mtfl", "--eta_units=standardized"], "--eta_units=pixel"),
        (["--vib_prediction=median"], "--vib_prediction"),
        (["--vib_prediction_samples=0"], "--vib_prediction_samples"),
        (["--attack_loss=max"], "--attack_loss"),
        (["--attack_ce=hinge"], "--attack_ce"),
    ],
)
def test_bad_protocol_flags_give_one_line_and_write_nothing(tmp_path, args, expected):
    out = tmp_path / "run"
    result = _main(f"--output_dir={out}", "--verbose=0", "--export_dir=", *args, timeout=120)
    assert result.returncode != 0
    assert expected in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()
