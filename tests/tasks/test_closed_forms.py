"""The default algorithm against closed forms (issue 13).

Each test takes the library's default settings (``SynthesisConfig()`` / ``SOULConfig()``: the
plain SOUL theta step, constant schedules, eps = 25 centred on the exemplar's mean, the l2 ball
of radius 500, the default sampler) and overrides only sizes: image sizes, run lengths, chains,
and where said the step sizes gamma and delta, with the reason. Why the step sizes: at the
default gamma = 1e-7 the reference measure relaxes in 1 / (gamma eps) = 4e5 Langevin steps,
far beyond a test; and the default delta = 0.02 is unstable on conv1_1's linear features,
whose response N / eps * A A^T has a largest eigenvalue of about 630 at 16 px (gain
delta * 630 = 12.6 > 2: theta runs to the boundary of K, which the trace reports, as the
last test checks).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from maxent_jax import metrics
from maxent_jax.exemplars import load_exemplar
from maxent_jax.nn.backbone import load_backbone
from maxent_jax.run.diagnostics import warnings as run_warnings
from maxent_jax.run.diagnostics import summary as run_summary
from maxent_jax.run.settings import SOULConfig
from maxent_jax.sampling.energy import macrocanonical_energy
from maxent_jax.sampling.scan import scan_steps
from maxent_jax.sampling.soul import soul
from maxent_jax.tasks.sample import sample_model
from maxent_jax.tasks.texture import SynthesisConfig, synthesize

SIZE = 16


def _linear_setup(real_variables, **overrides):
    """conv1_1 channel means (zero padding: affine in x, and theta* != 0 because of the
    borders) of wood at 16 px; A = dF/dx and the closed-form theta*."""
    x0 = load_exemplar("wood", size=SIZE)
    config = SynthesisConfig(**(dict(layers=("conv1_1",), padding="zero", chains=16)
                                | overrides))
    backbone = load_backbone(config.spec(), x0.shape[:2], variables=real_variables)
    f = jax.jit(backbone.features)
    a = np.asarray(jax.jacrev(f)(jnp.asarray(x0)), np.float64).reshape(64, -1)
    n = SIZE * SIZE
    centre = np.broadcast_to(x0.reshape(-1, 3).mean(0), x0.shape).astype(np.float32)
    # E_theta[F] = F(c) - (N beta / eps) A A^T theta  =>  theta* solves a least-squares problem
    residual = np.asarray(f(jnp.asarray(centre)), np.float64) - np.asarray(f(jnp.asarray(x0)))
    response = (n * config.beta / config.eps) * a @ a.T

    def mean_image(theta):
        return centre.ravel() - (n * config.beta / config.eps) * a.T @ np.asarray(theta)

    def moment_gap(theta):  # E_theta[F] - F(x0), exactly
        return residual - response @ np.asarray(theta, np.float64)

    return x0, config, backbone, mean_image, moment_gap


@pytest.fixture(scope="module")
def linear_run(real_variables):
    x0, config, backbone, mean_image, moment_gap = _linear_setup(
        real_variables, gamma=0.01, delta=0.001, iterations=2000, checkpoint_every=500)
    result = synthesize(x0, backbone, config, progress=False)
    return x0, config, backbone, mean_image, moment_gap, result


def test_linear_features_soul_reaches_theta_star_and_the_ula_spread(linear_run):
    x0, config, _, mean_image, moment_gap, result = linear_run
    assert (config.theta_step, config.decay, config.eps, config.projection) == (
        "soul", False, 25.0, "l2:500")  # the defaults
    theta = result.model.theta  # the Polyak average of the last half
    # theta* solves E_theta[F] = F(x0); the reference alone (theta = 0) misses it
    initial = np.linalg.norm(moment_gap(0 * theta))
    assert initial > 0.005 * np.linalg.norm(result.model.target)  # 1.1%: the borders
    # 0.14 measured: directions of A A^T with eigenvalue lambda < 1 / (delta T) = 0.5 (most of
    # its spectrum; the largest is 630) converge slowly under the constant step
    assert np.linalg.norm(moment_gap(theta)) < 0.2 * initial
    model_mean = mean_image(theta)
    # the chains' spread around the model mean: ULA's 1 / (eps (1 - gamma eps / 2)), not 1/eps
    gamma, eps = config.gamma, config.eps
    ula = 1.0 / (eps * (1.0 - gamma * eps / 2.0))
    spread = np.var(result.samples.reshape(len(result.samples), -1) - model_mean)
    assert abs(spread / ula - 1.0) < 0.05, (spread, ula)
    assert abs(spread * eps - 1.0) > 0.08  # the ULA bias (14%) is resolved
    assert result.trace["projected"].sum() == 0
    # Stein's ratio: grad U = eps (x - mean), so E<Px, grad U> / tr P = eps var = ULA's 1.14
    stein = run_summary(result.trace)["stein_ratio"]
    assert abs(stein * (1.0 - gamma * eps / 2.0) - 1.0) < 0.03, stein
    assert not any("equilibrium" in w for w in run_warnings(result.trace))


@pytest.mark.parametrize("sampler", ["ula", "mala"])
def test_fixed_theta_sampling_reproduces_the_gaussian_law(linear_run, sampler):
    _, config, backbone, mean_image, _, result = linear_run
    # MALA at gamma eps = 0.25 in 768 dimensions accepts too little; gamma eps = 0.05 instead
    gamma = config.gamma if sampler == "ula" else config.gamma / 5
    out = sample_model(result.model, backbone, num=32, steps=300, sampler=sampler,
                       gamma=gamma, seed=4)
    model_mean = mean_image(result.model.theta)
    dev = out.samples.reshape(len(out.samples), -1) - model_mean
    eps = config.eps
    expected = 1.0 / eps if sampler == "mala" else 1.0 / (eps * (1.0 - gamma * eps / 2.0))
    assert abs(np.var(dev) / expected - 1.0) < 0.04, (np.var(dev), expected)
    assert abs(np.mean(dev)) < 4 * np.sqrt(expected / dev.size) + 1e-3
    # Stein's ratio = eps x the stationary variance: 1 for MALA, 1 / (1 - gamma eps / 2) for ULA
    assert abs(out.diagnostics["stein_ratio"] / (eps * expected) - 1.0) < 0.03, out.diagnostics


def test_default_delta_is_caught_by_the_projection_on_linear_features(real_variables):
    """At the default delta the linear problem is unstable (gain 12.6): theta goes to the
    boundary of K and the run says so."""
    x0, config, backbone, *_ = _linear_setup(real_variables, gamma=0.01, iterations=200,
                                             checkpoint_every=200, chains=2)
    result = synthesize(x0, backbone, config, progress=False)
    assert result.trace["projected"][-50:].all()
    np.testing.assert_allclose(result.trace["theta_norm"][-1], 500.0, rtol=1e-5)
    assert any("projection" in w for w in run_warnings(result.trace))


def _power_spectrum(x):
    return (jnp.abs(jnp.fft.fft2(x)) ** 2).ravel() / x.size


def test_power_spectrum_features_theta_star_with_the_default_step_and_reference():
    """F_k = |x_hat(k)|^2 / N with the default eps: Pi_theta is Gaussian with per-frequency
    precision q_k = 2 theta_k + eps (per unit of |x_hat|^2 / N), so theta*_k = (1/s_k - eps)/2,
    and ULA's theta solves 1 / (q (1 - gamma q / 2)) = s_k. gamma overridden (see module)."""
    n = 8
    k1, k2 = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    s = (1.0 + 0.5 * np.cos(2 * np.pi * k1 / n) * np.cos(2 * np.pi * k2 / n)).ravel()
    config = SOULConfig(gamma=0.2)
    energy = macrocanonical_energy(_power_spectrum, jnp.asarray(s, jnp.float32),
                                   beta=config.beta, eps=config.eps)
    kernel = soul(energy, **config.soul_options())
    # theta_0 with q = 1 (theta = 0 would give gamma q = gamma eps = 5: ULA unstable)
    state = kernel.init(jnp.zeros((200, n, n)), jnp.full(n * n, (1.0 - config.eps) / 2.0))
    run = jax.jit(lambda key, st: scan_steps(kernel.step, key, st, 3000))
    state, info = run(jax.random.key(0), state)
    theta = np.asarray(info.theta[1500:]).mean(0)
    gamma, eps = config.gamma, config.eps
    # q (1 - gamma q / 2) = 1 / s  =>  q = (1 - sqrt(1 - 2 gamma / s)) / gamma
    q = (1.0 - np.sqrt(1.0 - 2.0 * gamma / s)) / gamma
    np.testing.assert_allclose(theta, (q - eps) / 2.0, atol=0.05)
    assert np.abs((q - eps) / 2 - (1 / s - eps) / 2).max() > 0.2  # the ULA bias is resolved
    np.testing.assert_allclose(np.asarray(info.acceptance), 1.0)  # ULA by default
    assert np.asarray(info.projected).sum() == 0
    probe = np.asarray(info.probe_acceptance)  # every probe_every = 50 steps, from step 0
    probed = np.isfinite(probe)
    np.testing.assert_array_equal(np.flatnonzero(probed), np.arange(0, 3000, 50))
    assert 0.5 < probe[probed][-10:].mean() <= 1.0  # gamma q / 2 <= 0.3 here


def test_optimistic_theta_step_shrinks_the_spread_and_the_default_does_not():
    """d = 16, F = mean(x^2), eps = 0: Pi_theta = N(0, d/(2 theta) I) with theta* = d/2 for
    F0 = 1, so Var F(X) = 2/d = 0.125 under the model. 32 independent runs (one chain
    each) of 20000 steps; E[(F(X) - F0)^2] over the second half. delta = 0.2: the shrink
    grows with the theta step's gain (optimistic / model at gamma = 0.01: 0.98 at delta
    0.02, 0.84 at 0.2, 0.51 at 1; the plain step: 1.00, 1.05, 1.16)."""
    d, runs, steps = 16, 32, 20000
    energy = macrocanonical_energy(lambda x: jnp.mean(x**2)[None], jnp.ones(1))

    def spread(config):
        kernel = soul(energy, **config.soul_options())

        def one(key):
            state = kernel.init(jnp.ones((1, d)), jnp.full(1, d / 2.0))
            _, info = scan_steps(kernel.step, key, state, steps)
            return jnp.mean(info.gap[steps // 2:, 0] ** 2)

        # lax.map, not vmap: the default probe's float64 energies cannot be batched after
        # tracing (maxent_jax.sampling.langevin)
        keys = jax.random.split(jax.random.key(1), runs)
        return float(jnp.mean(jax.jit(lambda k: jax.lax.map(one, k))(keys)))

    plain = spread(SOULConfig(gamma=0.01, delta=0.2, eps=0.0))
    optimistic = spread(SOULConfig(gamma=0.01, delta=0.2, eps=0.0, theta_step="optimistic"))
    model = 2.0 / d / (1.0 - 0.01 / 2.0)  # ULA's variance at gamma = 0.01 (0.5% above 2/d)
    assert abs(plain / model - 1.0) < 0.08, plain
    assert optimistic < 0.9 * model, optimistic


def test_default_chains_end_uncorrelated_on_a_non_stationary_exemplar(real_variables):
    """wood at 64 px, four chains from four ADSN draws, 300 steps of the defaults. With the
    0.2.0 defaults (zero padding, optimistic step) every chain copied the exemplar's layout:
    +0.15 with the exemplar, +0.06 between chains (docs/fidelity.md); groups of four ADSN
    draws of wood stay within [-0.009, 0.034]."""
    x0 = load_exemplar("wood", size=64)
    config = SynthesisConfig(chains=4, iterations=300, checkpoint_every=100)
    result = synthesize(x0, real_variables, config, progress=False)
    # the same run shows the default learning working on real weights: the relative gap of
    # the chains' average falls far below its start (measured: 0.59 -> 0.016)
    gap = result.trace["relative_gap"]
    assert gap.shape == (300,) and np.all(np.isfinite(gap))
    assert gap[-20:].mean() < 0.3 * gap[0], gap[::15]
    assert result.samples.shape == (4, 64, 64, 3)
    corr = metrics.layout_correlation(result.samples, x0)
    between = metrics.between_chain_correlation(result.samples)
    assert np.mean(corr["zero_shift"]) < 0.06, corr
    assert np.mean(between) < 0.06, between
    np.testing.assert_allclose(result.trace["chain_correlation"][-1], np.mean(between),
                               atol=0.05)  # the in-run diagnostic sees the same (colour) thing
    assert not any("collapsed" in w for w in run_warnings(result.trace))
