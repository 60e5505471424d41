"""MALA's accept/reject ratio in float32 and in float64 on the learned VGG energy.

    python experiments/mala_precision/mala_precision.py [--model PATH] [--sizes 64 128 256]
                                                [--out experiments/mala_precision/mala_precision.json] [--quick]

The macrocanonical energy is extensive (about 3e6 at 64 px), and MALA's ratio needs
U(y) - U(x) to well within 1. This script measures, for a model learned with the library
defaults on the tuning exemplar ``wood`` at 64 px (300 iterations, 4 chains; ``--model``
reuses or writes it; :func:`mixing.learn`):

1. **Rounding of the energy difference.** At each size, from 8 ADSN starts x, the proposal
   y of one MALA move at the default gamma = 1e-7 (and 1e-9): the error of the float32
   difference U32(y) - U32(x) against the float64 one (hi + lo of
   :func:`maxent_jax.sampling.langevin.float64_potential`), its RMS and largest value.
2. **The probe.** At 64 px, the MALA probe acceptance
   (:func:`maxent_jax.sampling.soul.probe_acceptance`, 16 ADSN draws, the same keys) over
   the gamma grid of ``mixing.py``, with ``mala_energy="float32"`` and ``"float64"``; and at
   the largest size (8 draws) over small steps, 1e-10 to 1e-7, where the exact log-ratio is
   small and float32's rounding is not.
3. **Cost.** Seconds per MALA step of one chain (jitted, median of 5 after a warm-up),
   float32 and float64 energies, at each size.

Writes ``--out`` and prints markdown tables. ``--quick``: 16 px, relu1_1, a few draws.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "benchmarks"))
from mixing import GAMMAS, learn, model_arrays, model_potential  # noqa: E402

from maxent_jax.exemplars import load_exemplar  # noqa: E402
from maxent_jax.nn.backbone import load_network, prepare_backbone  # noqa: E402
from maxent_jax.sampling.langevin import float64_potential, mala_init, mala_step  # noqa: E402
from maxent_jax.sampling.soul import probe_acceptance  # noqa: E402
from maxent_jax.tasks.starts import adsn_starts  # noqa: E402
from maxent_jax.run.machine import describe_cpu

SMALL_GAMMAS = (1e-10, 1e-9, 1e-8, 1e-7)


def rounding(backbone, model, size: int, draws: int, seed: int) -> dict:
    """Errors of the float32 energy difference of one MALA proposal, against float64."""
    backbone = backbone.resized((size, size))
    potential = model_potential(backbone, model_arrays(model), model)
    u32 = jax.jit(lambda x: potential(x)[0])
    u64 = jax.jit(float64_potential(potential))
    grad = jax.jit(jax.grad(lambda x: potential(x)[0]))
    starts = adsn_starts(jax.random.key(seed), jnp.asarray(model.exemplar), (size, size), draws)
    out = {}
    for gamma in (1e-9, 1e-7):
        errors, energies, diffs = [], [], []
        for i, x in enumerate(starts):
            z = jax.random.normal(jax.random.key(seed + 100 + i), x.shape)
            y = x - gamma * grad(x) + np.sqrt(2 * gamma) * z
            (hx, lx), (hy, ly) = u64(x), u64(y)
            exact = (float(hy) - float(hx)) + (float(ly) - float(lx))
            errors.append(float(u32(y)) - float(u32(x)) - exact)
            energies.append(float(hx))
            diffs.append(exact)
        errors = np.asarray(errors)
        out[f"{gamma:g}"] = {"rms_error": float(np.sqrt(np.mean(errors**2))),
                             "max_error": float(np.abs(errors).max()),
                             "mean_energy": float(np.mean(energies)),
                             "mean_abs_difference": float(np.mean(np.abs(diffs)))}
    return out


def probe_tables(backbone, model, size: int, draws: int, seed: int,
                 gammas: tuple = GAMMAS) -> dict:
    backbone = backbone.resized((size, size))
    positions = adsn_starts(jax.random.key(seed + 1), jnp.asarray(model.exemplar),
                            (size, size), draws)
    key = jax.random.key(seed + 2)
    out = {}
    for energy in ("float32", "float64"):
        @jax.jit
        def probe(backbone, arrays, gamma, positions):
            return probe_acceptance(key, positions, model_potential(backbone, arrays, model), gamma,
                                    None, energy)
        out[energy] = {f"{g:g}": float(probe(backbone, model_arrays(model), g, positions))
                       for g in gammas}
    return out


def step_seconds(backbone, model, size: int, seed: int) -> dict:
    backbone = backbone.resized((size, size))
    potential = model_potential(backbone, model_arrays(model), model)
    x = adsn_starts(jax.random.key(seed), jnp.asarray(model.exemplar), (size, size), 1)[0]
    out = {}
    for name, exact in (("float32", None), ("float64", float64_potential(potential))):
        state = mala_init(x, potential, exact)
        step = jax.jit(lambda k, s: mala_step(k, s, potential, 1e-7, exact_potential=exact))
        jax.block_until_ready(step(jax.random.key(0), state))
        times = []
        for i in range(5):
            start = time.perf_counter()
            jax.block_until_ready(step(jax.random.key(i + 1), state))
            times.append(time.perf_counter() - start)
        out[name] = float(np.median(times))
    return out


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    p.add_argument("--draws", type=int, default=8, help="ADSN starts for the rounding errors")
    p.add_argument("--probe-chains", type=int, default=16)
    p.add_argument("--iterations", type=int, default=300)
    p.add_argument("--learn-chains", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--out", type=Path, default=Path("experiments/mala_precision/mala_precision.json"))
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    args.exemplar, args.size = "wood", 64
    if args.quick:
        args.size, args.sizes, args.iterations, args.learn_chains = 16, [16], 2, 2
        args.draws, args.probe_chains = 2, 2
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    variables, digest = load_network()
    exemplar = load_exemplar(args.exemplar, size=args.size)
    model, learn_seconds = learn(exemplar, variables, args)
    backbone = prepare_backbone(model.spec, variables, (args.size, args.size), digest)
    results = {"machine": describe_cpu(), "jax": jax.__version__, "exemplar": args.exemplar,
               "learn_size": args.size, "learn_seconds": learn_seconds,
               "rounding": {}, "seconds_per_mala_step": {}}
    for size in args.sizes:
        results["rounding"][str(size)] = rounding(backbone, model, size, args.draws, args.seed)
        results["seconds_per_mala_step"][str(size)] = step_seconds(backbone, model, size,
                                                                   args.seed)
    results["probe"] = probe_tables(backbone, model, args.size, args.probe_chains, args.seed)
    big = max(args.sizes)
    results["probe_small_steps"] = {"size": big, **probe_tables(
        backbone, model, big, max(2, args.probe_chains // 2), args.seed, SMALL_GAMMAS)}
    results["seconds"] = time.perf_counter() - start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print("| size | gamma | mean U | mean abs(U(y) - U(x)) | float32 error, RMS | max | "
          "s/step float32 | s/step float64 |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size, rows in results["rounding"].items():
        t = results["seconds_per_mala_step"][size]
        for gamma, r in rows.items():
            print(f"| {size} | {gamma} | {r['mean_energy']:.3g} | {r['mean_abs_difference']:.3g} "
                  f"| {r['rms_error']:.3g} | {r['max_error']:.3g} | {t['float32']:.3f} | "
                  f"{t['float64']:.3f} |")
    for name, table in (("probe", results["probe"]), ("probe_small_steps",
                                                       results["probe_small_steps"])):
        print(f"\n| {name} | " + " | ".join(table["float32"]) + " |")
        print("|---|" + "---:|" * len(table["float32"]))
        for energy in ("float32", "float64"):
            print(f"| {energy} | " + " | ".join(f"{v:.3f}" for v in table[energy].values())
                  + " |")
    print(f"\n{results['seconds']:.0f} s in all; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
