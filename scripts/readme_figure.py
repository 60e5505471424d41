"""The README's picture: each bundled exemplar | ADSN | RPN | macrocanonical CNN samples.

    python scripts/readme_figure.py [--out docs/overview.png] [--iterations 500] [--chains 2]

CPU-sized: exemplars at most 128 px, default synthesis settings. Also writes the run's
relative feature gaps to ``docs/overview.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import jax
import numpy as np

from maxent_jax.tasks import gaussian
from maxent_jax.exemplars import list_exemplars, load_exemplar
from maxent_jax.io import save_image
from maxent_jax.tasks.texture import SynthesisConfig, synthesize
from maxent_jax.nn.backbone import load_network


def rgb(x: np.ndarray) -> np.ndarray:
    return np.repeat(x, 3, -1) if x.shape[-1] == 1 else x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/overview.png"))
    parser.add_argument("--iterations", type=int, default=SynthesisConfig().iterations)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    variables, _ = load_network(None)
    rows, gaps = [], {}
    for name in list_exemplars():
        x0 = load_exemplar(name, size=args.size)
        key = jax.random.key(0)
        adsn = np.asarray(gaussian.adsn(key, x0))
        rpn = np.asarray(gaussian.random_phase_noise(key, x0))
        config = dataclasses.replace(SynthesisConfig(), iterations=args.iterations,
                                     chains=args.chains)
        result = synthesize(x0, variables, config, progress=False)
        gaps[name] = {"initial": float(result.trace["relative_gap"][0]),
                      "final": float(result.trace["relative_gap"][-1])}
        tiles = [x0, adsn, rpn] + list(result.samples)
        pad = np.ones((x0.shape[0], 4, x0.shape[-1]), np.float32)
        rows.append(np.concatenate(sum([[rgb(t), rgb(pad)] for t in tiles], [])[:-1], axis=1))
        print(name, gaps[name], flush=True)
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=1) for r in rows]
    save_image(args.out, np.concatenate(rows, axis=0))
    args.out.with_suffix(".json").write_text(json.dumps(
        {"columns": ["exemplar", "ADSN", "RPN"] + [f"CNN chain {i}" for i in range(args.chains)],
         "iterations": args.iterations, "relative_gap": gaps}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
