"""Texture-synthesis metrics: feature and Gram gaps, spectra, colours, diversity, memorisation.

Each function compares samples ``(S, H, W, C)`` (or one ``(H, W, C)`` image) with the exemplar
``x0`` ``(h, w, c)``, all in ``[0, 1]`` pixel units; samples may be larger than the exemplar
wherever the metric allows it. These are evaluation functions: they take and return concrete
arrays (numpy floats), and are not meant to be traced. Definitions, references and floors:
``docs/comparison/metrics_definitions.md`` (``docs/comparison/metrics.md`` is the table that
``scripts/compare.py``, through :mod:`maxent_jax.study`, writes).

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

**Earlier metrics** (kept for :mod:`maxent_jax.study.earlier`; superseded where noted). Lower
is closer for each except ``diversity`` and ``memorisation``'s distance.

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

from maxent_jax.metrics.gaps import (relative_gap, feature_gap, gram_gap, CONSTRAINED_STATISTICS,
                                     held_out_gaps)
from maxent_jax.metrics.spectra import (power_spectrum, radial_power_spectrum,
                                        power_spectrum_distance, welch_power_spectrum,
                                        model_welch_spectrum, radial_average,
                                        welch_spectrum_distance)
from maxent_jax.metrics.colour import colour_histogram_distance
from maxent_jax.metrics.patches import (extract_patches, nearest_patch_distances, memorisation,
                                        pyramid_down, pyramid_up, image_pyramid,
                                        patch_sliced_wasserstein, relative_nearest_patch_distances,
                                        copied_patch_fraction)
from maxent_jax.metrics.layout import (diversity, normalised_diversity, layout_correlation,
                                       between_chain_correlation)
from maxent_jax.metrics.floors import (real_crops, floor, Interval, bootstrap_interval,
                                       stratified_bootstrap_interval)
from maxent_jax.metrics.evaluation import evaluate, texture_metrics

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
