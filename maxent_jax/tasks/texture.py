"""Macrocanonical texture synthesis: learn theta by SOUL, sample Pi_theta, keep the model.

    Pi_theta(dx) ∝ exp(-U_theta(x)) dx,  U_theta(x) = beta |Omega| <theta, F(x) - F(x0)> + r(x)

(De Bortoli, Desolneux, Durmus, Galerne & Leclaire, SIMODS 2021, Algorithm 1). This is the
imperative shell around the pure kernels: it prepares the :class:`~maxent_jax.nn.backbone.Backbone`
for the output size, starts the chains from ADSN samples of the exemplar
(:mod:`maxent_jax.tasks.starts`), builds the energy of :mod:`maxent_jax.sampling.energy` and
the SOUL kernel of :mod:`maxent_jax.sampling.soul`, and hands a jitted chunk function to the
one driver (:func:`maxent_jax.run.driver.drive`: chunks, checkpoints, divergence, progress).
The result carries the learned :class:`~maxent_jax.model.MaxEntModel` (theta averaged over
the last half of the run), which :mod:`maxent_jax.tasks.sample` samples again at any size.
With ``precondition="spectrum"`` the Langevin moves are preconditioned by the power spectrum
of the exemplar's ADSN model at the output size (:mod:`maxent_jax.sampling.preconditioned`).
With ``restart_every=R`` (opt-in; the default 0 keeps the seed's persistent chains) each chain
is restarted from a new ``init`` draw every R steps, staggered over the chains and stopped R
steps before the end (:func:`maxent_jax.sampling.soul.soul`); since where the restarts stop
depends on ``iterations``, a run resumed with more iterations than it was started with
differs from one run for that many from the start.

Units: images, and so the chains, live in ``[0, 1]`` pixel units (see
:mod:`maxent_jax.run.settings`).
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp
import numpy as np

from maxent_jax.model import MaxEntModel, polyak_average
from maxent_jax.nn.backbone import Backbone, as_backbone, check_image_size, exemplar_features
from maxent_jax.run.checkpoint import to_host
from maxent_jax.run.driver import DivergenceError
from maxent_jax.run.settings import SOULConfig, setting
from maxent_jax.run.task import default_devices, run_identity, run_soul_task
from maxent_jax.sampling.energy import EnergyFn, macrocanonical_energy, reference_centre
from maxent_jax.sampling.preconditioned import make_preconditioner
from maxent_jax.sampling.soul import SOULState
from maxent_jax.gaussian.resample import fourier_resample, refine
from maxent_jax.sampling.soul import block_norms, soul_init
from maxent_jax.tasks.scales import (GROWTHS, MODES, THETA_STARTS, grow, plan_stages,
                                     scale_checks, split_chunks, stage_exemplar, stage_growth,
                                     stage_exemplar_size, stage_sizes)
from maxent_jax.tasks.starts import STARTS, starts

__all__ = [
    "SynthesisConfig",
    "SynthesisResult",
    "default_devices",
    "DivergenceError",
    "synthesize",
    "initial_positions",
    "texture_energy",
    "texture_restarts",
    "learned_model",
]

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class SynthesisConfig(SOULConfig):
    """Every setting of a synthesis run (written to ``config.json``; enough to rerun it).

    The shared settings: :class:`maxent_jax.run.settings.SOULConfig`. ``size``: output size
    (default: the exemplar's); ``init``: starting images (:mod:`maxent_jax.tasks.starts`).
    """

    size: Optional[tuple[int, int]] = setting(None, "task", "output size (default: the "
                                              "exemplar's)", cli=False)
    init: str = setting("adsn", "task", "starting images", choices=STARTS)
    restart_every: int = setting(0, "task", "restart each chain from a new --init draw "
                                 "every R outer steps, staggered over the chains, none in "
                                 "the last R steps, so none if R >= --iterations (0: "
                                 "persistent chains, the seed's algorithm); see "
                                 "docs/fidelity.md", metavar="R")
    scales: Optional[tuple[int, ...]] = setting(
        None, "task", "coarse-to-fine learning: comma-separated chain sides, increasing, the "
        "last the output's longer side (e.g. 64,128,256); theta carries over and the chains "
        "start again at the next size (--scale-growth; maxent_jax.tasks.scales; default: "
        "one scale)",
        metavar="S1,S2,...")
    scale_iterations: Optional[tuple[int, ...]] = setting(
        None, "task", "with --scales: outer steps per scale, summing to --iterations "
        "(default: equal shares)", metavar="N1,N2,...")
    scale_growth: str = setting("auto", "task", "with --scales: the chains of the next scale "
                                "are new --init draws at that size (adsn), the last ones "
                                "tiled periodically (tile; window mode), upsampled (upsample; "
                                "pyramid mode) or upsampled with the fine frequencies of a new "
                                "ADSN draw (detail; pyramid mode); auto: detail in pyramid "
                                "mode, adsn in window mode", choices=GROWTHS)
    scale_mode: str = setting("pyramid", "task", "with --scales: a coarse scale is a smaller "
                              "window at the exemplar's pixel scale (window) or the exemplar "
                              "and the chains at a lower resolution, F(x0) of the resampled "
                              "exemplar (pyramid); maxent_jax.tasks.scales", choices=MODES)
    scale_theta: str = setting("carry", "task", "with --scales: at a scale change theta and "
                               "its optimiser state carry over (carry) or start again from 0 "
                               "(reset)", choices=THETA_STARTS)

    def checks(self) -> list[tuple[bool, str]]:
        return super().checks() + [
            (self.init in STARTS, f"init must be one of {STARTS}"),
            (isinstance(self.restart_every, int) and self.restart_every >= 0,
             "restart-every must be >= 0"),
            (self.size is None or (len(self.size) == 2 and min(self.size) >= 1),
             "size must be two positive integers"),
            (self.scale_growth in GROWTHS, f"scale-growth must be one of {GROWTHS}"),
            (self.scale_mode in MODES, f"scale-mode must be one of {MODES}"),
            (self.scale_theta in THETA_STARTS, f"scale-theta must be one of {THETA_STARTS}"),
        ] + scale_checks(self, self.size)

    def validate(self) -> "SynthesisConfig":
        super().validate()
        if self.size is not None:
            check_image_size(self.size, self.spec(), "the output size")
            check_stage_sizes(self, self.size)
        return self


def check_stage_sizes(config: SynthesisConfig, size: tuple[int, int],
                      exemplar_shape: Optional[tuple[int, int]] = None) -> None:
    """Each stage of ``config.scales`` large enough for the network's deepest layer, and in
    pyramid mode the exemplar resampled for it (when ``exemplar_shape`` is given)."""
    errors = [m for ok, m in scale_checks(config, size) if not ok]
    if errors:
        raise ValueError(errors[0])
    if config.scales:
        for scale, stage in zip(config.scales, stage_sizes(size, config.scales)):
            check_image_size(stage, config.spec(), f"scale {scale}")
            if exemplar_shape is not None and config.scale_mode == "pyramid":
                check_image_size(stage_exemplar_size(exemplar_shape, stage, size),
                                 config.spec(), f"the exemplar resampled for scale {scale}")


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["inner_steps=10", "delta_scale=pixels"]`` -> ``{"inner_steps": 10, "delta_scale":
    "pixels"}``: each VALUE read as a Python literal, else kept as a string; each NAME must
    be a field of :class:`SynthesisConfig` (``ValueError`` naming the item otherwise). The
    study scripts' ``--set``."""
    fields = {f.name for f in dataclasses.fields(SynthesisConfig)}
    out: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or name not in fields:
            raise ValueError(f"--set {item!r}: expected NAME=VALUE with NAME a "
                             "SynthesisConfig field")
        try:
            out[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            out[name] = text
    return out


class SynthesisResult(NamedTuple):
    """Last iterates ``(C, H, W, ch)``, their running average (or None), the trace, the
    final SOUL state and the learned model."""

    samples: np.ndarray
    average: Optional[np.ndarray]
    trace: dict[str, np.ndarray]
    state: SOULState
    model: Optional[MaxEntModel] = None


def initial_positions(key: Array, exemplar: Array, config: SynthesisConfig) -> Array:
    """``(C, H, W, ch)`` starting images: ADSN samples of the exemplar, or matched white noise."""
    size = tuple(config.size) if config.size else exemplar.shape[:2]
    return starts(config.init, key, exemplar, size, config.chains)


def texture_restarts(config: "SynthesisConfig", exemplar: Array, target: Array
                     ) -> Callable[[Array], Array]:
    """key -> ``(C, H, W, ch)`` fresh starting images (:func:`initial_positions`): the new
    draws of chains restarted by ``config.restart_every``."""
    return lambda key: initial_positions(key, exemplar, config)


def texture_energy(config: SOULConfig, backbone: Backbone, exemplar: Array,
                   target: Array) -> EnergyFn:
    """U_theta of the module docstring for F = ``backbone.features`` and ``target`` = F(x0)."""
    return macrocanonical_energy(backbone.features, target, beta=config.beta, eps=config.eps,
                                 centre=reference_centre(exemplar, config.centre),
                                 extensive=config.extensive)


def synthesize(exemplar: Array, network: Union[Backbone, Mapping[str, Any]],
               config: SynthesisConfig, *, out_dir: Optional[Path] = None,
               resume: bool = False, progress: bool = True, checkpoint: bool = False,
               devices: Optional[int] = None,
               allow_step_change: bool = False) -> SynthesisResult:
    """Run SOUL for ``config.iterations`` outer steps; see the module docstring.

    ``network``: a :class:`Backbone` or Flax variables. ``out_dir`` with ``checkpoint=True``
    writes ``checkpoint.npz`` every ``config.checkpoint_every`` steps; ``resume=True``
    continues from it. The chains are split over ``devices`` devices (default:
    :func:`maxent_jax.run.task.default_devices`).
    """
    config.validate()
    exemplar = jnp.asarray(exemplar, jnp.float32)
    size = tuple(config.size) if config.size else tuple(exemplar.shape[:2])
    check_image_size(size, config.spec(), "the output")
    check_stage_sizes(config, size, exemplar.shape[:2])
    stages = plan_stages(size, config.iterations, config.scales, config.scale_iterations)
    host_exemplar = np.asarray(exemplar)
    init_key, run_key = jax.random.split(jax.random.key(config.seed))
    final = as_backbone(network, config.spec(), stages[-1].size)
    target = exemplar_features(final, exemplar)
    identity = run_identity(config, final, exemplar=host_exemplar)
    first = resume_stage(out_dir, stages) if resume else 0
    pyramid = len(stages) > 1 and config.scale_mode == "pyramid"
    state, infos, trace, norms = None, [], {}, {}
    for k, (stage, chunks) in enumerate(zip(stages, split_chunks(config.chunks(), stages))):
        if k < first and not pyramid:
            continue
        backbone = (final if stage.size == stages[-1].size
                    else as_backbone(network, config.spec(), stage.size))
        level = stage_exemplar(exemplar, stage.size, size) if pyramid else exemplar
        level_target = target if level is exemplar else exemplar_features(backbone, level)
        if k < first:  # a stage before the resumed one: only its F(x0) norms, for the trace
            norms[k] = np.asarray(block_norms(level_target, backbone.block_sizes()))
            continue
        stage_config = dataclasses.replace(config, size=stage.size)
        if k == 0:
            positions = initial_positions(init_key, level, stage_config)
        else:  # the shape of a resumed stage's state (the checkpoint fills it) or unused
            positions = jnp.zeros((config.chains, *stage.size, exemplar.shape[-1]), jnp.float32)
        run = run_soul_task(
            config, backbone, texture_energy, (level, level_target), positions, level_target,
            run_key, identity=stage_identity(identity, stages, k), out_dir=out_dir,
            resume=resume and k == first, checkpoint=checkpoint, progress=progress,
            devices=devices, allow_step_change=allow_step_change,
            precond=make_preconditioner(config.precondition, level, stage.size),
            restart=texture_restarts, chunks=chunks, infos=infos,
            initial=None if state is None else grown_state(
                state, stage.size, stage_growth(config.scale_mode, config.scale_growth),
                lambda: initial_positions(jax.random.fold_in(init_key, k), level, stage_config),
                theta=config.scale_theta,
                optimizer=config.theta_optimizer(stage.size[0] * stage.size[1])),
            desc="SOUL" if len(stages) == 1 else f"SOUL {stage.size[0]}x{stage.size[1]}")
        state, infos, trace = run.state, run.infos, run.trace
        norms[k] = trace["target_norms"]
    if len(stages) > 1:
        trace["stage"] = np.repeat(np.arange(len(stages)),
                                   [s.stop - s.start for s in stages])[: len(trace["energy"])]
        trace["stage_sizes"] = np.array([s.size for s in stages])
        if pyramid:
            stage_relative_gaps(trace, norms)
    average = to_host(state.average) if int(state.num_averaged) > 0 else None
    model = learned_model(config, final, host_exemplar, np.asarray(target), trace,
                          start=stages[-1].start if pyramid else 0)
    return SynthesisResult(to_host(state.positions), average, trace, state, model)


def stage_identity(identity: dict[str, Any], stages: list, k: int) -> dict[str, Any]:
    """A checkpoint's identity: the run's, and for a coarse-to-fine run the stages and the
    stage it was written in (one stage: the plain run's, unchanged)."""
    if len(stages) == 1:
        return identity
    return {**identity, "stage": k, "stages": [[list(s.size), s.start, s.stop] for s in stages]}


def resume_stage(out_dir: Optional[Path], stages: list) -> int:
    """The stage a checkpoint in ``out_dir`` was written in (0 if it cannot be told: the
    first stage's resume then names the problem)."""
    from maxent_jax.run.checkpoint import checkpoint_path, saved_identity

    if len(stages) == 1 or out_dir is None:
        return 0
    saved = saved_identity(checkpoint_path(out_dir)) or {}
    stage = saved.get("stage", 0)
    return stage if isinstance(stage, int) and 0 <= stage < len(stages) else 0


def grown_state(state: SOULState, size: tuple[int, int], growth: str,
                new_starts: Callable[[], Array], *, theta: str = "carry",
                optimizer: Any = None) -> SOULState:
    """The state of the next stage: the step carried over; theta and the optimiser state
    carried over (``theta="carry"``) or started again from 0 with ``optimizer`` (``"reset"``);
    the chains ``new_starts()`` (growth ``adsn``: new draws of ``init`` at ``size``, key
    ``fold_in(init_key, k)`` for stage k), the last ones tiled to ``size`` (``tile``,
    :func:`grow`), upsampled (``upsample``, :func:`maxent_jax.gaussian.fourier_resample`) or
    upsampled with the high band of ``new_starts()`` (``detail``,
    :func:`maxent_jax.gaussian.refine`); the averages (empty before the last stage) reset
    to the new size."""
    last = to_host(state.positions)
    if growth == "adsn":
        positions = new_starts()
    elif growth == "tile":
        positions = grow(last, size)
    elif growth == "upsample":
        positions = fourier_resample(jnp.asarray(last), size)
    else:
        positions = refine(jnp.asarray(last), new_starts())
    if theta == "reset":
        zero = soul_init(positions, jnp.zeros_like(state.theta), optimizer)
        state = state._replace(theta=zero.theta, opt_state=zero.opt_state)
    return state._replace(positions=positions, average=jnp.zeros_like(positions),
                          num_averaged=jnp.zeros_like(state.num_averaged))


def stage_relative_gaps(trace: dict[str, np.ndarray], norms: Mapping[int, np.ndarray]) -> None:
    """A pyramid run's relative gaps, each stage's steps against the norms of its own F(x0)
    (``norms[k]``; stages resumed past keep the last stage's norms): in place."""
    stage = trace["stage"]
    per_layer = np.array(trace["gap_norms"], dtype=np.float64)
    scale = np.tile(np.asarray(trace["target_norms"], np.float64), (len(stage), 1))
    for k, value in norms.items():
        scale[stage == k] = value
    trace["relative_gap_per_layer"] = (per_layer / scale).astype(
        trace["relative_gap_per_layer"].dtype)
    trace["relative_gap"] = (np.linalg.norm(per_layer, axis=1)
                             / np.linalg.norm(scale, axis=1)).astype(trace["relative_gap"].dtype)


def learned_model(config: SOULConfig, backbone: Backbone, exemplar: np.ndarray,
                  target: np.ndarray, trace: Mapping[str, np.ndarray],
                  start: int = 0) -> MaxEntModel:
    """The :class:`MaxEntModel` of a finished run: theta averaged over the last half of the
    steps from ``start`` (a pyramid run's last stage; 0: the whole run)."""
    thetas = trace["theta"][start:]
    centre = np.asarray(reference_centre(jnp.asarray(exemplar), config.centre))
    return MaxEntModel(backbone.spec, backbone.weights_sha256, polyak_average(thetas),
                       np.asarray(thetas[-1]), target, config.beta, config.extensive,
                       config.eps, centre, exemplar, config.to_json())
