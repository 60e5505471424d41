"""Per-step time of the command line beside the SOUL benchmark's, measured in one run.

    python experiments/cli_step/cli_step.py [--size 64] [--short 20] [--long 520] [--repeats 2]

The command line (``maxent-jax synthesize`` on the bundled wood exemplar at ``--size`` px,
paper preset, default settings, checkpoint cadence 50) runs as a subprocess for ``--short``
and ``--long`` outer steps, with the persistent compilation cache off, so both runs compile
the same programs; ``(T(long) - T(short)) / (long - short)`` is its time per step with
start-up, compilation and writing the outputs cancelled out. The benchmark is the jitted
``lax.scan`` of SOUL steps of ``scripts/benchmarks/soul.py`` (same preset and size, Winograd
convolutions, one chain), timed in this process over ``--bench-steps`` steps, best of
``--repeats`` calls. A ratio near 1 means the command line adds nothing per step to what the
kernels cost; before issue 12 a 140-step run compiled a second program for its last 40 steps.
The default ``--long`` is large enough that the difference of the two command-line times
(seconds of compute) dwarfs their run-to-run noise (a few tenths of a second).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "benchmarks"))
from soul import jax_runner  # noqa: E402

from maxent_jax.exemplars import exemplar_path, load_exemplar  # noqa: E402
from maxent_jax.nn import features as feats  # noqa: E402
from maxent_jax.nn.backbone import load_backbone  # noqa: E402


def cli_seconds(iterations: int, size: int) -> float:
    env = dict(os.environ, MAXENT_JAX_COMPILE_CACHE="off")
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "maxent_jax.cli", "synthesize", str(exemplar_path("wood")),
               "--out-dir", out, "--max-side", str(size), "--iterations", str(iterations),
               "--no-progress"]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start


def bench(backbone, x0, steps: int, repeats: int) -> tuple[float, float]:
    """(first call seconds, best seconds per step) of soul.py's jitted SOUL scan."""
    from maxent_jax.sampling.soul import soul_init

    run, opt = jax_runner(backbone.spec, steps)
    state = soul_init(x0[None], jnp.zeros(backbone.dim), opt)
    key = jax.random.key(0)
    t = time.perf_counter()
    state, _ = jax.block_until_ready(run(backbone.variables, x0, key, state))
    first, best = time.perf_counter() - t, float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(run(backbone.variables, x0, key, state))
        best = min(best, (time.perf_counter() - t) / steps)
    return first, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--short", type=int, default=20)
    parser.add_argument("--long", type=int, default=520)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--bench-steps", type=int, default=100)
    args = parser.parse_args()
    print(f"jax {jax.__version__} ({jax.devices()[0].device_kind}), {os.cpu_count()} CPU(s); "
          f"paper preset, {args.size} px, one chain")
    shorts, longs = [], []
    for _ in range(args.repeats):
        shorts.append(cli_seconds(args.short, args.size))
        longs.append(cli_seconds(args.long, args.size))
    t_short, t_long = min(shorts), min(longs)
    per_step_cli = (t_long - t_short) / (args.long - args.short)
    x0 = jnp.asarray(load_exemplar("wood", size=args.size))
    backbone = load_backbone(feats.get_spec("paper"), x0.shape[:2])
    first, per_step_bench = bench(backbone, x0, args.bench_steps, args.repeats)
    print(f"command line: T({args.short}) = {t_short:.1f} s, T({args.long}) = {t_long:.1f} s "
          f"(best of {args.repeats}): {per_step_cli:.4f} s/step")
    print(f"benchmark (soul.py's jitted scan): {per_step_bench:.4f} s/step "
          f"(first call {first:.1f} s)")
    print(f"command line / benchmark: {per_step_cli / per_step_bench:.3f}")


if __name__ == "__main__":
    main()
