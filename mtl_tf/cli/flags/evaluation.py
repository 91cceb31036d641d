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
# The evaluation protocol (mtl_tf.evaluation.protocol). Defaults: the standard protocol,
# always reported; another one is reported beside it (metrics.json "robustness_protocol").
flags.DEFINE_enum("vib_prediction", _DEFAULTS.vib_prediction, list(choices.VIB_PREDICTIONS),
                  "How a VIB model predicts when scored and attacked: mean (default: z = "
                  "mean, deterministic, what a served model gives), sample (one sampled z "
                  "per forward pass, MTVIB §IV) or average (the mean softmax of "
                  "--vib_prediction_samples sampled z, Alemi et al.). Seeded by --seed. "
                  "--eot_samples then averages the attack's gradient over that many draws "
                  "of this prediction.")
flags.DEFINE_integer("vib_prediction_samples", _DEFAULTS.vib_prediction_samples,
                     "Latent samples averaged by --vib_prediction=average (default 12, as "
                     "Alemi et al.'s deep VIB).", lower_bound=1, upper_bound=4096)
flags.DEFINE_enum("attack_loss", _DEFAULTS.attack_loss, list(choices.ATTACK_LOSSES),
                  "The loss the attack differentiates (MTVIB eq. 25 leaves it open): sum "
                  "(default: the unweighted sum of the task losses, the same attack for "
                  "every method), weighted (the model's own training objective: fixed "
                  "weights, 1/sigma^2 for UWL/MTVIB + beta KL, the last epoch's mean "
                  "weights for GradNorm/MGDA/Pareto MTL) or per_task (each task attacked "
                  "through its own loss, scored under its own attack).")
flags.DEFINE_enum("attack_ce", _DEFAULTS.attack_ce, list(choices.ATTACK_CES),
                  "The attacked cross-entropy: logits (default: exact log-softmax) or "
                  "clipped_softmax (on softmax probabilities clipped to [1e-7, 1 - 1e-7] "
                  "as Keras computes it on a softmax output: a confidently right example "
                  "gets a zero gradient and is never perturbed).")
flags.DEFINE_enum("eta_units", _DEFAULTS.eta_units, list(choices.ETA_UNITS),
                  "Units of --etas: pixel (default: [0, 1] pixels, the images as fed) or "
                  "standardized (units of inputs normalised by the data set's std, as "
                  "the reference loaders do: eta x 0.3081 pixels on MultiMNIST); the "
                  "attacked image is clipped to [0, 1] either way.")
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

