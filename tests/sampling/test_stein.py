"""Stein's ratio (maxent_jax.sampling.stein): 1 for exact draws of a known law, the value
the closed form predicts off equilibrium, and the same figure from every kernel that
reports it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from maxent_jax.sampling.fixed import langevin_chains
from maxent_jax.sampling.langevin import ULAState, ula_step
from maxent_jax.sampling.stein import stein_dimension, stein_ratio, stein_statistic


def _gaussian(shape=(12, 10, 3), seed=0):
    """A Gaussian image law with per-pixel means and variances: U = sum (x - m)^2 / (2 v)."""
    rng = np.random.default_rng(seed)
    mean = jnp.asarray(rng.uniform(0.2, 0.8, shape), jnp.float32)
    var = jnp.asarray(rng.uniform(0.01, 0.2, shape), jnp.float32)

    def potential(x):
        return jnp.sum((x - mean) ** 2 / (2.0 * var)), jnp.zeros(())

    return mean, var, potential


def test_dimension_is_the_trace_of_the_centring_map():
    assert stein_dimension((12, 10, 3)) == 12 * 10 * 3 - 3
    assert stein_dimension((16,)) == 15
    x = jax.random.normal(jax.random.key(0), (5, 4, 2))
    # <P x, g> with g = e_i summed over a basis: the trace of P
    basis = jnp.eye(x.size).reshape((x.size,) + x.shape)
    trace = sum(float(stein_statistic(b, b)) for b in basis)
    assert abs(trace - stein_dimension(x.shape)) < 1e-4


def test_exact_draws_give_one_and_scaled_draws_do_not():
    mean, var, potential = _gaussian()
    n = 64
    z = jax.random.normal(jax.random.key(1), (n,) + mean.shape)
    grad = jax.vmap(jax.grad(lambda x: potential(x)[0]))
    for scale, expected in ((1.0, 1.0), (2.0, 4.0), (0.5, 0.25)):
        x = mean + scale * jnp.sqrt(var) * z
        ratio = float(stein_ratio(x, grad(x)))
        # one sample's ratio fluctuates by about scale^2 sqrt(2 / d); n samples average it
        tol = 4 * expected * np.sqrt(2.0 / stein_dimension(mean.shape) / n)
        assert abs(ratio - expected) < tol, (scale, ratio)


def test_kernels_report_the_statistic_of_the_position_they_start_from():
    mean, var, potential = _gaussian()
    x = mean + 0.3 * jax.random.normal(jax.random.key(2), mean.shape)
    g = jax.grad(lambda y: potential(y)[0])(x)
    _, info = ula_step(jax.random.key(3), ULAState(x), potential, 1e-3)
    np.testing.assert_allclose(float(info.stein), float(stein_statistic(x, g)), rtol=1e-6)
    starts = jnp.stack([x, mean])
    for sampler in ("ula", "mala"):
        kernel = langevin_chains(potential, 1e-3, sampler)
        _, chains = kernel.step(jax.random.key(4), kernel.init(starts))
        grads = jax.vmap(jax.grad(lambda y: potential(y)[0]))(starts)
        np.testing.assert_allclose(float(chains.stein_ratio),
                                   float(stein_ratio(starts, grads)), rtol=1e-5)


@pytest.mark.parametrize("sampler,gamma", [("ula", 0.02), ("mala", 0.02)])
def test_chains_from_far_starts_relax_to_the_closed_form(sampler, gamma):
    """Isotropic Gaussian, precision q: starts 10 standard deviations away give a ratio of
    about 100, which falls to ULA's 1 / (1 - gamma q / 2) (MALA: 1) once the chains relax."""
    q = 10.0
    shape = (8, 8, 3)

    def potential(x):
        return 0.5 * q * jnp.sum(x**2), jnp.zeros(())

    starts = 10.0 / np.sqrt(q) * jax.random.normal(jax.random.key(5), (32,) + shape)
    kernel = langevin_chains(potential, gamma, sampler)

    def body(state, key):
        state, info = kernel.step(key, state)
        return state, info.stein_ratio

    _, ratios = jax.lax.scan(body, kernel.init(starts), jax.random.split(jax.random.key(6), 400))
    ratios = np.asarray(ratios)
    assert ratios[0] > 50
    expected = 1.0 if sampler == "mala" else 1.0 / (1.0 - gamma * q / 2.0)
    assert abs(ratios[200:].mean() / expected - 1.0) < 0.02, ratios[200:].mean()
