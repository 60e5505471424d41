"""What the MALA probe adds to a SOUL run's compilation, side by side in one run.

    python experiments/probe_compile/probe_compile.py [--size 64] [--chains 2] [--iterations 2]
        [--repeats 3] [--out experiments/probe_compile/probe_compile.json]

Each measurement is a fresh Python process (no persistent compilation cache) that runs
``synthesize`` on wood with the defaults (the paper preset, float64 probe energies) for a
few iterations, so its time is almost all compilation; three variants, interleaved:

* ``none``: ``probe_every=0``, no probe in the program;
* ``scan``: the library's probe (:func:`maxent_jax.sampling.soul.probe_acceptance`: U and
  grad U at x and at the proposal y evaluated by one two-step ``lax.scan``, so the network
  is compiled once for the probe);
* ``two_pass``: the probe written as ``mala_step(mala_init(x))`` (the network's forward and
  backward passes appear twice in the program; the library's formulation before the scan),
  patched in for this measurement.

Reported: seconds per variant (each repeat and the median), and the probe's share of the
compilation, (t_probe - t_none) / t_none, for both formulations.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from maxent_jax.run.machine import describe_cpu

VARIANTS = ("none", "scan", "two_pass")


def two_pass_probe(key, positions, potential, gamma, precond=None, mala_energy="float64"):
    """The probe as one MALA step from ``mala_init`` per chain (two network passes)."""
    import jax

    from maxent_jax.sampling.langevin import exact_potential_for, mala_init
    from maxent_jax.sampling.preconditioned import langevin_steps

    mala_step = langevin_steps(precond)[1]
    exact = exact_potential_for(potential, mala_energy)

    def one(k, x):
        state = mala_init(x, potential, exact)
        return mala_step(k, state, potential, gamma, exact_potential=exact)[1].acceptance_rate

    return jax.vmap(one)(jax.random.split(key, positions.shape[0]), positions).mean()


def child(variant: str, size: int, chains: int, iterations: int) -> float:
    """One measurement in this process: seconds of ``synthesize`` (compilation included)."""
    from maxent_jax.exemplars import load_exemplar
    from maxent_jax.nn.backbone import load_network
    from maxent_jax.sampling import soul
    from maxent_jax.tasks.texture import SynthesisConfig, synthesize

    if variant == "two_pass":
        soul.probe_acceptance = two_pass_probe
    variables, _ = load_network(None)
    exemplar = load_exemplar("wood", size=size)
    extra = {"probe_every": 0} if variant == "none" else {}
    config = SynthesisConfig(iterations=iterations, chains=chains, checkpoint_every=iterations,
                             **extra)
    start = time.perf_counter()
    synthesize(exemplar, variables, config, progress=False)
    return time.perf_counter() - start




def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--iterations", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path,
                   default=Path("experiments/probe_compile/probe_compile.json"))
    p.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps({"seconds": child(args.child, args.size, args.chains,
                                           args.iterations)}))
        return 0
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    seconds: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for r in range(args.repeats):
        order = VARIANTS if r % 2 == 0 else VARIANTS[::-1]
        for variant in order:
            done = subprocess.run(
                [sys.executable, __file__, "--child", variant, "--size", str(args.size),
                 "--chains", str(args.chains), "--iterations", str(args.iterations)],
                env=env, capture_output=True, text=True, check=True)
            seconds[variant].append(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])
            print(f"{variant:9s} {seconds[variant][-1]:.1f} s", flush=True)
    median = {v: statistics.median(s) for v, s in seconds.items()}
    share = {v: (median[v] - median["none"]) / median["none"] for v in ("scan", "two_pass")}
    record = {"command": "python experiments/probe_compile/probe_compile.py " + " ".join(argv or
                                                                                   sys.argv[1:]),
              "machine": describe_cpu(), "size": args.size, "chains": args.chains,
              "iterations": args.iterations, "seconds": seconds, "median_seconds": median,
              "probe_share_of_compilation": share}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"median: no probe {median['none']:.1f} s, probe as one scan {median['scan']:.1f} s "
          f"(+{100 * share['scan']:.0f}%), probe as two passes {median['two_pass']:.1f} s "
          f"(+{100 * share['two_pass']:.0f}%); wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
