"""Langevin kernels for a density ``pi(x) ∝ exp(-U(x))``: ULA and MALA.

Unadjusted Langevin algorithm (ULA; Durmus & Moulines, Ann. Appl. Probab. 2017):

    X_{k+1} = X_k - gamma grad U(X_k) + sqrt(2 gamma) Z_{k+1},   Z ~ N(0, I).

ULA is biased: on a Gaussian N(0, sigma^2) its stationary variance is
``sigma^2 / (1 - gamma / (2 sigma^2))``. The Metropolis-adjusted version (MALA; Roberts &
Tweedie 1996) accepts the ULA proposal y with probability

    min(1, exp(-U(y) + U(x) - |x - y + gamma grad U(y)|^2/(4 gamma)
                           + |y - x + gamma grad U(x)|^2/(4 gamma)))

and so targets pi exactly; it is here to measure ULA's bias.

Kernels follow blackjax: ``init(position, potential_fn) -> state`` and
``step(key, state, potential_fn, step_size) -> (state, info)``. ``potential_fn`` maps a position
(any pytree-free array) to ``(U(x), aux)``; ``aux`` (e.g. the features F(x)) is returned in the
info, so a caller needing F(x) pays for no second forward pass.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from maxent_jax.sampling.stein import stein_statistic

__all__ = [
    "PotentialFn",
    "ULAState",
    "ULAInfo",
    "ula_init",
    "ula_step",
    "MALAState",
    "MALAInfo",
    "mala_init",
    "mala_step",
]

Array = jax.Array
PotentialFn = Callable[[Array], tuple[Array, Any]]


class ULAState(NamedTuple):
    """Current position of the chain."""

    position: Array


class ULAInfo(NamedTuple):
    """U and ``aux`` evaluated at the position the step STARTED from, |grad U| there and
    Stein's statistic ``<x - mean(x), grad U(x)>`` (:mod:`maxent_jax.sampling.stein`)."""

    potential: Array
    grad_norm: Array
    aux: Any
    stein: Array


def ula_init(position: Array) -> ULAState:
    """Initial ULA state (no cached gradient: the potential may change between steps)."""
    return ULAState(jnp.asarray(position))


def ula_step(key: Array, state: ULAState, potential_fn: PotentialFn,
             step_size: Array | float) -> tuple[ULAState, ULAInfo]:
    """One ULA move: one forward and one backward pass of ``potential_fn``."""
    x = state.position
    (u, aux), grad = jax.value_and_grad(potential_fn, has_aux=True)(x)
    noise = jax.random.normal(key, x.shape, x.dtype)
    step_size = jnp.asarray(step_size, x.dtype)
    x_new = x - step_size * grad + jnp.sqrt(2.0 * step_size) * noise
    return ULAState(x_new), ULAInfo(u, jnp.sqrt(jnp.sum(grad**2)), aux, stein_statistic(x, grad))


class MALAState(NamedTuple):
    """Position with its potential, gradient and ``aux`` cached (the potential is fixed)."""

    position: Array
    potential: Array
    grad: Array
    aux: Any = None


class MALAInfo(NamedTuple):
    """Acceptance probability of the proposal and whether it was accepted."""

    acceptance_rate: Array
    is_accepted: Array


def mala_init(position: Array, potential_fn: PotentialFn) -> MALAState:
    """Initial MALA state: evaluates U and grad U once."""
    (u, aux), grad = jax.value_and_grad(potential_fn, has_aux=True)(jnp.asarray(position))
    return MALAState(jnp.asarray(position), u, grad, aux)


def _log_proposal(x_to: Array, x_from: Array, grad_from: Array, step_size: Array) -> Array:
    """log q(x_to | x_from) up to a constant, q = N(x_from - gamma grad U(x_from), 2 gamma I)."""
    return -jnp.sum((x_to - x_from + step_size * grad_from) ** 2) / (4.0 * step_size)


def mala_step(key: Array, state: MALAState, potential_fn: PotentialFn,
              step_size: Array | float) -> tuple[MALAState, MALAInfo]:
    """One Metropolis-adjusted Langevin move."""
    key_move, key_accept = jax.random.split(key)
    x = state.position
    step_size = jnp.asarray(step_size, x.dtype)
    y = (x - step_size * state.grad
         + jnp.sqrt(2.0 * step_size) * jax.random.normal(key_move, x.shape, x.dtype))
    (u_y, aux_y), grad_y = jax.value_and_grad(potential_fn, has_aux=True)(y)
    log_ratio = (state.potential - u_y + _log_proposal(x, y, grad_y, step_size)
                 - _log_proposal(y, x, state.grad, step_size))
    rate = jnp.minimum(1.0, jnp.exp(jnp.nan_to_num(log_ratio, nan=-jnp.inf)))
    accept = jax.random.uniform(key_accept) < rate
    proposal = MALAState(y, u_y, grad_y, aux_y)
    new = jax.tree_util.tree_map(lambda a, b: jnp.where(accept, a, b), proposal, state)
    return new, MALAInfo(rate, accept)
