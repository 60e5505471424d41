"""The macrocanonical energy U_theta (De Bortoli et al., SIMODS 2021, eq. of the Gibbs model).

    Pi_theta(dx) ∝ exp(-U_theta(x)) dx,
    U_theta(x) = beta |Omega| <theta, F(x) - F(x0)> + r(x),   r(x) = (eps / 2) ||x - c||^2,

with ``c = 0`` (``centre="zero"``, as in the reference re-implementation of docs/reference.md §2) or
``c`` = the exemplar's channel means broadcast over the image (``centre="mean"``), or no
reference measure at all (``eps = 0``).

|Omega| = H W is the number of pixels of an (H, W, C) image x when ``extensive=True`` (the
default of ``synthesis.py``) and 1 otherwise. Since F is a spatial mean, |Omega| F(x) is a sum
of local potentials, as in a Gibbs random field (FRAME, Zhu, Wu & Mumford, IJCV 1998): the
energy is extensive and one theta serves every image size. It is a reparametrisation
(theta' = |Omega| theta) of the same exponential family, not another model.

The energy returns ``F(x) - F(x0)`` as auxiliary output, so that one forward and one backward
pass give both grad_x U_theta and the features that drive the theta step of SOUL.
"""

from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp

__all__ = ["EnergyFn", "macrocanonical_energy", "reference_centre"]

Array = jax.Array
EnergyFn = Callable[[Array, Array], tuple[Array, Array]]
"""``(theta, x) -> (U_theta(x), F(x) - F(x0))``."""


def reference_centre(exemplar: Array, centre: str = "mean") -> Array:
    """The centre c of the reference measure: ``0`` or the exemplar's channel means (shape (C,))."""
    if centre == "zero":
        return jnp.zeros(exemplar.shape[-1], jnp.float32)
    if centre == "mean":
        return jnp.mean(exemplar, axis=(0, 1))
    raise ValueError(f"centre must be 'zero' or 'mean', got {centre!r}")


def macrocanonical_energy(feature_fn: Callable[[Array], Array], target: Array, *,
                          beta: float = 1.0, eps: float | Array = 0.0,
                          centre: Array | float = 0.0, extensive: bool = False,
                          with_penalty: bool = False) -> EnergyFn:
    """Build ``U_theta`` for the features ``feature_fn`` and the exemplar's ``target = F(x0)``.

    ``with_penalty``: ``feature_fn(x)`` returns ``(F(x), P(x))`` with P a scalar mean over
    positions (e.g. style transfer's content distance times its weight), and
    ``U_theta(x) = |Omega| (beta <theta, F(x) - F(x0)> + P(x)) + (eps / 2) ||x - c||^2``:
    P is part of the reference measure, so the theta problem is unchanged. ``eps`` may be a
    traced value (then it is always added).
    """
    if isinstance(eps, (int, float)) and (not math.isfinite(eps) or eps < 0):
        raise ValueError(f"eps must be a finite number >= 0, got {eps}")
    if not math.isfinite(beta) or beta <= 0:
        raise ValueError(f"beta must be a finite number > 0, got {beta}")
    use_eps = not isinstance(eps, (int, float)) or eps != 0

    def energy(theta: Array, x: Array) -> tuple[Array, Array]:
        out = feature_fn(x)
        fx, penalty = out if with_penalty else (out, None)
        gap = fx - target
        pixels = x.shape[0] * x.shape[1] if extensive else 1
        dot = jnp.vdot(theta, gap, precision=jax.lax.Precision.HIGHEST)  # no TF32
        if penalty is None:
            u = (beta * pixels) * dot
        else:
            u = (beta * dot + penalty) * pixels
        if use_eps:
            u = u + 0.5 * eps * jnp.sum((x - centre) ** 2)
        return u, gap

    return energy
