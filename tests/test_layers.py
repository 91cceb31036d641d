"""The project's layers run one way (scripts/check_layers.py): data -> models -> weighting
-> training -> evaluation -> run directory / export -> orchestration -> CLI."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "check_layers.py")


def _checker():
    spec = importlib.util.spec_from_file_location("check_layers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_upward_or_circular_import_in_the_project():
    result = subprocess.run([sys.executable, SCRIPT], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert result.stdout.rstrip().endswith("0 violation(s)")
    # Every module is listed with its layer.
    assert "mtl_tf.training.fit" in result.stdout and "[training]" in result.stdout


def test_the_checker_sees_lazy_upward_imports_and_cycles(tmp_path):
    checker = _checker()
    path = tmp_path / "m.py"
    path.write_text("def f():\n    from mtl_tf.orchestration import runs\n"
                    "    from . import trainer\n")
    modules = {"mtl_tf.training.m": str(path), "mtl_tf.orchestration.runs": "",
               "mtl_tf.training.trainer": ""}
    deps = checker.imports_of("mtl_tf.training.m", str(path), modules)
    assert deps == {"mtl_tf.orchestration.runs", "mtl_tf.training.trainer"}
    assert checker.layer_of("mtl_tf.training.m")[1] == "training"
    assert checker.layer_of("mtl_tf.orchestration.runs")[0] > checker.layer_of(
        "mtl_tf.training.m")[0]
    assert checker._cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b", "a"]]
