"""Every command-line flag of `main.py`, in one place, with its validation.

Flag values are turned into a `mtl_tf.config.RunConfig` by `config_from_flags`; the
library itself never reads flags. Invalid values stop the program before any work with
one line naming the flag and what is allowed (absl validators).
"""

from __future__ import annotations

from absl import flags

from mtl_tf import methods as methods_lib
from mtl_tf.config import RunConfig
from mtl_tf.data.datasets import DATASETS
from mtl_tf.models import BACKBONES, ENCODERS
from mtl_tf.training.distribute import STRATEGIES

FLAGS = flags.FLAGS
_DEFAULTS = RunConfig()

flags.DEFINE_enum("method", _DEFAULTS.method, list(methods_lib.available_methods()),
                  "Training method (a named encoder + weighting combination).")
flags.DEFINE_enum("dataset", _DEFAULTS.dataset, [*DATASETS, "synthetic"],
                  "Data set; 'synthetic' is Pareto MTL's concave two-objective example (§5).")
flags.DEFINE_string("data_dir", None,
                    "Folder with the IDX files: <data_dir>/mnist/, <data_dir>/fashion-mnist/ "
                    "or a flat folder. Without it: a local tensorflow-datasets copy if one is "
                    "prepared, else the embedded sample shipped with mtl_tf.")
flags.DEFINE_enum("data_source", _DEFAULTS.data_source, ["auto", "dir", "tfds", "embedded"],
                  "Where source images come from; 'tfds' downloads when online.")
flags.DEFINE_integer("train_size", _DEFAULTS.train_size,
                     "Training pairs to generate (MultiMNIST family), or training images to "
                     "sample (MTFL; 0 = the whole split).", lower_bound=0)
flags.DEFINE_integer("test_size", _DEFAULTS.test_size,
                     "Test pairs (MultiMNIST family), or test images (MTFL; 0 = the whole "
                     "split).", lower_bound=0)
flags.DEFINE_enum("backbone", _DEFAULTS.backbone, list(BACKBONES),
                  "small_alexnet: MTVIB Table I/II; lenet: Pareto MTL's LeNet.")
flags.DEFINE_enum("encoder", None, list(ENCODERS),
                  "Override the method's encoder (e.g. vib with any weighting).")
flags.DEFINE_list("task_weights", None,
                  "Fixed task weights for --method=gs, one per task, e.g. 0.5,0.5 "
                  "(default: equal).")
flags.DEFINE_integer("epochs", _DEFAULTS.epochs, "Training epochs.", lower_bound=1)
flags.DEFINE_integer("batch_size", _DEFAULTS.batch_size, "Mini-batch size.", lower_bound=1)
flags.DEFINE_enum("optimizer", _DEFAULTS.optimizer, ["adam", "sgd"], "Optimizer.")
flags.DEFINE_float("learning_rate", _DEFAULTS.learning_rate, "Learning rate.", lower_bound=0.0)
flags.DEFINE_float("bn_momentum", _DEFAULTS.bn_momentum,
                   "BatchNorm moving-average momentum (Keras' 0.99 is too slow for short runs).",
                   lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_float("beta", _DEFAULTS.beta, "VIB KL weight (MTVIB eq. 23).", lower_bound=0.0)
flags.DEFINE_integer("latent_dim", _DEFAULTS.latent_dim, "VIB latent dimension.", lower_bound=1)
flags.DEFINE_integer("grid_points", _DEFAULTS.grid_points,
                     "gs: grid-search this many weight vectors per task axis with keras-tuner "
                     "(needs --val_size); 0 = one run with --task_weights.", lower_bound=0)
flags.DEFINE_integer("val_size", _DEFAULTS.val_size,
                     "Validation pairs, built from held-out source training images.",
                     lower_bound=0)
flags.DEFINE_float("gradnorm_alpha", _DEFAULTS.gradnorm_alpha, "GradNorm asymmetry alpha.",
                   lower_bound=0.0)
flags.DEFINE_float("gradnorm_lr", _DEFAULTS.gradnorm_lr, "GradNorm weight learning rate.",
                   lower_bound=0.0)
flags.DEFINE_enum("grad_wrt", _DEFAULTS.grad_wrt, ["params", "representation"],
                  "MGDA: gradients w.r.t. shared parameters, or the shared representation "
                  "(MGDA-UB).")
flags.DEFINE_enum("grad_normalization", _DEFAULTS.grad_normalization,
                  ["none", "l2", "loss", "loss+"], "MGDA gradient normalisation.")
flags.DEFINE_integer("min_norm_max_iters", _DEFAULTS.min_norm_max_iters,
                     "Min-norm solver iteration cap.", lower_bound=1)
flags.DEFINE_float("min_norm_tol", _DEFAULTS.min_norm_tol, "Min-norm solver tolerance.",
                   lower_bound=0.0)
flags.DEFINE_integer("num_preferences", _DEFAULTS.num_preferences,
                     "Pareto MTL: number of preference vectors K (one model each).",
                     lower_bound=2)
flags.DEFINE_integer("preference_index", None,
                     "Pareto MTL: train only this preference (0-based); default all.",
                     lower_bound=0)
flags.DEFINE_float("pareto_epsilon", _DEFAULTS.pareto_epsilon,
                   "Pareto MTL: constraint j is active when G_j > -epsilon (eq. 11).",
                   lower_bound=0.0)
flags.DEFINE_float("pareto_max_init_epochs", _DEFAULTS.pareto_max_init_epochs,
                   "Pareto MTL: bound on the feasible-start phase, in epochs.",
                   lower_bound=0.0)
flags.DEFINE_list("etas", [f"{e:g}" for e in _DEFAULTS.etas],
                  "Adversarial test perturbation sizes in [0, 1] (MTVIB eq. 25); empty: "
                  "no adversarial evaluation.")
flags.DEFINE_enum("attack", _DEFAULTS.attack, ["fgsm", "pgd"],
                  "fgsm: one signed-gradient step; pgd: iterated, projected on the eta ball.")
flags.DEFINE_integer("eot_samples", _DEFAULTS.eot_samples,
                     "VIB models: average the attack's input gradient over this many z "
                     "samples (expectation over the sampling); 0: attack z = mean.",
                     lower_bound=0)
flags.DEFINE_integer("pgd_steps", _DEFAULTS.pgd_steps, "PGD iterations.", lower_bound=1)
flags.DEFINE_float("pgd_step_size", None, "PGD step size (default 2.5 * eta / --pgd_steps).",
                   lower_bound=0.0)
flags.DEFINE_boolean("eval_only", False,
                     "Re-evaluate (test accuracy and --attack at --etas) the finished run in "
                     "--run_dir, or the SavedModel in --saved_model on the data flags; no "
                     "training.")
flags.DEFINE_string("saved_model", None,
                    "An exported SavedModel version directory, for --eval_only.")
flags.DEFINE_string("experiment", None,
                    "Run a named experiment (a set of methods on one data set with one "
                    "budget, mtl_tf/experiments.py; e.g. quick_multi_mnist, multi_mnist) and "
                    "write its report (tables, robustness curves, examples, fronts).")
flags.DEFINE_string("report_dir", None,
                    "Report directory of --experiment (default runs/<experiment>-seed<seed>).")
flags.DEFINE_list("methods", None,
                  "With --experiment: run and report only these of its methods (e.g. the "
                  "key cells of a claim under more --seed values); each keeps the "
                  "experiment's configuration.")
flags.DEFINE_integer("synthetic_runs", _DEFAULTS.synthetic_runs,
                     "Synthetic example: random starts of gs / mgda.", lower_bound=1)
flags.DEFINE_integer("seed", _DEFAULTS.seed, "Random seed (data, initialisation, shuffling).")
flags.DEFINE_enum("strategy", _DEFAULTS.strategy, list(STRATEGIES),
                  "Distributed training (docs/distributed.md): none; mirrored (this "
                  "machine's GPUs, or its logical CPUs); multi_worker (several machines, "
                  "each running the same command with its own TF_CONFIG). --batch_size is "
                  "the global batch, split across replicas.")
flags.DEFINE_string("output_dir", None,
                    "Run directory (default runs/<method>-<dataset>-seed<seed>). Rerunning "
                    "the same command resumes from its last checkpoint.")
flags.DEFINE_string("export_dir", "export/models",
                    "After training, export every trained model as a versioned SavedModel "
                    "for TensorFlow Serving under <export_dir>/<model>/<version>/ (and "
                    "write <export_dir>/models.config); empty: do not export.")
flags.DEFINE_boolean("export_only", False,
                     "Export the finished run in --run_dir to --export_dir; no training.")
flags.DEFINE_string("run_dir", None, "A finished run directory (for --export_only).")
flags.DEFINE_integer("keep_checkpoints", _DEFAULTS.keep_checkpoints,
                     "How many per-epoch checkpoints to keep.", lower_bound=1)
flags.DEFINE_boolean("deterministic", _DEFAULTS.deterministic,
                     "Enable TensorFlow op determinism (same seed -> same metrics).")
flags.DEFINE_integer("verbose", _DEFAULTS.verbose,
                     "Keras verbosity: 0 silent, 1 progress bar, 2 one line per epoch.",
                     lower_bound=0, upper_bound=2)


def _parse_weights(values: list[str] | None) -> tuple[float, ...] | None:
    if values is None:
        return None
    return tuple(float(v) for v in values)


@flags.validator("task_weights",
                 message="--task_weights must be comma-separated non-negative numbers, "
                         "not all zero, e.g. --task_weights=0.5,0.5")
def _check_task_weights(values: list[str] | None) -> bool:
    if values is None:
        return True
    try:
        weights = _parse_weights(values)
    except ValueError:
        return False
    return all(w >= 0 for w in weights) and sum(weights) > 0


@flags.validator("experiment", message="unknown --experiment; see mtl_tf/experiments.py")
def _check_experiment(name: str | None) -> bool:
    if name is None:
        return True
    from mtl_tf.experiments import EXPERIMENTS

    if name not in EXPERIMENTS:
        raise flags.ValidationError(
            f"unknown --experiment {name!r}; allowed: {', '.join(sorted(EXPERIMENTS))}")
    return True


@flags.validator("etas", message="--etas must be comma-separated numbers in [0, 1], "
                                 "e.g. --etas=0,0.05,0.1")
def _check_etas(values: list[str]) -> bool:
    try:
        return all(0.0 <= float(v) <= 1.0 for v in values)
    except ValueError:
        return False


@flags.multi_flags_validator(
    ["eval_only", "run_dir", "saved_model"],
    message="--eval_only needs --run_dir=<a finished run> or --saved_model=<a SavedModel>")
def _check_eval_only(values: dict) -> bool:
    return not values["eval_only"] or bool(values["run_dir"] or values["saved_model"])


@flags.multi_flags_validator(
    ["export_only", "run_dir"],
    message="--export_only needs --run_dir=<a finished run directory>")
def _check_export_only(values: dict) -> bool:
    return not values["export_only"] or bool(values["run_dir"])


def config_from_flags() -> RunConfig:
    """The `RunConfig` described by the parsed flags."""
    output_dir = FLAGS.output_dir or f"runs/{FLAGS.method}-{FLAGS.dataset}-seed{FLAGS.seed}"
    return RunConfig(
        method=FLAGS.method,
        dataset=FLAGS.dataset,
        data_dir=FLAGS.data_dir,
        data_source=FLAGS.data_source,
        train_size=FLAGS.train_size,
        test_size=FLAGS.test_size,
        backbone=FLAGS.backbone,
        encoder=FLAGS.encoder,
        task_weights=_parse_weights(FLAGS.task_weights),
        epochs=FLAGS.epochs,
        batch_size=FLAGS.batch_size,
        optimizer=FLAGS.optimizer,
        learning_rate=FLAGS.learning_rate,
        bn_momentum=FLAGS.bn_momentum,
        beta=FLAGS.beta,
        latent_dim=FLAGS.latent_dim,
        grid_points=FLAGS.grid_points,
        val_size=FLAGS.val_size,
        gradnorm_alpha=FLAGS.gradnorm_alpha,
        gradnorm_lr=FLAGS.gradnorm_lr,
        grad_wrt=FLAGS.grad_wrt,
        grad_normalization=FLAGS.grad_normalization,
        min_norm_max_iters=FLAGS.min_norm_max_iters,
        min_norm_tol=FLAGS.min_norm_tol,
        num_preferences=FLAGS.num_preferences,
        preference_index=FLAGS.preference_index,
        pareto_epsilon=FLAGS.pareto_epsilon,
        pareto_max_init_epochs=FLAGS.pareto_max_init_epochs,
        synthetic_runs=FLAGS.synthetic_runs,
        etas=tuple(float(e) for e in FLAGS.etas),
        attack=FLAGS.attack,
        eot_samples=FLAGS.eot_samples,
        pgd_steps=FLAGS.pgd_steps,
        pgd_step_size=FLAGS.pgd_step_size,
        seed=FLAGS.seed,
        strategy=FLAGS.strategy,
        output_dir=output_dir,
        keep_checkpoints=FLAGS.keep_checkpoints,
        deterministic=FLAGS.deterministic,
        verbose=FLAGS.verbose,
    )


# Actions, not settings of the run: replaying a run's flags.txt must not re-export it
# somewhere or turn into an export-only call.
_NOT_IN_FLAGFILE = ("export_only", "run_dir", "export_dir", "eval_only", "saved_model",
                    "experiment", "report_dir", "methods")


def flagfile_text() -> str:
    """This module's flags, one `--name=value` per line: a flagfile reproducing the run."""
    import sys

    module = sys.modules[__name__]
    lines = []
    for flag in sorted(FLAGS.get_flags_for_module(module), key=lambda f: f.name):
        if flag.name in _NOT_IN_FLAGFILE:
            continue
        serialized = flag.serialize()
        if serialized:  # unset optional flags serialize to ""
            lines.append(serialized)
    return "\n".join(lines) + "\n"
