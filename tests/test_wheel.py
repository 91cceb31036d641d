"""The wheel trains, as a user who runs `pip install mtl_tf` gets it.

Builds the wheel with pip (from a copy of the files it is made of, so the build leaves
nothing in the checkout), installs it with pip into a fresh virtual environment, and, from
a directory outside the checkout, checks that the installed package -- not the source
tree -- is what runs: its console script `mtl-tf` trains a tiny run on the embedded sample
and exports it, `python -m mtl_tf` answers, and the version, licence and dependency bounds
are the declared ones.

The fresh environment has no pip and no packages of its own; a .pth file lets it see the
test environment's installed dependencies (TensorFlow alone is 1.5 GB: installing it again
would take minutes and the network). That .pth adds the test environment's site-packages
as a plain path, so the editable install of the checkout that lives there (a .pth of its
own, only run for a site directory) stays inactive: `mtl_tf` can only come from the wheel.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib

import mtl_tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What the wheel is built from: the package and the files pyproject.toml names.
SOURCES = ("mtl_tf", "pyproject.toml", "README.md", "LICENSE")


def _run(args: list[str], cwd: str, timeout: float = 300) -> subprocess.CompletedProcess:
    # No PYTHONPATH: nothing but the environment's own site-packages may supply mtl_tf.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TF_CONFIG")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{args}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


def _build_wheel(tmp_path) -> str:
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        path = os.path.join(ROOT, name)
        if os.path.isdir(path):
            shutil.copytree(path, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, source / name)
    dist = tmp_path / "dist"
    # pip builds it as `pip install .` does: in an isolated environment with the
    # setuptools pyproject.toml asks for (a package registry or pip's cache provides it).
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(dist),
          str(source)], cwd=str(tmp_path))
    (wheel,) = glob.glob(str(dist / "mtl_tf-*.whl"))
    return wheel


def _fresh_venv(tmp_path) -> tuple[str, str]:
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=str(tmp_path))
    python = str(venv / "bin" / "python")
    site = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                cwd=str(tmp_path)).stdout.strip()
    ours = sysconfig.get_paths()
    with open(os.path.join(site, "test_environment_dependencies.pth"), "w") as f:
        f.write("\n".join(dict.fromkeys([ours["purelib"], ours["platlib"]])) + "\n")
    return python, site


def test_installed_wheel_trains_from_its_console_script(tmp_path):
    wheel = _build_wheel(tmp_path)
    python, site = _fresh_venv(tmp_path)
    # The test environment's pip installs into the fresh one (`--python`), offline.
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps",
          "--no-index", wheel], cwd=str(tmp_path))
    bin_dir = os.path.dirname(python)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cwd = str(elsewhere)

    # The installed package runs, not the checkout; main.py and flags/ are the checkout's
    # own and not in the wheel.
    probe = _run([python, "-c", (
        "import importlib.metadata as m, importlib.util as u, json, mtl_tf, mtl_tf.cli\n"
        "d = m.distribution('mtl_tf')\n"
        "print(json.dumps({'file': mtl_tf.__file__, 'version': mtl_tf.__version__,\n"
        "  'metadata_version': d.version, 'license': d.metadata['License-Expression'],\n"
        "  'license_text': d.read_text('licenses/LICENSE'),\n"
        "  'main': u.find_spec('main') is not None, 'flags': u.find_spec('flags') is not None,\n"
        "  'tensorflow': m.version('tensorflow'), 'keras': m.version('keras')}))\n")],
        cwd=cwd)
    info = json.loads(probe.stdout)
    assert info["file"] == os.path.join(site, "mtl_tf", "__init__.py")
    assert not info["main"] and not info["flags"]
    # One version: pyproject.toml takes it from mtl_tf.__version__, the wheel records it,
    # and the installed command reports it.
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        pyproject = tomllib.load(f)
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "mtl_tf.__version__"}
    assert info["version"] == info["metadata_version"] == mtl_tf.__version__
    assert os.path.basename(wheel).startswith(f"mtl_tf-{mtl_tf.__version__}-")
    assert info["license"] == "Apache-2.0"
    assert info["license_text"].split()[:4] == ["Apache", "License", "Version", "2.0,"]
    for command in ([os.path.join(bin_dir, "mtl-tf"), "--version"],
                    [python, "-m", "mtl_tf", "--version"]):
        assert _run(command, cwd=cwd).stdout == f"mtl-tf {mtl_tf.__version__}\n"

    # The installed TensorFlow and Keras meet the wheel's declared bounds (pip check reads
    # them from the wheel's metadata); problems of other packages are not this test's.
    check = subprocess.run([sys.executable, "-m", "pip", "--python", python, "check"],
                           capture_output=True, text=True, timeout=120)
    ours = [line for line in check.stdout.splitlines() if line.lower().startswith("mtl")]
    assert not ours, ours

    # A tiny run on the embedded sample, through the console script, exported.
    run_dir, export_dir = str(elsewhere / "run"), str(elsewhere / "models")
    result = _run([os.path.join(bin_dir, "mtl-tf"), "--train_size=200", "--test_size=100",
                   "--epochs=1", "--batch_size=50", "--backbone=lenet", "--etas=",
                   "--verbose=0", f"--output_dir={run_dir}", f"--export_dir={export_dir}"],
                  cwd=cwd)
    assert "Test accuracy" in result.stdout, result.stdout
    with open(os.path.join(run_dir, "metrics.json"), encoding="utf-8") as f:
        metrics = json.load(f)
    assert metrics["method"] == "gs" and metrics["test_size"] == 100
    assert "embedded" in metrics["data_origin"], metrics["data_origin"]
    assert os.path.isfile(os.path.join(export_dir, "gs", "1", "saved_model.pb"))
    assert os.path.isfile(os.path.join(export_dir, "models.config"))
    # flags.txt replays the run with the installed command too.
    assert "--train_size=200" in open(os.path.join(run_dir, "flags.txt")).read()
