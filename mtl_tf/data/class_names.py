"""The name of every class of every data set's classification tasks, in class-id order.

A served model answers with class ids; these tables turn them into what they mean.
`mtl_tf.export` bakes them into each SavedModel (a ``<task>_class_name`` output and
``assets.extra/class_names.json``), so the vocabulary travels with the model.

* MultiMNIST: both corners are MNIST digits, class id ``d`` is the digit ``"d"``.
* MultiFashion: both corners are Fashion-MNIST items, named as in Fashion-MNIST's
  release (Xiao et al., 2017): 0 T-shirt/top .. 9 Ankle boot.
* Multi-(Fashion+MNIST): a Fashion-MNIST item top-left, an MNIST digit bottom-right.
* MTFL: the 0-based labels of `mtl_tf.data.mtfl` (its module docstring has the mapping
  from the published values): pose 0 left profile .. 4 right profile, gender 0 male /
  1 female, and for smile and glasses label 1 means the attribute is present.

The synthetic example has no classes, so it has no entry.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["CLASS_NAMES", "FASHION_MNIST", "MNIST", "MTFL", "class_names"]

MNIST: tuple[str, ...] = tuple(str(digit) for digit in range(10))
# Fashion-MNIST's published label names (github.com/zalandoresearch/fashion-mnist).
FASHION_MNIST: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
# Keyed by task, in mtl_tf.data.mtfl.TASK_NAMES order.
MTFL: dict[str, tuple[str, ...]] = {
    "pose": ("left profile", "left", "frontal", "right", "right profile"),
    "gender": ("male", "female"),
    "smile": ("not smiling", "smiling"),
    "glasses": ("no glasses", "glasses"),
}

# data set -> task -> names, one per class id.
CLASS_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "multi_mnist": {"top_left": MNIST, "bottom_right": MNIST},
    "multi_fashion": {"top_left": FASHION_MNIST, "bottom_right": FASHION_MNIST},
    "multi_fashion_mnist": {"top_left": FASHION_MNIST, "bottom_right": MNIST},
    "mtfl": MTFL,
}


def class_names(
    dataset: str, task_names: Sequence[str], num_classes: Sequence[int] | None = None
) -> dict[str, tuple[str, ...]]:
    """The class names of the tasks of `dataset` that have them.

    Args:
      dataset: A data set name (``multi_mnist``, ..., ``mtfl``); one without names
        (``synthetic``, an unknown one) gives ``{}``.
      task_names: The tasks asked for; a task the data set does not name is left out.
      num_classes: Each task's class count, checked against its names when given.

    Returns:
      ``{task: (name of class 0, name of class 1, ...)}`` in `task_names` order.

    Raises:
      ValueError: A task has a different number of classes than names: serving the
        wrong name for an id would be worse than serving none.
    """
    table = CLASS_NAMES.get(dataset, {})
    counts = list(num_classes) if num_classes is not None else [None] * len(task_names)
    if len(counts) != len(task_names):
        raise ValueError(
            f"{len(task_names)} task names but {len(counts)} class counts: {list(task_names)}, "
            f"{counts}"
        )
    found = {}
    for task, count in zip(task_names, counts, strict=True):
        if task not in table:
            continue
        names = table[task]
        if count is not None and int(count) != len(names):
            raise ValueError(
                f"task {task!r} of {dataset} has {count} classes but {len(names)} known "
                f"class names: {list(names)}"
            )
        found[task] = names
    return found
