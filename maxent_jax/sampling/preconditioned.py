"""Langevin kernels preconditioned in Fourier by the exemplar's power spectrum.

For a density ``pi(x) ∝ exp(-U(x))`` on images ``x`` of shape ``(H, W, ...)`` and a constant
symmetric positive definite matrix M, the preconditioned Langevin diffusion

    dX_t = -M grad U(X_t) dt + sqrt(2) M^{1/2} dB_t

leaves pi invariant: its generator is ``L f = exp(U) div(exp(-U) M grad f)``, and
``int (L f) pi = 0`` for every test function f because M is constant and symmetric (the
Fokker-Planck flux ``-M (grad pi + pi grad U)`` vanishes at pi). Its Euler discretisation is
preconditioned ULA,

    X_{k+1} = X_k - gamma M grad U(X_k) + sqrt(2 gamma) M^{1/2} Z_{k+1},    Z ~ N(0, I),

and the Metropolis-adjusted version (preconditioned MALA) accepts the proposal y ~ q(.|x) =
N(x - gamma M grad U(x), 2 gamma M) with probability
``min(1, pi(y) q(x|y) / (pi(x) q(y|x)))``, where

    log q(y|x) = -|y - x + gamma M grad U(x)|^2_{M^{-1}} / (4 gamma) + const,
    |v|^2_{M^{-1}} = <v, M^{-1} v>,

(the normalising constant of q does not depend on x since M is constant), so pi is exactly
invariant whatever M (Roberts & Stramer, "Langevin diffusions and Metropolis-Hastings
algorithms", Methodol. Comput. Appl. Probab. 4, 2002; Girolami & Calderhead, "Riemann
manifold Langevin and Hamiltonian Monte Carlo methods", JRSS B 73, 2011, with a constant
metric tensor G = M^{-1}). Only the speed changes: on a Gaussian target whose covariance
Sigma commutes with M, mode k of precision q(k) relaxes at the rate gamma m(k) q(k) instead
of gamma q(k), so M ≈ c Sigma equalises the modes. ULA's stationary variance of that mode is
``1 / (q (1 - gamma m q / 2))`` (the recursion x' = (1 - gamma m q) x + sqrt(2 gamma m) z),
biased as plain ULA's with gamma replaced by gamma m.

Here M is a Fourier multiplier, the same for every colour channel: ``M x =
irfft2(m(k) rfft2(x))`` over the two spatial axes, with m(k) > 0 and m(-k) = m(k), so M is
circulant, symmetric and positive definite, and ``M^p x = irfft2(m(k)^p rfft2(x))`` for any
real p. :func:`spectrum_preconditioner` takes m(k) proportional to the power spectrum of the
chains' starting law (the ADSN model of the exemplar's grey periodic component, Galerne,
Gousseau & Morel, IEEE TIP 2011): the covariance of the Gaussian texture model, the natural
guess for Sigma: low frequencies, where natural textures hold most of their variance and
where plain Langevin at a small gamma barely moves, get large steps. Whether it pays off
depends on the curvature of U: on the learned VGG energy of wood at 64 px the stiffest
directions are the *lowest* frequencies (Hessian-vector products per frequency band,
docs/mixing.md), so the larger low-frequency steps buy faster decorrelation from the start
at the price of a larger ULA bias, and do not allow a larger gamma (docs/mixing.md).

Kernels follow :mod:`maxent_jax.sampling.langevin` (blackjax's conventions): ``(state, info)``
returns, the PRNG key first, ``ULAState``/``ULAInfo`` and ``MALAState``/``MALAInfo`` reused,
and the same key usage: one normal draw (ULA), or ``split`` into a move and an accept key
(MALA). With m ≡ 1 the kernels equal :func:`~maxent_jax.sampling.langevin.ula_step` and
:func:`~maxent_jax.sampling.langevin.mala_step` up to the float32 rounding of the FFT round
trip (not bit for bit).
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from maxent_jax.sampling.langevin import (ExactPotentialFn, MALAInfo, MALAState, PotentialFn,
                                          ULAInfo, ULAState, mala_log_proposal, mala_proposal,
                                          mala_step, metropolis, ula_step)
from maxent_jax.sampling.stein import stein_statistic

__all__ = [
    "Preconditioner",
    "PRECONDITIONERS",
    "identity_preconditioner",
    "spectrum_preconditioner",
    "make_preconditioner",
    "multiply",
    "apply",
    "apply_sqrt",
    "apply_inverse",
    "pula_step",
    "pmala_step",
    "pmala_proposal",
    "mala_proposal_parts",
    "langevin_steps",
]

Array = jax.Array
PRECONDITIONERS = ("none", "spectrum")
_AXES = (0, 1)


class Preconditioner(NamedTuple):
    """The Fourier multiplier m(k) of M on the ``rfft2`` grid, shape ``(H, W // 2 + 1)``."""

    multiplier: Array


def identity_preconditioner(size: Sequence[int]) -> Preconditioner:
    """m ≡ 1 (M = I) for images of spatial size ``(H, W)``."""
    h, w = (int(s) for s in size)
    return Preconditioner(jnp.ones((h, w // 2 + 1), jnp.float32))


def _wrapped_index(n: int, period: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Lags folded onto the n-torus: residue r gathers tau = r (weight (n - r) / n) and
    tau = r - n (weight r / n), both read on the ``period``-torus of the covariance."""
    r = np.arange(n)
    return [r % period, (r - n) % period], [(n - r) / n, r / n]


def _expected_periodogram(cov: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``E |FFT(X)(k)|^2 / (H W)`` of an ``(H, W)`` crop of a stationary field with periodic
    covariance ``cov`` (lags on its own, larger or equal, torus): the FFT of the covariance
    times the Bartlett window, folded onto the ``(H, W)`` torus. Equal to FFT(cov) when the
    sizes agree."""
    (i0, w0), (i1, w1) = _wrapped_index(size[0], cov.shape[0]), _wrapped_index(size[1],
                                                                                cov.shape[1])
    folded = sum(a[:, None] * b[None, :] * cov[np.ix_(ia, ib)]
                 for ia, a in zip(i0, w0) for ib, b in zip(i1, w1))
    return np.real(np.fft.fft2(folded))


def spectrum_preconditioner(exemplar: Array, size: Sequence[int] | None = None, *,
                            floor: float = 0.1) -> Preconditioner:
    """m(k) ∝ the power spectrum of the ADSN model of ``exemplar``'s grey periodic component
    at the output ``size`` (default: the exemplar's), floored and normalised.

    1. ``g``: the channel mean of ``exemplar``, replaced by its periodic component (Moisan,
       JMIV 2011: no border cross in the spectrum) and spot-extended to ``B = max(size,
       exemplar size)`` per axis (:func:`maxent_jax.gaussian.spot_extension`, as the
       ADSN starts of :mod:`maxent_jax.tasks.starts` are).
    2. ``C(tau) = |B|^{-1} sum_y (g - mean g)(y) (g - mean g)(y + tau)``: the periodic
       covariance of the ADSN of g on the B-torus.
    3. ``S(k) = E |FFT(X)(k)|^2 / (H W)`` for X an ``(H, W)`` crop of that ADSN field (the
       chains' starting law): the average periodogram, ``FFT(C)`` when ``size = B`` and the
       Bartlett-smoothed spectrum of the crop otherwise (computed exactly, so it is >= 0 and
       even, m(-k) = m(k)).
    4. ``m = max(S, floor * max S)`` (so M is invertible, with condition number at most
       ``1 / floor``; the DC term, 0 in S, gets the floor), divided by its mean over the full
       ``(H, W)`` frequency grid: mean m = trace(M) / (H W) = 1, so the mean per-pixel noise
       variance ``2 gamma`` and the scale of gamma are those of plain Langevin.

    The default floor 0.1 boosts only the lowest frequencies (up to about 3x on wood at 64 px):
    the learned VGG energy is stiffest there, and floor 0.01 (up to 18x) lowered the usable
    gamma and raised ULA's bias (docs/mixing.md).

    Computed on the host (float64) from concrete arrays; returns float32 ``(H, W // 2 + 1)``.
    """
    from maxent_jax.gaussian import periodic_component, spot_extension, validate_image

    if not (isinstance(floor, (int, float)) and 0 < floor <= 1):
        raise ValueError(f"floor must be a number in (0, 1], got {floor!r}")
    x0 = validate_image(exemplar, name="exemplar")
    shape = tuple(x0.shape[:2])
    size = shape if size is None else tuple(int(s) for s in size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"size must be two positive integers, got {size!r}")
    big = tuple(max(a, b) for a, b in zip(size, shape))
    grey = periodic_component(jnp.mean(x0, axis=-1, keepdims=True))
    if big != shape:
        grey = spot_extension(grey, big)
    g = np.asarray(grey, np.float64)[..., 0]
    t_hat = np.fft.fft2(g - g.mean())
    cov = np.real(np.fft.ifft2(np.abs(t_hat) ** 2)) / g.size
    s = _expected_periodogram(cov, size)
    s = 0.5 * (s + np.roll(np.flip(s, _AXES), 1, _AXES))  # exactly even: M symmetric
    top = float(s.max())
    if not top > 0:
        raise ValueError("the exemplar is constant: its power spectrum is zero")
    m = np.maximum(s, floor * top)
    m = m / m.mean()
    return Preconditioner(jnp.asarray(m[:, : size[1] // 2 + 1], jnp.float32))


def make_preconditioner(kind: str, exemplar: Array, size: Sequence[int] | None = None
                        ) -> Preconditioner | None:
    """The preconditioner named by the ``precondition`` setting: None for ``"none"`` (plain
    Langevin), :func:`spectrum_preconditioner` of ``exemplar`` at ``size`` for
    ``"spectrum"``."""
    if kind == "none":
        return None
    if kind == "spectrum":
        return spectrum_preconditioner(exemplar, size)
    raise ValueError(f"precondition must be one of {PRECONDITIONERS}, got {kind!r}")


def multiply(precond: Preconditioner, x: Array, power: float = 1.0) -> Array:
    """``M^power x = irfft2(m(k)^power rfft2(x))`` over the two leading (spatial) axes of
    ``x`` ``(H, W, ...)``, the same multiplier for every trailing index (colour channel)."""
    m = precond.multiplier
    if m.shape != (x.shape[0], x.shape[1] // 2 + 1):
        raise ValueError(f"the multiplier has shape {m.shape}, the image {x.shape}")
    if power != 1.0:
        m = m**power
    m = m.reshape(m.shape + (1,) * (x.ndim - 2)).astype(x.dtype)
    x_hat = jnp.fft.rfft2(x, axes=_AXES)
    return jnp.fft.irfft2(m * x_hat, s=x.shape[:2], axes=_AXES).astype(x.dtype)


def apply(precond: Preconditioner, x: Array) -> Array:
    """``M x``."""
    return multiply(precond, x, 1.0)


def apply_sqrt(precond: Preconditioner, x: Array) -> Array:
    """``M^{1/2} x`` (the symmetric square root: multiplier sqrt(m))."""
    return multiply(precond, x, 0.5)


def apply_inverse(precond: Preconditioner, x: Array) -> Array:
    """``M^{-1} x`` (multiplier 1 / m)."""
    return multiply(precond, x, -1.0)


def pula_step(key: Array, state: ULAState, potential_fn: PotentialFn, step_size: Array | float,
              precond: Preconditioner) -> tuple[ULAState, ULAInfo]:
    """One preconditioned ULA move ``X - gamma M grad U(X) + sqrt(2 gamma) M^{1/2} Z``: one
    forward and one backward pass of ``potential_fn``; the key draws Z as
    :func:`~maxent_jax.sampling.langevin.ula_step` does."""
    x = state.position
    (u, aux), grad = jax.value_and_grad(potential_fn, has_aux=True)(x)
    noise = jax.random.normal(key, x.shape, x.dtype)
    step_size = jnp.asarray(step_size, x.dtype)
    x_new = (x - step_size * apply(precond, grad)
             + jnp.sqrt(2.0 * step_size) * apply_sqrt(precond, noise))
    return ULAState(x_new), ULAInfo(u, jnp.sqrt(jnp.sum(grad**2)), aux, stein_statistic(x, grad))


def _log_proposal(x_to: Array, x_from: Array, grad_from: Array, step_size: Array,
                  precond: Preconditioner) -> Array:
    """log q(x_to | x_from) up to a constant, q = N(x_from - gamma M grad U(x_from), 2 gamma M)."""
    d = x_to - x_from + step_size * apply(precond, grad_from)
    return -jnp.vdot(d, apply_inverse(precond, d),
                     precision=jax.lax.Precision.HIGHEST) / (4.0 * step_size)


def pmala_step(key: Array, state: MALAState, potential_fn: PotentialFn,
               step_size: Array | float, precond: Preconditioner,
               exact_potential: ExactPotentialFn | None = None) -> tuple[MALAState, MALAInfo]:
    """One preconditioned Metropolis-adjusted Langevin move (the state comes from
    :func:`~maxent_jax.sampling.langevin.mala_init`; keys and ``exact_potential`` as in
    ``mala_step``)."""
    key_move, key_accept = jax.random.split(key)
    step_size = jnp.asarray(step_size, state.position.dtype)
    y = pmala_proposal(key_move, state, step_size, precond)
    return metropolis(key_accept, state, y, potential_fn,
                      functools.partial(_log_proposal, precond=precond), step_size,
                      exact_potential)


def pmala_proposal(key: Array, state: MALAState, step_size: Array,
                   precond: Preconditioner) -> Array:
    """The preconditioned proposal y = x - gamma M grad U(x) + sqrt(2 gamma) M^{1/2} Z
    (``step_size`` in the position's dtype)."""
    x = state.position
    noise = jax.random.normal(key, x.shape, x.dtype)
    return (x - step_size * apply(precond, state.grad)
            + jnp.sqrt(2.0 * step_size) * apply_sqrt(precond, noise))


def mala_proposal_parts(precond: Preconditioner | None) -> tuple[Callable, Callable]:
    """MALA's proposal ``(key, state, step_size) -> y`` and its log-density ``log_q(x_to,
    x_from, grad_from, step_size)`` (up to a constant), plain for None, preconditioned by M
    = ``precond`` otherwise: the two halves of the MALA step that
    :func:`maxent_jax.sampling.soul.probe_acceptance` takes apart."""
    if precond is None:
        return mala_proposal, mala_log_proposal
    return (functools.partial(pmala_proposal, precond=precond),
            functools.partial(_log_proposal, precond=precond))


def langevin_steps(precond: Preconditioner | None) -> tuple[Callable, Callable]:
    """The ULA and MALA step functions ``(key, state, potential_fn, step_size) -> (state,
    info)``: the plain ones of :mod:`maxent_jax.sampling.langevin` for None (the same
    functions, so a run without a preconditioner is unchanged bit for bit), else
    :func:`pula_step` and :func:`pmala_step` with M = ``precond``."""
    if precond is None:
        return ula_step, mala_step
    return (functools.partial(pula_step, precond=precond),
            functools.partial(pmala_step, precond=precond))
