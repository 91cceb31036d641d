"""MultiTaskTrainer: the loss falls, the gradient paths agree, BN statistics are usable."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtl_tf.config import RunConfig
from mtl_tf.data.pipeline import make_dataset
from mtl_tf.evaluation import metrics as metrics_lib
from mtl_tf.models import build_network
from mtl_tf.training.trainer import MultiTaskTrainer
from mtl_tf.weighting import build_weighting
from mtl_tf.weighting.fixed import FixedWeighting


def _trainer(weighting, *, backbone="small_alexnet", encoder="deterministic", bn_momentum=0.9,
             optimizer=None, seed=0):
    keras.utils.set_random_seed(seed)
    enc, heads = build_network(backbone=backbone, encoder=encoder, input_shape=(36, 36, 1),
                               num_classes=[10, 10], task_names=["top_left", "bottom_right"],
                               bn_momentum=bn_momentum, seed=seed)
    trainer = MultiTaskTrainer(enc, heads, weighting, beta=1e-3 if encoder == "vib" else 0.0)
    trainer.compile(optimizer=optimizer or keras.optimizers.Adam(1e-3))
    return trainer


def _ds(data, batch=50, epoch=0, shuffle=True):
    return make_dataset(data.train_images, data.train_labels, data.task_names, batch,
                        shuffle=shuffle, seed=0, epoch=epoch)


def test_a_few_steps_lower_the_loss(tiny_data):
    trainer = _trainer(FixedWeighting(2, [0.5, 0.5]))
    batch = next(iter(_ds(tiny_data, batch=100)))
    first = float(trainer.train_on_batch(*batch, return_dict=True)["loss"])
    for _ in range(15):
        last = float(trainer.train_on_batch(*batch, return_dict=True)["loss"])
    assert last < 0.5 * first, (first, last)


def test_fixed_weights_are_reported_and_validated(tiny_data):
    trainer = _trainer(FixedWeighting(2, [0.2, 0.8]))
    logs = trainer.train_on_batch(*next(iter(_ds(tiny_data))), return_dict=True)
    assert logs["top_left_weight"] == pytest.approx(0.2)
    assert logs["bottom_right_weight"] == pytest.approx(0.8)
    assert set(logs) >= {"top_left_loss", "bottom_right_accuracy", "joint_accuracy"}
    with pytest.raises(ValueError, match="--task_weights has 3 values"):
        FixedWeighting(2, [0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match="non-negative"):
        FixedWeighting(2, [-1.0, 2.0])
    with pytest.raises(ValueError, match="unknown weighting 'nope'"):
        build_weighting("nope", 2, RunConfig())


class _GradientFixed(FixedWeighting):
    """Fixed weights computed on the gradient path: must give the very same update."""

    gradient_source = "params"

    def compute_weights(self, task_losses, gram=None):
        # The Gram matrix of real gradients is symmetric positive semi-definite.
        tf.debugging.assert_near(gram, tf.transpose(gram))
        tf.debugging.assert_non_negative(tf.linalg.diag_part(gram))
        return super().compute_weights(task_losses, gram)


class _ReprFixed(_GradientFixed):
    gradient_source = "representation"


class _LastLayerFixed(_GradientFixed):
    gradient_source = "last_shared_layer"


class _HeadsFixed(_GradientFixed):
    gram_includes_heads = True


@pytest.mark.parametrize("cls", [_GradientFixed, _ReprFixed, _LastLayerFixed, _HeadsFixed])
@pytest.mark.parametrize("encoder", ["deterministic", "vib"])
def test_gradient_paths_equal_the_gradient_of_the_weighted_sum(tiny_data, cls, encoder):
    """Every gradient_source path applies exactly grad(sum_k w_k L_k + reg)."""
    batch = next(iter(_ds(tiny_data, batch=32)))
    results = []
    for weighting in (FixedWeighting(2, [0.3, 0.7]), cls(2, [0.3, 0.7])):
        # Plain SGD: the parameter change is proportional to the gradient itself.
        trainer = _trainer(weighting, backbone="lenet", encoder=encoder,
                           optimizer=keras.optimizers.SGD(0.1))
        before = [v.numpy() for v in trainer.trainable_variables]
        trainer.train_on_batch(*batch)
        results.append([v.numpy() - b for v, b in zip(trainer.trainable_variables, before,
                                                      strict=True)])
    for plain, via_gradients in zip(*results, strict=True):
        np.testing.assert_allclose(via_gradients, plain, rtol=1e-4, atol=1e-6)
    assert any(np.abs(d).max() > 0 for d in results[0])


def _train_and_score(data, bn_momentum, steps=100):
    trainer = _trainer(FixedWeighting(2), bn_momentum=bn_momentum, seed=1)
    ds = _ds(data, batch=50).repeat()
    it = iter(ds)
    for _ in range(steps):
        trainer.train_on_batch(*next(it))
    eval_ds = _ds(data, batch=200, shuffle=False)
    inference = metrics_lib.summarize(
        metrics_lib.predict_logits(trainer, eval_ds), data.train_labels, data.task_names)
    logits_train_mode = {}
    for images, _ in eval_ds:
        for t, v in trainer(images, training=True).items():
            logits_train_mode.setdefault(t, []).append(v.numpy())
    training = metrics_lib.summarize({t: np.concatenate(v) for t, v in logits_train_mode.items()},
                                     data.train_labels, data.task_names)
    return inference["joint_accuracy"], training["joint_accuracy"]


def test_bn_momentum_makes_inference_mode_match_training_mode(tiny_data):
    """The issue's trap: with momentum 0.99 a briefly trained model is at chance in
    inference mode. With our default 0.9 inference accuracy tracks training-mode accuracy."""
    inf_09, train_09 = _train_and_score(tiny_data, 0.9)
    inf_099, train_099 = _train_and_score(tiny_data, 0.99)
    assert train_09 > 0.5 and train_099 > 0.5, (train_09, train_099)
    assert inf_09 > train_09 - 0.05, (inf_09, train_09)
    # The default Keras momentum really is the failure mode we guard against.
    assert inf_099 < train_099 - 0.3, (inf_099, train_099)


def test_non_finite_loss_stops_with_epoch_step_and_task(tiny_data, tmp_path):
    import os

    from mtl_tf.orchestration import runs as run_lib
    from mtl_tf.training.fit import NonFiniteLossError

    config = RunConfig(backbone="lenet", epochs=2, batch_size=50, verbose=0, optimizer="sgd",
                       learning_rate=1e12, etas=(), output_dir=str(tmp_path / "run"))
    with pytest.raises(NonFiniteLossError,
                       match=r"for task (top_left|bottom_right) at epoch 1, step \d+"):
        run_lib.run(config, data=tiny_data)
    # Nothing after the last good state: no checkpoint of the diverged epoch, no metrics.
    assert not os.path.exists(os.path.join(config.output_dir, "checkpoints", "checkpoint"))
    assert not os.path.exists(os.path.join(config.output_dir, "metrics.json"))


@pytest.mark.parametrize("encoder, weighting", [("deterministic", "fixed"), ("vib", "uncertainty")])
def test_checkpoint_round_trip_keeps_every_variable(tiny_data, tmp_path, encoder, weighting):
    """Every variable -- the heads' BatchNorm moving statistics and the strategy's state
    included -- survives a checkpoint, so resumed, exported and re-scored models are the
    trained ones. (A dict of heads is invisible to tf.train.Checkpoint: this caught it.)"""
    import tensorflow as tf

    def build():
        keras.utils.set_random_seed(0)
        return _trainer(build_weighting(weighting, 2, RunConfig()), encoder=encoder)

    trained = build()
    batch = next(iter(_ds(tiny_data)))
    for _ in range(5):
        trained.train_on_batch(*batch)
    path = tf.train.Checkpoint(model=trained).save(str(tmp_path / "ckpt"))
    restored = build()
    restored(batch[0], training=False)
    tf.train.Checkpoint(model=restored).restore(path).assert_existing_objects_matched()
    pairs = list(zip(trained.variables, restored.variables, strict=True))
    assert any("moving_mean" in a.path for a, _ in pairs)
    for a, b in pairs:
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    for task in ("top_left", "bottom_right"):
        np.testing.assert_array_equal(trained(batch[0])[task].numpy(),
                                      restored(batch[0])[task].numpy())


def test_restored_run_reproduces_its_metrics(tiny_data, tmp_path):
    """A finished Small AlexNet (BatchNorm) run, rebuilt from its directory as export and
    --eval_only do, scores exactly what its metrics.json says."""
    from mtl_tf.data.pipeline import split_dataset
    from mtl_tf.orchestration import runs as run_lib
    from mtl_tf.run_dir.restore import restore_run

    config = RunConfig(backbone="small_alexnet", epochs=1, batch_size=50, verbose=0,
                       etas=(), output_dir=str(tmp_path / "run"))
    metrics = run_lib.run(config, data=tiny_data)
    _, _, _, restored = restore_run(config.output_dir)
    (plan, trainer, _), = restored
    test_ds = split_dataset(tiny_data, "test", plan.task_indices, 50, shuffle=False, seed=0)
    again = metrics_lib.summarize(metrics_lib.predict_logits(trainer, test_ds),
                                  tiny_data.test_labels, tiny_data.task_names)
    assert again["accuracy"] == metrics["accuracy"]
    assert again["loss"] == pytest.approx(metrics["loss"], rel=1e-6)


def test_incomplete_checkpoint_is_a_clear_error(tmp_path):
    """A checkpoint lacking some model variables is refused with the checkpoint named,
    not half-restored (the rest would silently keep its initial values)."""
    import tensorflow as tf

    from mtl_tf.training.checkpoints import restore_checkpoint

    trainer = _trainer(FixedWeighting(2), backbone="lenet")
    trainer(tf.zeros((1, 36, 36, 1)))
    # Only the shared encoder, saved where the whole model is expected.
    path = tf.train.Checkpoint(model=trainer.encoder).save(str(tmp_path / "partial"))
    fresh = _trainer(FixedWeighting(2), backbone="lenet")
    fresh(tf.zeros((1, 36, 36, 1)))
    with pytest.raises(ValueError, match="does not hold every variable of this model"):
        restore_checkpoint(tf.train.Checkpoint(model=fresh), path)


# ---------------------------------------------------------------- GradNorm's shared layer


@pytest.mark.parametrize("backbone, encoder, expected", [
    # Deterministic encoders: their last Dense, as before.
    ("small_alexnet", "deterministic", "fc1_384/kernel"),
    ("lenet", "deterministic", "fc1_50/kernel"),
    # VIB: the last FC before the bottleneck (MTVIB Table I(d): the third FC 1024), not the
    # bottleneck's mean layer "vib/vib_mean/kernel", one of its two parallel heads.
    ("small_alexnet", "vib", "fc3_1024/kernel"),
    ("lenet", "vib", "fc1_50/kernel"),
])
def test_last_shared_kernel_is_the_layer_every_task_goes_through(backbone, encoder, expected):
    trainer = _trainer(build_weighting("gradnorm", 2, RunConfig()), backbone=backbone,
                       encoder=encoder)
    kernel = trainer.last_shared_kernel()
    assert kernel.path == expected
    assert any(kernel is v for v in trainer.encoder.trainable_variables)
    if encoder == "vib":
        bottleneck = trainer.encoder.get_layer("vib")
        assert not any(kernel is v for v in bottleneck.trainable_variables)
        # It is the input width of both parallel posterior layers.
        assert kernel.shape[-1] == bottleneck.mean_dense.kernel.shape[0]


def test_last_shared_kernel_skips_parallel_top_level_branches():
    """An encoder whose mean / log-variance are two top-level Dense layers: the rule picks
    the trunk feeding both, not the last-built branch; no shared Dense at all is an error."""
    image = keras.Input((36, 36, 1), name="image")
    trunk = keras.layers.Dense(8, name="trunk")(keras.layers.Flatten()(image))
    mean = keras.layers.Dense(4, name="mean")(trunk)
    log_var = keras.layers.Dense(4, name="log_var")(trunk)
    z = keras.layers.Add()([mean, log_var])
    encoder = keras.Model(image, {"z": z, "mean": mean, "log_var": log_var})
    heads = {t: keras.Sequential([keras.Input((4,)), keras.layers.Dense(10)], name=f"head_{t}")
             for t in ("top_left", "bottom_right")}
    trainer = MultiTaskTrainer(encoder, heads, FixedWeighting(2))
    assert trainer.last_shared_kernel().path == "trunk/kernel"

    no_dense = keras.Model(image, {"z": keras.layers.Flatten()(image)})
    heads = {t: keras.Sequential([keras.Input((1296,)), keras.layers.Dense(10)])
             for t in ("top_left", "bottom_right")}
    with pytest.raises(ValueError, match="no top-level Dense layer"):
        MultiTaskTrainer(no_dense, heads, FixedWeighting(2)).last_shared_kernel()


def test_gradnorm_step_on_the_vib_encoder_uses_the_last_shared_layer(tiny_data):
    """A real GradNorm step with MTVIB's encoder (--method=gradnorm --encoder=vib): it runs,
    and the gradient norms GradNorm receives are those at fc3_1024, recomputed here."""
    from mtl_tf.weighting.gradnorm import GradNormWeighting

    class Recording(GradNormWeighting):
        def build(self, input_shape):
            super().build(input_shape)
            self.seen = self.add_weight(shape=(2,), initializer="zeros", trainable=False,
                                        name="seen")

        def compute_weights(self, task_losses, gram=None):
            self.seen.assign(tf.linalg.diag_part(tf.cast(gram, tf.float32)))
            return super().compute_weights(task_losses, gram)

    trainer = _trainer(Recording(2), encoder="vib")
    images, labels = next(iter(_ds(tiny_data, batch=16)))
    trainer(images)  # build
    kernel = trainer.encoder.get_layer("fc3_1024").kernel
    noise = trainer.encoder.get_layer("vib").seed_generator.state
    state = noise.numpy()
    # The same forward pass the step takes (training mode: batch statistics, the same
    # latent noise, restored afterwards), and each task's gradient at fc3_1024's kernel.
    with tf.GradientTape(persistent=True) as tape:
        logits = trainer(images, training=True)
        losses = [tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
            labels[t], logits[t], from_logits=True)) for t in trainer.task_names]
    expected = [float(tf.reduce_sum(tape.gradient(loss, kernel) ** 2)) for loss in losses]
    noise.assign(state)

    logs = trainer.train_on_batch(images, labels, return_dict=True)
    np.testing.assert_allclose(trainer.weighting.seen.numpy(), expected, rtol=1e-4)
    assert all(np.isfinite(v) for v in logs.values())
    weights = trainer.weighting.task_weights.numpy()  # after GradNorm's own update
    assert weights.sum() == pytest.approx(2.0) and np.all(weights > 0.0)
    assert not np.allclose(weights, 1.0)  # the norms moved them
    logs = trainer.train_on_batch(images, labels, return_dict=True)
    assert logs["top_left_weight"] + logs["bottom_right_weight"] == pytest.approx(2.0)


def test_private_keras_hook_is_still_what_keras_calls(tiny_data):
    """The trainer overrides one private Keras hook, `_maybe_symbolic_build` (for
    MultiWorkerMirroredStrategy). Keras must still define it with these arguments, call it
    from `fit` with an epoch iterator, and that iterator must still yield
    (step, _, iterator) items — else the override silently stops applying."""
    import inspect

    from mtl_tf.data.pipeline import split_dataset
    from mtl_tf.models import build_network
    from mtl_tf.training.trainer import MultiTaskTrainer
    from mtl_tf.weighting.fixed import FixedWeighting

    assert list(inspect.signature(keras.Model._maybe_symbolic_build).parameters) == [
        "self", "iterator", "data_batch"]
    seen = []

    class Probe(MultiTaskTrainer):
        def _maybe_symbolic_build(self, iterator=None, data_batch=None):
            if iterator is not None:
                for item in iterator:
                    step, _, it = item  # the structure the override unpacks
                    seen.append(tf.is_tensor(next(it)[0]) or hasattr(it, "get_next"))
                    break
            return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    encoder, heads = build_network(backbone="lenet", encoder="deterministic",
                                   input_shape=(36, 36, 1), num_classes=[10, 10],
                                   task_names=["top_left", "bottom_right"])
    trainer = Probe(encoder, heads, FixedWeighting(2))
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
    train_ds = split_dataset(tiny_data, "train", (0, 1), 50, shuffle=False, seed=0)
    trainer.fit(train_ds.take(2), epochs=1, verbose=0)
    assert seen == [True]
