"""Run a Markov kernel for a number of steps in one ``lax.scan``.

Every chain-running algorithm of the library is a pair ``init``, ``step(key, state) ->
(state, info)`` (blackjax's convention) whose state carries its step count ``state.step``.
:func:`scan_steps` applies ``step`` with the key ``fold_in(key, state.step)``: the key of
step n depends on n only, so a run cut into chunks, or interrupted and resumed, draws the
same noise as an uninterrupted one.

With ``stop`` (a traced integer), steps with ``state.step >= stop`` leave the state as it is
(``lax.cond``) and report zeros: one program compiled for ``num_steps`` steps runs any
shorter chunk, so a remainder chunk costs no second compilation.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp

__all__ = ["scan_steps"]

Array = jax.Array


def scan_steps(step: Callable[[Array, Any], tuple[Any, Any]], key: Array, state: Any,
               num_steps: int, stop: Optional[Array] = None) -> tuple[Any, Any]:
    """``num_steps`` applications of ``step``; returns the last state and the stacked infos."""
    def body(s, _):
        k = jax.random.fold_in(key, s.step)
        if stop is None:
            return step(k, s)
        blank = jax.tree_util.tree_map(lambda a: jnp.zeros(a.shape, a.dtype),
                                       jax.eval_shape(step, k, s)[1])
        return jax.lax.cond(s.step < stop, lambda c: step(k, c), lambda c: (c, blank), s)

    return jax.lax.scan(body, state, None, length=num_steps)
