"""Gaussian textures: ADSN, random phase noise, periodic component, spot extension, texton.

With the features F = (mean, autocorrelation), the maximum-entropy (macrocanonical) model of an
exemplar x0 is the stationary Gaussian N(m0, C0). This module samples it exactly, by FFT:

* **ADSN** (asymptotic discrete spot noise), Galerne, Gousseau & Morel 2011:
  ``X = m0 + |Omega|^{-1/2} (x0 - m0) * W`` with W standard white Gaussian noise on the periodic
  domain Omega and ``*`` the periodic convolution. Colour: the SAME W for every channel, so the
  cross-channel covariance is kept. X ~ N(m0, C0) with C0 the periodic autocorrelation of x0
  (see :func:`mean_and_autocorrelation` for the convention).
* **RPN** (random phase noise): ``X_hat = FFT(x0 - m0) . exp(i phi)`` (+ m0 at the DC term), phi a
  uniform Hermitian-symmetric random phase, the same for every channel (so the phase differences
  between channels, i.e. the colours, are kept). Every sample has exactly the Fourier modulus of x0.
* **Periodic component** (Moisan 2011): x0 = p + s with s smooth; using p instead of x0 removes the
  cross artefacts the periodic convolution creates at the image borders.
* **Spot extension**: outputs larger than the exemplar, by embedding the windowed, rescaled spot in a
  mean-valued canvas (Galerne, Gousseau & Morel, IPOL 2011).
* **Non-periodic ADSN**: zero-pad the spot, synthesise on a larger periodic domain, crop.
* **Texton**: the zero-phase spot, a compact picture of the model.

Conventions: images are ``float32`` arrays ``(H, W, C)`` with C = 1 or 3 (values nominally in
[0, 1]; samples are not clipped). FFTs act on axes (0, 1) and use the real transforms
(``rfft2``/``irfft2``), so every sample is real by construction. |Omega| = H W.
All functions are pure and work under ``jax.jit`` and ``jax.vmap``; keyword arguments that set
shapes (``size``, ``num``, ``periodic``, ``border``) must be static under ``jit``. The library never
jits for you. Validation (shape, channels, sizes) happens in every public function; the NaN/inf
check only runs on concrete arrays (it is skipped on tracers, i.e. inside ``jit``/``vmap``).

References:
  B. Galerne, Y. Gousseau, J.-M. Morel. Random phase textures: theory and synthesis.
  IEEE Trans. Image Processing 20(1):257-267, 2011.
  B. Galerne, Y. Gousseau, J.-M. Morel. Micro-texture synthesis by phase randomization.
  Image Processing On Line 1, 2011.
  L. Moisan. Periodic plus smooth image decomposition. J. Math. Imaging Vision 39(2):161-179, 2011.
  A. Desolneux, L. Moisan, S. Ronsin. A compact representation of random phase and Gaussian
  textures. ICASSP 2012 (the texton).
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "validate_image",
    "validate_size",
    "validate_num",
    "mean_and_autocorrelation",
    "periodic_smooth_decomposition",
    "periodic_component",
    "spot_extension",
    "prepare_spot",
    "adsn_from_noise",
    "adsn",
    "adsn_nonperiodic_from_noise",
    "adsn_nonperiodic",
    "random_phase",
    "rpn_from_phase",
    "random_phase_noise",
    "texton",
]

Array = jax.Array
Size = Tuple[int, int]
_AXES = (0, 1)


# --------------------------------------------------------------------------------------------
# Validation (outside traced values: shapes are static, NaN checks only on concrete arrays)
# --------------------------------------------------------------------------------------------

def _check_finite(x: Array, name: str) -> None:
    """Raise if a concrete array holds NaN or inf; a no-op on tracers (inside jit/vmap)."""
    if isinstance(x, jax.core.Tracer):
        return
    if not np.isfinite(np.asarray(x)).all():
        raise ValueError(f"{name} contains NaN or infinite values")


def validate_image(x: object, *, name: str = "image") -> Array:
    """Check that ``x`` is a finite floating ``(H, W, C)`` image, C in {1, 3}; return it as float32.

    Raises:
      ValueError: not 3-D, wrong channel count, empty, non-floating dtype, NaN or inf values.
    """
    x = x if hasattr(x, "dtype") and hasattr(x, "shape") else np.asarray(x)
    shape = tuple(x.shape)
    if len(shape) != 3:
        raise ValueError(f"{name} must be a 3-D (H, W, C) array, got shape {shape}")
    if shape[2] not in (1, 3):
        raise ValueError(f"{name} must have C = 1 (grey) or 3 (RGB) channels, got shape {shape}")
    if shape[0] < 1 or shape[1] < 1:
        raise ValueError(f"{name} is empty: shape {shape}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise ValueError(f"{name} must be a floating-point array with values in [0, 1], got dtype "
                         f"{x.dtype} (divide 8-bit images by 255)")
    x = jnp.asarray(x, jnp.float32)
    _check_finite(x, name)
    return x


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def validate_size(size: Sequence[int], *, minimum: Optional[Size] = None,
                  name: str = "size") -> Size:
    """Check an output size ``(H, W)`` of positive integers, at least ``minimum`` if given.

    Raises:
      ValueError: not a pair of positive integers, or smaller than ``minimum`` in a dimension.
    """
    try:
        h, w = size
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (H, W) of positive integers, got {size!r}") from None
    if not (_is_int(h) and _is_int(w) and h >= 1 and w >= 1):
        raise ValueError(f"{name} must be a pair (H, W) of positive integers, got {size!r}")
    if minimum is not None and (h < minimum[0] or w < minimum[1]):
        raise ValueError(f"{name} {h}x{w} is smaller than the exemplar {minimum[0]}x{minimum[1]}; "
                         "the output must be at least as large as the exemplar in both dimensions")
    return int(h), int(w)


def validate_num(num: Optional[int]) -> Optional[int]:
    """Check a sample count: ``None`` (one unbatched sample) or an integer >= 1."""
    if num is not None and not (_is_int(num) and num >= 1):
        raise ValueError(f"num must be None or an integer >= 1, got {num!r}")
    return None if num is None else int(num)


def _validate_border(border: Optional[int], shape: Size) -> int:
    """Taper width of the spot extension: default ``max(1, min(h, w) // 8)``, at most min/2."""
    top = min(shape) // 2
    if border is None:
        return min(top, max(1, min(shape) // 8))
    if not (_is_int(border) and 0 <= border <= top):
        raise ValueError(f"border must be an integer in [0, {top}] (half the smallest exemplar "
                         f"side), got {border!r}")
    return int(border)


def _validate_grid(a: Array, expected: Size, name: str) -> None:
    if tuple(a.shape) != tuple(expected):
        raise ValueError(f"{name} must have shape {tuple(expected)}, got {tuple(a.shape)}")


# --------------------------------------------------------------------------------------------
# FFT helpers
# --------------------------------------------------------------------------------------------

def _rfft2(x: Array) -> Array:
    return jnp.fft.rfft2(x, axes=_AXES)


def _irfft2(x_hat: Array, size: Size) -> Array:
    return jnp.fft.irfft2(x_hat, s=size, axes=_AXES)


def _mean(x: Array) -> Array:
    return jnp.mean(x, axis=_AXES)


# --------------------------------------------------------------------------------------------
# Statistics of the Gaussian model
# --------------------------------------------------------------------------------------------

def mean_and_autocorrelation(x: Array) -> Tuple[Array, Array]:
    """Channel means and periodic (cross-)autocorrelation of an image.

    ``m[c] = |Omega|^{-1} sum_y x_c(y)`` and, for every lag tau = (i, j) taken modulo (H, W),
    ``C[i, j, c, c'] = |Omega|^{-1} sum_y (x_c(y) - m_c) (x_c'(y + tau) - m_c')``,
    computed as ``C[., ., c, c'] = |Omega|^{-1} IFFT(conj(T_c) T_c')`` with ``T = FFT(x - m)``.
    ``C[0, 0]`` is the channel covariance matrix; ``C[-tau, c, c'] = C[tau, c', c]``.
    The ADSN of ``x`` has covariance ``Cov(X_c(y), X_c'(y')) = C[y' - y, c, c']``.

    Returns: ``m`` of shape ``(C,)`` and ``C`` of shape ``(H, W, C, C)``.
    """
    x = validate_image(x, name="x")
    m = _mean(x)
    t_hat = _rfft2(x - m)
    cross = jnp.conj(t_hat)[..., :, None] * t_hat[..., None, :]
    return m, _irfft2(cross, x.shape[:2]) / (x.shape[0] * x.shape[1])


# --------------------------------------------------------------------------------------------
# Periodic + smooth decomposition (Moisan 2011)
# --------------------------------------------------------------------------------------------

def _boundary_jumps(x: Array) -> Array:
    """``v = Delta_per x - Delta_int x``: the jumps across the periodic borders (zero inside)."""
    row, col = x[-1] - x[0], x[:, -1] - x[:, 0]
    v = jnp.zeros_like(x).at[0].add(row).at[-1].add(-row)
    return v.at[:, 0].add(col).at[:, -1].add(-col)


def _laplacian_symbol(size: Size) -> Array:
    """Fourier symbol of the periodic 5-point laplacian on the rfft2 grid:
    ``2 cos(2 pi q / H) + 2 cos(2 pi r / W) - 4 = -4 sin^2(pi q / H) - 4 sin^2(pi r / W)``."""
    h, w = size
    q = np.arange(h)[:, None] / h
    r = np.arange(w // 2 + 1)[None, :] / w
    return jnp.asarray(-4.0 * (np.sin(np.pi * q) ** 2 + np.sin(np.pi * r) ** 2), jnp.float32)


def _periodic_smooth(x: Array) -> Tuple[Array, Array]:
    size = x.shape[:2]
    symbol = _laplacian_symbol(size)[..., None]
    dc = symbol == 0
    s_hat = jnp.where(dc, 0, _rfft2(_boundary_jumps(x)) / jnp.where(dc, 1, symbol))
    s = _irfft2(s_hat, size)
    return x - s, s


def periodic_smooth_decomposition(x: Array) -> Tuple[Array, Array]:
    """Moisan's periodic + smooth decomposition ``x = p + s`` (per channel).

    ``s`` solves the periodic Poisson problem ``Delta_per s = v`` with zero mean, where
    ``v = Delta_per x - Delta_int x`` holds the intensity jumps across the periodic borders
    (``v(0, j) = x(H-1, j) - x(0, j)``, ``v(H-1, j) = -v(0, j)``, likewise for columns) and
    ``Delta_per``/``Delta_int`` are the 5-point laplacians with periodic / interior-only
    neighbours. In Fourier: ``s_hat(q, r) = v_hat(q, r) / (2 cos(2 pi q/H) + 2 cos(2 pi r/W) - 4)``,
    ``s_hat(0, 0) = 0``. Hence ``s`` is discrete-harmonic at interior pixels, ``mean(s) = 0`` so
    ``mean(p) = mean(x)``, and ``Delta_per p = Delta_int x``. (L. Moisan, JMIV 39(2), 2011.)

    Returns: ``(p, s)``, both shaped like ``x``.
    """
    return _periodic_smooth(validate_image(x, name="x"))


def periodic_component(x: Array) -> Array:
    """The periodic component ``p`` of :func:`periodic_smooth_decomposition` (Moisan 2011)."""
    return periodic_smooth_decomposition(x)[0]


# --------------------------------------------------------------------------------------------
# Spot extension (outputs larger than the exemplar)
# --------------------------------------------------------------------------------------------

def _taper(n: int, b: int) -> np.ndarray:
    """Length-``n`` window: raised-cosine ramps of ``b`` samples at both ends, 1 in between."""
    win = np.ones(n, np.float32)
    if b > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(b) + 0.5) / b)
        win[:b], win[n - b:] = ramp, ramp[::-1]
    return win


def _spot_window(shape: Size, size: Size, border: int) -> Array:
    """Separable window, tapered only along the dimensions that are extended."""
    rows = _taper(shape[0], border if size[0] > shape[0] else 0)
    cols = _taper(shape[1], border if size[1] > shape[1] else 0)
    return jnp.asarray(np.outer(rows, cols)[..., None])


def _spot_extension(x0: Array, size: Size, border: int) -> Array:
    (h, w), m = x0.shape[:2], _mean(x0)
    v = _spot_window((h, w), size, border)
    t = x0 - m
    tv = (t - jnp.sum(t * v, axis=_AXES) / jnp.sum(v)) * v
    num, den = size[0] * size[1] * jnp.sum(t**2, axis=_AXES), h * w * jnp.sum(tv**2, axis=_AXES)
    alpha = jnp.where(den > 0, jnp.sqrt(num / jnp.where(den > 0, den, 1)), 0)
    return m + jnp.zeros(size + (x0.shape[2],), x0.dtype).at[:h, :w].set(alpha * tv)


def spot_extension(x0: Array, size: Sequence[int], *, border: Optional[int] = None) -> Array:
    """Embed an exemplar in a larger mean-valued canvas, keeping the mean and the variance.

    With ``t = x0 - m0`` and a separable raised-cosine window ``v`` (ramps of ``border`` pixels,
    applied only along extended dimensions), the canvas of shape ``size + (C,)`` is
    ``m0 + alpha_c (t_c - k_c) v`` on the exemplar's support (top-left corner) and ``m0`` elsewhere,
    where ``k_c = sum(t_c v) / sum(v)`` makes the windowed spot zero-mean and
    ``alpha_c = sqrt(|Omega'| sum t_c^2 / (|Omega| sum ((t_c - k_c) v)^2))`` restores the channel
    variance. So the canvas has mean ``m0`` and per-channel variance ``var(x0)`` exactly, and the
    ADSN / RPN of the canvas keep the per-pixel mean and variance of the exemplar's model (the
    cross-channel covariance only approximately, as alpha is per channel). A ``size`` equal to the
    exemplar size with no taper returns ``x0``. (Galerne, Gousseau, Morel, IPOL 2011.)

    Args:
      x0: exemplar ``(h, w, C)`` (use its periodic component for best results).
      size: output ``(H, W)`` with ``H >= h`` and ``W >= w``.
      border: taper width in pixels, in ``[0, min(h, w) // 2]``; default ``max(1, min(h, w) // 8)``.

    Raises:
      ValueError: bad image, size smaller than the exemplar, bad border.
    """
    x0 = validate_image(x0, name="x0")
    size = validate_size(size, minimum=x0.shape[:2])
    return _spot_extension(x0, size, _validate_border(border, x0.shape[:2]))


def _prepare_spot(x0: Array, size: Size, periodic: bool, border: int) -> Array:
    base = _periodic_smooth(x0)[0] if periodic else x0
    return base if size == tuple(x0.shape[:2]) else _spot_extension(base, size, border)


def prepare_spot(x0: Array, *, size: Optional[Sequence[int]] = None, periodic: bool = True,
                 border: Optional[int] = None) -> Array:
    """The spot image whose ADSN / RPN :func:`adsn` and :func:`random_phase_noise` sample.

    ``x0``, replaced by its periodic component if ``periodic``, then spot-extended to ``size``
    (:func:`spot_extension`) if ``size`` differs from the exemplar size.
    """
    x0 = validate_image(x0, name="x0")
    shape = tuple(x0.shape[:2])
    size = shape if size is None else validate_size(size, minimum=shape)
    return _prepare_spot(x0, size, periodic, _validate_border(border, shape))


# --------------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------------

def _batched(sample: Callable[[Array], Array], key: Array, num: Optional[int]) -> Array:
    """One sample for ``num=None``, else ``num`` samples from split keys stacked on axis 0."""
    if num is None:
        return sample(key)
    return jax.vmap(sample)(jax.random.split(key, num))


def _adsn_from_noise(noise: Array, spot: Array) -> Array:
    size, m = spot.shape[:2], _mean(spot)
    conv = _irfft2(_rfft2(spot - m) * _rfft2(noise)[..., None], size)
    return m + conv / np.sqrt(size[0] * size[1])


def adsn_from_noise(noise: Array, spot: Array) -> Array:
    """Periodic ADSN of ``spot`` driven by a given noise: ``m + |Omega|^{-1/2} (spot - m) * noise``.

    ``m`` is the channel mean of ``spot``, ``*`` the periodic convolution (by FFT) and the same
    ``(H, W)`` ``noise`` drives every channel. Affine in ``noise``: with standard white Gaussian
    noise the output is N(m, C) with ``C`` from :func:`mean_and_autocorrelation` of ``spot``.
    (Galerne, Gousseau, Morel, IEEE TIP 2011.)
    """
    spot = validate_image(spot, name="spot")
    _validate_grid(noise, spot.shape[:2], "noise")
    return _adsn_from_noise(noise, spot)


def adsn(key: Array, x0: Array, *, size: Optional[Sequence[int]] = None, periodic: bool = True,
         num: Optional[int] = None, border: Optional[int] = None) -> Array:
    """Asymptotic discrete spot noise: an exact sample of the Gaussian model N(m0, C0) of ``x0``.

    ``X = m0 + |Omega|^{-1/2} (x0 - m0) * W``, W standard white Gaussian noise
    (``W = jax.random.normal(key, (H, W))``), the same W for every colour channel, ``*`` the
    periodic convolution. ``x0`` is first replaced by :func:`prepare_spot` (periodic component if
    ``periodic``, spot extension to ``size``). (Galerne, Gousseau, Morel, IEEE TIP 20(1), 2011;
    IPOL 2011.)

    Args:
      key: PRNG key. With ``num``, split into ``num`` keys, one per sample.
      x0: exemplar ``(h, w, C)``, C in {1, 3}.
      size: output ``(H, W) >= (h, w)``; default the exemplar size.
      periodic: use Moisan's periodic component of ``x0`` (removes border artefacts).
      num: ``None`` for one ``(H, W, C)`` sample, else ``num >= 1`` samples ``(num, H, W, C)``
        drawn with ``jax.random.split(key, num)`` (equal to ``jax.vmap`` over those keys).
      border: taper width of the spot extension (see :func:`spot_extension`).

    Raises:
      ValueError: bad image, ``size`` smaller than the exemplar, ``num < 1``, bad ``border``.
    """
    spot = prepare_spot(x0, size=size, periodic=periodic, border=border)
    sample = lambda k: _adsn_from_noise(jax.random.normal(k, spot.shape[:2], spot.dtype), spot)
    return _batched(sample, key, validate_num(num))


def _nonperiodic_from_noise(noise: Array, x0: Array) -> Array:
    (h, w), canvas, m = x0.shape[:2], noise.shape, _mean(x0)
    spot = jnp.zeros(canvas + (x0.shape[2],), x0.dtype).at[:h, :w].set(x0 - m)
    conv = _irfft2(_rfft2(spot) * _rfft2(noise)[..., None], canvas) / np.sqrt(h * w)
    return m + conv[h - 1:, w - 1:]


def adsn_nonperiodic_from_noise(noise: Array, x0: Array) -> Array:
    """Non-periodic ADSN driven by a given noise of shape ``(H + h - 1, W + w - 1)``.

    ``X(y) = m0 + (h w)^{-1/2} sum_z (x0(z) - m0) noise(y + (h-1, w-1) - z)`` for ``y`` in the
    ``(H, W)`` output: the spot is zero-padded to the noise's domain, convolved periodically with
    the noise (FFT), and the part untouched by the wrap-around is cropped. With white Gaussian
    noise, ``Cov(X_c(y), X_c'(y')) = (h w)^{-1} sum_z t_c(z) t_c'(z + y' - y)`` with
    ``t = x0 - m0`` extended by zero: the non-periodic autocorrelation, so there is no periodicity
    assumption and no border artefact. (Galerne, Gousseau, Morel, IEEE TIP 2011.)
    """
    x0 = validate_image(x0, name="x0")
    h, w = x0.shape[:2]
    if noise.ndim != 2 or noise.shape[0] < h or noise.shape[1] < w:
        raise ValueError(f"noise must be 2-D and at least {h}x{w} (output size + exemplar size - 1), "
                         f"got shape {tuple(noise.shape)}")
    return _nonperiodic_from_noise(noise, x0)


def adsn_nonperiodic(key: Array, x0: Array, *, size: Optional[Sequence[int]] = None,
                     num: Optional[int] = None) -> Array:
    """Non-periodic ADSN of ``x0`` (zero-pad, synthesise, crop): see
    :func:`adsn_nonperiodic_from_noise`; ``W = jax.random.normal(key, (H + h - 1, W + w - 1))``.

    ``size`` is the output ``(H, W)`` (default the exemplar size); any positive size is allowed,
    since nothing is extended. ``num`` as in :func:`adsn`. No periodic component is needed.
    """
    x0 = validate_image(x0, name="x0")
    (h, w) = x0.shape[:2]
    out = (h, w) if size is None else validate_size(size)
    canvas = (out[0] + h - 1, out[1] + w - 1)
    sample = lambda k: _nonperiodic_from_noise(jax.random.normal(k, canvas, x0.dtype), x0)
    return _batched(sample, key, validate_num(num))


def _hermitian_column(col: Array) -> Array:
    """Make a column of unit phases Hermitian: ``u(-q) = conj(u(q))``, ``+-1`` where ``q = -q``."""
    h = col.shape[0]
    q = np.arange(h)
    col = jnp.where(q > h // 2, jnp.conj(jnp.roll(col[::-1], 1)), col)
    self_conj = (q == 0) | (2 * q == h)
    return jnp.where(self_conj, jnp.where(col.real < 0, -1.0, 1.0).astype(col.dtype), col)


def random_phase(key: Array, size: Sequence[int]) -> Array:
    """Uniform random phase ``exp(i phi)`` on the ``rfft2`` grid ``(H, W // 2 + 1)``.

    ``phi = angle(FFT(w))`` for real white Gaussian noise ``w = jax.random.normal(key, (H, W))``:
    uniform on [0, 2 pi), independent up to the Hermitian symmetry ``phi(-k) = -phi(k)``, and
    uniform on {0, pi} at the self-conjugate frequencies (Nyquist ones), where it is set to exactly
    ``+-1``; the symmetry is enforced exactly on the columns ``r = 0`` and ``r = W/2`` of the half
    grid. The DC term is exactly 1 so that random phase noise keeps the mean.
    (Galerne, Gousseau, Morel, IEEE TIP 2011.)
    """
    h, w = validate_size(size)
    phase = jnp.exp(1j * jnp.angle(jnp.fft.rfft2(jax.random.normal(key, (h, w)))))
    for r in (0, w // 2) if w % 2 == 0 else (0,):
        phase = phase.at[:, r].set(_hermitian_column(phase[:, r]))
    return phase.at[0, 0].set(1)


def _rpn_from_phase(phase: Array, spot: Array) -> Array:
    m = _mean(spot)
    return m + _irfft2(_rfft2(spot - m) * phase[..., None], spot.shape[:2])


def rpn_from_phase(phase: Array, spot: Array) -> Array:
    """Random phase noise of ``spot`` for a given unit phase ``phase`` (shape ``(H, W//2 + 1)``).

    ``X_c = m_c + IFFT(FFT(spot_c - m_c) . phase)``: the same phase for every channel, so each
    channel keeps its Fourier modulus exactly and the phase differences between channels are kept.
    """
    spot = validate_image(spot, name="spot")
    _validate_grid(phase, (spot.shape[0], spot.shape[1] // 2 + 1), "phase")
    return _rpn_from_phase(phase, spot)


def random_phase_noise(key: Array, x0: Array, *, size: Optional[Sequence[int]] = None,
                       periodic: bool = True, num: Optional[int] = None,
                       border: Optional[int] = None) -> Array:
    """Random phase noise (RPN) of ``x0``: its Fourier modulus with a uniform random phase.

    ``X_hat_c(k) = FFT(x0_c - m0_c)(k) exp(i phi(k))`` for ``k != 0`` and ``X_hat_c(0) = |Omega| m0_c``
    with ``phi`` from :func:`random_phase` (the same for every channel). Every sample has exactly
    the Fourier modulus of the spot, the mean m0 and the empirical variance of the spot; it is real
    because ``phi`` is Hermitian-symmetric. ``x0`` is first replaced by :func:`prepare_spot`
    (periodic component, spot extension); arguments as in :func:`adsn`.
    (Galerne, Gousseau, Morel, IEEE TIP 20(1), 2011; IPOL "Micro-texture synthesis by phase
    randomization", 2011.)
    """
    spot = prepare_spot(x0, size=size, periodic=periodic, border=border)
    sample = lambda k: _rpn_from_phase(random_phase(k, spot.shape[:2]), spot)
    return _batched(sample, key, validate_num(num))


def texton(x0: Array, *, periodic: bool = True) -> Array:
    """The texton: the zero-phase spot, centred (``fftshift``), for visualisation.

    ``t_c = m_c + IFFT(T_c exp(-i psi))`` with ``T = FFT(x0 - m0)`` and ``psi = angle(sum_c T_c)``:
    for a grey image this is ``IFFT(|T|)``; in colour, removing one common phase keeps the
    cross-channel phase differences. The texton has the same mean, autocorrelation and Fourier
    modulus as the spot (``x0`` or its periodic component), so its ADSN / RPN have the same law. Values may leave
    [0, 1] (the energy concentrates at the centre). (Desolneux, Moisan, Ronsin, ICASSP 2012;
    Galerne, Gousseau, Morel 2011.)
    """
    x0 = validate_image(x0, name="x0")
    base = _periodic_smooth(x0)[0] if periodic else x0
    m, t_hat = _mean(base), _rfft2(base - _mean(base))
    unit = jnp.exp(-1j * jnp.angle(jnp.sum(t_hat, axis=-1, keepdims=True)))
    return m + jnp.fft.fftshift(_irfft2(t_hat * unit, base.shape[:2]), axes=_AXES)
