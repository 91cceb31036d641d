"""Subprocess driver of tests/test_distribute.py (not a test module itself).

Distributed set-ups must be made before TensorFlow initialises its runtime (logical
devices, collective ops), so each scenario runs in a fresh process:

    python tests/distribute_driver.py mirrored OUT.json METHOD...
        Two logical CPU devices. For each METHOD (fixed, uncertainty, gradnorm,
        gradnorm_optimizer, mgda_params, mgda_representation, pareto_mtl): a few steps of
        MirroredStrategy training on global batches of 2B and the same steps on one
        device; writes the largest weight difference and the task weights of every
        replica to OUT.json.
    python tests/distribute_driver.py mirrored_run OUT_DIR [METHOD]
        Two logical CPU devices: `run()` with --strategy=mirrored (the fit() path).
    python tests/distribute_driver.py worker WEIGHTS.npz MAIN_FLAGS...
        One worker of a multi-worker run (TF_CONFIG set by the caller): main.py's flags,
        `run()`, then the trained model's weights saved with np.savez.
"""

from __future__ import annotations

import json
import os
import sys
import threading

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

BATCH_PER_REPLICA = 16
STEPS = 3


def _two_cpus() -> None:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )


_CASES = {
    # name: (weighting, RunConfig overrides)
    "fixed": ("fixed", {"task_weights": (0.3, 0.7)}),
    "uncertainty": ("uncertainty", {}),
    "gradnorm": ("gradnorm", {}),
    # GradNorm's weights moved by an optimizer of their own (--gradnorm_update=optimizer).
    "gradnorm_optimizer": ("gradnorm", {"gradnorm_update": "optimizer"}),
    "mgda_params": ("mgda", {"grad_wrt": "params"}),
    "mgda_representation": ("mgda", {"grad_wrt": "representation"}),
    "pareto_mtl": ("pareto_mtl", {"preference_index": 1, "num_preferences": 3}),
}


def _trainer(case: str, strategy):
    import keras

    from mtl_tf.config import RunConfig
    from mtl_tf.models import build_network
    from mtl_tf.training import distribute
    from mtl_tf.training.trainer import MultiTaskTrainer
    from mtl_tf.weighting import build_weighting

    name, overrides = _CASES[case]
    config = RunConfig(train_size=400, batch_size=2 * BATCH_PER_REPLICA, **overrides)
    keras.utils.set_random_seed(0)
    with distribute.scope(strategy), distribute.replica_identical_state(strategy):
        weighting = build_weighting(name, 2, config)
        # As training/fit.py does (a no-op but for --gradnorm_update=optimizer).
        weighting.attach_optimizer(lambda: keras.optimizers.SGD(0.1))
    with distribute.scope(strategy):
        encoder, heads = build_network(backbone="lenet", encoder="deterministic",
                                       input_shape=(36, 36, 1), num_classes=[10, 10],
                                       task_names=["top_left", "bottom_right"], seed=0)
        trainer = MultiTaskTrainer(encoder, heads, weighting)
        # SGD: Adam's first steps are ~lr * sign(g), which turns float noise on a near-zero
        # gradient into an lr-sized difference; SGD keeps differences proportional.
        trainer.compile(optimizer=keras.optimizers.SGD(0.1))
        trainer(tf.zeros((1, 36, 36, 1)), training=False)
        trainer.optimizer.build(trainer.trainable_variables)
    return trainer


def _recording_weights(trainer) -> threading.local:
    """Makes `compute_weights` leave its result where the replica function can return it.

    MirroredStrategy traces the replica function in one thread per replica: a
    thread-local keeps each replica's tensor apart.
    """
    local = threading.local()
    original = trainer.weighting.compute_weights

    def compute_weights(task_losses, gram=None):
        local.weights = original(task_losses, gram)
        return local.weights

    trainer.weighting.compute_weights = compute_weights
    return local


def _train(case: str, strategy, batches) -> tuple[list[np.ndarray], list[list[list[float]]]]:
    """STEPS steps; returns the final weights and, per step, each replica's task weights."""
    trainer = _trainer(case, strategy)
    local = _recording_weights(trainer)

    def replica_step(batch):
        trainer.train_step(batch)
        return tf.identity(local.weights)

    if strategy is None:
        step = tf.function(lambda batch: [replica_step(batch)])
    else:
        @tf.function
        def step(batch):
            out = strategy.run(replica_step, args=(batch,))
            return list(strategy.experimental_local_results(out))

    inputs = batches if strategy is None else strategy.experimental_distribute_dataset(batches)
    per_step = []
    for batch in inputs:
        per_step.append([w.numpy().tolist() for w in step(batch)])
    return [np.asarray(w) for w in trainer.get_weights()], per_step


def mirrored(out: str, cases: list[str]) -> None:
    from tests.conftest import make_tiny_data

    _two_cpus()
    strategy = tf.distribute.MirroredStrategy(
        [d.name for d in tf.config.list_logical_devices("CPU")])
    assert strategy.num_replicas_in_sync == 2
    data = make_tiny_data(train_size=2 * BATCH_PER_REPLICA * STEPS, test_size=10)
    from mtl_tf.data.pipeline import make_dataset

    batches = make_dataset(data.train_images, data.train_labels, data.task_names,
                           2 * BATCH_PER_REPLICA, shuffle=True, seed=0)
    results = {}
    for case in cases:
        single, single_w = _train(case, None, batches)
        mirror, mirror_w = _train(case, strategy, batches)
        scale = max(float(np.max(np.abs(w))) for w in single)
        diff = max(float(np.max(np.abs(a - b))) for a, b in zip(single, mirror, strict=True))
        # How far training moved the network, for scale (the state of some weightings,
        # e.g. the Pareto MTL phase, is in get_weights() too).
        initial = _trainer(case, None)
        n_encoder = len(initial.encoder.get_weights())
        moved = max(float(np.max(np.abs(a - b))) for a, b in
                    zip(single[:n_encoder], initial.get_weights()[:n_encoder], strict=True))
        results[case] = {"max_abs_diff": diff, "max_abs_weight": scale, "max_update": moved,
                         "single_task_weights": single_w, "replica_task_weights": mirror_w}
    with open(out, "w", encoding="utf-8") as f:
        json.dump(results, f)


def mirrored_run(out_dir: str, method: str = "mgda") -> None:
    from mtl_tf.config import RunConfig
    from mtl_tf.orchestration import runs as run_lib
    from tests.conftest import make_tiny_data

    _two_cpus()
    data = make_tiny_data(train_size=128, test_size=40)
    config = RunConfig(method=method, backbone="lenet", batch_size=32, epochs=1, etas=(),
                       output_dir=out_dir, verbose=0, strategy="mirrored")
    metrics = run_lib.run(config, data=data)
    print(json.dumps({"accuracy": metrics["accuracy"]}))


def worker(weights_out: str, flag_args: list[str]) -> None:
    from flags import definitions
    from mtl_tf.orchestration import runs as run_lib

    definitions.FLAGS(["main.py", *flag_args])
    config = definitions.config_from_flags()
    trained = []
    original = run_lib.train_model

    def capture(*args, **kwargs):
        result = original(*args, **kwargs)
        trained.append(result[0])
        return result

    run_lib.train_model = capture
    run_lib.run(config, extra_files={"flags.txt": definitions.flagfile_text()})
    weights = trained[0].get_weights()
    np.savez(weights_out, *weights)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "mirrored":
        mirrored(sys.argv[2], sys.argv[3:])
    elif mode == "mirrored_run":
        mirrored_run(*sys.argv[2:4])
    elif mode == "worker":
        worker(sys.argv[2], sys.argv[3:])
    else:
        raise SystemExit(f"unknown mode {mode!r}")
