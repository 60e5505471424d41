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

:func:`soul` builds the kernel as a blackjax-style ``(init, step)`` pair; ``soul_run`` scans
it (:func:`maxent_jax.sampling.scan.scan_steps`). The PRNG key of outer step n is
``fold_in(key, n)``, so a run cut into chunks (and resumed) equals an uninterrupted one.
The Lu-Zhu-Wu baseline is the same kernel with L Langevin steps and F taken at the last one
(``estimator="last"``).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import optax

from maxent_jax.sampling.energy import EnergyFn
from maxent_jax.sampling.langevin import ULAState, exact_potential_for, mala_accept, mala_init
from maxent_jax.sampling.preconditioned import (Preconditioner, langevin_steps,
                                                mala_proposal_parts)
from maxent_jax.sampling.scan import scan_steps
from maxent_jax.sampling.schedules import Schedule, constant, inverse_power
from maxent_jax.sampling.stein import stein_dimension, stein_statistic

__all__ = [
    "SOULState",
    "SOULInfo",
    "SOULKernel",
    "soul",
    "soul_init",
    "soul_step",
    "soul_run",
    "make_projection",
    "theta_optimizer",
    "block_norms",
    "chain_correlation",
    "probe_acceptance",
    "restart_due",
]

Array = jax.Array
Projection = Callable[[Array], Array]
_PROBE = 0x70726F62  # fold_in(key, i) equals split(key, n)[i]: a data value no sweep reaches
_RESTART = 0x72657374  # the restarts' draws, likewise apart from the sweep's and the probe's


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
    acceptance: Array   # mean MALA acceptance rate of the sweep (1 for ULA)
    gap: Array          # mean_{c,k} F(X_k^c) - F(x0), the whole vector (the theta step's input)
    feature_spread: Array   # mean_{c,k} ||F(X_k^c) - mean_{c,k} F(X_k^c)||^2 (per-sample spread)
    chain_correlation: Array  # mean zero-shift correlation between distinct chains (0 for one)
    projected: Array    # 1.0 if Proj_K moved theta at this step, else 0.0
    probe_acceptance: Array  # MALA acceptance of a probe move at (theta_n, gamma_n); NaN if none
    stein_ratio: Array  # mean_{c,k} <X - mean X, grad U_{theta_n}(X)> / (d - C): 1 under Pi_theta_n


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


def _sweep(key: Array, positions: Array, potential: Callable, gamma: Array, num_inner: int,
           sampler: str, precond: Preconditioner | None = None, mala_energy: str = "float64"
           ) -> tuple[Array, Array, Array, Array, Array, Array]:
    """``num_inner`` Langevin steps of every chain (``vmap``), preconditioned by ``precond``
    if given (:mod:`maxent_jax.sampling.preconditioned`; None: plain ULA / MALA); MALA's
    ratio in ``mala_energy`` arithmetic (:mod:`maxent_jax.sampling.langevin`).

    Returns the final positions, the sums over steps and chains of ``aux`` (F(X_k) - F(x0)),
    of ``||aux||^2``, of U and of Stein's statistic ``<X_k - mean(X_k), grad U(X_k)>``
    (:mod:`maxent_jax.sampling.stein`) at the positions each step starts from (k = 0 .. m - 1),
    and the mean MALA acceptance rate (1 for ULA). MALA's state is initialised here, at the start of the
    sweep, since the potential changes with theta between sweeps (one more gradient).
    """
    chains = positions.shape[0]
    gap_shape = jax.eval_shape(potential, positions[0])[1].shape
    ula_step, mala_step = langevin_steps(precond)
    exact = exact_potential_for(potential, mala_energy)  # validates mala_energy

    def ula_move(k, x):
        state, info = ula_step(k, ULAState(x), potential, gamma)
        return state.position, info.aux, info.potential, info.stein, jnp.ones((), jnp.float32)

    def mala_move(k, s):
        new, info = mala_step(k, s, potential, gamma, exact_potential=exact)
        return (new, s.aux, s.potential, stein_statistic(s.position, s.grad),
                info.acceptance_rate)

    move = ula_move if sampler == "ula" else mala_move

    def body(carry, k):
        x, gap_sum, sq_sum, u_sum, stein_sum, rate_sum = carry
        x, aux, u, stein, rate = jax.vmap(move)(jax.random.split(k, chains), x)
        return (x, gap_sum + aux.sum(0), sq_sum + jnp.sum(aux**2), u_sum + u.sum(),
                stein_sum + stein.sum(), rate_sum + rate.mean()), None

    start = positions if sampler == "ula" else jax.vmap(
        lambda x: mala_init(x, potential, exact))(positions)
    zero = jnp.zeros((), jnp.float32)
    init = (start, jnp.zeros(gap_shape, jnp.float32), zero, zero, zero, zero)
    (x, gap_sum, sq_sum, u_sum, stein_sum, rate_sum), _ = jax.lax.scan(
        body, init, jax.random.split(key, num_inner))
    final = x if sampler == "ula" else x.position
    return final, gap_sum, sq_sum, u_sum, stein_sum, rate_sum / num_inner


def chain_correlation(positions: Array) -> Array:
    """Mean zero-shift correlation between distinct chains: each chain ``(H, W, ch)`` is
    centred per channel (over the other axes), flattened and scaled to unit norm; the mean
    off-diagonal entry of their Gram matrix (0 for a single chain). Independent stationary
    chains give about 0; chains that collapse onto one image give 1."""
    chains = positions.shape[0]
    if chains < 2:
        return jnp.zeros((), jnp.float32)
    axes = tuple(range(1, positions.ndim - 1)) if positions.ndim > 2 else (1,)
    x = positions.astype(jnp.float32)
    x = (x - x.mean(axes, keepdims=True)).reshape(chains, -1)
    x = x / jnp.maximum(jnp.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    gram = jnp.matmul(x, x.T, precision=jax.lax.Precision.HIGHEST)
    return (jnp.sum(gram) - jnp.trace(gram)) / (chains * (chains - 1))


def probe_acceptance(key: Array, positions: Array, potential: Callable, gamma: Array,
                     precond: Preconditioner | None = None,
                     mala_energy: str = "float64") -> Array:
    """Mean over chains of MALA's acceptance probability for one proposal from the current
    positions (Roberts & Tweedie 1996): near 1 when ULA's step gamma is small for the
    local curvature, so that ULA's bias is small; the chains do not move. With ``precond``,
    the preconditioned MALA proposal (the bias of preconditioned ULA). ``mala_energy``:
    the arithmetic of the ratio's energies (float64 by default: in float32 their rounding
    alone moves the ratio by about 0.5 at 64 px, :mod:`maxent_jax.sampling.langevin`).

    The same draws and arithmetic as ``mala_step`` from ``mala_init(x)``, but U and grad U at
    x and at the proposal y are evaluated by one two-step ``lax.scan`` (step 0 at x, which
    also forms y; step 1 at y): XLA then compiles the network's forward and backward passes
    of the probe once instead of twice, which roughly halves what the probe adds to the
    compilation of a SOUL program."""
    propose, log_q = mala_proposal_parts(precond)
    exact = exact_potential_for(potential, mala_energy)
    step_size = jnp.asarray(gamma, positions.dtype)
    keys = jax.vmap(jax.random.split)(jax.random.split(key, positions.shape[0]))
    key_move, key_accept = keys[:, 0], keys[:, 1]  # per chain, as mala_step splits its key

    def evaluate(z, _):  # the chains are mapped inside the scan: the float64 part is traced
        states = jax.vmap(lambda p: mala_init(p, potential, exact))(z)  # once, under x64
        return jax.vmap(propose, (0, 0, None))(key_move, states, step_size), states

    _, states = jax.lax.scan(evaluate, positions, None, length=2)
    at_x, at_y = (jax.tree_util.tree_map(lambda a, i=i: a[i], states) for i in (0, 1))
    rates = jax.vmap(lambda k, a, b: mala_accept(k, a, b, log_q, step_size)[1].acceptance_rate
                     )(key_accept, at_x, at_y)
    return rates.mean()


def restart_due(step: Array, chains: int, every: int, until: int) -> Array:
    """Which chains restart after outer step n = ``step``: chain c when
    ``(n + 1 + floor(c every / C)) % every == 0`` and n + 1 <= ``until``. The offsets stagger
    the restarts, so that after the first cycle the chains' ages (steps since their last
    start) are spread over 1 .. ``every``; no chain restarts after step ``until``."""
    offsets = (jnp.arange(chains) * every) // chains
    return ((step + 1 + offsets) % every == 0) & (step + 1 <= until)


def _update_average(state: SOULState, positions: Array, average_from: int) -> tuple[Array, Array]:
    """Running mean of the end-of-step positions over outer steps n >= average_from."""
    use = state.step >= average_from
    count = state.num_averaged + use.astype(jnp.int32)
    weight = jnp.where(use, 1.0 / jnp.maximum(count, 1), 0.0).astype(positions.dtype)
    return state.average + weight * (positions - state.average), count


class SOULKernel(NamedTuple):
    """``init(positions, theta) -> SOULState`` and ``step(key, state) -> (SOULState, SOULInfo)``."""

    init: Callable[[Array, Array], SOULState]
    step: Callable[[Array, SOULState], tuple[SOULState, SOULInfo]]


def soul(energy_fn: EnergyFn, optimizer: optax.GradientTransformation, step_size: Schedule, *,
         num_inner: int = 1, projection: Projection | None = None,
         average_from: int = 2**30, block_sizes: Sequence[int] | None = None,
         sampler: str = "ula", estimator: str = "path", probe_every: int = 0,
         precond: Preconditioner | None = None, mala_energy: str = "float64",
         restart_every: int = 0, restart_until: int = 2**30,
         restart: Callable[[Array], Array] | None = None) -> SOULKernel:
    """The SOUL kernel of the module docstring, as a blackjax-style ``(init, step)`` pair.

    ``energy_fn(theta, x) -> (U_theta(x), F(x) - F(x0))``; ``optimizer`` the theta step (an
    optax transformation; ``optax.sgd(delta)`` is SOUL's); ``step_size`` n -> gamma_n;
    ``num_inner`` = m; ``projection`` Proj_K (None: no constraint); ``average_from``: first
    outer step whose end positions enter ``state.average``; ``block_sizes``: per-layer blocks
    of the gap norms in the info; ``sampler``: ``"ula"`` or ``"mala"``. ``estimator``:
    ``"path"`` (SOUL) averages F over the positions each Langevin step starts from, reusing
    the gradient pass; ``"last"`` evaluates F at the sweep's final positions only (Lu, Zhu
    & Wu's FRAME learning; one more forward and backward pass per chain). ``probe_every`` K
    > 0: every K outer steps (n = 0, K, 2K, ...), the MALA acceptance of one probe proposal
    from the current chains at (theta_n, gamma_n) (:func:`probe_acceptance`; two more
    gradient passes per chain, not a move). ``precond``: the Langevin moves (and the probe)
    are preconditioned by M (:mod:`maxent_jax.sampling.preconditioned`); None: plain.
    ``mala_energy``: ``"float64"`` (exact ratio) or ``"float32"``, for MALA and the probe
    (:mod:`maxent_jax.sampling.langevin`).

    ``restart_every`` R > 0 (a departure from the seed, off by default): after the theta step
    of outer step n, the chains that :func:`restart_due` names (staggered: about C/R chains
    per step, each every R steps, none after step ``restart_until``) are replaced by fresh
    draws ``restart(key)`` (``(C, H, W, ch)``, e.g. new ADSN starts), so that theta is
    learned from chains of every age from 1 to R steps instead of from C persistent chains.
    The restart happens after F of the step has been taken, so the theta step is unchanged.
    """
    if sampler not in ("ula", "mala"):
        raise ValueError(f"sampler must be 'ula' or 'mala', got {sampler!r}")
    if estimator not in ("path", "last"):
        raise ValueError(f"estimator must be 'path' or 'last', got {estimator!r}")
    if restart_every and restart is None:
        raise ValueError("restart_every > 0 needs a restart function (key -> positions)")

    def init(positions: Array, theta: Array) -> SOULState:
        return soul_init(positions, theta, optimizer)

    def step(key: Array, state: SOULState) -> tuple[SOULState, SOULInfo]:
        gamma = step_size(state.step)
        potential = lambda x: energy_fn(state.theta, x)  # noqa: E731
        if probe_every:  # its own key: the sweep's draws do not depend on probe_every
            probe = jax.lax.cond(
                state.step % probe_every == 0,
                lambda: probe_acceptance(jax.random.fold_in(key, _PROBE), state.positions,
                                         potential, gamma, precond, mala_energy),
                lambda: jnp.full((), jnp.nan, jnp.float32))
        else:
            probe = jnp.full((), jnp.nan, jnp.float32)
        positions, gap_sum, sq_sum, u_sum, stein_sum, rate = _sweep(
            key, state.positions, potential, gamma, num_inner, sampler, precond, mala_energy)
        samples = num_inner * positions.shape[0]
        stein = stein_sum / (samples * stein_dimension(positions.shape[1:]))
        if estimator == "path":
            mean_gap, energy = gap_sum / samples, u_sum / samples
            spread = sq_sum / samples - jnp.sum(mean_gap**2)
        else:
            energies, gaps = jax.vmap(potential)(positions)
            mean_gap, energy = gaps.mean(0), energies.mean()
            spread = jnp.mean(jnp.sum((gaps - mean_gap) ** 2, axis=1))
        updates, opt_state = optimizer.update(-mean_gap, state.opt_state, state.theta)
        unprojected = optax.apply_updates(state.theta, updates)
        theta = unprojected if projection is None else projection(unprojected)
        moved = jnp.any(theta != unprojected).astype(jnp.float32)
        correlation = chain_correlation(positions)
        average, count = _update_average(state, positions, average_from)
        if restart_every:
            due = restart_due(state.step, positions.shape[0], restart_every, restart_until)
            mask = due.reshape((-1,) + (1,) * (positions.ndim - 1))
            positions = jax.lax.cond(  # the new draws only on the steps where a chain is due
                due.any(),
                lambda x: jnp.where(mask, restart(jax.random.fold_in(key, _RESTART)
                                                  ).astype(x.dtype), x),
                lambda x: x, positions)
        new = SOULState(positions, theta, opt_state, state.step + 1, average, count)
        info = SOULInfo(jnp.linalg.norm(theta), block_norms(mean_gap, block_sizes), energy,
                        jnp.asarray(gamma, jnp.float32), theta, rate, mean_gap,
                        jnp.maximum(spread, 0.0), correlation, moved,
                        jnp.asarray(probe, jnp.float32), stein)
        return new, info

    return SOULKernel(init, step)


def soul_step(key: Array, state: SOULState, energy_fn: EnergyFn, **options: Any
              ) -> tuple[SOULState, SOULInfo]:
    """One outer step of :func:`soul` (``options``: its keyword arguments)."""
    return soul(energy_fn, **options).step(key, state)


def soul_run(key: Array, state: SOULState, energy_fn: EnergyFn, num_steps: int,
             **options: Any) -> tuple[SOULState, SOULInfo]:
    """``num_steps`` outer steps of :func:`soul` in one ``lax.scan``
    (:func:`maxent_jax.sampling.scan.scan_steps`: step n uses the key ``fold_in(key, n)``)."""
    return scan_steps(soul(energy_fn, **options).step, key, state, num_steps)


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
