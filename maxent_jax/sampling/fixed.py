"""Sampling Pi_theta at a fixed theta: C parallel Langevin chains (ULA or MALA).

Once theta is learned, the model ``Pi_theta ∝ exp(-U_theta)`` is sampled by plain Langevin
dynamics, chains in parallel (``vmap``):

    ULA:  X_{k+1} = X_k - gamma grad U(X_k) + sqrt(2 gamma) Z_{k+1}
    MALA: the same proposal, accepted with the Metropolis-Hastings probability
          (:mod:`maxent_jax.sampling.langevin`), so that Pi_theta is invariant exactly.

The potential returns ``(U(x), F(x) - F(x0))``; each step reports the chains' mean of both at
the positions it starts from, so the sample average of F costs no extra pass, MALA's
acceptance rate (1 for ULA), which tells how large the discretisation bias of ULA at that
step is, and Stein's ratio (:mod:`maxent_jax.sampling.stein`), which is 1 in expectation
when the chains are distributed as Pi_theta. With a :class:`~maxent_jax.sampling.preconditioned.Preconditioner` M the moves are
``X - gamma M grad U(X) + sqrt(2 gamma) M^{1/2} Z`` (and MALA's proposal N(X - gamma M grad
U(X), 2 gamma M)): the same invariant law, faster mixing when M is close to the covariance
(:mod:`maxent_jax.sampling.preconditioned`).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from maxent_jax.sampling.langevin import PotentialFn, ULAState, exact_potential_for, mala_init
from maxent_jax.sampling.preconditioned import Preconditioner, langevin_steps
from maxent_jax.sampling.stein import stein_dimension, stein_statistic

__all__ = ["ChainsState", "ChainsInfo", "ChainsKernel", "langevin_chains"]

Array = jax.Array


class ChainsState(NamedTuple):
    """The vmapped kernel state (``ULAState`` or ``MALAState``, chains first) and the step n."""

    kernel: Any
    step: Array

    @property
    def positions(self) -> Array:
        return self.kernel.position


class ChainsInfo(NamedTuple):
    """Chains' means at the positions a step starts from: U, F - F(x0); MALA acceptance;
    Stein's ratio ``<X - mean X, grad U(X)> / (d - C)``, 1 under Pi_theta
    (:mod:`maxent_jax.sampling.stein`)."""

    energy: Array
    gap: Array
    acceptance: Array
    stein_ratio: Array


class ChainsKernel(NamedTuple):
    """``init(positions) -> ChainsState`` and ``step(key, state) -> (ChainsState, ChainsInfo)``."""

    init: Callable[[Array], ChainsState]
    step: Callable[[Array, ChainsState], tuple[ChainsState, ChainsInfo]]


def langevin_chains(potential: PotentialFn, step_size: float | Array, sampler: str = "ula",
                    precond: Preconditioner | None = None,
                    mala_energy: str = "float64") -> ChainsKernel:
    """The fixed-potential kernel of the module docstring for ``(C, ...)`` positions
    (``precond``: M, or None for plain Langevin; ``mala_energy``: the arithmetic of MALA's
    ratio, ``"float64"`` (exact; ``potential`` must compute in its input's dtype) or
    ``"float32"``, :mod:`maxent_jax.sampling.langevin`)."""
    if sampler not in ("ula", "mala"):
        raise ValueError(f"sampler must be 'ula' or 'mala', got {sampler!r}")
    ula_step, mala_step = langevin_steps(precond)
    exact = exact_potential_for(potential, mala_energy)  # validates mala_energy

    def init(positions: Array) -> ChainsState:
        positions = jnp.asarray(positions)
        kernel = (ULAState(positions) if sampler == "ula"
                  else jax.vmap(lambda x: mala_init(x, potential, exact))(positions))
        return ChainsState(kernel, jnp.zeros((), jnp.int32))

    def ula_move(k, s):
        new, info = ula_step(k, s, potential, step_size)
        return new, info.potential, info.aux, info.stein, jnp.ones((), jnp.float32)

    def mala_move(k, s):
        new, info = mala_step(k, s, potential, step_size, exact_potential=exact)
        return (new, s.potential, s.aux, stein_statistic(s.position, s.grad),
                info.acceptance_rate)

    def step(key: Array, state: ChainsState) -> tuple[ChainsState, ChainsInfo]:
        move = ula_move if sampler == "ula" else mala_move
        chains = state.positions.shape[0]
        kernel, u, gap, stein, rate = jax.vmap(move)(jax.random.split(key, chains),
                                                     state.kernel)
        ratio = stein.mean() / stein_dimension(state.positions.shape[1:])
        info = ChainsInfo(u.mean(), gap.mean(0), rate.mean(), ratio)
        return ChainsState(kernel, state.step + 1), info

    return ChainsKernel(init, step)
