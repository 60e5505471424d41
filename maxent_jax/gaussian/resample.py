"""Periodic (Fourier) resampling, and the fine frequencies of a Gaussian texture drawn given
its coarse ones.

**Resampling.** An image on the periodic domain Omega of size (H, W) is a trigonometric
polynomial; :func:`fourier_resample` evaluates the one band-limited to the smaller grid on the
grid of the new size (H', W'): along each axis of N -> M points, with L = min(N, M), the DFT
coefficients of the frequencies |f| < L / 2 are kept, the others are zero, and the
coefficients are scaled by M / N so the channel means are kept. When L is even the
frequency L / 2 is shared: going down, the coefficients of +L/2 and -L/2 are added (the two
alias on the smaller grid); going up, the coefficient is split in halves between +L/2 and
-L/2. So a real image stays real, ``fourier_resample(fourier_resample(x, up), size) == x``
for every upsampling, and ``P = up o down`` is an orthogonal projection (the low-pass of
the smaller grid). The same construction as ``scipy.signal.resample`` (written here for JAX).

**Fine frequencies given coarse ones.** For a stationary Gaussian field on the torus (ADSN,
:func:`maxent_jax.gaussian.adsn`), the DFT coefficients of different frequency pairs {f, -f}
are independent. Given a coarse image x_c of size (h, w) (standing for the low band of a
field of size (H, W)), a field with that low band and the model's high band is

    X = U x_c + (A - U D A),   A ~ the model at (H, W),

with D = :func:`fourier_resample` to (h, w) and U back to (H, W) (:func:`refine`): the low
band of X is exactly U x_c, its high band that of a new draw A, independent of x_c. For the
ADSN model of x0, X is then an exact draw of it conditioned on its low band equal to U x_c
(up to the shared frequency L/2). Coarse-to-fine SOUL (:mod:`maxent_jax.tasks.scales`,
resolution pyramid) uses it to grow chains to the next level with fresh fine detail.
"""

from __future__ import annotations

from typing import Sequence

import jax.numpy as jnp

from maxent_jax.gaussian.checks import Array

__all__ = ["fourier_resample", "refine"]


def _resample_axis(x_hat: Array, m: int, axis: int) -> Array:
    """The DFT ``x_hat`` along ``axis`` (N coefficients) moved to M (module docstring)."""
    n = x_hat.shape[axis]
    if m == n:
        return x_hat
    low = min(n, m)
    pos, neg = low // 2 + 1, (low - 1) // 2  # frequencies 0..low//2 and -neg..-1
    take = lambda a, start, stop: jnp.take(a, jnp.arange(start, stop), axis=axis)  # noqa: E731
    head, tail = take(x_hat, 0, pos), take(x_hat, n - neg, n)
    if low % 2 == 0:
        nyquist = take(head, pos - 1, pos)
        head = take(head, 0, pos - 1)
        if m < n:  # +L/2 and -L/2 alias: one coefficient
            shared = [nyquist + take(x_hat, n - low // 2, n - low // 2 + 1)]
            middle, tail_front = shared, []
        else:  # split in halves between +L/2 and -L/2
            middle, tail_front = [0.5 * nyquist], [0.5 * nyquist]
    else:
        middle, tail_front = [], []
    zeros_shape = list(x_hat.shape)
    zeros_shape[axis] = m - n - len(tail_front)  # up: the frequencies new to the grid
    gap = [jnp.zeros(zeros_shape, x_hat.dtype)] if m > n else []
    parts = [head] + middle + gap + tail_front + [tail]
    return jnp.concatenate(parts, axis=axis) * (m / n)


def fourier_resample(x: Array, size: Sequence[int]) -> Array:
    """``(..., H, W, C)`` images resampled to ``(..., H', W', C)`` on the periodic domain
    (module docstring): channel means kept, real images stay real, an upsampled image
    resampled back is the image."""
    x = jnp.asarray(x)
    h, w = int(size[0]), int(size[1])
    if x.shape[-3:-1] == (h, w):
        return x
    x_hat = jnp.fft.fft2(x, axes=(-3, -2))
    x_hat = _resample_axis(_resample_axis(x_hat, h, x.ndim - 3), w, x.ndim - 2)
    return jnp.real(jnp.fft.ifft2(x_hat, axes=(-3, -2))).astype(x.dtype)


def refine(coarse: Array, fresh: Array) -> Array:
    """``U coarse + (fresh - U D fresh)``: the low band of ``coarse`` upsampled to the size
    of ``fresh`` (``(..., H, W, C)``, a new draw of the model there), its high band that of
    ``fresh`` (module docstring)."""
    size = fresh.shape[-3:-1]
    small = coarse.shape[-3:-1]
    return (fourier_resample(coarse, size)
            + fresh - fourier_resample(fourier_resample(fresh, small), size))
