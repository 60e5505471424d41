"""Helpers shared by the metrics: sample batches, channel matching, grey levels.

Part of :mod:`maxent_jax.metrics` (definitions and references there).
"""

from __future__ import annotations

from typing import Any

import numpy as np


Array = Any  # numpy or jax array
_TINY = 1e-12


def _batch(samples: Array) -> np.ndarray:
    """``(H, W, C)`` or ``(S, H, W, C)`` -> float64 ``(S, H, W, C)``."""
    x = np.asarray(samples, np.float64)
    return x[None] if x.ndim == 3 else x


def _match_channels(x: np.ndarray, c: int) -> np.ndarray:
    """Broadcast a grey ``(..., 1)`` array to ``c`` channels (colour vs grey comparisons)."""
    return np.broadcast_to(x, x.shape[:-1] + (c,)) if x.shape[-1] == 1 else x


def _grey(x: np.ndarray) -> np.ndarray:
    """``(..., H, W, C)`` -> ``(..., H, W)``: the mean over channels."""
    return x.mean(-1)


def _channels(xs: np.ndarray, x0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bring samples and exemplar to the same number of channels (grey broadcast to colour)."""
    c = max(xs.shape[-1], x0.shape[-1])
    return _match_channels(xs, c), _match_channels(x0, c)

def _contrast(x0: np.ndarray) -> float:
    """RMS deviation of the exemplar from its channel means (pixels and channels pooled)."""
    return float(np.sqrt(np.mean((x0 - x0.mean(axis=(0, 1))) ** 2)))
