"""Flags: the adversarial attack every trained model is evaluated under (MTVIB eq. 25)."""

from __future__ import annotations

from absl import flags

from mtl_tf import choices
from mtl_tf.config import RunConfig

TITLE = "Evaluation under attack"

_DEFAULTS = RunConfig()

flags.DEFINE_list("etas", [f"{e:g}" for e in _DEFAULTS.etas],
                  "Adversarial test perturbation sizes in [0, 1] (MTVIB eq. 25); empty: "
                  "no adversarial evaluation.")
flags.DEFINE_enum("attack", _DEFAULTS.attack, list(choices.ATTACKS),
                  "fgsm: one signed-gradient step; pgd: iterated, projected on the eta ball.")
flags.DEFINE_integer("eot_samples", _DEFAULTS.eot_samples,
                     "VIB models: average the attack's input gradient over this many z "
                     "samples (expectation over the sampling); 0: attack z = mean.",
                     lower_bound=0)
flags.DEFINE_integer("pgd_steps", _DEFAULTS.pgd_steps, "PGD iterations.", lower_bound=1)
flags.DEFINE_float("pgd_step_size", _DEFAULTS.pgd_step_size,
                   "PGD step size (default 2.5 * eta / --pgd_steps).", lower_bound=0.0)


@flags.validator("etas", message="--etas must be comma-separated numbers in [0, 1], "
                                 "e.g. --etas=0,0.05,0.1")
def _check_etas(values: list[str]) -> bool:
    try:
        # nan fails both comparisons, so it is rejected here too.
        return all(0.0 <= float(v) <= 1.0 for v in values)
    except ValueError:
        return False
