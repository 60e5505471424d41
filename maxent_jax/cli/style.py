"""``maxent-jax style CONTENT STYLE --out-dir DIR``: style transfer with the macrocanonical model.

Writes ``result_000.png`` ... (last iterate of each chain), ``average_000.png`` ... (with
``--average-last``), ``content.png`` and ``style.png`` (the images as used), ``trace.npz``,
``trace.png`` and ``config.json``. See :mod:`maxent_jax.style`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

from maxent_jax.cli._common import (add_network_arguments, add_weights_argument, layers_arg,
                                    load_exemplar_arg, load_variables)
from maxent_jax.io import save_image

__all__ = ["add_parser", "run", "config_from_args", "add_soul_arguments", "soul_settings",
           "save_images", "write_record", "resize_to", "plot_style_trace"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``style`` sub-command."""
    from maxent_jax.style import StyleConfig

    d = StyleConfig()
    p = sub.add_parser(
        "style", help="style transfer: sample the style model of STYLE near CONTENT (SOUL)",
        description="Learn theta by SOUL and sample Pi_theta ∝ exp(-H W (beta <theta, F_s(x) - "
                    "F_s(style)> + w c(x))), c the content distance on --content-layers, "
                    "chains starting at the content image (De Bortoli et al., SIMODS 2021).")
    p.add_argument("content", type=Path, metavar="CONTENT")
    p.add_argument("style", type=Path, metavar="STYLE")
    p.add_argument("--out-dir", type=Path, required=True, metavar="DIR")
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), default=None,
                   help="output size: the content image is resized to it (default: the content "
                        "image's, after --max-side)")
    p.add_argument("--max-side", type=int, default=128,
                   help="shrink both images so their longer side is at most this (0: keep; "
                        "default 128, a CPU-friendly size)")
    p.add_argument("--iterations", type=int, default=d.iterations, help="outer SOUL steps")
    p.add_argument("--content-weight", type=float, default=d.content_weight,
                   help=f"weight w of the content term (0: style model only; default "
                        f"{d.content_weight:g}; above about 3e-5 / gamma lower --gamma)")
    p.add_argument("--content-layers", default=",".join(d.content_layers),
                   help="comma-separated layers of the content term (default: relu2_1; at 256 px "
                        "and above try relu3_1 or relu4_2)")
    add_network_arguments(p)
    p.add_argument("--colour-stats", action="store_true",
                   help="also constrain the RGB mean and covariance of the style image")
    p.add_argument("--init", choices=("content", "adsn", "noise"), default=d.init,
                   help="starting images (default: the content image)")
    p.add_argument("--chains", type=int, default=d.chains)
    add_soul_arguments(p, d)
    p.set_defaults(func=run)


def add_soul_arguments(p: argparse.ArgumentParser, d: Any) -> None:
    """The sampler options shared by ``style`` and ``inpaint`` (defaults from the config ``d``),
    then --weights and --no-progress."""
    p.add_argument("--inner-steps", type=int, default=d.inner_steps)
    p.add_argument("--gamma", type=float, default=d.gamma,
                   help=f"Langevin step (pixel units; default {d.gamma:g})")
    p.add_argument("--delta", type=float, default=d.delta,
                   help=f"theta step (default {d.delta:g})")
    p.add_argument("--optimism", type=float, default=d.optimism,
                   help="b of the optimistic theta step delta((1+b) g_n - b g_(n-1)); 0: plain "
                        f"SOUL step (default {d.optimism:g})")
    p.add_argument("--beta", type=float, default=d.beta)
    p.add_argument("--eps", type=float, default=d.eps, help="reference measure weight")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default=d.optimizer)
    p.add_argument("--average-last", type=int, default=0, metavar="N",
                   help="also write the average of the last N outer steps' positions")
    p.add_argument("--seed", type=int, default=d.seed)
    add_weights_argument(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def soul_settings(args: argparse.Namespace) -> dict[str, Any]:
    """:class:`maxent_jax.style.SOULSettings` fields from :func:`add_soul_arguments` and the
    network options."""
    return dict(
        preset=args.preset, layers=layers_arg(args.layers), activation=args.activation,
        pooling=args.pooling, padding=args.padding, colour=args.colour_stats,
        iterations=args.iterations, chains=args.chains, inner_steps=args.inner_steps,
        gamma=args.gamma, delta=args.delta, optimism=args.optimism, beta=args.beta,
        eps=args.eps, optimizer=args.optimizer, average_last=args.average_last, seed=args.seed)


def config_from_args(args: argparse.Namespace, content_shape: tuple[int, ...]) -> Any:
    """The :class:`maxent_jax.style.StyleConfig` of the command line (validated)."""
    from maxent_jax.style import StyleConfig

    return StyleConfig(
        content_layers=layers_arg(args.content_layers) or (), size=tuple(content_shape[:2]),
        content_weight=args.content_weight, init=args.init, **soul_settings(args),
    ).validate()


def resize_to(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resample ``(H, W, C)`` in [0, 1] to exactly ``size`` (bicubic, clipped to [0, 1])."""
    from PIL import Image

    if tuple(image.shape[:2]) == tuple(size):
        return image
    chans = [np.asarray(Image.fromarray(image[..., k]).resize((size[1], size[0]),
                                                               Image.Resampling.BICUBIC))
             for k in range(image.shape[-1])]
    return np.clip(np.stack(chans, axis=-1), 0.0, 1.0).astype(np.float32)


def _load(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    if args.size is not None and min(args.size) < 16:
        raise ValueError(f"--size {args.size[0]} {args.size[1]}: each side must be >= 16")
    if args.max_side and args.max_side < 16:
        raise ValueError("--max-side must be 0 (keep) or at least 16")
    content = load_exemplar_arg(args.content, args.max_side)
    style = load_exemplar_arg(args.style, args.max_side)
    if args.size is not None:
        content = resize_to(content, tuple(args.size))
    return content, style


def run(args: argparse.Namespace) -> int:
    """Run the style transfer and write its outputs; returns 0."""
    from maxent_jax.style import transfer_style

    content, style = _load(args)
    config = config_from_args(args, content.shape)
    variables = load_variables(args.weights)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    save_image(args.out_dir / "content.png", content)
    save_image(args.out_dir / "style.png", style)
    start = time.perf_counter()
    result = transfer_style(content, style, variables, config, progress=not args.no_progress)
    seconds = time.perf_counter() - start
    paths = _write(args.out_dir, result, config, {
        "content": str(args.content), "style": str(args.style), "max_side": args.max_side,
        "weights": str(args.weights) if args.weights else None, "seconds": seconds})
    gap, dist = result.trace["relative_gap"], result.trace["content_distance"].mean(axis=1)
    print(f"relative style gap {gap[0]:.3f} -> {gap[-1]:.3f}, content distance "
          f"{dist[0]:.3g} -> {dist[-1]:.3g} in {len(gap)} iterations ({seconds:.1f} s)")
    print(f"wrote {len(paths)} files to {args.out_dir}: " + ", ".join(p.name for p in paths))
    return 0


def _write(out_dir: Path, result: Any, config: Any, extra: dict[str, Any]) -> list[Path]:
    paths = save_images(out_dir, "result", result.images)
    paths += save_images(out_dir, "average", result.average)
    np.savez_compressed(out_dir / "trace.npz", **result.trace)
    paths += [out_dir / "trace.npz", plot_style_trace(result.trace, out_dir / "trace.png")]
    return paths + [write_record(out_dir, config, extra)]


def save_images(out_dir: Path, prefix: str, images: Optional[np.ndarray]) -> list[Path]:
    """``prefix_000.png``, ``prefix_001.png`` ... of a stack of images (none for None)."""
    if images is None:
        return []
    return [save_image(out_dir / f"{prefix}_{i:03d}.png", x) for i, x in enumerate(images)]


def write_record(out_dir: Path, config: Any, extra: dict[str, Any]) -> Path:
    """``config.json``: the run's config, the package version and ``extra``."""
    from maxent_jax import __version__

    record = {"config": config.to_json(), "version": __version__, **extra}
    path = out_dir / "config.json"
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
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
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
