"""Flags: which data set, where its source images come from, how many examples."""

from __future__ import annotations

from absl import flags

from mtl_tf import choices
from mtl_tf.config import RunConfig

TITLE = "Data"

_DEFAULTS = RunConfig()

flags.DEFINE_enum("dataset", _DEFAULTS.dataset, [*choices.DATASETS, choices.SYNTHETIC],
                  "Data set; 'synthetic' is Pareto MTL's concave two-objective example (§5).")
flags.DEFINE_string("data_dir", _DEFAULTS.data_dir,
                    "Folder with the IDX files: <data_dir>/mnist/, <data_dir>/fashion-mnist/ "
                    "or a flat folder. Without it: a local tensorflow-datasets copy if one is "
                    "prepared, else the embedded sample shipped with mtl_tf.")
flags.DEFINE_enum("data_source", _DEFAULTS.data_source, list(choices.DATA_SOURCES),
                  "Where source images come from; 'tfds' downloads when online.")
flags.DEFINE_integer("train_size", _DEFAULTS.train_size,
                     "Training pairs to generate (MultiMNIST family), or training images to "
                     "sample (MTFL; 0 = the whole split).", lower_bound=0)
flags.DEFINE_integer("test_size", _DEFAULTS.test_size,
                     "Test pairs (MultiMNIST family), or test images (MTFL; 0 = the whole "
                     "split).", lower_bound=0)
flags.DEFINE_integer("val_size", _DEFAULTS.val_size,
                     "Validation pairs, built from held-out source training images.",
                     lower_bound=0)
