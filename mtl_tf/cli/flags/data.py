"""Flags: which data set, where its source images come from, how many examples."""

from __future__ import annotations

import os

from absl import flags

from mtl_tf import choices, user_data
from mtl_tf.config import RunConfig

TITLE = "Data"

_DEFAULTS = RunConfig()

flags.DEFINE_string("dataset", _DEFAULTS.dataset,
                    f"Data set: one of {', '.join([*choices.DATASETS, choices.SYNTHETIC])} "
                    "('synthetic' is Pareto MTL's concave two-objective example, §5); or "
                    "your own: csv:PATH (a CSV file with an 'image' column of image paths "
                    "relative to it, one column per --tasks entry, optionally 'split'), or "
                    "tfds:NAME (a tensorflow-datasets set, prepared in --data_dir or "
                    "~/tensorflow_datasets; --data_source=tfds downloads it).")


@flags.validator("dataset", message="unknown --dataset")
def _check_dataset(value: str) -> bool:
    scheme, rest = user_data.split_dataset_name(value)
    known = [*choices.DATASETS, choices.SYNTHETIC]
    if scheme is None and value not in known:
        raise flags.ValidationError(
            f"unknown data set; allowed: {', '.join(known)}, csv:PATH or tfds:NAME")
    if scheme is not None and not rest:
        what = "path" if scheme == "csv" else "name"
        raise flags.ValidationError(f"needs a {what} after '{scheme}:'")
    if scheme == "csv" and not os.path.isfile(rest):
        raise flags.ValidationError(f"no such file {rest}; give the path of the CSV file")
    return True
flags.DEFINE_string("data_dir", _DEFAULTS.data_dir,
                    "Folder with the IDX files: <data_dir>/mnist/, <data_dir>/fashion-mnist/ "
                    "or a flat folder. Without it: a local tensorflow-datasets copy if one is "
                    "prepared, else the embedded sample shipped with mtl_tf.")
flags.DEFINE_enum("data_source", _DEFAULTS.data_source, list(choices.DATA_SOURCES),
                  "Where source images come from; 'tfds' downloads when online.")


@flags.multi_flags_validator(["data_source", "dataset"],
                             message="--data_source does not apply to this --dataset")
def _check_data_source(values: dict) -> bool:
    # Only the MultiMNIST family and tfds: data choose where images come from; MTFL and
    # csv: data read their own files, the synthetic example has none. Refused rather than
    # ignored, before TensorFlow loads.
    source, dataset = values["data_source"], values["dataset"] or ""
    scheme, _ = user_data.split_dataset_name(dataset)
    if source in ("auto", "dir"):
        if source == "dir" and dataset == choices.SYNTHETIC:
            raise flags.ValidationError("--data_source=dir does not apply to "
                                        "--dataset=synthetic (it reads no files); unset it")
        return True
    if dataset == "mtfl" or scheme == "csv" or dataset == choices.SYNTHETIC:
        reads = {"mtfl": "reads --data_dir only", choices.SYNTHETIC: "reads no files"}.get(
            dataset, "reads the image paths in its CSV file")
        raise flags.ValidationError(
            f"--data_source={source} does not apply to --dataset={dataset} (it {reads}); "
            "unset it")
    if source == "embedded" and scheme == "tfds":
        raise flags.ValidationError(
            f"--data_source=embedded does not apply to --dataset={dataset} (only MNIST and "
            "Fashion-MNIST samples are embedded); unset it")
    return True


flags.DEFINE_integer("train_size", _DEFAULTS.train_size,
                     "Training pairs to generate (MultiMNIST family), or training images to "
                     "sample (MTFL; 0 = the whole split).", lower_bound=0)
flags.DEFINE_integer("test_size", _DEFAULTS.test_size,
                     "Test pairs (MultiMNIST family), or test images (MTFL; 0 = the whole "
                     "split).", lower_bound=0)
flags.DEFINE_list("tasks", _DEFAULTS.tasks,
                  "Tasks to train, in head order. csv:/tfds: data: NAME[:KIND[:LOSS]] per "
                  "task column / feature, KIND classification (default) or regression, LOSS "
                  "mse (default) or l1, e.g. --tasks=species,age:regression (tfds: default "
                  "every ClassLabel; a nested feature as a/b). E.g. --dataset=mtfl "
                  "--tasks=landmarks,gender,smile,glasses,pose. MTFL: landmarks (the 5 "
                  "facial landmarks, a 10-output regression scored by NME, TCDCN) and the "
                  "attributes pose, gender, smile, glasses. Unset: the data set's own tasks "
                  "(MTFL: the four attributes, MTVIB's problem), as before.")


@flags.multi_flags_validator(["tasks", "dataset"], message="--tasks names unknown tasks")
def _check_tasks(values: dict) -> bool:
    # Before TensorFlow loads and any data is read: a typo answers at once.
    tasks, dataset = values["tasks"], values["dataset"]
    scheme, _ = user_data.split_dataset_name(dataset or "")
    if scheme == "csv" and not tasks:
        raise flags.ValidationError(f"--dataset={dataset} needs --tasks naming its task "
                                    "columns, e.g. --tasks=species,age:regression")
    if not tasks:
        return True
    if scheme is not None:  # your own data: NAME[:KIND[:LOSS]], checked against it later
        try:
            user_data.parse_task_entries(tasks)
        except ValueError as e:
            raise flags.ValidationError(str(e)) from None
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
                     "MTFL, csv:, tfds: data: side of the square images are resized to (in "
                     "tf.data). 0 (the default) = MTFL: MTVIB's 150x150, the paper's; csv: / "
                     "tfds:: the images' own size (the first image's). MTFL: 36 (the other "
                     "input size of small_alexnet; lenet takes any size >= 20) trains ~15x "
                     "faster on a CPU.",
                     lower_bound=0)


@flags.multi_flags_validator(["image_size", "dataset"],
                             message="--image_size applies to MTFL and csv:/tfds: data only")
def _check_image_size(values: dict) -> bool:
    return (not values["image_size"] or values["dataset"] == "mtfl"
            or user_data.split_dataset_name(values["dataset"] or "")[0] is not None)


flags.DEFINE_enum("mtfl_framing", _DEFAULTS.mtfl_framing, list(choices.MTFL_FRAMINGS),
                  "MTFL only: how training images are framed before the resize. 'none' "
                  "(the default: the papers resize each whole image, so training faces "
                  "are 1.3-1.8x smaller than in the AFLW test crops) or 'test': each "
                  "training / validation image is cropped to its image group's square "
                  "(group = folder and size; side = the group's mean eye distance / 0.296, "
                  "the test crops' ratio, centred on its mean face centre, from training "
                  "annotations only); test images are never cropped. Landmark targets "
                  "follow the crop.")


@flags.multi_flags_validator(["mtfl_framing", "dataset"],
                             message="--mtfl_framing applies to --dataset=mtfl only")
def _check_mtfl_framing(values: dict) -> bool:
    framing, dataset = values["mtfl_framing"], values["dataset"]
    if framing != "none" and dataset != "mtfl":
        raise flags.ValidationError(f"--mtfl_framing={framing} applies to --dataset=mtfl "
                                    f"only, not --dataset={dataset}; unset it")
    return True


flags.DEFINE_integer("val_size", _DEFAULTS.val_size,
                     "Validation pairs, built from held-out source training images.",
                     lower_bound=0)
