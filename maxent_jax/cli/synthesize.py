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

from maxent_jax.cli._common import (add_run_arguments, add_settings_arguments, check_out_dir,
                                    check_seed, clear_out_dir, config_from_args,
                                    load_exemplar_arg, prepare, report_written, write_run)
from maxent_jax.io import save_image
from maxent_jax.run.plots import plot_trace

__all__ = ["add_parser", "run", "write_outputs"]


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
    from maxent_jax.tasks.texture import SynthesisConfig, check_stage_sizes, synthesize

    check_out_dir(args)
    check_seed(args.seed)
    if not (isinstance(args.check_steps, int) and args.check_steps >= 0):
        raise ValueError(f"--check-steps must be an integer >= 0, got {args.check_steps}")
    network = config_from_args(SynthesisConfig, args, size=None).spec()
    exemplar = load_exemplar_arg(args.image, args.max_side, network, "the exemplar")
    size = tuple(args.size) if args.size else tuple(exemplar.shape[:2])
    config = config_from_args(SynthesisConfig, args, size=size)
    check_stage_sizes(config, size, exemplar.shape[:2])
    context = prepare(args, config.spec(), size, config.chains, exemplar.shape[-1], config)
    from maxent_jax.nn.backbone import size_advice

    advice = size_advice(size, config.spec())
    if advice:
        print(f"warning: {advice}", file=sys.stderr)
    backbone = context.backbone
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
    if not context.writes:
        return 0
    from maxent_jax.run.diagnostics import summary

    exemplar_png = save_image(args.out_dir / "exemplar.png", exemplar)
    diagnostics = summary(result.trace)
    if check is not None:
        diagnostics["fixed_theta_check"] = check.diagnostics
        diagnostics["warnings"] += check.diagnostics["warnings"]
    paths = write_outputs(args.out_dir, result, config, extra={
        "image": str(args.image), "max_side": args.max_side, "seconds": seconds,
        "diagnostics": diagnostics, **context.record})
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
    """Samples (PNG and ``samples.npy``), averages, trace.npz, trace.png and config.json
    (:func:`maxent_jax.cli._common.write_run`)."""
    return write_run(out_dir, {"sample": result.samples, "average": result.average},
                     samples=result.samples, trace=result.trace, plot=plot_trace,
                     config=config, record=extra)
