"""Stein's identity as an equilibrium check: is a set of chains distributed as Pi_theta?

For a density ``pi ∝ exp(-U)`` on R^d that decays fast enough, integration by parts gives,
for every smooth vector field f of moderate growth (Stein 1972; in MCMC, Gorham & Mackey,
NeurIPS 2015),

    E_pi[ <f(X), grad U(X)> ] = E_pi[ div f(X) ].

With f(x) = P x, P the linear map that removes each channel's spatial mean from an
(H, W, C) image, div f = trace P = d - C (d = H W C), so

    E_pi[ <X - mean(X), grad U(X)> ] / (d - C) = 1.

This is the virial theorem of statistical physics, and the ratio is the "configurational
temperature" of molecular dynamics (Rugh, PRL 1997; Butler et al., J. Chem. Phys. 1998).
It needs no normalising constant, no F(x0) and no reference sample, and costs one dot
product per chain and step, since every Langevin step computes grad U anyway. Removing the
channel means (rather than using f(x) = x - a) keeps the large DC component of x out of
the statistic: for a Gaussian target the ratio of one sample fluctuates by about
sqrt(2 / d). The discretisation bias of ULA moves it only by about gamma tr(H) / (2 d), far
below the fluctuations at the library's step sizes.

A value far from 1 means the chains are not (yet) distributed as Pi_theta: well above 1,
they sit where the energy is steep (a transient from far-away starts, e.g. ADSN starts of
a model whose typical images are elsewhere); below 1, the energy still falls on moving
outward. Either way their samples are not draws of the model at that theta.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

__all__ = ["stein_statistic", "stein_dimension", "stein_ratio"]

Array = jax.Array


def _axes(ndim: int) -> tuple[int, ...]:
    """Axes of the means removed: (H, W) of an (H, W, C) image; every axis otherwise."""
    return (0, 1) if ndim == 3 else tuple(range(ndim))


def stein_statistic(x: Array, grad: Array) -> Array:
    """``<x - mean(x), grad U(x)>`` for one position: an ``(H, W, C)`` image (channel means
    over (H, W)) or any other array (its overall mean)."""
    centred = x - jnp.mean(x, axis=_axes(x.ndim), keepdims=True)
    return jnp.vdot(centred, grad, precision=jax.lax.Precision.HIGHEST)


def stein_dimension(shape: tuple[int, ...]) -> int:
    """The trace of the centring map for one position of ``shape``: ``H W C - C`` for an
    (H, W, C) image, ``size - 1`` otherwise."""
    size = math.prod(shape)
    return size - (shape[-1] if len(shape) == 3 else 1)


def stein_ratio(positions: Array, grads: Array) -> Array:
    """Mean over chains (first axis) of ``stein_statistic / stein_dimension``: 1 in
    expectation when the positions are distributed as exp(-U)."""
    values = jax.vmap(stein_statistic)(positions, grads)
    return jnp.mean(values) / stein_dimension(positions.shape[1:])
