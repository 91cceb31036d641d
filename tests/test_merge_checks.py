"""Options of different issues that meet: each combination that cannot work is refused in
one line before TensorFlow loads, and the ones that can work do."""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _main(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, os.path.join(ROOT, "main.py"), *args],
                          capture_output=True, text=True, check=False, timeout=60, cwd=ROOT)


def test_pytorch_init_with_imagenet_weights_is_refused_in_one_line(tmp_path):
    out = tmp_path / "run"
    proc = _main("--backbone=mobilenet_v2_035", "--backbone_weights=imagenet",
                 "--weight_init=pytorch", f"--output_dir={out}", "--export_dir=")
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--weight_init=pytorch" in lines[0], proc.stderr
    assert "imagenet" in lines[0] and "Traceback" not in proc.stderr
    assert not out.exists()
