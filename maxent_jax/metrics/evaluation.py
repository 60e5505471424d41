"""Several metrics at once: :func:`evaluate` (the earlier metrics) and
:func:`texture_metrics` (the network-free ones).

Part of :mod:`maxent_jax.metrics` (definitions and references there).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

import numpy as np

from maxent_jax.metrics._common import Array
from maxent_jax.metrics.gaps import feature_gap, gram_gap
from maxent_jax.metrics.spectra import power_spectrum_distance, welch_spectrum_distance
from maxent_jax.metrics.colour import colour_histogram_distance
from maxent_jax.metrics.patches import (copied_patch_fraction, memorisation,
                                        patch_sliced_wasserstein)
from maxent_jax.metrics.layout import (between_chain_correlation, diversity, layout_correlation,
                                       normalised_diversity)

__all__ = ["evaluate", "texture_metrics"]


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
