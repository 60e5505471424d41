"""``maxent-jax convert-weights SRC -o DST``: VGG-19 weights to a maxent-jax ``.npz``.

SRC is any file :func:`maxent_jax.nn.weights.load_weights` reads (legacy or zip PyTorch checkpoint,
Keras ``.h5``, or a converted ``.npz``), detected from its content. The output is deterministic and
is re-read and verified before the command reports it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from maxent_jax.nn.weights import convert_weights, load_weights

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> None:
    """Register the ``convert-weights`` sub-command."""
    parser = subparsers.add_parser(
        "convert-weights",
        help="convert VGG-19 weights (.pth, .h5) to a maxent-jax .npz",
        description=(
            "Convert VGG-19 weights (legacy or zip PyTorch .pth, Keras .h5, or a converted .npz;"
            " the format is read from the content) to a deterministic maxent-jax .npz, then"
            " re-read and verify it."
        ),
    )
    parser.add_argument("src", type=Path, metavar="SRC", help="weight file to convert")
    parser.add_argument(
        "-o", "--output", type=Path, required=True, metavar="DST",
        help="output .npz file (an existing directory receives the cache file name)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing DST")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Convert ``args.src`` to ``args.output`` and print what was written."""
    if args.output.is_file() and not args.overwrite:
        raise ValueError(f"-o {args.output} exists; pass --overwrite to replace it")
    written = convert_weights(args.src, args.output)
    weights = load_weights(written, cache=False)
    size_mb = written.stat().st_size / 1e6
    print(
        f"wrote {written} ({size_mb:.1f} MB): VGG-19 from {weights.source} "
        f"({len(weights.params)} convolutions, native padding {weights.native_padding})"
    )
    return 0
