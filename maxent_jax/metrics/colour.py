"""Colour histograms: the exact per-channel Wasserstein-1 distance.

Part of :mod:`maxent_jax.metrics` (definitions and references there).
"""

from __future__ import annotations


import numpy as np

from maxent_jax.metrics._common import Array, _batch, _match_channels

__all__ = ["colour_histogram_distance"]


def _wasserstein1(a: np.ndarray, b: np.ndarray) -> float:
    """Exact W1 between two empirical 1-D distributions, via quantile functions."""
    levels = np.sort(np.unique(np.concatenate([np.arange(1, a.size + 1) / a.size,
                                               np.arange(1, b.size + 1) / b.size])))
    widths = np.diff(np.concatenate([[0.0], levels]))
    mids = levels - widths / 2
    qa = np.quantile(a, mids, method="inverted_cdf")
    qb = np.quantile(b, mids, method="inverted_cdf")
    return float(np.sum(widths * np.abs(qa - qb)))


def colour_histogram_distance(samples: Array, exemplar: Array) -> float:
    """Mean over samples and channels of the W1 distance between value histograms."""
    x0 = np.asarray(exemplar, np.float64)
    xs = _batch(samples)
    c = max(x0.shape[-1], xs.shape[-1])
    x0, xs = _match_channels(x0, c), _match_channels(xs, c)
    return float(np.mean([_wasserstein1(x[..., k].ravel(), x0[..., k].ravel())
                          for x in xs for k in range(c)]))
