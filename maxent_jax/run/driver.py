"""The one driver of every chain-running task: chunks, checkpoints, divergence, progress.

Texture synthesis, style transfer, CNN inpainting, the Lu-Zhu-Wu baseline and fixed-theta
sampling all run a jitted chunk function

    run_chunk(state, stop, m) -> (state, info)

compiled once for ``cadence`` steps (``m``, the inner steps, is static; ``stop`` is traced:
steps at or past it leave the state unchanged, :func:`maxent_jax.sampling.scan.scan_steps`).
:func:`drive` calls it on the chunks of :func:`maxent_jax.run.settings.chunk_plan` and,
between chunks:

* checks for divergence (non-finite energy, theta norm or positions): raises
  :class:`DivergenceError` naming the iteration, after saving the last good state;
* records the chunk's infos (on the host, gathered across processes), runs an optional
  ``monitor(state)`` and advances a progress bar;
* writes the checkpoint (:mod:`maxent_jax.run.checkpoint`).

A resumed run skips the chunks already done. Since the key of step n is ``fold_in(key, n)``
and the chunks are the same, it is bit-identical to an uninterrupted run.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from maxent_jax.run.checkpoint import (CheckpointError, load_checkpoint, save_checkpoint,
                                       to_host)

__all__ = ["DivergenceError", "Checkpointing", "DriveResult", "drive"]


class DivergenceError(RuntimeError):
    """The chains or theta became NaN or infinite."""


class Checkpointing(NamedTuple):
    """Where to checkpoint (``path``), what the run is (``identity``), whether to ``write``
    after every chunk and whether to ``resume`` from ``path``. ``advice``: what to try after
    a divergence; ``ignore``: identity keys that may differ on resume (dotted paths)."""

    path: Optional[Path]
    identity: Mapping[str, Any]
    write: bool = False
    resume: bool = False
    advice: str = "try a smaller gamma"
    ignore: tuple[str, ...] = ("config.iterations",)


class DriveResult(NamedTuple):
    """The final state, the infos of every chunk (numpy, one per chunk) and the monitor's
    records (one before the first chunk run here and one after each chunk)."""

    state: Any
    infos: list
    records: list


def _first_bad(info: Any, length: int) -> Optional[int]:
    checks = [np.isfinite(np.asarray(getattr(info, k))[:length]).reshape(length, -1).all(1)
              for k in ("energy", "theta_norm") if hasattr(info, k)]
    if not checks:
        return None
    ok = np.logical_and.reduce(checks)
    return None if ok.all() else int(np.argmin(ok))


POSITION_BOUND = 1e4
"""Pixel values beyond this (images live in [0, 1]) count as a divergence: with a Gaussian
reference measure and a huge step, the chains reach 1e20 before any value overflows, and a
state that far out cannot be continued with any step."""


def _sane(positions: Any) -> bool:
    return bool(jnp.all(jnp.abs(positions) <= POSITION_BOUND))  # False for NaN too


def _positions(state: Any) -> Any:
    return state.positions if hasattr(state, "positions") else state.position


def _progress(total: int, done: int, desc: str, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, initial=done, desc=desc, unit="it")


class _Estimate:
    """Without a progress bar, one line on stderr with the time left, from the second chunk
    run (the first one compiles), when that is over ``LONG`` seconds."""

    LONG = 120.0

    def __init__(self, total: int, desc: str) -> None:
        self.total, self.desc, self.chunks, self.t0, self.start = total, desc, 0, 0.0, 0

    def begin(self, start: int) -> None:
        self.t0, self.start = time.perf_counter(), start

    def end(self, stop: int) -> None:
        self.chunks += 1
        if self.chunks != 2 or stop <= self.start:
            return
        per_step = (time.perf_counter() - self.t0) / (stop - self.start)
        left = per_step * (self.total - stop)
        if left > self.LONG:
            print(f"{self.desc}: about {_duration(left)} left for the remaining "
                  f"{self.total - stop} steps ({per_step:.3g} s a step)", file=sys.stderr)


def _duration(seconds: float) -> str:
    for unit, size in (("days", 86400.0), ("hours", 3600.0), ("minutes", 60.0)):
        if seconds >= 2 * size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.0f} s"


def drive(run_chunk: Callable[[Any, Any, int], tuple[Any, Any]], state: Any,
          chunks: Sequence[tuple[int, int, int]], info_type: type, *,
          checkpointing: Optional[Checkpointing] = None, progress: bool = False,
          desc: str = "SOUL", monitor: Optional[Callable[[Any], Any]] = None,
          postfix: Optional[Callable[[Any], Mapping[str, str]]] = None,
          place: Optional[Callable[[Any], Any]] = None,
          infos: Sequence[Any] = ()) -> DriveResult:
    """Run ``chunks`` = ``[(start, length, m), ...]`` (see the module docstring).

    ``place`` puts a state on the devices (e.g. shards the chains): applied to a state read
    from a checkpoint and to each chunk's result, so every chunk sees the same input
    shardings and reuses one compiled program. ``infos``: those of earlier steps run before
    ``state`` (a coarse-to-fine run's earlier stages), kept at the head of the result's and
    written into the checkpoint; a resumed run reads them from the checkpoint instead.
    """
    ckpt = checkpointing or Checkpointing(None, {})
    infos = list(infos)
    if ckpt.resume:
        if ckpt.path is None:
            raise CheckpointError("--resume needs an output folder holding a checkpoint")
        state, infos, _ = load_checkpoint(ckpt.path, state, info_type, ckpt.identity,
                                          ckpt.ignore)
        state = place(state) if place is not None else state
        done = sum(len(np.asarray(i[0])) for i in infos)
        if done != int(state.step):
            raise CheckpointError(f"{ckpt.path}: its trace has {done} steps but its state "
                                  f"is at step {int(state.step)}")
    total = chunks[-1][0] + chunks[-1][1] if chunks else 0
    if int(state.step) > total:
        raise CheckpointError(f"{ckpt.path}: the checkpoint is at step {int(state.step)}, "
                              f"past the {total} iterations asked for")
    records = [] if monitor is None else [monitor(state)]
    bar = _progress(total, int(state.step), desc, progress)
    timer = None if progress else _Estimate(total, desc)
    for start, length, m in chunks:
        if start < int(state.step):
            continue
        if timer is not None:
            timer.begin(start)
        new, info = run_chunk(state, jnp.asarray(start + length, jnp.int32), m)
        info = jax.tree_util.tree_map(lambda a: to_host(a)[:length], info)
        bad = _first_bad(info, length)
        if bad is not None or not _sane(_positions(new)):
            _diverged(ckpt, state, infos, start + (bad or 0))
        state = place(new) if place is not None else new  # same shardings: no recompile
        infos.append(info)
        if monitor is not None:
            records.append(monitor(state))
        if bar is not None:
            if postfix is not None:
                bar.set_postfix(postfix(info))
            bar.update(length)
        if timer is not None:
            timer.end(start + length)
        if ckpt.write and ckpt.path is not None:
            save_checkpoint(ckpt.path, state, infos, ckpt.identity)
    if bar is not None:
        bar.close()
    return DriveResult(state, infos, records)


def _diverged(ckpt: Checkpointing, state: Any, infos: list, iteration: int) -> None:
    where = ""
    if ckpt.path is not None and ckpt.write:
        save_checkpoint(ckpt.path, state, infos, ckpt.identity)
        where = (f"; the last good state (iteration {int(state.step)}) is saved in "
                 f"{ckpt.path}: continue it with --resume --allow-step-change and a smaller "
                 "--gamma")
    raise DivergenceError(f"the chains diverged (NaN, infinite or beyond {POSITION_BOUND:g} "
                          f"values) at iteration "
                          f"{iteration}; {ckpt.advice}{where}")
