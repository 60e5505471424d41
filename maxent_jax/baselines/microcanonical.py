"""Microcanonical sampling by gradient descent (Bruna & Mallat, Math. Stat. Learn. 2018).

The microcanonical model asks for F(X) = F(x0) almost surely (docs/reference.md §1). Bruna & Mallat
sample it approximately by pushing maximum-entropy noise onto the constraint set with gradient
descent on

    E(x) = ||F(x) - F(x0)||^2 / (2 ||F(x0)||^2),

i.e. ``x_{k+1} = x_k - lr grad E(x_k)`` (the normalisation by ||F(x0)||^2 makes ``lr``
comparable between exemplars and feature sets). The features are the macrocanonical model's
own (VGG-19 channel means, :mod:`maxent_jax.nn.features`), so the two models differ only in how
the constraint is imposed. The descent is an optax transformation (``optax.sgd`` by default,
plain gradient descent; momentum is an option), optionally followed by a projection (e.g. onto
the box [0, 1]).

The starting noise is white Gaussian noise with the exemplar's channel means and standard
deviations, the maximum-entropy law with those moments (``init="noise"``); ADSN, the
maximum-entropy law given the mean and autocorrelation, is the alternative (``init="adsn"``).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import optax

from maxent_jax.nn.backbone import prepare_backbone
from maxent_jax.nn.features import FeatureSpec, get_spec
from maxent_jax.tasks.starts import noise_starts, starts

__all__ = [
    "MicrocanonicalConfig",
    "MicrocanonicalState",
    "MicrocanonicalInfo",
    "max_entropy_noise",
    "microcanonical_spec",
    "microcanonical_loss",
    "microcanonical_init",
    "microcanonical_step",
    "microcanonical_run",
    "microcanonical_synthesize",
]

Array = jax.Array
LossFn = Callable[[Array], tuple[Array, Array]]


class MicrocanonicalConfig(NamedTuple):
    """Features (as :class:`maxent_jax.tasks.texture.SynthesisConfig`), descent and start."""

    preset: str = "full"
    layers: Optional[tuple[str, ...]] = None
    activation: Optional[str] = None
    pooling: Optional[str] = None
    padding: Optional[str] = None
    iterations: int = 500
    learning_rate: float = 1.0
    momentum: Optional[float] = None
    init: str = "noise"
    clip: bool = True  # project onto [0, 1] after each step


class MicrocanonicalState(NamedTuple):
    """The image being descended and the optimiser state."""

    position: Array
    opt_state: optax.OptState


class MicrocanonicalInfo(NamedTuple):
    """E and ||F(x) - F(x0)|| / ||F(x0)|| at the position the step started from."""

    loss: Array
    relative_gap: Array


def max_entropy_noise(key: Array, exemplar: Array, *, size: Optional[Sequence[int]] = None,
                      num: int = 1) -> Array:
    """``(num, H, W, C)`` white Gaussian noise with the exemplar's channel means and stds
    (:func:`maxent_jax.tasks.starts.noise_starts`)."""
    return noise_starts(key, exemplar, size if size is not None else exemplar.shape[:2], num)


def microcanonical_spec(config: MicrocanonicalConfig = MicrocanonicalConfig()) -> FeatureSpec:
    """The feature specification of ``config``."""
    return get_spec(config.preset, layers=config.layers, activation=config.activation,
                    pooling=config.pooling, padding=config.padding)


def microcanonical_loss(feature_fn: Callable[[Array], Array], target: Array) -> LossFn:
    """``x -> (E(x), F(x) - F(x0))``, E = ||F(x) - F(x0)||^2 / (2 ||F(x0)||^2)."""
    scale = 1.0 / jnp.sum(target**2)

    def loss(x: Array) -> tuple[Array, Array]:
        gap = feature_fn(x) - target
        return 0.5 * scale * jnp.sum(gap**2), gap

    return loss


def microcanonical_init(position: Array, optimizer: optax.GradientTransformation
                        ) -> MicrocanonicalState:
    """Initial state from a starting image."""
    return MicrocanonicalState(jnp.asarray(position), optimizer.init(jnp.asarray(position)))


def microcanonical_step(state: MicrocanonicalState, loss_fn: LossFn, *,
                        optimizer: optax.GradientTransformation,
                        projection: Optional[Callable[[Array], Array]] = None
                        ) -> tuple[MicrocanonicalState, MicrocanonicalInfo]:
    """One descent step: one forward and one backward pass of the features."""
    (loss, gap), grad = jax.value_and_grad(loss_fn, has_aux=True)(state.position)
    updates, opt_state = optimizer.update(grad, state.opt_state, state.position)
    x = optax.apply_updates(state.position, updates)
    x = x if projection is None else projection(x)
    rel = jnp.sqrt(2.0 * loss)  # = ||gap|| / ||F(x0)|| by the normalisation of E
    return MicrocanonicalState(x, opt_state), MicrocanonicalInfo(loss, rel)


def microcanonical_run(state: MicrocanonicalState, loss_fn: LossFn, num_steps: int,
                       **step_kwargs: Any) -> tuple[MicrocanonicalState, MicrocanonicalInfo]:
    """``num_steps`` descent steps in one ``lax.scan``."""
    def body(s, _):
        return microcanonical_step(s, loss_fn, **step_kwargs)

    return jax.lax.scan(body, state, None, length=num_steps)


def _optimizer(config: MicrocanonicalConfig) -> optax.GradientTransformation:
    return optax.sgd(config.learning_rate, momentum=config.momentum)


def microcanonical_synthesize(key: Array, exemplar: Array, variables: Mapping[str, Any],
                              config: MicrocanonicalConfig = MicrocanonicalConfig(), *,
                              size: Optional[Sequence[int]] = None, num: int = 1
                              ) -> tuple[MicrocanonicalState, MicrocanonicalInfo]:
    """``num`` microcanonical samples (a ``vmap`` of independent descents).

    Returns batched final states (``state.position`` is ``(num, H, W, C)``) and stacked infos
    ``(num, iterations)``. Jit it with ``config``, ``size`` and ``num`` static. On the CPU the
    convolutions are Winograd ones for the samples' size, as in synthesis.
    """
    spec = microcanonical_spec(config)
    out_hw = tuple(size) if size is not None else exemplar.shape[:2]
    backbone = prepare_backbone(spec, variables, out_hw)
    target = backbone.resized(exemplar.shape[:2]).features(exemplar)
    loss_fn = microcanonical_loss(backbone.features, target)
    opt = _optimizer(config)
    projection = (lambda x: jnp.clip(x, 0.0, 1.0)) if config.clip else None

    def one(x0: Array) -> tuple[MicrocanonicalState, MicrocanonicalInfo]:
        return microcanonical_run(microcanonical_init(x0, opt), loss_fn, config.iterations,
                                  optimizer=opt, projection=projection)

    return jax.vmap(one)(starts(config.init, key, exemplar, out_hw, num))
