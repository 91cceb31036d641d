"""Files and folders mtl_tf writes follow the user's umask.

tempfile.mkstemp / mkdtemp create 0600 files and 0700 folders whatever the umask, and
the rename that publishes them keeps those modes: export versions were 0700 and
models.config / metrics.json 0600 under umask 022, so a TensorFlow Serving process
running as another user could not read the models. Real writes, a real export and a
real run, under umask 022 and 077 (set for the test, restored after).
"""

from __future__ import annotations

import os
import stat

import keras
import numpy as np
import pytest

from mtl_tf import io_utils
from mtl_tf.data.idx import write_idx
from mtl_tf.export import export_model, write_models_config
from mtl_tf.models import build_network
from mtl_tf.training.trainer import MultiTaskTrainer
from mtl_tf.weighting.fixed import FixedWeighting

# umask -> (file mode, directory mode)
EXPECTED = {0o022: (0o644, 0o755), 0o077: (0o600, 0o700), 0o027: (0o640, 0o750)}


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(params=sorted(EXPECTED), ids=lambda m: f"umask{m:03o}")
def umask(request):
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def test_current_umask_reads_without_changing_it(umask, monkeypatch):
    assert io_utils.current_umask() == umask
    assert io_utils.current_umask() == umask  # unchanged by reading it
    # Without /proc (macOS, some sandboxes): the set-and-restore fallback.
    def no_proc(*args, **kwargs):
        raise OSError("no /proc here")

    monkeypatch.setattr(io_utils, "open", no_proc, raising=False)
    assert io_utils.current_umask() == umask
    monkeypatch.undo()
    assert io_utils.current_umask() == umask


def test_atomic_writes_and_idx_files(umask, tmp_path):
    file_mode, dir_mode = EXPECTED[umask]
    io_utils.atomic_write_json(tmp_path / "new" / "metrics.json", {"a": 1})
    io_utils.atomic_write_text(tmp_path / "flags.txt", "--seed=0\n")
    io_utils.atomic_write_bytes(tmp_path / "b.bin", b"\x00")
    for name in ("new/metrics.json", "flags.txt", "b.bin"):
        assert _mode(tmp_path / name) == file_mode, name
    assert _mode(tmp_path / "new") == dir_mode
    # Rewriting an existing file publishes a new one with the same rule.
    io_utils.atomic_write_json(tmp_path / "new" / "metrics.json", {"a": 2})
    assert _mode(tmp_path / "new" / "metrics.json") == file_mode
    write_idx(tmp_path / "x-idx1-ubyte.gz", np.arange(5, dtype=np.uint8))
    write_idx(tmp_path / "x-idx1-ubyte", np.arange(5, dtype=np.uint8))
    assert _mode(tmp_path / "x-idx1-ubyte.gz") == _mode(tmp_path / "x-idx1-ubyte") == file_mode
    tmp_dir = io_utils.make_temp_dir(tmp_path, prefix=".tmp-")
    assert _mode(tmp_dir) == dir_mode
    # Nothing temporary is left next to the published files.
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".tmp-")) == [
        "b.bin", "flags.txt", "new", "x-idx1-ubyte", "x-idx1-ubyte.gz"]


@pytest.fixture(scope="module")
def trainer() -> MultiTaskTrainer:
    keras.utils.set_random_seed(0)
    enc, heads = build_network(backbone="lenet", encoder="deterministic",
                               input_shape=(36, 36, 1), num_classes=[10, 10],
                               task_names=["top_left", "bottom_right"])
    trainer = MultiTaskTrainer(enc, heads, FixedWeighting(2))
    trainer(np.zeros((1, 36, 36, 1), np.float32))  # build
    return trainer


def test_export_is_readable_as_the_umask_says(umask, trainer, tmp_path):
    file_mode, dir_mode = EXPECTED[umask]
    export_dir = tmp_path / "models"
    version = export_model(trainer, str(export_dir), "gs")
    config = write_models_config(str(export_dir))
    assert _mode(config) == file_mode
    assert _mode(export_dir / "gs") == dir_mode
    assert _mode(version) == dir_mode  # was 0700 (tempfile.mkdtemp) whatever the umask
    for dirpath, dirnames, filenames in os.walk(version):
        for name in dirnames:
            assert _mode(os.path.join(dirpath, name)) == dir_mode, name
        for name in filenames:
            assert _mode(os.path.join(dirpath, name)) == file_mode, name


def test_a_real_run_writes_umask_modes(tiny_data, tmp_path):
    from mtl_tf.config import RunConfig
    from mtl_tf.export import export_run
    from mtl_tf.orchestration.runs import run

    previous = os.umask(0o022)
    try:
        run_dir = tmp_path / "run"
        run(RunConfig(method="gs", backbone="lenet", epochs=1, batch_size=100, etas=(),
                      verbose=0, output_dir=str(run_dir)), data=tiny_data,
            extra_files={"flags.txt": "--method=gs\n"})
        (version,) = export_run(str(run_dir), str(tmp_path / "export"))
    finally:
        os.umask(previous)
    for name in ("metrics.json", "config.json", "flags.txt"):
        assert _mode(run_dir / name) == 0o644, name
    assert _mode(tmp_path / "export" / "models.config") == 0o644
    assert _mode(version) == 0o755
    assert _mode(os.path.join(version, "saved_model.pb")) == 0o644
