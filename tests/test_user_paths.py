"""The user-path matrix: every method as a user runs it, through main.py subprocesses.

For each method (and the encoder overrides), with the defaults a user gets — export on,
adversarial evaluation on — on small generated data:

1. train: exits 0, every expected model is exported under its documented name
   (`<method>`, `<method>_<task>` for STL/STVIB, `<method>_preference_<i>` for Pareto
   MTL) and listed in `models.config`;
2. `--export_only --run_dir` adds version 2 of each;
3. `--eval_only --run_dir` reproduces the run's clean numbers exactly;
4. `--eval_only --saved_model` on each exported model agrees with them (to one test
   example: the served model answers from probabilities, the run from logits).

No step may print a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TASKS = ("top_left", "bottom_right")
TEST_SIZE = 100


def _main(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, os.path.join(ROOT, "main.py"), *args], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=timeout)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _data_args(idx_dir: str) -> list[str]:
    # The data flags a user repeats to score a served model on the run's test pairs.
    return [f"--data_dir={idx_dir}", "--train_size=400", f"--test_size={TEST_SIZE}"]


# case id -> (extra flags, exported model names)
CASES = {
    "stl": (["--method=stl"], ["stl_top_left", "stl_bottom_right"]),
    "stvib": (["--method=stvib"], ["stvib_top_left", "stvib_bottom_right"]),
    "gs": (["--method=gs"], ["gs"]),
    "gs_grid": (["--method=gs", "--grid_points=2", "--val_size=100"], ["gs"]),
    "uwl": (["--method=uwl"], ["uwl"]),
    "mtvib": (["--method=mtvib"], ["mtvib"]),
    "gradnorm": (["--method=gradnorm"], ["gradnorm"]),
    "mgda_params": (["--method=mgda", "--grad_wrt=params"], ["mgda"]),
    "mgda_representation": (["--method=mgda", "--grad_wrt=representation"], ["mgda"]),
    "pareto_mtl": (["--method=pareto_mtl", "--num_preferences=3"],
                   [f"pareto_mtl_preference_{i}" for i in range(3)]),
    "vib_mgda": (["--method=mgda", "--encoder=vib"], ["mgda"]),
    "vib_pareto_mtl": (["--method=pareto_mtl", "--encoder=vib", "--num_preferences=2"],
                       [f"pareto_mtl_preference_{i}" for i in range(2)]),
    "vib_gradnorm": (["--method=gradnorm", "--encoder=vib"], ["gradnorm"]),
    "mirrored_pareto_mtl": (["--method=pareto_mtl", "--num_preferences=2",
                             "--strategy=mirrored"],
                            [f"pareto_mtl_preference_{i}" for i in range(2)]),
    "mirrored_mgda": (["--method=mgda", "--strategy=mirrored"], ["mgda"]),
}


def _read(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _model_accuracy(metrics: dict) -> dict[str, dict[str, float]]:
    return {m["name"]: m["accuracy"] for m in metrics["models"]}


@pytest.mark.parametrize("case", list(CASES))
def test_user_path(case, tiny_idx_dir, tmp_path):
    extra, names = CASES[case]
    run_dir, export_dir = str(tmp_path / "run"), str(tmp_path / "export")

    # 1. Train with export on (the default), as the README's commands do.
    result = _main(*extra, *_data_args(tiny_idx_dir), "--epochs=1", "--batch_size=50",
                   "--backbone=lenet", "--learning_rate=1e-2", "--verbose=0",
                   f"--output_dir={run_dir}", f"--export_dir={export_dir}")
    for name in names:
        assert f"Exported {os.path.join(export_dir, name, '1')}" in result.stdout, result.stdout
        assert os.path.isfile(os.path.join(export_dir, name, "1", "saved_model.pb"))
    assert sorted(os.listdir(export_dir)) == sorted([*names, "models.config"])
    config_text = open(os.path.join(export_dir, "models.config"), encoding="utf-8").read()
    assert all(f'name: "{name}"' in config_text for name in names), config_text
    trained = _read(os.path.join(run_dir, "metrics.json"))
    assert trained["models"], trained

    # 2. Export again: a new version of every model, the first untouched.
    _main("--export_only", f"--run_dir={run_dir}", f"--export_dir={export_dir}")
    for name in names:
        assert sorted(os.listdir(os.path.join(export_dir, name))) == ["1", "2"]

    # 3. Re-score the run: the same clean numbers, model by model and overall.
    _main("--eval_only", f"--run_dir={run_dir}")
    rescored = _read(os.path.join(run_dir, "metrics.json"))
    assert _model_accuracy(rescored) == _model_accuracy(trained)
    assert rescored["accuracy"] == trained["accuracy"]
    assert rescored["joint_accuracy"] == trained["joint_accuracy"]

    # 4. Score each served model on the same test pairs: it agrees with the run.
    run_accuracy: dict[str, float] = {}
    for model in trained["models"]:
        run_accuracy.update({f"{model['name']}/{t}": a for t, a in model["accuracy"].items()})
    for name in names:
        out = str(tmp_path / f"served-{name}")
        _main("--eval_only", f"--saved_model={os.path.join(export_dir, name, '2')}",
              *_data_args(tiny_idx_dir), "--batch_size=50", f"--output_dir={out}")
        served = _read(os.path.join(out, "saved_model_eval.json"))
        model = _served_model_entry(trained, name)
        assert served["tasks"] == list(model["accuracy"])
        for task, accuracy in served["accuracy"].items():
            assert accuracy == pytest.approx(model["accuracy"][task], abs=1.01 / TEST_SIZE), (
                name, task)


def _served_model_entry(metrics: dict, export_name: str) -> dict:
    """The metrics.json model entry an export name stands for."""
    method = metrics["method"]
    if export_name == method:
        # One shared model (a grid search serves its best point, the one entry listed).
        assert len(metrics["models"]) == 1
        return metrics["models"][0]
    suffix = export_name[len(method) + 1:]
    (entry,) = [m for m in metrics["models"] if m["name"] == suffix]
    return entry
