"""The spot of the Gaussian model and its extension to outputs larger than the exemplar: the
windowed, rescaled spot embedded in a mean-valued canvas (Galerne, Gousseau & Morel, IPOL
2011).
"""

from __future__ import annotations

from typing import Optional, Sequence

import jax.numpy as jnp
import numpy as np

from maxent_jax.gaussian.checks import Array, Size, _validate_border, validate_image, validate_size
from maxent_jax.gaussian.fourier import _AXES, _mean
from maxent_jax.gaussian.periodic import _periodic_smooth

__all__ = ["spot_extension", "prepare_spot"]


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
