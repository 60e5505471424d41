"""Macrocanonical texture synthesis end to end: SOUL driven in chunks, with checkpoints.

This is the imperative shell around the pure kernels of ``soul.py``: it builds the energy of
``energy.py`` from a :class:`SynthesisConfig`, initialises the chains (ADSN of the exemplar by
default), and runs ``soul_run`` in jitted chunks of ``checkpoint_every`` outer steps. After each
chunk it checks for divergence, updates a progress bar and (optionally) writes a checkpoint.
A resumed run replays the same chunks with the same keys (step n uses ``fold_in(key, n)``), so
its result is bit-identical to an uninterrupted run on the same machine.

Units: images (and so the chains) live in ``[0, 1]`` pixel units, the network input being
derived from them by the weights' own preprocessing. The reference re-implementation of
DESIGN.md §2 works in ``[0, 255]`` units; its gamma' corresponds to ``gamma = gamma' / 255^2``
here and its eps' to ``eps = 255^2 eps'``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from maxent_jax import features as feats
from maxent_jax.energy import macrocanonical_energy, reference_centre
from maxent_jax.gaussian import adsn
from maxent_jax.parallel import chain_mesh, check_chains, replicate, shard_state
from maxent_jax.schedules import constant, inverse_power, stages
from maxent_jax.soul import (SOULInfo, SOULState, block_norms, make_projection, soul_checks,
                             soul_init, soul_run, theta_optimizer)

__all__ = [
    "SynthesisConfig",
    "SynthesisResult",
    "default_devices",
    "DivergenceError",
    "synthesize",
    "initial_positions",
    "load_checkpoint",
]

Array = jax.Array
CHECKPOINT = "checkpoint.npz"


@dataclasses.dataclass(frozen=True)
class SynthesisConfig:
    """Every setting of a run (written to ``config.json``; enough to rerun it).

    gamma: Langevin step (pixel units). delta: theta step. beta: inverse temperature of the
    feature term; extensive: multiply it by the number of pixels (see ``energy.py``). eps, centre: reference measure (eps/2)||x - c||^2, c = 0 or the exemplar mean.
    decay: if True, delta_n = delta (n+1)^-1, gamma_n = gamma (n+1)^-0.2 and m_n grows like
    (n+1)^0.5 in doubling stages (the convergence conditions of ``schedules.py``); else
    constant steps. average_from: outer step from which the end-of-step positions are
    averaged (negative: the last |average_from| steps; 0: no average). optimism: with sgd,
    the optimistic step theta += delta ((1 + b) g_n - b g_{n-1}) (optax's
    ``optimistic_gradient_descent``): same fixed point (mean gap 0), but the added
    derivative term damps the oscillation of the coupled (x, theta) saddle dynamics, for
    which plain gradient steps rotate (Daskalakis et al., ICLR 2018).
    """

    preset: str = "paper"
    layers: Optional[tuple[str, ...]] = None
    activation: Optional[str] = None
    pooling: Optional[str] = None
    padding: Optional[str] = None
    colour: bool = False
    remat: bool = False
    precision: str = "float32"
    conv: str = "auto"
    size: Optional[tuple[int, int]] = None
    iterations: int = 500
    chains: int = 1
    inner_steps: int = 1
    gamma: float = 1e-7
    delta: float = 0.02
    beta: float = 1.0
    extensive: bool = True
    eps: float = 0.0
    centre: str = "mean"
    optimizer: str = "sgd"
    optimism: float = 10.0
    decay: bool = False
    projection: str = "none"
    init: str = "adsn"
    average_from: int = 0
    seed: int = 0
    checkpoint_every: int = 50

    def validate(self) -> "SynthesisConfig":
        """Raise ``ValueError`` naming the first impossible setting."""
        checks = soul_checks(self) + [
            (self.init in ("adsn", "noise"), "init must be 'adsn' or 'noise'"),
            (self.checkpoint_every >= 1, "checkpoint-every must be >= 1"),
            (self.size is None or min(self.size) >= 16, "size must be at least 16x16"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        make_projection(self.projection)
        self.spec()
        return self

    def spec(self) -> feats.FeatureSpec:
        """The feature specification (preset or layers, with overrides)."""
        return feats.get_spec(self.preset, layers=self.layers, activation=self.activation,
                              pooling=self.pooling, padding=self.padding,
                              colour=self.colour or None, remat=self.remat or None,
                              precision=self.precision, conv=self.conv)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "SynthesisConfig":
        data = dict(data)
        for key in ("layers", "size"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        return cls(**data)


class SynthesisResult(NamedTuple):
    """Last iterates ``(C, H, W, ch)``, their running average (or None), the trace, the state."""

    samples: np.ndarray
    average: Optional[np.ndarray]
    trace: dict[str, np.ndarray]
    state: SOULState


class DivergenceError(RuntimeError):
    """The chains or theta became NaN or infinite."""


def _optimizer(config: SynthesisConfig) -> optax.GradientTransformation:
    return theta_optimizer(config.delta, kind=config.optimizer, optimism=config.optimism,
                           decay=config.decay)


def _gamma_schedule(config: SynthesisConfig) -> Callable:
    return inverse_power(config.gamma, 0.2) if config.decay else constant(config.gamma)


def initial_positions(key: Array, exemplar: Array, config: SynthesisConfig) -> Array:
    """``(C, H, W, ch)`` starting images: ADSN samples of the exemplar, or matched white noise."""
    size = tuple(config.size) if config.size else exemplar.shape[:2]
    if config.init == "adsn":  # stationary: a crop of a larger sample has the same law
        big = tuple(max(a, b) for a, b in zip(size, exemplar.shape[:2]))
        return adsn(key, exemplar, size=big, num=config.chains)[:, : size[0], : size[1]]
    mean = exemplar.mean(axis=(0, 1))
    std = exemplar.std(axis=(0, 1))
    noise = jax.random.normal(key, (config.chains, *size, exemplar.shape[-1]))
    return mean + std * noise


def _average_from(config: SynthesisConfig) -> int:
    if config.average_from < 0:
        return max(0, config.iterations + config.average_from)
    return config.average_from if config.average_from > 0 else 2**30


@functools.lru_cache(maxsize=8)
def _make_runner(config: SynthesisConfig, spec: feats.FeatureSpec) -> Callable:
    """jitted ``(variables, exemplar, target, key, state, length, m) -> (state, info)``.

    ``target`` = F(x0), computed once per run. Cached, so repeated runs with the same settings
    reuse the compiled program.
    """
    sizes = _block_sizes(spec)
    opt, projection = _optimizer(config), make_projection(config.projection)

    def run(variables, exemplar, target, key, state, length, num_inner):
        feature_fn = feats.make_feature_fn(spec, variables)
        centre = reference_centre(exemplar, config.centre)
        energy = macrocanonical_energy(feature_fn, target, beta=config.beta,
                                       eps=config.eps, centre=centre,
                                       extensive=config.extensive)
        return soul_run(key, state, energy, length, optimizer=opt,
                        step_size=_gamma_schedule(config), num_inner=num_inner,
                        projection=projection, average_from=_average_from(config),
                        block_sizes=sizes)

    return jax.jit(run, static_argnums=(5, 6))


def _block_sizes(spec: feats.FeatureSpec) -> tuple[int, ...]:
    return tuple(sl.stop - sl.start for sl in feats.layer_slices(spec).values())


def _chunks(config: SynthesisConfig) -> list[tuple[int, int, int]]:
    """``(start, length, m)`` of every chunk: stage boundaries and multiples of K cut them."""
    c = 0.5 if config.decay else 0.0
    out, start = [], 0
    for length, m in stages(config.iterations, config.inner_steps, c):
        end = start + length
        while start < end:
            stop = min(end, (start // config.checkpoint_every + 1) * config.checkpoint_every)
            out.append((start, stop - start, m))
            start = stop
    return out


def _first_bad(info: SOULInfo) -> Optional[int]:
    ok = np.isfinite(np.asarray(info.energy)) & np.isfinite(np.asarray(info.theta_norm))
    return None if ok.all() else int(np.argmin(ok))


def default_devices(chains: int) -> int:
    """All visible devices, or the largest count that divides ``chains``."""
    n = jax.device_count()
    return max(d for d in range(1, n + 1) if chains % d == 0)


def synthesize(exemplar: Array, variables: Mapping[str, Any], config: SynthesisConfig, *,
               out_dir: Optional[Path] = None, resume: bool = False,
               progress: bool = True, checkpoint: bool = False,
               devices: Optional[int] = None) -> SynthesisResult:
    """Run SOUL for ``config.iterations`` outer steps; see the module docstring.

    ``out_dir`` with ``checkpoint=True`` writes ``checkpoint.npz`` every
    ``config.checkpoint_every`` steps; ``resume=True`` continues from it. The chains are
    split over ``devices`` devices (default: ``default_devices(config.chains)``).
    """
    config.validate()
    spec = config.spec()
    mesh = chain_mesh(devices if devices is not None else default_devices(config.chains))
    check_chains(config.chains, mesh)
    exemplar = jnp.asarray(exemplar, jnp.float32)
    size = tuple(config.size) if config.size else exemplar.shape[:2]
    variables = replicate(feats.with_conv_kernels(spec, variables, size), mesh)
    exemplar = replicate(exemplar, mesh)
    key = jax.random.key(config.seed)
    init_key, run_key = jax.random.split(key)
    state = soul_init(initial_positions(init_key, exemplar, config),
                      jnp.zeros(feats.feature_dim(spec)), _optimizer(config))
    trace: list[SOULInfo] = []
    ckpt = Path(out_dir) / CHECKPOINT if out_dir is not None else None
    if resume:
        if ckpt is None or not ckpt.exists():
            raise FileNotFoundError(f"--resume: no checkpoint at {ckpt}")
        state, trace = load_checkpoint(ckpt, state, config)
    state = shard_state(state, mesh)
    runner = _make_runner(config, spec)
    target = jax.jit(feats.features, static_argnums=0)(spec, variables, exemplar)
    target_norms = np.asarray(block_norms(target, _block_sizes(spec)))
    bar = _progress(config.iterations, int(state.step), progress)
    for start, length, m in _chunks(config):
        if start < int(state.step):
            continue
        new_state, info = runner(variables, exemplar, target, run_key, state, length, m)
        info = jax.tree_util.tree_map(to_host, info)
        bad = _first_bad(info)
        if bad is not None or not bool(jnp.all(jnp.isfinite(new_state.positions))):
            _diverged(ckpt, state, trace, config, start + (bad or 0))
        state = new_state
        trace.append(info)
        _update_bar(bar, length, info, target_norms)
        if checkpoint and ckpt is not None:
            save_checkpoint(ckpt, state, trace, config)
    if bar is not None:
        bar.close()
    return _result(state, trace, config, target_norms, spec)


def _progress(total: int, done: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, initial=done, desc="SOUL", unit="it")


def _update_bar(bar, length: int, info: SOULInfo, target_norms: np.ndarray) -> None:
    if bar is None:
        return
    gap = np.linalg.norm(np.asarray(info.gap_norms[-1])) / np.linalg.norm(target_norms)
    bar.set_postfix(rel_gap=f"{gap:.3f}", theta=f"{float(info.theta_norm[-1]):.3g}")
    bar.update(length)


def _diverged(ckpt, state, trace, config, iteration: int) -> None:
    where = ""
    if ckpt is not None:
        save_checkpoint(ckpt, state, trace, config)
        where = f"; the last good state (iteration {int(state.step)}) is saved in {ckpt}"
    raise DivergenceError(
        f"the chains diverged (NaN or infinite values) at iteration {iteration}; "
        f"try a smaller gamma (now {config.gamma:g}){where}")


def _stack(trace: list[SOULInfo]) -> dict[str, np.ndarray]:
    if not trace:
        return {}
    return {k: np.concatenate([getattr(t, k) for t in trace]) for k in SOULInfo._fields}


def _result(state, trace, config, target_norms, spec) -> SynthesisResult:
    stacked = _stack(trace)
    if stacked:
        stacked["relative_gap"] = (np.linalg.norm(stacked["gap_norms"], axis=1)
                                   / np.linalg.norm(target_norms))
        stacked["relative_gap_per_layer"] = stacked["gap_norms"] / target_norms
        stacked["iteration"] = np.arange(1, len(stacked["energy"]) + 1)
    stacked["target_norms"] = target_norms
    stacked["layers"] = np.array(list(feats.layer_slices(spec)))
    average = to_host(state.average) if int(state.num_averaged) > 0 else None
    return SynthesisResult(to_host(state.positions), average, stacked, state)


def to_host(x: Array) -> np.ndarray:
    """A (possibly sharded, possibly multi-host) array as one numpy array on this host."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        from jax.experimental import multihost_utils
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


def save_checkpoint(path: Path, state: SOULState, trace: list[SOULInfo],
                    config: SynthesisConfig) -> None:
    """Atomically write the state, the trace so far and the config to ``path`` (process 0)."""
    leaves = [to_host(x) for x in jax.tree_util.tree_leaves(state)]
    if jax.process_index() != 0:
        return
    arrays = {f"state_{i}": x for i, x in enumerate(leaves)}
    arrays.update({f"trace_{k}": v for k, v in _stack(trace).items()})
    arrays["config"] = np.array(json.dumps(config.to_json(), sort_keys=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    with os.fdopen(fd, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def load_checkpoint(path: Path, template: SOULState,
                    config: SynthesisConfig) -> tuple[SOULState, list[SOULInfo]]:
    """Read a checkpoint written for ``config`` (its settings must match, iterations aside)."""
    try:
        data = np.load(path, allow_pickle=False)
        saved = SynthesisConfig.from_json(json.loads(str(data["config"])))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"cannot read checkpoint {path}: {err}") from None
    ours = dataclasses.replace(config, iterations=saved.iterations)
    if saved != ours:
        diff = {k: (v, getattr(ours, k)) for k, v in saved.to_json().items()
                if getattr(ours, k) != getattr(saved, k) and k != "iterations"}
        raise ValueError(f"checkpoint {path} was written with other settings "
                         f"(saved, now): {diff}")
    leaves, treedef = jax.tree_util.tree_flatten(template)
    new = [jnp.asarray(data[f"state_{i}"], dtype=x.dtype) for i, x in enumerate(leaves)]
    if any(a.shape != b.shape for a, b in zip(new, leaves)):
        raise ValueError(f"checkpoint {path} does not match this run's shapes")
    trace_keys = [k for k in SOULInfo._fields if f"trace_{k}" in data]
    trace = ([SOULInfo(*[data[f"trace_{k}"] for k in SOULInfo._fields])]
             if len(trace_keys) == len(SOULInfo._fields) else [])
    return jax.tree_util.tree_unflatten(treedef, new), trace
