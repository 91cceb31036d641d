"""Task specifications: what a task predicts, how it is trained and scored (TF-free).

A multi-task problem is a tuple of :class:`TaskSpec`, one per head, in head order. The
spec is the one place the rest of the library asks about a task's type: the head size,
the per-task loss, the metrics, the label shape and dtype, the export outputs. Code
never branches on a task's *name*.

* ``classification``: ``size`` classes; labels int32 ``[N]`` in ``0..size-1``; loss
  sparse softmax cross-entropy from logits (MTVIB eq. 7); metric accuracy.
* ``regression``: ``size`` outputs; labels float32 ``[N, size]``; loss the mean over
  outputs of the squared error (``"mse"``, the Gaussian likelihood of Kendall et al.
  2018, eq. 5) or of the absolute error (``"l1"``, the Laplace likelihood); metrics MAE
  and RMSE over all outputs, and, with ``landmark_eyes``, NME (Zhang et al. 2014,
  TCDCN §4: the mean point-to-point landmark error divided by the inter-ocular
  distance).

Landmark layout (``landmark_eyes`` set): the ``size = 2K`` outputs are ``(x_1..x_K,
y_1..y_K)``, the order of MTFL's annotation files; ``landmark_eyes = (i, j)`` are the
0-based indices of the two points whose distance normalises the error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "CLASSIFICATION",
    "ERROR_METRIC_UNITS",
    "KINDS",
    "REGRESSION",
    "REGRESSION_LOSSES",
    "TaskSpec",
    "as_label_dict",
    "check_labels",
    "classification_specs",
    "specs_from_json",
    "specs_to_json",
    "with_target_std",
]

CLASSIFICATION = "classification"
REGRESSION = "regression"
KINDS = (CLASSIFICATION, REGRESSION)
# What a regression error metric's number is measured in, for every label a reader sees.
# MAE and RMSE are in the target's own units (a CSV column of kilograms: kilograms), never
# a percentage: only accuracy is a fraction of examples. NME is a ratio (TCDCN §4: point
# error / inter-ocular distance), shown as a plain number (0.188) as TCDCN's successors
# and BENCHMARKS.md do.
ERROR_METRIC_UNITS: dict[str, str] = {
    "mae": "target's units",
    "rmse": "target's units",
    "nme": "ratio to the inter-ocular distance",
}
# Per-task regression losses: mean squared error (Gaussian likelihood) or mean absolute
# error (Laplace likelihood, more robust to a few badly annotated points).
REGRESSION_LOSSES = ("mse", "l1")


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """One task of a multi-task problem.

    Attributes:
      name: Task name: the key of its labels, head, metrics and export outputs.
      kind: ``"classification"`` or ``"regression"``.
      size: Number of classes (classification) or of outputs (regression).
      loss: Regression loss, ``"mse"`` (default: the Gaussian likelihood that Kendall et
        al.'s uncertainty weighting assumes) or ``"l1"``; must be None for
        classification, whose loss is always sparse cross-entropy from logits.
      class_names: Optional display name of each class (classification only), in class
        id order; used by exports and reports.
      landmark_eyes: Regression only, optional: the two landmark indices whose distance
        normalises the landmark error (NME); the outputs are then ``(x_1..x_K,
        y_1..y_K)`` with ``K = size / 2``.
      target_std: Regression only, optional: one positive scale per output. The loss is
        then computed on ``(target - prediction) / target_std``, i.e. in standardised
        units (see :func:`with_target_std`), while predictions, metrics and exports stay
        in the target's own units. None: the loss is in the target's units.
    """

    name: str
    kind: str
    size: int
    loss: str | None = None
    class_names: tuple[str, ...] | None = None
    landmark_eyes: tuple[int, int] | None = None
    target_std: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError(f"a task needs a non-empty name, got {self.name!r}")
        if self.kind not in KINDS:
            raise ValueError(
                f"task {self.name!r}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}"
            )
        if int(self.size) < 1:
            raise ValueError(f"task {self.name!r}: size must be >= 1, got {self.size}")
        object.__setattr__(self, "size", int(self.size))
        if self.kind == CLASSIFICATION:
            if self.loss is not None:
                raise ValueError(
                    f"task {self.name!r}: a classification task's loss is cross-entropy; "
                    f"loss={self.loss!r} applies to regression tasks only"
                )
            if self.landmark_eyes is not None:
                raise ValueError(f"task {self.name!r}: landmark_eyes needs a regression task")
            if self.target_std is not None:
                raise ValueError(f"task {self.name!r}: target_std needs a regression task")
            if self.class_names is not None:
                names = tuple(str(c) for c in self.class_names)
                if len(names) != self.size:
                    raise ValueError(
                        f"task {self.name!r}: {len(names)} class names for {self.size} classes"
                    )
                object.__setattr__(self, "class_names", names)
        else:
            loss = "mse" if self.loss is None else self.loss
            if loss not in REGRESSION_LOSSES:
                raise ValueError(
                    f"task {self.name!r}: regression loss must be one of "
                    f"{', '.join(REGRESSION_LOSSES)}, got {self.loss!r}"
                )
            object.__setattr__(self, "loss", loss)
            if self.class_names is not None:
                raise ValueError(f"task {self.name!r}: class_names need a classification task")
            if self.landmark_eyes is not None:
                eyes = tuple(int(i) for i in self.landmark_eyes)
                points = self.size // 2
                if self.size % 2 or len(eyes) != 2 or eyes[0] == eyes[1] or not all(
                    0 <= i < points for i in eyes
                ):
                    raise ValueError(
                        f"task {self.name!r}: landmark_eyes must be two different indices "
                        f"in 0..{points - 1} of an even-sized (x.., y..) output, got "
                        f"{self.landmark_eyes} for size {self.size}"
                    )
                object.__setattr__(self, "landmark_eyes", eyes)
            if self.target_std is not None:
                std = tuple(float(v) for v in np.ravel(self.target_std))
                if len(std) != self.size or not all(np.isfinite(v) and v > 0 for v in std):
                    raise ValueError(
                        f"task {self.name!r}: target_std needs {self.size} positive finite "
                        f"scales (one per output), got {list(std)}"
                    )
                object.__setattr__(self, "target_std", std)

    @property
    def is_classification(self) -> bool:
        return self.kind == CLASSIFICATION

    @property
    def is_regression(self) -> bool:
        return self.kind == REGRESSION

    @property
    def error_metric(self) -> str | None:
        """A regression task's main error metric, the one reports and attacks show:
        ``"nme"`` for landmarks (TCDCN's measure, normalised by the inter-ocular
        distance), else ``"mae"``; None for a classification task (scored by accuracy).
        Lower is better for both."""
        if self.is_classification:
            return None
        return "nme" if self.landmark_eyes is not None else "mae"

    @property
    def label_dtype(self) -> type:
        """numpy dtype of the labels: int32 class ids or float32 targets."""
        return np.int32 if self.is_classification else np.float32

    def label_shape(self, n: int) -> tuple[int, ...]:
        """Shape of ``n`` labels: ``[n]`` (classification) or ``[n, size]`` (regression)."""
        return (n,) if self.is_classification else (n, self.size)

    def to_json(self) -> dict[str, Any]:
        """The spec as JSON-able dict (metrics.json ``task_specs``)."""
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "size": self.size}
        if self.loss is not None:
            out["loss"] = self.loss
        if self.class_names is not None:
            out["class_names"] = list(self.class_names)
        if self.landmark_eyes is not None:
            out["landmark_eyes"] = list(self.landmark_eyes)
        if self.target_std is not None:
            out["target_std"] = list(self.target_std)
        return out

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> TaskSpec:
        """Inverse of :meth:`to_json`."""
        names = entry.get("class_names")
        eyes = entry.get("landmark_eyes")
        std = entry.get("target_std")
        return cls(
            name=str(entry["name"]), kind=str(entry["kind"]), size=int(entry["size"]),
            loss=entry.get("loss"), class_names=tuple(names) if names is not None else None,
            landmark_eyes=tuple(eyes) if eyes is not None else None,
            target_std=tuple(std) if std is not None else None,
        )


def classification_specs(
    task_names: Sequence[str], num_classes: Sequence[int]
) -> tuple[TaskSpec, ...]:
    """All-classification specs, the papers' problems (MultiMNIST family, MTFL attributes)."""
    if len(task_names) != len(num_classes):
        raise ValueError(
            f"{len(task_names)} task names but {len(num_classes)} class counts: "
            f"{tuple(task_names)} / {tuple(num_classes)}"
        )
    return tuple(TaskSpec(str(t), CLASSIFICATION, int(c))
                 for t, c in zip(task_names, num_classes, strict=True))


def with_target_std(
    specs: Sequence[TaskSpec], train_labels: Mapping[str, np.ndarray]
) -> tuple[TaskSpec, ...]:
    """Specs whose regression losses are measured in standardised units.

    Each regression task gets ``target_std`` = the standard deviation of each output
    over the training targets, so its loss is the error in units of that spread: a
    constant prediction of the mean scores ~1 (mse) whatever the target's units. Why:
    every weighting but uncertainty weighting compares or adds the raw losses, and a
    regression in small units (MTFL landmarks in image-normalised coordinates: mse
    ~3e-3 at the mean shape, against cross-entropies of ~0.7) is then all but ignored
    by the sum (GS) and drowned by the bottleneck's KL and sampling noise (MTVIB).
    Min-norm methods (MGDA, Pareto MTL) answer to gradient sizes instead, and move the
    other way (bench/MIXED_SCALES.md). Standardising targets before fitting is the
    usual remedy; this keeps predictions, metrics and exports in the target's own units
    and only rescales the loss. An output constant in the training data keeps scale 1.

    Args:
      specs: The tasks, in head order.
      train_labels: ``{task: labels}`` of the training split (regression ``[N, size]``).

    Returns:
      The specs, classification tasks unchanged.

    Raises:
      ValueError: No task is a regression (the option would change nothing), or a
        regression task has no training targets.
    """
    if not any(s.is_regression for s in specs):
        raise ValueError(
            "standardised regression losses need a regression task; the tasks "
            f"{', '.join(s.name for s in specs)} are all classification"
        )
    out = []
    for spec in specs:
        if spec.is_regression:
            labels = np.asarray(train_labels.get(spec.name, ()), np.float64)
            if labels.size == 0:
                raise ValueError(f"task {spec.name!r}: no training targets to standardise by")
            std = labels.reshape(-1, spec.size).std(axis=0)
            spec = dataclasses.replace(
                spec, target_std=tuple(float(v) if v > 0 else 1.0 for v in std))
        out.append(spec)
    return tuple(out)


def specs_to_json(specs: Sequence[TaskSpec]) -> list[dict[str, Any]]:
    return [s.to_json() for s in specs]


def specs_from_json(entries: Sequence[Mapping[str, Any]]) -> tuple[TaskSpec, ...]:
    return tuple(TaskSpec.from_json(e) for e in entries)


def check_labels(spec: TaskSpec, labels: np.ndarray, where: str = "") -> np.ndarray:
    """Checks one task's labels against its spec and returns them in the spec's dtype.

    Args:
      spec: The task.
      labels: int ``[N]`` class ids (classification) or numbers ``[N, size]``
        (regression; ``[N]`` is accepted when ``size == 1``).
      where: Prefix of error messages (e.g. the file the labels came from).

    Raises:
      ValueError: Wrong shape, non-integer or out-of-range class ids, non-finite targets.
    """
    prefix = f"{where}: " if where else ""
    labels = np.asarray(labels)
    if spec.is_classification:
        if labels.ndim != 1 or not (labels.size == 0 or np.issubdtype(labels.dtype, np.integer)):
            raise ValueError(
                f"{prefix}task {spec.name!r} (classification) needs integer labels of shape "
                f"[N], got {labels.dtype} {list(labels.shape)}"
            )
        bad = np.flatnonzero((labels.astype(np.int64) < 0) | (labels >= spec.size))
        if bad.size:
            raise ValueError(
                f"{prefix}task {spec.name!r}: label {labels[bad[0]]} at index {bad[0]} is "
                f"outside 0..{spec.size - 1} ({bad.size} of {labels.size} out of range)"
            )
        return labels.astype(np.int32)
    if labels.ndim == 1 and spec.size == 1:
        labels = labels[:, np.newaxis]
    if labels.ndim != 2 or labels.shape[1] != spec.size or not (
        labels.size == 0 or np.issubdtype(labels.dtype, np.number)
    ):
        raise ValueError(
            f"{prefix}task {spec.name!r} (regression, {spec.size} outputs) needs numeric "
            f"labels of shape [N, {spec.size}], got {labels.dtype} {list(labels.shape)}"
        )
    labels = labels.astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(labels).all(axis=1))
    if bad.size:
        raise ValueError(
            f"{prefix}task {spec.name!r}: row {bad[0]} holds a non-finite target "
            f"({bad.size} of {len(labels)} rows)"
        )
    return labels


def as_label_dict(
    labels: Mapping[str, np.ndarray] | np.ndarray,
    specs: Sequence[TaskSpec],
    where: str = "",
) -> dict[str, np.ndarray]:
    """Per-task labels as ``{task: array}``, checked against the specs.

    Accepts the dict form, or the papers' legacy int ``[N, num_tasks]`` matrix (column
    ``k`` = task ``k``; all tasks classification).

    Raises:
      ValueError: A task missing from the dict or an extra one, a matrix for a problem
        with regression tasks, tasks of different lengths, or labels that do not fit
        their spec (:func:`check_labels`).
    """
    names = [s.name for s in specs]
    if not isinstance(labels, Mapping):
        matrix = np.asarray(labels)
        if any(s.is_regression for s in specs):
            raise ValueError(
                "labels of a problem with regression tasks must be a dict task -> array"
            )
        if matrix.ndim == 1 and len(specs) == 1:
            matrix = matrix[:, np.newaxis]
        if matrix.ndim != 2 or matrix.shape[1] != len(specs):
            raise ValueError(
                f"{where + ': ' if where else ''}label matrix of shape {list(matrix.shape)} "
                f"does not have one column per task {names}"
            )
        labels = {name: matrix[:, k] for k, name in enumerate(names)}
    missing = [n for n in names if n not in labels]
    extra = [n for n in labels if n not in names]
    if missing or extra:
        raise ValueError(
            f"{where + ': ' if where else ''}labels are for tasks {list(labels)}, expected "
            f"{names}" + (f" (missing {missing})" if missing else "")
            + (f" (unknown {extra})" if extra else "")
        )
    out = {s.name: check_labels(s, labels[s.name], where) for s in specs}
    lengths = {len(v) for v in out.values()}
    if len(lengths) > 1:
        raise ValueError(
            f"{where + ': ' if where else ''}tasks have different numbers of labels: "
            + ", ".join(f"{k} {len(v)}" for k, v in out.items())
        )
    return out
