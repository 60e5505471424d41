"""The study's measurements: metrics that no method optimises, on one evaluation network.

Multi-scale patch sliced-Wasserstein, Welch spectrum distance, normalised diversity,
copied-patch fraction, layout correlation (zero and best shift, between chains), the VGG
statistics each method does not constrain (``metrics.CONSTRAINED_STATISTICS``) and the Gram
gap of four layers no method constrains; definitions and references in
``docs/comparison/metrics_definitions.md``.
"""

from __future__ import annotations

import functools
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from maxent_jax import metrics
from maxent_jax.nn import features as feats
from maxent_jax.study.exemplars import Exemplar
from maxent_jax.study.settings import Study, method_of, rows_of

__all__ = ["COMMON_GRAM_LAYERS", "EVAL_NETWORK", "POOL_LAYERS", "RELU_LAYERS", "held_out",
           "make_activation_fn", "measure", "measure_all", "psw_levels"]

RELU_LAYERS = tuple(n for n in feats.PRESETS["full"].layers)
POOL_LAYERS = ("pool1", "pool2", "pool3", "pool4")
COMMON_GRAM_LAYERS = ("relu2_1", "relu3_1", "relu4_1", "relu5_1")
assert not any(set(COMMON_GRAM_LAYERS) & set(c.get("gram", ()))
               for c in metrics.CONSTRAINED_STATISTICS.values())
EVAL_NETWORK = "VGG-19 with ReLU, average pooling and zero padding, Gatys' variant"


def make_activation_fn(variables) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """One image -> ``{layer: (h, w, c)}`` for the 16 ReLU layers and pool1-4 of the
    evaluation network (:data:`EVAL_NETWORK`), jitted."""
    spec = feats.get_spec(None, layers=RELU_LAYERS + POOL_LAYERS, activation="relu",
                          pooling="avg", padding="zero")
    fn = jax.jit(lambda x: feats.vgg_for(spec).apply(variables, x))
    return lambda x: {k: np.asarray(v) for k, v in fn(jnp.asarray(x, jnp.float32)).items()}


def psw_levels(side: int, patch: int = 7, levels: int = 3) -> int:
    """The most pyramid levels (at most ``levels``) whose coarsest level holds a patch."""
    n = 1
    while n < levels and side // 2 ** n >= patch:
        n += 1
    return n


def _only(acts, layers):
    if isinstance(acts, dict):
        return {k: acts[k] for k in layers if k in acts}
    return [{k: a[k] for k in layers if k in a} for a in acts]


def held_out(acts: list, acts0: dict, method: str) -> dict[str, Any]:
    """Channel-mean gaps on the ReLU layers and Gram gaps on the ReLU and pool layers that
    ``method`` does not constrain (``metrics.held_out_gaps``), per sample and pooled."""
    constrained = metrics.CONSTRAINED_STATISTICS[method]
    means = metrics.held_out_gaps(_only(acts, RELU_LAYERS), _only(acts0, RELU_LAYERS),
                                  constrained, kinds=("mean",))
    grams = metrics.held_out_gaps(acts, acts0, constrained, kinds=("gram",))
    nan = np.full(len(acts), np.nan)
    return {
        "mean": {"per_sample": means["mean"].get("all", nan),
                 "per_layer": {k: float(np.mean(v)) for k, v in means["mean"].items()}},
        "mean_of_samples": {"pooled": means["mean_of_samples"].get("all", float("nan"))},
        "gram": {"per_sample": grams["gram"].get("all", nan),
                 "per_layer": {k: float(np.mean(v)) for k, v in grams["gram"].items()}},
        "layers": {"mean": [k for k in means["mean"] if k != "all"],
                   "gram": [k for k in grams["gram"] if k != "all"]},
    }


def measure(samples: np.ndarray, x0: np.ndarray, activation_fn: Callable,
            methods: Sequence[str], copy_stride: int = 4) -> dict[str, Any]:
    """Every metric of the tables for ``samples`` against ``x0``: per-sample (or per-pair)
    arrays under ``"per_sample"``, values of the pooled samples under ``"pooled"``, and the
    held-out statistics of each of ``methods`` under ``"held_out"``."""
    xs = np.asarray(samples, np.float64)
    x0 = np.asarray(x0, np.float64)
    side = min(xs.shape[1:3] + x0.shape[:2])
    psw = functools.partial(metrics.patch_sliced_wasserstein, levels=psw_levels(side))
    layout = metrics.layout_correlation(xs, x0)
    acts0 = activation_fn(x0)
    acts = [activation_fn(x) for x in xs]
    common = metrics.held_out_gaps(_only(acts, COMMON_GRAM_LAYERS),
                                   _only(acts0, COMMON_GRAM_LAYERS), None, kinds=("gram",))
    return {
        "psw": {"per_sample": psw(xs, x0, per_sample=True), "pooled": psw(xs, x0)},
        "welch": {"per_sample": metrics.welch_spectrum_distance(xs, x0, per_sample=True),
                  "pooled": metrics.welch_spectrum_distance(xs, x0)},
        "diversity": {"per_sample": metrics.normalised_diversity(xs, x0, per_pair=True)},
        "copied": {"per_sample": metrics.copied_patch_fraction(xs, x0, stride=copy_stride,
                                                               per_sample=True)},
        "layout_zero": {"per_sample": layout["zero_shift"]},
        "layout_best": {"per_sample": layout["best_shift"]},
        "between_chains": {"per_sample": metrics.between_chain_correlation(xs)},
        "common_gram": {"per_sample": common["gram"]["all"]},
        "held_out": {m: held_out(acts, acts0, m) for m in methods},
        "num": len(xs),
    }


def measure_all(exemplars: dict[str, Exemplar], results, activation_fn, study: Study,
                methods: Sequence[str], seed: int = 0, log: Callable = print) -> dict[str, Any]:
    """``{exemplar: {"methods": {row: measure}, "floor": {"crops": measure, "adsn":
    measure, "num", "crop", "seconds"}}}`` (the rows of :func:`rows_of`, each with the
    held-out statistics of its method); the floors by :func:`maxent_jax.metrics.floor`."""
    out = {}
    for name, ex in exemplars.items():
        start = time.perf_counter()
        n = (ex.texture.shape[0] // ex.crop) * (ex.texture.shape[1] // ex.crop)
        fl = metrics.floor(lambda s, x: measure(s, x, activation_fn, methods, study.copy_stride),
                           ex.texture, crop=ex.crop, num=min(study.samples, n - 1), seed=seed)
        if ex.same_scale:
            assert np.array_equal(fl["exemplar"], ex.image)  # the floors' exemplar is ours
        floor = {"crops": fl["real"], "adsn": fl["adsn"], "num": fl["num"], "crop": ex.crop,
                 "seconds": time.perf_counter() - start}
        by_method = {r: measure(results[name][r][0], ex.image, activation_fn, [method_of(r)],
                                study.copy_stride) for r in rows_of(methods)}
        out[name] = {"methods": by_method, "floor": floor}
        log(f"{name:>16} metrics and floors: {time.perf_counter() - start:7.1f} s")
    return out
