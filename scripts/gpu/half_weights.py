"""Carry the real VGG-19 weights to an accelerator machine in under 64 MiB (float16, few layers).

    python scripts/gpu/half_weights.py export --upto conv5_2 -o .gpu/vgg16bit.npz   # here
    python scripts/gpu/half_weights.py expand .gpu/vgg16bit.npz -o /tmp/vgg.npz        # there

``export`` keeps the convolutions up to ``--upto`` (conv5_2 is the deepest one the ``paper``
preset uses) as float16: 31 MB instead of 80 MB of float32. ``expand`` writes a float32
``.npz`` that ``--weights`` reads (``maxent_jax.nn.weights.save_weights``); the convolutions that
were not exported are **zeros**, so only presets that stop at or before ``--upto`` are valid
with it. Rounding to float16 changes the weights by about 5e-4 relative.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from maxent_jax.nn.weights import CONV_NAMES, VGGWeights, load_weights, save_weights


def export(upto: str, dst: Path) -> None:
    weights = load_weights()
    keep = CONV_NAMES[: CONV_NAMES.index(upto) + 1]
    arrays = {f"{n}.{p}": weights.params[n][p].astype(np.float16)
              for n in keep for p in ("kernel", "bias")}
    dst.parent.mkdir(parents=True, exist_ok=True)
    np.savez(dst, preprocess_matrix=weights.preprocess_matrix,
             preprocess_bias=weights.preprocess_bias, source=np.array(weights.source), **arrays)
    print(f"{dst}: {len(keep)} convolutions ({keep[0]} .. {keep[-1]}), "
          f"{dst.stat().st_size / 2**20:.1f} MiB")


def expand(src: Path, dst: Path) -> None:
    from maxent_jax.nn.vgg import CONV_CHANNELS
    with np.load(src, allow_pickle=False) as data:
        params, cin = {}, 3
        for name in CONV_NAMES:
            cout = CONV_CHANNELS[name]
            if f"{name}.kernel" in data:
                params[name] = {p: data[f"{name}.{p}"].astype(np.float32)
                                for p in ("kernel", "bias")}
            else:
                params[name] = {"kernel": np.zeros((3, 3, cin, cout), np.float32),
                                "bias": np.zeros(cout, np.float32)}
            cin = cout
        weights = VGGWeights(params, data["preprocess_matrix"], data["preprocess_bias"],
                             str(data["source"]), "")
    print(save_weights(weights, dst))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("--upto", default="conv5_2", choices=CONV_NAMES)
    e.add_argument("-o", "--out", type=Path, required=True)
    x = sub.add_parser("expand")
    x.add_argument("src", type=Path)
    x.add_argument("-o", "--out", type=Path, required=True)
    args = parser.parse_args()
    if args.cmd == "export":
        export(args.upto, args.out)
    else:
        expand(args.src, args.out)


if __name__ == "__main__":
    main()
