"""Data layer of mtl_tf: IDX files, source loading, overlay data sets, tf.data pipelines.

``make_dataset`` and ``epoch_seed`` (from ``pipeline``, which imports TensorFlow) are
re-exported lazily, so the numpy-only parts import quickly.
"""

from typing import Any

from mtl_tf.data.datasets import DATASETS, MultiTaskData, load_dataset
from mtl_tf.data.from_tf_data import from_tf_data
from mtl_tf.data.idx import IdxFormatError, read_idx, write_idx
from mtl_tf.data.multi_mnist import make_multi_pairs
from mtl_tf.data.source_data import SourceData
from mtl_tf.data.sources import load_source

__all__ = [
    "DATASETS",
    "IdxFormatError",
    "MultiTaskData",
    "SourceData",
    "epoch_seed",
    "from_tf_data",
    "load_dataset",
    "load_source",
    "make_dataset",
    "make_multi_pairs",
    "read_idx",
    "write_idx",
]


def __getattr__(name: str) -> Any:
    # PEP 562 lazy attribute: TensorFlow is only imported when the pipeline is used.
    if name in ("make_dataset", "epoch_seed"):
        from mtl_tf.data import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
