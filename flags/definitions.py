"""Every command-line flag of `main.py`, with its validation: the entry point other code
imports (`FLAGS`, `config_from_flags`, `flagfile_text`).

The flags are defined by topic in the sibling modules (`flags/data.py`, `flags/model.py`,
...), which `--help` lists in `TOPICS` order. Defining and checking them imports no
TensorFlow (the allowed names come from `mtl_tf.choices` and `mtl_tf.methods`), so an
invalid value stops the program in a fraction of a second, before any work, with one line
naming the flag and what is allowed (absl validators).

Flag values are turned into a `mtl_tf.config.RunConfig` by `config_from_flags`; the
library itself never reads flags.
"""

from __future__ import annotations

import math
import types

from absl import flags

from flags import data, diagnostics, evaluation, model, modes, output, training, weighting
from mtl_tf.config import RunConfig

FLAGS = flags.FLAGS

# The topic modules, in the order `--help` lists them.
TOPICS: tuple[types.ModuleType, ...] = (
    modes, data, model, training, weighting, evaluation, output, diagnostics,
)


def project_flags() -> list[flags.Flag]:
    """Every flag this project defines (none of absl's or TensorFlow's), sorted by name."""
    found = [f for module in TOPICS for f in FLAGS.get_flags_for_module(module)]
    return sorted(found, key=lambda f: f.name)


def _register_finite_checks() -> None:
    # absl's bounds let nan through (every comparison with nan is False) and accept inf;
    # neither is a meaningful learning rate, weight, tolerance, step size or epoch bound,
    # and nan would reach config.json. One check covers every float flag, present and
    # future.
    for flag in project_flags():
        if isinstance(flag.parser, flags.FloatParser):
            flags.register_validator(
                flag.name, lambda value: value is None or math.isfinite(value),
                message=f"--{flag.name} must be a finite number (not nan or inf)")


_register_finite_checks()


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
        task_weights=weighting.parse_weights(FLAGS.task_weights),
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
# somewhere or turn into an export-only call. The diagnostics change what the process
# prints, not what it computes.
_NOT_IN_FLAGFILE = ("export_only", "run_dir", "export_dir", "eval_only", "saved_model",
                    "experiment", "report_dir", "methods", "tf_log_level", "traceback")


def flagfile_text() -> str:
    """The project's flags, one `--name=value` per line: a flagfile reproducing the run."""
    lines = []
    for flag in project_flags():
        if flag.name in _NOT_IN_FLAGFILE:
            continue
        serialized = flag.serialize()
        if serialized:  # unset optional flags serialize to ""
            lines.append(serialized)
    return "\n".join(lines) + "\n"


def help_text() -> str:
    """`--help`: the project's flags grouped by topic, in absl's format."""
    sections = []
    for module in TOPICS:
        # module_help renders a module's own flags under a "\n<module name>:" heading;
        # the heading becomes the topic's title (and where its flags are defined).
        rendered = FLAGS.module_help(module).lstrip("\n")
        heading, _, body = rendered.partition("\n")
        path = module.__name__.replace(".", "/") + ".py"
        sections.append(f"{module.TITLE} ({path}):\n{body}")
    return "\n\n".join(sections)
