"""``--dataset=tfds:NAME``: any tensorflow-datasets data set with an image and label features.

``--tasks`` names the features that are tasks (`mtl_tf.user_data`: ``NAME[:KIND[:LOSS]]``;
a nested feature as ``attributes/Smiling``, its task named ``attributes_Smiling``):

* classification: a ``ClassLabel`` (its class names travel to the export), or an integer
  scalar (its distinct values, sorted, become the classes);
* regression: any numeric feature, flattened (``Tensor(shape=(4,))`` is 4 outputs).

Without ``--tasks``, every top-level ``ClassLabel`` is a classification task. The image is
the data set's ``Image`` feature (``image`` if it has several). Splits: ``train`` and
``test``, ``validation`` for ``--val_size``; a data set without a ``test`` split gives
``test_size`` seeded examples of ``train``. ``train_size`` / ``test_size`` of 0 take the
whole split. Images are resized in ``tf.data`` to ``image_size`` (0: the feature's size,
else the first image's) and held in memory as uint8.

The data set is read from ``--data_dir`` (default: ``$TFDS_DATA_DIR`` or
``~/tensorflow_datasets``) where it is prepared, even without its builder code (a
prepared folder is self-describing); ``--data_source=tfds`` downloads and prepares a
registered data set that is not (online).
"""

from __future__ import annotations

import os

import numpy as np

from mtl_tf.data.multitask import MultiTaskData
from mtl_tf.tasks import CLASSIFICATION, TaskSpec
from mtl_tf.user_data import parse_task_entries

__all__ = ["load_tfds_dataset"]


def _default_dir(data_dir: str | None) -> str:
    return data_dir or os.environ.get("TFDS_DATA_DIR") or os.path.join(
        os.path.expanduser("~"), "tensorflow_datasets")


def _builder(name: str, data_dir: str | None, data_source: str):
    import tensorflow_datasets as tfds

    root = _default_dir(data_dir)
    try:
        builder = tfds.builder(name, data_dir=root)
    except Exception as e:  # DatasetNotFoundError and friends: one line, with the fix
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ValueError(f"--dataset=tfds:{name}: no such tensorflow-datasets data set in "
                         f"{root} or the catalog ({first}); check the name, or pass "
                         "--data_dir=<the folder holding it, prepared>") from None
    if not builder.is_prepared():
        if data_source != "tfds":
            raise ValueError(f"--dataset=tfds:{name} is not prepared in {root}; pass "
                             "--data_dir=<a folder where it is prepared>, or "
                             "--data_source=tfds to download and prepare it (online)")
        builder.download_and_prepare()
    return builder


def _feature(features, path: str):
    node = features
    for part in path.split("/"):
        keys = list(getattr(node, "keys", lambda: [])())
        if part not in keys:
            return None
        node = node[part]
    return node


def _describe(features, prefix: str = "") -> list[str]:
    import tensorflow_datasets as tfds

    out = []
    for key, feature in features.items():
        path = f"{prefix}{key}"
        if isinstance(feature, tfds.features.FeaturesDict):
            out += _describe(feature, f"{path}/")
        elif isinstance(feature, tfds.features.ClassLabel):
            out.append(f"{path} (ClassLabel, {feature.num_classes} classes)")
        else:
            out.append(f"{path} ({type(feature).__name__} {np.dtype(feature.np_dtype).name} "
                       f"{list(feature.shape)})")
    return out


def _image_key(name: str, features) -> str:
    import tensorflow_datasets as tfds

    keys = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
    if not keys:
        raise ValueError(f"--dataset=tfds:{name} has no Image feature (its features: "
                         f"{', '.join(_describe(features))}); mtl_tf trains on images")
    return "image" if "image" in keys else keys[0]


def _entries(name: str, features, tasks) -> list[tuple[str, str, str | None]]:
    import tensorflow_datasets as tfds

    if tasks:
        return parse_task_entries(tasks)
    labels = [k for k, f in features.items() if isinstance(f, tfds.features.ClassLabel)]
    if not labels:
        raise ValueError(f"--dataset=tfds:{name} has no ClassLabel feature; choose the task "
                         f"features with --tasks (its features: "
                         f"{', '.join(_describe(features))})")
    return [(k, CLASSIFICATION, None) for k in labels]


def _check_entry(name: str, features, path: str, kind: str):
    import tensorflow_datasets as tfds

    feature = _feature(features, path)
    problem = None
    if feature is None or isinstance(feature, (tfds.features.FeaturesDict,
                                               tfds.features.Image)):
        problem = "is not a label feature of it"
    elif not np.issubdtype(np.dtype(feature.np_dtype), np.number):
        dtype = np.dtype(feature.np_dtype)
        problem = f"is {'text' if dtype.kind == 'O' else dtype.name}, not numbers"
    elif kind == CLASSIFICATION and not isinstance(feature, tfds.features.ClassLabel) and (
            tuple(feature.shape) != () or
            not np.issubdtype(np.dtype(feature.np_dtype), np.integer)):
        problem = ("is not a ClassLabel or an integer scalar; a numeric feature is a "
                   f"regression: --tasks={path}:regression")
    if problem:
        raise ValueError(f"--tasks: feature {path!r} of tfds:{name} {problem} (its features: "
                         f"{', '.join(_describe(features))})")
    return feature


def _read_split(builder, split: str, count: int, image_key: str, paths: list[str],
                size: tuple[int, int, int]):
    import tensorflow as tf

    h, w, c = size
    ds = builder.as_dataset(split=split, shuffle_files=False)
    if count:
        ds = ds.take(count)

    def pick(example):
        image = example[image_key]
        if image.shape[-1] != c:
            image = (tf.image.grayscale_to_rgb(image) if c == 3
                     else tf.image.rgb_to_grayscale(image[..., :3]))
        image = tf.image.resize(image, (h, w), method="bilinear", antialias=True)
        image = tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)
        labels = {}
        for path in paths:
            value = example
            for part in path.split("/"):
                value = value[part]
            labels[path] = value
        return image, labels

    images, labels = [], {p: [] for p in paths}
    for x, y in ds.map(pick, num_parallel_calls=tf.data.AUTOTUNE,
                       deterministic=True).batch(256).as_numpy_iterator():
        images.append(x)
        for p in paths:
            labels[p].append(y[p])
    if not images:
        raise ValueError(f"tfds:{builder.name} split {split!r} has no examples")
    return np.concatenate(images), {p: np.concatenate(v) for p, v in labels.items()}


def _image_size(builder, image_key: str, image_size: int) -> tuple[int, int, int]:
    shape = tuple(builder.info.features[image_key].shape)
    c = 1 if shape and shape[-1] == 1 else 3
    if image_size:
        return int(image_size), int(image_size), c
    if len(shape) == 3 and shape[0] and shape[1]:
        return int(shape[0]), int(shape[1]), c
    first = next(iter(builder.as_dataset(split="train", shuffle_files=False).take(1)))
    return int(first[image_key].shape[0]), int(first[image_key].shape[1]), c


def load_tfds_dataset(name: str, tasks, *, data_dir: str | None = None,
                      data_source: str = "auto", train_size: int = 0, test_size: int = 0,
                      val_size: int = 0, seed: int = 0, image_size: int = 0,
                      test_only: bool = False) -> MultiTaskData:
    """Loads ``tfds:NAME`` (module docstring) as an in-memory `MultiTaskData`.

    Raises:
      ValueError: an unknown or unprepared data set, a ``--tasks`` entry that is not a
        suitable feature (the message lists the features), or an empty split.
    """
    builder = _builder(name, data_dir, data_source)
    features = builder.info.features
    image_key = _image_key(name, features)
    entries = _entries(name, features, tasks)
    chosen = {path: _check_entry(name, features, path, kind) for path, kind, _ in entries}
    size = _image_size(builder, image_key, image_size)
    splits = builder.info.splits
    paths = list(chosen)
    has_test = "test" in splits
    if has_test:
        test = _read_split(builder, "test", test_size, image_key, paths, size)
        drawn = 0
    else:  # the first test_size + val_size of a seeded order of train
        drawn = test_size + val_size
        if not test_size:
            raise ValueError(f"tfds:{name} has no test split ({', '.join(splits)}); give "
                             "--test_size=N to hold out N training examples as test")
    if test_only and has_test:
        train = (test[0][:0], {p: v[:0] for p, v in test[1].items()})
    else:
        train = _read_split(builder, "train", 0 if drawn else train_size, image_key, paths,
                            size)
    val = None
    if not has_test:
        order = np.random.default_rng(np.random.SeedSequence([seed, 7])).permutation(
            len(train[0]))
        if drawn >= len(order):
            raise ValueError(f"tfds:{name}: its {len(order)} training examples cannot give "
                             f"{test_size} test and {val_size} validation examples and "
                             "leave any for training")
        cut = {"test": order[:test_size], "val": order[test_size:drawn], "train": order[drawn:]}
        if train_size:
            cut["train"] = cut["train"][:train_size]
        parts = {k: (train[0][np.sort(i)], {p: v[np.sort(i)] for p, v in train[1].items()})
                 for k, i in cut.items()}
        train, test = parts["train"], parts["test"]
        val = parts["val"] if val_size else None
    elif val_size:
        if "validation" not in splits:
            raise ValueError(f"tfds:{name} has no validation split; use --val_size=0")
        val = _read_split(builder, "validation", val_size, image_key, paths, size)

    specs, maps = [], {}
    for path, kind, loss in entries:
        feature, task = chosen[path], path.replace("/", "_")
        if kind == CLASSIFICATION:
            if hasattr(feature, "names"):
                specs.append(TaskSpec(task, CLASSIFICATION, feature.num_classes,
                                      class_names=tuple(feature.names)))
                maps[path] = None
            else:
                values = np.unique(np.concatenate([s[1][path] for s in (train, test, val)
                                                   if s is not None]))
                specs.append(TaskSpec(task, CLASSIFICATION, len(values),
                                      class_names=tuple(str(v) for v in values)))
                maps[path] = values
        else:
            specs.append(TaskSpec(task, kind, int(np.prod(feature.shape, dtype=np.int64)),
                                  loss=loss))

    def labels_of(split):
        if split is None:
            return None
        out = {}
        for (path, kind, _), spec in zip(entries, specs, strict=True):
            y = split[1][path]
            if kind == CLASSIFICATION:
                y = y if maps[path] is None else np.searchsorted(maps[path], y)
                out[spec.name] = y.astype(np.int32)
            else:
                out[spec.name] = y.reshape(len(y), spec.size).astype(np.float32)
        return out

    return MultiTaskData(
        name=f"tfds:{name}", tasks=tuple(specs), input_shape=size,
        train_images=train[0], train_labels=labels_of(train),
        test_images=test[0], test_labels=labels_of(test),
        origin=f"tensorflow-datasets {builder.name} {builder.version} in {builder.data_dir}",
        val_images=None if val is None else val[0], val_labels=labels_of(val),
    )
