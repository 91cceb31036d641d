"""The absl flag layer: named-experiment flagfiles parse, validators reject bad values."""

from __future__ import annotations

import glob
import os

import pytest
from absl import flags as absl_flags

from flags import definitions, modes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS = absl_flags.FLAGS


@pytest.fixture(autouse=True)
def _reset_flags():
    yield
    FLAGS.unparse_flags()


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "flags", "*.flags"))))
def test_named_experiment_flagfiles_parse_into_a_config(path):
    FLAGS(["main.py", f"--flagfile={path}"])
    config = definitions.config_from_flags()
    assert config.method == FLAGS.method
    assert config.epochs >= 100  # the papers' budgets, not the quick default
    assert config.output_dir == f"runs/{config.method}-{config.dataset}-seed0"


def test_flagfile_text_round_trips(tmp_path):
    FLAGS(["main.py", "--method=gs", "--task_weights=0.3,0.7", "--epochs=4", "--seed=3"])
    text = definitions.flagfile_text()
    first = definitions.config_from_flags()
    FLAGS.unparse_flags()
    path = tmp_path / "flags.txt"
    path.write_text(text)
    FLAGS(["main.py", f"--flagfile={path}"])
    assert definitions.config_from_flags() == first


@pytest.mark.parametrize("bad", ["--task_weights=0.5,x", "--task_weights=-1,2",
                                 "--task_weights=0,0", "--task_weights=inf,1",
                                 "--num_preferences=1", "--bn_momentum=1.5",
                                 "--grad_wrt=weights", "--etas=nan", "--tf_log_level=4"])
def test_validators_reject(bad):
    with pytest.raises(absl_flags.IllegalFlagValueError):
        FLAGS(["main.py", bad])


def _float_flags() -> list[str]:
    return [f.name for f in definitions.project_flags()
            if isinstance(f.parser, absl_flags.FloatParser)]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN"])
def test_every_float_flag_rejects_non_finite_values(value):
    names = _float_flags()
    assert {"learning_rate", "beta", "bn_momentum", "pgd_step_size"} <= set(names)
    for name in names:
        # inf may meet a bound first ("not a number in the range [0.0, 1.0]"); nan never does.
        match = f"--{name}=.*finite" if value.lower() == "nan" else f"--{name}="
        with pytest.raises(absl_flags.IllegalFlagValueError, match=match):
            FLAGS(["main.py", f"--{name}={value}"])
        FLAGS.unparse_flags()


def test_flagfile_text_writes_every_project_flag_but_actions_and_diagnostics():
    FLAGS(["main.py", "--preference_index=1", "--encoder=vib", "--data_dir=/d",
           "--pgd_step_size=0.01", "--task_weights=1,1", "--experiment=multi_mnist",
           "--report_dir=r", "--methods=gs", "--traceback", "--tf_log_level=0",
           "--output_dir=o", "--tasks=top_left,bottom_right", "--preferences=1:0,0:1"])
    written = {line.split("=")[0].lstrip("-").removeprefix("no")
               for line in definitions.flagfile_text().splitlines()}
    expected = {f.name for f in definitions.project_flags()} - {
        "mode", "export_only", "run_dir", "export_dir", "eval_only", "saved_model",
        "experiment", "report_dir", "methods", "tf_log_level", "traceback", "version"}
    assert written == expected


# ------------------------------------------------------------------------------ --mode
@pytest.mark.parametrize("args, mode", [
    ([], "train"),
    (["--mode=train"], "train"),
    (["--mode=eval", "--run_dir=r"], "eval"),
    (["--mode=eval", "--saved_model=s"], "eval"),
    (["--eval_only", "--run_dir=r"], "eval"),
    (["--eval_only", "--mode=eval", "--saved_model=s"], "eval"),
    (["--mode=export", "--run_dir=r"], "export"),
    (["--export_only", "--run_dir=r"], "export"),
    (["--mode=experiment", "--experiment=quick_multi_mnist"], "experiment"),
    (["--experiment=quick_multi_mnist", "--methods=gs,uwl", "--report_dir=r"], "experiment"),
])
def test_mode_is_resolved_from_its_spellings(args, mode):
    FLAGS(["main.py", *args])
    assert modes.resolved_mode(FLAGS) == mode
    notices = modes.old_spelling_notices(FLAGS)
    old = [a for a in args if a in ("--eval_only", "--export_only")]
    assert len(notices) == len(old)
    for spelling, notice in zip(old, notices, strict=True):
        assert notice == (f"note: {spelling} is now spelled --mode={mode} "
                          "(the old spelling still works)")


@pytest.mark.parametrize("args, message", [
    (["--mode=eval"], "--mode=eval needs --run_dir=<a finished run> or "
                      "--saved_model=<a SavedModel>"),
    (["--eval_only"], "--eval_only needs --run_dir=<a finished run> or "
                      "--saved_model=<a SavedModel>"),
    (["--mode=export"], "--mode=export needs --run_dir=<a finished run directory>"),
    (["--export_only", "--export_dir=e"], "--export_only needs --run_dir"),
    (["--mode=experiment"], "--mode=experiment needs --experiment=<name>"),
    (["--mode=eval", "--run_dir=r", "--saved_model=s"], "give --run_dir or --saved_model, "
                                                        "not both"),
    (["--eval_only", "--export_only", "--run_dir=r"],
     "--eval_only and --export_only ask for different modes; give one --mode "
     "(train, eval, export, experiment)"),
    (["--mode=train", "--experiment=quick_multi_mnist"],
     "--mode=train and --experiment=quick_multi_mnist ask for different modes"),
    (["--mode=eval", "--run_dir=r", "--experiment=quick_multi_mnist"],
     "--mode=eval and --experiment=quick_multi_mnist ask for different modes"),
    (["--run_dir=r"], "--run_dir is read only by --mode=eval or --mode=export; this "
                      "command is --mode=train"),
    (["--mode=export", "--run_dir=r", "--saved_model=s"],
     "--saved_model is read only by --mode=eval; this command is --mode=export"),
    (["--methods=gs"], "--methods is read only by --mode=experiment"),
    (["--mode=eval", "--run_dir=r", "--report_dir=x"], "--report_dir is read only by "
                                                        "--mode=experiment"),
    (["--mode=sweep"], "--mode"),
])
def test_mode_validators_reject_in_one_message(args, message):
    with pytest.raises(absl_flags.IllegalFlagValueError) as error:
        FLAGS(["main.py", *args])
    assert message in str(error.value)
    assert "\n" not in str(error.value)
