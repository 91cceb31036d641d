"""Every bad input listed in the README's table: one clear line, a non-zero exit, and
nothing written. Real subprocesses of main.py on real (generated, then broken) files."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from mtl_tf.data.idx import write_idx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _main(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, os.path.join(ROOT, "main.py"), "--verbose=0",
                           "--export_dir=", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=180)


def _broken_copy(src: str, dst: str, name: str, content: bytes | None) -> str:
    shutil.copytree(src, dst)
    path = os.path.join(dst, name)
    os.remove(path)
    if content is None:
        os.mkdir(path)  # a directory where a file should be: unreadable as a file
    else:
        with open(path, "wb") as f:
            f.write(content)
    return dst


def _assert_clean_failure(result, out, *needles):
    assert result.returncode != 0
    for needle in needles:
        assert needle in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not os.path.exists(out), "bad input must leave nothing behind"


TRAIN_IMAGES = "train-images-idx3-ubyte.gz"


@pytest.mark.parametrize(
    "case, content, needles",
    [
        ("truncated gz", lambda raw: raw[: len(raw) // 2], [TRAIN_IMAGES]),
        ("corrupt gz", lambda raw: raw[:20] + b"\x00" * 50 + raw[70:], [TRAIN_IMAGES]),
        ("wrong magic", lambda raw: gzip.compress(b"\x12\x34\x08\x03" + b"\x00" * 16),
         [TRAIN_IMAGES, "magic"]),
        ("wrong image size", None, ["28"]),  # 32x32 images instead of 28x28
        ("unreadable file", "dir", ["missing train-images-idx3-ubyte", "--data_dir"]),
    ],
)
def test_broken_idx_data(tiny_idx_dir, tmp_path, case, content, needles):
    data_dir = str(tmp_path / "data")
    if case == "wrong image size":
        shutil.copytree(tiny_idx_dir, data_dir)
        write_idx(os.path.join(data_dir, TRAIN_IMAGES), np.zeros((300, 32, 32), np.uint8))
    elif content == "dir":
        _broken_copy(tiny_idx_dir, data_dir, TRAIN_IMAGES, None)
    else:
        with open(os.path.join(tiny_idx_dir, TRAIN_IMAGES), "rb") as f:
            raw = f.read()
        _broken_copy(tiny_idx_dir, data_dir, TRAIN_IMAGES, content(raw))
    out = str(tmp_path / "run")
    result = _main(f"--data_dir={data_dir}", f"--output_dir={out}")
    _assert_clean_failure(result, out, "error:", *needles)


@pytest.mark.parametrize(
    "args, needles",
    [
        (["--encoder=gaussian"], ["--encoder"]),
        (["--task_weights=-1,2"], ["--task_weights"]),
        (["--num_preferences=1", "--method=pareto_mtl"], ["--num_preferences"]),
        (["--etas=0,1.5"], ["--etas"]),
        (["--method=pareto_mtl", "--num_preferences=3", "--preference_index=5"],
         ["--preference_index=5 is out of range"]),
        (["--dataset=mtfl"], ["--data_dir"]),  # MTFL has no embedded copy
    ],
)
def test_bad_flags(tmp_path, args, needles):
    out = str(tmp_path / "run")
    result = _main(f"--output_dir={out}", *args)
    _assert_clean_failure(result, out, *needles)


def test_methods_outside_the_experiment_are_refused(tmp_path):
    out = str(tmp_path / "report")
    result = _main("--experiment=quick_multi_mnist", "--methods=gs,nope", f"--report_dir={out}")
    _assert_clean_failure(result, out, "error:", "no method(s) nope",
                          "--methods must be a subset of stl, stvib, gs")


def test_run_dir_of_another_method_is_refused(tiny_idx_dir, tmp_path):
    out = str(tmp_path / "run")
    common = [f"--data_dir={tiny_idx_dir}", "--train_size=200", "--test_size=50",
              "--batch_size=50", "--backbone=lenet", "--epochs=1", "--etas=",
              f"--output_dir={out}"]
    assert _main(*common).returncode == 0
    before = sorted(os.listdir(out))
    result = _main(*common, "--method=mgda")
    assert result.returncode == 2
    assert "holds a run with different settings (method: 'gs' -> 'mgda')" in result.stderr
    assert sorted(os.listdir(out)) == before
    # Exporting or re-evaluating something that is not a finished run names the directory.
    result = _main("--export_only", f"--run_dir={tmp_path}")
    assert result.returncode == 2 and "is not a finished run directory" in result.stderr
