"""ULA and MALA against closed forms on a Gaussian target."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from maxent_jax.sampling.langevin import (float64_potential, mala_init, mala_step, ula_init,
                                          ula_step)

SIGMA2 = 2.0
CHAINS = 20_000


def gaussian_potential(x):
    return 0.5 * jnp.sum(x**2) / SIGMA2, x


def run_chains(step_fn, init_fn, gamma, steps, key):
    keys = jax.random.split(key, CHAINS)

    def chain(k):
        state = init_fn(jnp.zeros(()))
        def body(s, kk):
            s, info = step_fn(kk, s, gaussian_potential, gamma)
            return s, info
        state, info = jax.lax.scan(body, state, jax.random.split(k, steps))
        return state.position, info

    return jax.jit(jax.vmap(chain))(keys)


@pytest.mark.parametrize("gamma", [0.5, 1.5])
def test_ula_stationary_variance_is_biased_as_in_closed_form(gamma):
    x, info = run_chains(ula_step, ula_init, gamma, 300, jax.random.key(0))
    expected = SIGMA2 / (1.0 - gamma / (2.0 * SIGMA2))
    # 20k independent chains: the sample variance has relative std sqrt(2/20000) = 1%.
    np.testing.assert_allclose(np.var(np.asarray(x)), expected, rtol=0.04)
    assert abs(expected - SIGMA2) / SIGMA2 > 0.1  # the bias is much larger than the tolerance
    np.testing.assert_allclose(np.asarray(info.aux[:, 0]), 0.0)  # aux = start position


def test_mala_removes_the_bias():
    gamma = 1.5
    x, info = run_chains(lambda k, s, p, g: mala_step(k, s, p, g),
                         lambda x0: mala_init(x0, gaussian_potential), gamma, 300,
                         jax.random.key(1))
    np.testing.assert_allclose(np.var(np.asarray(x)), SIGMA2, rtol=0.04)
    rate = float(np.mean(np.asarray(info.acceptance_rate)))
    assert 0.2 < rate < 1.0


def test_ula_step_is_deterministic_given_the_key():
    s = ula_init(jnp.ones((4, 4, 1)))
    a, _ = ula_step(jax.random.key(3), s, gaussian_potential, 0.1)
    b, _ = ula_step(jax.random.key(3), s, gaussian_potential, 0.1)
    c, _ = ula_step(jax.random.key(4), s, gaussian_potential, 0.1)
    np.testing.assert_array_equal(a.position, b.position)
    assert not np.array_equal(a.position, c.position)


@pytest.mark.parametrize("offset", [0.0, 4e7])
def test_float64_ratio_matches_numpy_whatever_the_energy_offset(offset):
    """MALA's acceptance probability against numpy's float64 formula, on a standard Gaussian in
    d = 64 x 64 x 3 dimensions plus a constant. The constant changes nothing in the law; 4e7
    is the size of the extensive VGG energy at 256 px, where float32's spacing is 4. With the
    float64 energies (:func:`float64_potential`) the kernel's probabilities match numpy's to
    1e-4 with or without it; with float32 energies they are off by more than 0.05 on some of
    the 32 proposals when it is there."""
    shape, gamma = (64, 64, 3), 0.05

    def potential(x):
        return 0.5 * jnp.sum(x**2) + offset, None

    exact = float64_potential(potential)
    x = jax.random.normal(jax.random.key(0), shape)
    keys = jax.random.split(jax.random.key(1), 32)

    @jax.jit
    def rates(k):
        with64 = mala_step(k, mala_init(x, potential, exact), potential, gamma,
                           exact_potential=exact)[1].acceptance_rate
        with32 = mala_step(k, mala_init(x, potential), potential, gamma)[1].acceptance_rate
        key_move, _ = jax.random.split(k)  # the proposal, drawn as mala_step draws it
        g = jnp.asarray(gamma, jnp.float32)
        y = x - g * x + jnp.sqrt(2.0 * g) * jax.random.normal(key_move, shape, x.dtype)
        return with64, with32, y

    xs = np.asarray(x, np.float64)
    errors64, errors32 = [], []
    for k in keys:
        with64, with32, y = rates(k)
        ys = np.asarray(y, np.float64)
        log_q = lambda a, b: -np.sum((a - b + gamma * b) ** 2) / (4 * gamma)  # noqa: E731
        log_ratio = 0.5 * np.sum(xs**2) - 0.5 * np.sum(ys**2) + log_q(xs, ys) - log_q(ys, xs)
        expected = min(1.0, np.exp(log_ratio))
        errors64.append(abs(float(with64) - expected))
        errors32.append(abs(float(with32) - expected))
    assert max(errors64) < 1e-4
    if offset:
        assert max(errors32) > 0.05


def test_float64_potential_holds_the_energy_to_float64_accuracy():
    """hi + lo of :func:`float64_potential` against numpy's float64 value of the same sum."""
    x = jax.random.uniform(jax.random.key(2), (64, 64, 3))

    def potential(x):
        return 1e3 * jnp.sum(jnp.cos(x) ** 2), None

    hi, lo = jax.jit(float64_potential(potential))(x)
    assert hi.dtype == lo.dtype == jnp.float32
    expected = 1e3 * np.sum(np.cos(np.asarray(x, np.float64)) ** 2)
    assert abs((float(hi) + float(lo)) - expected) < 1e-9 * expected
    assert abs(float(potential(x)[0]) - expected) > 1e-9 * expected  # float32 is not enough
