"""Figures of a run's trace: ``trace.png`` of ``synthesize`` and ``inpaint --model cnn``
(:func:`plot_trace`) and of ``style`` (:func:`plot_style_trace`).

Plotting only: the quantities are computed in :mod:`maxent_jax.run.diagnostics` and
:func:`maxent_jax.run.task.soul_trace`. Each figure is written atomically
(:func:`maxent_jax.io.save_figure`) with matplotlib's Agg backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from maxent_jax.io import save_figure

__all__ = ["plot_trace", "plot_style_trace"]


def plot_trace(trace: dict[str, np.ndarray], path: Path) -> Path:
    """Relative feature gap (total, per layer, of the running average), ||theta|| and
    ||theta - theta_bar||, the chains' correlation and Stein's ratio, and the MALA probe's
    acceptance; with ``--scales``, dotted lines at the scale changes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    (ax1, ax2), (ax3, ax4) = axes
    it = trace["iteration"]
    for j, name in enumerate(trace["layers"]):
        ax1.semilogy(it, trace["relative_gap_per_layer"][:, j], lw=0.6, alpha=0.6, label=name)
    ax1.semilogy(it, trace["relative_gap"], "k", lw=1.5, label="all")
    if "running_average_gap" in trace:
        ax1.semilogy(it, trace["running_average_gap"], "r", lw=1.5,
                     label="running average (last half)")
    ax1.set(xlabel="iteration", title="relative feature gap ||mean F(X) - F(x0)|| / ||F(x0)||")
    ax1.legend(fontsize=6, ncol=2)
    ax2.plot(it, trace["theta_norm"], label="||theta_n||")
    if "theta_distance" in trace:
        ax2.plot(it, trace["theta_distance"], label="||theta_n - theta_bar||")
    if "projected" in trace and np.any(trace["projected"]):
        ax2.plot(it[trace["projected"] > 0], trace["theta_norm"][trace["projected"] > 0], "r.",
                 ms=2, label="projected on K")
    ax2.set(xlabel="iteration", title="theta (theta_bar: average of the last half)")
    ax2.legend(fontsize=7)
    if "chain_correlation" in trace:
        ax3.plot(it, trace["chain_correlation"], label="correlation between chains")
        ax3.axhline(0.0, color="k", lw=0.5)
    ax3.set(xlabel="iteration", title="chains: mean correlation (0: independent)")
    if "stein_ratio" in trace:
        twin = ax3.twinx()
        twin.plot(it, trace["stein_ratio"], "C1", lw=1.0)
        twin.axhline(1.0, color="C1", lw=0.5, ls="--")
        twin.set_ylabel("Stein's ratio (1: at equilibrium)", color="C1")
    if "probe_acceptance" in trace and np.isfinite(trace["probe_acceptance"]).any():
        ok = np.isfinite(trace["probe_acceptance"])
        ax4.plot(it[ok], trace["probe_acceptance"][ok], "o-", ms=3)
    ax4.set(xlabel="iteration", ylim=(0, 1.05), title="MALA acceptance of a probe move")
    if "stage" in trace:  # coarse-to-fine: a dotted line where the chains grow
        for n in it[1:][np.diff(trace["stage"]) > 0]:
            for ax in (ax1, ax2, ax3, ax4):
                ax.axvline(n, color="grey", lw=0.6, ls=":")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return path


def plot_style_trace(trace: dict[str, np.ndarray], path: Path,
                     title: Optional[str] = None) -> Path:
    """Style gap (total and per layer), content distance and ||theta|| against the iteration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(13, 3.8))
    it = trace["iteration"]
    for j, name in enumerate(trace["layers"]):
        ax1.semilogy(it, trace["relative_gap_per_layer"][:, j], lw=0.6, alpha=0.6, label=name)
    ax1.semilogy(it, trace["relative_gap"], "k", lw=1.5, label="all")
    ax1.set(xlabel="iteration", title="style gap ||mean F_s(X) - F_s(y)|| / ||F_s(y)||")
    ax1.legend(fontsize=6, ncol=2)
    ax2.plot(trace["content_iteration"], trace["content_distance"], marker=".")
    ax2.set(xlabel="iteration", title="content distance c(X) (per chain)")
    ax3.plot(it, trace["theta_norm"])
    ax3.set(xlabel="iteration", title="||theta||")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return path
