"""Evaluation protocols (issue #15 items 1, 6, 7): VIB prediction, attacked loss, clipped
softmax, eta units -- each checked against a direct computation of what it claims."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtl_tf.config import RunConfig
from mtl_tf.data.pipeline import make_dataset
from mtl_tf.evaluation import attacks
from mtl_tf.evaluation.attack_graph import prediction_seeds
from mtl_tf.evaluation.attack_loss import objective_weights
from mtl_tf.evaluation.protocol import STANDARD, Protocol
from mtl_tf.models import build_network
from mtl_tf.models.vib import gaussian_kl
from mtl_tf.training.trainer import MultiTaskTrainer
from mtl_tf.weighting.fixed import FixedWeighting
from mtl_tf.weighting.mgda import MGDAWeighting
from mtl_tf.weighting.uncertainty import UncertaintyWeighting

ETAS = (0.0, 0.1, 0.3)
SAMPLE = Protocol(vib_prediction="sample")


def _model(data, encoder: str, weighting=None, train_steps: int = 30):
    keras.utils.set_random_seed(0)
    enc, heads = build_network(backbone="lenet", encoder=encoder, input_shape=(36, 36, 1),
                               num_classes=[10, 10], task_names=data.task_names)
    model = MultiTaskTrainer(enc, heads, weighting or FixedWeighting(2),
                             beta=1e-3 if encoder == "vib" else 0.0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    if train_steps:
        ds = make_dataset(data.train_images, data.train_labels, data.task_names, 50,
                          shuffle=True, seed=0)
        model.fit(ds.repeat(), steps_per_epoch=train_steps, epochs=1, verbose=0, shuffle=False)
    return model


def _ds(data, batch: int = 64):
    return make_dataset(data.test_images, data.test_labels, data.task_names, batch,
                        shuffle=False, seed=0)


def _batch(data, n: int = 64):
    images, labels = next(iter(_ds(data, n)))
    return images, tf.stack([tf.cast(labels[t], tf.int32) for t in data.task_names], axis=1)


@pytest.fixture(scope="module")
def vib(tiny_data):
    return _model(tiny_data, "vib")


@pytest.fixture(scope="module")
def det(tiny_data):
    return _model(tiny_data, "deterministic")


def _sampled_logits(model, images, seed_pair):
    """One latent sample z = mean + std * eps, eps from `seed_pair`; logits per task."""
    enc = model.encoder(images, training=False)
    eps = tf.random.stateless_normal(tf.shape(enc["mean"]), seed_pair)
    z = enc["mean"] + tf.exp(0.5 * enc["log_var"]) * eps
    return [model.heads[t](z, training=False) for t in model.task_names], enc


def _ce_sum(logits, labels, weights=(1.0, 1.0)):
    terms = [w * tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
        labels[:, k], lg, from_logits=True))
        for k, (w, lg) in enumerate(zip(weights, logits, strict=True))]
    return tf.add_n(terms)


# ------------------------------------------------------------------ the protocol object
def test_protocol_defaults_names_and_validation():
    assert STANDARD.is_standard and STANDARD.name() == "standard"
    assert Protocol.from_config(RunConfig()) == STANDARD  # the flags' defaults
    p = Protocol(vib_prediction="average", vib_prediction_samples=12, attack_loss="weighted",
                 attack_ce="clipped_softmax", eta_units="standardized")
    assert p.name() == "vib-average12+weighted-loss+clipped_softmax+standardized-eta"
    assert p.prediction_samples == 12 and SAMPLE.prediction_samples == 1
    assert p.eta_scale("multi_mnist") == pytest.approx(0.3081)
    with pytest.raises(ValueError, match="--eta_units=pixel"):
        p.eta_scale("mtfl")
    with pytest.raises(ValueError, match="--attack_loss"):
        Protocol(attack_loss="max")
    # The sample count only distinguishes protocols that average.
    assert Protocol(vib_prediction_samples=3).is_standard


def test_standard_result_reports_protocol_zero_gradients_and_clean(det, tiny_data):
    result = attacks.fgsm_evaluate(det, _ds(tiny_data), tiny_data.task_names, ETAS)
    assert result["protocol"]["name"] == "standard" and result["protocol"]["eta_scale"] == 1.0
    assert result["clean_accuracy"] == result["accuracy"]["0"]
    assert result["clean_joint_accuracy"] == result["joint_accuracy"]["0"]
    zero = result["zero_gradient_fraction"]
    assert set(zero["tasks"]) == set(tiny_data.task_names) and zero["pair"] == 0.0
    # A deterministic model has no sampling: a sampled protocol falls back to z = mean.
    again = attacks.fgsm_evaluate(det, _ds(tiny_data), tiny_data.task_names, ETAS,
                                  protocol=SAMPLE)
    assert again["accuracy"] == result["accuracy"]
    assert again["protocol"]["vib_prediction"] == "mean"


# ------------------------------------------------------------------ VIB prediction
def test_sampled_prediction_is_seeded_and_differs_from_the_mean(vib, tiny_data):
    def run(protocol, seed=0):
        return attacks.fgsm_evaluate(vib, _ds(tiny_data), tiny_data.task_names, ETAS,
                                     protocol=protocol, seed=seed)

    first, second, other = run(SAMPLE), run(SAMPLE), run(SAMPLE, seed=1)
    assert first["accuracy"] == second["accuracy"]  # deterministic given the seed
    assert first["joint_accuracy"] == second["joint_accuracy"]
    assert first["accuracy"] != other["accuracy"]  # ... and the seed matters
    assert first["accuracy"] != run(STANDARD)["accuracy"]  # a sample is not z = mean
    assert first["protocol"]["vib_prediction"] == "sample"


def test_average_prediction_is_the_mean_softmax_of_k_seeded_samples(vib, tiny_data):
    k = 3
    protocol = Protocol(vib_prediction="average", vib_prediction_samples=k)
    result = attacks.fgsm_evaluate(vib, _ds(tiny_data), tiny_data.task_names, (0.0,),
                                   protocol=protocol, seed=5)
    right = {t: 0 for t in tiny_data.task_names}
    for b, (images, labels) in enumerate(_ds(tiny_data)):
        seeds = prediction_seeds(5, b, [0], k)[0]
        probs = [0.0, 0.0]
        for s in range(k):
            logits, _ = _sampled_logits(vib, images, seeds[s])
            probs = [p + tf.nn.softmax(lg).numpy() / k for p, lg in zip(probs, logits, strict=True)]
        for i, t in enumerate(tiny_data.task_names):
            right[t] += int((probs[i].argmax(-1) == labels[t].numpy()).sum())
    assert result["clean_accuracy"] == {t: r / 200 for t, r in right.items()}
    assert result["accuracy"]["0"] == result["clean_accuracy"]


def test_sampled_gradient_is_that_of_the_clean_predictions_draw(vib, tiny_data):
    images, labels = _batch(tiny_data)
    grad = attacks.input_gradient(vib, images, labels, protocol=SAMPLE, seed=3)
    seed_pair = prediction_seeds(3, 0, [0], 1)[0, 0]
    with tf.GradientTape() as tape:
        tape.watch(images)
        loss = _ce_sum(_sampled_logits(vib, images, seed_pair)[0], labels)
    np.testing.assert_allclose(grad.numpy(), tape.gradient(loss, images).numpy(),
                               rtol=1e-4, atol=1e-9)


def test_eot_of_one_sample_draws_is_the_existing_eot(vib, tiny_data):
    images, labels = _batch(tiny_data)
    mean_eot = attacks.input_gradient(vib, images, labels, eot_samples=4, seed=2)
    sample_eot = attacks.input_gradient(vib, images, labels, eot_samples=4, seed=2,
                                        protocol=SAMPLE)
    np.testing.assert_allclose(sample_eot.numpy(), mean_eot.numpy(), rtol=1e-5, atol=1e-9)


# ------------------------------------------------------------------ the attacked loss
def test_weighted_loss_with_fixed_weights_is_that_objective(tiny_data):
    model = _model(tiny_data, "deterministic", FixedWeighting(2, [1.0, 0.0]), train_steps=10)
    tasks = list(tiny_data.task_names)
    weights, source = objective_weights(model, tasks)
    assert weights == (1.0, 0.0) and "end of training" in source
    images, labels = _batch(tiny_data)
    weighted = attacks.input_gradient(model, images, labels, weights=weights,
                                      protocol=Protocol(attack_loss="weighted"))
    first_only = attacks.input_gradient(model, images, labels[:, :1], task_names=tasks[:1])
    np.testing.assert_allclose(weighted.numpy(), first_only.numpy(), rtol=1e-5, atol=1e-9)
    summed = attacks.input_gradient(model, images, labels)
    assert not np.allclose(weighted.numpy(), summed.numpy())


def test_weighted_loss_of_mtvib_is_inverse_variances_plus_beta_kl(tiny_data):
    model = _model(tiny_data, "vib", UncertaintyWeighting(2), train_steps=10)
    model.weighting.log_variances.assign([0.5, -1.0])
    weights, _ = objective_weights(model, tiny_data.task_names)
    np.testing.assert_allclose(weights, np.exp([-0.5, 1.0]), rtol=1e-6)
    images, labels = _batch(tiny_data)
    grad = attacks.input_gradient(model, images, labels, weights=weights,
                                  protocol=Protocol(attack_loss="weighted"))
    with tf.GradientTape() as tape:
        tape.watch(images)
        enc = model.encoder(images, training=False)
        logits = [model.heads[t](enc["z"], training=False) for t in model.task_names]
        loss = _ce_sum(logits, labels, weights) + model.beta * tf.reduce_mean(
            gaussian_kl(enc["mean"], enc["log_var"]))
    np.testing.assert_allclose(grad.numpy(), tape.gradient(loss, images).numpy(),
                               rtol=1e-4, atol=1e-9)


def test_gradient_based_strategies_attack_their_logged_last_epoch_weights(tiny_data):
    model = _model(tiny_data, "deterministic", MGDAWeighting(2), train_steps=0)
    logged = {"top_left": 0.3, "bottom_right": 1.7}
    tasks = list(tiny_data.task_names)
    weights, source = objective_weights(model, tasks, {t: logged[t] for t in tasks})
    assert weights == tuple(logged[t] for t in tasks) and "last training epoch" in source
    with pytest.raises(ValueError, match="no logged training weights"):
        objective_weights(model, tasks, None)


def test_per_task_attack_scores_each_task_under_its_own_attack(det, tiny_data):
    tasks = list(tiny_data.task_names)
    result = attacks.fgsm_evaluate(det, _ds(tiny_data), tasks, ETAS,
                                   protocol=Protocol(attack_loss="per_task"))
    assert result["joint_accuracy"] is None and result["clean_joint_accuracy"] is None
    for t in tasks:
        alone = attacks.fgsm_evaluate(det, _ds(tiny_data), [t], ETAS)
        assert {k: v[t] for k, v in result["accuracy"].items()} == {
            k: v[t] for k, v in alone["accuracy"].items()}
        assert result["zero_gradient_fraction"]["tasks"][t] == (
            alone["zero_gradient_fraction"]["tasks"][t])
    assert "one task at a time" in result["loss"]
    # Each task's own attack hurts it at least as much as the shared summed attack, here.
    summed = attacks.fgsm_evaluate(det, _ds(tiny_data), tasks, ETAS)
    assert sum(result["accuracy"]["0.3"].values()) <= sum(summed["accuracy"]["0.3"].values())


# ------------------------------------------------------------------ clipped softmax
def test_clipped_softmax_zero_gradients_are_counted_and_never_perturbed(tiny_data):
    model = _model(tiny_data, "deterministic", train_steps=40)
    for t in model.task_names:  # a confident model: large logit margins
        dense = model.heads[t].layers[-1]
        dense.kernel.assign(dense.kernel * 8.0)
        dense.bias.assign(dense.bias * 8.0)
    clipped = Protocol(attack_ce="clipped_softmax")
    images, labels = _batch(tiny_data, 200)
    grad = attacks.input_gradient(model, images, labels, protocol=clipped).numpy()
    zero = np.all(grad.reshape(len(grad), -1) == 0.0, axis=1)
    assert 0 < zero.sum() < len(zero)  # some confident examples saturate, not all
    x_adv = attacks.perturb_fgsm(model, images, labels, 0.3, protocol=clipped).numpy()
    np.testing.assert_array_equal(x_adv[zero], images.numpy()[zero])  # sign 0: untouched
    result = attacks.fgsm_evaluate(model, _ds(tiny_data), tiny_data.task_names, ETAS,
                                   protocol=clipped)
    assert result["zero_gradient_fraction"]["pair"] == pytest.approx(zero.mean())
    for k, t in enumerate(tiny_data.task_names):  # per task: that task's loss alone
        g = attacks.input_gradient(model, images, labels[:, k:k + 1], task_names=[t],
                                   protocol=clipped).numpy()
        assert result["zero_gradient_fraction"]["tasks"][t] == pytest.approx(
            np.all(g.reshape(len(g), -1) == 0.0, axis=1).mean())
    # From logits the same model's gradients do not vanish.
    logits = attacks.fgsm_evaluate(model, _ds(tiny_data), tiny_data.task_names, ETAS)
    assert logits["zero_gradient_fraction"]["pair"] == 0.0
    assert result["accuracy"]["0.3"] != logits["accuracy"]["0.3"]


# ------------------------------------------------------------------ eta units
def test_standardized_eta_is_eta_times_the_std_in_pixels(det, tiny_data):
    std = Protocol(eta_units="standardized").eta_scale("multi_mnist")
    images, labels = _batch(tiny_data)
    x_adv = attacks.perturb_fgsm(det, images, labels, 0.3, eta_scale=std).numpy()
    assert np.abs(x_adv - images.numpy()).max() == pytest.approx(0.3 * std, rel=1e-5)
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0  # clipped to the image range
    units = Protocol(eta_units="standardized")
    scaled = attacks.fgsm_evaluate(det, _ds(tiny_data), tiny_data.task_names, (0.0, 0.3),
                                   protocol=units, eta_scale=std)
    pixels = attacks.fgsm_evaluate(det, _ds(tiny_data), tiny_data.task_names, (0.0, 0.3 * std))
    assert scaled["accuracy"]["0.3"] == pixels["accuracy"][attacks.eta_key(0.3 * std)]
    assert scaled["etas"] == [0.0, 0.3] and scaled["protocol"]["eta_scale"] == std


def test_pgd_takes_the_protocol_and_scores_the_same_clean_draws(vib, tiny_data):
    fgsm = attacks.fgsm_evaluate(vib, _ds(tiny_data), tiny_data.task_names, (0.0, 0.1),
                                 protocol=SAMPLE)
    pgd = attacks.pgd_evaluate(vib, _ds(tiny_data), tiny_data.task_names, (0.0, 0.1),
                               steps=2, protocol=SAMPLE)
    again = attacks.pgd_evaluate(vib, _ds(tiny_data), tiny_data.task_names, (0.0, 0.1),
                                 steps=2, protocol=SAMPLE)
    assert pgd["accuracy"]["0"] == fgsm["accuracy"]["0"]  # pass 0: the same latent draws
    assert pgd["accuracy"] == again["accuracy"]
    assert pgd["zero_gradient_fraction"] is None
    assert pgd["protocol"]["name"] == "vib-sample"
    assert dataclasses.replace(SAMPLE, attack_ce="clipped_softmax").name() == (
        "vib-sample+clipped_softmax")
