"""Baselines: projected L-BFGS and Gatys, microcanonical descent, Lu-Zhu-Wu on closed forms."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from maxent_jax.baselines.gatys import (GatysConfig, box_bounds, gatys_synthesize, lbfgs_init,
                                        lbfgs_run)
from maxent_jax.baselines.lu_zhu_wu import lzw_energy, lzw_init, lzw_run
from maxent_jax.baselines.microcanonical import (MicrocanonicalConfig, max_entropy_noise,
                                                 microcanonical_init, microcanonical_loss,
                                                 microcanonical_run, microcanonical_synthesize)
from maxent_jax.sampling.schedules import constant

# ---------------------------------------------------------------------------- projected L-BFGS


def rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def test_lbfgs_minimises_rosenbrock():
    fn = jax.jit(jax.value_and_grad(rosenbrock))
    state = lbfgs_init(jnp.array([-1.2, 1.0]), fn, history=5)
    state, info = lbfgs_run(state, fn, 100)
    np.testing.assert_allclose(np.asarray(state.position), [1.0, 1.0], atol=1e-3)
    values = np.asarray(info.value)
    assert np.all(np.diff(values) <= 1e-6)  # Armijo: never increases


def test_lbfgs_box_constrained_quadratic_reaches_the_clipped_minimiser():
    rng = np.random.default_rng(0)
    h = jnp.asarray(rng.uniform(1, 100, 50), jnp.float32)
    c = jnp.asarray(rng.uniform(-1, 2, 50), jnp.float32)
    fn = jax.value_and_grad(lambda x: 0.5 * jnp.sum(h * (x - c) ** 2))
    state = lbfgs_init(jnp.full(50, 0.5), fn)
    state, _ = jax.jit(lambda s: lbfgs_run(s, fn, 60, lower=0.0, upper=1.0))(state)
    x = np.asarray(state.position)
    assert x.min() >= 0.0 and x.max() <= 1.0
    np.testing.assert_allclose(x, np.clip(c, 0, 1), atol=1e-4)


def test_box_bounds_options(wood32):
    lo, hi = box_bounds(wood32)
    assert float(lo) == wood32.min() and float(hi) == wood32.max()
    assert tuple(map(float, box_bounds(wood32, "unit"))) == (0.0, 1.0)
    with pytest.raises(ValueError, match="lower < upper"):
        box_bounds(wood32, (1.0, 0.0))


# ---------------------------------------------------------------------------------- Gatys


def test_gatys_drives_its_gram_loss_down_inside_the_box(real_variables, wood32):
    config = GatysConfig(iterations=20)
    run = jax.jit(gatys_synthesize, static_argnames=("config", "size", "num"))
    state, info = run(jax.random.key(0), jnp.asarray(wood32), real_variables, config)
    values = np.asarray(info.value)[0]
    assert values.shape == (20,) and np.all(np.isfinite(values))
    assert np.all(np.diff(values) <= 0)
    assert values[-1] < 0.1 * values[0], values[[0, 5, 10, 19]]
    x = np.asarray(state.position)
    assert x.shape == (1, 32, 32, 3)
    assert x.min() >= wood32.min() - 1e-6 and x.max() <= wood32.max() + 1e-6


def test_gatys_defaults_are_deeptextures_and_the_loss_is_eq_4_5(wood32):
    from maxent_jax.baselines.gatys import _weights, gatys_spec, gram_loss, target_grams
    from maxent_jax.nn.backbone import prepare_backbone
    from maxent_jax.nn.vgg import random_variables

    d = GatysConfig()
    assert (d.layers, d.iterations, d.history, d.pooling) == (
        ("relu1_1", "pool1", "pool2", "pool3", "pool4"), 2000, 20, "avg")
    assert set(_weights(d, gatys_spec(d)).values()) == {1e9}
    config = GatysConfig(layers=("pool1", "relu1_1"), layer_weights=(3.0, 2.0))
    spec, variables = gatys_spec(config), random_variables(jax.random.key(0), layers=("pool1",))
    backbone = prepare_backbone(spec, variables, (16, 16))
    x0, x = jnp.asarray(wood32[:16, :16]), jnp.asarray(wood32[8:24, 8:24])
    loss = gram_loss(backbone, target_grams(backbone, x0), _weights(config, spec))
    assert float(loss(x0)) == 0.0
    g, g0 = target_grams(backbone, x), target_grams(backbone, x0)
    expected = sum(w / 4 * np.sum((np.asarray(g[k]) - np.asarray(g0[k])) ** 2) / 64**2
                   for k, w in (("relu1_1", 2.0), ("pool1", 3.0)))
    np.testing.assert_allclose(float(loss(x)), expected, rtol=1e-4)


def test_gatys_layer_weights_must_match_the_layers(wood32):
    from maxent_jax.nn.vgg import random_variables

    config = GatysConfig(layers=("relu1_1", "pool1"), layer_weights=(1.0,), iterations=1)
    with pytest.raises(ValueError, match="one weight per layer"):
        gatys_synthesize(jax.random.key(0), jnp.asarray(wood32),
                         random_variables(jax.random.key(0), layers=("pool1",)), config)


# ------------------------------------------------------------------------- microcanonical


def test_max_entropy_noise_has_the_exemplar_moments(wood32):
    x = np.asarray(max_entropy_noise(jax.random.key(0), jnp.asarray(wood32), size=(128, 128),
                                     num=4))
    assert x.shape == (4, 128, 128, 3)
    np.testing.assert_allclose(x.mean(axis=(0, 1, 2)), wood32.mean(axis=(0, 1)), atol=3e-3)
    np.testing.assert_allclose(x.std(axis=(0, 1, 2)), wood32.std(axis=(0, 1)), rtol=0.02)


def test_microcanonical_descent_on_identity_features_is_geometric():
    """F(x) = x: x_k - x0 = (1 - lr / |x0|^2)^k (x_init - x0) exactly."""
    x0 = jnp.asarray(np.random.default_rng(1).uniform(size=(4, 4, 1)), jnp.float32)
    loss = microcanonical_loss(lambda x: x.ravel(), x0.ravel())
    lr, start = 0.5, jnp.zeros_like(x0)
    opt = optax.sgd(lr)
    state, info = microcanonical_run(microcanonical_init(start, opt), loss, 10, optimizer=opt)
    rate = 1 - lr / float(jnp.sum(x0**2))
    np.testing.assert_allclose(np.asarray(state.position - x0), -rate**10 * np.asarray(x0),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(info.relative_gap), rate ** np.arange(10), rtol=1e-4)


def test_microcanonical_drives_its_gap_down(real_variables, wood32):
    config = MicrocanonicalConfig(preset="paper", iterations=30, learning_rate=1.0)
    run = jax.jit(microcanonical_synthesize, static_argnames=("config", "size", "num"))
    state, info = run(jax.random.key(0), jnp.asarray(wood32), real_variables, config,
                      size=(40, 40))
    gap = np.asarray(info.relative_gap)[0]
    assert np.all(np.isfinite(gap))
    assert gap[-1] < 0.5 * gap[0], gap[[0, 10, 20, 29]]
    assert state.position.shape == (1, 40, 40, 3)


# ------------------------------------------------------------------------------ Lu-Zhu-Wu


def test_lzw_matches_its_constraint_in_expectation_on_a_gaussian():
    """F(x) = |x|^2 / d, d = |Omega| pixels, reference N(0, 1), extensive energy:
    U = d theta F(x) + |x|^2 / 2 = (2 theta + 1) |x|^2 / 2 =: a |x|^2 / 2.

    ULA on N(0, 1/a) has variance 1 / (a (1 - gamma a / 2)), so the constraint E[F] = s0 holds
    at a* = (1 - sqrt(1 - 2 gamma / s0)) / gamma, theta* = (a* - 1) / 2 (exact sampling
    would give a = 1 / s0 instead).
    """
    d, s0, gamma = 16, 0.25, 0.1
    x0 = 0.5 * jnp.asarray(np.resize([1.0, -1.0], d).reshape(4, 4, 1), jnp.float32)
    feature_fn = lambda x: (jnp.sum(x**2) / d)[None]  # noqa: E731
    energy = lzw_energy(feature_fn, x0, sigma=1.0)
    opt = optax.sgd(3.0)
    state = lzw_init(jnp.zeros((1000, 4, 4, 1)), 1, opt)
    run = jax.jit(lambda k, s: lzw_run(k, s, energy, 400, optimizer=opt,
                                       step_size=constant(gamma), num_langevin=2))
    state, info = run(jax.random.key(0), state)
    a_star = (1 - np.sqrt(1 - 2 * gamma / s0)) / gamma
    theta = np.asarray(info.theta)[200:, 0].mean()
    np.testing.assert_allclose(theta, (a_star - 1) / 2, rtol=0.03)
    assert abs(theta - (1 / s0 - 1) / 2) > 0.5  # the ULA bias is visible and matched
    f_last = np.asarray(jax.vmap(feature_fn)(state.positions)).mean()
    np.testing.assert_allclose(f_last, s0, rtol=0.03)  # E[F(X)] = F(x0)


# ------------------------------------------------------------------- Winograd convolutions


@pytest.mark.parametrize("module, fn, config, out", [
    ("gatys", "gatys_synthesize", "GatysConfig(('relu1_1', 'pool1', 'relu2_1'), iterations=3)",
     "position"),
    ("microcanonical", "microcanonical_synthesize",
     "MicrocanonicalConfig(preset=None, layers=('relu1_1', 'relu2_1'), iterations=3)", "position"),
    ("lu_zhu_wu", "lzw_synthesize",
     "LuZhuWuConfig(('relu1_1', 'relu2_1'), iterations=2, chains=2, langevin_steps=2)",
     "positions"),
])
def test_baselines_use_winograd_on_the_cpu_like_synthesis(monkeypatch, real_variables, wood32,
                                                          module, fn, config, out):
    """Same backbone arithmetic as the macrocanonical sampler: Winograd kernels are stored for
    the samples' size (CPU), which changes the rounding only."""
    import importlib

    mod = importlib.import_module(f"maxent_jax.baselines.{module}")
    run = lambda: np.asarray(getattr(getattr(mod, fn)(  # noqa: E731
        jax.random.key(0), jnp.asarray(wood32), real_variables, eval(config, vars(mod)))[0], out))
    winograd = run()
    prepare = mod.prepare_backbone
    monkeypatch.setattr(mod, "prepare_backbone",
                        lambda spec, *a: prepare(spec._replace(conv="direct"), *a))
    direct = run()
    assert np.all(np.isfinite(winograd))
    assert not np.array_equal(winograd, direct)  # Winograd really ran
    np.testing.assert_allclose(winograd, direct, atol=2e-3)


def test_lu_zhu_wu_runs_through_the_one_driver(tmp_path):
    """``lzw_learn`` (task shell, chunks, checkpoints) runs the kernel of the jitted
    ``lzw_synthesize``; it resumes bit-identically."""
    from maxent_jax.baselines.lu_zhu_wu import LuZhuWuConfig, lzw_learn, lzw_synthesize
    from maxent_jax.exemplars import load_exemplar
    from maxent_jax.nn.vgg import random_variables

    variables = random_variables(jax.random.key(0), layers=("relu2_1",))
    x0 = jnp.asarray(load_exemplar("wood", size=24))
    config = LuZhuWuConfig(("relu1_1", "relu2_1"), iterations=4, chains=2, langevin_steps=2,
                           gamma=1e-5)
    jitted = jax.jit(lzw_synthesize, static_argnames=("config", "size"))
    state, _ = jitted(jax.random.key(3), x0, variables, config)
    run = lzw_learn(x0, variables, config, seed=3, checkpoint_every=2)
    assert run.trace["energy"].shape == (4,)
    np.testing.assert_allclose(run.state.positions, state.positions, atol=1e-4)
    np.testing.assert_allclose(run.state.theta, state.theta, rtol=1e-3, atol=1e-6)
    half = lzw_learn(x0, variables, config._replace(iterations=2), seed=3, checkpoint_every=2,
                     out_dir=tmp_path, checkpoint=True)
    assert int(half.state.step) == 2
    resumed = lzw_learn(x0, variables, config, seed=3, checkpoint_every=2, out_dir=tmp_path,
                        resume=True, checkpoint=True)
    np.testing.assert_array_equal(resumed.state.positions, run.state.positions)
