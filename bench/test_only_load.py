"""How long loading a data set takes with and without its training split (`test_only`),
as `--mode=eval --saved_model` and the export warm-up now load it (issue #18 follow-up).

    python bench/test_only_load.py [--data_dir=../shared/data]
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from mtl_tf.data.datasets import load_dataset  # noqa: E402


def _time(repeats: int, **kwargs) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        load_dataset("multi_mnist", **kwargs)
    return (time.perf_counter() - start) / repeats


def main() -> None:
    data_dir = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--data_dir=")),
                    None)
    os.environ["TFDS_DATA_DIR"] = "/nonexistent"  # the embedded sample without --data_dir
    sizes = dict(train_size=10000, test_size=2000) if data_dir is None else dict(
        train_size=120000, test_size=10000)
    load_dataset("multi_mnist", data_dir=data_dir, train_size=10, test_size=10)  # warm up
    for test_only in (False, True):
        seconds = _time(3, data_dir=data_dir, test_only=test_only, **sizes)
        print(f"multi_mnist {sizes} from {data_dir or 'the embedded sample'}, "
              f"test_only={test_only}: {seconds:.2f} s per load")


if __name__ == "__main__":
    main()
