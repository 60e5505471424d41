"""Floors and intervals: disjoint real crops, a perfect method's score (:func:`floor`),
bootstrap and stratified bootstrap intervals.

Part of :mod:`maxent_jax.metrics` (definitions and references there).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Sequence

import numpy as np

from maxent_jax.metrics._common import Array

__all__ = [
    "real_crops", "floor", "Interval", "bootstrap_interval", "stratified_bootstrap_interval"
]


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
