"""The absl flag layer: named-experiment flagfiles parse, validators reject bad values."""

from __future__ import annotations

import glob
import os

import pytest
from absl import flags as absl_flags

from flags import definitions

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
                                 "--task_weights=0,0", "--num_preferences=1",
                                 "--bn_momentum=1.5", "--grad_wrt=weights"])
def test_validators_reject(bad):
    with pytest.raises(absl_flags.IllegalFlagValueError):
        FLAGS(["main.py", bad])
