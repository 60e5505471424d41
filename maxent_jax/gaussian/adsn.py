"""ADSN, asymptotic discrete spot noise (Galerne, Gousseau & Morel, IEEE TIP 2011):
``X = m0 + |Omega|^{-1/2} (x0 - m0) * W``, W white Gaussian noise on the periodic domain, the
same W for every channel; and non-periodic ADSN (zero-padded spot, larger domain, crop).
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from maxent_jax.gaussian.checks import (Array, _validate_grid, validate_image, validate_num,
                                        validate_size)
from maxent_jax.gaussian.fourier import _irfft2, _mean, _rfft2
from maxent_jax.gaussian.spot import prepare_spot

__all__ = ["adsn_from_noise", "adsn", "adsn_nonperiodic_from_noise", "adsn_nonperiodic"]


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
