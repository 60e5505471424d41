"""Is this run a sampler of the model, or a descent? Diagnostics of a SOUL trace.

A small feature gap alone says nothing about sampling (docs/reference.md §6). From the
per-step infos of :class:`maxent_jax.sampling.soul.SOULInfo` (stacked by
:func:`maxent_jax.run.task.soul_trace`) this module derives, per outer step n:

* ``theta_distance``: ||theta_n - theta_bar||, theta_bar the Polyak-Ruppert average of the
  last half of the run (the theta a learned model keeps, :func:`maxent_jax.model.polyak_average`);
* ``running_average_gap``: ||mean_{n/2 < j <= n} g_j|| / ||F(x0)||, g_j the theta step's input
  mean F(X) - F(x0): the gap of the averaged estimates, which goes to 0 when E_theta[F] = F(x0)
  even where each step's gap is noisy;
* ``relative_feature_std``: sqrt(per-sample feature variance) / ||F(x0)||: how much one
  sample's features vary around the mean of the step (0 when all chains are one image);

and :func:`warnings` turns the end of the trace into one-line warnings:

* theta has not converged: ||theta|| changed by more than 5% over the last quarter;
* the chains collapsed: their mean zero-shift correlation at the end is above 0.2 (for
  independent ADSN draws of the bundled exemplars at 64 px its standard deviation is
  0.025-0.065, docs/fidelity.md);
* the projection on K acted during the last quarter (theta* may lie outside K, or at infinity);
* the MALA acceptance of the last probe is below 0.5 (ULA's bias is not small at this gamma);
* the chains are not at equilibrium: Stein's ratio ``<X - mean X, grad U(X)> / (d - C)``,
  which is 1 in expectation under Pi_theta (:mod:`maxent_jax.sampling.stein`), is off by
  more than 0.25 on average over the last quarter. At equilibrium its per-step value
  fluctuates by about sqrt(2 / (C d)) (C chains, d pixel values: 1% for 4 chains at 64 px)
  and ULA's bias moves it by about gamma tr(H) / (2 d), far less.

None of these catches a model whose own law misses F(x0) while the learning run's gap is
small because theta keeps pulling its chains back (docs/fidelity.md: the seed's 10000
iterations at 64 px pass all five). :func:`fixed_theta_warnings` reads the check that does:
chains at a fixed theta (``maxent-jax sample``, or ``synthesize --check-steps N``), whose
average of F over the chains and the last half of the steps should be within 10% of F(x0).
The 10% sits between what runs that match F(x0) score (the learning runs' running-average
gap, 0.1-2% at 64 px; one step's gap of four chains, up to 4%) and what the learned models
score at fixed theta from new starts (19-34%, docs/fidelity.md).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

__all__ = ["trace_diagnostics", "theta_change", "stein_ratio", "warnings", "summary",
           "fixed_theta_warnings", "THRESHOLDS"]

THRESHOLDS = {"theta_change": 0.05, "chain_correlation": 0.2, "probe_acceptance": 0.5,
              "stein_ratio": 0.25, "fixed_theta_gap": 0.1}


def trace_diagnostics(trace: Mapping[str, np.ndarray], target_norm: float
                      ) -> dict[str, np.ndarray]:
    """The derived per-step arrays of the module docstring (empty if the trace lacks the
    fields, e.g. a trace written by an older version)."""
    if not {"theta", "gap", "feature_spread"} <= set(trace) or len(trace["theta"]) == 0:
        return {}
    theta = np.asarray(trace["theta"], np.float64)
    n = len(theta)
    theta_bar = theta[n // 2:].mean(0)
    norm = max(float(target_norm), 1e-30)
    return {
        "theta_distance": np.linalg.norm(theta - theta_bar, axis=1),
        "running_average_gap": running_gap(trace["gap"], norm),
        "relative_feature_std": np.sqrt(np.maximum(trace["feature_spread"], 0.0)) / norm,
    }


def running_gap(gap: np.ndarray, target_norm: float) -> np.ndarray:
    """Entry k - 1 (k = 1 .. n): ``||mean_{k//2 <= j < k} gap_j|| / target_norm``, the
    relative gap of the average of the per-step gaps ``(n, p)`` over the last half of the
    first k steps (the theta steps' inputs of a SOUL run, or the chains' means of
    F - F(x0) at fixed theta)."""
    gap = np.asarray(gap, np.float64)
    cumulative = np.concatenate([np.zeros((1, gap.shape[1])), np.cumsum(gap, axis=0)])
    ends = np.arange(1, len(gap) + 1)
    starts = ends // 2
    windows = (cumulative[ends] - cumulative[starts]) / (ends - starts)[:, None]
    return np.linalg.norm(windows, axis=1) / target_norm


def theta_change(theta_norms: np.ndarray) -> float:
    """| ||theta_end|| - ||theta|| a quarter of the run earlier | / ||theta_end||."""
    norms = np.asarray(theta_norms, np.float64)
    quarter = len(norms) - len(norms) // 4 - 1
    return float(abs(norms[-1] - norms[quarter]) / max(abs(norms[-1]), 1e-12))


def stein_ratio(trace: Mapping[str, np.ndarray]) -> float | None:
    """Mean of the per-step Stein ratios over the last quarter of the run (None: no field)."""
    values = np.asarray(trace.get("stein_ratio", []), np.float64)
    if values.ndim != 1 or len(values) == 0:
        return None
    return float(np.mean(values[len(values) - max(len(values) // 4, 1):]))


def _off_equilibrium(stein: float | None) -> bool:
    """Stein's ratio known and off its equilibrium value 1 by more than the threshold (NaN
    counts as off)."""
    return stein is not None and not abs(stein - 1.0) <= THRESHOLDS["stein_ratio"]


def warnings(trace: Mapping[str, np.ndarray]) -> list[str]:
    """One line per failed check of the module docstring (empty: none failed)."""
    out: list[str] = []
    norms = np.asarray(trace.get("theta_norm", []), np.float64)
    n = len(norms)
    if n >= 8:
        quarter = n - n // 4 - 1
        change = theta_change(norms)
        if change > THRESHOLDS["theta_change"]:
            out.append(f"theta has not converged: ||theta|| changed by {100 * change:.0f}% over "
                       f"the last quarter of the run ({norms[quarter]:.3g} -> {norms[-1]:.3g}); "
                       "run more iterations before using the model")
        if "projected" in trace and np.any(np.asarray(trace["projected"])[quarter:] > 0):
            out.append("the projection on K acted in the last quarter of the run: theta* may "
                       "lie outside K (raise the --projection radius) or the features may be "
                       "unreachable at this size (try a shallower --preset or a larger image)")
    corr = np.asarray(trace.get("chain_correlation", []), np.float64)
    if len(corr) and corr[-1] > THRESHOLDS["chain_correlation"]:
        out.append(f"the chains have collapsed: their correlation is {corr[-1]:.2f} at the end "
                   f"(independent draws: about 0); the samples are not independent draws")
    probe = np.asarray(trace.get("probe_acceptance", []), np.float64)
    probe = probe[np.isfinite(probe)]
    if len(probe) and probe[-1] < THRESHOLDS["probe_acceptance"]:
        out.append(f"MALA accepts {probe[-1]:.2f} of probe moves at this gamma: ULA's bias may "
                   "be large; lower --gamma or use --sampler mala")
    stein = stein_ratio(trace)
    if _off_equilibrium(stein):
        out.append(f"the chains are not at equilibrium: Stein's ratio <X - mean X, grad U(X)> / "
                   f"(d - C) is {stein:.3g} over the last quarter (1 under Pi_theta); the samples "
                   "are not yet draws of the model at this theta (docs/fidelity.md)")
    return out


def fixed_theta_warnings(relative_gap: float, stein: float | None, steps: int) -> list[str]:
    """One line per failed check of a fixed-theta run: the relative gap of the average of F
    over the chains and the last half of the ``steps`` (above 10%), and Stein's ratio over
    the same steps (off 1 by more than 0.25)."""
    out: list[str] = []
    if not np.isfinite(relative_gap):
        return ["at fixed theta the chains diverged (their features are NaN or infinite); "
                "try a smaller --gamma"]
    if not relative_gap <= THRESHOLDS["fixed_theta_gap"]:
        out.append(f"at fixed theta the samples' average of F misses F(x0) by "
                   f"{100 * relative_gap:.0f}% (last {steps - steps // 2} of {steps} steps): "
                   "either this theta's law does not match the exemplar (theta learned too "
                   "briefly, or a learning run whose chains were not at equilibrium) or these "
                   "chains are not at equilibrium yet; do not publish them as draws of a model "
                   "of the exemplar (docs/fidelity.md)")
    if _off_equilibrium(stein):
        out.append(f"the chains are not at equilibrium: Stein's ratio is {stein:.3g} over the "
                   f"last half of the steps (1 under Pi_theta)")
    return out


def summary(trace: Mapping[str, np.ndarray]) -> dict:
    """The end-of-run figures (written to ``config.json``) and :func:`warnings`."""
    def last(name):
        values = np.asarray(trace.get(name, []), np.float64)
        values = values[np.isfinite(values)] if values.ndim == 1 else values
        return float(values[-1]) if values.ndim == 1 and len(values) else None

    return {"relative_gap": last("relative_gap"),
            "running_average_gap": last("running_average_gap"),
            "theta_norm": last("theta_norm"), "theta_distance": last("theta_distance"),
            "chain_correlation": last("chain_correlation"),
            "relative_feature_std": last("relative_feature_std"),
            "probe_acceptance": last("probe_acceptance"),
            "stein_ratio": stein_ratio(trace),
            "projected_steps": int(np.sum(trace.get("projected", 0))),
            "warnings": warnings(trace)}
