"""Preconditioned ULA and MALA against closed forms on Gaussian targets diagonal in Fourier;
the operators M, M^{1/2}, M^{-1}; the spectrum preconditioner; a SOUL run through it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from maxent_jax.sampling.langevin import mala_init, mala_step, ula_init, ula_step
from maxent_jax.sampling.preconditioned import (Preconditioner, apply, apply_inverse,
                                                apply_sqrt, identity_preconditioner,
                                                make_preconditioner, pmala_step, pula_step,
                                                spectrum_preconditioner)

N = 8          # images N x N
CHAINS = 8000  # final states of independent chains: per-mode relative error ~ 1/sqrt(CHAINS)


def _freqs(n=N):
    k0 = np.fft.fftfreq(n)[:, None]
    k1 = np.fft.rfftfreq(n)[None, :]
    return k0, k1


def _precision():
    """q(k) on the rfft grid: a stiff field, precision from 1 (low k) to about 60 (high k)."""
    k0, k1 = _freqs()
    return 1.0 + 60.0 * (np.sin(np.pi * k0) ** 2 + np.sin(np.pi * k1) ** 2) / 2.0


def _multiplier(q):
    """m ≈ 1 / q (M close to the covariance) with a +-30% ripple, so gamma m q varies."""
    k0, k1 = _freqs()
    return (1.0 + 0.3 * np.cos(2 * np.pi * k0) * np.cos(2 * np.pi * k1)) / q


MU = jnp.asarray(np.random.default_rng(0).normal(size=(N, N, 1)), jnp.float32)
Q = _precision()
PRECOND = Preconditioner(jnp.asarray(_multiplier(Q), jnp.float32))


def gaussian_potential(x):
    """U(x) = <x - mu, Q (x - mu)> / 2 with Q the Fourier multiplier q(k)."""
    d = x - MU
    return 0.5 * jnp.vdot(d, apply(Preconditioner(jnp.asarray(Q, jnp.float32)), d)), x


def run_chains(step, init, gamma, steps, key):
    def chain(k):
        def body(s, kk):
            return step(kk, s, gaussian_potential, gamma)
        state, info = jax.lax.scan(body, init(MU), jax.random.split(k, steps))
        return state.position, info

    return jax.jit(jax.vmap(chain))(jax.random.split(key, CHAINS))


def periodogram(x):
    """E |rfft2(x - mu)(k)|^2 / (N N) over chains: the per-frequency variance (1 / q for the
    target: the covariance Q^{-1} has the symbol 1 / q)."""
    d = np.asarray(x - MU)[..., 0].astype(np.float64)
    return np.mean(np.abs(np.fft.rfft2(d, axes=(1, 2))) ** 2, axis=0) / (N * N)


def test_pula_stationary_spectrum_is_its_closed_form():
    """x' = x - gamma m q x + sqrt(2 gamma m) z per mode: variance 1 / (q (1 - gamma m q / 2))."""
    gamma = 1.0 / float(np.max(_multiplier(Q) * Q))  # gamma m q in [0.54, 1]: bias up to x2
    x, _ = run_chains(lambda k, s, p, g: pula_step(k, s, p, g, PRECOND), ula_init, gamma, 200,
                      jax.random.key(0))
    gmq = gamma * _multiplier(Q) * Q
    expected = 1.0 / (Q * (1.0 - gmq / 2.0))
    np.testing.assert_allclose(periodogram(x), expected, rtol=0.08)
    assert np.max(expected * Q) > 1.8  # the bias dwarfs the tolerance
    np.testing.assert_allclose(np.asarray(x).mean((0, 3)), np.asarray(MU)[..., 0], atol=0.05)


def test_pmala_reproduces_mean_and_spectrum():
    gamma = 0.3 / float(np.max(_multiplier(Q) * Q))  # MALA in 64 dimensions: h ~ d^(-1/3)
    x, info = run_chains(lambda k, s, p, g: pmala_step(k, s, p, g, PRECOND),
                         lambda x0: mala_init(x0, gaussian_potential), gamma, 200,
                         jax.random.key(1))
    np.testing.assert_allclose(periodogram(x), 1.0 / Q, rtol=0.08)
    # per-pixel variance of the target: mean(1 / q) over the full grid < 0.3; 4 sigma
    np.testing.assert_allclose(np.asarray(x).mean(0), np.asarray(MU), atol=4 * np.sqrt(0.3 /
                                                                                    CHAINS))
    rate = float(np.mean(np.asarray(info.acceptance_rate)))
    assert 0.3 < rate < 1.0, rate


@pytest.mark.parametrize("shape", [(8, 8, 3), (9, 7, 3), (6, 5)])
def test_square_root_and_inverse_are_consistent(shape):
    precond = spectrum_preconditioner(
        np.random.default_rng(1).uniform(size=(12, 10, 3)).astype(np.float32), shape[:2])
    assert precond.multiplier.shape == (shape[0], shape[1] // 2 + 1)
    u, v = (jax.random.normal(k, shape) for k in jax.random.split(jax.random.key(2)))
    mu = apply(precond, u)
    np.testing.assert_allclose(apply_sqrt(precond, apply_sqrt(precond, u)), mu,
                               atol=1e-5 * float(jnp.abs(mu).max()))
    np.testing.assert_allclose(apply(precond, apply_inverse(precond, u)), u, atol=1e-5)
    np.testing.assert_allclose(apply_inverse(precond, apply(precond, u)), u, atol=1e-4)
    # symmetric and positive definite
    np.testing.assert_allclose(jnp.vdot(mu, v), jnp.vdot(u, apply(precond, v)), rtol=1e-5)
    assert float(jnp.vdot(u, mu)) > 0 and float(jnp.vdot(u, apply_inverse(precond, u))) > 0


def test_identity_preconditioner_equals_plain_kernels_to_float32_rounding():
    """m ≡ 1: the same key gives the same noise; the FFT round trip irfft2(rfft2(.)) rounds,
    so positions agree to float32 rounding, not bit for bit."""
    one = identity_preconditioner((N, N))
    x = ula_init(MU + 0.3)
    key = jax.random.key(3)
    a, ia = ula_step(key, x, gaussian_potential, 0.01)
    b, ib = pula_step(key, x, gaussian_potential, 0.01, one)
    np.testing.assert_allclose(b.position, a.position, rtol=0, atol=1e-6)
    assert ia.potential == ib.potential and ia.grad_norm == ib.grad_norm
    s = mala_init(MU + 0.3, gaussian_potential)
    for k in jax.random.split(key, 20):
        a, ia = mala_step(k, s, gaussian_potential, 0.02)
        b, ib = pmala_step(k, s, gaussian_potential, 0.02, one)
        np.testing.assert_allclose(b.position, a.position, rtol=0, atol=1e-6)
        np.testing.assert_allclose(ib.acceptance_rate, ia.acceptance_rate, rtol=1e-4)
        assert bool(ia.is_accepted) == bool(ib.is_accepted)
        s = a


def _full_grid_mean(m, width):
    """Mean of m(k) over the full (H, W) frequency grid from its rfft half."""
    weights = np.full(m.shape[1], 2.0)
    weights[0] = 1.0
    if width % 2 == 0:
        weights[-1] = 1.0
    return float(np.sum(np.asarray(m) * weights) / (m.shape[0] * width))


@pytest.mark.parametrize("size", [(16, 16), (12, 10), (24, 20)])
def test_spectrum_preconditioner_is_the_adsn_starts_spectrum(wood32, size):
    """Equal, smaller (crop) and larger (spot extension) sizes: the multiplier is the average
    periodogram of the ADSN starts at that size, floored and normalised to mean 1."""
    from maxent_jax.tasks.starts import adsn_starts

    x0 = wood32[:16, :16]
    floor = 1e-3
    m = np.asarray(spectrum_preconditioner(x0, size, floor=floor).multiplier)
    assert m.shape == (size[0], size[1] // 2 + 1)
    np.testing.assert_allclose(_full_grid_mean(m, size[1]), 1.0, rtol=1e-5)
    assert m.min() >= floor * m.max() * (1 - 1e-5)
    grey = jnp.mean(x0, axis=-1, keepdims=True)
    starts = np.asarray(adsn_starts(jax.random.key(4), grey, size, 4000))[..., 0]
    d = starts - np.asarray(grey).mean()
    mc = np.mean(np.abs(np.fft.rfft2(d, axes=(1, 2))) ** 2, axis=0)
    ok = m > 1.5 * floor * m.max()   # not floored (the DC term is)
    ratio = mc[ok] / m[ok]
    # periodogram ordinates: exponential, relative error 1/sqrt(4000) = 1.6% each
    np.testing.assert_allclose(ratio / np.median(ratio), 1.0, rtol=0.1)
    assert ok.mean() > 0.5


def test_spectrum_preconditioner_refusals(wood32):
    with pytest.raises(ValueError, match="floor"):
        spectrum_preconditioner(wood32, floor=0.0)
    with pytest.raises(ValueError, match="constant"):
        spectrum_preconditioner(np.full((8, 8, 3), 0.5, np.float32))
    with pytest.raises(ValueError, match="precondition must be"):
        make_preconditioner("diag", wood32)
    assert make_preconditioner("none", wood32) is None
    with pytest.raises(ValueError, match="multiplier has shape"):
        apply(identity_preconditioner((4, 4)), jnp.zeros((4, 6, 3)))


def test_soul_with_the_spectrum_preconditioner_runs(real_variables, wood32):
    """synthesize with precondition='spectrum' (ULA, and MALA with its probe): finite."""
    from maxent_jax.tasks.texture import SynthesisConfig, synthesize

    for sampler in ("ula", "mala"):
        config = SynthesisConfig(layers=("relu1_1",), iterations=4, chains=2,
                                 checkpoint_every=4, gamma=1e-6, probe_every=2,
                                 precondition="spectrum", sampler=sampler)
        result = synthesize(wood32[:16, :16], real_variables, config, progress=False)
        assert result.samples.shape == (2, 16, 16, 3)
        assert np.all(np.isfinite(result.samples))
        assert np.all(np.isfinite(result.trace["relative_gap"]))
        assert np.isfinite(result.trace["probe_acceptance"][0])
        assert result.model.settings["precondition"] == "spectrum"


def test_run_soul_task_refuses_a_mismatched_preconditioner(wood32):
    from maxent_jax.run.task import run_soul_task
    from maxent_jax.tasks.texture import SynthesisConfig

    with pytest.raises(ValueError, match="no preconditioner"):
        run_soul_task(SynthesisConfig(precondition="spectrum"), None, None, (), None, None,
                      None, identity={})
    with pytest.raises(ValueError, match="config.precondition is 'none'"):
        run_soul_task(SynthesisConfig(), None, None, (), None, None, None, identity={},
                      precond=identity_preconditioner((4, 4)))


def test_inpainting_refuses_a_preconditioner():
    from maxent_jax.tasks.inpaint import InpaintConfig

    with pytest.raises(ValueError, match="inpainting supports only 'none'"):
        InpaintConfig(model="cnn", precondition="spectrum").validate()
    with pytest.raises(ValueError, match="precondition must be one of"):
        InpaintConfig(precondition="diag").validate()
