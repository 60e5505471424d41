"""One SOUL-type task from settings to trace: the shell shared by synthesis, style and inpainting.

A task supplies its starting positions, the target F(x0) and an *energy builder*, a
module-level function ``build(config, backbone, *args) -> EnergyFn`` called inside the jitted
chunk (so the weights and images are arguments of the compiled program, not constants).
:func:`run_soul_task` then

1. shards the chains over devices (:mod:`maxent_jax.run.parallel`);
2. compiles one chunk program for ``config.checkpoint_every`` outer steps of the SOUL kernel
   (:func:`maxent_jax.sampling.soul.soul`, settings from
   :meth:`maxent_jax.run.settings.SOULConfig.soul_options`);
   With ``config.precondition`` other than ``"none"`` the task also passes the
   :class:`~maxent_jax.sampling.preconditioned.Preconditioner` M (an argument of the compiled
   program, like the images, not a constant baked into it);
3. runs it through the driver (:func:`maxent_jax.run.driver.drive`: checkpoints and resume,
   divergence, progress) and returns the final state and the trace.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from maxent_jax.nn.backbone import Backbone
from maxent_jax.run.checkpoint import checkpoint_path, stack_infos
from maxent_jax.run.diagnostics import trace_diagnostics
from maxent_jax.run.driver import Checkpointing, drive
from maxent_jax.run.parallel import chain_mesh, check_chains, replicate, shard_state
from maxent_jax.run.settings import SOULConfig
from maxent_jax.sampling.energy import EnergyFn
from maxent_jax.sampling.preconditioned import Preconditioner
from maxent_jax.sampling.scan import scan_steps
from maxent_jax.sampling.soul import SOULInfo, SOULState, block_norms, soul, soul_init

__all__ = ["TaskRun", "default_devices", "soul_trace", "run_soul_task", "run_identity",
           "chunk_program"]

EnergyBuilder = Callable[..., EnergyFn]
RestartBuilder = Callable[..., Callable[[jax.Array], jax.Array]]  # (config, *args) -> key -> X


class TaskRun(NamedTuple):
    """Final state (on the devices), trace (numpy), the monitor's records and the infos of
    every chunk (those given to :func:`run_soul_task` first)."""

    state: SOULState
    trace: dict[str, np.ndarray]
    records: list
    infos: list = []


def default_devices(chains: int) -> int:
    """All visible devices, or the largest count that divides ``chains``."""
    n = jax.device_count()
    return max(d for d in range(1, n + 1) if chains % d == 0)


def run_identity(config: SOULConfig, backbone: Backbone, **inputs: Any) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: settings, weights and input hashes."""
    from maxent_jax import __version__
    from maxent_jax.io import array_sha256

    return {"config": config.to_json(), "weights_sha256": backbone.weights_sha256,
            "inputs": {k: array_sha256(v) for k, v in inputs.items()},
            "version": __version__}


def soul_trace(infos: Sequence[SOULInfo], target_norms: np.ndarray,
               layers: Sequence[str]) -> dict[str, np.ndarray]:
    """Trace arrays of a SOUL run (the keys of ``trace.npz``): the infos' fields,
    ``relative_gap = ||mean F(X) - F0|| / ||F0||`` in total and per layer block,
    ``iteration`` (1-based), ``target_norms``, the block names ``layers`` and the derived
    diagnostics of :func:`maxent_jax.run.diagnostics.trace_diagnostics`."""
    stacked = stack_infos(infos)
    if stacked:
        stacked["relative_gap"] = (np.linalg.norm(stacked["gap_norms"], axis=1)
                                   / np.linalg.norm(target_norms))
        stacked["relative_gap_per_layer"] = stacked["gap_norms"] / target_norms
        stacked["iteration"] = np.arange(1, len(stacked["energy"]) + 1)
        stacked.update(trace_diagnostics(stacked, float(np.linalg.norm(target_norms))))
    stacked["target_norms"] = np.asarray(target_norms)
    stacked["layers"] = np.array(list(layers))
    return stacked


@functools.lru_cache(maxsize=16)
def _runner(config: SOULConfig, build: EnergyBuilder, estimator: str = "path",
            restart: Optional[RestartBuilder] = None) -> Callable:
    """jitted ``(backbone, args, key, state, stop, m, precond=None) -> (state, info)`` for
    ``config.checkpoint_every`` steps (a shorter chunk stops early: no second program);
    ``precond``: the Langevin preconditioner, or None. With ``config.restart_every`` R > 0,
    ``restart(config, *args)`` gives the kernel its fresh draws; restarts stop R steps before
    the end, so every final chain has run at least R steps."""
    every = restart_every(config)

    def run(backbone, args, key, state, stop, num_inner, precond=None):
        options = config.soul_options(pixels=state.positions.shape[-3] * state.positions.shape[-2])
        energy = build(config, backbone, *args)
        extra = dict(restart_every=every, restart=restart(config, *args),
                     restart_until=config.iterations - every) if every else {}
        kernel = soul(energy, num_inner=num_inner, block_sizes=backbone.block_sizes(),
                      estimator=estimator, precond=precond, **options, **extra)
        return scan_steps(kernel.step, key, state, config.checkpoint_every, stop)

    return jax.jit(run, static_argnums=5)


def restart_every(config: SOULConfig) -> int:
    """R of the chains' restarts (``restart_every`` of the task's config; 0: none)."""
    return int(getattr(config, "restart_every", 0) or 0)


def chunk_program(config: SOULConfig, build: EnergyBuilder, estimator: str = "path",
                  restart: Optional[RestartBuilder] = None) -> Callable:
    """The cached chunk program of ``config``: settings that do not enter it (the seed; the
    number of iterations when nothing is averaged and no chain restarts) are normalised
    first, so a study over seeds or run lengths compiles once."""
    key = dataclasses.replace(config, seed=0)
    if not config.average_last and not restart_every(config):
        key = dataclasses.replace(key, iterations=1)
    return _runner(key, build, estimator, restart if restart_every(config) else None)


def _postfix(target_norms: np.ndarray) -> Callable[[SOULInfo], dict[str, str]]:
    def postfix(info: SOULInfo) -> dict[str, str]:
        gap = np.linalg.norm(np.asarray(info.gap_norms[-1])) / np.linalg.norm(target_norms)
        return {"rel_gap": f"{gap:.3f}", "theta": f"{float(info.theta_norm[-1]):.3g}"}
    return postfix


def run_soul_task(config: SOULConfig, backbone: Backbone, build: EnergyBuilder,
                  args: tuple, positions: jax.Array, target: jax.Array, run_key: jax.Array, *,
                  identity: dict[str, Any], out_dir: Optional[Path] = None,
                  resume: bool = False, checkpoint: bool = False, progress: bool = False,
                  devices: Optional[int] = None, desc: str = "SOUL",
                  monitor: Optional[Callable[[Backbone, tuple, SOULState], Any]] = None,
                  allow_step_change: bool = False, estimator: str = "path",
                  precond: Optional[Preconditioner] = None,
                  restart: Optional[RestartBuilder] = None,
                  initial: Optional[SOULState] = None,
                  chunks: Optional[Sequence[tuple[int, int, int]]] = None,
                  infos: Sequence[Any] = ()) -> TaskRun:
    """Run SOUL for ``config.iterations`` outer steps (see the module docstring).

    ``args``: the arrays ``build`` needs besides the backbone (replicated on the devices).
    ``positions``: ``(C, H, W, ch)`` starting images; ``target`` = F(x0) for the trace.
    ``monitor(backbone, args, state)``: recorded before the first chunk and after each.
    ``allow_step_change``: on resume, gamma and delta may differ from the checkpoint's.
    ``estimator``: of E[F] in the theta step (:func:`maxent_jax.sampling.soul.soul`).
    ``precond``: the Langevin preconditioner M, required when ``config.precondition`` is
    not ``"none"`` and refused otherwise. ``restart``: a module-level ``(config, *args) ->
    (key -> (C, H, W, ch) fresh positions)``, required when the config restarts chains.
    ``initial``: the state to start from instead of ``soul_init(positions, 0)`` (a coarse-to-
    fine run's next stage), ``chunks``: the ``(start, length, m)`` to run instead of
    ``config.chunks()``, ``infos``: the infos of the steps before ``initial``
    (:mod:`maxent_jax.tasks.scales`).
    """
    if restart_every(config) and restart is None:
        raise ValueError(f"restart-every {restart_every(config)}: {desc} cannot restart "
                         f"its chains")
    if config.precondition == "none" and precond is not None:
        raise ValueError("a preconditioner was given but config.precondition is 'none'")
    if config.precondition != "none" and precond is None:
        raise ValueError(f"precondition {config.precondition!r}: no preconditioner was given "
                         f"({desc} does not support one)")
    mesh = chain_mesh(devices if devices is not None else default_devices(config.chains))
    check_chains(config.chains, mesh)
    backbone, args = replicate(backbone, mesh), replicate(args, mesh)
    precond = None if precond is None else replicate(precond, mesh)
    pixels = positions.shape[-3] * positions.shape[-2]
    if initial is None:
        initial = soul_init(positions, jnp.zeros(backbone.dim), config.theta_optimizer(pixels))
    state = shard_state(initial, mesh)
    target_norms = np.asarray(block_norms(target, backbone.block_sizes()))
    runner = chunk_program(config, build, estimator, restart)
    ignore = ("config.iterations",) + (("config.gamma", "config.delta", "config.delta_scale")
                                       if allow_step_change else ())
    ckpt = Checkpointing(checkpoint_path(out_dir), identity, write=checkpoint, resume=resume,
                         advice="try a smaller --gamma", ignore=ignore)
    result = drive(lambda s, stop, m: runner(backbone, args, run_key, s, stop, m, precond),
                   state, config.chunks() if chunks is None else list(chunks), SOULInfo,
                   checkpointing=ckpt, progress=progress, infos=infos,
                   desc=desc, postfix=_postfix(target_norms), place=lambda s: shard_state(s, mesh),
                   monitor=None if monitor is None else (lambda s: monitor(backbone, args, s)))
    trace = soul_trace(result.infos, target_norms, backbone.block_names())
    return TaskRun(result.state, trace, result.records, result.infos)
