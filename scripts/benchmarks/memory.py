"""Largest image at which C chains of a SOUL step fit in a memory budget, with/without remat.

    python scripts/benchmarks/memory.py [--chains 8] [--budget-gb 24] [--sizes 256 512 ...]

Uses XLA's own accounting of the compiled SOUL chunk (``compiled.memory_analysis()``:
arguments + outputs + temporaries), so nothing is allocated: the figure is what the
compiled program needs on this backend. Random weights of the real shapes (same memory).
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import optax

from maxent_jax.nn import features as feats
from maxent_jax.sampling.energy import macrocanonical_energy
from maxent_jax.sampling.schedules import constant
from maxent_jax.sampling.soul import soul_init, soul_run
from maxent_jax.nn.vgg import random_variables, with_transposed_kernels


def needed_bytes(size: int, chains: int, remat: bool, variables) -> int:
    spec = feats.get_spec("paper", remat=remat or None)
    opt = optax.sgd(1e-3)

    def run(v, x0, key, state):
        f = feats.make_feature_fn(spec, v)
        energy = macrocanonical_energy(f, f(x0), extensive=True)
        return soul_run(key, state, energy, 2, optimizer=opt, step_size=constant(1e-7))

    x0 = jax.ShapeDtypeStruct((size, size, 3), jnp.float32)
    state = jax.eval_shape(lambda: soul_init(jnp.zeros((chains, size, size, 3)),
                                             jnp.zeros(feats.feature_dim(spec)), opt))
    key = jax.eval_shape(lambda: jax.random.key(0))
    m = jax.jit(run).lower(variables, x0, key, state).compile().memory_analysis()
    return (m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
            - m.alias_size_in_bytes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=8)
    parser.add_argument("--budget-gb", type=float, default=24.0)
    parser.add_argument("--sizes", type=int, nargs="+",
                        default=[128, 256, 384, 512, 640, 768, 896, 1024, 1280, 1536])
    args = parser.parse_args()
    variables = with_transposed_kernels(random_variables(jax.random.key(0)))
    budget = args.budget_gb * 2**30
    print(f"SOUL chunk, paper preset, {args.chains} chains, backend {jax.default_backend()}; "
          f"GiB needed (XLA memory analysis), budget {args.budget_gb} GiB")
    print(f"{'size':>6} {'no remat':>10} {'remat':>10}")
    best = {False: 0, True: 0}
    for size in args.sizes:
        row = []
        for remat in (False, True):
            need = needed_bytes(size, args.chains, remat, variables)
            row.append(need / 2**30)
            if need <= budget:
                best[remat] = max(best[remat], size)
        print(f"{size:>6} {row[0]:>10.2f} {row[1]:>10.2f}")
    print(f"largest size that fits: {best[False]} px without remat, {best[True]} px with remat")


if __name__ == "__main__":
    main()
