"""``maxent-jax inpaint IMAGE MASK --out-dir DIR``: texture inpainting, known pixels kept.

MASK is an image of IMAGE's size whose white pixels are unknown (black: known). Writes
``inpainted_000.png`` ... (one per sample/chain), ``masked.png`` (the input with the hole in
black), ``mask.png`` and ``config.json``; with ``--model cnn`` also ``gaussian_000.png`` ... (the
Gaussian conditional samples the chains start from), ``trace.npz`` and ``trace.png`` (and ``checkpoint.npz`` with ``--checkpoint-every K``;
``--resume`` continues).
See :mod:`maxent_jax.tasks.inpaint`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from maxent_jax.cli._common import (add_run_arguments, add_settings_arguments, check_out_dir,
                                    check_seed, clear_out_dir, config_from_args, prepare,
                                    report_written, write_run)
from maxent_jax.io import load_image, save_image

__all__ = ["add_parser", "run", "load_inputs"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``inpaint`` sub-command."""
    from maxent_jax.tasks.inpaint import InpaintConfig

    p = sub.add_parser(
        "inpaint", help="fill the white pixels of MASK in IMAGE with texture (known pixels kept)",
        description="Texture inpainting: Gaussian conditional simulation (kriging; Galerne & "
                    "Leclaire 2017) or Langevin sampling of the macrocanonical CNN model "
                    "conditioned on the known pixels (SOUL).")
    p.add_argument("image", type=Path, metavar="IMAGE")
    p.add_argument("mask", type=Path, metavar="MASK",
                   help="black and white image of IMAGE's size; white pixels are unknown")
    p.add_argument("--out-dir", type=Path, required=True, metavar="DIR")
    p.add_argument("--exemplar", type=Path, default=None, metavar="PATH",
                   help="learn the model on this texture instead of the known part of IMAGE")
    p.add_argument("--max-side", type=int, default=0,
                   help="shrink IMAGE and MASK so the longer side is at most this (0: keep); "
                        "a pixel partly under the mask stays unknown")
    p.add_argument("--num", dest="chains", type=int, default=InpaintConfig().chains,
                   help="number of samples (chains; same as --chains)")
    p.add_argument("--border", type=int, default=InpaintConfig().border,
                   help="width of the band of known pixels conditioned on (0: all known "
                        f"pixels; default {InpaintConfig().border})")
    add_settings_arguments(p, InpaintConfig, ("network", "sampler", "learner", "run", "task"))
    add_run_arguments(p)
    p.set_defaults(func=run)


def _shrink(image: np.ndarray, mask: np.ndarray, max_side: int) -> tuple[np.ndarray, np.ndarray]:
    from maxent_jax.exemplars import resize_longer_side

    if not max_side or max(image.shape[:2]) <= max_side:
        return image, mask
    small = resize_longer_side(mask[..., None].astype(np.float32), max_side)[..., 0]
    return resize_longer_side(image, max_side), small > 0


def load_inputs(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, Any]:
    """IMAGE, the validated boolean MASK (True: unknown) and the exemplar (or None)."""
    from maxent_jax.tasks.inpaint import load_mask

    if args.max_side and args.max_side < 16:
        raise ValueError("--max-side must be 0 (keep) or at least 16")
    image = load_image(args.image)
    try:
        mask = np.asarray(load_mask(args.mask, image.shape))
    except ValueError as err:
        raise ValueError(f"mask {args.mask} (image {args.image}): {err}") from None
    image, mask = _shrink(image, mask, args.max_side)
    exemplar = None if args.exemplar is None else load_image(args.exemplar)
    if exemplar is not None and exemplar.shape[-1] != image.shape[-1]:
        exemplar = load_image(args.exemplar, mode="rgb" if image.shape[-1] == 3 else "grey")
    return image, mask, exemplar


def run(args: argparse.Namespace) -> int:
    """Check everything, inpaint, write the outputs; returns 0."""
    from maxent_jax.nn.backbone import check_image_size
    from maxent_jax.tasks.inpaint import InpaintConfig, inpaint_image, validate_mask

    check_out_dir(args)
    check_seed(args.seed)
    if args.border < 0:
        raise ValueError(f"--border must be >= 0 (0: all known pixels), got {args.border}")
    config = config_from_args(InpaintConfig, args, border=args.border or None)
    image, mask, exemplar = load_inputs(args)
    try:
        validate_mask(mask, image.shape)  # still both known and unknown pixels after --max-side
    except ValueError as err:
        raise ValueError(f"mask {args.mask} after --max-side {args.max_side}: {err}") from None
    backbone, writes = None, True
    record = {"weights": str(args.weights) if args.weights else None}
    if config.model == "cnn":
        spec = config.spec()
        check_image_size(image.shape[:2], spec, f"the image {args.image}")
        if exemplar is not None:
            check_image_size(exemplar.shape[:2], spec, f"the exemplar {args.exemplar}")
        backbone, record, writes = prepare(args, spec, image.shape[:2], config.chains,
                                           image.shape[-1], config)
    elif args.resume:
        raise ValueError("--resume goes with --model cnn (the Gaussian model has no iterations)")
    clear_out_dir(args)
    start = time.perf_counter()
    result = inpaint_image(image, mask, backbone, config, exemplar=exemplar,
                           out_dir=args.out_dir, resume=args.resume,
                           checkpoint=args.checkpoint_every is not None,
                           progress=not args.no_progress, devices=args.devices,
                           allow_step_change=args.allow_step_change)
    seconds = time.perf_counter() - start
    if not writes:
        return 0
    paths = _write(args.out_dir, image, mask, result, config, {
        "image": str(args.image), "mask": str(args.mask), "max_side": args.max_side,
        "exemplar": str(args.exemplar) if args.exemplar else None, "seconds": seconds,
        **record})
    residual = float(np.max(result.trace["cg_residual"]))
    print(f"inpainted {int(mask.sum())} pixels with the {config.model} model in {seconds:.1f} s "
          f"(kriging CG relative residual {residual:.1e})")
    if not residual < 1e-2:
        print("warning: the kriging system was not solved accurately; try a larger --jitter "
              "or a smaller --border", file=sys.stderr)
    report_written(args.out_dir, paths)
    return 0


def _write(out_dir: Path, image: np.ndarray, mask: np.ndarray, result: Any, config: Any,
           record: dict[str, Any]) -> list[Path]:
    """The inpainted images, the masked input and the mask, then (CNN model) the Gaussian
    starts, the averages, the trace, and config.json
    (:func:`maxent_jax.cli._common.write_run`)."""
    from maxent_jax.run.plots import plot_trace

    paths = write_run(out_dir, {"inpainted": result.images})
    paths.append(save_image(out_dir / "masked.png", np.where(mask[..., None], 0.0, image)))
    paths.append(save_image(out_dir / "mask.png", mask.astype(np.float32)))
    cnn = config.model == "cnn"
    return paths + write_run(
        out_dir, {"gaussian": result.gaussian, "average": result.average} if cnn else {},
        trace=result.trace if cnn else None, plot=plot_trace, config=config, record=record)
