"""Coarse-to-fine SOUL: theta is learned on small chains, which then grow (window or pyramid).

The energy is extensive and F averages over positions,

    U_theta(x) = beta |Omega| <theta, F(x) - F(x0)> + r(x),   F(x) = channel means,

so one theta defines a law of images of every size (:mod:`maxent_jax.tasks.sample` already
samples a learned model at any size). With ``scales = (s_1, ..., s_K)`` a synthesis run
(:func:`maxent_jax.tasks.texture.synthesize`) has K stages: stage k runs its share of the
outer SOUL steps with chains whose longer side is s_k (the output's aspect ratio kept), at
about (s_k / s_K)^2 of the last stage's cost per step; the exemplar and F(x0) stay at the
working resolution throughout (the chains see the exemplar's pixel scale from the start, only
their window is small). At a stage change theta, the optimiser state and the step counter
carry over and the chains start again (``scale_growth``): from new ADSN draws at the next size
(``adsn``), or tiled periodically from the last ones (``tile``, :func:`grow`; with circular
padding a tiled image has the same channel means up to the pooling grid's edge, but a short
last stage leaves the tiling visible: docs/performance.md). Either way the
step sizes, the averaging windows and the keys ``fold_in(key, n)`` are those of one run of
``iterations`` steps. One stage (the default, ``scales`` None) is today's plain run.

That is the **window** mode (``scale_mode="window"``, reading (a) of issue 27). The
**pyramid** mode (``scale_mode="pyramid"``, reading (b)) changes the pixel scale instead: at
stage k the exemplar is resampled by s_k / s_K (:func:`stage_exemplar`, the periodic Fourier
resampling of :mod:`maxent_jax.gaussian.resample`), F(x0) and the reference centre are those of
that exemplar, the chains start from its ADSN draws, and at a stage change they grow by
``upsample`` (the band-limited interpolation of the last chains) or ``detail`` (that, plus the
high band of a new ADSN draw of the next level's exemplar: the Gaussian model's fine
frequencies drawn given the coarse ones, :func:`maxent_jax.gaussian.refine`), or start again
(``adsn``). Since F of a coarser image is a different statistic, theta either carries over as
a warm start (``scale_theta="carry"``) or starts again from 0 with a new optimiser state
(``"reset"``), and the learned model averages theta over the last half of the last stage only.
The step counter, step sizes and keys are those of one run either way.

The default of a run with ``scales`` is the pyramid with ``detail`` growth and theta carried
(``scale_growth="auto"`` resolves to ``detail`` in pyramid mode and ``adsn`` in window mode,
:func:`stage_growth`): at 256 px it took less time than window growth and its theta_bar was
closer to valid at frozen theta on both exemplars measured (docs/performance.md, Measurement 7).
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from maxent_jax.gaussian.resample import fourier_resample

GROWTHS = ("auto", "adsn", "tile", "upsample", "detail")
"""How the chains of the next stage start: new ``init`` draws (ADSN) at its size, with the
learned theta; the last chains tiled periodically (a 2 x 2 tiling for a doubling; window
mode); the last chains upsampled, alone or with the fine frequencies of a new ADSN draw
(pyramid mode); ``auto``: the mode's own (:data:`MODE_GROWTH`)."""

MODES = ("window", "pyramid")
"""What a coarse stage makes smaller: the chains' window at the exemplar's pixel scale, or
the resolution of both exemplar and chains."""

THETA_STARTS = ("carry", "reset")
"""At a stage change theta (and the optimiser state) carries over, or starts again from 0."""

MODE_GROWTH = {"window": "adsn", "pyramid": "detail"}
"""The growth ``auto`` stands for in each mode (measured at 256 px: docs/performance.md,
Measurements 4-7)."""

_GROWTH_MODES = {"auto": MODES, "adsn": MODES, "tile": ("window",), "upsample": ("pyramid",),
                 "detail": ("pyramid",)}

__all__ = ["GROWTHS", "MODES", "MODE_GROWTH", "THETA_STARTS", "stage_growth", "Stage", "stage_sizes", "stage_iterations",
           "plan_stages", "split_chunks", "grow", "stage_exemplar", "stage_exemplar_size",
           "scale_checks"]

Chunk = tuple[int, int, int]


class Stage(NamedTuple):
    """One stage: chains of ``size`` = (H, W) for the outer steps ``start <= n < stop``."""

    size: tuple[int, int]
    start: int
    stop: int


def stage_sizes(size: Sequence[int], scales: Optional[Sequence[int]]) -> list[tuple[int, int]]:
    """(H, W) of each stage: the longer side ``s``, the other in the output's proportion."""
    h, w = int(size[0]), int(size[1])
    if not scales:
        return [(h, w)]
    side = max(h, w)
    return [(max(1, round(h * s / side)), max(1, round(w * s / side))) for s in scales]


def stage_iterations(iterations: int, count: int,
                     given: Optional[Sequence[int]] = None) -> list[int]:
    """Outer steps per stage: ``given``, else an equal share (the remainder to the last)."""
    if given:
        return [int(n) for n in given]
    share = iterations // count
    return [share] * (count - 1) + [iterations - share * (count - 1)]


def plan_stages(size: Sequence[int], iterations: int, scales: Optional[Sequence[int]],
                scale_iterations: Optional[Sequence[int]] = None) -> list[Stage]:
    """The stages of a run (one stage of the output size without ``scales``)."""
    sizes = stage_sizes(size, scales)
    counts = stage_iterations(iterations, len(sizes), scale_iterations)
    stops = np.cumsum(counts)
    return [Stage(s, int(stop - n), int(stop)) for s, n, stop in zip(sizes, counts, stops)]


def split_chunks(chunks: Sequence[Chunk], stages: Sequence[Stage]) -> list[list[Chunk]]:
    """The run's chunks ``(start, length, m)`` cut at the stage boundaries, per stage."""
    out: list[list[Chunk]] = [[] for _ in stages]
    for start, length, m in chunks:
        end = start + length
        for k, stage in enumerate(stages):
            lo, hi = max(start, stage.start), min(end, stage.stop)
            if lo < hi:
                out[k].append((lo, hi - lo, m))
    return out


def grow(positions: jax.Array, size: Sequence[int]) -> jax.Array:
    """``(C, h, w, ch)`` chains tiled periodically and cropped to ``(C, H, W, ch)``."""
    positions = jnp.asarray(positions)
    h, w = positions.shape[-3], positions.shape[-2]
    reps = (1, -(-int(size[0]) // h), -(-int(size[1]) // w), 1)
    return jnp.tile(positions, reps)[:, : int(size[0]), : int(size[1])]


def stage_exemplar(exemplar: jax.Array, stage: Sequence[int],
                   final: Sequence[int]) -> jax.Array:
    """The exemplar of a pyramid stage with chains of ``stage`` = (h, w) in a run whose
    output is ``final`` = (H, W): resampled (:func:`maxent_jax.gaussian.fourier_resample`) by
    the ratio of the longer sides, so the exemplar's pixels and the chains' shrink alike;
    the exemplar itself at the last stage."""
    shape = stage_exemplar_size(exemplar.shape[:2], stage, final)
    return exemplar if shape == tuple(exemplar.shape[:2]) else fourier_resample(exemplar, shape)


def stage_exemplar_size(shape: Sequence[int], stage: Sequence[int],
                        final: Sequence[int]) -> tuple[int, int]:
    """(h, w) of :func:`stage_exemplar` for an exemplar of ``shape`` = (H, W)."""
    ratio = max(int(stage[0]), int(stage[1])) / max(int(final[0]), int(final[1]))
    return (max(1, round(int(shape[0]) * ratio)), max(1, round(int(shape[1]) * ratio)))


def stage_growth(mode: str, growth: str) -> str:
    """The growth a run uses: ``growth``, or the mode's own when it is ``auto``."""
    return MODE_GROWTH[mode] if growth == "auto" else growth


def scale_checks(config: object, size: Optional[Sequence[int]]) -> list[tuple[bool, str]]:
    """``(ok, message)`` of the ``scales`` / ``scale_iterations`` settings of ``config`` for
    an output of ``size`` (None: not yet known, the size checks wait)."""
    scales = getattr(config, "scales", None)
    given = getattr(config, "scale_iterations", None)
    iterations = getattr(config, "iterations")
    if not scales:
        return [(not given, "scale-iterations goes with --scales")]
    ints = all(isinstance(s, int) and not isinstance(s, bool) for s in scales)
    checks = [(ints and all(s >= 1 for s in scales),
               "scales must be positive integers (chain sides), got "
               + ",".join(map(str, scales)))]
    if not checks[0][0]:
        return checks
    checks.append((all(a < b for a, b in zip(scales, scales[1:])),
                   f"scales must increase strictly, got {','.join(map(str, scales))}"))
    if size is not None:
        side = max(int(size[0]), int(size[1]))
        above = ": it is above the output size" if scales[-1] > side else ""
        checks.append((scales[-1] == side, f"the last scale must be the output's longer side "
                                           f"{side} (got {scales[-1]}){above}"))
    if given:
        ok = (len(given) == len(scales)
              and all(isinstance(n, int) and n >= 1 for n in given))
        checks.append((ok, f"scale-iterations must be {len(scales)} integers >= 1 (one per "
                           f"scale), got {','.join(map(str, given))}"))
        if ok:
            checks.append((sum(given) == iterations,
                           f"scale-iterations sum to {sum(given)}, not --iterations "
                           f"{iterations}"))
    elif iterations < len(scales):
        checks.append((False, f"{iterations} iterations cannot be shared by "
                              f"{len(scales)} scales"))
    mode = getattr(config, "scale_mode", "pyramid")
    growth = getattr(config, "scale_growth", "auto")
    if mode in MODES and growth in GROWTHS:
        checks.append((mode in _GROWTH_MODES[growth],
                       f"scale-growth {growth} does not go with scale-mode {mode} (it goes "
                       f"with {' or '.join(_GROWTH_MODES[growth])})"))
    if getattr(config, "restart_every", 0):
        checks.append((False, "restart-every does not go with --scales"))
    last = stage_iterations(iterations, len(scales), given)[-1] if all(
        ok for ok, _ in checks) else iterations
    checks.append((getattr(config, "average_last", 0) <= last,
                   f"average-last must lie within the last scale's {last} iterations"))
    return checks
