"""The run configuration: every knob of a training run, independent of the CLI.

The command line (`mtl-tf`, `main.py`) builds a `RunConfig` from absl flags; library users
build one directly. Keeping the library free of absl flags means the same code trains from
a notebook, a test or the command line.

Each field is a flag of the same name whose default is the field's (the flags read them
from here, `mtl_tf/cli/flags/`), and `config_from_flags` fills every field from its flag:
adding a field means defining its flag, or `tests/test_config_flags.py` fails.
"""

from __future__ import annotations

import dataclasses
import os

from mtl_tf import choices


@dataclasses.dataclass
class RunConfig:
    """Configuration of one training run.

    Defaults are the papers' where they are cheap (Adam, lr 1e-4, batch 200, beta 1e-3,
    latent 256: MTVIB §VI-B) and a short budget where the papers' would take days on a
    CPU (epochs, data sizes); the flagfiles in `flags/` hold the papers' full budgets.
    """

    method: str = "gs"
    dataset: str = "multi_mnist"
    data_dir: str | None = None
    data_source: str = "auto"
    train_size: int = 10000
    test_size: int = 2000
    # Tasks to train, in head order (`mtl_tf.tasks.TaskSpec`s of the data set); None:
    # the data set's own (MTFL: its four attributes, MTVIB's problem), today's behaviour.
    # MTFL also offers "landmarks", a 10-output regression (TCDCN).
    tasks: tuple[str, ...] | None = None
    # MTFL: side of the square images are resized to; 0 = MTVIB's 150 (today's). Smaller
    # images (36, the other size small_alexnet knows) train ~15x faster on a CPU.
    image_size: int = 0
    # MTFL: "none" resizes whole images (the papers', today's); "test" crops every
    # training image to a square framing its face like the test crops (issue #18).
    mtfl_framing: str = "none"
    backbone: str = "small_alexnet"
    # keras.applications backbones only (mtl_tf/models/applications.py): initial weights
    # ("none": random, needs no network; "imagenet": Keras' ImageNet weights) and the side
    # images are resized to (0: the data's own size, enlarged only below the minimum).
    backbone_weights: str = "none"
    backbone_image_size: int = 0
    # None: the method's own encoder (e.g. "vib" for mtvib); set it to combine freely.
    encoder: str | None = None
    # None: equal weights 1/m (fixed weighting only).
    task_weights: tuple[float, ...] | None = None
    # "raw": regression losses in the targets' units (today's); "standardized": errors
    # divided by each output's training std (`mtl_tf.tasks.with_target_std`).
    regression_loss_units: str = "raw"
    epochs: int = 5
    batch_size: int = 200
    optimizer: str = "adam"
    learning_rate: float = 1e-4
    # SGD only (Adam has no such knob): 0.9 is what --optimizer=sgd always used, and the
    # Pareto MTL reference's value.
    momentum: float = 0.9
    # The learning rate as a function of the optimizer's step (`mtl_tf.training.
    # optimizers`). "constant" is today's behaviour; "multistep" multiplies it by
    # `lr_decay` at each epoch of `lr_milestones` (Pareto MTL reference: 0.5 at 15, 30,
    # ..., 90); "cosine" decays it to 0 over `lr_decay_epochs` (0: the run's `epochs`).
    lr_schedule: str = "constant"
    lr_milestones: tuple[float, ...] = ()
    lr_decay: float = 0.5
    lr_decay_epochs: float = 0.0
    # Keras' initialisers (glorot-uniform kernels, zero biases), or PyTorch's defaults
    # (kernels and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))) as the reference LeNet had.
    weight_init: str = "keras"
    # Keras' default 0.99 leaves a briefly trained model at chance in inference mode:
    # the moving statistics lag the weights by ~100 steps. 0.9 tracks them closely.
    bn_momentum: float = 0.9
    beta: float = 1e-3
    latent_dim: int = 256
    # VIB posterior scale: "log_var" (a linear log-variance, std ~ 1 at initialisation;
    # the results in BENCHMARKS.md) or "softplus" (Alemi et al.: std = softplus(rho - 5),
    # ~ 0.007 at initialisation).
    vib_posterior: str = "log_var"
    # Grid search (gs): number of weight vectors per task axis; 0 = one run with
    # --task_weights. Validation pairs (for picking the best grid point) are built from
    # held-out source training images.
    grid_points: int = 0
    val_size: int = 0
    # GradNorm (Chen et al. 2018).
    gradnorm_alpha: float = 1.5
    gradnorm_lr: float = 0.025
    # "step": w -= gradnorm_lr * grad (plain steps); "optimizer": the weights are trained
    # by an optimizer of the network's kind, learning rate and schedule (Chen et al. 2018).
    gradnorm_update: str = "step"
    # MGDA (Sener & Koltun 2018): gradients w.r.t. shared parameters or the shared
    # representation (MGDA-UB), and how they are normalised before the min-norm solve.
    grad_wrt: str = "params"
    grad_normalization: str = "none"
    # Min-norm solver (MGDA and Pareto MTL).
    min_norm_max_iters: int = 250
    min_norm_tol: float = 1e-5
    # Pareto MTL (Lin et al. 2019).
    num_preferences: int = 5
    preference_index: int | None = None  # train only this preference (default: all)
    # Explicit preference vectors, "w1:w2:...:wm" each (replace the K spread ones).
    preferences: tuple[str, ...] | None = None
    pareto_epsilon: float = 0.0
    pareto_max_init_epochs: float = 2.0
    # "none": the reference, preferences on the raw losses; "initial": on L_i / L_i(0).
    pareto_loss_scale: str = "none"
    # "none": the reference, min-norm on the raw gradients; "l2": on unit-length ones.
    pareto_grad_normalization: str = "none"
    # Synthetic example (Pareto MTL §5): runs of gs / mgda (Pareto MTL: one per preference).
    synthetic_runs: int = 10
    # Adversarial evaluation (MTVIB eq. 25) of every trained model on the test set.
    # Empty etas: no adversarial evaluation.
    etas: tuple[float, ...] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
    attack: str = "fgsm"
    eot_samples: int = 0  # VIB models: average the input gradient over this many z draws
    pgd_steps: int = 10
    pgd_step_size: float | None = None  # default 2.5 * eta / pgd_steps
    # The evaluation protocol (mtl_tf.evaluation.protocol): the defaults are the standard
    # one, always reported; any other is reported beside it.
    vib_prediction: str = "mean"  # VIB: z = mean | one sampled z | mean of k samples' softmax
    vib_prediction_samples: int = 12  # k of "average" (Alemi et al.'s deep VIB: 12)
    attack_loss: str = "sum"  # sum | weighted (the model's objective) | per_task
    attack_ce: str = "logits"  # logits | clipped_softmax (a softmax output's Keras loss)
    eta_units: str = "pixel"  # pixel ([0, 1]) | standardized (x eta by the data set's std)
    seed: int = 0
    # tf.distribute: "none", "mirrored" (this machine's GPUs or logical CPUs) or
    # "multi_worker" (several machines, TF_CONFIG); see docs/distributed.md. The batch
    # size is the global one, split across replicas.
    strategy: str = "none"
    output_dir: str = "runs/default"
    keep_checkpoints: int = 3
    # TensorBoard training curves: "epoch" (one point per epoch), "batch" (every step) or
    # a positive integer N as a string (every N steps). How often is logged, not what is
    # computed: a presentation setting (`mtl_tf.run_dir.rules`).
    tb_update_freq: str = "epoch"
    deterministic: bool = True
    verbose: int = 1

    def resolved_encoder(self, default: str) -> str:
        """The encoder to use: the explicit override, else the method's default."""
        return self.encoder or default


def parse_update_freq(value: str) -> str | int:
    """`tb_update_freq` as `keras.callbacks.TensorBoard(update_freq=...)` takes it.

    Args:
      value: "epoch", "batch", or a positive integer (as a string, or an int).

    Returns:
      "epoch", or the number of training steps between two logged points ("batch" is 1).

    Raises:
      ValueError: for any other value, naming the allowed ones.
    """
    text = str(value).strip()
    if text in ("epoch", "batch"):
        return "epoch" if text == "epoch" else 1
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise ValueError(f"--tb_update_freq={value!r}: allowed are epoch, batch, or a positive "
                     "integer N (log every N training steps)")


def comparable_config(config: dict) -> dict:
    """A `RunConfig` dict (as config.json holds it) with spellings of the same setting made
    equal, for deciding whether a run directory holds "the same run".

    ``data_dir`` is compared as a resolved path: ``../shared/data`` run from the repository
    and ``/work/shared/data`` name the same files, and a rerun spelling it the other way
    must resume the run, not be refused as another one.

    A field absent from an older run's config.json (added to `RunConfig` since) is
    compared as its default: a new field's default keeps the behaviour the run had.

    ``lr_decay_epochs`` 0 (unset) means "the run's ``epochs``" for a schedule with a horizon
    (cosine), so it is compared as that number: a rerun raising ``--epochs`` would
    stretch the decay over epochs already trained (no longer the run it continues), and is
    refused; passing ``--lr_decay_epochs`` equal to the old ``--epochs`` continues it
    exactly (at rate 0 past it). Without a horizon the field is irrelevant.
    """
    defaults = {f.name: f.default for f in dataclasses.fields(RunConfig)}
    out = {k: list(v) if isinstance(v, tuple) else v for k, v in defaults.items()}
    out.update(config)
    data_dir = out.get("data_dir")
    if isinstance(data_dir, str) and data_dir:
        out["data_dir"] = os.path.realpath(os.path.expanduser(data_dir))
    if out.get("lr_schedule") in choices.LR_SCHEDULES_WITH_HORIZON:
        if not out.get("lr_decay_epochs"):
            out["lr_decay_epochs"] = out.get("epochs")
        out["lr_decay_epochs"] = float(out["lr_decay_epochs"])
    else:
        out["lr_decay_epochs"] = 0.0
    return out
