"""Gatys, Ecker & Bethge (NeurIPS 2015): Gram-matrix texture synthesis by box-bounded L-BFGS.

The loss of their reference code (DeepTextures; docs/reference.md §2) is

    L(x) = sum_l (w_l / 4) sum_{ij} (G_l(x) - G_l(x0))_{ij}^2 / N_l^2,
    G_l = phi_l phi_l^T / M_l,

with phi_l the ``(M_l positions) x (N_l channels)`` activation of layer l. Defaults follow that
code: layers relu1_1 ("conv1_1" after its in-place ReLU), pool1, pool2, pool3, pool4, each with
weight w_l = 1e9; ReLU, average pooling, zero padding; 2000 iterations; history 20; the
normalised VGG-19 that ships with the default weights is their network.

Differences, documented:

* **Optimiser.** DeepTextures calls scipy's L-BFGS-B (Byrd, Lu, Nocedal & Zhu 1995). Here a
  JAX-native *projected* L-BFGS runs inside ``lax.scan``: the variables at a bound whose
  gradient pushes outwards are frozen (the active set), the two-loop recursion (Nocedal 1980)
  gives the direction on the free ones, and an Armijo backtracking search runs along the
  projection arc ``P(x + alpha d)`` (Bertsekas 1982; Kim, Sra & Dhillon 2010). It keeps iterates
  inside the box like L-BFGS-B, without its generalised Cauchy point.
* **Units and bounds.** Images are in [0, 1] RGB (the network's preprocessing makes the
  mean-subtracted BGR 0-255 input). DeepTextures bounds the preprocessed image by its scalar
  [min, max], i.e. a box shifted per channel by the ImageNet mean; ``bounds="exemplar"`` uses
  the exemplar's [min, max] in pixel units instead (the same box without the shift, so samples
  stay in the exemplar's range); ``"unit"`` is [0, 1].
* **Initialisation.** White Gaussian noise with the exemplar's channel means and standard
  deviations (clipped to the box), the maximum-entropy image with those moments, shared with
  :mod:`maxent_jax.baselines.microcanonical`.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple, Optional, Sequence, Union

import jax
import jax.numpy as jnp

from maxent_jax.baselines.microcanonical import max_entropy_noise
from maxent_jax.nn.backbone import Backbone, prepare_backbone
from maxent_jax.nn.features import FeatureSpec, get_spec, gram_matrices

__all__ = [
    "GATYS_LAYERS",
    "GatysConfig",
    "LBFGSState",
    "LBFGSInfo",
    "gatys_spec",
    "target_grams",
    "gram_loss",
    "box_bounds",
    "lbfgs_init",
    "lbfgs_step",
    "lbfgs_run",
    "gatys_synthesize",
]


def _vdot(a: jax.Array, b: jax.Array) -> jax.Array:
    """<a, b> in float32 proper (DEFAULT precision may round to TF32 on recent GPUs)."""
    return jnp.vdot(a, b, precision=jax.lax.Precision.HIGHEST)


Array = jax.Array
ValueAndGrad = Callable[[Array], tuple[Array, Array]]

GATYS_LAYERS: tuple[str, ...] = ("relu1_1", "pool1", "pool2", "pool3", "pool4")
"""DeepTextures' layers: conv1_1 (after ReLU), pool1 ... pool4."""


class GatysConfig(NamedTuple):
    """Settings of the Gatys baseline; the defaults are DeepTextures' (see the module doc)."""

    layers: tuple[str, ...] = GATYS_LAYERS
    layer_weights: Optional[tuple[float, ...]] = None  # None: 1e9 for every layer
    activation: str = "relu"
    pooling: str = "avg"
    padding: str = "zero"
    iterations: int = 2000
    history: int = 20
    bounds: Union[str, tuple[float, float]] = "exemplar"
    initial_step: float = 0.05  # first step: largest pixel change along -grad (pixel units)


class LBFGSState(NamedTuple):
    """Iterate, its value and gradient, and the ring buffer of the last m (s, y) pairs."""

    position: Array
    value: Array
    grad: Array
    s_history: Array   # (m, *shape)
    y_history: Array   # (m, *shape)
    rho: Array         # (m,) 1 / <s, y>
    count: Array       # pairs stored so far (the ring index is count % m)


class LBFGSInfo(NamedTuple):
    """One iteration: loss after it, accepted step length, evaluations, projected-gradient norm."""

    value: Array
    step_length: Array
    num_evaluations: Array
    projected_grad_norm: Array


def gatys_spec(config: GatysConfig = GatysConfig()) -> FeatureSpec:
    """The network settings and layers of ``config`` (pool layers allowed)."""
    return get_spec(None, layers=config.layers, activation=config.activation,
                    pooling=config.pooling, padding=config.padding)


def _weights(config: GatysConfig, spec: FeatureSpec) -> dict[str, float]:
    weights = config.layer_weights or (1e9,) * len(config.layers)
    if len(weights) != len(config.layers):
        raise ValueError("layer_weights must have one weight per layer")
    by_name = dict(zip(config.layers, weights))
    return {name: float(by_name[name]) for name in spec.layers}


def target_grams(backbone: Backbone, exemplar: Array) -> dict:
    """G_l(x0) for every layer of the backbone's spec (prepared for the exemplar's size)."""
    return gram_matrices(backbone.resized(exemplar.shape[:2]).activations(exemplar))


def gram_loss(backbone: Backbone, targets: Mapping[str, Array],
              weights: Mapping[str, float]) -> Callable[[Array], Array]:
    """``x -> sum_l (w_l / 4) ||G_l(x) - G_l(x0)||_F^2 / N_l^2`` (Gatys et al. 2015, eq. 4-5)."""
    def loss(x: Array) -> Array:
        grams = gram_matrices(backbone.activations(x))
        return sum(weights[k] / 4 * jnp.sum((grams[k] - targets[k]) ** 2) / targets[k].shape[0] ** 2
                   for k in targets)

    return loss


def box_bounds(exemplar: Array, bounds: Union[str, tuple[float, float]] = "exemplar"
               ) -> tuple[Array, Array]:
    """``(lower, upper)``: the exemplar's value range, [0, 1] (``"unit"``) or a given pair."""
    if bounds == "exemplar":
        return jnp.min(exemplar), jnp.max(exemplar)
    if bounds == "unit":
        return jnp.asarray(0.0), jnp.asarray(1.0)
    lower, upper = bounds
    if not lower < upper:
        raise ValueError(f"bounds must satisfy lower < upper, got {bounds}")
    return jnp.asarray(lower, jnp.float32), jnp.asarray(upper, jnp.float32)


def lbfgs_init(position: Array, value_and_grad_fn: ValueAndGrad, history: int = 20
               ) -> LBFGSState:
    """Evaluate f and grad f once and allocate the history (``history`` pairs)."""
    value, grad = value_and_grad_fn(position)
    zeros = jnp.zeros((history, *position.shape), position.dtype)
    return LBFGSState(position, value, grad, zeros, zeros, jnp.zeros(history, position.dtype),
                      jnp.zeros((), jnp.int32))


def _two_loop(state: LBFGSState, g: Array, first_scale: Array) -> Array:
    """H g by the two-loop recursion over the stored pairs, newest first; H0 = <s,y>/<y,y> I."""
    m = state.rho.shape[0]
    order = (state.count - 1 - jnp.arange(m)) % m
    valid = jnp.arange(m) < jnp.minimum(state.count, m)

    def backward(q, j):
        i = order[j]
        a = jnp.where(valid[j], state.rho[i] * _vdot(state.s_history[i], q), 0.0)
        return q - a * state.y_history[i], a

    q, alphas = jax.lax.scan(backward, g, jnp.arange(m))
    s_new, y_new = state.s_history[order[0]], state.y_history[order[0]]
    scale = jnp.where(state.count > 0, _vdot(s_new, y_new) / _vdot(y_new, y_new),
                      first_scale)

    def forward(r, j):
        i = order[j]
        b = state.rho[i] * _vdot(state.y_history[i], r)
        return r + jnp.where(valid[j], alphas[j] - b, 0.0) * state.s_history[i], None

    r, _ = jax.lax.scan(forward, scale * q, jnp.arange(m)[::-1])
    return r


def _direction(state: LBFGSState, lower: Array, upper: Array, initial_step: float
               ) -> tuple[Array, Array]:
    """Projected quasi-Newton direction on the free variables, and the free gradient."""
    x, g = state.position, state.grad
    active = ((x <= lower) & (g > 0)) | ((x >= upper) & (g < 0))
    free_g = jnp.where(active, 0.0, g)
    first_scale = initial_step / jnp.maximum(jnp.max(jnp.abs(free_g)), 1e-30)
    d = jnp.where(active, 0.0, -_two_loop(state, free_g, first_scale))
    descent = _vdot(d, g) < 0
    return jnp.where(descent, d, -first_scale * free_g), free_g


def _line_search(state: LBFGSState, d: Array, fn: ValueAndGrad, lower: Array, upper: Array,
                 c1: float, max_backtracks: int) -> tuple:
    """Armijo backtracking on the projection arc: f(P(x + a d)) <= f(x) + c1 <g, P(x + a d) - x>."""
    x, f, g = state.position, state.value, state.grad

    def trial(alpha):
        x_new = jnp.clip(x + alpha * d, lower, upper)
        f_new, g_new = fn(x_new)
        ok = jnp.isfinite(f_new) & (f_new <= f + c1 * _vdot(g, x_new - x))
        return x_new, f_new, g_new, ok

    def body(carry):
        alpha, n, *_ = carry
        return (alpha / 2, n + 1, *trial(alpha / 2))

    # one traced evaluation: the first pass of the body tries alpha = 1
    init = (jnp.asarray(2.0, x.dtype), jnp.asarray(0, jnp.int32), x, f, g, jnp.asarray(False))
    return jax.lax.while_loop(lambda c: (~c[-1]) & (c[1] <= max_backtracks), body, init)


def _remember(state: LBFGSState, s: Array, y: Array) -> tuple[Array, Array, Array, Array]:
    """Push (s, y) into the ring buffer if the curvature <s, y> is safely positive."""
    sy = _vdot(s, y)
    keep = sy > 1e-6 * jnp.sqrt(_vdot(s, s) * _vdot(y, y))
    i = state.count % state.rho.shape[0]
    put = lambda h, v: jnp.where(keep, h.at[i].set(v), h)  # noqa: E731
    rho = jnp.where(keep, state.rho.at[i].set(1.0 / jnp.where(keep, sy, 1.0)), state.rho)
    return put(state.s_history, s), put(state.y_history, y), rho, state.count + keep


def lbfgs_step(state: LBFGSState, value_and_grad_fn: ValueAndGrad, *, lower: Array = -jnp.inf,
               upper: Array = jnp.inf, initial_step: float = 0.05, c1: float = 1e-4,
               max_backtracks: int = 20) -> tuple[LBFGSState, LBFGSInfo]:
    """One projected L-BFGS iteration inside the box ``[lower, upper]``.

    If no step length passes the Armijo test, the iterate stays and the history is cleared
    (the next step is a scaled projected-gradient step).
    """
    d, free_g = _direction(state, lower, upper, initial_step)
    alpha, n, x_new, f_new, g_new, ok = _line_search(state, d, value_and_grad_fn, lower, upper,
                                                     c1, max_backtracks)
    s_hist, y_hist, rho, count = _remember(state, x_new - state.position, g_new - state.grad)
    moved = LBFGSState(x_new, f_new, g_new, s_hist, y_hist, rho, count)
    stuck = state._replace(count=jnp.zeros_like(state.count))
    new = jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), moved, stuck)
    return new, LBFGSInfo(new.value, jnp.where(ok, alpha, 0.0), n, jnp.linalg.norm(free_g))


def lbfgs_run(state: LBFGSState, value_and_grad_fn: ValueAndGrad, num_steps: int,
              **step_kwargs: Any) -> tuple[LBFGSState, LBFGSInfo]:
    """``num_steps`` iterations of :func:`lbfgs_step` in one ``lax.scan``."""
    def body(s, _):
        return lbfgs_step(s, value_and_grad_fn, **step_kwargs)

    return jax.lax.scan(body, state, None, length=num_steps)


def gatys_synthesize(key: Array, exemplar: Array, variables: Mapping[str, Any],
                     config: GatysConfig = GatysConfig(), *,
                     size: Optional[Sequence[int]] = None, num: int = 1
                     ) -> tuple[LBFGSState, LBFGSInfo]:
    """``num`` Gatys samples (a ``vmap`` of independent L-BFGS runs from noise).

    Returns the batched final states (``state.position`` is ``(num, H, W, C)``) and the
    stacked infos ``(num, iterations)``. Jit it with ``config``, ``size`` and ``num`` static.
    On the CPU the convolutions are Winograd ones for the samples' size, as in synthesis.
    """
    spec = gatys_spec(config)
    backbone = prepare_backbone(spec, variables, size if size is not None else exemplar.shape[:2])
    loss = gram_loss(backbone, target_grams(backbone, exemplar), _weights(config, spec))
    fn = jax.value_and_grad(loss)
    lower, upper = box_bounds(exemplar, config.bounds)
    starts = jnp.clip(max_entropy_noise(key, exemplar, size=size, num=num), lower, upper)

    def one(x0: Array) -> tuple[LBFGSState, LBFGSInfo]:
        return lbfgs_run(lbfgs_init(x0, fn, config.history), fn, config.iterations,
                         lower=lower, upper=upper, initial_step=config.initial_step)

    return jax.vmap(one)(starts)
