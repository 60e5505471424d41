"""Draw samples of a learned model Pi_theta at fixed theta, at any size, without relearning.

The energy of a :class:`~maxent_jax.model.MaxEntModel` is extensive (one theta for every
image size), so the model learned on a 64 px exemplar can be sampled at 128 px or larger:
the backbone is prepared for the requested size, the chains start from ADSN samples of the
stored exemplar (:mod:`maxent_jax.tasks.starts`) and run ULA or MALA
(:mod:`maxent_jax.sampling.fixed`) through the one driver (:func:`maxent_jax.run.driver.drive`:
chunks compiled once, divergence, progress), preconditioned or not
(``precondition="spectrum"``: :mod:`maxent_jax.sampling.preconditioned`, the power spectrum
of the exemplar's ADSN model at the sample size; the same model, see docs/mixing.md).

Diagnostics: the relative gap ``||mean F(X) - F(x0)|| / ||F(x0)||`` of the average of F over
the chains and the last half of the steps (a fixed-theta check of the moment constraint,
with no theta moving to hide a bad model), per layer too, MALA's mean acceptance rate and
Stein's ratio over the same steps (1 when the chains are at equilibrium,
:mod:`maxent_jax.sampling.stein`), and the warnings of
:func:`maxent_jax.run.diagnostics.fixed_theta_warnings` (gap above 10%, Stein's ratio off 1).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from maxent_jax.model import MaxEntModel
from maxent_jax.nn.backbone import Backbone, check_image_size
from maxent_jax.run.checkpoint import stack_infos, to_host
from maxent_jax.run.diagnostics import fixed_theta_warnings, running_gap
from maxent_jax.run.driver import drive
from maxent_jax.run.parallel import AXIS, chain_mesh, check_chains, replicate
from maxent_jax.run.settings import chunk_plan
from maxent_jax.sampling.energy import macrocanonical_energy
from maxent_jax.sampling.fixed import ChainsInfo, ChainsState, langevin_chains
from maxent_jax.sampling.preconditioned import PRECONDITIONERS, make_preconditioner
from maxent_jax.sampling.scan import scan_steps
from maxent_jax.sampling.soul import block_norms
from maxent_jax.tasks.starts import adsn_starts

__all__ = ["SampleResult", "sample_model", "sample_diagnostics"]

Array = jax.Array
CADENCE = 50


class SampleResult(NamedTuple):
    """Samples ``(N, H, W, C)`` (last iterates, unclipped), per-step trace, diagnostics.

    The trace (``trace.npz`` of ``maxent-jax sample``), one entry per step k, at the
    positions the step starts from: ``energy`` (chains' mean of U), ``gap`` (chains' mean of
    F - F(x0)), ``relative_gap`` (its norm over ||F(x0)||), ``running_relative_gap``
    (:func:`running_relative_gap`), ``stein_ratio``, ``acceptance`` (MALA; 1 for ULA) and
    ``iteration`` (k, from 1)."""

    samples: np.ndarray
    trace: dict[str, np.ndarray]
    diagnostics: dict[str, Any]


class _Statics(NamedTuple):
    sampler: str
    mala_energy: str
    gamma: float
    cadence: int
    beta: float
    extensive: bool
    eps: float


def _kernel(backbone: Backbone, arrays: tuple, s: _Statics):
    """``arrays``: theta, F(x0), the centre c and the preconditioner (None: plain Langevin),
    all arguments of the compiled programs."""
    theta, target, centre, precond = arrays
    energy = macrocanonical_energy(backbone.features, target, beta=s.beta, eps=s.eps,
                                   centre=centre, extensive=s.extensive)
    return langevin_chains(lambda x: energy(theta, x), s.gamma, s.sampler, precond,
                           s.mala_energy)


@functools.lru_cache(maxsize=8)
def _programs(statics: _Statics) -> tuple[Callable, Callable]:
    """jitted ``init(backbone, arrays, positions)`` and ``run(backbone, arrays, key, state,
    stop)`` (``cadence`` steps, stopping early at ``stop``)."""
    def init(backbone, arrays, positions):
        return _kernel(backbone, arrays, statics).init(positions)

    def run(backbone, arrays, key, state, stop):
        kernel = _kernel(backbone, arrays, statics)
        return scan_steps(kernel.step, key, state, statics.cadence, stop)

    return jax.jit(init), jax.jit(run)


def sample_diagnostics(gaps: np.ndarray, acceptance: np.ndarray, target: np.ndarray,
                       block_sizes: Sequence[int], layers: Sequence[str],
                       sampler: str, stein: Optional[np.ndarray] = None) -> dict[str, Any]:
    """Relative gap of the mean of F over the last half of the steps (total and per layer),
    MALA's acceptance rate and (given the per-step ``stein`` ratios) Stein's ratio over the
    same steps: 1 when the chains are distributed as Pi_theta
    (:mod:`maxent_jax.sampling.stein`); ``warnings``: the failed checks of
    :func:`maxent_jax.run.diagnostics.fixed_theta_warnings`."""
    half = gaps[len(gaps) // 2:]
    mean_gap = half.mean(axis=0)
    norms = np.asarray(block_norms(jnp.asarray(target), block_sizes))
    per_layer = np.asarray(block_norms(jnp.asarray(mean_gap), block_sizes)) / norms
    out: dict[str, Any] = {
        "relative_gap": float(np.linalg.norm(mean_gap) / np.linalg.norm(target)),
        "relative_gap_per_layer": {n: float(v) for n, v in zip(layers, per_layer)},
        "steps_averaged": int(len(half)),
        "sampler": sampler,
    }
    if sampler == "mala":
        out["mala_acceptance_rate"] = float(np.mean(acceptance[len(acceptance) // 2:]))
    if stein is not None:
        out["stein_ratio"] = float(np.mean(stein[len(stein) // 2:]))
    out["warnings"] = fixed_theta_warnings(out["relative_gap"], out.get("stein_ratio"),
                                           len(gaps))
    return out


def _shard(state: ChainsState, mesh) -> ChainsState:
    from jax.sharding import NamedSharding, PartitionSpec

    chains = NamedSharding(mesh, PartitionSpec(AXIS))
    return ChainsState(jax.device_put(state.kernel, chains), replicate(state.step, mesh))


def sample_model(model: MaxEntModel, backbone: Backbone, *, size: Optional[Sequence[int]] = None,
                 num: int = 4, steps: int = 200, sampler: str = "ula",
                 gamma: Optional[float] = None, seed: int = 0, devices: Optional[int] = None,
                 progress: bool = False, precondition: Optional[str] = None,
                 starts: Optional[np.ndarray] = None,
                 mala_energy: str = "float64") -> SampleResult:
    """``num`` samples of ``model`` at ``size`` (default: the exemplar's) after ``steps``
    Langevin steps of size ``gamma`` (default: the learning run's) from ADSN starts, or from
    ``starts`` ``(num, H, W, C)`` (e.g. a learning run's last chains, ``samples.npy``).
    ``precondition``: ``"none"`` or ``"spectrum"`` (default: the learning run's, ``"none"``
    for models that do not record it). ``mala_energy``: the arithmetic of MALA's ratio,
    ``"float64"`` (exact) or ``"float32"`` (:mod:`maxent_jax.sampling.langevin`).

    ``backbone`` must compute the model's features (any size: it is resized here) with the
    weights the model was learned with (checked by digest).
    """
    from maxent_jax.model import check_weights

    if backbone.spec._replace(precision="float32", conv="auto", remat=False) != \
            model.spec._replace(precision="float32", conv="auto", remat=False):
        raise ValueError(f"the backbone computes {backbone.spec}, the model {model.spec}")
    check_weights(model, backbone.weights_sha256)
    size = tuple(int(s) for s in (size if size is not None else model.exemplar.shape[:2]))
    check_image_size(size, backbone.spec, "the sample size")
    if not (isinstance(num, int) and num >= 1 and isinstance(steps, int) and steps >= 1):
        raise ValueError("num and steps must be integers >= 1")
    gamma = float(model.settings.get("gamma", 1e-7) if gamma is None else gamma)
    if not (np.isfinite(gamma) and gamma > 0):
        raise ValueError(f"gamma must be a finite number > 0, got {gamma}")
    if precondition is None:
        precondition = str(model.settings.get("precondition", "none"))
    if precondition not in PRECONDITIONERS:
        raise ValueError(f"precondition must be one of {PRECONDITIONERS}, got {precondition!r}")
    backbone = backbone.resized(size)
    mesh = chain_mesh(devices if devices is not None else 1)
    check_chains(num, mesh)
    init_key, run_key = jax.random.split(jax.random.key(seed))
    if starts is None:
        positions = adsn_starts(init_key, jnp.asarray(model.exemplar), size, num)
    else:
        positions = jnp.asarray(starts, jnp.float32)
        expected = (num,) + size + (model.exemplar.shape[-1],)
        if positions.shape != expected or not bool(jnp.isfinite(positions).all()):
            raise ValueError(f"starts must be finite, of shape {expected}; got "
                             f"{tuple(positions.shape)}")
    arrays = tuple(jnp.asarray(a) for a in (model.theta, model.target, model.centre))
    arrays += (make_preconditioner(precondition, jnp.asarray(model.exemplar), size),)
    backbone, arrays = replicate(backbone, mesh), replicate(arrays, mesh)
    cadence = min(CADENCE, steps)
    init, run = _programs(_Statics(sampler, mala_energy, gamma, cadence, float(model.beta),
                                   bool(model.extensive), float(model.eps)))
    state = _shard(init(backbone, arrays, positions), mesh)
    result = drive(lambda s, stop, m: run(backbone, arrays, run_key, s, stop), state,
                   chunk_plan(steps, cadence, 1), ChainsInfo, progress=progress, desc="sample")
    trace = stack_infos(result.infos)
    trace["iteration"] = np.arange(1, steps + 1)
    trace["relative_gap"] = (np.linalg.norm(trace["gap"], axis=1)
                             / np.linalg.norm(model.target)).astype(np.float32)
    trace["running_relative_gap"] = running_gap(trace["gap"], np.linalg.norm(model.target))
    diagnostics = sample_diagnostics(trace["gap"], trace["acceptance"], model.target,
                                     backbone.block_sizes(), backbone.block_names(), sampler,
                                     trace["stein_ratio"])
    diagnostics.update(num=num, steps=steps, gamma=gamma, size=list(size), seed=seed,
                       precondition=precondition)
    if sampler == "mala":
        diagnostics["mala_energy"] = mala_energy
    return SampleResult(to_host(result.state.positions), trace, diagnostics)
