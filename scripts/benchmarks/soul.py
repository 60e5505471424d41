"""Seconds per SOUL iteration in JAX beside a faithful PyTorch reference loop, in one run.

    python scripts/benchmarks/soul.py [--sizes 64 128] [--iterations 20] [--chains 1 4 16]
                                      [--chain-size 64] [--random-weights]

The PyTorch loop is the reference of docs/reference.md §2 (Galerne & Bouza's course solution): per
iteration one forward + backward for grad_x V, a Langevin move, then a second forward for
the theta step; one chain; V = <theta, beta (F(x) - F(x0))> + (eps/2) ||x||^2. The JAX side runs
``soul_run`` (one forward + backward per Langevin step, F(x) reused for the theta step) inside
a jitted ``lax.scan``, with the same settings (m = 1, constant steps, sgd). Reported: seconds
per iteration (after compilation), the first-call compile + run time, and the chain throughput
(chain-iterations per second) for several chain counts.
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch

from maxent_jax.nn import features as feats
from maxent_jax.sampling.energy import macrocanonical_energy
from maxent_jax.sampling.schedules import constant
from maxent_jax.sampling.soul import soul_init, soul_run
from maxent_jax.nn.vgg import vgg_variables, with_transposed_kernels, with_winograd_kernels

from _torch_reference import TorchFeatures  # noqa: E402
from vgg_grad import load  # noqa: E402

BETA, EPS, GAMMA, DELTA = 128.0, 0.1, 2e-5, 8e-4


def torch_loop(net, x0, iterations: int) -> float:
    """The reference loop; returns seconds per iteration."""
    with torch.no_grad():
        f0 = net(x0)[0]
    theta = torch.zeros_like(f0)
    x = x0.clone()
    sync = torch.cuda.synchronize if x0.is_cuda else (lambda: None)
    sync()
    start = time.perf_counter()
    for _ in range(iterations):
        xg = x.clone().requires_grad_(True)
        v = BETA * (theta @ (net(xg)[0] - f0)) + EPS / 2 * (xg**2).sum()
        (grad,) = torch.autograd.grad(v, xg)
        x = x - GAMMA * grad + (2 * GAMMA) ** 0.5 * torch.randn_like(x)
        with torch.no_grad():
            theta = theta + DELTA * (net(x)[0] - f0)
    sync()
    return (time.perf_counter() - start) / iterations


def jax_runner(spec, iterations: int):
    opt = optax.sgd(DELTA)

    def run(variables, x0, key, state):
        f = feats.make_feature_fn(spec, variables)
        energy = macrocanonical_energy(f, f(x0), beta=BETA, eps=EPS)
        return soul_run(key, state, energy, iterations, optimizer=opt,
                        step_size=constant(GAMMA))

    return jax.jit(run), opt


def jax_time(spec, variables, x0, chains: int, iterations: int) -> tuple[float, float]:
    """(compile + first call seconds, seconds per iteration afterwards)."""
    run, opt = jax_runner(spec, iterations)
    state = soul_init(jnp.repeat(x0[None], chains, 0), jnp.zeros(feats.feature_dim(spec)), opt)
    key = jax.random.key(0)
    t = time.perf_counter()
    state, _ = jax.block_until_ready(run(variables, x0, key, state))
    first = time.perf_counter() - t
    t = time.perf_counter()
    jax.block_until_ready(run(variables, x0, key, state))
    return first, (time.perf_counter() - t) / iterations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--chains", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--chain-size", type=int, default=64)
    parser.add_argument("--random-weights", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    torch.set_flush_denormal(True)  # as XLA does; see vgg_grad.py
    weights = load(args.random_weights)
    spec = feats.get_spec("paper")
    variables = with_transposed_kernels(vgg_variables(weights))
    net = TorchFeatures(weights, spec.layers)
    print(f"SOUL, paper preset, m = 1, one chain; jax {jax.__version__} "
          f"({jax.devices()[0].device_kind}), torch {torch.__version__}, {os.cpu_count()} CPU(s)")
    print("jax: Winograd convolutions (library default on the CPU) and direct ones")
    print(f"{'size':>5} {'torch s/it':>11} {'jax s/it':>9} {'speed-up':>9} {'jax first call s':>17}"
          f" {'direct s/it':>12} {'speed-up':>9} {'first call s':>13}")
    for size in args.sizes:
        x_np = np.random.default_rng(size).uniform(size=(size, size, 3)).astype(np.float32)
        x_t = torch.from_numpy(x_np).permute(2, 0, 1)[None].contiguous()
        t_torch = float("inf")
        for threads in range(1, (os.cpu_count() or 1) + 1):  # the fastest count, to be fair
            torch.set_num_threads(threads)
            torch_loop(net, x_t, 2)
            t_torch = min(t_torch, torch_loop(net, x_t, args.iterations))
        wino = with_winograd_kernels(variables, (size, size), "winograd")
        first, t_jax = jax_time(spec, wino, jnp.asarray(x_np), 1, args.iterations)
        first_d, t_d = jax_time(spec, variables, jnp.asarray(x_np), 1, args.iterations)
        print(f"{size:>5} {t_torch:>11.4f} {t_jax:>9.4f} {t_torch / t_jax:>8.2f}x {first:>17.1f}"
              f" {t_d:>12.4f} {t_torch / t_d:>8.2f}x {first_d:>13.1f}")
    print(f"\nchains at {args.chain_size} px: chain-iterations per second")
    x_np = np.random.default_rng(0).uniform(size=(args.chain_size,) * 2 + (3,)).astype(np.float32)
    wino = with_winograd_kernels(variables, (args.chain_size,) * 2, "winograd")
    for chains in args.chains:
        first, t_jax = jax_time(spec, wino, jnp.asarray(x_np), chains, args.iterations)
        print(f"{chains:>3} chains: {chains / t_jax:8.2f} chain-it/s "
              f"({t_jax:.4f} s/it, first call {first:.1f} s)")


if __name__ == "__main__":
    main()
