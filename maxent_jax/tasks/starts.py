"""Starting images of the chains: exact Gaussian (ADSN) samples or matched white noise.

* ``adsn``: ADSN samples of the exemplar (Galerne, Gousseau & Morel, IEEE TIP 2011), the
  maximum-entropy model under the exemplar's mean and autocorrelation. ADSN is stationary,
  so a crop of a larger sample has the same law: the sample is drawn at least as large as
  both the exemplar and the output, then cropped to the output size.
* ``noise``: white Gaussian noise with the exemplar's channel means and standard deviations
  (the maximum-entropy law under the first two moments of each channel).
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

from maxent_jax.gaussian import adsn

__all__ = ["STARTS", "adsn_starts", "noise_starts", "starts"]

Array = jax.Array
STARTS = ("adsn", "noise")


def adsn_starts(key: Array, exemplar: Array, size: Sequence[int], num: int) -> Array:
    """``(num, H, W, C)`` ADSN samples of ``exemplar`` at ``size`` = (H, W)."""
    size = tuple(size)
    big = tuple(max(a, b) for a, b in zip(size, exemplar.shape[:2]))
    return adsn(key, exemplar, size=big, num=num)[:, : size[0], : size[1]]


def noise_starts(key: Array, exemplar: Array, size: Sequence[int], num: int) -> Array:
    """``(num, H, W, C)`` white noise with the exemplar's channel means and deviations."""
    mean, std = jnp.mean(exemplar, axis=(0, 1)), jnp.std(exemplar, axis=(0, 1))
    return mean + std * jax.random.normal(key, (num, *tuple(size), exemplar.shape[-1]))


def starts(kind: str, key: Array, exemplar: Array, size: Sequence[int], num: int) -> Array:
    """``adsn_starts`` or ``noise_starts`` by name."""
    if kind == "adsn":
        return adsn_starts(key, exemplar, size, num)
    if kind == "noise":
        return noise_starts(key, exemplar, size, num)
    raise ValueError(f"init must be one of {STARTS}, got {kind!r}")
