"""``maxent-jax synthesize IMAGE --out-dir DIR``: macrocanonical CNN texture synthesis (SOUL).

Writes ``sample_000.png`` ... (last iterate of each chain), ``average_000.png`` ... (running
average of late iterates, when ``--average-last`` > 0), ``trace.npz``, ``trace.png`` and
``config.json``; with ``--checkpoint-every K`` also ``checkpoint.npz`` (``--resume`` continues).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from maxent_jax.cli._common import (add_network_arguments, add_weights_argument, layers_arg,
                                    load_exemplar_arg, load_variables)
from maxent_jax.io import save_image

__all__ = ["add_parser", "run", "config_from_args", "write_outputs", "plot_trace"]



def add_parser(sub: argparse._SubParsersAction) -> None:
    from maxent_jax.synthesis import SynthesisConfig

    d = SynthesisConfig()
    p = sub.add_parser(
        "synthesize", help="sample the macrocanonical CNN model of a texture (SOUL)",
        description="Learn theta by SOUL and sample Pi_theta ∝ exp(-beta <theta, F(x) - F(x0)>"
                    " - r(x)) with parallel Langevin chains (De Bortoli et al., SIMODS 2021).")
    p.add_argument("image", type=Path, metavar="IMAGE")
    p.add_argument("--out-dir", type=Path, required=True, metavar="DIR")
    add_network_arguments(p)
    p.add_argument("--colour-stats", action="store_true",
                   help="also constrain the RGB mean and covariance (9 extra features)")
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), default=None,
                   help="output size (default: the exemplar's, after --max-side)")
    p.add_argument("--max-side", type=int, default=128,
                   help="shrink the exemplar so its longer side is at most this (0: keep; "
                        "default 128, a CPU-friendly size)")
    p.add_argument("--iterations", type=int, default=d.iterations, help="outer SOUL steps")
    p.add_argument("--chains", type=int, default=d.chains)
    p.add_argument("--inner-steps", type=int, default=d.inner_steps,
                   help="Langevin steps per theta step (m_n, or m_0 with --decay)")
    p.add_argument("--gamma", type=float, default=d.gamma, help="Langevin step (pixel units)")
    p.add_argument("--delta", type=float, default=d.delta, help="theta step")
    p.add_argument("--beta", type=float, default=d.beta)
    p.add_argument("--eps", type=float, default=d.eps, help="reference measure weight")
    p.add_argument("--centre", choices=("zero", "mean"), default=d.centre,
                   help="centre of the reference measure")
    p.add_argument("--projection", default=d.projection, help="none, l2:R or box:A")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default=d.optimizer)
    p.add_argument("--optimism", type=float, default=d.optimism,
                   help="b of the optimistic theta step delta((1+b) g_n - b g_(n-1)); 0: plain")
    p.add_argument("--decay", action="store_true",
                   help="decreasing delta_n, gamma_n and growing m_n meeting SOUL's conditions")
    p.add_argument("--init", choices=("adsn", "noise"), default=d.init)
    p.add_argument("--average-last", type=int, default=0, metavar="N",
                   help="also write the average of the last N outer steps' positions")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--devices", type=int, default=None,
                   help="split the chains over this many devices (default: all visible "
                        "devices, or the most that divide --chains)")
    p.add_argument("--distributed", action="store_true",
                   help="multi-host: call jax.distributed.initialize() first")
    p.add_argument("--remat", action="store_true",
                   help="rematerialise VGG activations in the backward pass (less memory)")
    p.add_argument("--precision", choices=("float32", "tf32", "bfloat16"), default="float32",
                   help="convolution arithmetic")
    p.add_argument("--conv", choices=("auto", "direct", "winograd"), default="auto",
                   help="3x3 convolution algorithm: auto = Winograd on the CPU, direct "
                        "elsewhere (maxent_jax.vgg.CONV_ALGORITHMS)")
    add_weights_argument(p)
    p.add_argument("--checkpoint-every", type=int, default=None, metavar="K",
                   help="write checkpoint.npz every K iterations")
    p.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.npz")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace, exemplar_shape: tuple[int, ...]) -> Any:
    from maxent_jax.synthesis import SynthesisConfig

    return SynthesisConfig(
        preset=args.preset, layers=layers_arg(args.layers), activation=args.activation,
        pooling=args.pooling, padding=args.padding, colour=args.colour_stats,
        size=tuple(args.size) if args.size else tuple(exemplar_shape[:2]),
        iterations=args.iterations, chains=args.chains, inner_steps=args.inner_steps,
        gamma=args.gamma, delta=args.delta, beta=args.beta, eps=args.eps, centre=args.centre,
        optimizer=args.optimizer, optimism=args.optimism, decay=args.decay,
        projection=args.projection, init=args.init, remat=args.remat, precision=args.precision,
        conv=args.conv, seed=args.seed,
        average_from=-args.average_last if args.average_last > 0 else 0,
        checkpoint_every=args.checkpoint_every or 50,
    ).validate()


def run(args: argparse.Namespace) -> int:
    from maxent_jax.synthesis import synthesize

    if args.distributed:
        from maxent_jax.parallel import initialize_distributed
        initialize_distributed()
    exemplar = load_exemplar_arg(args.image, args.max_side)
    config = config_from_args(args, exemplar.shape)
    if args.size and min(args.size) < min(exemplar.shape[:2]) // 4:
        raise ValueError(f"--size {args.size} is too small for a meaningful texture")
    variables = load_variables(args.weights)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    save_image(args.out_dir / "exemplar.png", exemplar)
    start = time.perf_counter()
    result = synthesize(exemplar, variables, config, out_dir=args.out_dir, resume=args.resume,
                        progress=not args.no_progress,
                        checkpoint=args.checkpoint_every is not None, devices=args.devices)
    seconds = time.perf_counter() - start
    import jax
    if jax.process_index() != 0:
        return 0
    paths = write_outputs(args.out_dir, result, config, extra={
        "image": str(args.image), "max_side": args.max_side,
        "weights": str(args.weights) if args.weights else None, "seconds": seconds})
    gap = result.trace["relative_gap"]
    print(f"relative feature gap {gap[0]:.3f} -> {gap[-1]:.3f} in {len(gap)} iterations "
          f"({seconds:.1f} s)")
    print(f"wrote {len(paths)} files to {args.out_dir}: " + ", ".join(p.name for p in paths))
    return 0


def write_outputs(out_dir: Path, result: Any, config: Any, extra: dict[str, Any]) -> list[Path]:
    """Samples, averages, trace.npz, trace.png and config.json."""
    paths = [save_image(out_dir / f"sample_{i:03d}.png", s) for i, s in enumerate(result.samples)]
    if result.average is not None:
        paths += [save_image(out_dir / f"average_{i:03d}.png", a)
                  for i, a in enumerate(result.average)]
    np.savez_compressed(out_dir / "trace.npz", **result.trace)
    paths.append(out_dir / "trace.npz")
    paths.append(plot_trace(result.trace, out_dir / "trace.png"))
    from maxent_jax import __version__

    record = {"config": config.to_json(), "version": __version__, **extra}
    (out_dir / "config.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    paths.append(out_dir / "config.json")
    return paths


def plot_trace(trace: dict[str, np.ndarray], path: Path) -> Path:
    """Relative feature gap (total and per layer) and ||theta|| against the iteration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    it = trace["iteration"]
    for j, name in enumerate(trace["layers"]):
        ax1.semilogy(it, trace["relative_gap_per_layer"][:, j], lw=0.6, alpha=0.6, label=name)
    ax1.semilogy(it, trace["relative_gap"], "k", lw=1.5, label="all")
    ax1.set(xlabel="iteration", title="relative feature gap ||mean F(X) - F(x0)|| / ||F(x0)||")
    ax1.legend(fontsize=6, ncol=2)
    ax2.plot(it, trace["theta_norm"])
    ax2.set(xlabel="iteration", title="||theta||")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
