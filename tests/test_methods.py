"""Every method, and combinations no paper tried, train end to end through `run()`."""

from __future__ import annotations

import glob
import os

import numpy as np
import pytest

from mtl_tf.config import RunConfig
from mtl_tf.methods import available_methods, get_method
from mtl_tf.orchestration import runs as run_lib


def _config(tmp_path, method, **kw):
    defaults = dict(method=method, backbone="lenet", epochs=1, batch_size=50, verbose=0,
                    learning_rate=3e-3, num_preferences=3, output_dir=str(tmp_path / method))
    defaults.update(kw)
    return RunConfig(**defaults)


def test_every_paper_method_is_available():
    assert set(available_methods()) == {"gs", "stl", "stvib", "uwl", "mtvib", "gradnorm",
                                        "mgda", "pareto_mtl"}
    assert get_method("mtvib").encoder == "vib" and get_method("mtvib").weighting == "uncertainty"
    assert get_method("uwl").encoder == "deterministic"
    with pytest.raises(ValueError, match="unknown --method 'pcgrad'; allowed: stl, stvib, gs"):
        get_method("pcgrad")


@pytest.mark.parametrize(
    "method, encoder",
    [("uwl", None), ("mtvib", None), ("gradnorm", None), ("mgda", None),
     ("mgda", "vib"), ("pareto_mtl", "vib")],  # the last two: no paper tried them
)
def test_method_trains_end_to_end(tiny_data, tmp_path, method, encoder):
    config = _config(tmp_path, method, encoder=encoder)
    metrics = run_lib.run(config, data=tiny_data)
    assert metrics["method"] == method
    assert metrics["encoder"] == (encoder or get_method(method).encoder)
    for model in metrics["models"]:
        assert set(model["accuracy"]) == {"top_left", "bottom_right"}
        assert all(np.isfinite(v) for v in model["loss"].values())
        # Learned something real on the learnable generated data.
        assert max(model["accuracy"].values()) > 0.15, model["accuracy"]
        weights = model["task_weights"]
        assert set(weights) == {"top_left", "bottom_right"} and all(
            np.isfinite(w) for w in weights.values())


def test_pareto_mtl_trains_one_model_per_preference(tiny_data, tmp_path):
    config = _config(tmp_path, "pareto_mtl", grad_wrt="params")
    metrics = run_lib.run(config, data=tiny_data)
    names = [m["name"] for m in metrics["models"]]
    assert names == ["preference_0", "preference_1", "preference_2"]
    assert metrics["accuracy"] is None  # several models for the same tasks
    angles = [m["preference_angle_deg"] for m in metrics["models"]]
    np.testing.assert_allclose(angles, [0.0, 45.0, 90.0], atol=1e-6)
    for name in names:
        assert glob.glob(os.path.join(config.output_dir, "models", name, "checkpoints", "*.index"))
    # Rerunning a finished run retrains nothing and reproduces the metrics.
    again = run_lib.run(config, data=tiny_data)
    assert [m["accuracy"] for m in again["models"]] == [m["accuracy"] for m in metrics["models"]]


def test_single_preference_and_bad_preference_index(tiny_data, tmp_path):
    metrics = run_lib.run(_config(tmp_path, "pareto_mtl", preference_index=2), data=tiny_data)
    assert [m["name"] for m in metrics["models"]] == ["preference_2"]
    with pytest.raises(ValueError, match="--preference_index=3 is out of range"):
        run_lib.run(_config(tmp_path, "pareto_mtl", preference_index=3,
                            output_dir=str(tmp_path / "bad")), data=tiny_data)
    assert not (tmp_path / "bad").exists()
