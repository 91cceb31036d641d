"""Pareto MTL (Lin et al. 2019): preferences, constraints, both phases, fixed-shape trick."""

from __future__ import annotations

import dataclasses
import itertools
import math
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtl_tf.config import RunConfig
from mtl_tf.data.pipeline import make_dataset
from mtl_tf.models import build_network
from mtl_tf.training.trainer import MultiTaskTrainer
from mtl_tf.weighting import build_weighting
from mtl_tf.weighting.mgda import MGDAWeighting
from mtl_tf.weighting.pareto_mtl import ParetoMTLWeighting
from mtl_tf.weighting.preference_vectors import preference_vectors
from tests.reference_qp import exact_min_norm

# ---------------------------------------------------------------- numpy references


def reference_alpha(prefs, k, losses, grads, *, phase, epsilon=0.0, rescale=True,
                    unit=False):
    """Pareto MTL weights on the ACTIVE SUBSET only (eq. 9 / eq. 14 + 18), in numpy.

    `unit`: the min-norm problem on the vectors divided by their norms, the weights
    divided by the same norms and brought back to the simplex
    (--pareto_grad_normalization=l2)."""
    u = prefs / np.linalg.norm(prefs, axis=1, keepdims=True)
    a = np.delete(u, k, axis=0) - u[k]
    active = a @ (losses / np.linalg.norm(losses)) > -epsilon
    m = grads.shape[0]
    if phase == "init" and not active.any():
        return np.zeros(m), active  # no feasible-start step (the reference returns zeros)
    rows = a[active] if phase == "init" else np.concatenate([np.eye(m), a[active]])
    vectors = rows @ grads
    norms = np.linalg.norm(vectors, axis=1) if unit else np.ones(len(rows))
    vectors = vectors / norms[:, None]
    gram = vectors @ vectors.T
    if len(rows) == 2:
        # Two vectors: the reference solvers' closed form, gamma clamped to [0.001, 0.999].
        denom = gram[0, 0] + gram[1, 1] - 2.0 * gram[0, 1]
        gamma = 0.5 if denom <= 0 else np.clip((gram[1, 1] - gram[0, 1]) / denom, 0.001, 0.999)
        weights = np.array([gamma, 1.0 - gamma])
    else:
        weights = exact_min_norm(gram)[1]
    beta = weights / norms
    alpha = rows.T @ (beta / beta.sum())
    if phase == "main" and rescale:
        alpha = alpha * m / np.abs(alpha).sum()
    return alpha, active


def _weights(w: ParetoMTLWeighting, losses, grads) -> np.ndarray:
    gram = tf.constant(grads @ grads.T, tf.float64)
    return w.compute_weights(tf.constant(losses, tf.float32), gram).numpy().astype(np.float64)


def _angles_deg(u: np.ndarray) -> np.ndarray:
    a = np.degrees(np.arccos(np.clip(u @ u.T, -1.0, 1.0)))
    np.fill_diagonal(a, np.inf)
    return a


def _coarsest_lattice_spacing_deg(m: int, k: int) -> float:
    """Min angle between distinct unit-normalised points of the coarsest Das-Dennis lattice
    that holds >= k points (independent enumeration: all integer m-tuples summing to H)."""
    h = 1
    while math.comb(h + m - 1, m - 1) < k:
        h += 1
    pts = np.array([p for p in itertools.product(range(h + 1), repeat=m) if sum(p) == h], float)
    pts /= np.linalg.norm(pts, axis=1, keepdims=True)
    return float(_angles_deg(pts).min())


# ---------------------------------------------------------------- preference vectors


def test_two_task_preferences_are_the_reference_circle_points():
    u = preference_vectors(2, 5)
    np.testing.assert_allclose(np.degrees(np.arctan2(u[:, 1], u[:, 0])), [0, 22.5, 45, 67.5, 90],
                               atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(u, axis=1), 1.0)
    np.testing.assert_allclose(u[0], [1.0, 0.0], atol=1e-15)
    np.testing.assert_allclose(u[-1], [0.0, 1.0], atol=1e-15)
    with pytest.raises(ValueError, match="--num_preferences must be >= 2"):
        preference_vectors(2, 1)


@pytest.mark.parametrize("m,k", [(3, 3), (3, 4), (3, 5), (3, 6), (3, 10), (3, 12), (4, 3),
                                 (4, 5), (4, 8), (4, 15)])
def test_many_task_preferences_are_unit_distinct_and_spread(m, k):
    u = preference_vectors(m, k)
    assert u.shape == (k, m)
    np.testing.assert_allclose(np.linalg.norm(u, axis=1), 1.0)
    assert np.all(u >= 0.0)
    np.testing.assert_array_equal(preference_vectors(m, k), u)  # deterministic
    # The first min(K, m) vectors are the axes: every task gets a preference of its own.
    np.testing.assert_allclose(u[: min(k, m)], np.eye(m)[: min(k, m)], atol=1e-15)
    # Spread: at least as far apart as the coarsest simplex lattice able to hold K points
    # (distinct points of it are that far apart; a finer lattice is used only if it does
    # better). A clustered set would fail this: e.g. m = 3, K = 5 needs 45 deg, K = 10 26.6.
    min_angle = _angles_deg(u).min()
    assert min_angle >= _coarsest_lattice_spacing_deg(m, k) - 1e-9, min_angle
    assert min_angle > 0.0  # distinct


def test_known_symmetric_sets():
    # m = 3, K = 4: axes plus the centroid direction (54.7 deg from each axis).
    np.testing.assert_allclose(preference_vectors(3, 4)[3], np.full(3, 1 / np.sqrt(3)))
    # m = 3, K = 6: the whole H = 2 lattice (axes and edge midpoints).
    u = preference_vectors(3, 6)
    assert sorted(np.round(u * np.sqrt(2), 6).sum(axis=1).tolist()) == pytest.approx(
        [np.sqrt(2)] * 3 + [2.0] * 3)


# ---------------------------------------------------------------- constraints


def test_constraint_activity_matches_hand_computation():
    s = 1 / np.sqrt(2)
    prefs = np.array([[1.0, 0.0], [s, s], [0.0, 1.0]])
    w = ParetoMTLWeighting(2, prefs, preference_index=1)
    losses = np.array([1.0, 3.0])
    lhat = losses / np.sqrt(10.0)  # (0.3162, 0.9487)
    g0 = (1 - s) * lhat[0] + (0 - s) * lhat[1]  # -0.578: task 2 is not worse than task 1
    g2 = (0 - s) * lhat[0] + (1 - s) * lhat[1]  # +0.054: L leans towards u_2 = (0, 1)
    np.testing.assert_allclose(w.constraint_values(losses).numpy(), [g0, g2], atol=1e-12)
    np.testing.assert_array_equal(w.active_constraints(losses).numpy(), [False, True])
    # eps widens I_eps = {j : G_j > -eps} (eq. 11).
    wide = ParetoMTLWeighting(2, prefs, preference_index=1, epsilon=0.6)
    np.testing.assert_array_equal(wide.active_constraints(losses).numpy(), [True, True])
    # On the preference ray itself no constraint is active.
    np.testing.assert_array_equal(w.active_constraints([2.0, 2.0]).numpy(), [False, False])


def test_invalid_arguments():
    prefs = preference_vectors(2, 3)
    with pytest.raises(ValueError, match="--preference_index must be in"):
        ParetoMTLWeighting(2, prefs, 3)
    with pytest.raises(ValueError, match="--pareto_epsilon"):
        ParetoMTLWeighting(2, prefs, 0, epsilon=-1.0)
    with pytest.raises(ValueError, match="shape"):
        ParetoMTLWeighting(3, prefs, 0)
    with pytest.raises(ValueError, match="Gram"):
        ParetoMTLWeighting(2, prefs, 0).compute_weights(tf.ones([2]))


# ---------------------------------------------------------------- phases


def test_feasible_start_reduces_active_constraints_then_switches_for_good():
    rng = np.random.default_rng(0)
    prefs = preference_vectors(2, 5)
    grads = rng.normal(size=(2, 12))
    w = ParetoMTLWeighting(2, prefs, preference_index=0, max_init_steps=10)
    outside = np.array([0.1, 1.0])  # u_0 = (1, 0) wants L near the f1 axis: far outside
    for step in range(3):
        alpha = _weights(w, outside, grads)
        active = w.active_mask.numpy().astype(bool)
        assert active.sum() == 4 and int(w.phase.numpy()) == 0
        assert int(w.init_steps.numpy()) == step + 1
        a = np.delete(prefs, 0, axis=0) - prefs[0]
        constraint_grads = a[active] @ grads
        # -alpha.g moves every active G_j down to first order (eq. 9: min-norm direction).
        d = alpha @ grads
        assert np.all(constraint_grads @ d >= d @ d - 1e-6 * np.abs(constraint_grads).max())
        np.testing.assert_allclose(alpha, reference_alpha(prefs, 0, outside, grads,
                                                          phase="init")[0], atol=1e-6)
    # Inside the region: no active constraint, the phase ends and main weights are used at
    # once (m times MGDA's, since no constraint is active).
    inside = np.array([1.0, 0.05])
    alpha = _weights(w, inside, grads)
    assert int(w.phase.numpy()) == 1 and int(w.init_steps.numpy()) == 3
    mgda = _weights(MGDAWeighting(2), inside, grads)
    np.testing.assert_allclose(alpha, 2.0 * mgda, atol=1e-6)
    # Back outside: the phase never returns; eq. 18 main-phase weights with the constraints.
    alpha = _weights(w, outside, grads)
    assert int(w.phase.numpy()) == 1 and int(w.init_steps.numpy()) == 3
    assert w.active_mask.numpy().sum() == 4
    np.testing.assert_allclose(alpha, reference_alpha(prefs, 0, outside, grads, phase="main")[0],
                               atol=1e-6)


@pytest.mark.parametrize("cap", [0, 1, 3])
def test_feasible_start_is_capped(cap):
    rng = np.random.default_rng(1)
    prefs = preference_vectors(2, 5)
    grads = rng.normal(size=(2, 7))
    w = ParetoMTLWeighting(2, prefs, preference_index=4, max_init_steps=cap)
    outside = np.array([1.0, 0.1])
    for step in range(cap + 2):
        alpha = _weights(w, outside, grads)
        expected_phase = "init" if step < cap else "main"
        assert int(w.phase.numpy()) == (0 if expected_phase == "init" else 1)
        np.testing.assert_allclose(
            alpha, reference_alpha(prefs, 4, outside, grads, phase=expected_phase)[0], atol=1e-6)
    assert int(w.init_steps.numpy()) == cap


@pytest.mark.parametrize("seed", range(6))
def test_main_phase_satisfies_eq18_and_rescaling(seed):
    rng = np.random.default_rng(seed)
    m, k_pref = 2 + seed % 3, 6
    prefs = preference_vectors(m, k_pref)
    k = int(rng.integers(k_pref))
    grads = rng.normal(size=(m, 20))
    losses = rng.uniform(0.1, 2.0, m)
    w = ParetoMTLWeighting(m, prefs, k, max_init_steps=0)
    alpha = _weights(w, losses, grads)
    assert int(w.phase.numpy()) == 1
    np.testing.assert_allclose(np.abs(alpha).sum(), m, rtol=1e-6)
    # eq. 18: alpha = lambda + sum_j beta_j (u_j - u_k) with (lambda, beta) the min-norm
    # weights of eq. 14 on [task grads; active constraint grads] (rescaled to sum |.| = m).
    expected, active = reference_alpha(prefs, k, losses, grads, phase="main")
    np.testing.assert_array_equal(w.active_mask.numpy().astype(bool), active)
    np.testing.assert_allclose(alpha, expected, rtol=1e-5, atol=1e-6)
    raw = ParetoMTLWeighting(m, prefs, k, max_init_steps=0, rescale=False)
    np.testing.assert_allclose(
        _weights(raw, losses, grads),
        reference_alpha(prefs, k, losses, grads, phase="main", rescale=False)[0],
        rtol=1e-5, atol=1e-6)


def test_no_active_constraint_is_m_times_mgda():
    rng = np.random.default_rng(7)
    for m in (2, 3, 4):
        prefs = preference_vectors(m, 5)
        k = m  # a non-axis preference: losses along it activate nothing
        grads = rng.normal(size=(m, 9))
        losses = 1.7 * prefs[k]
        w = ParetoMTLWeighting(m, prefs, k, max_init_steps=5)
        alpha = _weights(w, losses, grads)
        assert w.active_mask.numpy().sum() == 0 and int(w.phase.numpy()) == 1
        np.testing.assert_allclose(alpha, m * _weights(MGDAWeighting(m), losses, grads),
                                   atol=1e-6)


@pytest.mark.parametrize("seed", range(16))
def test_fixed_shape_trick_equals_the_active_subset_solution(seed):
    """Duplicated rows in place of inactive constraints change nothing (both phases)."""
    rng = np.random.default_rng(100 + seed)
    m = (2, 3, 4)[seed % 3]
    k_pref = int(rng.integers(3, 8))
    prefs = preference_vectors(m, k_pref)
    k = int(rng.integers(k_pref))
    grads = rng.normal(size=(m, 25)) * rng.uniform(0.2, 3.0, size=(m, 1))
    # Losses between u_k and another preference u_j: typically a mix of active and inactive
    # constraints, which is what the trick must get right.
    j = (k + int(rng.integers(1, k_pref))) % k_pref
    t = rng.uniform(0.3, 0.9)
    losses = rng.uniform(0.5, 3.0) * ((1 - t) * prefs[k] + t * prefs[j]) + 0.01
    epsilon = 0.05 if seed % 4 == 0 else 0.0
    for phase, cap in (("init", 10), ("main", 0)):
        w = ParetoMTLWeighting(m, prefs, k, epsilon=epsilon, max_init_steps=cap)
        expected, active = reference_alpha(prefs, k, losses, grads, phase=phase,
                                           epsilon=epsilon)
        if phase == "init" and not active.any():
            continue  # no feasible-start step happens
        np.testing.assert_allclose(_weights(w, losses, grads), expected, rtol=1e-5, atol=1e-6)


def test_four_tasks_with_four_dimensional_preferences_compiled():
    rng = np.random.default_rng(11)
    prefs = preference_vectors(4, 8)
    grads = rng.normal(size=(4, 30))
    losses = np.array([2.0, 0.2, 0.3, 0.1])  # far from most preferences
    w = ParetoMTLWeighting(4, prefs, preference_index=5, max_init_steps=2)
    step = tf.function(w.compute_weights)
    gram = tf.constant(grads @ grads.T, tf.float32)
    results = [step(tf.constant(losses, tf.float32), gram).numpy() for _ in range(3)]
    assert [int(w.phase.numpy()), int(w.init_steps.numpy())] == [1, 2]
    for got, phase in zip(results, ["init", "init", "main"], strict=True):
        np.testing.assert_allclose(got, reference_alpha(prefs, 5, losses, grads, phase=phase)[0],
                                   rtol=1e-4, atol=1e-5)
    info = w.describe()
    assert info["preference"] == pytest.approx(prefs[5].tolist())
    assert info["phase"] == "main" and info["init_steps"] == 2


# ---------------------------------------------------------------- config, state, trainer


def test_from_config():
    config = RunConfig(num_preferences=5, preference_index=None, pareto_epsilon=0.01,
                       pareto_max_init_epochs=2.0, train_size=1000, batch_size=256,
                       min_norm_max_iters=100, min_norm_tol=1e-6)
    w = build_weighting("pareto_mtl", 2, config)
    assert isinstance(w, ParetoMTLWeighting)
    assert w.preference_index == 0 and w.max_init_steps == 8  # 2 epochs * ceil(1000/256)
    assert (w.epsilon, w.max_iters, w.tol) == (0.01, 100, 1e-6)
    np.testing.assert_allclose(w.preferences, preference_vectors(2, 5))
    w3 = ParetoMTLWeighting.from_config(2, types.SimpleNamespace(
        **{**config.__dict__, "preference_index": 3, "pareto_max_init_epochs": 0.5}))
    assert w3.preference_index == 3 and w3.max_init_steps == 2
    assert w.gradient_source == "params" and w.gram_includes_heads is True
    info = w.describe()
    assert info["preference_angle_deg"] == pytest.approx(0.0)
    assert info["num_preferences"] == 5 and info["phase"] == "init"


def test_state_is_checkpointed(tmp_path):
    prefs = preference_vectors(2, 5)
    grads = np.random.default_rng(2).normal(size=(2, 5))
    w = ParetoMTLWeighting(2, prefs, 0, max_init_steps=10)
    for losses in ([0.1, 1.0], [0.1, 1.0], [1.0, 0.01]):
        _weights(w, np.array(losses), grads)
    assert {v.name for v in w.non_trainable_weights} >= {"phase", "init_steps", "active_mask"}
    assert not w.trainable_weights
    path = tf.train.Checkpoint(weighting=w).save(str(tmp_path / "ckpt"))
    fresh = ParetoMTLWeighting(2, prefs, 0, max_init_steps=10)
    tf.train.Checkpoint(weighting=fresh).restore(path).assert_existing_objects_matched()
    assert (int(fresh.phase.numpy()), int(fresh.init_steps.numpy())) == (1, 2)


def test_keras_train_steps_run_both_phases(tiny_data):
    keras.utils.set_random_seed(0)
    encoder, heads = build_network(backbone="lenet", encoder="deterministic",
                                   input_shape=(36, 36, 1), num_classes=[10, 10],
                                   task_names=["top_left", "bottom_right"])
    # Preference (1, 0) at initial losses ~ (ln 10, ln 10): every constraint is active.
    weighting = ParetoMTLWeighting(2, preference_vectors(2, 5), 0, max_init_steps=2)
    trainer = MultiTaskTrainer(encoder, heads, weighting)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
    batch = next(iter(make_dataset(tiny_data.train_images, tiny_data.train_labels,
                                   tiny_data.task_names, 32, shuffle=False, seed=0)))
    phases = []
    for _ in range(4):
        logs = trainer.train_on_batch(*batch, return_dict=True)
        phases.append(int(weighting.phase.numpy()))
        assert np.isfinite(logs["loss"])
    assert phases[:2] == [0, 0] and phases[2:] == [1, 1]
    assert int(weighting.init_steps.numpy()) == 2
    # Last step in the main phase: |w_1| + |w_2| = m (the trackers average one value).
    assert abs(logs["top_left_weight"]) + abs(logs["bottom_right_weight"]) == pytest.approx(
        2.0, rel=1e-5)


# ---------------------------------------------------------------- losses on different scales


@pytest.mark.parametrize("seed", range(6))
def test_initial_loss_scale_is_the_reference_on_scaled_losses(seed):
    """--pareto_loss_scale=initial runs Alg. 1 on L_i / L_i(0) and returns weights for the
    raw losses: alpha = alpha~ / c, alpha~ the reference's weights on the scaled problem."""
    rng = np.random.default_rng(seed)
    m = 2 + seed % 3
    prefs = preference_vectors(m, 5)
    k = int(rng.integers(5))
    first = rng.uniform(1e-3, 2.0, m)  # the first step's losses: the scales c
    grads0 = rng.normal(size=(m, 12))
    w = ParetoMTLWeighting(m, prefs, k, max_init_steps=0, loss_scale="initial")
    _weights(w, first, grads0)
    np.testing.assert_allclose(w.initial_losses.numpy(), first, rtol=1e-6)
    losses, grads = rng.uniform(1e-3, 2.0, m), rng.normal(size=(m, 12))
    alpha = _weights(w, losses, grads)
    c = w.initial_losses.numpy().astype(np.float64)  # recorded once, not moved
    np.testing.assert_allclose(c, first, rtol=1e-6)
    scaled, active = reference_alpha(prefs, k, losses / c, grads / c[:, None], phase="main")
    np.testing.assert_array_equal(w.active_mask.numpy().astype(bool), active)
    np.testing.assert_allclose(alpha, scaled / c, rtol=1e-4, atol=1e-6)


def test_initial_loss_scale_makes_preferences_independent_of_units():
    """Multiplying one task's loss by 1000 (a change of units) moves every reference
    weight, but not the gradient direction the scaled version trains along."""
    rng = np.random.default_rng(3)
    m, k = 3, 4
    prefs = preference_vectors(m, 6)
    steps = [(rng.uniform(0.2, 2.0, m), rng.normal(size=(m, 10))) for _ in range(4)]
    units = np.array([1000.0, 1.0, 1.0])

    def directions(loss_scale, factor):
        w = ParetoMTLWeighting(m, prefs, k, max_init_steps=2, loss_scale=loss_scale)
        out = []
        for losses, grads in steps:
            # Loss L_0 in other units: its value and its gradient both scale by 1000.
            alpha = _weights(w, losses * factor, grads * factor[:, None])
            out.append(alpha @ (grads * factor[:, None]))  # the update direction
        return np.array(out), w

    base, _ = directions("initial", np.ones(m))
    moved, w = directions("initial", units)
    np.testing.assert_allclose(moved, base, rtol=1e-4, atol=1e-6)
    assert w.describe()["loss_scale"] == "initial"
    ref_base, _ = directions("none", np.ones(m))
    ref_moved, _ = directions("none", units)
    assert not np.allclose(ref_moved, ref_base, rtol=1e-2)


def test_loss_scale_is_validated_and_checkpointed(tmp_path):
    prefs = preference_vectors(2, 3)
    with pytest.raises(ValueError, match="--pareto_loss_scale"):
        ParetoMTLWeighting(2, prefs, 0, loss_scale="first")
    assert ParetoMTLWeighting(2, prefs, 0).initial_losses is None  # reference layout
    w = ParetoMTLWeighting(2, prefs, 0, loss_scale="initial")
    _weights(w, np.array([0.004, 0.7]), np.random.default_rng(0).normal(size=(2, 4)))
    path = tf.train.Checkpoint(weighting=w).save(str(tmp_path / "ckpt"))
    fresh = ParetoMTLWeighting(2, prefs, 0, loss_scale="initial")
    tf.train.Checkpoint(weighting=fresh).restore(path).assert_existing_objects_matched()
    np.testing.assert_allclose(fresh.initial_losses.numpy(), [0.004, 0.7], rtol=1e-6)
    config = RunConfig(pareto_loss_scale="initial")
    assert build_weighting("pareto_mtl", 2, config).loss_scale == "initial"


# ---------------------------------------------------------------- gradients of different sizes


@pytest.mark.parametrize("seed", range(8))
def test_l2_grad_normalization_is_the_min_norm_of_unit_vectors(seed):
    """--pareto_grad_normalization=l2: both phases solve on unit-length task and
    constraint gradients (numpy reference on the active subset), weights mapped back."""
    rng = np.random.default_rng(100 + seed)
    m = 2 + seed % 3
    prefs = preference_vectors(m, 5)
    k = int(rng.integers(5))
    # Gradients of very different sizes, as a regression beside classifications.
    grads = rng.normal(size=(m, 9)) * np.geomspace(1.0, 50.0, m)[:, None]
    for phase, cap in (("init", 5), ("main", 0)):
        losses = rng.uniform(0.1, 2.0, m)
        w = ParetoMTLWeighting(m, prefs, k, max_init_steps=cap, grad_normalization="l2")
        alpha = _weights(w, losses, grads)
        expected, active = reference_alpha(prefs, k, losses, grads, phase=phase, unit=True)
        if phase == "init" and not active.any():
            continue  # nothing to start from: the main phase ran (tested below)
        np.testing.assert_array_equal(w.active_mask.numpy().astype(bool), active)
        np.testing.assert_allclose(alpha, expected, rtol=2e-3, atol=1e-6)
    assert w.describe()["grad_normalization"] == "l2"


def test_l2_grad_normalization_balances_a_task_with_a_large_gradient():
    """A 10-output regression's gradient 20x the classifications' (MTFL landmarks): the
    reference's min-norm step barely descends along it (nor along the active
    constraints); the unit-vector step is the direction whose smallest cosine with any
    task or active-constraint gradient is largest, so none is left behind."""
    rng = np.random.default_rng(7)
    m = 5
    shared = rng.normal(size=40)
    grads = rng.normal(size=(m, 40)) + np.r_[0.0, 1.5, 1.5, 1.5, 1.5][:, None] * shared
    grads[0] *= 20.0
    prefs = np.array([[0.9877] + [0.0782] * 4, [0.7071] + [0.3536] * 4,
                      [0.1564] + [0.4938] * 4])
    losses = np.array([1.0, 0.3, 0.3, 0.3, 0.3])
    cosines = {}
    for norm in ("none", "l2"):
        w = ParetoMTLWeighting(m, prefs, 2, max_init_steps=0, rescale=False,
                               grad_normalization=norm)
        d = _weights(w, losses, grads) @ grads
        active = w.active_mask.numpy().astype(bool)
        assert active.any()  # the constraint rows take part in the problem
        constraint_grads = w.constraint_matrix[active] @ grads
        rows = np.concatenate([grads, constraint_grads])
        unit_rows = rows / np.linalg.norm(rows, axis=1, keepdims=True)
        cosines[norm] = unit_rows @ d / np.linalg.norm(d)
        if norm == "l2":
            # The min-norm element of the unit vectors (exact QP) gives the direction, and
            # its length is the best smallest cosine any direction can have.
            best = exact_min_norm(unit_rows @ unit_rows.T)[1] @ unit_rows
            assert cosines["l2"] @ np.ones(len(rows)) > 0
            np.testing.assert_allclose(d / np.linalg.norm(d), best / np.linalg.norm(best),
                                       atol=2e-3)
            assert cosines["l2"].min() >= np.linalg.norm(best) * (1 - 2e-3)
            # The step is a point of the raw hull: its length is on the gradients' scale.
            assert np.linalg.norm(d) <= np.linalg.norm(rows, axis=1).max()
    assert cosines["none"][0] < 0.5 * cosines["none"][1:m].min()
    assert cosines["l2"][0] > 2.0 * cosines["none"][0]
    assert cosines["l2"].min() > 3.0 * cosines["none"].min()


@pytest.mark.parametrize("phase_cap", [0, 5])
def test_l2_weights_do_not_depend_on_the_gradients_scale(phase_cap):
    """Scaling every gradient by 100 leaves the l2 weights unchanged in both phases, so
    the step scales with the gradients as the reference's does (the feasible start is
    not rescaled: its weights A^T beta, beta on the simplex, stay within max |A_ji|)."""
    rng = np.random.default_rng(11)
    m = 3
    prefs = preference_vectors(m, 6)
    grads = rng.normal(size=(m, 8)) * np.array([1.0, 5.0, 30.0])[:, None]
    losses = np.array([3.0, 0.2, 0.2])  # far from preference 5: constraints active
    out = []
    for factor in (0.01, 1.0, 100.0):
        w = ParetoMTLWeighting(m, prefs, 5, max_init_steps=phase_cap,
                               grad_normalization="l2")
        out.append(_weights(w, losses, grads * factor))
        assert int(w.init_steps.numpy()) == (1 if phase_cap else 0)
    np.testing.assert_allclose(out[0], out[1], rtol=1e-4)
    np.testing.assert_allclose(out[2], out[1], rtol=1e-4)
    if phase_cap:
        bound = np.abs(ParetoMTLWeighting(m, prefs, 5).constraint_matrix).max()
        assert np.abs(out[1]).max() <= bound + 1e-9


def test_l2_grad_normalization_keeps_zero_and_cancelling_gradients_finite():
    prefs = preference_vectors(3, 4)
    grads = np.random.default_rng(1).normal(size=(3, 6))
    grads[2] = 0.0
    # A task with a zero gradient: the min-norm element is 0 on it, as in the reference.
    for norm in ("none", "l2"):
        w = ParetoMTLWeighting(3, prefs, 2, max_init_steps=0, grad_normalization=norm)
        np.testing.assert_allclose(_weights(w, np.array([0.5, 0.5, 2.0]), grads),
                                   [0.0, 0.0, 3.0], atol=1e-6)
    # Feasible start with every gradient zero, and with task gradients that cancel in an
    # active constraint's gradient (its norm is rounding noise): weights stay on the
    # simplex's image, bounded by the constraint coefficients.
    w0 = ParetoMTLWeighting(3, prefs, 3, max_init_steps=5, grad_normalization="l2")
    a = w0.constraint_matrix
    losses = np.array([3.0, 0.2, 0.2])
    base = np.random.default_rng(2).normal(size=6)
    cancel = np.stack([base, -a[0, 0] / a[0, 1] * base, np.zeros(6)])  # a_0 . g = 0
    for g in (np.zeros((3, 6)), cancel):
        w = ParetoMTLWeighting(3, prefs, 3, max_init_steps=5, grad_normalization="l2")
        # A float32 Gram matrix, as the trainer's: the cancelled norm is rounding noise.
        g32 = tf.constant(g, tf.float32)
        alpha = w.compute_weights(tf.constant(losses, tf.float32),
                                  tf.matmul(g32, g32, transpose_b=True)).numpy()
        assert int(w.init_steps.numpy()) == 1
        assert np.all(np.isfinite(alpha))
        assert np.abs(alpha).max() <= np.abs(a).max() + 1e-9
        # A constraint that cannot be descended leaves (almost) no step, as in the
        # reference: the unit vector of its noise does not set the step's direction.
        assert np.linalg.norm(alpha @ g) <= 1e-3 * max(np.linalg.norm(base), 1.0)


def test_grad_normalization_is_validated_and_configured():
    prefs = preference_vectors(2, 3)
    with pytest.raises(ValueError, match="--pareto_grad_normalization must be one of none, l2"):
        ParetoMTLWeighting(2, prefs, 0, grad_normalization="loss")
    assert ParetoMTLWeighting(2, prefs, 0).describe()["grad_normalization"] == "none"
    config = RunConfig(pareto_grad_normalization="l2")
    assert build_weighting("pareto_mtl", 2, config).grad_normalization == "l2"


# ---------------------------------------------------------------- user-given preferences


def test_given_preferences_replace_the_spread_ones():
    config = RunConfig(preferences=("1:0:0", "2:1:1", "0:1:1"), num_preferences=5,
                       preference_index=None, train_size=100, batch_size=10)
    variants = ParetoMTLWeighting.model_variants(config)
    assert [name for name, _ in variants] == ["preference_0", "preference_1", "preference_2"]
    w = build_weighting("pareto_mtl", 3, variants[1][1])
    np.testing.assert_allclose(w.preferences[1], np.array([2.0, 1.0, 1.0]) / np.sqrt(6))
    np.testing.assert_allclose(w.preferences[0], [1.0, 0.0, 0.0])
    assert w.describe()["num_preferences"] == 3
    with pytest.raises(ValueError, match="one weight per task"):
        build_weighting("pareto_mtl", 2, config)
    with pytest.raises(ValueError, match="out of range for the 3 --preferences"):
        ParetoMTLWeighting.model_variants(dataclasses.replace(config, preference_index=3))
