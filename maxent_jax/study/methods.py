"""The comparison study's methods, all on one VGG-19, and the loop that runs them.

* ADSN (Galerne, Gousseau & Morel 2011), the Gaussian maximum-entropy model;
* Gatys, Ecker & Bethge (NeurIPS 2015): Gram matrices + box-bounded L-BFGS;
* Lu, Zhu & Wu (AAAI 2016): FRAME with CNN filters, Langevin + stochastic gradient;
* microcanonical gradient descent (Bruna & Mallat 2018) on the ``full`` features;
* the macrocanonical CNN model (De Bortoli et al., SIMODS 2021) with the ``full``, ``deep``
  and ``shallow`` presets: :func:`maxent_jax.tasks.texture.synthesize` with the library's
  defaults.

Each runner is ``(key, exemplar, variables, study, info=None)``: the samples ``(S, H, W, C)``,
or for a learned method ``{"run": ..., "frozen": ...}`` (:mod:`maxent_jax.study.settings`),
with what ties both to the one learning run written into ``info``.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any, Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from maxent_jax.baselines.gatys import GatysConfig, gatys_synthesize
from maxent_jax.baselines.lu_zhu_wu import LuZhuWuConfig, lzw_learn
from maxent_jax.baselines.microcanonical import MicrocanonicalConfig, microcanonical_synthesize
from maxent_jax.gaussian import adsn
from maxent_jax.study.settings import METHODS, Study, learning_iterations, rows_of

__all__ = ["RUNNERS", "run_adsn", "run_gatys", "run_lu_zhu_wu", "run_macro",
           "run_microcanonical", "run_study"]

_gatys = jax.jit(gatys_synthesize, static_argnames=("config", "size", "num"))
_micro = jax.jit(microcanonical_synthesize, static_argnames=("config", "size", "num"))
_adsn = jax.jit(adsn, static_argnames=("num",))


def run_adsn(key, exemplar, variables, study: Study, info=None) -> np.ndarray:
    """``samples`` exact ADSN samples of the exemplar (the Gaussian maximum-entropy model)."""
    return np.asarray(_adsn(key, exemplar, num=study.samples))


def run_gatys(key, exemplar, variables, study: Study, info=None) -> np.ndarray:
    """``samples`` Gatys syntheses: Gram matrices matched by L-BFGS for ``gatys_iterations``."""
    config = GatysConfig(iterations=study.gatys_iterations)
    return np.asarray(_gatys(key, exemplar, variables, config, num=study.samples)[0].position)


def _two_protocols(info: Optional[dict], final_chains: Any, drawn: Any, model: Any, seed: int,
                   times: Sequence[float]) -> dict[str, np.ndarray]:
    """``{"run": the learning run's final chains, "frozen": the frozen-theta samples}``, and
    in ``info`` what ties both to the one learning run (seeds, theta_bar's digest, seconds)."""
    from maxent_jax.io import array_sha256

    if info is not None:
        info.update(learning_seed=seed, sampling_seed=seed + 1,
                    theta_bar_sha256=array_sha256(np.asarray(model.theta, np.float32)),
                    theta_bar_norm=float(np.linalg.norm(model.theta)),
                    seconds={"learning": times[1] - times[0], "sampling": times[2] - times[1]},
                    fixed_theta=drawn.diagnostics)
    return {"run": np.asarray(final_chains), "frozen": np.asarray(drawn.samples)}


def run_lu_zhu_wu(key, exemplar, variables, study: Study, info=None) -> dict[str, np.ndarray]:
    """Learn the FRAME model (``chains = samples``, chains from the white noise q), then as
    many new chains of the learnt model at frozen theta_bar (:func:`_two_protocols`)."""
    from maxent_jax.baselines.lu_zhu_wu import lzw_model, lzw_settings
    from maxent_jax.baselines.microcanonical import max_entropy_noise
    from maxent_jax.tasks.sample import sample_model

    times = [time.perf_counter()]
    config = LuZhuWuConfig(iterations=max(1, study.iterations // study.langevin_steps),
                           chains=study.samples, langevin_steps=study.langevin_steps)
    seed = int(jax.random.randint(key, (), 0, 2**31 - 1))
    backbone = _backbone(variables, lzw_settings(config, exemplar).spec(),
                         np.shape(exemplar)[:2])
    run = lzw_learn(exemplar, backbone, config, seed=seed)
    final = np.asarray(run.state.positions)
    times.append(time.perf_counter())
    model = lzw_model(exemplar, backbone, config, run, seed=seed)
    starts = max_entropy_noise(jax.random.split(jax.random.key(seed + 1))[0], exemplar,
                               num=study.samples)
    drawn = sample_model(model, backbone, num=study.samples, steps=study.sample_steps,
                         seed=seed + 1, starts=np.asarray(starts))
    times.append(time.perf_counter())
    return _two_protocols(info, final, drawn, model, seed, times)


def run_microcanonical(key, exemplar, variables, study: Study, info=None) -> np.ndarray:
    """``samples`` microcanonical descents on the ``full`` features, ``iterations`` steps each."""
    config = MicrocanonicalConfig(preset="full", iterations=study.iterations)
    return np.asarray(_micro(key, exemplar, variables, config, num=study.samples)[0].position)


_BACKBONES: dict[tuple, Any] = {}


def _backbone(variables, spec, size):
    """The prepared backbone of ``spec`` at ``size`` (cached: learning and sampling share it,
    and the compiled programs are reused from one exemplar to the next)."""
    from maxent_jax.nn.backbone import prepare_backbone, weights_digest

    key = (id(variables), spec, tuple(size))
    if key not in _BACKBONES:
        digest = next((b.weights_sha256 for k, b in _BACKBONES.items()
                       if k[0] == id(variables)), None) or weights_digest(variables)
        _BACKBONES[key] = prepare_backbone(spec, variables, size, digest)
    return _BACKBONES[key]


def run_macro(preset: str, key, exemplar, variables, study: Study,
              info=None) -> dict[str, np.ndarray]:
    """Learn theta (library defaults, ``chains = samples``), then ``samples`` new chains of the
    learned model at its averaged theta_bar after ``sample_steps`` steps from ADSN starts
    (:func:`_two_protocols`)."""
    from maxent_jax.tasks.sample import sample_model
    from maxent_jax.tasks.texture import SynthesisConfig, synthesize

    times = [time.perf_counter()]
    seed = int(jax.random.randint(key, (), 0, 2**31 - 2))
    iterations = learning_iterations(study)
    config = SynthesisConfig(preset=preset, iterations=iterations, chains=study.samples,
                             seed=seed, checkpoint_every=iterations)
    if study.macro_delta is not None:
        config = dataclasses.replace(config, delta=study.macro_delta)
    backbone = _backbone(variables, config.spec(), np.shape(exemplar)[:2])
    result = synthesize(np.asarray(exemplar), backbone, config, progress=False)
    times.append(time.perf_counter())
    drawn = sample_model(result.model, backbone, num=study.samples, steps=study.sample_steps,
                         seed=seed + 1)
    times.append(time.perf_counter())
    if info is not None:
        trace = result.trace
        info.update(learning_relative_gap=float(np.mean(trace["relative_gap"][-50:])),
                    theta_norm=float(np.linalg.norm(result.model.theta)),
                    learning_iterations=iterations, delta=float(config.delta))
    return _two_protocols(info, result.samples, drawn, result.model, seed, times)


RUNNERS: dict[str, Callable] = {
    "adsn": run_adsn, "gatys": run_gatys, "lu_zhu_wu": run_lu_zhu_wu,
    "microcanonical": run_microcanonical,
    **{f"macro_{p}": functools.partial(run_macro, p) for p in ("full", "deep", "shallow")},
}


def run_study(exemplars: dict[str, np.ndarray], variables, study: Study,
              methods: Sequence[str], seed: int = 0, log: Callable = print,
              diagnostics: Optional[dict] = None) -> dict[str, Any]:
    """Every method on every exemplar: ``{exemplar: {row: (samples, seconds)}}``, the rows of
    :func:`rows_of` (a learned method's run-output row counts its learning time, its
    frozen-theta row learning and sampling); the runners' diagnostics go to
    ``diagnostics[exemplar][method]`` if given."""
    results: dict[str, Any] = {}
    for e, (name, x0) in enumerate(exemplars.items()):
        results[name] = {}
        for method in methods:
            key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), e),
                                     METHODS.index(method))
            info: dict[str, Any] = {}
            start = time.perf_counter()
            out = RUNNERS[method](key, jnp.asarray(x0), variables, study, info=info)
            seconds = time.perf_counter() - start
            if isinstance(out, dict):
                split = info["seconds"]
                for protocol, samples in out.items():
                    results[name][f"{method}_{protocol}"] = (
                        samples, split["learning"] + (split["sampling"]
                                                      if protocol == "frozen" else 0.0))
            else:
                results[name][method] = (out, seconds)
            if diagnostics is not None:
                diagnostics.setdefault(name, {})[method] = info
            for row in rows_of([method]):
                if not np.isfinite(results[name][row][0]).all():
                    log(f"warning: {name} {row}: non-finite samples (diverged)")
            log(f"{name:>16} {method:>15}: {seconds:7.1f} s")
    return results
