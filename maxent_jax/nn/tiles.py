"""Winograd tiles chosen at run time, by timing each convolution on the CPU in use.

VGG-19's 3x3 convolutions can be computed directly (``lax.conv``) or by Winograd's
F(m x m, 3 x 3) with m = 2 or 4 (:mod:`maxent_jax.nn.winograd`). Which is fastest depends on
the layer's shape (map side, input and output channels), on the batch and on the CPU: the
fixed rule :func:`maxent_jax.nn.vgg.winograd_tile` was measured on one 2-core AVX-512
machine, and an AVX2 machine's vector width and caches differ. With ``conv="measured"``
(``--conv measured`` on the command line) each convolution takes the tile that is fastest
here, by the cost a Langevin step pays for it,

    c_l(m) = t_forward(conv_l, m) + t_backward(conv_l, m),

the forward convolution plus its input gradient (the chains need grad_x only), each the
median of ``repeats`` timed calls after a warm-up, for one image (the seed's one chain) at
the layer's input size with zero padding. A candidate replaces the fixed rule's tile only if
it is faster by more than ``margin`` (5%), so that timing noise does not flip the choice
between near-equal candidates, and on a machine like the one the rule was measured on the
choice is the rule unless a measurement says otherwise.

The choice changes the rounding of the features (about 1e-6 relative for m = 2, 1e-5 for
m = 4), not the function, and since it depends on timings two runs on one machine may
differ in a layer whose candidates are close: a run records the tiles it used
(``config.json``: ``winograd_tiles``). The measurements are memoised per layer shape for the
life of the process (:func:`measured_tile`); nothing is written to disk.
"""

from __future__ import annotations

import functools
import statistics
import time
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from maxent_jax.nn.winograd import TILES, winograd_conv3x3_adjoint, winograd_kernel

__all__ = ["CANDIDATES", "LayerShape", "LayerTiming", "layer_shapes", "time_layer",
           "profile_layer", "choose_tile", "measured_tile", "measured_tiles"]

Array = jax.Array

CANDIDATES: tuple[int, ...] = (0,) + tuple(sorted(TILES))
"""The tiles tried: 0 (direct convolution) and every Winograd F(m, 3) of the library."""

MARGIN = 0.05
REPEATS = 5


class LayerShape(NamedTuple):
    """A convolution's input: ``height x width`` pixels, ``cin`` channels, to ``cout``."""

    height: int
    width: int
    cin: int
    cout: int


class LayerTiming(NamedTuple):
    """Seconds per call (medians) of one convolution's forward pass and input gradient."""

    forward: float
    backward: float

    @property
    def total(self) -> float:
        return self.forward + self.backward


def layer_shapes(image_hw: Sequence[int]) -> dict[str, LayerShape]:
    """The input shape of every VGG-19 convolution for an ``image_hw`` = (H, W) image
    (2x2 poolings with floor between the blocks)."""
    from maxent_jax.nn.vgg import CONV_CHANNELS

    h, w = int(image_hw[0]), int(image_hw[1])
    shapes, channels = {}, 3
    for name, out in CONV_CHANNELS.items():
        block = int(name[4]) - 1
        shapes[name] = LayerShape(h >> block, w >> block, channels, out)
        channels = out
    return shapes


def _layer_functions(m: int):
    """(forward, input gradient) of the convolution as the network computes it with tile m."""
    from maxent_jax.nn.vgg import conv3x3, transpose_kernel

    if m == 0:  # the adjoint kernel precomputed, as the backbone stores it
        def conv(x, kernel, kernel_t):
            return conv3x3(x, kernel, kernel_t, 1)

        def prepare(kernel):
            return (kernel, transpose_kernel(kernel))
    else:
        def conv(x, u, u_t):
            return winograd_conv3x3_adjoint(x, u, u_t, 1, m)

        def prepare(kernel):
            return (winograd_kernel(kernel, m), winograd_kernel(transpose_kernel(kernel), m))

    forward = jax.jit(conv)
    backward = jax.jit(lambda x, g, *k: jax.vjp(lambda x_: conv(x_, *k), x)[1](g)[0])
    return prepare, forward, backward


def _median_seconds(fn, args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))            # compile and warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_layer(shape: LayerShape, m: int, batch: int = 1, repeats: int = REPEATS) -> LayerTiming:
    """Time one convolution of ``shape`` with tile ``m`` (0: direct) for ``batch`` images."""
    if m not in CANDIDATES:
        raise ValueError(f"tile must be one of {CANDIDATES}, got {m!r}")
    with jax.ensure_compile_time_eval():  # eager even when a backbone is prepared under jit
        return _time_layer(shape, m, batch, repeats)


def _time_layer(shape: LayerShape, m: int, batch: int, repeats: int) -> LayerTiming:
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((batch, shape.height, shape.width, shape.cin)),
                    jnp.float32)
    g = jnp.asarray(rng.standard_normal((batch, shape.height, shape.width, shape.cout)),
                    jnp.float32)
    kernel = jnp.asarray(rng.standard_normal((3, 3, shape.cin, shape.cout)) / 30, jnp.float32)
    prepare, forward, backward = _layer_functions(m)
    kernels = jax.block_until_ready(prepare(kernel))
    return LayerTiming(_median_seconds(forward, (x, *kernels), repeats),
                       _median_seconds(backward, (x, g, *kernels), repeats))


def profile_layer(shape: LayerShape, batch: int = 1, repeats: int = REPEATS,
                  candidates: Sequence[int] = CANDIDATES) -> dict[int, LayerTiming]:
    """``{tile: timing}`` of one convolution shape for every candidate tile."""
    return {m: time_layer(shape, m, batch, repeats) for m in candidates}


def choose_tile(timings: dict[int, LayerTiming], rule: int, margin: float = MARGIN) -> int:
    """The fastest tile by forward + backward time; the rule's tile unless another is faster
    than it by more than ``margin`` (a fraction)."""
    best = min(timings, key=lambda m: timings[m].total)
    if rule in timings and timings[best].total > (1 - margin) * timings[rule].total:
        return rule
    return best


@functools.lru_cache(maxsize=None)
def measured_tile(shape: LayerShape, repeats: int = REPEATS) -> int:
    """The tile of :func:`choose_tile` for one convolution shape on this machine, measured
    once per process (one image; see the module's docstring)."""
    from maxent_jax.nn.vgg import winograd_tile

    rule = winograd_tile((shape.height, shape.width), shape.cin, shape.cout)
    return choose_tile(profile_layer(shape, 1, repeats), rule)


def measured_tiles(image_hw: Sequence[int]) -> dict[str, int]:
    """``{conv: tile}`` for every VGG-19 convolution at ``image_hw``, by :func:`measured_tile`."""
    return {name: measured_tile(shape) for name, shape in layer_shapes(image_hw).items()}
