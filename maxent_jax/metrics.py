"""Texture-synthesis metrics: feature and Gram gaps, spectra, colours, diversity, memorisation.

Each function compares samples ``(S, H, W, C)`` (or one ``(H, W, C)`` image) with the exemplar
``x0`` ``(h, w, c)``, all in ``[0, 1]`` pixel units; samples may be larger than the exemplar
wherever the metric allows it. These are evaluation functions: they take and return concrete
arrays (numpy floats), and are not meant to be traced. Lower is closer to the exemplar for every
metric except ``diversity`` (higher: more varied samples) and ``memorisation``'s distance
(higher: fewer verbatim copies).

* **Feature gap** (per layer l): ``||mean_s F_l(X_s) - F_l(x0)|| / ||F_l(x0)||``, the
  macrocanonical constraint E[F(X)] = F(x0) (De Bortoli et al., SIMODS 2021), and its
  per-sample version ``mean_s ||F_l(X_s) - F_l(x0)|| / ||F_l(x0)||``, the microcanonical one.
* **Gram gap** (per layer l): ``mean_s ||G_l(X_s) - G_l(x0)||_F / ||G_l(x0)||_F`` with
  G_l = phi_l phi_l^T / M_l (Gatys, Ecker & Bethge, NeurIPS 2015).
* **Power-spectrum distance**: RMS over radial frequency bins of ``log10(S_X / S_x0)``, S the
  radially averaged power spectrum |FFT(x - mean)|^2 / (H W) summed over channels. Scaling
  ``x - mean`` by a gives exactly ``|2 log10 a|``; random phase noise (Galerne, Gousseau &
  Morel 2011) keeps |FFT| and so gives 0.
* **Colour histogram distance**: the earth mover's (Wasserstein-1) distance between the
  per-channel histograms of pixel values, computed exactly from quantiles, averaged over
  channels. Shifting every value by c gives c; permuting pixels gives 0.
* **Diversity**: mean over pairs of samples of the RMS pixel difference.
* **Memorisation**: for every ``patch x patch`` patch of a sample (stride ``stride``), the RMS
  distance to its nearest exemplar patch (stride 1); the mean of those distances, and the
  fraction of patches closer than ``threshold`` (near-verbatim copies).
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Mapping, Optional

import numpy as np

from maxent_jax.nn.features import gram_matrices

__all__ = [
    "relative_gap",
    "feature_gap",
    "gram_gap",
    "power_spectrum",
    "radial_power_spectrum",
    "power_spectrum_distance",
    "colour_histogram_distance",
    "diversity",
    "extract_patches",
    "nearest_patch_distances",
    "memorisation",
    "evaluate",
]

Array = Any  # numpy or jax array
_TINY = 1e-12


def _batch(samples: Array) -> np.ndarray:
    """``(H, W, C)`` or ``(S, H, W, C)`` -> float64 ``(S, H, W, C)``."""
    x = np.asarray(samples, np.float64)
    return x[None] if x.ndim == 3 else x


def _match_channels(x: np.ndarray, c: int) -> np.ndarray:
    """Broadcast a grey ``(..., 1)`` array to ``c`` channels (colour vs grey comparisons)."""
    return np.broadcast_to(x, x.shape[:-1] + (c,)) if x.shape[-1] == 1 else x


def relative_gap(value: Array, target: Array) -> float:
    """``||value - target|| / ||target||`` (Euclidean / Frobenius norms)."""
    value, target = np.asarray(value, np.float64), np.asarray(target, np.float64)
    return float(np.linalg.norm(value - target) / max(np.linalg.norm(target), _TINY))


def feature_gap(feature_fn: Callable[[Array], Array], samples: Array, exemplar: Array,
                blocks: Optional[Mapping[str, slice]] = None, *,
                of_mean: bool = True) -> dict[str, float]:
    """Relative feature gap per block (layer) and over all features (key ``"all"``).

    ``feature_fn`` maps one image to the flat F(x) (e.g. ``features.make_feature_fn``);
    ``blocks`` is ``features.layer_slices(spec)``. ``of_mean=True``: gap of the sample mean
    of F (the expectation constraint); ``False``: mean over samples of each sample's gap.
    """
    f0 = np.asarray(feature_fn(np.asarray(exemplar, np.float32)))
    fx = np.stack([np.asarray(feature_fn(x)) for x in _batch(samples).astype(np.float32)])
    blocks = dict(blocks or {}) | {"all": slice(None)}
    if of_mean:
        return {k: relative_gap(fx.mean(0)[sl], f0[sl]) for k, sl in blocks.items()}
    return {k: float(np.mean([relative_gap(f[sl], f0[sl]) for f in fx]))
            for k, sl in blocks.items()}


def _gram_gaps(acts: Mapping[str, Array], acts0: Mapping[str, Array]) -> dict[str, tuple]:
    g, g0 = gram_matrices(acts), gram_matrices(acts0)
    return {k: (float(np.sum((np.asarray(g[k]) - np.asarray(g0[k])) ** 2)),
                float(np.sum(np.asarray(g0[k]) ** 2))) for k in g0}


def gram_gap(activation_fn: Callable[[Array], Mapping[str, Array]], samples: Array,
             exemplar: Array) -> dict[str, float]:
    """Mean over samples of ``||G_l(X) - G_l(x0)||_F / ||G_l(x0)||_F`` per layer, and ``"all"``.

    ``activation_fn`` maps one ``(H, W, C)`` image to ``{layer: (h, w, c_l)}`` activations, e.g.
    ``functools.partial(features.vgg_for(spec).apply, variables)``. ``"all"`` pools the
    squared norms of every layer before taking the ratio.
    """
    acts0 = activation_fn(np.asarray(exemplar, np.float32))
    per = [_gram_gaps(activation_fn(x), acts0) for x in _batch(samples).astype(np.float32)]
    out = {k: float(np.mean([np.sqrt(p[k][0] / max(p[k][1], _TINY)) for p in per]))
           for k in acts0}
    out["all"] = float(np.mean([np.sqrt(sum(v[0] for v in p.values())
                                        / max(sum(v[1] for v in p.values()), _TINY))
                                for p in per]))
    return out


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


def diversity(samples: Array) -> float:
    """Mean over pairs ``i < j`` of ``sqrt(mean (X_i - X_j)^2)``; NaN for one sample."""
    xs = _batch(samples)
    pairs = list(itertools.combinations(range(len(xs)), 2))
    if not pairs:
        return float("nan")
    return float(np.mean([np.sqrt(np.mean((xs[i] - xs[j]) ** 2)) for i, j in pairs]))


def extract_patches(image: Array, patch: int, stride: int = 1) -> np.ndarray:
    """All ``patch x patch`` patches of ``(H, W, C)`` at ``stride``, flattened: ``(n, p*p*C)``."""
    x = np.asarray(image, np.float64)
    win = np.lib.stride_tricks.sliding_window_view(x, (patch, patch), axis=(0, 1))
    win = win[::stride, ::stride]  # (nh, nw, C, patch, patch)
    flat = np.ascontiguousarray(win.transpose(0, 1, 3, 4, 2))
    return flat.reshape(-1, patch * patch * x.shape[-1])


def nearest_patch_distances(image: Array, exemplar: Array, *, patch: int = 8, stride: int = 4,
                            chunk: int = 512) -> np.ndarray:
    """RMS distance of every patch of ``image`` (stride ``stride``) to its nearest exemplar
    patch (stride 1), by ``|a|^2 + |b|^2 - 2 a.b`` in chunks of ``chunk`` query patches."""
    x0 = np.asarray(exemplar, np.float64)
    x = _match_channels(np.asarray(image, np.float64), x0.shape[-1])
    x0 = _match_channels(x0, x.shape[-1])
    ref, query = extract_patches(x0, patch, 1), extract_patches(x, patch, stride)
    ref_sq = np.sum(ref**2, axis=1)
    best = [np.min(np.sum(q**2, 1)[:, None] + ref_sq[None] - 2 * q @ ref.T, axis=1)
            for q in np.array_split(query, max(1, -(-len(query) // chunk)))]
    return np.sqrt(np.maximum(np.concatenate(best), 0.0) / ref.shape[1])


def memorisation(samples: Array, exemplar: Array, *, patch: int = 8, stride: int = 4,
                 threshold: float = 0.02) -> dict[str, float]:
    """``{"nearest_patch_distance": mean RMS distance, "copied_fraction": share < threshold}``.

    ``threshold`` is an RMS distance in pixel units (0.02 ≈ 5 / 255: a copy up to
    quantisation noise).
    """
    d = np.concatenate([nearest_patch_distances(x, exemplar, patch=patch, stride=stride)
                        for x in _batch(samples)])
    return {"nearest_patch_distance": float(d.mean()),
            "copied_fraction": float(np.mean(d < threshold))}


def evaluate(samples: Array, exemplar: Array, *, feature_fn: Optional[Callable] = None,
             blocks: Optional[Mapping[str, slice]] = None,
             activation_fn: Optional[Callable] = None, patch: int = 8,
             threshold: float = 0.02) -> dict[str, Any]:
    """Every metric above in one dict (the network ones only if their functions are given)."""
    out: dict[str, Any] = {
        "power_spectrum_distance": power_spectrum_distance(samples, exemplar),
        "colour_histogram_distance": colour_histogram_distance(samples, exemplar),
        "diversity": diversity(samples),
        **memorisation(samples, exemplar, patch=patch, threshold=threshold),
    }
    if feature_fn is not None:
        out["feature_gap"] = feature_gap(feature_fn, samples, exemplar, blocks)
        out["feature_gap_per_sample"] = feature_gap(feature_fn, samples, exemplar, blocks,
                                                    of_mean=False)
    if activation_fn is not None:
        out["gram_gap"] = gram_gap(activation_fn, samples, exemplar)
    return out

