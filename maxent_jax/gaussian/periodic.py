"""Periodic + smooth decomposition x0 = p + s (Moisan, J. Math. Imaging Vision 2011): the
periodic component p removes the cross artefacts that the periodic convolution creates at
the image borders.
"""

from __future__ import annotations

from typing import Tuple

import jax.numpy as jnp
import numpy as np

from maxent_jax.gaussian.checks import Array, Size, validate_image
from maxent_jax.gaussian.fourier import _irfft2, _rfft2

__all__ = ["periodic_smooth_decomposition", "periodic_component"]


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
