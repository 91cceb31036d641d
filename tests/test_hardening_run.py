"""Faults in and around a run directory, as an operator meets them: damaged checkpoints,
a full disk, two processes on one --output_dir, broken JSON, Ctrl-C.

Every case runs main.py as a subprocess on real files. Each must end in one `error:` line
naming the file and the fix (or recover by itself), never in a traceback.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _sigint_as_in_a_terminal() -> None:
    # A test runner started in the background of a script inherits SIGINT ignored (POSIX
    # asynchronous commands), and main.py rightly keeps an ignored SIGINT ignored; the
    # user this simulates presses Ctrl-C in a terminal, where SIGINT has its default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _popen(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "main.py"), *args], cwd=ROOT,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_sigint_as_in_a_terminal)


def _main(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, os.path.join(ROOT, "main.py"), *args], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=timeout)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result


def _args(idx_dir: str, out: str, *extra: str) -> list[str]:
    return [f"--data_dir={idx_dir}", "--train_size=400", "--test_size=100", "--batch_size=50",
            "--backbone=lenet", "--learning_rate=1e-2", f"--output_dir={out}", "--verbose=0",
            "--export_dir=", "--etas=0,0.1", *extra]


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def _metrics(run_dir: str) -> dict:
    with open(os.path.join(run_dir, "metrics.json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def finished_run(tiny_idx_dir, tmp_path_factory) -> str:
    """A finished 2-epoch gs run (checkpoints ckpt-1 and ckpt-2)."""
    out = str(tmp_path_factory.mktemp("finished") / "run")
    result = _main(*_args(tiny_idx_dir, out, "--epochs=2"))
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def _copy(run_dir: str, tmp_path) -> str:
    copy = str(tmp_path / "run")
    shutil.copytree(run_dir, copy)
    # A copied run lives elsewhere: its flags name the original --output_dir, which is a
    # resumable field, so the copy resumes as the same run.
    return copy


def _data_file(run_dir: str, number: int) -> str:
    (path,) = glob.glob(os.path.join(run_dir, "checkpoints", f"ckpt-{number}.data-*"))
    return path


def _flip_bytes(path: str) -> None:
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        for i in range(len(data) // 3, len(data) // 3 + 64):
            data[i] ^= 0xFF
        f.seek(0)
        f.write(data)


def _truncate(path: str) -> None:
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


@pytest.mark.parametrize("damage", ["missing", "truncated", "bit_flipped"])
def test_damaged_latest_checkpoint_falls_back_to_the_previous_one(
        damage, finished_run, tiny_idx_dir, tmp_path):
    run_dir = _copy(finished_run, tmp_path)
    before = _metrics(finished_run)
    data_file = _data_file(run_dir, 2)
    {"missing": os.remove, "truncated": _truncate, "bit_flipped": _flip_bytes}[damage](data_file)

    # Export refuses a damaged checkpoint in one line naming it (serving an older epoch
    # than metrics.json describes would be wrong).
    export = _main("--export_only", f"--run_dir={run_dir}",
                   f"--export_dir={tmp_path / 'export'}")
    assert export.returncode != 0
    (line,) = _error_lines(export.stderr)
    assert "ckpt-2" in line and "damaged" in line and "rerun the training command" in line
    assert not os.path.exists(tmp_path / "export" / "gs")

    # Rerunning the training command warns, retrains epoch 2 from ckpt-1, and ends with
    # exactly the metrics of the uninterrupted run (training is deterministic).
    result = _main(*_args(tiny_idx_dir, run_dir, "--epochs=2"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ckpt-2 is damaged" in result.stderr
    after = _metrics(run_dir)
    assert after["accuracy"] == before["accuracy"]
    assert after["models"][0]["loss"] == before["models"][0]["loss"]
    # The checkpoint is whole again: export works.
    export = _main("--export_only", f"--run_dir={run_dir}",
                   f"--export_dir={tmp_path / 'export'}")
    assert export.returncode == 0, export.stderr[-2000:]


def test_every_checkpoint_damaged_names_them_and_the_fix(finished_run, tiny_idx_dir, tmp_path):
    run_dir = _copy(finished_run, tmp_path)
    for number in (1, 2):
        _flip_bytes(_data_file(run_dir, number))
    result = _main(*_args(tiny_idx_dir, run_dir, "--epochs=2"))
    assert result.returncode != 0
    (line,) = _error_lines(result.stderr)
    assert "every checkpoint in" in line and "ckpt-1" in line and "ckpt-2" in line
    assert f"delete {os.path.join(run_dir, 'checkpoints')}" in line


def test_stale_temporary_checkpoint_is_removed_at_start(finished_run, tiny_idx_dir, tmp_path):
    run_dir = _copy(finished_run, tmp_path)
    stale = os.path.join(run_dir, "checkpoints", "ckpt-3_temp")
    os.makedirs(stale)
    with open(os.path.join(stale, "part-00000-of-00001.data-00000-of-00001"), "wb") as f:
        f.write(b"\0" * 1000)
    result = _main(*_args(tiny_idx_dir, run_dir, "--epochs=3"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert not os.path.exists(stale)
    assert glob.glob(os.path.join(run_dir, "checkpoints", "ckpt-3.index"))


@pytest.mark.parametrize("name,content,needle", [
    ("config.json", "[1, 2]", "holds a JSON list, not an object"),
    ("config.json", '{"method": "gs",', "is not valid JSON"),
    ("last_epoch_logs.json", "{oops", "is not valid JSON"),
])
def test_broken_json_in_a_run_folder_names_the_file(
        name, content, needle, finished_run, tiny_idx_dir, tmp_path):
    run_dir = _copy(finished_run, tmp_path)
    path = os.path.join(run_dir, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(content)
    result = _main(*_args(tiny_idx_dir, run_dir, "--epochs=2"))
    assert result.returncode != 0
    (line,) = _error_lines(result.stderr)
    assert path in line and needle in line, line


@pytest.mark.parametrize("mode", ["--export_only", "--eval_only"])
def test_broken_metrics_json_names_the_file(mode, finished_run, tmp_path):
    run_dir = _copy(finished_run, tmp_path)
    path = os.path.join(run_dir, "metrics.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write('{"models": [')
    result = _main(mode, f"--run_dir={run_dir}", f"--export_dir={tmp_path / 'export'}")
    assert result.returncode != 0
    (line,) = _error_lines(result.stderr)
    assert path in line and "is not valid JSON" in line, line


def test_output_dir_that_is_a_file_is_named_as_such(tiny_idx_dir, tmp_path):
    path = tmp_path / "afile"
    path.write_text("x")
    result = _main(*_args(tiny_idx_dir, str(path), "--epochs=1"))
    assert result.returncode != 0
    (line,) = _error_lines(result.stderr)
    assert "is a file, not a directory" in line and str(path) in line
    assert path.read_text() == "x"


def _wait_for(predicate, proc: subprocess.Popen, what: str, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while not predicate():
        assert proc.poll() is None, f"the run ended before {what}: {proc.stderr.read()[-2000:]}"
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_second_process_on_the_same_output_dir_is_refused(tiny_idx_dir, tmp_path):
    run_dir = str(tmp_path / "run")
    first = _popen(*_args(tiny_idx_dir, run_dir, "--epochs=30"))
    try:
        _wait_for(lambda: os.path.exists(os.path.join(run_dir, "config.json")), first,
                  "the first run started")
        second = _main(*_args(tiny_idx_dir, run_dir, "--epochs=30"))
        assert second.returncode != 0
        (line,) = _error_lines(second.stderr)
        assert f"is in use by another process (pid {first.pid}" in line, line
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # The killed holder's lock is gone with it: the same command resumes.
    resumed = _main(*_args(tiny_idx_dir, run_dir, "--epochs=1"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]


def test_ctrl_c_says_where_and_the_rerun_resumes(tiny_idx_dir, tmp_path):
    run_dir = str(tmp_path / "run")
    args = _args(tiny_idx_dir, run_dir, "--epochs=3", "--train_size=2000")
    proc = _popen(*args)
    _wait_for(lambda: glob.glob(os.path.join(run_dir, "checkpoints", "ckpt-1.index")), proc,
              "the first checkpoint")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if "interrupted" in line]
    assert len(lines) == 1 and "rerun the same command to resume" in lines[0], stderr[-2000:]
    result = _main(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert _metrics(run_dir)["epochs"] == 3


@pytest.fixture
def small_disk(tmp_path):
    """A real 3 MB file system (tmpfs), mounted for the test and unmounted after."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs",
                              str(mount_point)], capture_output=True, text=True)
    assert mounted.returncode == 0, f"cannot mount a tmpfs here: {mounted.stderr}"
    try:
        yield str(mount_point)
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)


def test_disk_full_during_a_checkpoint_is_one_line_and_resumable(
        small_disk, tiny_idx_dir, tmp_path):
    run_dir = os.path.join(small_disk, "run")
    filler = os.path.join(small_disk, "filler")
    # Leave room for config.json and the event files, not for a checkpoint.
    free = shutil.disk_usage(small_disk).free
    with open(filler, "wb") as f:
        f.write(b"\0" * (free - 200 * 1024))
    args = _args(tiny_idx_dir, run_dir, "--epochs=1")
    result = _main(*args)
    assert result.returncode != 0
    (line,) = _error_lines(result.stderr)
    assert "no space left on the device" in line and "rerun the same command" in line, line
    # Nothing half-written: no temporary checkpoint folder, no orphan data file.
    assert not glob.glob(os.path.join(run_dir, "checkpoints", "*_temp"))
    assert not glob.glob(os.path.join(run_dir, "checkpoints", "*.data-*"))

    os.remove(filler)  # the operator frees space
    result = _main(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert glob.glob(os.path.join(run_dir, "checkpoints", "ckpt-1.index"))


@pytest.mark.parametrize("mode", ["eval", "export"])
def test_a_run_being_extended_is_not_served_as_finished(finished_run, tmp_path, mode):
    # `--epochs=3` on a finished 2-epoch run rewrites config.json, then trains; cut off (or
    # still running), its newest checkpoint is of an epoch metrics.json does not describe.
    run = _copy(finished_run, tmp_path)
    with open(os.path.join(run, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    config["epochs"] = 3
    with open(os.path.join(run, "config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f)
    before = _metrics(run)
    extra = [f"--export_dir={tmp_path / 'export'}"] if mode == "export" else []
    result = _main(f"--mode={mode}", f"--run_dir={run}", *extra)
    assert result.returncode != 0
    lines = _error_lines(result.stderr)
    assert len(lines) == 1 and "being extended to 3 epochs" in lines[0], result.stderr[-2000:]
    assert "--epochs=3" in lines[0]
    assert _metrics(run) == before
    assert not (tmp_path / "export").exists()
