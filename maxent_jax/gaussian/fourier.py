"""Real FFTs on the image axes and the Gaussian model's statistics: the mean and the
periodic autocorrelation of an exemplar (:func:`mean_and_autocorrelation`).
"""

from __future__ import annotations

from typing import Tuple

import jax.numpy as jnp

from maxent_jax.gaussian.checks import Array, Size, validate_image

_AXES = (0, 1)

__all__ = ["mean_and_autocorrelation"]


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
