"""Patch distances: multi-scale patch sliced-Wasserstein (image pyramids), nearest-patch
distances, memorisation and the copied-patch fraction.

Part of :mod:`maxent_jax.metrics` (definitions and references there).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from maxent_jax.metrics._common import Array, _TINY, _batch, _channels, _contrast, _match_channels

__all__ = [
    "extract_patches", "nearest_patch_distances", "memorisation", "pyramid_down", "pyramid_up",
    "image_pyramid", "patch_sliced_wasserstein", "relative_nearest_patch_distances",
    "copied_patch_fraction"
]


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
