"""Small user-path fixes (issue #18 follow-ups): a served model is scored on the test split
alone; `python main.py` prints the embedded-sample notice once; rerunning a finished
training command does not export an identical new version; `--verbose=2` names the
Pareto MTL preference being trained; export/saved_model.py split by concern."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from mtl_tf.config import RunConfig
from mtl_tf.data.datasets import load_dataset
from mtl_tf.weighting import build_weighting

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = os.path.join(ROOT, "main.py")
NOTICE = "using the embedded sample"


def _main(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    return subprocess.run([sys.executable, MAIN, *args], cwd=ROOT, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=600)


def test_test_only_builds_the_same_test_pairs_and_no_training_pairs(tiny_idx_dir):
    full = load_dataset("multi_mnist", data_dir=tiny_idx_dir, train_size=300, test_size=40,
                        seed=3, val_size=30)
    test = load_dataset("multi_mnist", data_dir=tiny_idx_dir, train_size=300, test_size=40,
                        seed=3, val_size=30, test_only=True)
    np.testing.assert_array_equal(test.test_images, full.test_images)
    np.testing.assert_array_equal(test.label_matrix("test"), full.label_matrix("test"))
    assert test.train_images.shape == (0, 36, 36) and test.num_examples("train") == 0
    assert test.val_images is None and test.input_shape == full.input_shape


def test_rerun_of_a_finished_main_py_exports_nothing_new_and_says_so(tmp_path):
    # The embedded sample (an empty tensorflow-datasets folder: no local copy is found).
    env = {"TFDS_DATA_DIR": str(tmp_path / "tfds")}
    run, export = tmp_path / "run", tmp_path / "export"
    args = ["--train_size=100", "--test_size=40", "--batch_size=50", "--epochs=1",
            "--backbone=lenet", "--etas=0", "--verbose=0", f"--output_dir={run}",
            f"--export_dir={export}"]
    first = _main(*args, env=env)
    assert first.returncode == 0, first.stderr
    # Training and the export's warm-up images both load the data: one notice.
    assert first.stderr.count(NOTICE) == 1, first.stderr
    assert f"Exported {export / 'gs' / '1'} (from {run})" in first.stdout
    source = json.loads((export / "gs" / "1" / "assets.extra" / "mtl_tf_source.json")
                        .read_text())
    assert source["run_dir"] == os.path.realpath(run) and source["checkpoint"] == "ckpt-1"

    again = _main(*args, env=env)
    assert again.returncode == 0, again.stderr
    assert sorted(os.listdir(export / "gs")) == ["1"]
    lines = [line for line in again.stdout.splitlines() if "export" in line.lower()]
    assert f"Not exported again: {export / 'gs' / '1'} already holds this model of {run} " \
           f"(--mode=export --run_dir={run} adds a new version anyway)" in lines

    # Trained further: another model, so a new version.
    longer = _main(*[a if a != "--epochs=1" else "--epochs=2" for a in args], env=env)
    assert longer.returncode == 0, longer.stderr
    assert sorted(os.listdir(export / "gs")) == ["1", "2"]
    # --mode=export always adds a version, as documented.
    exported = _main("--mode=export", f"--run_dir={run}", f"--export_dir={export}")
    assert exported.returncode == 0, exported.stderr
    assert sorted(os.listdir(export / "gs")) == ["1", "2", "3"]

    # A served model is scored on the test pairs alone: no training pairs generated.
    served = _main("--mode=eval", f"--saved_model={export / 'gs' / '3'}", "--train_size=100",
                   "--test_size=40", "--etas=0", env=env)
    assert served.returncode == 0, served.stderr
    assert "multi_mnist: 0 train / 0 validation / 40 test pairs" in served.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert f"top_left {100 * metrics['accuracy']['top_left']:.2f}%" in served.stdout


def test_verbose_2_names_the_preference_being_trained(tiny_idx_dir, tmp_path):
    result = _main(f"--data_dir={tiny_idx_dir}", "--train_size=100", "--test_size=20",
                   "--batch_size=50", "--epochs=1", "--method=pareto_mtl",
                   "--num_preferences=2", "--backbone=lenet", "--etas=", "--verbose=2",
                   "--export_dir=", f"--output_dir={tmp_path / 'run'}")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    first = lines.index("Training pareto_mtl preference_0 u=(1, 0): epochs 1..1")
    second = lines.index("Training pareto_mtl preference_1 u=(0, 1): epochs 1..1")
    # Keras' epoch line of each preference follows its name.
    assert first < second and any("step" in line for line in lines[first + 1:second])


def test_pareto_label_is_the_preference_vector():
    config = RunConfig(method="pareto_mtl", num_preferences=3, preference_index=1)
    weighting = build_weighting("pareto_mtl", 2, config)
    assert weighting.label() == "u=(0.707, 0.707)"
    assert build_weighting("fixed", 2, RunConfig()).label() == ""


def test_export_modules_are_split_by_concern_and_old_imports_still_work():
    from mtl_tf.export import saved_model, versions, warmup

    for module in (saved_model, versions, warmup):
        with open(module.__file__, encoding="utf-8") as f:
            assert len(f.readlines()) < 400, module.__name__
    # Names first defined in saved_model.py are the same objects there still.
    assert saved_model.list_versions is versions.list_versions
    assert saved_model.write_models_config is versions.write_models_config
    assert saved_model.warmup_inputs is warmup.warmup_inputs
    assert saved_model.WARMUP_IMAGES == warmup.WARMUP_IMAGES
