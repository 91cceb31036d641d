"""Learning-rate schedules (issue #15 item 2): the Pareto MTL reference's multi-step
halving, cosine decay, SGD momentum, exact resume, the refusal to stretch a cosine run,
and the learning rate in TensorBoard."""

from __future__ import annotations

import dataclasses
import json
import math
import os

import numpy as np
import pytest
from absl import flags as absl_flags

from mtl_tf.cli.flags import definitions
from mtl_tf.config import RunConfig
from mtl_tf.run_dir.rules import RunDirConflictError, check_same_run, config_dict
from mtl_tf.training.optimizers import learning_rate_schedule, make_optimizer

FLAGS = absl_flags.FLAGS
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _reset_flags():
    yield
    FLAGS.unparse_flags()


def _lr_at(optimizer, step: int) -> float:
    schedule = optimizer._learning_rate  # the schedule object itself, not its value now
    if callable(schedule):
        return float(schedule(step))
    return float(schedule)


def test_pareto_flagfile_is_the_reference_run():
    """Lin et al. 2019 §6.1 + the authors' code: LeNet (PyTorch init), 5 preferences, SGD
    1e-3 momentum 0.9, batch 256, 100 epochs, halved at 15..90, feasible start <= 2."""
    FLAGS(["main.py", f"--flagfile={os.path.join(ROOT, 'flags', 'pareto_mtl_multi_mnist.flags')}"])
    config = definitions.config_from_flags()
    assert (config.method, config.backbone, config.weight_init) == ("pareto_mtl", "lenet",
                                                                    "pytorch")
    assert (config.num_preferences, config.pareto_max_init_epochs) == (5, 2.0)
    assert (config.optimizer, config.learning_rate, config.momentum) == ("sgd", 1e-3, 0.9)
    assert (config.batch_size, config.epochs, config.train_size) == (256, 100, 120000)
    assert config.lr_schedule == "multistep"
    assert config.lr_milestones == (15.0, 30.0, 45.0, 60.0, 75.0, 90.0)
    assert config.lr_decay == 0.5

    spe = math.ceil(120000 / 256)  # 469 steps per epoch
    optimizer = make_optimizer(config, spe)
    assert type(optimizer).__name__ == "SGD" and float(optimizer.momentum) == 0.9
    expected = {
        0: 1e-3,
        15 * spe - 1: 1e-3,  # the last step of epoch 15 (1-based)
        15 * spe: 5e-4,  # epoch 16 trains at half the rate (MultiStepLR, milestone 15)
        30 * spe - 1: 5e-4,
        30 * spe: 2.5e-4,
        60 * spe: 1e-3 / 16,
        90 * spe: 1e-3 / 64,
        100 * spe - 1: 1e-3 / 64,
    }
    for step, lr in expected.items():
        assert _lr_at(optimizer, step) == pytest.approx(lr, rel=1e-6), step


def test_cosine_decays_over_the_runs_total_steps_unless_given_a_horizon():
    config = RunConfig(learning_rate=0.1, lr_schedule="cosine", epochs=4)
    schedule = learning_rate_schedule(config, 10)  # 40 steps in all
    assert float(schedule(0)) == pytest.approx(0.1)
    assert float(schedule(20)) == pytest.approx(0.05, rel=1e-5)
    assert float(schedule(10)) == pytest.approx(0.05 * (1 + math.cos(math.pi / 4)), rel=1e-5)
    assert float(schedule(40)) == pytest.approx(0.0, abs=1e-9)
    assert float(schedule(55)) == pytest.approx(0.0, abs=1e-9)
    fixed = learning_rate_schedule(dataclasses.replace(config, lr_decay_epochs=2), 10)
    assert float(fixed(10)) == pytest.approx(0.05, rel=1e-5)


def test_constant_is_the_default_and_sgd_momentum_is_settable():
    assert RunConfig().lr_schedule == "constant"
    assert learning_rate_schedule(RunConfig(learning_rate=3e-4), None) == 3e-4
    sgd = make_optimizer(RunConfig(optimizer="sgd", momentum=0.5))
    assert float(sgd.momentum) == 0.5
    assert float(make_optimizer(RunConfig(optimizer="sgd")).momentum) == 0.9  # as before
    with pytest.raises(ValueError, match="needs --lr_milestones"):
        learning_rate_schedule(RunConfig(lr_schedule="multistep"), 10)


@pytest.mark.parametrize("args, message", [
    (["--lr_schedule=multistep"], "--lr_schedule=multistep needs --lr_milestones"),
    (["--lr_milestones=30,15"], "--lr_milestones must be comma-separated positive epochs"),
    (["--lr_milestones=0,15"], "--lr_milestones must be comma-separated positive epochs"),
    (["--lr_milestones=a"], "--lr_milestones must be comma-separated positive epochs"),
    (["--lr_schedule=step"], "value should be one of"),
    (["--momentum=1.5"], "momentum"),
    (["--momentum=0.5"], "--momentum applies to --optimizer=sgd only"),
    (["--lr_milestones=15"], "--lr_milestones applies to --lr_schedule=multistep only"),
])
def test_schedule_flags_are_checked_before_anything_runs(args, message):
    with pytest.raises(absl_flags.IllegalFlagValueError, match=message):
        FLAGS(["main.py", *args])


def test_raising_epochs_of_a_cosine_run_is_refused_unless_its_horizon_is_fixed(tmp_path):
    run_dir = str(tmp_path)
    config = RunConfig(lr_schedule="cosine", epochs=3, output_dir=run_dir)
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump(config_dict(config), f)
    check_same_run(run_dir, config)  # the same run resumes
    with pytest.raises(RunDirConflictError, match="decays over 3 epochs"):
        check_same_run(run_dir, dataclasses.replace(config, epochs=5))
    # The horizon named explicitly (the one the run had): raising --epochs continues it.
    check_same_run(run_dir, dataclasses.replace(config, epochs=5, lr_decay_epochs=3.0))
    # Schedules without a horizon continue with more epochs, as before.
    multistep = RunConfig(lr_schedule="multistep", lr_milestones=(1.0,), epochs=3,
                          output_dir=str(tmp_path / "m"))
    os.makedirs(multistep.output_dir)
    with open(os.path.join(multistep.output_dir, "config.json"), "w") as f:
        json.dump(config_dict(multistep), f)
    check_same_run(multistep.output_dir, dataclasses.replace(multistep, epochs=6))


def test_a_run_from_before_these_options_still_resumes(tmp_path):
    """config.json written before the fields existed: compared as their defaults."""
    config = RunConfig(output_dir=str(tmp_path))
    old = config_dict(config)
    for name in ("lr_schedule", "lr_milestones", "lr_decay", "lr_decay_epochs", "momentum",
                 "weight_init", "vib_posterior", "gradnorm_update"):
        del old[name]
    with open(tmp_path / "config.json", "w") as f:
        json.dump(old, f)
    check_same_run(str(tmp_path), dataclasses.replace(config, epochs=9))
    with pytest.raises(RunDirConflictError, match="weight_init"):
        check_same_run(str(tmp_path), dataclasses.replace(config, weight_init="pytorch"))


def test_multistep_run_resumed_with_more_epochs_equals_an_uninterrupted_one(tiny_data, tmp_path):
    """The rate is a function of optimizer.iterations (checkpointed): 1 epoch, then
    --epochs=3, ends with exactly the weights of a 3-epoch run; TensorBoard logs the rate."""
    from tensorboard.backend.event_processing import event_accumulator

    from mtl_tf.orchestration.runs import run

    base = RunConfig(method="gs", backbone="lenet", optimizer="sgd", learning_rate=0.05,
                     lr_schedule="multistep", lr_milestones=(1.0, 2.0), lr_decay=0.1,
                     batch_size=100, train_size=400, test_size=100, etas=(), verbose=0)
    whole = run(dataclasses.replace(base, epochs=3, output_dir=str(tmp_path / "whole")),
                data=tiny_data)
    parts_dir = str(tmp_path / "parts")
    run(dataclasses.replace(base, epochs=1, output_dir=parts_dir), data=tiny_data)
    parts = run(dataclasses.replace(base, epochs=3, output_dir=parts_dir), data=tiny_data)
    assert parts["accuracy"] == whole["accuracy"]
    assert parts["loss"] == whole["loss"]

    accumulator = event_accumulator.EventAccumulator(
        os.path.join(tmp_path / "whole", "tensorboard", "train"))
    accumulator.Reload()
    from tensorboard.util import tensor_util
    rates = [float(tensor_util.make_ndarray(e.tensor_proto))
             for e in accumulator.Tensors("epoch_learning_rate")]
    # Logged at each epoch's end, i.e. the rate of the step that follows it.
    np.testing.assert_allclose(rates, [0.005, 0.0005, 0.0005], rtol=1e-6)


def test_name_lists_mirror_what_implements_them():
    from mtl_tf import choices
    from mtl_tf.models import POSTERIORS, WEIGHT_INITS
    from mtl_tf.training import optimizers
    from mtl_tf.weighting import gradnorm

    assert choices.LR_SCHEDULES == optimizers.LR_SCHEDULES
    assert set(choices.LR_SCHEDULES_WITH_HORIZON) <= set(choices.LR_SCHEDULES)
    assert choices.OPTIMIZERS == optimizers.OPTIMIZERS
    assert choices.VIB_POSTERIORS == POSTERIORS
    assert choices.WEIGHT_INITS == WEIGHT_INITS
    assert choices.GRADNORM_UPDATES == gradnorm.UPDATES


def test_every_new_option_through_main_py_and_a_refused_longer_cosine_run(tiny_idx_dir,
                                                                          tmp_path):
    """The user path: all four options at once train, write their flags to flags.txt and
    replay; raising --epochs of the cosine run is one line, exit 2, nothing changed."""
    import subprocess
    import sys

    def main(*args):
        return subprocess.run(
            [sys.executable, os.path.join(ROOT, "main.py"), f"--data_dir={tiny_idx_dir}",
             "--train_size=400", "--test_size=100", "--batch_size=100", "--backbone=lenet",
             "--verbose=0", "--export_dir=", "--etas=0,0.1", f"--output_dir={out}", *args],
            cwd=ROOT, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), capture_output=True,
            text=True, timeout=300)

    out = str(tmp_path / "run")
    options = ["--method=gradnorm", "--encoder=vib", "--latent_dim=16",
               "--vib_posterior=softplus", "--gradnorm_update=optimizer",
               "--weight_init=pytorch", "--optimizer=sgd", "--momentum=0.5",
               "--learning_rate=0.01", "--lr_schedule=cosine"]
    first = main("--epochs=2", *options)
    assert first.returncode == 0, first.stderr[-3000:]
    with open(os.path.join(out, "flags.txt")) as f:
        written = set(f.read().splitlines())
    assert set(options) <= written
    with open(os.path.join(out, "metrics.json")) as f:
        before = f.read()
    longer = main("--epochs=3", *options)
    assert longer.returncode == 2
    assert "Traceback" not in longer.stderr
    (line,) = [x for x in longer.stderr.splitlines() if x.startswith("error:")]
    assert "decays over 2 epochs" in line and "choose another --output_dir" in line
    with open(os.path.join(out, "metrics.json")) as f:
        assert f.read() == before


def test_reference_experiments_train_as_the_flagfile_and_fit_its_halving_two_ways():
    """Issue #16 item 2: `reference_multi_fashion_mnist_{scaled,truncated,first15}` train Pareto
    MTL Fig. 4(c)'s methods with the flagfile's optimiser, at >= 2,000 steps per model; the
    scaled schedule ends at the reference's final rate, the truncated one is the
    reference's first 5 epochs (constant 1e-3: its first halving is at epoch 15)."""
    from mtl_tf.orchestration.experiment_catalog import EXPERIMENTS, method_config

    FLAGS(["main.py", f"--flagfile={os.path.join(ROOT, 'flags', 'pareto_mtl_multi_mnist.flags')}"])
    reference = definitions.config_from_flags()
    shared = ("backbone", "weight_init", "optimizer", "learning_rate", "momentum",
              "batch_size", "pareto_max_init_epochs", "train_size", "test_size")
    final_rates = {}
    for fitting in ("scaled", "truncated", "first15"):
        exp = EXPERIMENTS[f"reference_multi_fashion_mnist_{fitting}"]
        assert exp.dataset == "multi_fashion_mnist"
        assert exp.methods == ("stl", "gs", "uwl", "gradnorm", "mgda", "pareto_mtl")
        pareto = method_config(exp, "pareto_mtl", RunConfig(), "/r")
        for field in shared:
            assert getattr(pareto, field) == getattr(reference, field), (fitting, field)
        assert pareto.num_preferences == 5
        assert method_config(exp, "gs", RunConfig(), "/r").grid_points == 3
        spe = math.ceil(pareto.train_size / pareto.batch_size)
        assert pareto.epochs * spe >= 2000
        optimizer = make_optimizer(pareto, spe)
        final_rates[fitting] = _lr_at(optimizer, pareto.epochs * spe - 1)
        if fitting == "scaled":
            ratio = pareto.epochs / reference.epochs
            assert pareto.lr_milestones == pytest.approx(
                [m * ratio for m in reference.lr_milestones])
            # Epoch 1 trains at 1e-3; the halving at 0.75 epochs is where 15 of 100 was.
            assert _lr_at(optimizer, 0) == pytest.approx(1e-3)
            assert _lr_at(optimizer, math.ceil(0.75 * spe) + 1) == pytest.approx(5e-4, rel=1e-6)
        else:
            # The reference's own rate at every epoch this budget trains.
            assert pareto.epochs == (5 if fitting == "truncated" else 15)
            for step in (0, spe, pareto.epochs * spe - 1):
                assert _lr_at(optimizer, step) == pytest.approx(
                    _lr_at(make_optimizer(reference, spe), step), rel=1e-6)
    assert final_rates["scaled"] == pytest.approx(1e-3 / 64, rel=1e-6)
    assert final_rates["truncated"] == final_rates["first15"] == pytest.approx(1e-3, rel=1e-6)
