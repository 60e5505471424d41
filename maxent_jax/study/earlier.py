"""The earlier evaluator (kept for notebooks/comparison.ipynb; not in the tables any more).

Feature and Gram gaps (which Gatys and the microcanonical descent optimise), periodogram
spectrum distance, colour W1, diversity and nearest-patch distance
(:func:`maxent_jax.metrics.evaluate`).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import numpy as np

from maxent_jax import metrics
from maxent_jax.baselines.gatys import gatys_spec
from maxent_jax.nn import features as feats
from maxent_jax.study.settings import LABELS
from maxent_jax.study.tables import markdown_rows

__all__ = ["COLUMNS", "EVAL_PRESET", "evaluate_results", "make_evaluator", "markdown_table"]

EVAL_PRESET = "full"  # the earlier evaluator's features (make_evaluator)


def make_evaluator(variables) -> Callable[[np.ndarray, np.ndarray], dict]:
    """``(samples, exemplar) -> metrics.evaluate dict`` with jitted network functions (the
    earlier metrics: feature and Gram gaps that Gatys and the microcanonical descent optimise,
    periodogram spectrum distance, colour W1, diversity, nearest-patch distance)."""
    spec = feats.get_spec(EVAL_PRESET)
    feature_fn = jax.jit(lambda x: feats.features(spec, variables, x))
    gram_spec = gatys_spec()
    activation_fn = jax.jit(lambda x: feats.vgg_for(gram_spec).apply(variables, x))
    return functools.partial(metrics.evaluate, feature_fn=feature_fn,
                             blocks=feats.layer_slices(spec), activation_fn=activation_fn)


def _summary(m: dict[str, Any], seconds: float) -> dict[str, float]:
    return {"feature_gap": m["feature_gap"]["all"],
            "feature_gap_per_sample": m["feature_gap_per_sample"]["all"],
            "gram_gap": m["gram_gap"]["all"],
            "power_spectrum_distance": m["power_spectrum_distance"],
            "colour_histogram_distance": m["colour_histogram_distance"],
            "diversity": m["diversity"],
            "nearest_patch_distance": m["nearest_patch_distance"],
            "copied_fraction": m["copied_fraction"],
            "seconds": seconds}


COLUMNS = [("feature_gap", "feature gap (mean)", "{:.3f}"),
           ("feature_gap_per_sample", "feature gap (per sample)", "{:.3f}"),
           ("gram_gap", "Gram gap", "{:.3f}"),
           ("power_spectrum_distance", "spectrum dist.", "{:.3f}"),
           ("colour_histogram_distance", "colour W1", "{:.4f}"),
           ("diversity", "diversity", "{:.3f}"),
           ("copied_fraction", "copied patches", "{:.1%}"),
           ("seconds", "time (s)", "{:.0f}")]


def markdown_table(rows: dict[str, dict[str, float]]) -> str:
    """The earlier metrics as one markdown table: a row per method, the columns of
    ``COLUMNS`` (each method wins the gaps it optimises: not a ranking)."""
    return markdown_rows(["method"] + [c[1] for c in COLUMNS],
                  [[LABELS.get(k, k)] + [fmt.format(v[c]) for c, _, fmt in COLUMNS]
                   for k, v in rows.items()])


def evaluate_results(exemplars, results, evaluator) -> tuple[dict, dict]:
    """``(summary, details)`` of the earlier metrics, per exemplar and method."""
    summary, details = {}, {}
    for name, x0 in exemplars.items():
        summary[name], details[name] = {}, {}
        for method, (samples, seconds) in results[name].items():
            m = evaluator(samples, x0)
            details[name][method] = m
            summary[name][method] = _summary(m, seconds)
    return summary, details
