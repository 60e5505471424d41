"""JAX beside PyTorch on one accelerator, in one run: grad_x <theta, F(x)> and SOUL iterations.

    python scripts/benchmarks/gpu.py [--weights W.npz] [--sizes 64 128 256 512]
        [--soul-sizes 64 128 256] [--iterations 50] [--chains 1 16] [--chain-size 256]
        [--precisions float32 tf32 bfloat16] [--repeats 20]

The accelerator counterpart of ``vgg_grad.py`` (issue 3) and ``soul.py`` (issue 4), paper preset.

1. ``grad_x <theta, F(x)>`` for one image: jitted ``value_and_grad`` against torch (cuDNN,
   eager), both in float32 proper (JAX ``Precision.HIGHEST``; torch with TF32 switched off) and
   both in TF32 (JAX ``precision="tf32"``; torch's ``allow_tf32``).
2. Seconds per SOUL iteration, one chain, float32: ``soul_run`` in a jitted ``lax.scan`` against
   the eager reference loop of docs/reference.md §2 (two forwards and one backward per iteration).
3. Iterations per second at ``--chain-size`` for each chain count and each JAX precision
   (``float32``, ``tf32``, ``bfloat16``), with the first-call (compile) time.

Weights: ``--weights`` (e.g. real weights carried as float16 by ``scripts/gpu/half_weights.py``)
or random ones with VGG-19's shapes (timing does not depend on their values). Both sides
synchronise the device before reading the clock.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import torch

from maxent_jax.nn import features as feats
from maxent_jax.nn.vgg import vgg_variables, with_transposed_kernels

from _torch_reference import TorchFeatures  # noqa: E402  (script folder on sys.path)
from soul import jax_time, torch_loop  # noqa: E402
from vgg_grad import jax_fn, load  # noqa: E402


def median_time(fn, repeats: int, sync) -> float:
    times = []
    for _ in range(repeats):
        sync()
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def set_torch_tf32(on: bool) -> None:
    torch.backends.cudnn.allow_tf32 = on
    torch.backends.cuda.matmul.allow_tf32 = on


def grad_table(weights, variables, sizes, repeats, device) -> None:
    print("\n1. grad_x <theta, F(x)>, one image: seconds per call (median)")
    print(f"{'size':>5} {'precision':>9} {'torch s':>9} {'jax s':>9} {'torch/jax':>10}"
          f" {'max rel. diff':>14}")
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for precision in ("float32", "tf32"):
        spec = feats.get_spec("paper", precision=precision)
        net = TorchFeatures(weights, spec.layers).to(device)
        set_torch_tf32(precision == "tf32")
        theta_np = np.random.default_rng(1).normal(size=feats.feature_dim(spec)).astype(np.float32)
        tt = torch.from_numpy(theta_np).to(device)
        grad = jax_fn(spec, False)
        for size in sizes:
            x_np = np.random.default_rng(size).uniform(size=(size, size, 3)).astype(np.float32)
            x, theta = jnp.asarray(x_np), jnp.asarray(theta_np)
            xt = torch.from_numpy(x_np).permute(2, 0, 1)[None].contiguous().to(device)

            def torch_call():
                xg = xt.clone().requires_grad_(True)
                (net(xg)[0] @ tt).backward()
                return xg.grad

            def jax_call():
                return jax.block_until_ready(grad(variables, x, theta))

            g_j = np.asarray(jax_call()[1])
            g_t = torch_call()[0].permute(1, 2, 0).cpu().numpy()
            err = np.abs(g_j - g_t).max() / np.abs(g_t).max()
            t_t = median_time(torch_call, repeats, sync)
            t_j = median_time(jax_call, repeats, sync)
            print(f"{size:>5} {precision:>9} {t_t:>9.5f} {t_j:>9.5f} {t_t / t_j:>10.2f}"
                  f" {err:>14.1e}", flush=True)


def soul_table(weights, variables, sizes, iterations, device) -> None:
    print("\n2. SOUL, one chain, float32: seconds per iteration (after compilation)")
    print(f"{'size':>5} {'torch s/it':>11} {'jax s/it':>9} {'speed-up':>9} {'jax first call s':>17}")
    spec = feats.get_spec("paper")
    net = TorchFeatures(weights, spec.layers).to(device)
    set_torch_tf32(False)
    for size in sizes:
        x_np = np.random.default_rng(size).uniform(size=(size, size, 3)).astype(np.float32)
        x_t = torch.from_numpy(x_np).permute(2, 0, 1)[None].contiguous().to(device)
        torch_loop(net, x_t, 2)
        t_torch = torch_loop(net, x_t, iterations)
        first, t_jax = jax_time(spec, variables, jnp.asarray(x_np), 1, iterations)
        print(f"{size:>5} {t_torch:>11.5f} {t_jax:>9.5f} {t_torch / t_jax:>8.2f}x {first:>17.1f}",
              flush=True)


def chains_table(variables, size, chains_list, precisions, iterations) -> None:
    print(f"\n3. SOUL at {size} px: iterations per second (jax)")
    print(f"{'precision':>9} {'chains':>6} {'it/s':>8} {'chain-it/s':>11} {'first call s':>13}")
    x_np = np.random.default_rng(0).uniform(size=(size, size, 3)).astype(np.float32)
    for precision in precisions:
        spec = feats.get_spec("paper", precision=precision)
        for chains in chains_list:
            try:
                first, t = jax_time(spec, variables, jnp.asarray(x_np), chains, iterations)
            except Exception as err:  # e.g. out of memory: report and go on
                print(f"{precision:>9} {chains:>6}   failed: {type(err).__name__}: {str(err)[:80]}")
                continue
            print(f"{precision:>9} {chains:>6} {1 / t:>8.2f} {chains / t:>11.1f} {first:>13.1f}",
                  flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="weights file (default: random)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--soul-sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--chains", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--chain-size", type=int, default=256)
    parser.add_argument("--precisions", nargs="+", default=["float32", "tf32", "bfloat16"])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    if args.weights:
        from maxent_jax.nn.weights import load_weights
        weights = load_weights(args.weights, cache=False)
    else:
        weights = load(random_weights=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    variables = with_transposed_kernels(vgg_variables(weights))
    dev = jax.devices()[0]
    print(f"paper preset; jax {jax.__version__} on {dev.device_kind} ({dev.platform}); torch "
          f"{torch.__version__} on {torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}"
          f"; weights: {args.weights or 'random (VGG-19 shapes)'}")
    grad_table(weights, variables, args.sizes, args.repeats, device)
    soul_table(weights, variables, args.soul_sizes, args.iterations, device)
    chains_table(variables, args.chain_size, args.chains, args.precisions, args.iterations)


if __name__ == "__main__":
    main()
