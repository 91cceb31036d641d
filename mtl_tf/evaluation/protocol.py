"""The evaluation protocol: how a VIB model predicts and how the attack of eq. 25 is built.

MTVIB eq. 25, x_adv = clip(x + eta * sign(grad_x L), 0, 1), leaves four choices open that
change the numbers of Tables III-V. Each is a field of `Protocol` (and a flag of the same
name, `mtl_tf/cli/flags/evaluation.py`); the *standard* protocol is the default and is
always reported, any other one is reported beside it (`mtl_tf.evaluation.robustness`):

* ``vib_prediction`` -- how a VIB encoder predicts, for the clean score, the scoring of
  the attacked images and the attack's gradient (MTVIB §IV, Alemi et al. 2017):

  - ``mean`` (standard): z = mean. Deterministic: the same image always gets the same
    answer, which is what a served model gives and what makes accuracies reproducible
    without averaging over draws; it is also the only protocol a non-VIB model has.
  - ``sample``: one z ~ q(z|x) per forward pass, as MTVIB §IV describes ("we first
    sample the latent variable z ... then z will be used as the input for the respective
    decoders").
  - ``average``: the mean of ``vib_prediction_samples`` samples' softmax (Alemi et al.'s
    deep VIB: 12), i.e. p(y|x) = 1/k sum_s softmax(f(z_s)).

  Draws are seeded (stateless, from ``--seed`` and the batch index), so results are
  deterministic. ``--eot_samples`` keeps its meaning on top of this: the attack's gradient
  is averaged over that many independent draws of the prediction's randomness (with
  ``mean`` a draw is one sampled z, as before); with 0 the gradient is that of the one
  draw the clean prediction used.
* ``attack_loss`` -- the loss whose input gradient is taken (`mtl_tf.evaluation.attack_loss`):
  ``sum`` (standard; every task at once and the same attack for every method, whatever its
  weights), ``weighted`` (the model's own training objective) or ``per_task`` (each task
  attacked through its own loss and scored under its own attack; no joint accuracy).
* ``attack_ce`` -- how the cross-entropy of that loss is computed: ``logits`` (standard:
  log-softmax, numerically exact) or ``clipped_softmax`` (from softmax probabilities
  clipped to [1e-7, 1 - 1e-7], as `keras.losses.sparse_categorical_crossentropy` does on
  a probability output, the papers' models ending in a softmax): a confidently right
  example then has an exactly zero input gradient, sign 0, and is never perturbed. The
  fraction of such examples is reported per task and per pair beside every FGSM result.
* ``eta_units`` -- ``pixel`` (standard: eta in [0, 1] pixel units, MTVIB eq. 25 on the
  images as this library feeds them) or ``standardized``: eta in the units of inputs
  normalised by the data set's mean and std, as the reference loaders do, so the step
  in [0, 1] units is eta * std (MNIST std 0.3081: eta 0.3 is 0.092). The attacked image
  is clipped to the valid image range [0, 1] either way (in normalised units, to
  [-mean/std, (1 - mean)/std]): an attacked input must stay an image the model could
  be given; an unclipped attack in normalised space would move the black background
  below black, which no real image has.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from mtl_tf import choices

__all__ = ["NORMALIZATION_STD", "Protocol", "STANDARD"]

# The pixel std (in [0, 1] units) by which the reference loaders normalise each data set's
# inputs (torchvision's Normalize((mean,), (std,))): the source set's training-image std,
# MNIST 0.3081 and Fashion-MNIST 0.3530. Data sets without one known reference constant
# (a mixed-source set, MTFL's RGB faces) have none, and `--eta_units=standardized` is
# refused for them rather than guessed.
NORMALIZATION_STD: dict[str, float] = {"multi_mnist": 0.3081, "multi_fashion": 0.3530}


@dataclasses.dataclass(frozen=True)
class Protocol:
    """One evaluation protocol (module docstring); `Protocol()` is the standard one."""

    vib_prediction: str = "mean"
    vib_prediction_samples: int = 12
    attack_loss: str = "sum"
    attack_ce: str = "logits"
    eta_units: str = "pixel"

    def __post_init__(self) -> None:
        for field, allowed in (("vib_prediction", choices.VIB_PREDICTIONS),
                               ("attack_loss", choices.ATTACK_LOSSES),
                               ("attack_ce", choices.ATTACK_CES),
                               ("eta_units", choices.ETA_UNITS)):
            if getattr(self, field) not in allowed:
                raise ValueError(f"--{field}={getattr(self, field)!r} is not one of "
                                 f"{', '.join(allowed)}")
        if int(self.vib_prediction_samples) < 1:
            raise ValueError("--vib_prediction_samples must be >= 1, got "
                             f"{self.vib_prediction_samples}")

    @classmethod
    def from_config(cls, config: Any) -> Protocol:
        """The protocol a `RunConfig` selects (its fields of the same names)."""
        return cls(**{f.name: getattr(config, f.name) for f in dataclasses.fields(cls)})

    @property
    def is_standard(self) -> bool:
        """True for the default protocol (the one always reported)."""
        return self.key() == STANDARD.key()

    @property
    def prediction_samples(self) -> int:
        """Latent samples per prediction: 0 = z = mean, 1 = one sample, k = average."""
        return {"mean": 0, "sample": 1}.get(self.vib_prediction, int(self.vib_prediction_samples))

    def key(self) -> tuple:
        """What distinguishes two protocols (the sample count only matters for average)."""
        samples = self.vib_prediction_samples if self.vib_prediction == "average" else None
        return (self.vib_prediction, samples, self.attack_loss, self.attack_ce, self.eta_units)

    def for_model(self, model) -> Protocol:
        """This protocol as it applies to `model`: a non-VIB model predicts deterministically."""
        if getattr(model, "is_vib", False) or self.vib_prediction == "mean":
            return self
        return dataclasses.replace(self, vib_prediction="mean")

    def eta_scale(self, dataset: str | None) -> float:
        """The size in [0, 1] pixel units of one eta unit on `dataset`.

        Raises:
          ValueError: ``standardized`` units on a data set without a known std.
        """
        if self.eta_units == "pixel":
            return 1.0
        if dataset not in NORMALIZATION_STD:
            known = ", ".join(f"{d} ({s})" for d, s in NORMALIZATION_STD.items())
            raise ValueError(
                f"--eta_units=standardized needs the std the reference loaders normalise "
                f"{dataset} by, and none is known (known: {known}); use --eta_units=pixel")
        return NORMALIZATION_STD[dataset]

    def describe(self, eta_scale: float = 1.0) -> dict[str, Any]:
        """The protocol as metrics.json records it beside each robustness result.

        Args:
          eta_scale: pixels per eta unit on the data set scored (`eta_scale`).
        """
        out: dict[str, Any] = {
            "name": self.name(),
            "vib_prediction": self.vib_prediction,
            "vib_prediction_samples": self.prediction_samples,
            "attack_loss": self.attack_loss,
            "attack_ce": self.attack_ce,
            "eta_units": self.eta_units,
            "eta_scale": float(eta_scale),
        }
        return out

    def name(self) -> str:
        """A short label: "standard", or the non-standard choices joined by "+"."""
        parts = []
        if self.vib_prediction == "sample":
            parts.append("vib-sample")
        elif self.vib_prediction == "average":
            parts.append(f"vib-average{self.vib_prediction_samples}")
        if self.attack_loss != "sum":
            parts.append(f"{self.attack_loss}-loss")
        if self.attack_ce != "logits":
            parts.append(self.attack_ce)
        if self.eta_units != "pixel":
            parts.append(f"{self.eta_units}-eta")
        return "+".join(parts) or "standard"


STANDARD = Protocol()
