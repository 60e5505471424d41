"""ULA and MALA against closed forms on a Gaussian target."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from maxent_jax.sampling.langevin import mala_init, mala_step, ula_init, ula_step

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
