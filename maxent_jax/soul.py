"""SOUL: stochastic optimisation with unadjusted Langevin, for the macrocanonical model.

De Bortoli, Durmus, Pereyra & Fernandez Vidal, "Efficient stochastic optimisation by unadjusted
Langevin Monte Carlo", Statistics and Computing 31, 2021 (arXiv 1906.12281); applied to texture
models by De Bortoli, Desolneux, Durmus, Galerne & Leclaire (SIMODS 2021, Algorithm 1).

One outer step n, with C parallel chains (``vmap``) sharing theta_n:

    X_{k+1}^{n,c} = X_k^{n,c} - gamma_n grad_x U_{theta_n}(X_k^{n,c}) + sqrt(2 gamma_n) Z,
                    k = 0 .. m_n - 1,  X_0^{n,c} = X_{m_{n-1}}^{n-1,c}  (warm start),
    g_n = -(1 / (C m_n)) sum_{c,k} (F(X_k^{n,c}) - F(x0))      (stochastic grad of log Z),
    theta_{n+1} = Proj_K[theta_n + optimiser update(g_n)].

With ``optax.sgd(delta)`` the theta step is exactly
``theta_{n+1} = Proj_K[theta_n + delta_{n+1} mean(F(X) - F(x0))]``. The features of X_k come
back from the gradient pass of step k (one forward, one backward per Langevin step), so the
average runs over the positions each step starts from: k = 0 .. m_n - 1.

``soul_step`` is one outer step; ``soul_run`` scans it. The PRNG key of outer step n is
``fold_in(key, n)``, so a run cut into chunks (and resumed) equals an uninterrupted one.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from maxent_jax.energy import EnergyFn
from maxent_jax.langevin import ULAState, ula_step
from maxent_jax.schedules import Schedule, constant, inverse_power

__all__ = [
    "SOULState",
    "SOULInfo",
    "soul_init",
    "soul_step",
    "soul_run",
    "make_projection",
    "theta_optimizer",
    "soul_checks",
    "block_norms",
]

Array = jax.Array
Projection = Callable[[Array], Array]


class SOULState(NamedTuple):
    """Chains ``(C, H, W, ch)``, theta ``(p,)``, optimiser state, outer step n, averages."""

    positions: Array
    theta: Array
    opt_state: optax.OptState
    step: Array
    average: Array
    num_averaged: Array


class SOULInfo(NamedTuple):
    """Diagnostics of one outer step (stacked along the first axis by ``soul_run``)."""

    theta_norm: Array   # ||theta_{n+1}||
    gap_norms: Array    # per block: ||mean_{c,k} F(X_k^c) - F(x0)|| restricted to the block
    energy: Array       # mean of U_{theta_n}(X_k^c) over chains and inner steps
    step_size: Array    # gamma_n
    theta: Array        # theta_{n+1}


def soul_init(positions: Array, theta: Array, optimizer: optax.GradientTransformation) -> SOULState:
    """Initial state; ``positions`` holds one image per chain, ``(C, H, W, ch)``."""
    positions = jnp.asarray(positions)
    theta = jnp.asarray(theta, jnp.float32)
    return SOULState(positions, theta, optimizer.init(theta), jnp.zeros((), jnp.int32),
                     jnp.zeros_like(positions), jnp.zeros((), jnp.int32))


def block_norms(vector: Array, block_sizes: Sequence[int] | None) -> Array:
    """Euclidean norms of consecutive blocks of ``vector`` (one block if sizes are None)."""
    if block_sizes is None:
        return jnp.linalg.norm(vector)[None]
    ids = jnp.repeat(jnp.arange(len(block_sizes)), jnp.asarray(block_sizes),
                     total_repeat_length=vector.shape[-1])
    return jnp.sqrt(jax.ops.segment_sum(vector**2, ids, num_segments=len(block_sizes)))


def _langevin_sweep(key: Array, positions: Array, potential: Callable, gamma: Array,
                    num_inner: int, gap_shape: tuple[int, ...]) -> tuple[Array, Array, Array]:
    """m ULA steps of every chain; returns final positions, sum of gaps, sum of energies."""
    def move(k, x):
        state, info = ula_step(k, ULAState(x), potential, gamma)
        return state.position, info

    def body(carry, k):
        x, gap_sum, u_sum = carry
        x, info = jax.vmap(move)(jax.random.split(k, x.shape[0]), x)
        return (x, gap_sum + info.aux.sum(0), u_sum + info.potential.sum()), None

    init = (positions, jnp.zeros(gap_shape, jnp.float32), jnp.zeros((), jnp.float32))
    (x, gap_sum, u_sum), _ = jax.lax.scan(body, init, jax.random.split(key, num_inner))
    return x, gap_sum, u_sum


def _update_average(state: SOULState, positions: Array, average_from: int) -> tuple[Array, Array]:
    """Running mean of the end-of-step positions over outer steps n >= average_from."""
    use = state.step >= average_from
    count = state.num_averaged + use.astype(jnp.int32)
    weight = jnp.where(use, 1.0 / jnp.maximum(count, 1), 0.0).astype(positions.dtype)
    return state.average + weight * (positions - state.average), count


def soul_step(key: Array, state: SOULState, energy_fn: EnergyFn, *,
              optimizer: optax.GradientTransformation, step_size: Schedule,
              num_inner: int = 1, projection: Projection | None = None,
              average_from: int = 2**30,
              block_sizes: Sequence[int] | None = None) -> tuple[SOULState, SOULInfo]:
    """One SOUL outer step: ``num_inner`` Langevin steps of every chain, then one theta step."""
    gamma = step_size(state.step)
    potential = lambda x: energy_fn(state.theta, x)  # noqa: E731
    gap_shape = jax.eval_shape(potential, state.positions[0])[1].shape
    positions, gap_sum, u_sum = _langevin_sweep(key, state.positions, potential, gamma,
                                                num_inner, gap_shape)
    samples = num_inner * state.positions.shape[0]
    mean_gap = gap_sum / samples
    updates, opt_state = optimizer.update(-mean_gap, state.opt_state, state.theta)
    theta = optax.apply_updates(state.theta, updates)
    theta = theta if projection is None else projection(theta)
    average, count = _update_average(state, positions, average_from)
    new = SOULState(positions, theta, opt_state, state.step + 1, average, count)
    info = SOULInfo(jnp.linalg.norm(theta), block_norms(mean_gap, block_sizes),
                    u_sum / samples, jnp.asarray(gamma, jnp.float32), theta)
    return new, info


def soul_run(key: Array, state: SOULState, energy_fn: EnergyFn, num_steps: int,
             **step_kwargs: Any) -> tuple[SOULState, SOULInfo]:
    """``num_steps`` outer steps in one ``lax.scan``; step n uses the key ``fold_in(key, n)``."""
    def body(s, _):
        return soul_step(jax.random.fold_in(key, s.step), s, energy_fn, **step_kwargs)

    return jax.lax.scan(body, state, None, length=num_steps)


def theta_optimizer(delta: float, *, kind: str = "sgd", optimism: float = 0.0,
                    decay: bool = False) -> optax.GradientTransformation:
    """The theta step as an optax transformation, with rate delta_n = delta (or delta/(n+1)).

    ``sgd``: theta += delta_n mean(F - F0) (SOUL). With ``optimism`` b > 0, the optimistic step
    theta += delta_n ((1 + b) g_n - b g_{n-1}) (optax ``optimistic_gradient_descent``;
    Daskalakis et al., ICLR 2018): the same fixed point, with a derivative term that damps the
    rotation of the coupled (x, theta) saddle dynamics. ``adam``: per-coordinate scaling.
    """
    rate = inverse_power(delta, 1.0) if decay else constant(delta)
    if kind == "adam":
        return optax.adam(rate)
    if kind != "sgd":
        raise ValueError(f"theta optimiser must be 'sgd' or 'adam', got {kind!r}")
    if optimism:
        return optax.optimistic_gradient_descent(rate, alpha=1.0, beta=optimism)
    return optax.sgd(rate)


def soul_checks(config: Any) -> list[tuple[bool, str]]:
    """``(ok, message)`` of the settings every constant-step SOUL run shares.

    ``config`` needs iterations, chains, inner_steps, gamma, delta, beta, eps, optimizer,
    optimism and centre (shared by synthesis, style transfer and inpainting).
    """
    def finite(value: float, low: float, strict: bool = False) -> bool:
        return bool(np.isfinite(value)) and (value > low if strict else value >= low)

    return [
        (config.iterations >= 1, "iterations must be >= 1"),
        (config.chains >= 1, "chains must be >= 1"),
        (config.inner_steps >= 1, "inner-steps must be >= 1"),
        (finite(config.gamma, 0, strict=True), "gamma must be a finite number > 0"),
        (finite(config.delta, 0), "delta must be a finite number >= 0"),
        (finite(config.beta, 0, strict=True), "beta must be a finite number > 0"),
        (finite(config.eps, 0), "eps must be a finite number >= 0"),
        (finite(config.optimism, 0), "optimism must be a finite number >= 0"),
        (config.optimizer in ("sgd", "adam"), "optimizer must be 'sgd' or 'adam'"),
        (config.centre in ("zero", "mean"), "centre must be 'zero' or 'mean'"),
    ]


def make_projection(spec: str | None) -> Projection | None:
    """``"none"``, ``"l2:R"`` (ball of radius R) or ``"box:A"`` (``[-A, A]^p``) -> Proj_K."""
    if spec is None or spec == "none":
        return None
    kind, _, value = spec.partition(":")
    try:
        radius = float(value)
    except ValueError:
        raise ValueError(f"projection {spec!r}: expected 'none', 'l2:R' or 'box:A'") from None
    if not radius > 0 or radius == float("inf"):
        raise ValueError(f"projection {spec!r}: the radius must be a finite number > 0")
    if kind == "l2":
        return lambda t: optax.projections.projection_l2_ball(t, radius)
    if kind == "box":
        return lambda t: optax.projections.projection_box(t, -radius, radius)
    raise ValueError(f"projection {spec!r}: expected 'none', 'l2:R' or 'box:A'")
