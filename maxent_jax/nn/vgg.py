"""VGG-19 (Simonyan & Zisserman, ICLR 2015) as a Flax module returning named activations.

The module maps an RGB image in ``[0, 1]`` (NHWC; a grey image is repeated on the three
channels) to the activations requested by name: ``convX_Y`` (before the non-linearity),
``reluX_Y`` (after it, whatever the activation) and ``poolX``. Nothing deeper than the deepest
requested layer is computed. The input preprocessing of each weight set (an affine map per
pixel, e.g. RGB -> mean-subtracted BGR in [0, 255]) is the first parameter of the model, so
every weight convention takes the same input.

Options, after docs/reference.md §2 and De Bortoli et al. (SIMODS 2021): ``activation`` ``relu`` or
``celu`` (alpha = 1, so that F is smooth), ``pooling`` ``max`` or ``avg`` (2x2, stride 2,
floor), ``padding`` ``zero``, ``reflect`` or ``circular`` (1 pixel). Circular padding treats
the image as a torus, as the Gaussian models' periodic convolutions do: a convolution then
commutes with circular shifts, so the channel means of a layer after k 2x2 poolings are
invariant under circular shifts by multiples of 2^k pixels (exactly, up to rounding).

Convolutions use a custom VJP whose input gradient is a convolution with the flipped,
in/out-swapped kernel ``kernel_t``. ``with_transposed_kernels`` precomputes those once, so a
Langevin loop (``lax.scan``) does not redo them, and XLA:CPU gets a kernel layout on its fast
path (docs/reference.md §5); gradients are those of autodiff (tested).

On the CPU, ``with_winograd_kernels(variables, (H, W))`` adds the transformed kernels of
Winograd's F(m x m, 3 x 3) (:mod:`maxent_jax.nn.winograd`) for an input size; with ``conv="auto"``
(default) the layers that have them then use Winograd convolutions, whose backward pass is
again a Winograd convolution with the adjoint kernel. The tile sizes follow
:func:`winograd_tile`, measured on a 2-core AVX-512 machine (``scripts/benchmarks``).
"""

from __future__ import annotations

import functools
from typing import Any, Mapping, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from maxent_jax.nn.winograd import winograd_conv3x3_adjoint, winograd_kernel

__all__ = [
    "CONV_CHANNELS",
    "check_options",
    "LAYER_NAMES",
    "PADDINGS",
    "PRECISIONS",
    "VGG19",
    "CONV_ALGORITHMS",
    "conv3x3",
    "conv_tiles",
    "random_variables",
    "transpose_kernel",
    "layer_channels",
    "vgg_variables",
    "with_transposed_kernels",
    "with_winograd_kernels",
    "winograd_tile",
]

Array = jax.Array

CONV_CHANNELS: dict[str, int] = {
    f"conv{b}_{i}": c
    for b, (n, c) in enumerate([(2, 64), (2, 128), (4, 256), (4, 512), (4, 512)], start=1)
    for i in range(1, n + 1)
}
"""Output channels of each convolution, in network order."""


def _layer_names() -> tuple[str, ...]:
    names: list[str] = []
    for conv in CONV_CHANNELS:
        block, index = conv[4:].split("_")
        names += [conv, f"relu{block}_{index}"]
        if int(index) == (2 if int(block) <= 2 else 4):
            names.append(f"pool{block}")
    return tuple(names)


LAYER_NAMES: tuple[str, ...] = _layer_names()
"""Every addressable layer, in network order (conv1_1, relu1_1, conv1_2, relu1_2, pool1, ...)."""


def layer_channels(name: str) -> int:
    """Number of channels of the activation ``name`` (e.g. ``relu3_1`` -> 256)."""
    if name not in LAYER_NAMES:
        raise ValueError(f"unknown VGG-19 layer {name!r}; valid names: {', '.join(LAYER_NAMES)}")
    if name.startswith("pool"):
        return CONV_CHANNELS[f"conv{name[4]}_2"]
    return CONV_CHANNELS["conv" + name.split("conv")[-1].split("relu")[-1]]


PADDINGS = ("zero", "reflect", "circular")
PRECISIONS = ("float32", "tf32", "bfloat16")
"""Convolution arithmetic: full float32 (``lax.Precision.HIGHEST``), the backend's default
(TF32 tensor cores on NVIDIA Ampere and later; float32 on CPU), or bfloat16 inputs with float32
accumulation."""


CONV_ALGORITHMS = ("auto", "direct", "winograd", "measured")
"""How 3x3 convolutions are computed: ``direct`` (``lax.conv``); ``winograd`` (Winograd
F(m x m, 3 x 3), :mod:`maxent_jax.nn.winograd`, tile size from :func:`winograd_tile`; transformed
kernels taken from the ``winograd`` collection or computed at every call); ``auto``: Winograd
for the layers whose transformed kernels :func:`with_winograd_kernels` stored (it stores
them on the CPU backend only: GPU/TPU libraries pick their own algorithms), direct for the
others; ``measured``: as ``auto``, with each layer's tile (0, 2 or 4) the fastest on this
CPU by a timing made at run time (:mod:`maxent_jax.nn.tiles`). Winograd changes the rounding (about 1e-6 relative for m = 2, 1e-5 for m = 4), not
the function; a ``precision`` other than float32, and forward-mode networks, stay direct."""


def winograd_tile(spatial: Sequence[int], in_channels: int, out_channels: int = 0) -> int:
    """Output tile m of the Winograd convolution for an input of ``spatial`` = (H, W) pixels.

    0 means a direct convolution. The rule was measured on 2 AVX-512 cores (XLA:CPU, jax
    0.10.2; per layer and by a greedy per-layer search on the whole gradient of the paper
    features at 64, 128 and 256 px): the RGB input layer and large 64-channel maps (more than
    64 x 64 pixels) stay direct; maps under 16 pixels a side, and 256 -> 256 channel maps of
    17 to 32 pixels, take m = 2, whose transformed kernels (16/9 of the weights, against 36/9
    for m = 4) are cheaper to stream when there are few tiles; everything else takes m = 4
    (4x fewer multiplications than direct).
    """
    side = min(spatial)
    if in_channels <= 3 or (in_channels <= 64 and side > 64):
        return 0
    if side < 16 or (16 < side <= 32 and in_channels == out_channels == 256):
        return 2
    return 4


def _conv(x: Array, kernel: Array, pad: int, precision: str = "float32") -> Array:
    kwargs: dict[str, Any] = {"precision": jax.lax.Precision.HIGHEST}
    if precision == "tf32":
        kwargs = {"precision": jax.lax.Precision.DEFAULT}
    elif precision == "bfloat16":
        x, kernel = x.astype(jnp.bfloat16), kernel.astype(jnp.bfloat16)
        kwargs = {"preferred_element_type": jnp.float32}
    return jax.lax.conv_general_dilated(
        x, kernel, (1, 1), [(pad, pad), (pad, pad)],
        dimension_numbers=("NHWC", "HWIO", "NHWC"), **kwargs,
    )


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def conv3x3(x: Array, kernel: Array, kernel_t: Array, pad: int,
            precision: str = "float32") -> Array:
    """3x3 stride-1 convolution ``x * kernel`` (NHWC, HWIO) with ``pad`` zero pixels.

    ``kernel_t = flip(kernel)`` with input/output channels swapped: the adjoint of the
    convolution is ``g -> g * kernel_t`` with ``2 - pad`` zero pixels.
    """
    return _conv(x, kernel, pad, precision)


def _conv3x3_fwd(x, kernel, kernel_t, pad, precision):
    return _conv(x, kernel, pad, precision), (x, kernel, kernel_t)


def _conv3x3_bwd(pad, precision, residuals, g):
    x, kernel, kernel_t = residuals
    dx = _conv(g, kernel_t, 2 - pad, precision).astype(x.dtype)
    _, kernel_vjp = jax.vjp(lambda k: _conv(x, k, pad, precision), kernel)
    return dx, kernel_vjp(g)[0], jnp.zeros_like(kernel_t)


conv3x3.defvjp(_conv3x3_fwd, _conv3x3_bwd)


def transpose_kernel(kernel: Array) -> Array:
    """Flip a HWIO kernel in space and swap I and O: the kernel of the adjoint convolution."""
    return jnp.swapaxes(jnp.flip(kernel, axis=(0, 1)), 2, 3)


class Conv3x3(nn.Module):
    """3x3 convolution with bias; ``padding`` is ``zero``, ``reflect`` or ``circular`` (1 pixel).

    ``activation`` (``relu``/``celu``), when given, is applied inside the module: the unit
    that ``VGG19(remat=True)`` rematerialises. ``tile`` > 0: Winograd F(tile, 3), with the
    transformed kernels of the ``winograd`` collection when present (their cotangents then
    go there, not to ``kernel``: differentiate weights without that collection).
    """

    features: int
    padding: str = "zero"
    adjoint_kernels: bool = True
    precision: str = "float32"
    activation: Optional[str] = None
    tile: int = 0

    @nn.compact
    def __call__(self, x: Array) -> Array:
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (3, 3, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        if self.has_variable("transposed", "kernel_t"):
            kernel_t = self.get_variable("transposed", "kernel_t")
        else:
            kernel_t = transpose_kernel(kernel)
        pad = 1
        if self.padding in ("reflect", "circular"):
            mode = "reflect" if self.padding == "reflect" else "wrap"
            x, pad = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode=mode), 0
        if self.tile:
            u, u_t = (self._stored_or(f"{p}{self.tile}", k, self.tile)
                      for p, k in (("u", kernel), ("ut", kernel_t)))
            y = winograd_conv3x3_adjoint(x, u, u_t, pad, self.tile) + bias
        elif self.adjoint_kernels:
            y = conv3x3(x, kernel, kernel_t, pad, self.precision) + bias
        else:  # plain lax.conv: supports forward-mode autodiff (jvp)
            y = _conv(x, kernel, pad, self.precision) + bias
        return y if self.activation is None else _activation(self.activation, y)

    def _stored_or(self, key: str, kernel: Array, m: int) -> Array:
        """Transformed kernel from the ``winograd`` collection, else computed from ``kernel``."""
        if self.has_variable("winograd", key):
            return self.get_variable("winograd", key)
        return winograd_kernel(kernel, m)


def _activation(name: str, x: Array) -> Array:
    return jax.nn.celu(x) if name == "celu" else jax.nn.relu(x)


class Preprocess(nn.Module):
    """Per-pixel affine map ``y = x @ matrix.T + bias`` from RGB in [0, 1] to the net's input."""

    @nn.compact
    def __call__(self, x: Array) -> Array:
        matrix = self.param("matrix", lambda _: jnp.eye(3, dtype=jnp.float32))
        bias = self.param("bias", lambda _: jnp.zeros(3, jnp.float32))
        if x.shape[-1] == 1:
            x = jnp.repeat(x, 3, axis=-1)
        # HIGHEST: a 3x3 map; DEFAULT would round to TF32 on recent GPUs (1e-3 relative).
        return jnp.matmul(x, matrix.T.astype(x.dtype), precision=jax.lax.Precision.HIGHEST) \
            + bias.astype(x.dtype)


def check_options(activation: str, pooling: str, padding: str,
                  precision: str = "float32", conv: str = "auto") -> None:
    for name, value, allowed in (("activation", activation, ("relu", "celu")),
                                 ("pooling", pooling, ("avg", "max")),
                                 ("padding", padding, PADDINGS),
                                 ("precision", precision, PRECISIONS),
                                 ("conv", conv, CONV_ALGORITHMS)):
        if value not in allowed:
            raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


class VGG19(nn.Module):
    """VGG-19 feature extractor returning ``{name: activation}`` for ``outputs``.

    Input: ``(N, H, W, C)`` or ``(H, W, C)`` with ``C`` in {1, 3}, RGB/grey in [0, 1].
    Output activations keep the input's batch layout. ``adjoint_kernels=False`` uses plain
    convolutions (needed for forward-mode autodiff, ``jax.jvp``, which custom VJPs lack).
    ``remat=True`` rematerialises each convolution + activation in the backward pass
    (``flax.linen.remat``, i.e. ``jax.checkpoint``): only each unit's input is kept, about
    half the activation memory, for one more forward pass. ``precision``: see ``PRECISIONS``.
    ``conv``: see ``CONV_ALGORITHMS``; ``auto`` takes Winograd exactly for the layers whose
    transformed kernels ``with_winograd_kernels`` stored in the variables.
    """

    outputs: tuple[str, ...] = ("relu5_2",)
    activation: str = "relu"
    pooling: str = "max"
    padding: str = "zero"
    adjoint_kernels: bool = True
    remat: bool = False
    precision: str = "float32"
    conv: str = "auto"

    def _act(self, x: Array) -> Array:
        return _activation(self.activation, x)

    def _conv_unit(self, name: str, fused: bool, h: Array) -> nn.Module:
        cls = nn.remat(Conv3x3) if fused else Conv3x3
        return cls(CONV_CHANNELS[name], self.padding, self.adjoint_kernels, self.precision,
                   self.activation if fused else None, tile=self._tile(name, h), name=name)

    def _tile(self, name: str, h: Array) -> int:
        if self.conv == "direct" or self.precision != "float32" or not self.adjoint_kernels:
            return 0
        stored = self.variables.get("winograd", {}).get(name, {})
        if self.conv == "measured":  # the tile with_winograd_kernels chose and stored
            return next((m for m in (2, 4) if f"u{m}" in stored), 0)
        tile = winograd_tile(h.shape[-3:-1], h.shape[-1], CONV_CHANNELS[name])
        return tile if self.conv == "winograd" or f"u{tile}" in stored else 0

    def _pool(self, x: Array) -> Array:
        pool = nn.avg_pool if self.pooling == "avg" else nn.max_pool
        return pool(x, (2, 2), strides=(2, 2), padding="VALID")

    @nn.compact
    def __call__(self, x: Array) -> dict[str, Array]:
        check_options(self.activation, self.pooling, self.padding, self.precision, self.conv)
        wanted = set(self.outputs)
        unknown = wanted.difference(LAYER_NAMES)
        if unknown or not wanted:
            raise ValueError(f"unknown or no VGG-19 layers requested: {sorted(unknown)}")
        last = max(LAYER_NAMES.index(name) for name in wanted)
        single = x.ndim == 3
        h = Preprocess(name="preprocess")(x[None] if single else x)
        out: dict[str, Array] = {}
        fused = False
        for name in LAYER_NAMES[: last + 1]:
            if name.startswith("conv"):
                fused = self.remat and name not in wanted
                h = self._conv_unit(name, fused, h)(h)
            elif name.startswith("relu"):
                h = h if fused else self._act(h)
            else:
                h = self._pool(h)
            if name in wanted:
                out[name] = h[0] if single else h
        return out


def vgg_variables(weights: Any) -> dict[str, Any]:
    """Flax variables ``{"params": ...}`` from a :class:`maxent_jax.nn.weights.VGGWeights`."""
    params: dict[str, Any] = {
        "preprocess": {
            "matrix": jnp.asarray(weights.preprocess_matrix, jnp.float32),
            "bias": jnp.asarray(weights.preprocess_bias, jnp.float32),
        }
    }
    for name in CONV_CHANNELS:
        layer = weights.params[name]
        params[name] = {"kernel": jnp.asarray(layer["kernel"], jnp.float32),
                        "bias": jnp.asarray(layer["bias"], jnp.float32)}
    return {"params": params}


def conv_tiles(image_hw: Sequence[int], conv: str = "auto") -> dict[str, int]:
    """Winograd tile m (0: direct) that ``VGG19(conv=conv)`` uses for each convolution on an
    ``image_hw`` = (H, W) input (2x2 pools with floor in between), after :func:`winograd_tile`
    (``conv="measured"``: after the timings of :func:`maxent_jax.nn.tiles.measured_tiles`)."""
    if conv == "direct" or (conv in ("auto", "measured") and jax.default_backend() != "cpu"):
        return dict.fromkeys(CONV_CHANNELS, 0)
    from maxent_jax.nn.tiles import layer_shapes, measured_tiles

    if conv == "measured":
        return measured_tiles(image_hw)
    return {name: winograd_tile((s.height, s.width), s.cin, s.cout)
            for name, s in layer_shapes(image_hw).items()}


def with_transposed_kernels(variables: Mapping[str, Any]) -> dict[str, Any]:
    """Add the ``transposed`` collection (adjoint kernels) to ``variables``.

    Call it once, outside any loop: the Langevin step then reuses these kernels.
    """
    params = variables["params"]
    transposed = {name: {"kernel_t": transpose_kernel(layer["kernel"])}
                  for name, layer in params.items() if "kernel" in layer}
    return {**variables, "transposed": transposed}


def with_winograd_kernels(variables: Mapping[str, Any], image_hw: Sequence[int],
                          conv: str = "auto", precision: str = "float32") -> dict[str, Any]:
    """Add the ``winograd`` collection for inputs of ``image_hw`` = (H, W) pixels.

    For every convolution that :func:`conv_tiles` runs with Winograd F(m, 3) at that size:
    ``U = G g G^T`` of its kernel and of its adjoint kernel
    (:func:`maxent_jax.nn.winograd.winograd_kernel`), computed once here, outside any loop.
    With ``VGG19(conv="auto")`` a layer uses Winograd only when these are present, so
    this call is what switches it on; on a non-CPU backend it adds nothing, nor for a
    ``precision`` other than float32 (such networks stay direct).
    """
    if precision != "float32":
        return dict(variables)
    params = variables["params"]
    tiles = {name: m for name, m in conv_tiles(image_hw, conv).items() if m and name in params}
    winograd = {}
    for name, m in tiles.items():
        kernel = params[name]["kernel"]
        winograd[name] = {f"u{m}": winograd_kernel(kernel, m),
                          f"ut{m}": winograd_kernel(transpose_kernel(kernel), m)}
    return {**variables, "winograd": winograd} if winograd else dict(variables)


def random_variables(key: Array, *, layers: Sequence[str] = ("relu5_4",)) -> dict[str, Any]:
    """He-initialised VGG-19 variables (RGB identity preprocessing): tests and benchmarks."""
    model = VGG19(outputs=tuple(layers))
    variables = model.init(key, jnp.zeros((1, 32, 32, 3), jnp.float32))
    return jax.tree_util.tree_map(np.asarray, variables)
