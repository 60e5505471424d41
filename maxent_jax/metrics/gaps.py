"""Feature and Gram gaps, and the VGG statistics held out per method
(:data:`CONSTRAINED_STATISTICS`, :func:`held_out_gaps`).

Part of :mod:`maxent_jax.metrics` (definitions and references there).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np

from maxent_jax.nn.features import gram_matrices
from maxent_jax.metrics._common import Array, _TINY, _batch

__all__ = ["relative_gap", "feature_gap", "gram_gap", "CONSTRAINED_STATISTICS", "held_out_gaps"]


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
"""Which VGG-19 statistics each method of the comparison study (:mod:`maxent_jax.study`)
constrains: ``"mean"``, the channel means of the listed layers; ``"gram"``, the Gram matrices of
the listed layers (names of :data:`maxent_jax.nn.vgg.LAYER_NAMES`). Everything else is held out
for that method. Each method uses its own network variant (activation, pooling), noted beside
it; a statistic of another variant of the same layer is close to, not exactly, the constrained
one."""


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
