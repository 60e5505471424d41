"""``maxent-jax features IMAGE --out F.npy``: the feature vector F(x) of an image."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from maxent_jax.cli._common import add_network_arguments, add_weights_argument
from maxent_jax.io import load_image

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "features", help="compute F(x), the VGG-19 channel means, of an image",
        description="Write F(x) (channel means of the chosen VGG-19 layers, in network order) "
                    "of IMAGE at its own size to a .npy file.")
    parser.add_argument("image", type=Path, metavar="IMAGE")
    parser.add_argument("--out", type=Path, required=True, metavar="F.npy")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    add_network_arguments(parser)
    add_weights_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import jax

    from maxent_jax.nn import features as feats

    from maxent_jax.io import write_atomic
    from maxent_jax.nn.backbone import check_image_size, load_backbone

    if args.out.is_dir():
        raise ValueError(f"--out {args.out} is a folder; give a file name")
    if args.out.exists() and not args.overwrite:
        raise ValueError(f"--out {args.out} exists; pass --overwrite to replace it")

    spec = feats.get_spec(args.preset, layers=args.layers, activation=args.activation,
                          pooling=args.pooling, padding=args.padding)
    image = load_image(args.image)
    check_image_size(image.shape[:2], spec, f"the image {args.image}")
    backbone = load_backbone(spec, image.shape[:2], args.weights)
    f = jax.jit(lambda b, x: b.features(x))(backbone, image)
    if not np.isfinite(np.asarray(f)).all():
        raise ValueError(f"F(x) of {args.image} is not finite (NaN or infinite pixels?)")
    write_atomic(args.out, lambda fh: np.save(fh, np.asarray(f)))
    print(f"wrote F(x) (p = {f.shape[0]}, layers {', '.join(spec.layers)}) to {args.out}")
    return 0
