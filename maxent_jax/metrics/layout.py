"""Diversity and layout: (normalised) diversity, layout correlation with the exemplar (zero
and best shift) and between chains.

Part of :mod:`maxent_jax.metrics` (definitions and references there).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from maxent_jax.metrics._common import Array, _TINY, _batch, _channels, _contrast, _grey

__all__ = ["diversity", "normalised_diversity", "layout_correlation", "between_chain_correlation"]


def diversity(samples: Array) -> float:
    """Mean over pairs ``i < j`` of ``sqrt(mean (X_i - X_j)^2)``; NaN for one sample."""
    xs = _batch(samples)
    pairs = list(itertools.combinations(range(len(xs)), 2))
    if not pairs:
        return float("nan")
    return float(np.mean([np.sqrt(np.mean((xs[i] - xs[j]) ** 2)) for i, j in pairs]))


# --- diversity and memorisation -------------------------------------------------------------



def normalised_diversity(samples: Array, exemplar: Array, *, per_pair: bool = False) -> Any:
    """Mean over pairs ``i < j`` of ``RMS(X_i - X_j) / (sqrt(2) std(x0))``.

    ``std(x0)`` is the RMS deviation of the exemplar from its channel means. For independent
    samples of a stationary field with the exemplar's means and variance,
    ``E RMS(X_i - X_j)^2 = 2 var``, so the score is about 1 (slightly less: RMS of a finite
    image, Jensen); copies of one image score 0; a contrast change by a scores about a.
    ``per_pair=True``: the array of pair values, in ``itertools.combinations`` order. NaN for
    one sample. (The ratio of the sample's RMS distance to sqrt(2) times the standard deviation
    is the usual normalisation of a variogram at infinite lag.)
    """
    xs, x0 = _channels(_batch(samples), np.asarray(exemplar, np.float64))
    scale = np.sqrt(2.0) * max(_contrast(x0), _TINY)
    vals = np.array([np.sqrt(np.mean((xs[i] - xs[j]) ** 2)) / scale
                     for i, j in itertools.combinations(range(len(xs)), 2)])
    if per_pair:
        return vals
    return float(vals.mean()) if vals.size else float("nan")


# --- layout copying -------------------------------------------------------------------------

def _standardised_grey(x: np.ndarray) -> np.ndarray:
    g = _grey(x)
    g = g - g.mean()
    return g / max(float(np.sqrt(np.mean(g ** 2))), _TINY)


def layout_correlation(samples: Array, exemplar: Array) -> dict[str, np.ndarray]:
    """Normalised correlation of each sample with the exemplar: at zero shift and at the best
    circular shift.

    Both images are made grey (channel mean), cropped to their common size (top-left
    ``min(H, h) x min(W, w)``), their means removed and scaled to unit RMS: a, b. Then
    ``c(tau) = mean_u a(u) b(u + tau)`` (circular, by FFT) is Pearson's correlation of a with
    b shifted by tau. Returns ``{"zero_shift": c(0), "best_shift": max_tau c(tau),
    "shift": argmax (dy, dx)}``, arrays over samples. 1 at zero shift for the exemplar itself,
    1 at the best shift for a circular shift of it; exact ADSN samples give about 0 at zero
    shift and the maximum of ``h w`` correlated noise values at the best shift (their floor).
    A method whose chains end on the exemplar's own layout shows a large zero-shift value.
    """
    xs, x0 = _batch(samples), np.asarray(exemplar, np.float64)
    h, w = min(xs.shape[1], x0.shape[0]), min(xs.shape[2], x0.shape[1])
    b = _standardised_grey(x0[:h, :w])
    b_hat = np.fft.fft2(b)
    zero, best, shift = [], [], []
    for x in xs:
        a = _standardised_grey(x[:h, :w])
        corr = np.real(np.fft.ifft2(np.conj(np.fft.fft2(a)) * b_hat)) / (h * w)
        k = int(np.argmax(corr))
        zero.append(corr[0, 0])
        best.append(corr.flat[k])
        shift.append(np.unravel_index(k, corr.shape))
    return {"zero_shift": np.array(zero), "best_shift": np.array(best),
            "shift": np.array(shift, dtype=int).reshape(-1, 2)}


def between_chain_correlation(samples: Array) -> np.ndarray:
    """Zero-shift normalised correlation (grey, mean removed, unit RMS) of every pair
    ``i < j`` of samples, in ``itertools.combinations`` order: about 0 for independent
    chains, 1 for chains that end on the same image (docs/reference.md §6)."""
    gs = [_standardised_grey(x) for x in _batch(samples)]
    return np.array([float(np.mean(gs[i] * gs[j]))
                     for i, j in itertools.combinations(range(len(gs)), 2)])
