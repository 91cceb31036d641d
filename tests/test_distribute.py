"""Distributed training (--strategy): mirrored replicas and two workers on localhost.

Logical devices and collective ops must be set up before TensorFlow starts, so every
distributed scenario runs in a fresh process (tests/distribute_driver.py).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from mtl_tf.config import RunConfig
from mtl_tf.training import distribute

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DRIVER = os.path.join(ROOT, "tests", "distribute_driver.py")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", **extra)
    return env


def _driver(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, DRIVER, *args], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=timeout)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------- mirrored
def test_mirrored_matches_single_device_and_replicas_agree(tmp_path):
    """Two replicas on a global batch of 2B = one device on the same batch, for every
    gradient path; the weighting strategies compute identical weights on both replicas."""
    out = tmp_path / "mirrored.json"
    cases = ["fixed", "uncertainty", "gradnorm", "gradnorm_optimizer", "mgda_params",
             "mgda_representation", "pareto_mtl"]
    result = _driver("mirrored", str(out), *cases)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(out.read_text())
    for case in cases:
        r = results[case]
        # Training moved the network far more than the two set-ups differ.
        assert r["max_update"] > 1e-3, (case, r["max_update"])
        assert r["max_abs_diff"] < 1e-4 * r["max_abs_weight"], (case, r["max_abs_diff"])
        for step, (single, replicas) in enumerate(
            zip(r["single_task_weights"], r["replica_task_weights"], strict=True)
        ):
            assert len(replicas) == 2
            # The same all-reduced inputs on both replicas: bit-identical weights.
            assert replicas[0] == replicas[1], (case, step, replicas)
            np.testing.assert_allclose(replicas[0], single[0], atol=1e-5, err_msg=case)


def test_mirrored_run_writes_a_normal_run_directory(tmp_path):
    """run() with --strategy=mirrored (Keras fit over two logical CPUs)."""
    out = tmp_path / "run"
    result = _driver("mirrored_run", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["method"] == "mgda"
    assert json.loads((out / "config.json").read_text())["strategy"] == "mirrored"
    assert (out / "checkpoints" / "ckpt-1.index").exists()
    logs = json.loads((out / "last_epoch_logs.json").read_text())
    assert logs["top_left_weight"] + logs["bottom_right_weight"] == pytest.approx(1.0, abs=1e-5)


# ------------------------------------------------------------------ multi-worker
def _worker_args(idx_dir: str, out: str, strategy: str) -> list[str]:
    return [f"--data_dir={idx_dir}", "--train_size=200", "--test_size=50", "--batch_size=50",
            "--backbone=lenet", "--epochs=1", "--method=pareto_mtl", "--num_preferences=2",
            "--preference_index=1", "--optimizer=sgd", "--learning_rate=0.1", "--etas=",
            "--verbose=0", f"--output_dir={out}", "--export_dir=", f"--strategy={strategy}"]


def test_two_workers_on_localhost_train_identical_models(tiny_idx_dir, tmp_path):
    """Two processes, one TF_CONFIG each: both finish, with bit-identical weights equal to
    single-device training; only the chief writes its run directory, and the other
    worker's temporary checkpoint directory is gone."""
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    procs = []
    for index in range(2):
        tmp = tmp_path / f"tmp{index}"
        tmp.mkdir()
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        # Separate output directories stand for separate machines' disks.
        args = _worker_args(tiny_idx_dir, str(tmp_path / f"run{index}"), "multi_worker")
        procs.append(subprocess.Popen(
            [sys.executable, DRIVER, "worker", str(tmp_path / f"w{index}.npz"), *args],
            cwd=ROOT, env=_env(TF_CONFIG=tf_config, TMPDIR=str(tmp)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=180))
    finally:
        for proc in procs:
            if proc.poll() is None:  # a hung collective: never leave workers behind
                proc.kill()
                proc.communicate()
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]

    chief, other = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
    assert chief.files == other.files and len(chief.files) > 4
    for name in chief.files:
        np.testing.assert_array_equal(chief[name], other[name])

    run0 = tmp_path / "run0"
    model_dir = run0 / "models" / "preference_1"
    assert {"metrics.json", "config.json", "flags.txt"} <= set(os.listdir(run0))
    assert (model_dir / "checkpoints" / "ckpt-1.index").exists()
    assert (model_dir / "tensorboard" / "train").is_dir()
    assert not (tmp_path / "run1").exists()
    assert not os.listdir(tmp_path / "tmp1"), "the worker's temporary checkpoints remain"

    # The same run on one device: the same global batches, the same updates.
    result = _driver("worker", str(tmp_path / "single.npz"),
                     *_worker_args(tiny_idx_dir, str(tmp_path / "single"), "none"))
    assert result.returncode == 0, result.stderr[-3000:]
    single = np.load(tmp_path / "single.npz")
    for name in chief.files:
        np.testing.assert_allclose(chief[name], single[name], atol=1e-5)
    multi = json.loads((run0 / "metrics.json").read_text())
    alone = json.loads((tmp_path / "single" / "metrics.json").read_text())
    assert multi["accuracy"] == pytest.approx(alone["accuracy"], abs=0.02)


def test_multi_worker_without_tf_config_is_a_clear_error(tmp_path):
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "main.py"), "--strategy=multi_worker",
         f"--output_dir={out}", "--export_dir=", "--epochs=1"],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "TF_CONFIG" in result.stderr and "--strategy=multi_worker" in result.stderr
    assert not out.exists()


# ------------------------------------------------------------------ in process
@pytest.mark.parametrize(
    "text, message",
    [
        (None, "needs the TF_CONFIG environment variable"),
        ("{not json", "TF_CONFIG is not valid JSON"),
        ('{"cluster": {"worker": ["a:1"]}}', "'cluster' and 'task'"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}',
         "does not name an entry"),
    ],
)
def test_malformed_tf_config_is_rejected(text, message):
    with pytest.raises(ValueError, match=message):
        distribute.check_tf_config(text)


def test_valid_tf_config_and_defaults():
    config = distribute.check_tf_config(
        '{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}')
    assert config["task"]["index"] == 1
    assert distribute.make_strategy("none") is None
    assert distribute.is_chief(None)
    assert RunConfig().strategy == "none"
    with pytest.raises(ValueError, match="allowed: none, mirrored, multi_worker"):
        distribute.make_strategy("parameter_server")


def test_strategy_is_refused_where_it_does_not_apply(tmp_path):
    from mtl_tf.orchestration.runs import run

    config = RunConfig(dataset="synthetic", method="mgda", strategy="mirrored",
                       output_dir=str(tmp_path / "run"))
    with pytest.raises(ValueError, match="does not apply to --dataset=synthetic"):
        run(config)
    assert not (tmp_path / "run").exists()
