"""Texture-synthesis metrics: feature and Gram gaps, spectra, colours, diversity, memorisation.

Each function compares samples ``(S, H, W, C)`` (or one ``(H, W, C)`` image) with the exemplar
``x0`` ``(h, w, c)``, all in ``[0, 1]`` pixel units; samples may be larger than the exemplar
wherever the metric allows it. These are evaluation functions: they take and return concrete
arrays (numpy floats), and are not meant to be traced. Definitions, references and floors:
``docs/comparison/metrics_definitions.md`` (``docs/comparison/metrics.md`` is the table that
``scripts/compare.py`` writes).

**Metrics that no method of the library optimises** (the ones the comparison table uses):

* :func:`patch_sliced_wasserstein`: multi-scale patch sliced-Wasserstein distance (lower is
  closer; 0 for the exemplar against itself).
* :func:`welch_spectrum_distance`: mean over radial bins of ``|log10 S_X - log10 S_model|``,
  S_X a Welch estimate (Hann-windowed, overlapping segments, averaged over every segment of
  every sample), S_model the expectation of the same estimate under the Gaussian model of the
  exemplar's periodic component (what exact ADSN samples estimate). Lower is closer.
* :func:`normalised_diversity`: mean pairwise RMS distance / (sqrt(2) std(x0)); about 1 for
  independent samples with the exemplar's contrast, 0 for copies of one image.
* :func:`copied_patch_fraction`: share of sample patches whose nearest exemplar patch (any
  position, periodic wrap) explains all but ``threshold`` of their variance: memorisation.
* :func:`layout_correlation` and :func:`between_chain_correlation`: normalised correlation of
  each sample with the exemplar (zero and best circular shift), and between samples.
* :func:`held_out_gaps`: VGG channel-mean / Gram gaps restricted to the statistics a method
  does not constrain (:data:`CONSTRAINED_STATISTICS`).
* Floors and intervals: :func:`real_crops`, :func:`floor` (a perfect method's score: disjoint
  crops of the same real texture; and exact ADSN samples), :func:`bootstrap_interval`,
  :func:`stratified_bootstrap_interval` (the mean over exemplars of per-sample values).

**Earlier metrics** (kept for ``scripts/compare.py``; superseded where noted). Lower is closer
for each except ``diversity`` and ``memorisation``'s distance.

* **Feature gap** (per layer l): ``||mean_s F_l(X_s) - F_l(x0)|| / ||F_l(x0)||``, the
  macrocanonical constraint E[F(X)] = F(x0) (De Bortoli et al., SIMODS 2021), and its
  per-sample version ``mean_s ||F_l(X_s) - F_l(x0)|| / ||F_l(x0)||``, the microcanonical one.
  With the ``full`` preset it is exactly what the microcanonical baseline minimises; use
  :func:`held_out_gaps` to compare methods.
* **Gram gap** (per layer l): ``mean_s ||G_l(X_s) - G_l(x0)||_F / ||G_l(x0)||_F`` with
  G_l = phi_l phi_l^T / M_l (Gatys, Ecker & Bethge, NeurIPS 2015). On Gatys' layers it is
  exactly Gatys' loss; use :func:`held_out_gaps`.
* **Power-spectrum distance** (superseded by :func:`welch_spectrum_distance`: a single
  periodogram per sample is mostly estimation noise, exact ADSN samples score about 0.17):
  RMS over radial frequency bins of ``log10(S_X / S_x0)``, S the radially averaged power
  spectrum |FFT(x - mean)|^2 / (H W) summed over channels. Scaling ``x - mean`` by a gives
  exactly ``|2 log10 a|``; random phase noise (Galerne, Gousseau & Morel 2011) keeps |FFT|
  and so gives 0.
* **Colour histogram distance**: the earth mover's (Wasserstein-1) distance between the
  per-channel histograms of pixel values, computed exactly from quantiles, averaged over
  channels. Shifting every value by c gives c; permuting pixels gives 0.
* **Diversity** (superseded by :func:`normalised_diversity`: unnormalised, it measures the
  samples' contrast): mean over pairs of samples of the RMS pixel difference.
* **Memorisation**: for every ``patch x patch`` patch of a sample (stride ``stride``), the RMS
  distance to its nearest exemplar patch (stride 1); the mean of those distances (deprecated
  as a score: a larger distance is not "fewer copies", white noise scores higher than exact
  Gaussian samples; it only measures infidelity), and the fraction of patches closer than
  ``threshold`` (near-verbatim copies; see :func:`copied_patch_fraction` for the version
  relative to the patch variance and with periodic wrap).
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Mapping, NamedTuple, Optional, Sequence

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
    "pyramid_down",
    "pyramid_up",
    "image_pyramid",
    "patch_sliced_wasserstein",
    "welch_power_spectrum",
    "model_welch_spectrum",
    "radial_average",
    "welch_spectrum_distance",
    "normalised_diversity",
    "relative_nearest_patch_distances",
    "copied_patch_fraction",
    "layout_correlation",
    "between_chain_correlation",
    "CONSTRAINED_STATISTICS",
    "held_out_gaps",
    "real_crops",
    "floor",
    "Interval",
    "bootstrap_interval",
    "stratified_bootstrap_interval",
    "texture_metrics",
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



# ============================================================================================
# Metrics that no method of the library optimises (issue 14)
# ============================================================================================

def _grey(x: np.ndarray) -> np.ndarray:
    """``(..., H, W, C)`` -> ``(..., H, W)``: the mean over channels."""
    return x.mean(-1)


def _channels(xs: np.ndarray, x0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bring samples and exemplar to the same number of channels (grey broadcast to colour)."""
    c = max(xs.shape[-1], x0.shape[-1])
    return _match_channels(xs, c), _match_channels(x0, c)


# --- multi-scale patch sliced Wasserstein ---------------------------------------------------

_BINOMIAL = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _binomial_blur(x: np.ndarray) -> np.ndarray:
    """Separable [1 4 6 4 1]/16 blur of ``(S, H, W, C)`` with reflected borders."""
    h, w = x.shape[1:3]
    mode = "reflect" if min(h, w) > 2 else "edge"
    x = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), mode=mode)
    x = sum(k * x[:, i:i + h] for i, k in enumerate(_BINOMIAL))
    return sum(k * x[:, :, i:i + w] for i, k in enumerate(_BINOMIAL))


def pyramid_down(images: Array) -> np.ndarray:
    """One Gaussian-pyramid step of ``(S, H, W, C)``: separable binomial blur [1 4 6 4 1]/16
    with reflected borders, then every other pixel (Burt & Adelson 1983)."""
    return _binomial_blur(_batch(images))[:, ::2, ::2]


def pyramid_up(images: Array, shape: Sequence[int]) -> np.ndarray:
    """Burt & Adelson's expand: zeros between the pixels, binomial blur times 4, cropped to
    ``shape`` ``(H, W)``; ``pyramid_up(pyramid_down(x))`` is a low-pass copy of x."""
    x = _batch(images)
    up = np.zeros((x.shape[0], 2 * x.shape[1], 2 * x.shape[2], x.shape[3]))
    up[:, ::2, ::2] = x
    return 4.0 * _binomial_blur(up)[:, :shape[0], :shape[1]]


def image_pyramid(images: Array, levels: int, kind: str = "laplacian") -> list[np.ndarray]:
    """``levels`` levels of ``(S, H, W, C)`` images, finest first.

    ``"gaussian"``: G_0 = x, G_{l+1} = down(G_l). ``"laplacian"``: the band-pass levels
    L_l = G_l - up(G_{l+1}) for l < levels - 1, then the low-pass residual G_{levels-1}
    (Burt & Adelson, IEEE Trans. Commun. 31(4), 1983); they sum back to x."""
    if kind not in ("gaussian", "laplacian"):
        raise ValueError(f"unknown pyramid {kind!r}; use 'gaussian' or 'laplacian'")
    gauss = [_batch(images)]
    for _ in range(levels - 1):
        gauss.append(pyramid_down(gauss[-1]))
    if kind == "gaussian":
        return gauss
    bands = [g - pyramid_up(g_next, g.shape[1:3]) for g, g_next in zip(gauss, gauss[1:])]
    return bands + [gauss[-1]]


def _sorted_projections(images: np.ndarray, directions: np.ndarray, patch: int,
                        max_patches: Optional[int], rng: np.random.Generator) -> np.ndarray:
    """Every ``patch x patch`` patch of every image, projected on ``directions`` (d, D) and
    sorted along the patch axis; at most ``max_patches`` patches (a random subset) in all."""
    per_image = None if max_patches is None else -(-max_patches // len(images))
    out = []
    for x in images:
        p = extract_patches(x, patch, 1).astype(np.float32)
        if per_image is not None and len(p) > per_image:
            p = p[rng.choice(len(p), per_image, replace=False)]
        out.append(p @ directions)
    return np.sort(np.concatenate(out), axis=0)


def _sliced_distance(a: np.ndarray, b: np.ndarray, order: int) -> float:
    """``(mean_theta W_p(a_theta, b_theta)^p)^(1/p)`` from sorted projections (n_a, D), (n_b, D).

    Exact for empirical measures of different sizes: ``W_p^p = int_0^1 |Qa(t) - Qb(t)|^p dt``
    with the step quantile functions, integrated over the union of their breakpoints
    ``i / n_a`` and ``j / n_b``."""
    na, nb = len(a), len(b)
    if na == nb:
        diff = a.astype(np.float64) - b.astype(np.float64)
        return float(np.mean(np.abs(diff) ** order) ** (1.0 / order))
    # the breakpoints i / na and j / nb, in units of 1 / (na nb) so that they merge exactly
    t = np.union1d(np.arange(1, na + 1) * nb, np.arange(1, nb + 1) * na)
    steps = np.diff(np.concatenate([[0], t]))
    mids2 = 2 * t - steps  # twice the midpoint of each interval
    ia = np.minimum(mids2 // (2 * nb), na - 1)
    ib = np.minimum(mids2 // (2 * na), nb - 1)
    widths = steps / (na * nb)
    total = 0.0
    for k in range(0, a.shape[1], 32):  # chunks of directions bound the memory
        diff = a[ia, k:k + 32].astype(np.float64) - b[ib, k:k + 32].astype(np.float64)
        total += float(np.sum(widths @ np.abs(diff) ** order))
    return (total / a.shape[1]) ** (1.0 / order)


def patch_sliced_wasserstein(samples: Array, exemplar: Array, *, levels: int = 3, patch: int = 7,
                             directions: int = 256, seed: int = 0, order: int = 2,
                             pyramid: str = "laplacian", normalise: bool = True,
                             max_patches: Optional[int] = 65536,
                             per_sample: bool = False) -> Any:
    """Multi-scale patch sliced-Wasserstein distance between the samples and the exemplar.

    Definition. Decompose samples and exemplar into ``levels`` pyramid levels
    (:func:`image_pyramid`: Laplacian band-pass levels and the low-pass residual by default,
    or Gaussian levels). At level l, take every ``patch x patch`` patch, channels included
    (``d = patch^2 C`` values), of all samples (pooled: the samples' patch distribution) and
    of the exemplar. Draw ``directions`` unit vectors theta_k uniformly on the sphere of R^d
    (``numpy.random.default_rng(seed)``, the same for every level, call and method); project
    every patch on each; between the two 1-D empirical distributions of projections take the
    Wasserstein-``order`` distance, from the sorted projections (the step quantile functions,
    matched exactly on the union of their breakpoints when the counts differ):

        SW_l = ( mean_k W_order(<P_X, theta_k>, <P_x0, theta_k>)^order )^(1/order),
        PSW  = mean_l SW_l / s_l,   s_l = ( mean_k Var<P_x0, theta_k> )^(1/2)

    with ``normalise=True`` (each level relative to the exemplar's spread at that level, so
    that the fine bands, small in pixel units, weigh as much as the coarse ones; a contrast
    change x -> m + a (x - m) gives about |1 - a|), or ``s_l = 1`` (pixel units).

    0 for the exemplar against itself (any seed); blur, contrast change and shuffled blocks
    raise it. Two finite samples of patches of one texture are at a nonzero distance: read
    the value beside :func:`floor`.

    ``max_patches``: at most this many patches per side and level (a seeded random subset;
    quantiles from 65536 points are accurate to well under 1 %), to bound memory at 256 px.
    ``per_sample=True``: an array ``(S,)``, each sample alone against the exemplar (for
    :func:`bootstrap_interval`); otherwise one float for the pooled samples.

    References: J. Rabin, G. Peyré, J. Delon, M. Bernot, "Wasserstein barycenter and its
    application to texture mixing", SSVM 2011 (sliced Wasserstein distance); E. Heitz,
    K. Vanhoey, T. Chambon, L. Belcour, "A sliced Wasserstein loss for neural texture
    synthesis", CVPR 2021; P. Burt, E. Adelson, "The Laplacian pyramid as a compact image
    code", IEEE Trans. Commun. 31(4), 1983.
    """
    options = dict(levels=levels, patch=patch, directions=directions, seed=seed, order=order,
                   pyramid=pyramid, normalise=normalise, max_patches=max_patches)
    xs, x0 = _channels(_batch(samples), _batch(exemplar))
    if len(xs) == 0:
        raise ValueError("no samples")
    if per_sample:
        return np.array([patch_sliced_wasserstein(x, x0[0], **options) for x in xs])
    d = patch * patch * xs.shape[-1]
    theta = np.random.default_rng(seed).standard_normal((d, directions))
    theta = (theta / np.linalg.norm(theta, axis=0)).astype(np.float32)
    rng = np.random.default_rng(seed + 1)
    dists = []
    for level, (ys, y0) in enumerate(zip(image_pyramid(xs, levels, pyramid),
                                         image_pyramid(x0, levels, pyramid))):
        if min(ys.shape[1:3] + y0.shape[1:3]) < patch:
            raise ValueError(f"level {level} is smaller than the {patch} px patch: "
                             f"samples {ys.shape[1:3]}, exemplar {y0.shape[1:3]}; "
                             "use fewer levels or a smaller patch")
        a = _sorted_projections(ys, theta, patch, max_patches, rng)
        b = _sorted_projections(y0, theta, patch, max_patches, rng)
        scale = np.sqrt(np.mean(np.var(b.astype(np.float64), axis=0))) if normalise else 1.0
        dists.append(_sliced_distance(a, b, order) / max(scale, _TINY))
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


# --- diversity and memorisation -------------------------------------------------------------

def _contrast(x0: np.ndarray) -> float:
    """RMS deviation of the exemplar from its channel means (pixels and channels pooled)."""
    return float(np.sqrt(np.mean((x0 - x0.mean(axis=(0, 1))) ** 2)))


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


def relative_nearest_patch_distances(image: Array, exemplar: Array, *, patch: int = 8,
                                     stride: int = 4, var_floor: float = 0.05,
                                     chunk: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Nearest and second-nearest exemplar patch of every patch of ``image``, relative to the
    patch's variance.

    For every ``patch x patch`` patch q of ``image`` (stride ``stride``; grey and colour are
    matched by broadcasting), r ranges over the exemplar's patches at every position with
    periodic wrap (h w of them). Returns ``(rho1, rho2)``, arrays over the patches:

        rho1(q) = min_r mean((q - r)^2) / v(q),   v(q) = max(var(q), var_floor var(x0)),
        rho2(q) = the same minimum over the positions that do not overlap the best one
                  (circular offset >= patch along some axis).

    rho1 = 0 for a verbatim (possibly circularly shifted) copy, about 2 for a patch unrelated
    to every exemplar patch; ``var_floor`` keeps flat patches from looking like copies because
    of their tiny variance. rho2 tells a copy of one place (rho1 << rho2) from a generic patch
    that many places match about equally well (smooth or periodic content: rho1 ~ rho2)."""
    x0 = np.asarray(exemplar, np.float64)
    x, x0 = _channels(np.asarray(image, np.float64)[None], x0)
    h, w = x0.shape[:2]
    wrapped = np.pad(x0, ((0, patch - 1), (0, patch - 1), (0, 0)), mode="wrap")
    ref = extract_patches(wrapped, patch, 1).astype(np.float32)  # position (i, j) -> i w + j
    query = extract_patches(x[0], patch, stride)
    ref_sq = np.sum(ref.astype(np.float64) ** 2, axis=1)
    rows, cols = np.divmod(np.arange(h * w), w)
    d1, d2 = [], []
    for q in np.array_split(query, max(1, -(-len(query) // chunk))):
        d = (np.sum(q ** 2, 1)[:, None] + ref_sq[None]
             - 2.0 * (q.astype(np.float32) @ ref.T).astype(np.float64))
        k = np.argmin(d, axis=1)
        dy = np.abs(rows[None] - rows[k][:, None])
        dx = np.abs(cols[None] - cols[k][:, None])
        near = (np.minimum(dy, h - dy) < patch) & (np.minimum(dx, w - dx) < patch)
        d1.append(d[np.arange(len(q)), k])
        d2.append(np.where(near, np.inf, d).min(axis=1))
    scale = ref.shape[1] * np.maximum(np.var(query, axis=1),
                                      var_floor * _contrast(x0) ** 2 + _TINY)
    return (np.maximum(np.concatenate(d1), 0.0) / scale,
            np.maximum(np.concatenate(d2), 0.0) / scale)


def copied_patch_fraction(samples: Array, exemplar: Array, *, patch: int = 8, stride: int = 4,
                          threshold: float = 0.05, ratio: float = 0.5, var_floor: float = 0.05,
                          per_sample: bool = False) -> Any:
    """Share of sample patches that copy one place of the exemplar:
    ``rho1 < threshold`` and ``rho1 < ratio * rho2`` (:func:`relative_nearest_patch_distances`).

    That is, the nearest exemplar patch (any position, periodic wrap) leaves less than
    ``threshold`` of the patch's variance unexplained (0.05: a correlation above about 0.97 at
    equal contrast), and it is a distinctly better match than any patch that does not overlap
    it (``ratio``, the nearest-neighbour distance-ratio test of D. Lowe, IJCV 60(2), 2004), so
    that smooth, flat or strictly periodic content, which many places match equally well, is
    not counted as a copy.

    The memorisation signal: about 1 for a crop or circular shift of the exemplar, about 0 for
    exact ADSN samples; disjoint crops of the same real texture give the floor. Unlike the
    nearest-patch distance of :func:`memorisation`, poorer fidelity never lowers it by itself.
    ``per_sample=True``: an array ``(S,)``.
    """
    vals = []
    for x in _batch(samples):
        rho1, rho2 = relative_nearest_patch_distances(x, exemplar, patch=patch, stride=stride,
                                                      var_floor=var_floor)
        vals.append(np.mean((rho1 < threshold) & (rho1 < ratio * rho2)))
    return np.array(vals) if per_sample else float(np.mean(vals))


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


# --- VGG statistics held out per method -----------------------------------------------------

_RELU_LAYERS = tuple(f"relu{b}_{i}" for b, n in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))
                     for i in range(1, n + 1))

CONSTRAINED_STATISTICS: dict[str, dict[str, tuple[str, ...]]] = {
    "adsn": {},  # pixel mean and autocorrelation only: every VGG statistic is held out
    "gatys": {"gram": ("relu1_1", "pool1", "pool2", "pool3", "pool4")},  # ReLU, avg pooling
    "lu_zhu_wu": {"mean": ("relu1_1", "relu2_1", "relu3_1", "relu4_1")},  # ReLU, max pooling
    "microcanonical": {"mean": _RELU_LAYERS},  # `full` preset, CELU
    "macro_full": {"mean": _RELU_LAYERS},
    "macro_deep": {"mean": tuple(n for n in _RELU_LAYERS if n[4] in "45")},
    "macro_shallow": {"mean": tuple(n for n in _RELU_LAYERS if n[4] in "123")},
    "macro_paper": {"mean": ("relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2",
                             "relu3_3", "relu4_3", "relu4_4", "relu5_2")},
}
"""Which VGG-19 statistics each method of ``scripts/compare.py`` constrains: ``"mean"``, the
channel means of the listed layers; ``"gram"``, the Gram matrices of the listed layers (names
of :data:`maxent_jax.nn.vgg.LAYER_NAMES`). Everything else is held out for that method. Each
method uses its own network variant (activation, pooling), noted beside it; a statistic of
another variant of the same layer is close to, not exactly, the constrained one."""


def _stack_activations(acts: Any) -> dict[str, np.ndarray]:
    """A list of per-sample dicts ``{layer: (h, w, c)}`` or one dict ``{layer: (S, h, w, c)}``
    -> ``{layer: (S, h, w, c)}`` float64."""
    if isinstance(acts, Mapping):
        return {k: np.asarray(v, np.float64).reshape((-1,) + np.shape(v)[-3:])
                for k, v in acts.items()}
    acts = list(acts)
    return {k: np.stack([np.asarray(a[k], np.float64) for a in acts]) for k in acts[0]}


def held_out_gaps(sample_activations: Any, exemplar_activations: Mapping[str, Array],
                  constrained: Optional[Mapping[str, Sequence[str]] | str] = None, *,
                  kinds: Sequence[str] = ("mean", "gram")) -> dict[str, dict[str, Any]]:
    """Channel-mean and Gram gaps on the layers whose statistic the method does not constrain.

    ``sample_activations``: a list of ``{layer: (h, w, c)}`` dicts, one per sample, or one dict
    of ``(S, h, w, c)`` arrays; ``exemplar_activations``: ``{layer: (h, w, c)}`` from the same
    network (e.g. ``features.vgg_for(spec).apply(variables, x)``). ``constrained``:
    ``{"mean": layers, "gram": layers}``, a method name of :data:`CONSTRAINED_STATISTICS`, or
    ``None`` (nothing constrained). For every kind in ``kinds`` and every layer of the dicts
    that is not constrained for that kind:

    * ``"mean"``: per sample ``||mu_l(X) - mu_l(x0)|| / ||mu_l(x0)||`` (mu_l the channel means),
      and under ``"mean_of_samples"`` the gap of the samples' average mu_l (the form of the
      macrocanonical constraint);
    * ``"gram"``: per sample ``||G_l(X) - G_l(x0)||_F / ||G_l(x0)||_F``, G_l = phi phi^T / M;

    plus ``"all"``, pooling the squared norms of the held-out layers before the ratio.
    Returns ``{"mean": {layer: (S,)}, "mean_of_samples": {layer: float}, "gram": {layer: (S,)}}``
    (the kinds asked for; a kind without held-out layers gives empty dicts). References:
    De Bortoli et al., SIMODS 2021 (channel means); Gatys et al., NeurIPS 2015 (Gram).
    """
    if isinstance(constrained, str):
        constrained = CONSTRAINED_STATISTICS[constrained]
    constrained = constrained or {}
    acts = _stack_activations(sample_activations)
    acts0 = {k: np.asarray(v, np.float64) for k, v in exemplar_activations.items()}
    out: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        if kind not in ("mean", "gram"):
            raise ValueError(f"unknown statistic {kind!r}; use 'mean' or 'gram'")
        layers = [k for k in acts0 if k not in set(constrained.get(kind, ()))]
        per, of_mean = {}, {}
        sq, sq_mean, sq0 = [], [], []
        for k in layers:
            a, a0 = acts[k], acts0[k]
            if kind == "mean":
                v, v0 = a.mean(axis=(1, 2)), a0.mean(axis=(0, 1))
            else:
                flat, flat0 = a.reshape(len(a), -1, a.shape[-1]), a0.reshape(-1, a0.shape[-1])
                v = np.einsum("spc,spd->scd", flat, flat) / flat.shape[1]
                v0 = flat0.T @ flat0 / flat0.shape[0]
            sq.append(np.sum((v - v0).reshape(len(v), -1) ** 2, axis=1))
            sq_mean.append(float(np.sum((v.mean(0) - v0) ** 2)))
            sq0.append(max(float(np.sum(v0 ** 2)), _TINY))
            per[k] = np.sqrt(sq[-1] / sq0[-1])
            of_mean[k] = float(np.sqrt(sq_mean[-1] / sq0[-1]))
        if layers:
            per["all"] = np.sqrt(np.sum(sq, axis=0) / np.sum(sq0))
            of_mean["all"] = float(np.sqrt(np.sum(sq_mean) / np.sum(sq0)))
        out[kind] = per
        if kind == "mean":
            out["mean_of_samples"] = of_mean
    return out


# --- floors and intervals -------------------------------------------------------------------

def real_crops(image: Array, crop: int, num: Optional[int] = None) -> np.ndarray:
    """Disjoint ``crop x crop`` crops of one larger real texture, in raster order:
    ``(n, crop, crop, C)``, ``n = (H // crop) (W // crop)`` or the first ``num`` of them.
    A 256 px image gives 4 crops of 128 px or 16 of 64 px."""
    x = np.asarray(image)
    rows, cols = x.shape[0] // crop, x.shape[1] // crop
    n = rows * cols
    if n == 0 or (num is not None and num > n):
        raise ValueError(f"a {x.shape[:2]} image holds {n} disjoint {crop} px crops, "
                         f"{num} asked for")
    crops = [x[i * crop:(i + 1) * crop, j * crop:(j + 1) * crop]
             for i in range(rows) for j in range(cols)]
    return np.stack(crops[:num])


def floor(metric: Callable[[np.ndarray, np.ndarray], Any], image: Array, *, crop: int,
          reference: int = 0, num: Optional[int] = None, seed: int = 0) -> dict[str, Any]:
    """What a perfect method and an exact Gaussian model score on ``metric(samples, exemplar)``.

    ``image`` is cut into disjoint crops (:func:`real_crops`); crop ``reference`` plays the
    exemplar. ``"real"``: the metric of the other crops (at most ``num``) against it: samples
    of exactly the exemplar's distribution that are not copies, i.e. a perfect method's
    score. ``"adsn"``: the metric of as many exact ADSN samples of the exemplar crop
    (:func:`maxent_jax.gaussian.adsn`, periodic component, key ``seed``). Also returns
    ``"exemplar"`` (the crop) and ``"num"``. A method's samples should be scored against the
    same ``floor(...)["exemplar"]`` at the same pixel scale to be read beside these values.
    """
    import jax

    from maxent_jax.gaussian import adsn

    crops = real_crops(image, crop).astype(np.float32)
    x0 = crops[reference]
    others = np.delete(crops, reference, axis=0)[:num]
    gauss = np.asarray(adsn(jax.random.key(seed), x0, num=len(others)))
    return {"real": metric(others, x0), "adsn": metric(gauss, x0), "exemplar": x0,
            "num": len(others)}


class Interval(NamedTuple):
    """A point estimate and a bootstrap confidence interval."""

    estimate: float
    low: float
    high: float


def bootstrap_interval(values: Array, *, num: int = 1000, level: float = 0.95, seed: int = 0,
                       statistic: Callable[[np.ndarray], float] = np.mean) -> Interval:
    """Percentile bootstrap interval of ``statistic`` (default the mean) of per-sample values.

    ``num`` resamples with replacement (``numpy.random.default_rng(seed)``); the interval is
    the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the resampled statistic
    (B. Efron & R. Tibshirani, An Introduction to the Bootstrap, 1993, ch. 13). With few
    values (8 samples) the percentile interval is somewhat too narrow; report n beside it.
    """
    v = np.asarray(values, np.float64).ravel()
    if v.size == 0:
        raise ValueError("no values")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.size, size=(num, v.size))
    stats = np.array([statistic(v[i]) for i in idx])
    lo, hi = np.quantile(stats, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return Interval(float(statistic(v)), float(lo), float(hi))


def stratified_bootstrap_interval(groups: Sequence[Array], *, num: int = 1000,
                                  level: float = 0.95, seed: int = 0) -> Interval:
    """Percentile bootstrap interval of the mean over groups of each group's mean.

    ``groups``: per-sample values of several groups (e.g. one array per exemplar). Each
    resample draws, within every group independently, as many values as it has with
    replacement (a stratified bootstrap: the groups are fixed, the samples are random), and
    takes ``mean_g mean(resampled group g)``; the interval is the ``(1 - level) / 2`` and
    ``(1 + level) / 2`` quantiles of that statistic over ``num`` resamples
    (``numpy.random.default_rng(seed)``). Efron & Tibshirani 1993, ch. 13 and §6.9 (the
    bootstrap of stratified samples). With one group it is :func:`bootstrap_interval` of that
    group (same draws).
    """
    vals = [np.asarray(g, np.float64).ravel() for g in groups]
    if not vals or any(v.size == 0 for v in vals):
        raise ValueError("every group needs at least one value")
    rng = np.random.default_rng(seed)
    stats = np.zeros(num)
    for v in vals:
        idx = rng.integers(0, v.size, size=(num, v.size))
        stats += v[idx].mean(axis=1)
    stats /= len(vals)
    lo, hi = np.quantile(stats, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return Interval(float(np.mean([v.mean() for v in vals])), float(lo), float(hi))


def texture_metrics(samples: Array, exemplar: Array, **psw_options: Any) -> dict[str, Any]:
    """The network-free metrics above in one dict (floats of the pooled samples, and the
    per-sample arrays under ``"per_sample"``): ``patch_sliced_wasserstein``,
    ``welch_spectrum_distance``, ``normalised_diversity``, ``copied_patch_fraction``,
    ``layout_zero_shift`` / ``layout_best_shift`` (means over samples) and
    ``between_chain_correlation`` (mean over pairs). ``psw_options`` go to
    :func:`patch_sliced_wasserstein`."""
    layout = layout_correlation(samples, exemplar)
    chains = between_chain_correlation(samples)
    per = {"patch_sliced_wasserstein": patch_sliced_wasserstein(samples, exemplar,
                                                                per_sample=True, **psw_options),
           "welch_spectrum_distance": welch_spectrum_distance(samples, exemplar,
                                                              per_sample=True),
           "copied_patch_fraction": copied_patch_fraction(samples, exemplar, per_sample=True),
           "normalised_diversity": normalised_diversity(samples, exemplar, per_pair=True),
           "layout_zero_shift": layout["zero_shift"], "layout_best_shift": layout["best_shift"],
           "between_chain_correlation": chains}
    return {"patch_sliced_wasserstein": patch_sliced_wasserstein(samples, exemplar,
                                                                 **psw_options),
            "welch_spectrum_distance": welch_spectrum_distance(samples, exemplar),
            "normalised_diversity": normalised_diversity(samples, exemplar),
            "copied_patch_fraction": float(np.mean(per["copied_patch_fraction"])),
            "layout_zero_shift": float(np.mean(layout["zero_shift"])),
            "layout_best_shift": float(np.mean(layout["best_shift"])),
            "between_chain_correlation": float(np.mean(chains)) if chains.size else float("nan"),
            "per_sample": per}
