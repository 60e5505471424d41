"""Texture features F(x): channel means of VGG-19 layers, Gram matrices, colour statistics.

The macrocanonical model of De Bortoli, Desolneux, Durmus, Galerne & Leclaire (SIMODS 2021,
arXiv 1912.01691) constrains

    F(x) = ( (1/|Omega_l|) sum_{u in Omega_l} phi_l(x)_c(u) )_{l in layers, c < C_l},

the spatial mean of every channel c of every chosen layer l (``phi_l`` its activation map on
the grid ``Omega_l``). The flat vector's order is stable and documented: layers in network
order (not in the order given), channels in order within a layer; ``layer_slices`` gives each
layer's block. Because channel means do not depend on the image size, F compares images of
different sizes.

Presets (activation, pooling, padding; p = dim F):

* ``paper``: relu1_1, relu1_2, relu2_1, relu2_2, relu3_1, relu3_2, relu3_3, relu4_3, relu4_4,
  relu5_2; CELU, average pooling, zero padding; p = 2688 (docs/reference.md §2, the setting of the
  co-author's public re-implementation).
* ``full``: all sixteen ReLU layers relu1_1 ... relu5_4; CELU, avg, zero; p = 5504.
* ``deep``: blocks 4 and 5, relu4_1 ... relu5_4; CELU, avg, zero; p = 4096.
* ``shallow``: blocks 1 to 3, relu1_1 ... relu3_4; CELU, avg, zero; p = 1408.

(The split of "deep" and "shallow" at block 3/4 is this library's choice, after the
full/deep/shallow comparison of the SIMODS paper.)
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp

from maxent_jax.nn.vgg import LAYER_NAMES, VGG19, layer_channels

__all__ = [
    "FeatureSpec",
    "PRESETS",
    "get_spec",
    "feature_dim",
    "layer_slices",
    "vgg_for",
    "channel_means",
    "means_of",
    "flatten",
    "unflatten",
    "features",
    "make_feature_fn",
    "gram_matrices",
    "colour_statistics",
    "value_and_vjp",
    "jvp",
]

Array = jax.Array
FeatureFn = Callable[[Array], Array]

_RELUS = tuple(name for name in LAYER_NAMES if name.startswith("relu"))
_F32 = jax.lax.Precision.HIGHEST  # small products stay float32 on GPUs (DEFAULT may be TF32)


class FeatureSpec(NamedTuple):
    """Which layers, and how the network is run. ``colour`` appends RGB mean + covariance.

    ``remat``, ``precision`` and ``conv`` change memory and arithmetic, not the features'
    definition (see ``maxent_jax.nn.vgg.VGG19``).
    """

    layers: tuple[str, ...]
    activation: str = "celu"
    pooling: str = "avg"
    padding: str = "zero"
    colour: bool = False
    remat: bool = False
    precision: str = "float32"
    conv: str = "auto"


PRESETS: dict[str, FeatureSpec] = {
    "paper": FeatureSpec(("relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2",
                          "relu3_3", "relu4_3", "relu4_4", "relu5_2")),
    "full": FeatureSpec(_RELUS),
    "deep": FeatureSpec(tuple(n for n in _RELUS if n[4] in "45")),
    "shallow": FeatureSpec(tuple(n for n in _RELUS if n[4] in "123")),
}


def get_spec(preset: str | None = "paper", *, layers: Sequence[str] | None = None,
             **options: Any) -> FeatureSpec:
    """A preset by name, or a custom list of layers, with option overrides (``None`` ignored).

    >>> get_spec("paper", pooling="max").pooling
    'max'
    """
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"unknown feature preset {preset!r}; choose one of {sorted(PRESETS)}")
    if layers:
        spec = FeatureSpec(_ordered(layers))
    elif preset is not None:
        spec = PRESETS[preset]
    else:
        raise ValueError("give a feature preset or a list of layers")
    overrides = {k: v for k, v in options.items() if v is not None}
    spec = spec._replace(**overrides)
    from maxent_jax.nn.vgg import check_options
    check_options(spec.activation, spec.pooling, spec.padding, spec.precision, spec.conv)
    return spec


def _ordered(layers: Sequence[str]) -> tuple[str, ...]:
    for name in layers:
        layer_channels(name)  # raises a clear error on unknown names
    unique = set(layers)
    return tuple(name for name in LAYER_NAMES if name in unique)


def feature_dim(spec: FeatureSpec) -> int:
    """p = dim F: channels summed over the layers (+ 9 for the colour statistics)."""
    return sum(layer_channels(n) for n in spec.layers) + (9 if spec.colour else 0)


def layer_slices(spec: FeatureSpec) -> dict[str, slice]:
    """Block of each layer (and of ``"colour"``) inside the flat feature vector."""
    out, start = {}, 0
    for name in spec.layers:
        out[name] = slice(start, start + layer_channels(name))
        start += layer_channels(name)
    if spec.colour:
        out["colour"] = slice(start, start + 9)
    return out


def vgg_for(spec: FeatureSpec, *, forward_mode: bool = False) -> VGG19:
    """The VGG-19 module computing exactly the layers of ``spec``.

    ``forward_mode=True`` uses plain convolutions, so that ``jax.jvp`` works through it.
    """
    return VGG19(spec.layers, spec.activation, spec.pooling, spec.padding,
                 adjoint_kernels=not forward_mode, remat=spec.remat, precision=spec.precision,
                 conv="direct" if forward_mode else spec.conv)


def channel_means(spec: FeatureSpec, variables: Mapping[str, Any], x: Array, *,
                  forward_mode: bool = False) -> dict[str, Array]:
    """F(x) as a pytree ``{layer: (C_l,)}`` (plus ``"colour"``) for one ``(H, W, C)`` image."""
    acts = vgg_for(spec, forward_mode=forward_mode).apply(variables, x)
    return means_of(spec, acts, x)


def means_of(spec: FeatureSpec, acts: Mapping[str, Array], x: Array) -> dict[str, Array]:
    """F(x) as a pytree from the activations ``acts`` of ``x`` (the spec's layers only)."""
    tree = {name: jnp.mean(acts[name], axis=(0, 1)) for name in spec.layers}
    if spec.colour:
        tree["colour"] = colour_statistics(x)
    return tree


def flatten(spec: FeatureSpec, tree: Mapping[str, Array]) -> Array:
    """Pytree -> flat vector in the documented order."""
    keys = list(spec.layers) + (["colour"] if spec.colour else [])
    return jnp.concatenate([tree[k] for k in keys], axis=-1)


def unflatten(spec: FeatureSpec, flat: Array) -> dict[str, Array]:
    """Flat vector (``(..., p)``) -> pytree keyed by layer."""
    return {name: flat[..., sl] for name, sl in layer_slices(spec).items()}


def features(spec: FeatureSpec, variables: Mapping[str, Any], x: Array, *,
             forward_mode: bool = False) -> Array:
    """F(x) as one flat ``(p,)`` vector for one ``(H, W, C)`` image."""
    return flatten(spec, channel_means(spec, variables, x, forward_mode=forward_mode))


def make_feature_fn(spec: FeatureSpec, variables: Mapping[str, Any], *,
                    forward_mode: bool = False) -> FeatureFn:
    """``x -> F(x)`` with the variables bound (a ``functools.partial``).

    Inside a jitted function build it from variables passed as arguments, so the weights
    are not baked into the compiled program as constants. ``forward_mode=True`` for ``jvp``.
    """
    return functools.partial(features, spec, variables, forward_mode=forward_mode)


def gram_matrices(activations: Mapping[str, Array]) -> dict[str, Array]:
    """Gram matrices G_l = phi_l phi_l^T / M_l (M_l positions) of ``(H, W, C)`` activations.

    Gatys, Ecker & Bethge, NeurIPS 2015, eq. (1) with their normalisation by M_l.
    """
    def gram(a: Array) -> Array:
        flat = a.reshape(-1, a.shape[-1])
        return jnp.matmul(flat.T, flat, precision=_F32) / flat.shape[0]

    return {name: gram(a) for name, a in activations.items()}


def colour_statistics(x: Array) -> Array:
    """RGB mean (3) and the 6 upper-triangular entries of the RGB covariance: 9 numbers.

    A grey ``(H, W, 1)`` image is treated as R = G = B.
    """
    rgb = jnp.broadcast_to(x, x.shape[:-1] + (3,)).reshape(-1, 3)
    mean = rgb.mean(axis=0)
    centred = rgb - mean
    cov = jnp.matmul(centred.T, centred, precision=_F32) / rgb.shape[0]
    rows, cols = jnp.triu_indices(3)
    return jnp.concatenate([mean, cov[rows, cols]])


def value_and_vjp(feature_fn: FeatureFn, x: Array, theta: Array) -> tuple[Array, Array]:
    """``(F(x), grad_x <theta, F(x)>)`` from one forward and one backward pass.

    ``grad_x <theta, F(x)> = J_F(x)^T theta``, the feature Jacobian-transpose product.
    """
    fx, pullback = jax.vjp(feature_fn, x)
    return fx, pullback(theta.astype(fx.dtype))[0]


def jvp(feature_fn: FeatureFn, x: Array, v: Array) -> tuple[Array, Array]:
    """``(F(x), J_F(x) v)``: the directional derivative of the features (forward mode).

    Build ``feature_fn`` with ``make_feature_fn(..., forward_mode=True)``.
    """
    return jax.jvp(feature_fn, (x,), (v,))
