"""VGG-19 (Simonyan & Zisserman, ICLR 2015) as a Flax module returning named activations.

The module maps an RGB image in ``[0, 1]`` (NHWC; a grey image is repeated on the three
channels) to the activations requested by name: ``convX_Y`` (before the non-linearity),
``reluX_Y`` (after it, whatever the activation) and ``poolX``. Nothing deeper than the deepest
requested layer is computed. The input preprocessing of each weight set (an affine map per
pixel, e.g. RGB -> mean-subtracted BGR in [0, 255]) is the first parameter of the model, so
every weight convention takes the same input.

Options, after DESIGN.md §2 and De Bortoli et al. (SIMODS 2021): ``activation`` ``relu`` or
``celu`` (alpha = 1, so that F is smooth), ``pooling`` ``max`` or ``avg`` (2x2, stride 2,
floor), ``padding`` ``zero`` or ``reflect`` (1 pixel).

Convolutions use a custom VJP whose input gradient is a convolution with the flipped,
in/out-swapped kernel ``kernel_t``. ``with_transposed_kernels`` precomputes those once, so a
Langevin loop (``lax.scan``) does not redo them, and XLA:CPU gets a kernel layout on its fast
path (DESIGN.md §5); gradients are those of autodiff (tested).
"""

from __future__ import annotations

import functools
from typing import Any, Mapping, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "CONV_CHANNELS",
    "check_options",
    "LAYER_NAMES",
    "PRECISIONS",
    "VGG19",
    "conv3x3",
    "random_variables",
    "transpose_kernel",
    "layer_channels",
    "vgg_variables",
    "with_transposed_kernels",
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


PRECISIONS = ("float32", "tf32", "bfloat16")
"""Convolution arithmetic: full float32 (``lax.Precision.HIGHEST``), the backend's default
(TF32 tensor cores on NVIDIA Ampere and later; float32 on CPU), or bfloat16 inputs with float32
accumulation."""


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
    """3x3 convolution with bias; ``padding`` is ``zero`` or ``reflect`` (1 pixel).

    ``activation`` (``relu``/``celu``), when given, is applied inside the module: the unit
    that ``VGG19(remat=True)`` rematerialises.
    """

    features: int
    padding: str = "zero"
    adjoint_kernels: bool = True
    precision: str = "float32"
    activation: Optional[str] = None

    @nn.compact
    def __call__(self, x: Array) -> Array:
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (3, 3, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        if self.has_variable("transposed", "kernel_t"):
            kernel_t = self.get_variable("transposed", "kernel_t")
        else:
            kernel_t = transpose_kernel(kernel)
        pad = 1
        if self.padding == "reflect":
            x, pad = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect"), 0
        if self.adjoint_kernels:
            y = conv3x3(x, kernel, kernel_t, pad, self.precision) + bias
        else:  # plain lax.conv: supports forward-mode autodiff (jvp)
            y = _conv(x, kernel, pad, self.precision) + bias
        return y if self.activation is None else _activation(self.activation, y)


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
        return x @ matrix.T.astype(x.dtype) + bias.astype(x.dtype)


def check_options(activation: str, pooling: str, padding: str,
                   precision: str = "float32") -> None:
    for name, value, allowed in (("activation", activation, ("relu", "celu")),
                                 ("pooling", pooling, ("avg", "max")),
                                 ("padding", padding, ("zero", "reflect")),
                                 ("precision", precision, PRECISIONS)):
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
    """

    outputs: tuple[str, ...] = ("relu5_2",)
    activation: str = "relu"
    pooling: str = "max"
    padding: str = "zero"
    adjoint_kernels: bool = True
    remat: bool = False
    precision: str = "float32"

    def _act(self, x: Array) -> Array:
        return _activation(self.activation, x)

    def _conv_unit(self, name: str, fused: bool) -> nn.Module:
        cls = nn.remat(Conv3x3) if fused else Conv3x3
        return cls(CONV_CHANNELS[name], self.padding, self.adjoint_kernels, self.precision,
                   self.activation if fused else None, name=name)

    def _pool(self, x: Array) -> Array:
        pool = nn.avg_pool if self.pooling == "avg" else nn.max_pool
        return pool(x, (2, 2), strides=(2, 2), padding="VALID")

    @nn.compact
    def __call__(self, x: Array) -> dict[str, Array]:
        check_options(self.activation, self.pooling, self.padding, self.precision)
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
                h = self._conv_unit(name, fused)(h)
            elif name.startswith("relu"):
                h = h if fused else self._act(h)
            else:
                h = self._pool(h)
            if name in wanted:
                out[name] = h[0] if single else h
        return out


def vgg_variables(weights: Any) -> dict[str, Any]:
    """Flax variables ``{"params": ...}`` from a :class:`maxent_jax.weights.VGGWeights`."""
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


def with_transposed_kernels(variables: Mapping[str, Any]) -> dict[str, Any]:
    """Add the ``transposed`` collection (adjoint kernels) to ``variables``.

    Call it once, outside any loop: the Langevin step then reuses these kernels.
    """
    params = variables["params"]
    transposed = {name: {"kernel_t": transpose_kernel(layer["kernel"])}
                  for name, layer in params.items() if "kernel" in layer}
    return {**variables, "transposed": transposed}


def random_variables(key: Array, *, layers: Sequence[str] = ("relu5_4",)) -> dict[str, Any]:
    """He-initialised VGG-19 variables (RGB identity preprocessing): tests and benchmarks."""
    model = VGG19(outputs=tuple(layers))
    variables = model.init(key, jnp.zeros((1, 32, 32, 3), jnp.float32))
    return jax.tree_util.tree_map(np.asarray, variables)
