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
flags.DEFINE_list("tasks", _DEFAULTS.tasks,
                  "Tasks to train, in head order, e.g. --dataset=mtfl "
                  "--tasks=landmarks,gender,smile,glasses,pose. MTFL: landmarks (the 5 "
                  "facial landmarks, a 10-output regression scored by NME, TCDCN) and the "
                  "attributes pose, gender, smile, glasses. Unset: the data set's own tasks "
                  "(MTFL: the four attributes, MTVIB's problem), as before.")


@flags.multi_flags_validator(["tasks", "dataset"], message="--tasks names unknown tasks")
def _check_tasks(values: dict) -> bool:
    # Before TensorFlow loads and any data is read: a typo answers at once.
    tasks, dataset = values["tasks"], values["dataset"]
    if not tasks:
        return True
    allowed = choices.DATASET_TASKS.get(dataset)
    if allowed is None:
        raise flags.ValidationError(f"--tasks does not apply to --dataset={dataset}; unset it")
    unknown = [t for t in tasks if t not in allowed]
    if unknown or len(set(tasks)) != len(tasks):
        problem = f"unknown {', '.join(unknown)}" if unknown else "a task is repeated"
        raise flags.ValidationError(
            f"--tasks={','.join(tasks)}: {problem}; --dataset={dataset} has the tasks "
            f"{','.join(allowed)} (each at most once)")
    return True


flags.DEFINE_integer("image_size", _DEFAULTS.image_size,
                     "MTFL: side of the square the face images are resized to; 0 = MTVIB's "
                     "150x150 (the default, the paper's). 36 (the other input size of "
                     "small_alexnet; lenet takes any size >= 20) trains ~15x faster on a CPU.",
                     lower_bound=0)


@flags.multi_flags_validator(["image_size", "dataset"],
                             message="--image_size applies to MTFL only")
def _check_image_size(values: dict) -> bool:
    return not values["image_size"] or values["dataset"] == "mtfl"


flags.DEFINE_integer("val_size", _DEFAULTS.val_size,
                     "Validation pairs, built from held-out source training images.",
                     lower_bound=0)
