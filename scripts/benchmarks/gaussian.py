"""Throughput of batched ADSN: maxent_jax.gaussian (jitted) against the same formula in numpy.

ADSN (Galerne, Gousseau, Morel, IEEE TIP 2011): X = m + |Omega|^{-1/2} (p - m) * W, with p the
periodic component of the exemplar (Moisan 2011) and the same white noise W for every channel.
Both implementations compute, per call, the periodic component, the spot's FFT, a batch of white
noises and the convolutions (real FFTs), in float32. Times are wall-clock, after a warm-up call,
with ``block_until_ready`` on the JAX side.

    python scripts/benchmarks/gaussian.py [--size 512] [--batch 16] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Callable

import jax
import numpy as np

from maxent_jax import gaussian


def numpy_periodic_component(x: np.ndarray) -> np.ndarray:
    """Moisan's periodic component in numpy (same maths as maxent_jax.gaussian)."""
    h, w = x.shape[:2]
    v = np.zeros_like(x)
    row, col = x[-1] - x[0], x[:, -1] - x[:, 0]
    v[0] += row
    v[-1] -= row
    v[:, 0] += col
    v[:, -1] -= col
    q, r = np.arange(h)[:, None] / h, np.arange(w // 2 + 1)[None, :] / w
    symbol = (-4.0 * (np.sin(np.pi * q) ** 2 + np.sin(np.pi * r) ** 2)).astype(np.float32)
    symbol[0, 0] = 1.0
    s_hat = np.fft.rfft2(v, axes=(0, 1)) / symbol[..., None]
    s_hat[0, 0] = 0
    return x - np.fft.irfft2(s_hat, s=(h, w), axes=(0, 1)).astype(np.float32)


def numpy_adsn_from_noise(noise: np.ndarray, x0: np.ndarray) -> np.ndarray:
    """ADSN samples ``(B, H, W, C)`` of ``x0``'s periodic component for noises ``(B, H, W)``."""
    h, w = x0.shape[:2]
    p = numpy_periodic_component(x0)
    m = p.mean(axis=(0, 1))
    spot_hat = np.fft.rfft2(p - m, axes=(0, 1))
    noise_hat = np.fft.rfft2(noise, axes=(1, 2))[..., None]
    conv = np.fft.irfft2(spot_hat * noise_hat, s=(h, w), axes=(1, 2))
    return (m + conv / np.sqrt(h * w)).astype(np.float32)


def numpy_adsn(rng: np.random.Generator, x0: np.ndarray, batch: int) -> np.ndarray:
    """``batch`` ADSN samples ``(batch, H, W, C)`` with numpy.fft (pocketfft)."""
    noise = rng.standard_normal((batch,) + x0.shape[:2], dtype=np.float32)
    return numpy_adsn_from_noise(noise, x0)


def seconds_per_call(call: Callable[[int], object], repeats: int) -> float:
    """Median wall time of ``call(i)`` over ``repeats`` calls, after one warm-up call."""
    call(-1)
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        call(i)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="exemplar side in pixels (square)")
    parser.add_argument("--batch", type=int, default=16, help="samples per call")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls (median reported)")
    parser.add_argument("--channels", type=int, default=3, choices=(1, 3))
    args = parser.parse_args()

    x0 = np.random.default_rng(0).uniform(size=(args.size, args.size, args.channels))
    x0 = x0.astype(np.float32)
    x0_dev = jax.device_put(x0)
    sampler = jax.jit(lambda key, x: gaussian.adsn(key, x, num=args.batch))
    key = jax.random.key(0)
    jax_call = lambda i: sampler(jax.random.fold_in(key, i + 1), x0_dev).block_until_ready()
    rng = np.random.default_rng(0)
    np_call = lambda i: numpy_adsn(rng, x0, args.batch)

    # same formula: both implementations agree on a common noise
    noise = rng.standard_normal((1,) + x0.shape[:2], dtype=np.float32)
    ours = gaussian.adsn_from_noise(noise[0], gaussian.periodic_component(x0_dev))
    gap = float(np.abs(np.asarray(ours) - numpy_adsn_from_noise(noise, x0)[0]).max())
    assert gap < 1e-3, f"jax and numpy ADSN differ by {gap}"

    # the same without drawing the noise (threefry vs numpy's PCG64 + ziggurat): FFT work only
    noises = rng.standard_normal((args.batch,) + x0.shape[:2], dtype=np.float32)
    noises_dev = jax.device_put(noises)
    batched = jax.vmap(gaussian.adsn_from_noise, in_axes=(0, None))
    from_noise = jax.jit(lambda w, x: batched(w, gaussian.periodic_component(x)))
    jax_fft = lambda i: from_noise(noises_dev, x0_dev).block_until_ready()
    np_fft = lambda i: numpy_adsn_from_noise(noises, x0)

    rows = [(("numpy.fft", "jax (jit)"), "noise drawn in the call",
             [seconds_per_call(f, args.repeats) for f in (np_call, jax_call)]),
            (("numpy.fft", "jax (jit)"), "noise given (FFTs only)",
             [seconds_per_call(f, args.repeats) for f in (np_fft, jax_fft)])]
    print(f"ADSN, batch {args.batch} x {args.size}x{args.size}x{args.channels}, float32, "
          f"median of {args.repeats} calls; jax {jax.__version__} ({jax.default_backend()}, "
          f"{jax.devices()[0].device_kind}), numpy {np.__version__}, {os.cpu_count()} CPU(s)")
    print(f"{'implementation':<12} {'case':<25} {'s / call':>9} {'samples / s':>12}")
    for names, case, secs in rows:
        for name, sec in zip(names, secs):
            print(f"{name:<12} {case:<25} {sec:>9.4f} {args.batch / sec:>12.2f}")
        print(f"{'':<12} {'speed-up jax / numpy':<25} {secs[0] / secs[1]:>8.2f}x")


if __name__ == "__main__":
    main()
