"""Validation of the Gaussian models' inputs: images, sizes, sample counts, borders.

Shapes are static; the NaN/inf check only runs on concrete arrays (it is skipped on tracers,
inside ``jit``/``vmap``). See :mod:`maxent_jax.gaussian` for the conventions.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np


Array = jax.Array
Size = Tuple[int, int]

__all__ = ["Array", "Size", "validate_image", "validate_size", "validate_num"]


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
