"""``maxent-jax style CONTENT STYLE --out-dir DIR``: style transfer with the macrocanonical model.

Writes ``result_000.png`` ... (last iterate of each chain), ``average_000.png`` ... (with
``--average-last``), ``content.png`` and ``style.png`` (the images as used), ``trace.npz``,
``trace.png`` and ``config.json``; with ``--checkpoint-every K`` also ``checkpoint.npz``
(``--resume`` continues). See :mod:`maxent_jax.tasks.style`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from maxent_jax.cli._common import (add_run_arguments, add_settings_arguments, check_out_dir,
                                    check_seed, clear_out_dir, config_from_args,
                                    load_exemplar_arg, prepare, report_written, write_run)
from maxent_jax.io import save_image
from maxent_jax.run.plots import plot_style_trace

__all__ = ["add_parser", "run", "resize_to"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``style`` sub-command."""
    from maxent_jax.tasks.style import StyleConfig

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
    add_settings_arguments(p, StyleConfig, ("network", "sampler", "learner", "run", "task"))
    add_run_arguments(p)
    p.set_defaults(func=run)


def resize_to(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resample ``(H, W, C)`` in [0, 1] to exactly ``size`` (bicubic, clipped to [0, 1])."""
    from PIL import Image

    if tuple(image.shape[:2]) == tuple(size):
        return image
    chans = [np.asarray(Image.fromarray(image[..., k]).resize((size[1], size[0]),
                                                               Image.Resampling.BICUBIC))
             for k in range(image.shape[-1])]
    return np.clip(np.stack(chans, axis=-1), 0.0, 1.0).astype(np.float32)


def run(args: argparse.Namespace) -> int:
    """Check everything, run the style transfer, write its outputs; returns 0."""
    from maxent_jax.tasks.style import StyleConfig, transfer_style

    check_out_dir(args)
    check_seed(args.seed)
    if args.size is not None and min(args.size) < 1:
        raise ValueError(f"--size {args.size[0]} {args.size[1]}: each side must be >= 1")
    spec = config_from_args(StyleConfig, args).spec()
    content = load_exemplar_arg(args.content, args.max_side)
    if args.size is not None:
        content = resize_to(content, tuple(args.size))
    from maxent_jax.nn.backbone import check_image_size

    check_image_size(content.shape[:2], spec, f"the content image {args.content}")
    style = load_exemplar_arg(args.style, args.max_side, spec, "the style image")
    config = config_from_args(StyleConfig, args, size=tuple(content.shape[:2]))
    context = prepare(args, spec, content.shape[:2], config.chains, content.shape[-1], config)
    clear_out_dir(args)
    start = time.perf_counter()
    result = transfer_style(content, style, context.backbone, config, out_dir=args.out_dir,
                            resume=args.resume, checkpoint=args.checkpoint_every is not None,
                            progress=not args.no_progress, devices=args.devices,
                            allow_step_change=args.allow_step_change)
    seconds = time.perf_counter() - start
    if not context.writes:
        return 0
    inputs = [save_image(args.out_dir / "content.png", content),
              save_image(args.out_dir / "style.png", style)]
    paths = inputs + write_run(
        args.out_dir, {"result": result.images, "average": result.average},
        trace=result.trace, plot=plot_style_trace, config=config,
        record={"content": str(args.content), "style": str(args.style),
                "max_side": args.max_side, "seconds": seconds, **context.record})
    gap, dist = result.trace["relative_gap"], result.trace["content_distance"].mean(axis=1)
    print(f"relative style gap {gap[0]:.3f} -> {gap[-1]:.3f}, content distance "
          f"{dist[0]:.3g} -> {dist[-1]:.3g} in {len(gap)} iterations ({seconds:.1f} s)")
    report_written(args.out_dir, paths)
    return 0

