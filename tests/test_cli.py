"""The command line as a user meets it: --help, --version, bad flags, --mode and the old
mode spellings, Ctrl-C, unexpected errors and TensorFlow's start-up lines. Real subprocesses
of main.py (the same command as the installed `mtl-tf`, see test_wheel.py), real signals,
real failures."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from absl import flags as absl_flags

import mtl_tf
from flags import definitions
from mtl_tf import choices, tf_startup
from mtl_tf.cli import app
from mtl_tf.config import RunConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = os.path.join(ROOT, "main.py")
# A line of Python's absl logging ("I1203 04:22:10.728043 1397... datasets.py:186] ..."):
# the run's own progress notes, not an error report.
PY_LOG_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ \S+\.py:\d+\] ")


def _env(**extra: str) -> dict[str, str]:
    # No TF_CPP_MIN_LOG_LEVEL from the test environment: main.py's own default is tested.
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_CONFIG")}
    env.update(extra)
    return env


def _main(*args: str, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, MAIN, *args], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=timeout, **kwargs)


def _without_tensorflow(tmp_path, *args: str) -> subprocess.CompletedProcess:
    """main.py where `import tensorflow` fails loudly: for checks that must answer before
    TensorFlow loads (a bad flag answers at once, not after 3 s of imports)."""
    shadow = tmp_path / "no_tensorflow"
    (shadow / "tensorflow").mkdir(parents=True, exist_ok=True)
    (shadow / "tensorflow" / "__init__.py").write_text(
        "raise ImportError('TENSORFLOW IMPORTED before the flags were checked')\n")
    env = _env(PYTHONPATH=os.pathsep.join(filter(None, [str(shadow),
                                                        os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, MAIN, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def _tiny_args(idx_dir: str, out: str, *extra: str) -> list[str]:
    return [f"--data_dir={idx_dir}", "--train_size=2000", "--test_size=100", "--batch_size=50",
            "--backbone=lenet", "--learning_rate=1e-2", f"--output_dir={out}", "--verbose=0",
            "--export_dir=", *extra]


def _report_lines(stderr: str) -> list[str]:
    """stderr without the run's absl progress lines: what the user is told."""
    return [line for line in stderr.splitlines() if line and not PY_LOG_LINE.match(line)]


# ------------------------------------------------------------------------------ --help
def test_help_lists_the_project_flags_grouped_by_topic():
    result = _main("--help", timeout=60)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    headings = [f"{m.TITLE} ({m.__name__.replace('.', '/')}.py):" for m in definitions.TOPICS]
    positions = [text.index(h) for h in headings]
    assert positions == sorted(positions), "topics out of order"
    # Every project flag is listed under its own topic's heading.
    bounds = [*positions, len(text)]
    for i, module in enumerate(definitions.TOPICS):
        section = text[bounds[i]:bounds[i + 1]]
        names = [f.name for f in definitions.FLAGS.get_flags_for_module(module)]
        assert names, module.__name__
        for name in names:
            assert re.search(rf"^  --(\[no\])?{name}:", section, re.M), (name, module.__name__)
    assert {f.name for f in definitions.project_flags()} >= {
        "method", "dataset", "epochs", "learning_rate", "gradnorm_alpha", "grad_wrt",
        "num_preferences", "etas", "attack", "output_dir", "export_dir", "mode", "eval_only",
        "export_only", "experiment", "tf_log_level", "traceback", "version"}
    # absl's own flags are in --helpfull, not here.
    assert "--verbosity" not in text and "--run_with_pdb" not in text
    assert "--helpfull" in text
    assert result.stderr == ""


def test_help_into_a_closed_pipe_is_quiet():
    # `main.py --help | head -3`: no BrokenPipeError traceback.
    proc = subprocess.Popen([sys.executable, MAIN, "--help"], cwd=ROOT, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(100)
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err and b"BrokenPipe" not in err


# ----------------------------------------------------------------------- bad flags
@pytest.mark.parametrize(
    "args, flag",
    [
        (["--method=nope"], "--method"),
        (["--dataset=cifar"], "--dataset"),
        (["--epochs=0"], "--epochs"),
        (["--task_weights=a,b"], "--task_weights"),
        (["--task_weights=inf,1"], "--task_weights"),
        (["--etas=2"], "--etas"),
        (["--etas=nan"], "--etas"),
        (["--learning_rate=nan"], "--learning_rate"),
        (["--learning_rate=inf"], "--learning_rate"),
        (["--beta=nan"], "--beta"),
        (["--bn_momentum=nan"], "--bn_momentum"),
        (["--gradnorm_lr=-inf"], "--gradnorm_lr"),
        (["--pareto_max_init_epochs=inf"], "--pareto_max_init_epochs"),
        (["--pgd_step_size=nan"], "--pgd_step_size"),
        (["--num_preferences=1"], "--num_preferences"),
        (["--num_preferences=3", "--preference_index=5"], "--preference_index=5 is out of range"),
        (["--dataset=mtfl", "--data_source=tfds"], "(it reads --data_dir only)"),
        (["--dataset=synthetic", "--data_source=embedded"], "(it reads no files)"),
        (["--dataset=tfds:foo", "--data_source=embedded"], "only MNIST and Fashion"),
        (["--preferences=1:0,a:1"], "'a:1' is not ':'-separated numbers"),
        (["--preferences=1:0,0:-1"], "'0:-1' must be finite non-negative"),
        (["--preferences=1:0"], "--preferences needs at least 2 vectors"),
        (["--preferences=1:0:0,0:1:1"], "one weight per task (2)"),
        (["--preferences=1:1,2:2"], "'1:1' and another vector point the same way"),
        (["--preferences=1:0,0:1", "--preference_index=2"], "for the 2 --preferences"),
        (["--task_weights=0.2,0.3,0.5"], "--task_weights has 3 values"),
        (["--dataset=mtfl", "--task_weights=0.5,0.5"], "the data set has 4 tasks"),
        (["--experiment=nope"], "--experiment"),
        (["--export_only"], "--run_dir"),
        (["--eval_only"], "--run_dir"),
        (["--mode=nope"], "--mode"),
        (["--mode=eval"], "--run_dir"),
        (["--mode=export"], "--run_dir"),
        (["--mode=experiment"], "--experiment"),
        (["--mode=eval", "--experiment=quick_multi_mnist", "--run_dir=x"], "--mode"),
        (["--eval_only", "--export_only", "--run_dir=x"], "--export_only"),
        (["--run_dir=x"], "--run_dir"),
        (["--saved_model=x", "--mode=export", "--run_dir=x"], "--saved_model"),
        (["--methods=gs,uwl"], "--methods"),
        (["--tf_log_level=7"], "--tf_log_level"),
        (["--metod=gs"], "metod"),
        (["stray_argument"], "stray_argument"),
    ],
)
def test_bad_flag_is_one_line_at_once_and_writes_nothing(tmp_path, args, flag):
    out = tmp_path / "run"
    result = _without_tensorflow(tmp_path, f"--output_dir={out}", *args)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    assert flag in lines[0]
    # Not absl's dump of every flag a multi-flag check reads ("flags mode=None, ...: ").
    assert not lines[0].startswith("error: flags "), lines[0]
    assert not out.exists()
    assert result.stdout == ""
    # TensorFlow is not even imported (that alone takes 3 s or more): an import of it
    # would have failed with _without_tensorflow's message instead of this one.
    assert "TENSORFLOW IMPORTED" not in result.stderr


def test_data_source_is_refused_for_a_csv_data_set(tmp_path):
    # Before: silently ignored (the CSV's own image paths are read whatever it says).
    table = tmp_path / "data.csv"
    table.write_text("image,size\na.png,1\n")
    result = _without_tensorflow(tmp_path, f"--dataset=csv:{table}", "--tasks=size",
                                 "--data_source=tfds", f"--output_dir={tmp_path / 'run'}")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: --data_source=tfds does not apply to --dataset=csv:{table} (it reads the "
        "image paths in its CSV file); unset it"]
    assert not (tmp_path / "run").exists()


def test_version_is_the_package_version_at_once(tmp_path):
    # At once: without importing TensorFlow (an import would fail here).
    result = _without_tensorflow(tmp_path, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"mtl-tf {mtl_tf.__version__}\n"
    assert result.stderr == ""


@pytest.mark.parametrize("old, new", [("--eval_only", "--mode=eval"),
                                      ("--export_only", "--mode=export")])
def test_old_mode_spellings_still_work_and_name_the_new_one(tmp_path, old, new):
    # Both spellings reach the same command: here it refuses a directory that holds no
    # finished run, after TensorFlow has started. The old one first says how it is spelled
    # now, in one line.
    missing = str(tmp_path / "missing")
    results = {spelling: _main(spelling, f"--run_dir={missing}",
                               f"--export_dir={tmp_path / 'export'}", timeout=120)
               for spelling in (old, new)}
    for result in results.values():
        assert result.returncode == 2, result.stderr[-2000:]
        assert result.stdout == ""
    error = results[new].stderr.splitlines()
    assert len(error) == 1 and "is not a finished run directory" in error[0], error
    assert results[old].stderr.splitlines() == [
        f"note: {old} is now spelled {new} (the old spelling still works)", error[0]]
    assert not os.path.exists(tmp_path / "export")


def test_defining_and_checking_flags_imports_no_tensorflow():
    code = (
        "import sys\n"
        "from flags import definitions\n"
        "import mtl_tf.choices, mtl_tf.tf_startup\n"
        "from mtl_tf.cli import app\n"
        "from mtl_tf.cli.flags import modes\n"
        "definitions.FLAGS(['main.py', '--mode=experiment', '--experiment=quick_multi_mnist',\n"
        "                   '--methods=gs,uwl', '--method=mtvib',\n"
        "                   '--dataset=mtfl', '--backbone=lenet', '--strategy=mirrored',\n"
        "                   '--task_weights=1,2,3,4', '--etas=0,0.1'])\n"
        "definitions.config_from_flags()\n"
        "definitions.flagfile_text()\n"
        "definitions.help_text()\n"
        "app.usage_text()\n"
        "assert modes.resolved_mode(definitions.FLAGS) == 'experiment'\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras', 'numpy') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_name_lists_equal_the_registries_they_mirror():
    from mtl_tf import methods, models
    from mtl_tf.data import datasets, sources
    from mtl_tf.evaluation import attacks
    from mtl_tf.orchestration.experiments import EXPERIMENTS
    from mtl_tf.training import distribute
    from mtl_tf.training.fit import make_optimizer
    from mtl_tf.weighting import mgda, pareto_mtl

    assert choices.METHODS == tuple(methods.available_methods())
    assert choices.DATASETS == datasets.DATASETS
    from mtl_tf.data.mtfl_annotations import TASK_NAMES as MTFL_TASKS

    assert choices.NUM_TASKS == {**{d: 2 for d in choices.DATASETS if d != "mtfl"},
                                 "mtfl": len(MTFL_TASKS), choices.SYNTHETIC: 2}
    assert choices.DATA_SOURCES == sources.DATA_SOURCES
    assert choices.BACKBONES == models.BACKBONES
    assert choices.ENCODERS == models.ENCODERS
    assert choices.STRATEGIES == distribute.STRATEGIES
    assert choices.GRAD_WRT == mgda.GRAD_WRT
    assert choices.GRAD_NORMALIZATIONS == mgda.NORMALIZATIONS
    assert choices.PARETO_LOSS_SCALES == pareto_mtl.LOSS_SCALES
    assert choices.PARETO_GRAD_NORMALIZATIONS == pareto_mtl.GRAD_NORMALIZATIONS
    assert choices.ATTACKS == tuple(attacks.ATTACKS)
    # The optimizers: each name builds one, and nothing else does.
    for name in choices.OPTIMIZERS:
        make_optimizer(dataclasses.replace(RunConfig(), optimizer=name))
    with pytest.raises(ValueError):
        make_optimizer(dataclasses.replace(RunConfig(), optimizer="rmsprop"))
    # The enum flags offer exactly these lists.
    flag_values = definitions.FLAGS
    assert flag_values["method"].parser.enum_values == list(choices.METHODS)
    # --dataset is a string (csv:PATH, tfds:NAME too): its validator takes exactly these.
    for name in [*choices.DATASETS, choices.SYNTHETIC]:
        flag_values(["main.py", f"--dataset={name}"])
        flag_values.unparse_flags()
    with pytest.raises(absl_flags.IllegalFlagValueError, match="unknown data set"):
        flag_values(["main.py", "--dataset=nope"])
    flag_values.unparse_flags()
    assert flag_values["strategy"].parser.enum_values == list(choices.STRATEGIES)
    # --experiment is checked against the registry itself: every experiment is accepted.
    try:
        for name in EXPERIMENTS:
            flag_values(["main.py", f"--experiment={name}"])
            flag_values.unparse_flags()
    finally:
        flag_values.unparse_flags()


# ------------------------------------------------------------------------ Ctrl-C
def test_ctrl_c_in_training_exits_130_with_one_line(tiny_idx_dir, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, MAIN, *_tiny_args(tiny_idx_dir, str(out),
                                                               "--epochs=50")],
                            cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            # As in a terminal: a runner started in a script's background
                            # passes SIGINT ignored, and main.py keeps it ignored.
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 240
        while not (out / "tensorboard").is_dir():  # training has started
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.time() < deadline, "training did not start"
            time.sleep(0.05)
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err
    # One line says it was interrupted and how to resume; nothing else is reported (no
    # TensorFlow start-up lines either: TF_CPP_MIN_LOG_LEVEL is unset here).
    lines = _report_lines(err)
    assert len(lines) == 1, err[-3000:]
    assert lines[0] == app.INTERRUPTED_MESSAGE or re.fullmatch(
        r"interrupted at epoch \d+, step \d+.*; rerun the same command to resume", lines[0])


# ------------------------------------------------------------------ unexpected errors
def _limit_address_space():
    import resource

    # Too little memory to map TensorFlow's libraries (a memory-capped container): a
    # genuine ImportError after the flags, none of the "bad input" kind.
    limit = 600 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is Linux's")
def test_unexpected_error_is_one_line_exit_1_and_traceback_shows_it(tmp_path):
    out = tmp_path / "run"
    result = _main(f"--output_dir={out}", "--export_dir=", timeout=120,
                   preexec_fn=_limit_address_space)
    assert result.returncode == 1, result.stderr[-3000:]
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr[-3000:]
    assert re.fullmatch(r"error: unexpected \w+ in starting TensorFlow: .+ "
                        r"\(rerun with --traceback for details\)", lines[0]), lines[0]
    assert not out.exists()

    result = _main(f"--output_dir={out}", "--export_dir=", "--traceback", timeout=120,
                   preexec_fn=_limit_address_space)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert not out.exists()


def test_error_line_for_real_exceptions():
    try:
        {}["missing"]
    except KeyError as e:
        assert app.error_line(e, "training gs on multi_mnist") == (
            "error: unexpected KeyError in training gs on multi_mnist: 'missing' "
            "(rerun with --traceback for details)")
    try:
        open(os.path.join(ROOT, "no", "such", "file"))
    except OSError as e:
        assert app.error_line(e, "x") == f"error: {e}"  # bad input: the message alone
    try:
        raise RuntimeError("first line\nsecond line\nthird line")
    except RuntimeError as e:
        line = app.error_line(e, "exporting runs/x")
    assert line == ("error: unexpected RuntimeError in exporting runs/x: first line ... "
                    "(rerun with --traceback for details)")
    assert "\n" not in line


# ------------------------------------------------------------- TensorFlow start-up
def test_tensorflow_start_up_lines_are_hidden_by_default_and_shown_on_request(tmp_path):
    # A command that fails right after TensorFlow has started: the error is all there is.
    args = ["--mode=eval", f"--run_dir={tmp_path / 'missing'}"]
    result = _main(*args, timeout=120)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "is not a finished run directory" in result.stderr

    everything = _main(*args, "--tf_log_level=0", timeout=120)
    assert everything.returncode == 2
    assert everything.stderr.splitlines()[-1] == result.stderr.splitlines()[0]
    if len(everything.stderr.splitlines()) == 1:
        pytest.skip("this TensorFlow build logs nothing while it starts")
    assert re.search(r"^[IWE]0000 ", everything.stderr, re.M), everything.stderr


SAMPLE_START_UP = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1796271717.959583    4013 port.cc:153] oneDNN custom operations are on.
I0000 00:00:1796271730.729449    4440 cpu_feature_guard.cc:227] This TensorFlow binary is optimized
To enable the following instructions: AVX2 AVX512F, in other operations, rebuild TensorFlow.
/x/y.py:3: UserWarning: a Python warning
W0000 00:00:1796271730.8    4440 some.cc:1] a C++ warning
E0000 00:00:1796271730.549645    4190 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA
E0000 00:00:1796271730.6    4190 other.cc:9] a real error
W1203 04:22:10.573900 139773437823872 sources.py:242] absl Python warning
"""


@pytest.mark.parametrize("level, no_driver, kept", [
    (0, True, "all"),
    (1, True, ["/x/y.py", "a C++ warning", "a real error", "absl Python warning"]),
    (2, True, ["/x/y.py", "a real error", "absl Python warning"]),
    (2, False, ["/x/y.py", "failed call to cuInit", "a real error", "absl Python warning"]),
    (3, True, ["/x/y.py", "absl Python warning"]),
])
def test_start_up_filter_keeps_what_the_level_asks_for(level, no_driver, kept):
    shown = tf_startup.filter_startup_lines(SAMPLE_START_UP, level, no_driver).splitlines()
    if kept == "all":
        assert shown == SAMPLE_START_UP.splitlines()
    else:
        assert len(shown) == len(kept) and all(k in s for k, s in zip(kept, shown, strict=True))


def test_tf_log_level_keeps_an_exported_value_and_the_flag_wins():
    env: dict[str, str] = {}
    assert tf_startup.tf_log_level(None, env) == 2 and env["TF_CPP_MIN_LOG_LEVEL"] == "2"
    env = {"TF_CPP_MIN_LOG_LEVEL": "0"}
    assert tf_startup.tf_log_level(None, env) == 0 and env["TF_CPP_MIN_LOG_LEVEL"] == "0"
    assert tf_startup.tf_log_level(3, env) == 3 and env["TF_CPP_MIN_LOG_LEVEL"] == "3"
