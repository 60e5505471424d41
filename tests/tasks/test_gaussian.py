"""Closed-form checks of the Gaussian texture models (ADSN, RPN, periodic component, spot extension).

Galerne, Gousseau, Morel, IEEE TIP 2011 / IPOL 2011; Moisan, JMIV 2011.
Everything runs in float32; tolerances are a few hundred float32 ulps of the quantities compared.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from maxent_jax import gaussian as g

AX = (0, 1)
# Few distinct shapes: XLA compiles every operation once per shape, which dominates test time.
RGB, GREY, EXT = (8, 8, 3), (7, 9, 1), (12, 10)  # even / odd sides; EXT: an extended RGB size


def _image(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).uniform(size=shape), jnp.float32)


def _lap_periodic(a):
    a = np.asarray(a, np.float64)
    return (np.roll(a, 1, 0) + np.roll(a, -1, 0) + np.roll(a, 1, 1) + np.roll(a, -1, 1) - 4 * a)


def _lap_interior(a):
    """5-point laplacian using only neighbours inside the image."""
    a = np.asarray(a, np.float64)
    out = np.zeros_like(a)
    out[1:] += a[:-1] - a[1:]
    out[:-1] += a[1:] - a[:-1]
    out[:, 1:] += a[:, :-1] - a[:, 1:]
    out[:, :-1] += a[:, 1:] - a[:, :-1]
    return out


def _autocorrelation_loops(x):
    """Direct float64 evaluation of C[tau, c, c'] = mean_y t_c(y) t_c'(y + tau) (periodic)."""
    x = np.asarray(x, np.float64)
    t = x - x.mean(axis=AX)
    h, w, c = t.shape
    out = np.zeros((h, w, c, c))
    for i in range(h):
        for j in range(w):
            shifted = np.roll(t, (-i, -j), axis=AX)  # shifted[y] = t[y + tau]
            out[i, j] = np.einsum("hwc,hwd->cd", t, shifted) / (h * w)
    return out


def _nonperiodic_autocorrelation(x, out_size):
    """Cov(X_c(y), X_c'(y')) = (hw)^{-1} sum_z t_c(z) t_c'(z + y' - y), t zero outside its support."""
    x = np.asarray(x, np.float64)
    t = x - x.mean(axis=AX)
    h, w, c = t.shape
    H, W = out_size
    big = np.zeros((h + 2 * H, w + 2 * W, c))
    big[H:H + h, W:W + w] = t
    cov = np.zeros((H, W, c, H, W, c))
    for y0 in range(H):
        for y1 in range(W):
            for z0 in range(H):
                for z1 in range(W):
                    d0, d1 = z0 - y0, z1 - y1
                    shifted = big[H + d0:H + d0 + h, W + d1:W + d1 + w]
                    cov[y0, y1, :, z0, z1, :] = np.einsum("hwc,hwd->cd", t, shifted) / (h * w)
    return cov


def _covariance_of_linear_map(f, noise_shape):
    """Exact covariance of f(W) for W ~ N(0, I), f affine: A A^T with A = jacobian of f."""
    jac = jax.jit(jax.jacfwd(f))(jnp.zeros(noise_shape, jnp.float32))  # one compile, not one per op
    a = np.asarray(jac, np.float64).reshape(-1, int(np.prod(noise_shape)))
    return a @ a.T


# ------------------------------------------------------------------------------------------
# mean and autocorrelation
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [RGB, GREY])
def test_autocorrelation_matches_direct_sum(shape):
    x = _image(shape)
    m, c = g.mean_and_autocorrelation(x)
    assert m.shape == (shape[2],) and c.shape == shape[:2] + (shape[2], shape[2])
    np.testing.assert_allclose(m, np.asarray(x, np.float64).mean(axis=AX), atol=1e-6)
    np.testing.assert_allclose(c, _autocorrelation_loops(x), atol=2e-6)


# ------------------------------------------------------------------------------------------
# periodic + smooth decomposition
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [RGB, GREY])
def test_periodic_smooth_decomposition(shape):
    x = _image(shape, seed=1)
    p, s = g.periodic_smooth_decomposition(x)
    np.testing.assert_allclose(p + s, x, atol=1e-6)
    np.testing.assert_allclose(jnp.mean(s, axis=AX), 0, atol=1e-6)
    np.testing.assert_allclose(jnp.mean(p, axis=AX), jnp.mean(x, axis=AX), atol=1e-6)
    lap_s = _lap_periodic(s)
    np.testing.assert_allclose(lap_s[1:-1, 1:-1], 0, atol=2e-6)  # harmonic inside
    np.testing.assert_allclose(lap_s, _lap_periodic(x) - _lap_interior(x), atol=2e-6)
    np.testing.assert_allclose(_lap_periodic(p), _lap_interior(x), atol=2e-6)
    np.testing.assert_allclose(g.periodic_component(x), p)


def test_periodic_component_of_constant_image_is_itself():
    x = jnp.full(RGB, 0.3, jnp.float32)
    p, s = g.periodic_smooth_decomposition(x)
    np.testing.assert_allclose(s, 0, atol=1e-7)
    np.testing.assert_allclose(p, x, atol=1e-7)


# ------------------------------------------------------------------------------------------
# random phase and random phase noise
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [RGB[:2], GREY[:2]])
def test_random_phase_is_unit_and_hermitian(size):
    u = np.asarray(g.random_phase(jax.random.key(3), size))
    h, w = size
    assert u.shape == (h, w // 2 + 1)
    np.testing.assert_allclose(np.abs(u), 1, atol=1e-6)
    assert u[0, 0] == 1
    cols = [0, w // 2] if w % 2 == 0 else [0]
    for r in cols:
        col = u[:, r]
        np.testing.assert_array_equal(col, np.conj(np.roll(col[::-1], 1)))  # u(-q) = conj(u(q))
        for q in {0, h // 2} if h % 2 == 0 else {0}:
            assert col[q].imag == 0 and abs(col[q].real) == 1


@pytest.mark.parametrize("shape", [RGB, GREY])
def test_rpn_keeps_fourier_modulus_exactly(shape):
    x0 = _image(shape, seed=2)
    xs = g.random_phase_noise(jax.random.key(4), x0, num=3)
    assert xs.dtype == jnp.float32 and xs.shape == (3,) + shape
    m0 = np.asarray(x0, np.float64).mean(axis=AX)
    ref = np.fft.fft2(np.asarray(g.periodic_component(x0), np.float64) - m0, axes=AX)
    scale = np.abs(ref).max()
    for x in np.asarray(xs, np.float64):
        spec = np.fft.fft2(x - m0, axes=AX)  # full complex FFT: every frequency, Nyquist included
        np.testing.assert_allclose(np.abs(spec), np.abs(ref), atol=2e-6 * scale)
        np.testing.assert_allclose(x.mean(axis=AX), m0, atol=1e-6)
        # same phase for every channel: the cross-spectra (colour phase differences) are kept
        cross = spec[..., :, None] * np.conj(spec[..., None, :])
        cross_ref = ref[..., :, None] * np.conj(ref[..., None, :])
        np.testing.assert_allclose(cross, cross_ref, atol=4e-6 * scale**2)


def test_rpn_sample_differs_from_exemplar_and_non_periodic_uses_raw_image():
    x0 = _image(GREY, seed=5)
    x = np.asarray(g.random_phase_noise(jax.random.key(0), x0, periodic=False), np.float64)
    x0 = np.asarray(x0, np.float64)
    m0 = x0.mean(axis=AX)
    ref = np.abs(np.fft.fft2(x0 - m0, axes=AX))
    np.testing.assert_allclose(np.abs(np.fft.fft2(x - m0, axes=AX)), ref, atol=1e-5)
    assert np.abs(x - x0).max() > 0.1


def test_rpn_from_phase_one_returns_spot():
    spot = _image(RGB, seed=6)
    ones = jnp.ones((8, 5), jnp.complex64)
    np.testing.assert_allclose(g.rpn_from_phase(ones, spot), spot, atol=1e-6)


# ------------------------------------------------------------------------------------------
# ADSN: exact mean and covariance (ADSN is affine in the noise)
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [RGB, GREY])
def test_adsn_covariance_is_exactly_c0(shape):
    x0 = _image(shape, seed=7)
    spot = g.prepare_spot(x0)
    m0, c0 = g.mean_and_autocorrelation(spot)
    np.testing.assert_allclose(g.adsn_from_noise(jnp.zeros(shape[:2]), spot),
                               jnp.broadcast_to(m0, shape), atol=1e-6)  # E[X] = m0
    cov = _covariance_of_linear_map(lambda w: g.adsn_from_noise(w, spot), shape[:2])
    h, w, c = shape
    expected = np.zeros((h, w, c, h, w, c))
    for i0, i1, j0, j1 in np.ndindex(h, w, h, w):  # Cov(X(y), X(y')) = C0[y' - y]
        expected[i0, i1, :, j0, j1, :] = c0[(j0 - i0) % h, (j1 - i1) % w]
    np.testing.assert_allclose(cov, expected.reshape(cov.shape), atol=2e-6)


def test_adsn_colour_keeps_channel_covariance():
    x0 = _image(RGB, seed=8)
    x0 = x0.at[..., 1].set(0.5 * x0[..., 0] + 0.2)  # strongly correlated channels
    spot = g.prepare_spot(x0)
    cov = _covariance_of_linear_map(lambda w: g.adsn_from_noise(w, spot), RGB[:2])
    pixel = cov.reshape(RGB + RGB)[2, 3, :, 2, 3, :]
    expected = np.cov(np.asarray(spot, np.float64).reshape(-1, 3).T, bias=True)
    np.testing.assert_allclose(pixel, expected, atol=1e-6)


def test_adsn_uses_documented_noise():
    x0, key = _image(RGB, seed=9), jax.random.key(10)
    spot = g.prepare_spot(x0)
    expected = g.adsn_from_noise(jax.random.normal(key, RGB[:2]), spot)
    np.testing.assert_allclose(g.adsn(key, x0), expected, atol=1e-6)
    keys = jax.random.split(key, 3)
    batch = g.adsn(key, x0, num=3)
    for k, x in zip(keys, batch):
        np.testing.assert_allclose(x, g.adsn(k, x0), atol=1e-6)


def test_adsn_monte_carlo_variance():
    """Pooled per-pixel variance over n samples: std of the estimator <= sqrt(2/n) var (Gaussian,
    pooling correlated pixels cannot increase it); 6 of those is the tolerance. Fixed seed."""
    x0 = _image(GREY, seed=11)
    n = 2000
    xs = g.adsn(jax.random.key(12), x0, num=n)
    m0, c0 = g.mean_and_autocorrelation(g.periodic_component(x0))
    var = float(c0[0, 0, 0, 0])
    assert abs(float(jnp.mean(xs)) - float(m0[0])) < 6 * np.sqrt(var / n)
    assert abs(float(jnp.mean((xs - m0) ** 2)) - var) < 6 * np.sqrt(2 / n) * var


# ------------------------------------------------------------------------------------------
# non-periodic ADSN
# ------------------------------------------------------------------------------------------

def test_adsn_nonperiodic_covariance_is_non_periodic_autocorrelation():
    x0 = _image((4, 3, 3), seed=13)
    out = (3, 5)
    canvas = (out[0] + 3, out[1] + 2)
    f = lambda w: g.adsn_nonperiodic_from_noise(w, x0)
    assert f(jnp.zeros(canvas)).shape == out + (3,)
    np.testing.assert_allclose(f(jnp.zeros(canvas)),
                               jnp.broadcast_to(jnp.mean(x0, axis=AX), out + (3,)), atol=1e-6)
    cov = _covariance_of_linear_map(f, canvas)
    expected = _nonperiodic_autocorrelation(x0, out)
    np.testing.assert_allclose(cov, expected.reshape(cov.shape), atol=2e-6)


def test_adsn_nonperiodic_sampler_shapes_and_noise():
    x0, key = _image((4, 3, 3), seed=14), jax.random.key(15)
    expected = g.adsn_nonperiodic_from_noise(jax.random.normal(key, (3 + 3, 5 + 2)), x0)
    np.testing.assert_allclose(g.adsn_nonperiodic(key, x0, size=(3, 5)), expected, atol=1e-6)
    assert g.adsn_nonperiodic(key, x0, size=(3, 5), num=2).shape == (2, 3, 5, 3)
    assert g.adsn_nonperiodic(key, _image(RGB)).shape == RGB


# ------------------------------------------------------------------------------------------
# spot extension
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("size,border", [(EXT, None), ((8, 10), 2), (EXT, 0)])
def test_spot_extension_keeps_mean_and_variance(size, border):
    x0 = _image(RGB, seed=16)
    e = g.spot_extension(x0, size, border=border)
    assert e.shape == size + (3,)
    m0 = np.asarray(x0, np.float64).mean(axis=AX)
    np.testing.assert_allclose(np.asarray(e, np.float64).mean(axis=AX), m0, atol=2e-6)
    np.testing.assert_allclose(np.asarray(e, np.float64).var(axis=AX),
                               np.asarray(x0, np.float64).var(axis=AX), rtol=1e-5)
    np.testing.assert_allclose(e[size[0] - 1, size[1] - 1], m0, atol=2e-6)


def test_spot_extension_same_size_without_taper_is_identity():
    x0 = _image(RGB, seed=17)
    np.testing.assert_allclose(g.spot_extension(x0, RGB[:2], border=0), x0, atol=1e-6)


def test_extended_adsn_and_rpn_keep_pixel_mean_and_variance():
    x0 = _image(RGB, seed=18)
    size = EXT
    p = np.asarray(g.periodic_component(x0), np.float64)
    var0, m0 = p.var(axis=AX), p.mean(axis=AX)
    spot = g.prepare_spot(x0, size=size, border=1)
    cov = _covariance_of_linear_map(lambda w: g.adsn_from_noise(w, spot), size)
    pixel_var = np.diagonal(cov).reshape(size + (3,))
    np.testing.assert_allclose(pixel_var, np.broadcast_to(var0, size + (3,)), rtol=1e-5)
    np.testing.assert_allclose(g.adsn_from_noise(jnp.zeros(size), spot),
                               jnp.broadcast_to(m0, size + (3,)), atol=1e-6)
    x = np.asarray(g.random_phase_noise(jax.random.key(0), x0, size=size, border=1), np.float64)
    assert x.shape == size + (3,)
    np.testing.assert_allclose(x.var(axis=AX), var0, rtol=1e-5)
    np.testing.assert_allclose(x.mean(axis=AX), m0, atol=2e-6)


# ------------------------------------------------------------------------------------------
# texton
# ------------------------------------------------------------------------------------------

def test_texton_has_same_gaussian_model():
    x0 = _image(RGB, seed=19)
    t = g.texton(x0)
    m_t, c_t = g.mean_and_autocorrelation(t)
    m_p, c_p = g.mean_and_autocorrelation(g.periodic_component(x0))
    np.testing.assert_allclose(m_t, m_p, atol=1e-6)
    np.testing.assert_allclose(c_t, c_p, atol=2e-6)
    grey = np.asarray(g.texton(_image(GREY, seed=19), periodic=False))[..., 0]
    assert np.unravel_index(np.argmax(grey), grey.shape) == (3, 4)  # centred peak


# ------------------------------------------------------------------------------------------
# seeds, jit, vmap
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sampler", [g.adsn, g.random_phase_noise, g.adsn_nonperiodic])
def test_seeds(sampler):
    x0 = _image(RGB, seed=20)
    a, b = sampler(jax.random.key(1), x0), sampler(jax.random.key(1), x0)
    np.testing.assert_array_equal(a, b)
    c = sampler(jax.random.key(2), x0)
    assert float(jnp.abs(a - c).max()) > 1e-2
    batch = sampler(jax.random.key(1), x0, num=2)
    assert float(jnp.abs(batch[0] - batch[1]).max()) > 1e-2


def test_jit_matches_eager_and_traces_once():
    x0 = _image(RGB, seed=21)
    traces = []

    def sample(key, x):
        traces.append(1)
        return g.adsn(key, x, num=2), g.random_phase_noise(key, x)

    jitted = jax.jit(sample)
    for seed in (0, 1):
        key = jax.random.key(seed)
        got, want = jitted(key, x0), sample(key, x0)
        np.testing.assert_allclose(got[0], want[0], atol=1e-5)
        np.testing.assert_allclose(got[1], want[1], atol=1e-5)
    assert len(traces) == 3  # one trace for jit, two eager calls


def test_vmap_over_keys_and_exemplars():
    x0 = _image(GREY, seed=22)
    keys = jax.random.split(jax.random.key(0), 3)
    out = jax.vmap(lambda k: g.adsn(k, x0))(keys)
    np.testing.assert_allclose(out, g.adsn(jax.random.key(0), x0, num=3), atol=1e-6)
    exemplars = jnp.stack([x0, 1 - x0])
    out = jax.jit(jax.vmap(lambda x: g.random_phase_noise(keys[0], x)))(exemplars)
    np.testing.assert_allclose(out[1], g.random_phase_noise(keys[0], 1 - x0), atol=1e-5)


# ------------------------------------------------------------------------------------------
# bad inputs
# ------------------------------------------------------------------------------------------

KEY = jax.random.key(0)
GOOD = np.full((8, 8, 3), 0.5, np.float32)


@pytest.mark.parametrize("bad,match", [
    (np.zeros((8, 8), np.float32), r"3-D \(H, W, C\)"),
    (np.zeros((8, 8, 2), np.float32), r"C = 1 \(grey\) or 3 \(RGB\)"),
    (np.zeros((8, 8, 3, 1), np.float32), r"3-D"),
    (np.zeros((0, 8, 3), np.float32), r"empty"),
    (np.zeros((8, 8, 3), np.uint8), r"floating-point.*uint8"),
    (np.where(np.eye(8)[..., None] > 0, np.nan, GOOD).astype(np.float32), r"NaN or infinite"),
    (np.where(np.eye(8)[..., None] > 0, np.inf, GOOD).astype(np.float32), r"NaN or infinite"),
])
@pytest.mark.parametrize("func", [
    lambda x: g.adsn(KEY, x), lambda x: g.random_phase_noise(KEY, x),
    lambda x: g.adsn_nonperiodic(KEY, x), g.periodic_component, g.texton,
    g.mean_and_autocorrelation, lambda x: g.spot_extension(x, (16, 16)),
])
def test_bad_images(func, bad, match):
    with pytest.raises(ValueError, match=match):
        func(bad)


@pytest.mark.parametrize("size,match", [
    ((7, 16), r"smaller than the exemplar 8x8"), ((16, 4), r"smaller than the exemplar"),
    ((16,), r"pair \(H, W\)"), (16, r"pair \(H, W\)"), ((16.0, 16), r"positive integers"),
    ((0, 16), r"positive integers"), ((True, 16), r"positive integers"),
])
@pytest.mark.parametrize("func", [
    lambda s: g.adsn(KEY, GOOD, size=s), lambda s: g.random_phase_noise(KEY, GOOD, size=s),
    lambda s: g.spot_extension(GOOD, s),
])
def test_bad_sizes(func, size, match):
    with pytest.raises(ValueError, match=match):
        func(size)


@pytest.mark.parametrize("num", [0, -1, 2.0, True])
def test_bad_num(num):
    for sampler in (g.adsn, g.random_phase_noise, g.adsn_nonperiodic):
        with pytest.raises(ValueError, match=r"num must be None or an integer >= 1"):
            sampler(KEY, GOOD, num=num)


def test_other_bad_arguments():
    with pytest.raises(ValueError, match=r"border must be an integer in \[0, 4\]"):
        g.spot_extension(GOOD, (16, 16), border=5)
    with pytest.raises(ValueError, match=r"border must be an integer"):
        g.adsn(KEY, GOOD, size=(16, 16), border=-1)
    with pytest.raises(ValueError, match=r"noise must have shape \(8, 8\)"):
        g.adsn_from_noise(jnp.zeros((8, 9)), GOOD)
    with pytest.raises(ValueError, match=r"phase must have shape \(8, 5\)"):
        g.rpn_from_phase(jnp.ones((8, 8), jnp.complex64), GOOD)
    with pytest.raises(ValueError, match=r"noise must be 2-D and at least 8x8"):
        g.adsn_nonperiodic_from_noise(jnp.zeros((7, 20)), GOOD)
    with pytest.raises(ValueError, match=r"positive integers"):
        g.adsn_nonperiodic(KEY, GOOD, size=(0, 4))


def test_shape_errors_raised_under_jit():
    with pytest.raises(ValueError, match=r"C = 1 \(grey\) or 3"):
        jax.jit(lambda x: g.adsn(KEY, x))(jnp.zeros((8, 8, 2)))
    # NaN checks are skipped on tracers (documented): a NaN image gives NaN samples under jit
    out = jax.jit(lambda x: g.adsn(KEY, x))(jnp.full((8, 8, 1), jnp.nan))
    assert bool(jnp.isnan(out).all())
