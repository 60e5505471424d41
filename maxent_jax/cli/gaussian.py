"""``maxent-jax gaussian``: sample the Gaussian texture model of an exemplar (ADSN or RPN).

    maxent-jax gaussian IMAGE --out-dir DIR [--method adsn|rpn] [--size H W] [--num N]
                        [--seed S] [--no-periodic]

writes ``DIR/sample_000.png``, ``DIR/sample_001.png``, ... (values clipped to [0, 1]); grey
exemplars give grey samples. See :mod:`maxent_jax.gaussian` (Galerne, Gousseau, Morel 2011).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import numpy as np

from maxent_jax.cli._common import add_output_arguments, check_out_dir, check_seed, clear_out_dir
from maxent_jax.io import load_image, save_image
from maxent_jax import gaussian

__all__ = ["add_parser", "run"]

_SAMPLERS = {"adsn": gaussian.adsn, "rpn": gaussian.random_phase_noise}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``gaussian`` sub-command."""
    p = subparsers.add_parser(
        "gaussian", help="sample Gaussian textures (ADSN or random phase noise) from an exemplar",
        description="Exact samples of the Gaussian (mean + autocorrelation) texture model of an "
                    "exemplar: asymptotic discrete spot noise (adsn) or random phase noise (rpn).")
    p.add_argument("image", metavar="IMAGE", help="exemplar image file (grey or RGB)")
    p.add_argument("--out-dir", required=True, type=Path, metavar="DIR",
                   help="folder for sample_000.png, sample_001.png, ... (created if needed)")
    p.add_argument("--method", choices=tuple(_SAMPLERS), default="adsn",
                   help="adsn: Gaussian spot noise; rpn: random phase noise (default: adsn)")
    p.add_argument("--size", nargs=2, type=int, metavar=("H", "W"), default=None,
                   help="output size, at least the exemplar's (default: the exemplar's size)")
    p.add_argument("--num", type=int, default=1, help="number of samples (default: 1)")
    p.add_argument("--seed", type=int, default=0, help="random seed, >= 0 (default: 0)")
    add_output_arguments(p, resume=False)
    p.add_argument("--no-periodic", dest="periodic", action="store_false",
                   help="use the raw exemplar instead of its periodic component "
                        "(shows the border artefacts of periodic convolution)")
    p.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> None:
    if args.num < 1:
        raise ValueError(f"--num must be at least 1, got {args.num}")
    check_seed(args.seed)
    check_out_dir(args)
    if args.size is not None and min(args.size) < 1:
        raise ValueError(f"--size {args.size[0]} {args.size[1]}: each side must be >= 1")


def _check_memory(num: int, size: tuple[int, int], channels: int) -> None:
    """Refuse outputs whose arrays (about 16 bytes per value: samples, FFTs) cannot fit."""
    from maxent_jax.run.memory import available_bytes

    need, limit = 16 * num * size[0] * size[1] * channels, available_bytes()
    if limit is not None and need > limit:
        raise ValueError(f"{num} samples of {size[0]}x{size[1]} need about {need / 2**30:.1f} "
                         f"GiB, more than the {limit / 2**30:.1f} GiB available; lower --num "
                         "or --size")


def run(args: argparse.Namespace) -> int:
    """Sample ``args.num`` textures and write them as PNG files; returns 0."""
    _check_args(args)
    x0 = load_image(args.image)
    size = None if args.size is None else tuple(args.size)
    _check_memory(args.num, size or x0.shape[:2], x0.shape[-1])
    sampler = jax.jit(_SAMPLERS[args.method], static_argnames=("size", "periodic", "num"))
    samples = np.asarray(sampler(jax.random.key(args.seed), x0, size=size,
                                 periodic=args.periodic, num=args.num))
    if not np.isfinite(samples).all():
        raise ValueError(f"the samples of {args.image} are not finite")
    clear_out_dir(args)
    paths = [save_image(args.out_dir / f"sample_{i:03d}.png", s) for i, s in enumerate(samples)]
    clipped = float(np.mean((samples < 0) | (samples > 1)))
    h, w, c = samples.shape[1:]
    print(f"wrote {len(paths)} {args.method} sample(s) of {h}x{w} {'grey' if c == 1 else 'RGB'} "
          f"to {args.out_dir}: {paths[0].name}" + (f" ... {paths[-1].name}" if len(paths) > 1 else "")
          + f" ({100 * clipped:.2f}% of values clipped to [0, 1])")
    return 0
