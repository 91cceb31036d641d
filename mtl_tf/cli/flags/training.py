"""Flags: the training budget, optimizer, seed and devices."""

from __future__ import annotations

from absl import flags

from mtl_tf import choices
from mtl_tf.config import RunConfig

TITLE = "Training"

_DEFAULTS = RunConfig()

flags.DEFINE_integer("epochs", _DEFAULTS.epochs, "Training epochs.", lower_bound=1)
flags.DEFINE_integer("batch_size", _DEFAULTS.batch_size, "Mini-batch size.", lower_bound=1)
flags.DEFINE_enum("optimizer", _DEFAULTS.optimizer, list(choices.OPTIMIZERS), "Optimizer.")
flags.DEFINE_float("learning_rate", _DEFAULTS.learning_rate, "Learning rate.", lower_bound=0.0)
flags.DEFINE_integer("seed", _DEFAULTS.seed, "Random seed (data, initialisation, shuffling).")
flags.DEFINE_boolean("deterministic", _DEFAULTS.deterministic,
                     "Enable TensorFlow op determinism (same seed -> same metrics).")
flags.DEFINE_enum("strategy", _DEFAULTS.strategy, list(choices.STRATEGIES),
                  "Distributed training (docs/distributed.md): none; mirrored (this "
                  "machine's GPUs, or its logical CPUs); multi_worker (several machines, "
                  "each running the same command with its own TF_CONFIG). --batch_size is "
                  "the global batch, split across replicas.")
flags.DEFINE_integer("verbose", _DEFAULTS.verbose,
                     "Keras verbosity: 0 silent, 1 progress bar, 2 one line per epoch.",
                     lower_bound=0, upper_bound=2)
