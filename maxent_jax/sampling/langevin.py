"""Langevin kernels for a density ``pi(x) ∝ exp(-U(x))``: ULA and MALA.

Unadjusted Langevin algorithm (ULA; Durmus & Moulines, Ann. Appl. Probab. 2017):

    X_{k+1} = X_k - gamma grad U(X_k) + sqrt(2 gamma) Z_{k+1},   Z ~ N(0, I).

ULA is biased: on a Gaussian N(0, sigma^2) its stationary variance is
``sigma^2 / (1 - gamma / (2 sigma^2))``. The Metropolis-adjusted version (MALA; Roberts &
Tweedie 1996) accepts the ULA proposal y with probability

    min(1, exp(-U(y) + U(x) - |x - y + gamma grad U(y)|^2/(4 gamma)
                           + |y - x + gamma grad U(x)|^2/(4 gamma)))

and so targets pi exactly; it is here to measure ULA's bias.

Arithmetic of the ratio. The Metropolis-Hastings ratio needs U(y) - U(x) to within much less
than 1, but the macrocanonical energy is extensive: about 3e6 at 64 x 64 px and 4e7 at 256 x
256 px, where the float32 rounding of a VGG forward pass makes U(y) - U(x) wrong by about 0.5
and 5-10 (RMS, measured against float64, docs/mixing.md): where the exact log-ratio is of
order 1, a float32 ratio accepts or rejects largely at random. With ``exact_potential`` (:func:`float64_potential`: U evaluated in
float64, ``jax.enable_x64`` inside the trace) the kernel keeps U(x) to float64 accuracy, as a
float32 pair ``potential + potential_residual``, and forms the whole log-ratio (energies and
proposal densities) in float64; the proposal itself (its mean uses the float32 gradient) is
unchanged, and any proposal that is a fixed function of the position is a valid one, so the
chain targets pi exactly up to float64 rounding. One limit of JAX: the float64 part must be
traced inside ``jax.enable_x64``, so a kernel using it may be wrapped in ``jit``, ``scan``,
``cond`` or ``vmap`` while it is traced, but not transformed again afterwards (e.g. an outer
``jax.vmap`` over whole SOUL runs, which re-evaluates their scanned bodies with 64-bit types
off and fails on a dtype mismatch): map over runs with ``lax.map`` there, or use float32
energies.

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
    "ExactPotentialFn",
    "float64_potential",
    "MALA_ENERGIES",
    "exact_potential_for",
    "in_float64",
    "metropolis",
    "mala_accept",
    "mala_init",
    "mala_log_proposal",
    "mala_proposal",
    "mala_step",
]

Array = jax.Array
PotentialFn = Callable[[Array], tuple[Array, Any]]
ExactPotentialFn = Callable[[Array], tuple[Array, Array]]
"""``x -> (hi, lo)``: U(x) to float64 accuracy as two float32 numbers, U = hi + lo."""


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
    """Position with its potential, gradient and ``aux`` cached (the potential is fixed).

    ``potential_residual``: with an ``exact_potential``, U(x) - ``potential`` (U to float64
    accuracy is ``potential + potential_residual``); None for a float32 ratio."""

    position: Array
    potential: Array
    grad: Array
    aux: Any = None
    potential_residual: Any = None


class MALAInfo(NamedTuple):
    """Acceptance probability of the proposal and whether it was accepted."""

    acceptance_rate: Array
    is_accepted: Array


def float64_potential(potential_fn: PotentialFn) -> ExactPotentialFn:
    """``x -> (hi, lo)`` with hi + lo = U(x) computed in float64 (see the module docstring).

    ``potential_fn`` is called on a float64 copy of x inside ``jax.enable_x64(True)``: it
    must compute in the dtype of its input (jnp arithmetic promotes float32 constants; a
    :class:`~maxent_jax.nn.backbone.Backbone` runs a float64 network for float64 images).
    hi = float32(U), lo = float32(U - hi): the pair holds U to about 1e-14 relative.
    """
    def exact(x: Array) -> tuple[Array, Array]:
        with jax.enable_x64(True):
            u = jnp.asarray(potential_fn(jnp.asarray(x, jnp.float64))[0], jnp.float64)
            hi = u.astype(jnp.float32)
            return hi, (u - hi.astype(jnp.float64)).astype(jnp.float32)

    return exact


MALA_ENERGIES = ("float64", "float32")
"""Arithmetic of the energies in MALA's ratio: float64 (exact) or float32 (faster)."""


def exact_potential_for(potential_fn: PotentialFn, mala_energy: str
                        ) -> ExactPotentialFn | None:
    """:func:`float64_potential` of ``potential_fn`` for ``"float64"``, None for
    ``"float32"`` (the kernels then form the ratio from the float32 energies)."""
    if mala_energy not in MALA_ENERGIES:
        raise ValueError(f"mala_energy must be one of {MALA_ENERGIES}, got {mala_energy!r}")
    return float64_potential(potential_fn) if mala_energy == "float64" else None


def in_float64(fn: Callable[..., Array], *args: Any) -> Array:
    """``fn(*args)`` with every floating argument cast to float64 inside
    ``jax.enable_x64(True)``, the result returned as float32."""
    with jax.enable_x64(True):
        wide = [jnp.asarray(a, jnp.float64)
                if jnp.issubdtype(jnp.asarray(a).dtype, jnp.floating) else a for a in args]
        return jnp.asarray(fn(*wide), jnp.float64).astype(jnp.float32)


def mala_init(position: Array, potential_fn: PotentialFn,
              exact_potential: ExactPotentialFn | None = None) -> MALAState:
    """Initial MALA state: evaluates U and grad U once (and U in float64 with
    ``exact_potential``, :func:`float64_potential`)."""
    position = jnp.asarray(position)
    (u, aux), grad = jax.value_and_grad(potential_fn, has_aux=True)(position)
    if exact_potential is None:
        return MALAState(position, u, grad, aux)
    hi, lo = exact_potential(position)
    return MALAState(position, hi, grad, aux, lo)


def mala_log_proposal(x_to: Array, x_from: Array, grad_from: Array, step_size: Array) -> Array:
    """log q(x_to | x_from) up to a constant, q = N(x_from - gamma grad U(x_from), 2 gamma I)."""
    return -jnp.sum((x_to - x_from + step_size * grad_from) ** 2) / (4.0 * step_size)


def metropolis(key: Array, state: MALAState, position: Array, potential_fn: PotentialFn,
               log_q: Callable[..., Array], step_size: Array,
               exact_potential: ExactPotentialFn | None = None) -> tuple[MALAState, MALAInfo]:
    """Accept the proposal ``position`` y from ``state`` (x) with probability
    min(1, exp(U(x) - U(y) + log q(x | y) - log q(y | x))), ``log_q(x_to, x_from,
    grad_from, gamma)`` the proposal's log-density up to a constant: evaluates U,
    grad U (and U in float64 with ``exact_potential``) at y (:func:`mala_init`), then
    :func:`mala_accept`."""
    if state.potential_residual is None and exact_potential is not None:
        raise ValueError("exact_potential given, but the state was initialised without it")
    if state.potential_residual is not None and exact_potential is None:
        raise ValueError("the state carries a float64 energy: pass its exact_potential")
    return mala_accept(key, state, mala_init(position, potential_fn, exact_potential), log_q,
                       step_size)


def mala_accept(key: Array, state: MALAState, proposal: MALAState,
                log_q: Callable[..., Array], step_size: Array) -> tuple[MALAState, MALAInfo]:
    """The accept/reject step of :func:`metropolis`, given the proposal's state (U, grad U
    and, with a float64 energy, its residual, as :func:`mala_init` makes them); the ratio is
    formed in float64 when the states carry residuals (see the module docstring)."""
    x, y = state.position, proposal.position
    if state.potential_residual is None:
        log_ratio = (state.potential - proposal.potential
                     + log_q(x, y, proposal.grad, step_size)
                     - log_q(y, x, state.grad, step_size))
    else:
        log_ratio = in_float64(
            lambda hx, lx, hy, ly, x, y, gx, gy, s: ((hx - hy) + (lx - ly) + log_q(x, y, gy, s)
                                                     - log_q(y, x, gx, s)),
            state.potential, state.potential_residual, proposal.potential,
            proposal.potential_residual, x, y, state.grad, proposal.grad, step_size)
    rate = jnp.minimum(1.0, jnp.exp(jnp.nan_to_num(log_ratio, nan=-jnp.inf)))
    accept = jax.random.uniform(key) < rate
    new = jax.tree_util.tree_map(lambda a, b: jnp.where(accept, a, b), proposal, state)
    return new, MALAInfo(rate, accept)


def mala_proposal(key: Array, state: MALAState, step_size: Array) -> Array:
    """MALA's proposal y = x - gamma grad U(x) + sqrt(2 gamma) Z, Z ~ N(0, I) drawn from
    ``key`` (``step_size`` in the position's dtype)."""
    x = state.position
    return (x - step_size * state.grad
            + jnp.sqrt(2.0 * step_size) * jax.random.normal(key, x.shape, x.dtype))


def mala_step(key: Array, state: MALAState, potential_fn: PotentialFn,
              step_size: Array | float,
              exact_potential: ExactPotentialFn | None = None) -> tuple[MALAState, MALAInfo]:
    """One Metropolis-adjusted Langevin move (``exact_potential``: the one the state was
    initialised with, or None)."""
    key_move, key_accept = jax.random.split(key)
    step_size = jnp.asarray(step_size, state.position.dtype)
    y = mala_proposal(key_move, state, step_size)
    return metropolis(key_accept, state, y, potential_fn, mala_log_proposal, step_size,
                      exact_potential)
