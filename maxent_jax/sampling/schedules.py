"""Step-size schedules for SOUL and the conditions under which SOUL converges.

SOUL (De Bortoli, Durmus, Pereyra & Fernandez Vidal, Statistics and Computing 2021,
arXiv 1906.12281) alternates m_n Langevin steps of size gamma_n with one theta step of size
delta_n. With decreasing steps it converges (Thm. 1 there, in the form of docs/reference.md §1) when

    (C1) sum_n delta_n = inf,
    (C2) sum_n delta_n / (m_n gamma_n) < inf,
    (C3) sum_n delta_n gamma_n^{1/2} < inf.

With power laws delta_n = delta_0 (n+1)^{-a}, gamma_n = gamma_0 (n+1)^{-b},
m_n ≈ m_0 (n+1)^{c}, the sums are p-series, so (C1) <=> a <= 1, (C2) <=> a + c - b > 1,
(C3) <=> a + b/2 > 1. The default exponents ``a = 1, b = 0.2, c = 0.5`` satisfy all three;
``check_conditions`` says which hold. Constant steps (the usual practice, docs/reference.md §2) do not
satisfy them: SOUL then converges to a neighbourhood of theta* whose size shrinks with gamma
and delta.

Schedules are functions of the outer step count n (optax's convention), usable under ``jit``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax.numpy as jnp
import numpy as np

__all__ = [
    "Schedule",
    "constant",
    "inverse_power",
    "Exponents",
    "check_conditions",
    "inner_steps",
    "stages",
]

Schedule = Callable[[int], float]


def constant(value: float) -> Schedule:
    """n -> value."""
    return lambda n: jnp.asarray(value, jnp.float32) + 0.0 * jnp.asarray(n, jnp.float32)


def inverse_power(value: float, exponent: float) -> Schedule:
    """n -> value (n + 1)^(-exponent)."""
    return lambda n: value * (jnp.asarray(n, jnp.float32) + 1.0) ** (-exponent)


class Exponents(NamedTuple):
    """Power-law exponents of delta_n (a), gamma_n (b) and m_n (c)."""

    a: float = 1.0
    b: float = 0.2
    c: float = 0.5


def check_conditions(exp: Exponents) -> dict[str, bool]:
    """Which of (C1)-(C3) the power laws with these exponents satisfy."""
    return {"C1: sum delta = inf": exp.a <= 1.0,
            "C2: sum delta/(m gamma) < inf": exp.a + exp.c - exp.b > 1.0,
            "C3: sum delta gamma^1/2 < inf": exp.a + exp.b / 2 > 1.0}


def inner_steps(n: int, m0: int, c: float) -> int:
    """m_n = m0 * 2^floor(c log2(n + 1)): within a factor 2 of m0 (n+1)^c, few distinct values."""
    return int(m0 * 2 ** int(np.floor(c * np.log2(n + 1))))


def stages(num_steps: int, m0: int, c: float = 0.0) -> list[tuple[int, int]]:
    """Split ``num_steps`` outer steps into ``(length, m)`` stages of constant m_n.

    Each stage is one ``lax.scan`` with a static inner length (one compilation per stage).
    """
    out: list[tuple[int, int]] = []
    for n in range(num_steps):
        m = inner_steps(n, m0, c)
        if out and out[-1][1] == m:
            out[-1] = (out[-1][0] + 1, m)
        else:
            out.append((1, m))
    return out
