"""FGSM (MTVIB eq. 25), PGD and EOT robustness evaluation."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtl_tf.data.pipeline import make_dataset
from mtl_tf.evaluation import attacks
from mtl_tf.evaluation.metrics import predict_logits, summarize
from mtl_tf.models import build_network
from mtl_tf.training.trainer import MultiTaskTrainer
from mtl_tf.weighting.fixed import FixedWeighting

ETAS = (0.0, 0.05, 0.1, 0.3)


def _model(data, encoder: str, *, backbone: str = "lenet", train_steps: int = 0):
    keras.utils.set_random_seed(0)
    enc, heads = build_network(
        backbone=backbone,
        encoder=encoder,
        input_shape=(36, 36, 1),
        num_classes=[10, 10],
        task_names=data.task_names,
    )
    model = MultiTaskTrainer(enc, heads, FixedWeighting(2), beta=1e-3 if encoder == "vib" else 0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    if train_steps:
        ds = make_dataset(
            data.train_images, data.train_labels, data.task_names, 50, shuffle=True, seed=0
        )
        model.fit(ds.repeat(), steps_per_epoch=train_steps, epochs=1, verbose=0, shuffle=False)
    return model


def _test_ds(data, batch: int = 64):
    # 200 examples in batches of 64: the last batch (8) is smaller, as in real runs.
    return make_dataset(
        data.test_images, data.test_labels, data.task_names, batch, shuffle=False, seed=0
    )


@pytest.fixture(scope="module")
def trained(tiny_data):
    return _model(tiny_data, "deterministic", train_steps=40)


@pytest.fixture(scope="module")
def vib(tiny_data):
    return _model(tiny_data, "vib")


@pytest.fixture(scope="module")
def fgsm_result(trained, tiny_data):
    return attacks.fgsm_evaluate(trained, _test_ds(tiny_data), tiny_data.task_names, ETAS)


def _batch(data, n=64):
    images, labels = next(iter(_test_ds(data, n)))
    return images, labels


def test_fgsm_perturbation_is_bounded_and_valid(trained, tiny_data):
    images, labels = _batch(tiny_data)
    for eta in (0.05, 0.3):
        x_adv = attacks.perturb_fgsm(trained, images, labels, eta).numpy()
        delta = np.abs(x_adv - images.numpy())
        assert delta.max() <= eta + 1e-6
        assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
        assert (delta > 0).mean() > 0.3  # the sign is not trivially zero


def test_eta_zero_is_the_clean_accuracy(trained, tiny_data, fgsm_result):
    clean = summarize(
        predict_logits(trained, _test_ds(tiny_data)), tiny_data.test_labels, tiny_data.task_names
    )
    assert fgsm_result["accuracy"]["0"] == clean["accuracy"]
    assert fgsm_result["joint_accuracy"]["0"] == clean["joint_accuracy"]
    assert fgsm_result["num_examples"] == 200
    assert fgsm_result["attack"] == "fgsm" and fgsm_result["eot_samples"] == 0
    assert list(fgsm_result["accuracy"]) == ["0", "0.05", "0.1", "0.3"]


def test_one_sign_per_batch_equals_per_eta_recomputation(trained, tiny_data, fgsm_result):
    for eta in ETAS:
        logits = {t: [] for t in tiny_data.task_names}
        for images, labels in _test_ds(tiny_data):
            x_adv = attacks.perturb_fgsm(trained, images, labels, eta)
            for t, lg in trained(x_adv, training=False).items():
                logits[t].append(lg.numpy())
        naive = summarize(
            {t: np.concatenate(v) for t, v in logits.items()},
            tiny_data.test_labels,
            tiny_data.task_names,
        )
        key = attacks.eta_key(eta)
        assert fgsm_result["accuracy"][key] == naive["accuracy"], eta
        assert fgsm_result["joint_accuracy"][key] == naive["joint_accuracy"], eta


def test_fgsm_lowers_the_accuracy_of_a_trained_model(fgsm_result):
    clean, attacked = fgsm_result["accuracy"]["0"], fgsm_result["accuracy"]["0.3"]
    assert min(clean.values()) > 0.2  # well above chance (0.1): the attack has work to do
    for task in clean:
        assert attacked[task] < clean[task] - 0.1
    assert fgsm_result["joint_accuracy"]["0.3"] < fgsm_result["joint_accuracy"]["0"]


def test_pgd_stays_in_the_ball_and_is_at_least_as_strong(trained, tiny_data, fgsm_result):
    images, labels = _batch(tiny_data)
    x_adv = attacks.perturb_pgd(trained, images, labels, 0.1, steps=5).numpy()
    assert np.abs(x_adv - images.numpy()).max() <= 0.1 + 1e-6
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0

    pgd = attacks.pgd_evaluate(
        trained, _test_ds(tiny_data), tiny_data.task_names, (0.0, 0.05, 0.1), steps=5
    )
    assert pgd["attack"] == "pgd" and pgd["steps"] == 5 and pgd["random_start"] is True
    assert pgd["step_size"]["0.1"] == pytest.approx(2.5 * 0.1 / 5)
    assert pgd["accuracy"]["0"] == fgsm_result["accuracy"]["0"]
    for key in ("0.05", "0.1"):
        for task, acc in pgd["accuracy"][key].items():
            assert acc <= fgsm_result["accuracy"][key][task] + 0.02, (key, task)
        assert pgd["joint_accuracy"][key] <= fgsm_result["joint_accuracy"][key] + 0.02


def test_eot_gradient_is_the_mean_of_single_sample_gradients(vib, tiny_data):
    images, labels = _batch(tiny_data, 32)
    seeds = np.array([[7, 0], [7, 1], [7, 2]], np.int64)
    averaged = attacks.input_gradient(vib, images, labels, noise_seeds=seeds).numpy()
    singles = [
        attacks.input_gradient(vib, images, labels, noise_seeds=s[None]).numpy() for s in seeds
    ]
    scale = np.abs(averaged).max()
    np.testing.assert_allclose(averaged, np.mean(singles, axis=0), atol=1e-5 * scale)
    # Training-mode sampling changes the gradient; the inference-mode one (z = mean) does
    # not depend on any seed.
    assert not np.allclose(singles[0], singles[1])
    plain = [attacks.input_gradient(vib, images, labels, seed=s).numpy() for s in (0, 1)]
    np.testing.assert_array_equal(plain[0], plain[1])


def test_eot_stabilises_the_sign_with_more_samples(vib, tiny_data):
    images, labels = _batch(tiny_data, 32)

    def sign_agreement(k):
        a, b = (
            np.sign(attacks.input_gradient(vib, images, labels, eot_samples=k, seed=s))
            for s in (1, 2)
        )
        return (a == b).mean()

    assert sign_agreement(64) > sign_agreement(1) + 0.05


def test_eot_evaluation_is_reported_and_scored_in_inference_mode(vib, tiny_data):
    ds = _test_ds(tiny_data)
    plain = attacks.fgsm_evaluate(vib, ds, tiny_data.task_names, (0.0, 0.1))
    eot = attacks.fgsm_evaluate(vib, ds, tiny_data.task_names, (0.0, 0.1), eot_samples=4)
    assert eot["attack"] == "fgsm-eot" and eot["eot_samples"] == 4
    # The clean row is scored with z = mean either way.
    assert eot["accuracy"]["0"] == plain["accuracy"]["0"]
    again = attacks.fgsm_evaluate(vib, ds, tiny_data.task_names, (0.0, 0.1), eot_samples=4)
    assert again == eot  # seeded: reproducible


def test_invalid_arguments_are_rejected(trained, vib, tiny_data):
    ds = _test_ds(tiny_data)
    for etas in ([-0.1], [0.1, 1.5], [float("nan")], []):
        with pytest.raises(ValueError, match="--etas"):
            attacks.fgsm_evaluate(trained, ds, tiny_data.task_names, etas)
    with pytest.raises(ValueError, match="--etas"):
        attacks.perturb_fgsm(trained, *_batch(tiny_data, 4), 2.0)
    with pytest.raises(ValueError, match="--steps"):
        attacks.pgd_evaluate(trained, ds, tiny_data.task_names, [0.1], steps=0)
    with pytest.raises(ValueError, match="VIB"):
        attacks.fgsm_evaluate(trained, ds, tiny_data.task_names, [0.1], eot_samples=2)
    with pytest.raises(ValueError, match="eot_samples"):
        attacks.fgsm_evaluate(vib, ds, tiny_data.task_names, [0.1], eot_samples=-1)


def test_labels_may_be_a_stacked_array(trained, tiny_data):
    images, labels = _batch(tiny_data, 16)
    stacked = tf.stack([labels[t] for t in tiny_data.task_names], axis=1)
    np.testing.assert_array_equal(
        attacks.perturb_fgsm(trained, images, labels, 0.1),
        attacks.perturb_fgsm(trained, images, stacked, 0.1),
    )
