"""``maxent-jax synthesize IMAGE --out-dir DIR``: macrocanonical CNN texture synthesis (SOUL).

Writes ``sample_000.png`` ... (last iterate of each chain), ``samples.npy`` (the same, float32,
unclipped), ``average_000.png`` ... (running average of late iterates, with
``--average-last``), ``model.npz`` (the learned model, for ``maxent-jax sample``),
``trace.npz``, ``trace.png`` and ``config.json``; with ``--checkpoint-every K`` also
``checkpoint.npz`` (``--resume`` continues). With ``--check-steps N`` the learned model is
then sampled at fixed theta_bar for N steps from new ADSN starts
(:func:`maxent_jax.tasks.sample.sample_model`, seed + 1): its diagnostics go to
``config.json`` (``diagnostics.fixed_theta_check``) and its warnings
(:func:`maxent_jax.run.diagnostics.fixed_theta_warnings`) are printed with the run's.
With ``--scales S1,...,SK`` theta is learned coarse to fine (:mod:`maxent_jax.tasks.scales`):
``trace.npz`` then holds ``stage`` (of every step) and ``stage_sizes``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from maxent_jax.cli._common import (add_run_arguments, add_settings_arguments, check_out_dir,
                                    check_run_memory, check_seed, clear_out_dir,
                                    config_from_args, load_backbone_arg, load_exemplar_arg,
                                    save_figure, save_images, save_npz, save_samples_npy, start_distributed,
                                    step_changes, write_record, report_written)
from maxent_jax.io import save_image

__all__ = ["add_parser", "run", "write_outputs", "plot_trace"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    from maxent_jax.tasks.texture import SynthesisConfig

    p = sub.add_parser(
        "synthesize", help="sample the macrocanonical CNN model of a texture (SOUL)",
        description="Learn theta by SOUL and sample Pi_theta ∝ exp(-beta <theta, F(x) - F(x0)>"
                    " - r(x)) with parallel Langevin chains (De Bortoli et al., SIMODS 2021).")
    p.add_argument("image", type=Path, metavar="IMAGE")
    p.add_argument("--out-dir", type=Path, required=True, metavar="DIR")
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), default=None,
                   help="output size (default: the exemplar's, after --max-side)")
    p.add_argument("--max-side", type=int, default=128,
                   help="shrink the exemplar so its longer side is at most this (0: keep; "
                        "default 128, a CPU-friendly size)")
    p.add_argument("--check-steps", type=int, default=0, metavar="N",
                   help="after learning, sample the model at fixed theta_bar for N steps from "
                        "new ADSN starts and warn if the samples' average of F misses F(x0) by "
                        "more than 10%% (default 0: no check; see docs/fidelity.md)")
    add_settings_arguments(p, SynthesisConfig, ("network", "sampler", "learner", "run", "task"))
    add_run_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check everything, learn, write the outputs; nothing is written before the checks pass."""
    from maxent_jax.model import save_model
    from maxent_jax.tasks.texture import SynthesisConfig, synthesize

    check_out_dir(args)
    check_seed(args.seed)
    if not (isinstance(args.check_steps, int) and args.check_steps >= 0):
        raise ValueError(f"--check-steps must be an integer >= 0, got {args.check_steps}")
    network = config_from_args(SynthesisConfig, args, size=None).spec()
    exemplar = load_exemplar_arg(args.image, args.max_side, network, "the exemplar")
    size = tuple(args.size) if args.size else tuple(exemplar.shape[:2])
    config = config_from_args(SynthesisConfig, args, size=size)
    check_run_memory(args, config.spec(), size, config.chains, exemplar.shape[-1])
    from maxent_jax.nn.backbone import size_advice

    advice = size_advice(size, config.spec())
    if advice:
        print(f"warning: {advice}", file=sys.stderr)
    start_distributed(args)
    backbone = load_backbone_arg(args, config.spec(), size)
    extra = step_changes(args, config)
    clear_out_dir(args)
    start = time.perf_counter()
    result = synthesize(exemplar, backbone, config, out_dir=args.out_dir, resume=args.resume,
                        progress=not args.no_progress,
                        checkpoint=args.checkpoint_every is not None, devices=args.devices,
                        allow_step_change=args.allow_step_change)
    seconds = time.perf_counter() - start
    check = None
    if args.check_steps:
        from maxent_jax.tasks.sample import sample_model

        check_start = time.perf_counter()
        check = sample_model(result.model, backbone, num=config.chains, steps=args.check_steps,
                             seed=config.seed + 1, devices=args.devices,
                             progress=not args.no_progress)
        check.diagnostics["seconds"] = time.perf_counter() - check_start
    import jax
    if jax.process_index() != 0:
        return 0
    from maxent_jax.run.diagnostics import summary

    exemplar_png = save_image(args.out_dir / "exemplar.png", exemplar)
    diagnostics = summary(result.trace)
    if check is not None:
        diagnostics["fixed_theta_check"] = check.diagnostics
        diagnostics["warnings"] += check.diagnostics["warnings"]
    paths = write_outputs(args.out_dir, result, config, extra={
        "image": str(args.image), "max_side": args.max_side,
        "weights": str(args.weights) if args.weights else None, "seconds": seconds,
        "diagnostics": diagnostics, **extra})
    paths += [save_model(args.out_dir / "model.npz", result.model), exemplar_png]
    gap = result.trace["relative_gap"]
    print(f"relative feature gap {gap[0]:.3f} -> {gap[-1]:.3f} in {len(gap)} iterations "
          f"({seconds:.1f} s)")
    if check is not None:
        print(f"fixed-theta check: {args.check_steps} steps from new starts at theta_bar, "
              f"relative feature gap {check.diagnostics['relative_gap']:.3f}, Stein's ratio "
              f"{check.diagnostics['stein_ratio']:.3g}")
    for line in diagnostics["warnings"]:
        print(f"warning: {line}", file=sys.stderr)
    report_written(args.out_dir, paths)
    return 0


def write_outputs(out_dir: Path, result: Any, config: Any, extra: dict[str, Any]) -> list[Path]:
    """Samples (PNG and ``samples.npy``), averages, trace.npz, trace.png and config.json."""
    paths = save_images(out_dir, "sample", result.samples)
    paths.append(save_samples_npy(out_dir, result.samples))
    paths += save_images(out_dir, "average", result.average)
    paths.append(save_npz(out_dir / "trace.npz", result.trace))
    paths.append(plot_trace(result.trace, out_dir / "trace.png"))
    paths.append(write_record(out_dir, config, extra))
    return paths


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
