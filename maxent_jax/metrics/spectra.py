"""Power spectra: the single-periodogram distance (superseded) and the Welch spectrum
distance against the Gaussian model's spectrum.

Part of :mod:`maxent_jax.metrics` (definitions and references there).
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from maxent_jax.metrics._common import Array, _TINY, _batch, _channels

__all__ = [
    "power_spectrum", "radial_power_spectrum", "power_spectrum_distance", "welch_power_spectrum",
    "model_welch_spectrum", "radial_average", "welch_spectrum_distance"
]


def power_spectrum(image: Array) -> np.ndarray:
    """``|FFT(x - mean)|^2 / (H W)`` per channel, ``(H, W, C)`` (a periodogram; DC is 0)."""
    x = np.asarray(image, np.float64)
    x = x - x.mean(axis=(0, 1))
    return np.abs(np.fft.fft2(x, axes=(0, 1))) ** 2 / (x.shape[0] * x.shape[1])


def radial_power_spectrum(image: Array, num_bins: int) -> np.ndarray:
    """Power spectrum summed over channels, averaged over rings of normalised frequency.

    Bin b holds the frequencies (cycles per pixel) with radius in ``((b) r, (b + 1) r]``,
    ``r = 0.5 / num_bins``; so images of different sizes are compared on the same rings.
    """
    s = power_spectrum(image).sum(-1)
    fy, fx = np.meshgrid(np.fft.fftfreq(s.shape[0]), np.fft.fftfreq(s.shape[1]), indexing="ij")
    radius = np.hypot(fy, fx)
    idx = np.ceil(radius / (0.5 / num_bins)).astype(int) - 1  # DC -> -1, dropped
    keep = (idx >= 0) & (idx < num_bins)
    total = np.bincount(idx[keep], s[keep], minlength=num_bins)
    count = np.bincount(idx[keep], minlength=num_bins)
    return total / np.maximum(count, 1)


def power_spectrum_distance(samples: Array, exemplar: Array,
                            num_bins: Optional[int] = None) -> float:
    """Mean over samples of ``sqrt(mean_b log10(S_X(b) / S_x0(b))^2)``.

    ``num_bins`` defaults to half the exemplar's shorter side (one ring per frequency step).
    """
    x0 = np.asarray(exemplar, np.float64)
    num_bins = num_bins or max(1, min(x0.shape[:2]) // 2)
    s0 = radial_power_spectrum(x0, num_bins) + _TINY
    dists = [np.sqrt(np.mean(np.log10((radial_power_spectrum(x, num_bins) + _TINY) / s0) ** 2))
             for x in _batch(samples)]
    return float(np.mean(dists))


# --- spectrum from averaged periodograms ----------------------------------------------------

def _hann(n: int) -> np.ndarray:
    """Symmetric Hann window of length ``n`` (zero at both ends)."""
    return np.hanning(n) if n > 1 else np.ones(1)


def _segment_starts(n: int, segment: int, step: int) -> np.ndarray:
    return np.arange(0, n - segment + 1, step)


def welch_power_spectrum(samples: Array, segment: int, *, overlap: float = 0.5) -> np.ndarray:
    """Welch estimate ``(L, L)`` of the power spectrum, summed over channels, averaged over
    every segment of every sample.

    Each sample minus its channel means is cut into ``L x L`` segments (``L = segment``,
    start step ``round(L (1 - overlap))``), each multiplied by the separable Hann window w;
    the periodogram of a segment is ``|FFT_L(w (x - m))|^2 / sum w^2`` (so that white noise of
    variance s^2 gives s^2 per channel at every frequency). P. D. Welch, IEEE Trans. Audio
    Electroacoust. 15(2), 1967.
    """
    xs = _batch(samples)
    xs = xs - xs.mean(axis=(1, 2), keepdims=True)
    step = max(1, int(round(segment * (1.0 - overlap))))
    w1 = _hann(segment)
    win = np.outer(w1, w1)[..., None]
    total, count = np.zeros((segment, segment)), 0
    for x in xs:
        for i in _segment_starts(x.shape[0], segment, step):
            for j in _segment_starts(x.shape[1], segment, step):
                seg = x[i:i + segment, j:j + segment] * win
                total += (np.abs(np.fft.fft2(seg, axes=(0, 1))) ** 2).sum(-1)
                count += 1
    if count == 0:
        raise ValueError(f"samples {xs.shape[1:3]} are smaller than the segment {segment}")
    return total / (count * np.sum(win ** 2))


def model_welch_spectrum(exemplar: Array, segment: int) -> np.ndarray:
    """Expectation ``(L, L)`` of :func:`welch_power_spectrum` for exact samples of the Gaussian
    (ADSN) model of the exemplar's periodic component p (Moisan 2011), summed over channels.

    With ``C(tau) = |Omega|^{-1} sum_u t(u) t(u + tau)``, ``t = p - mean(p)`` per channel (the
    ADSN covariance, periodic on the exemplar's grid) and ``A(tau) = sum_u w(u) w(u + tau)`` the
    window's autocorrelation, ``E[periodogram](f) = sum_tau A(tau) C(tau) e^{-2 pi i f.tau} /
    sum w^2`` for the ``L`` Fourier frequencies f of a segment: a noise-free reference.
    """
    from maxent_jax.gaussian import periodic_component

    x0 = np.asarray(exemplar, np.float32)
    h, w = x0.shape[:2]
    if segment > min(h, w):
        raise ValueError(f"segment {segment} is larger than the exemplar {x0.shape[:2]}")
    p = np.asarray(periodic_component(x0), np.float64)
    t = p - p.mean(axis=(0, 1))
    cov = np.real(np.fft.ifft2(np.abs(np.fft.fft2(t, axes=(0, 1))) ** 2, axes=(0, 1)))
    cov = cov.sum(-1) / (h * w)
    w1 = _hann(segment)
    a1 = np.correlate(w1, w1, mode="full")  # lags -(L-1) .. L-1
    lags = np.arange(-(segment - 1), segment)
    prod = np.outer(a1, a1) * cov[np.ix_(lags % h, lags % w)]
    folded = np.zeros((segment, segment))
    np.add.at(folded, (lags[:, None] % segment, lags[None, :] % segment), prod)
    return np.real(np.fft.fft2(folded)) / np.sum(w1 ** 2) ** 2


def radial_average(spectrum: Array, num_bins: Optional[int] = None) -> np.ndarray:
    """Average of an ``(n, n')`` spectrum (FFT layout) over rings of normalised frequency:
    ring b holds radii in ``(b r, (b + 1) r]`` cycles per pixel, ``r = 0.5 / num_bins``
    (default ``min(n, n') // 2``); DC and the corners beyond 0.5 are dropped."""
    s = np.asarray(spectrum, np.float64)
    num_bins = num_bins or max(1, min(s.shape) // 2)
    fy, fx = np.meshgrid(np.fft.fftfreq(s.shape[0]), np.fft.fftfreq(s.shape[1]), indexing="ij")
    idx = np.ceil(np.hypot(fy, fx) / (0.5 / num_bins) - 1e-9).astype(int) - 1
    keep = (idx >= 0) & (idx < num_bins)
    total = np.bincount(idx[keep], s[keep], minlength=num_bins)
    count = np.bincount(idx[keep], minlength=num_bins)
    return total / np.maximum(count, 1)


def welch_spectrum_distance(samples: Array, exemplar: Array, *, segment: Optional[int] = None,
                            overlap: float = 0.5, per_sample: bool = False) -> Any:
    """Mean over radial bins of ``|log10 S_X(b) - log10 S_model(b)|``.

    ``S_X``: :func:`welch_power_spectrum` of the samples (all segments of all samples
    averaged), ``S_model``: :func:`model_welch_spectrum` of the exemplar, both radially
    averaged (:func:`radial_average`, one ring per frequency step 1/L, L/2 rings). Scaling
    ``x - mean`` by a adds exactly ``2 log10 a`` to every log-ratio. Exact ADSN samples score
    only their estimation noise (0.015-0.05 for 8 samples at 64 px, against 0.15-0.30 for
    :func:`power_spectrum_distance`).

    ``segment`` (L) defaults to half the shorter side of samples and exemplar, and at least 8.
    ``per_sample=True``: an array ``(S,)``, each sample's own Welch estimate (noisier).
    Reference: P. D. Welch 1967; L. Moisan, JMIV 39(2), 2011 (periodic component); Galerne,
    Gousseau & Morel, IEEE TIP 2011 (the ADSN model whose spectrum is the reference).
    """
    xs, x0 = _channels(_batch(samples), np.asarray(exemplar, np.float64))
    segment = segment or max(8, min(xs.shape[1:3] + x0.shape[:2]) // 2)
    ref = radial_average(model_welch_spectrum(x0, segment))

    def dist(x):
        est = radial_average(welch_power_spectrum(x, segment, overlap=overlap))
        return float(np.mean(np.abs(np.log10(est + _TINY) - np.log10(ref + _TINY))))

    return np.array([dist(x[None]) for x in xs]) if per_sample else dist(xs)
