"""Comparison study: ADSN, Gatys, Lu-Zhu-Wu, microcanonical and the macrocanonical model.

For every exemplar (bundled names or image paths; default: the tuning and the held-out bundled
exemplars, ``--set``) this runs

* ADSN (Galerne, Gousseau & Morel 2011), the Gaussian maximum-entropy model;
* Gatys, Ecker & Bethge (NeurIPS 2015): Gram matrices + box-bounded L-BFGS;
* Lu, Zhu & Wu (AAAI 2016): FRAME with CNN filters, Langevin + stochastic gradient;
* microcanonical gradient descent (Bruna & Mallat 2018) on the ``full`` features;
* the macrocanonical CNN model (De Bortoli et al., SIMODS 2021) with the ``full``, ``deep``
  and ``shallow`` feature presets: :func:`maxent_jax.tasks.texture.synthesize` with the
  library's defaults,

all on the same VGG-19, and writes to ``--out-dir``:

* ``grid.png``: one row per exemplar: exemplar | one sample of each row of the tables;
* ``metrics.md``: per exemplar set (tuning, held-out), the mean over its exemplars and one
  table per exemplar; each cell "value [95% interval] (floor: crops / ADSN)"; a computed
  sentence naming the leader on each metric; the total run time;
* ``metrics.json``: every value, per sample too, the floors, intervals, held-out layers,
  run times, the macrocanonical fixed-theta diagnostics and every setting;
* with ``--save-samples``, every sample as ``samples/EXEMPLAR/METHOD_i.png``.

Two protocols for the methods that learn parameters while they sample (Lu-Zhu-Wu and the
three macrocanonical presets, :data:`LEARNED`), each its own row (:func:`rows_of`), both from
the same learning run (same seed, same learned theta):

* **run output** (``METHOD_run``): the learning run's chains after its last iteration, what
  the seed (De Bortoli et al., SIMODS 2021, figures "after 10000 iterations") and Lu, Zhu & Wu
  show. The chains may match the features because theta keeps moving while they run.
* **frozen theta** (``METHOD_frozen``): as many new chains from new starts (ADSN for the
  macrocanonical model, the white noise q for Lu-Zhu-Wu: each learning run's own kind of
  start, drawn from ``seed + 1``) after ``sample_steps`` Langevin steps of the learned model at
  its averaged theta_bar (:func:`maxent_jax.tasks.sample.sample_model`, what
  ``maxent-jax sample`` draws; for Lu-Zhu-Wu :func:`maxent_jax.baselines.lu_zhu_wu.lzw_model`):
  a test of the model, not of the run.

ADSN, Gatys and the microcanonical descent have one row each. Each leader sentence ranks the
single-row methods with one protocol's rows.

Metrics (definitions and references: ``docs/comparison/metrics_definitions.md``): metrics that
no method optimises (:mod:`maxent_jax.metrics`): multi-scale patch sliced-Wasserstein, Welch
spectrum distance against the exemplar's periodic component, diversity normalised by the
exemplar's contrast, copied-patch fraction (memorisation), layout correlation with the
exemplar (zero and best shift) and between chains, VGG statistics held out per method (channel
means and Gram matrices of the layers the method does not constrain,
``metrics.CONSTRAINED_STATISTICS``) and the Gram gap of four layers no method constrains.

Exemplars and floors: the exemplar each method gets is a crop of the bundled full-resolution
image at the study size (crop 0 of :func:`maxent_jax.metrics.real_crops`) whenever the image
holds two such crops; :func:`maxent_jax.metrics.floor` then scores the other crops (as many
as there are samples; a perfect method) and as many exact ADSN samples of the exemplar. An
image that is at most 1.25 times too small (``wood``, 120 px, at 64 px) is first resampled so
that it holds 2 x 2 crops; otherwise (the 256 px study) the exemplar is the whole image at the
study size and the floors come from crops of half the image's shorter side (another scale:
the table says so).

Settings (``--size``, ``--iterations``, ``--samples`` and ``--sample-steps`` override them):

* ``--tiny``: 16 px, 3 iterations, 2 samples, 3 fixed-theta steps, one exemplar per set
  (gravel, heldout_speckle): a smoke run for CI.
* default, CPU-sized: 64 px, 300 iterations (L-BFGS iterations for Gatys; gradient steps for
  the microcanonical descent; Langevin steps for Lu-Zhu-Wu, i.e. 300 / 5 learning iterations
  of 5 steps, and for the macrocanonical learning), 300 fixed-theta Langevin steps, 8 samples
  per method and exemplar, all six bundled exemplars:

      python scripts/compare.py --out-dir docs/comparison

* ``--gpu``: the 256 px study: 256 px, the seed's 10000 iterations for the macrocanonical
  learning, 2000 L-BFGS iterations for Gatys (DeepTextures' maxiter), 3000 Langevin / descent
  steps for Lu-Zhu-Wu and the microcanonical descent, 1000 fixed-theta steps, 8 samples:

      python scripts/compare.py --gpu --out-dir runs/compare256

Usage: ``python scripts/compare.py [--tiny | --gpu] [--set tuning|held-out|both] --out-dir DIR
[EXEMPLAR ...]``
"""

from __future__ import annotations

import argparse
import builtins
import dataclasses
import functools
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from maxent_jax.nn import features as feats
from maxent_jax import metrics
from maxent_jax.baselines.gatys import GatysConfig, gatys_spec, gatys_synthesize
from maxent_jax.baselines.lu_zhu_wu import LuZhuWuConfig, lzw_learn
from maxent_jax.baselines.microcanonical import MicrocanonicalConfig, microcanonical_synthesize
from maxent_jax.exemplars import exemplar_path, list_exemplars, resize_longer_side
from maxent_jax.gaussian import adsn
from maxent_jax.io import load_image, save_image

METHODS: tuple[str, ...] = ("adsn", "gatys", "lu_zhu_wu", "microcanonical",
                            "macro_full", "macro_deep", "macro_shallow")
LABELS: dict[str, str] = {
    "adsn": "ADSN", "gatys": "Gatys", "lu_zhu_wu": "Lu-Zhu-Wu",
    "microcanonical": "microcanonical", "macro_full": "macro. full",
    "macro_deep": "macro. deep", "macro_shallow": "macro. shallow",
}
EVAL_PRESET = "full"  # the legacy evaluator's features (make_evaluator)
DEFINITIONS = Path(__file__).resolve().parents[1] / "docs" / "comparison" / "metrics_definitions.md"
SETS: dict[str, str] = {"tuning": "Tuning exemplars", "held-out": "Held-out exemplars",
                        "other": "Other exemplars"}
TINY_EXEMPLARS = {"tuning": ["gravel"], "held-out": ["heldout_speckle"]}  # grey: one compile
LEARNED: tuple[str, ...] = ("lu_zhu_wu", "macro_full", "macro_deep", "macro_shallow")
PROTOCOLS: dict[str, str] = {"run": "run output", "frozen": "frozen theta"}
LABELS |= {f"{m}_{p}": f"{LABELS[m]}, {name}" for m in LEARNED for p, name in PROTOCOLS.items()}


def rows_of(methods: Sequence[str]) -> list[str]:
    """The table rows of ``methods``: the method itself, or ``METHOD_run`` and
    ``METHOD_frozen`` for a method of :data:`LEARNED` (the module docstring's protocols)."""
    return [r for m in methods
            for r in ([f"{m}_{p}" for p in PROTOCOLS] if m in LEARNED else [m])]


def method_of(row: str) -> str:
    """The method of a table row (``macro_full_run`` -> ``macro_full``)."""
    head, _, tail = row.rpartition("_")
    return head if tail in PROTOCOLS and head in LEARNED else row


def protocol_of(row: str) -> Optional[str]:
    """``"run"`` or ``"frozen"`` for a learned method's row, None for a single-row method."""
    head, _, tail = row.rpartition("_")
    return tail if tail in PROTOCOLS and head in LEARNED else None
MAX_UPSAMPLING = 1.25


class Study(NamedTuple):
    """Sizes and budgets of one study (see the module docstring)."""

    name: str
    size: int
    iterations: int
    gatys_iterations: int
    samples: int
    langevin_steps: int = 5
    macro_delta: Optional[float] = None  # None: SynthesisConfig's default
    macro_iterations: Optional[int] = None  # None: ``iterations``
    sample_steps: int = 300  # fixed-theta Langevin steps of the macrocanonical samples
    copy_stride: int = 4  # stride of the copied-patch fraction's sample patches


STUDIES = {
    "tiny": Study("tiny", 16, 3, 3, 2, 1, sample_steps=3),
    "cpu": Study("cpu", 64, 300, 300, 8, sample_steps=300),
    "gpu": Study("gpu", 256, 3000, 2000, 8, macro_iterations=10000, sample_steps=1000,
                 copy_stride=8),
}

STUDY_NAMES = {"tiny": "Tiny (CI smoke)", "cpu": "CPU-sized", "gpu": "256 px"}

_gatys = jax.jit(gatys_synthesize, static_argnames=("config", "size", "num"))
_micro = jax.jit(microcanonical_synthesize, static_argnames=("config", "size", "num"))
_adsn = jax.jit(adsn, static_argnames=("num",))


def _macro_iterations(study: Study) -> int:
    return study.macro_iterations or study.iterations


# ============================================================================================
# Methods
# ============================================================================================

def run_adsn(key, exemplar, variables, study: Study, info=None) -> np.ndarray:
    return np.asarray(_adsn(key, exemplar, num=study.samples))


def run_gatys(key, exemplar, variables, study: Study, info=None) -> np.ndarray:
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
    iterations = _macro_iterations(study)
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


# ============================================================================================
# Exemplars and the real textures of their floors
# ============================================================================================

class Exemplar(NamedTuple):
    """What every method gets (``image``) and the larger real texture whose disjoint ``crop``
    px crops give the floors (crop 0 is ``image`` unless ``same_scale`` is False)."""

    name: str
    set: str
    image: np.ndarray
    texture: np.ndarray
    crop: int
    same_scale: bool
    note: str


def exemplar_set(name: str) -> str:
    """``"tuning"``, ``"held-out"`` (bundled) or ``"other"`` (an image path)."""
    if name in list_exemplars(held_out=True):
        return "held-out"
    return "tuning" if name in list_exemplars() else "other"


def prepare_exemplar(name: str, size: int) -> Exemplar:
    """The study's exemplar at ``size`` px and the texture of its floors (module docstring)."""
    path = Path(name)
    bundled = not path.is_file()
    full = load_image(exemplar_path(name) if bundled else path)
    stem = name if bundled else path.stem
    group = exemplar_set(name) if bundled else "other"
    h, w = full.shape[:2]
    if (h // size) * (w // size) >= 2:
        n = (h // size) * (w // size)
        return Exemplar(stem, group, metrics.real_crops(full, size, 1)[0], full, size, True,
                        f"crop 0 of the {h}x{w} image (native resolution); floors from its "
                        f"other {size} px crops ({n - 1} available)")
    scale = 2 * size / min(h, w)
    if scale <= MAX_UPSAMPLING:
        big = resize_longer_side(full, math.ceil(max(h, w) * scale - 1e-9))
        if min(big.shape[:2]) >= 2 * size:
            return Exemplar(stem, group, metrics.real_crops(big, size, 1)[0], big, size, True,
                            f"crop 0 of the {h}x{w} image resampled by {scale:.3f} to "
                            f"{big.shape[0]}x{big.shape[1]}; floors from its other {size} px "
                            "crops")
    crop = min(h, w) // 2
    return Exemplar(stem, group, resize_longer_side(full, size), full, crop, False,
                    f"the whole {h}x{w} image at {size} px; floors from {crop} px crops of it "
                    f"at native resolution (another size and scale: indicative only)")


def prepare_exemplars(names: Sequence[str], size: int) -> dict[str, Exemplar]:
    out = {}
    for name in names:
        ex = prepare_exemplar(name, size)
        out[ex.name] = ex
    return out


def load_exemplars(names: Sequence[str], size: int) -> dict[str, np.ndarray]:
    """Bundled names or image paths (default: the tuning set) -> ``{name: (H, W, C)}``, the
    exemplar every method gets (:func:`prepare_exemplar`)."""
    return {k: e.image for k, e in prepare_exemplars(names or list_exemplars(), size).items()}


def default_exemplars(which: str, tiny: bool) -> list[str]:
    """The bundled exemplars of ``--set`` (one per set for ``--tiny``)."""
    sets = ("tuning", "held-out") if which == "both" else (which,)
    if tiny:
        return [n for s in sets for n in TINY_EXEMPLARS[s]]
    return [n for s in sets for n in list_exemplars(held_out=s == "held-out")]


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


# ============================================================================================
# Measurements
# ============================================================================================

RELU_LAYERS = tuple(n for n in feats.PRESETS["full"].layers)
POOL_LAYERS = ("pool1", "pool2", "pool3", "pool4")
COMMON_GRAM_LAYERS = ("relu2_1", "relu3_1", "relu4_1", "relu5_1")
assert not any(set(COMMON_GRAM_LAYERS) & set(c.get("gram", ()))
               for c in metrics.CONSTRAINED_STATISTICS.values())
EVAL_NETWORK = "VGG-19 with ReLU, average pooling and zero padding, Gatys' variant"


def make_activation_fn(variables) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """One image -> ``{layer: (h, w, c)}`` for the 16 ReLU layers and pool1-4 of the
    evaluation network (:data:`EVAL_NETWORK`), jitted."""
    spec = feats.get_spec(None, layers=RELU_LAYERS + POOL_LAYERS, activation="relu",
                          pooling="avg", padding="zero")
    fn = jax.jit(lambda x: feats.vgg_for(spec).apply(variables, x))
    return lambda x: {k: np.asarray(v) for k, v in fn(jnp.asarray(x, jnp.float32)).items()}


def psw_levels(side: int, patch: int = 7, levels: int = 3) -> int:
    """The most pyramid levels (at most ``levels``) whose coarsest level holds a patch."""
    n = 1
    while n < levels and side // 2 ** n >= patch:
        n += 1
    return n


def _only(acts, layers):
    if isinstance(acts, dict):
        return {k: acts[k] for k in layers if k in acts}
    return [{k: a[k] for k in layers if k in a} for a in acts]


def held_out(acts: list, acts0: dict, method: str) -> dict[str, Any]:
    """Channel-mean gaps on the ReLU layers and Gram gaps on the ReLU and pool layers that
    ``method`` does not constrain (``metrics.held_out_gaps``), per sample and pooled."""
    constrained = metrics.CONSTRAINED_STATISTICS[method]
    means = metrics.held_out_gaps(_only(acts, RELU_LAYERS), _only(acts0, RELU_LAYERS),
                                  constrained, kinds=("mean",))
    grams = metrics.held_out_gaps(acts, acts0, constrained, kinds=("gram",))
    nan = np.full(len(acts), np.nan)
    return {
        "mean": {"per_sample": means["mean"].get("all", nan),
                 "per_layer": {k: float(np.mean(v)) for k, v in means["mean"].items()}},
        "mean_of_samples": {"pooled": means["mean_of_samples"].get("all", float("nan"))},
        "gram": {"per_sample": grams["gram"].get("all", nan),
                 "per_layer": {k: float(np.mean(v)) for k, v in grams["gram"].items()}},
        "layers": {"mean": [k for k in means["mean"] if k != "all"],
                   "gram": [k for k in grams["gram"] if k != "all"]},
    }


def measure(samples: np.ndarray, x0: np.ndarray, activation_fn: Callable,
            methods: Sequence[str], copy_stride: int = 4) -> dict[str, Any]:
    """Every metric of the tables for ``samples`` against ``x0``: per-sample (or per-pair)
    arrays under ``"per_sample"``, values of the pooled samples under ``"pooled"``, and the
    held-out statistics of each of ``methods`` under ``"held_out"``."""
    xs = np.asarray(samples, np.float64)
    x0 = np.asarray(x0, np.float64)
    side = min(xs.shape[1:3] + x0.shape[:2])
    psw = functools.partial(metrics.patch_sliced_wasserstein, levels=psw_levels(side))
    layout = metrics.layout_correlation(xs, x0)
    acts0 = activation_fn(x0)
    acts = [activation_fn(x) for x in xs]
    common = metrics.held_out_gaps(_only(acts, COMMON_GRAM_LAYERS),
                                   _only(acts0, COMMON_GRAM_LAYERS), None, kinds=("gram",))
    return {
        "psw": {"per_sample": psw(xs, x0, per_sample=True), "pooled": psw(xs, x0)},
        "welch": {"per_sample": metrics.welch_spectrum_distance(xs, x0, per_sample=True),
                  "pooled": metrics.welch_spectrum_distance(xs, x0)},
        "diversity": {"per_sample": metrics.normalised_diversity(xs, x0, per_pair=True)},
        "copied": {"per_sample": metrics.copied_patch_fraction(xs, x0, stride=copy_stride,
                                                               per_sample=True)},
        "layout_zero": {"per_sample": layout["zero_shift"]},
        "layout_best": {"per_sample": layout["best_shift"]},
        "between_chains": {"per_sample": metrics.between_chain_correlation(xs)},
        "common_gram": {"per_sample": common["gram"]["all"]},
        "held_out": {m: held_out(acts, acts0, m) for m in methods},
        "num": len(xs),
    }


def measure_all(exemplars: dict[str, Exemplar], results, activation_fn, study: Study,
                methods: Sequence[str], seed: int = 0, log: Callable = print) -> dict[str, Any]:
    """``{exemplar: {"methods": {row: measure}, "floor": {"crops": measure, "adsn":
    measure, "num", "crop", "seconds"}}}`` (the rows of :func:`rows_of`, each with the
    held-out statistics of its method); the floors by :func:`maxent_jax.metrics.floor`."""
    out = {}
    for name, ex in exemplars.items():
        start = time.perf_counter()
        n = (ex.texture.shape[0] // ex.crop) * (ex.texture.shape[1] // ex.crop)
        fl = metrics.floor(lambda s, x: measure(s, x, activation_fn, methods, study.copy_stride),
                           ex.texture, crop=ex.crop, num=min(study.samples, n - 1), seed=seed)
        if ex.same_scale:
            assert np.array_equal(fl["exemplar"], ex.image)  # the floors' exemplar is ours
        floor = {"crops": fl["real"], "adsn": fl["adsn"], "num": fl["num"], "crop": ex.crop,
                 "seconds": time.perf_counter() - start}
        by_method = {r: measure(results[name][r][0], ex.image, activation_fn, [method_of(r)],
                                study.copy_stride) for r in rows_of(methods)}
        out[name] = {"methods": by_method, "floor": floor}
        log(f"{name:>16} metrics and floors: {time.perf_counter() - start:7.1f} s")
    return out


# ============================================================================================
# Tables
# ============================================================================================

class Metric(NamedTuple):
    key: str
    label: str
    fmt: str
    goal: str  # "low": lower is better; "floor": closest to the real-crop floor
    target: float = 0.0  # the goal when the floor is missing (one crop)
    constrained_by: tuple[str, ...] = ()
    unit: str = "sample"


PER_SAMPLE = (
    Metric("psw", "patch SW", "{:.3f}", "low"),
    Metric("welch", "Welch spectrum dist.", "{:.3f}", "low", constrained_by=("adsn",)),
    Metric("diversity", "norm. diversity", "{:.2f}", "floor", 1.0, unit="pair"),
    Metric("copied", "copied patches", "{:.1%}", "low"),
    Metric("layout_zero", "layout corr., zero shift", "{:+.2f}", "floor"),
    Metric("layout_best", "layout corr., best shift", "{:.2f}", "floor"),
    Metric("between_chains", "between-chain corr.", "{:+.2f}", "floor", unit="pair"),
    Metric("common_gram", "Gram gap relu2_1/3_1/4_1/5_1", "{:.3f}", "low"),
)
HELD_OUT = (
    Metric("mean", "held-out channel-mean gap", "{:.3f}", "low"),
    Metric("gram", "held-out Gram gap", "{:.3f}", "low"),
)
POOLED = (
    Metric("mean_of_samples", "held-out channel-mean gap of the mean", "{:.3f}", "low"),
    Metric("psw", "patch SW, pooled samples", "{:.3f}", "low"),
    Metric("welch", "Welch dist., all samples", "{:.3f}", "low", constrained_by=("adsn",)),
)


def _values(m: dict, key: str, method: Optional[str]) -> dict:
    return m["held_out"][method][key] if method is not None else m[key]


def summarise(measures: Sequence[dict], floors: Sequence[dict], key: str,
              held_out_method: Optional[str] = None, pooled: bool = False,
              seed: int = 0) -> dict[str, Any]:
    """Mean over exemplars of one metric with its stratified bootstrap interval (per-sample
    metrics) and the mean floors. ``measures``/``floors``: one per exemplar."""
    def get(m):
        return _values(m, key, held_out_method)

    if pooled:
        value = float(np.mean([get(m)["pooled"] for m in measures]))
        low = high = float("nan")
        f = {k: float(np.mean([get(fl[k])["pooled"] for fl in floors])) for k in ("crops", "adsn")}
        return {"value": value, "low": low, "high": high, "floor_crops": f["crops"],
                "floor_adsn": f["adsn"]}
    groups = [np.asarray(get(m)["per_sample"], np.float64) for m in measures]
    if any(g.size == 0 for g in groups):
        value = low = high = float("nan")
    else:
        value, low, high = metrics.stratified_bootstrap_interval(groups, seed=seed)

    def mean_floor(kind):
        vals = [np.asarray(get(fl[kind])["per_sample"], np.float64) for fl in floors]
        return float(np.mean([v.mean() for v in vals])) if all(v.size for v in vals) \
            else float("nan")

    return {"value": float(value), "low": float(low), "high": float(high),
            "floor_crops": mean_floor("crops"), "floor_adsn": mean_floor("adsn"),
            "n": [int(g.size) for g in groups]}


def _fmt(fmt: str, v: float) -> str:
    return "n/a" if v is None or not np.isfinite(v) else fmt.format(v)


def cell(s: dict, fmt: str) -> str:
    """``value [low, high] (floor: crops / ADSN)``; no interval for pooled values."""
    text = _fmt(fmt, s["value"])
    if np.isfinite(s["low"]):
        text += f" [{_fmt(fmt, s['low'])}, {_fmt(fmt, s['high'])}]"
    return text + f" (floor: {_fmt(fmt, s['floor_crops'])} / {_fmt(fmt, s['floor_adsn'])})"


def _compact(layers: Sequence[str], universe: Sequence[str]) -> str:
    """``layers`` (a subset of ``universe``) in few words: "all 16", "all 20 but relu1_1",
    or the names with whole blocks written ``reluB_*`` and pool1-4 grouped."""
    layers = [n for n in universe if n in set(layers)]
    missing = [n for n in universe if n not in set(layers)]
    if not layers:
        return "none"
    if not missing:
        return f"all {len(universe)}"
    if len(missing) <= 5:
        return f"all {len(universe)} but {_names(missing)}"
    return f"{len(layers)}: {_names(layers)}"


def _names(layers: Sequence[str]) -> str:
    out, done = [], set()
    pools = [n for n in layers if n.startswith("pool")]
    for name in layers:
        if name in done or name.startswith("pool"):
            continue
        block = [n for n in RELU_LAYERS if n.startswith(name[:5] + "_")]
        if len(block) > 1 and all(b in layers for b in block):
            out.append(f"{name[:5]}_*")
            done.update(block)
        else:
            out.append(name)
    if pools:
        out.append("pool1-4" if tuple(pools) == POOL_LAYERS else ", ".join(pools))
    return ", ".join(out)


def held_out_description(method: str) -> str:
    """Which statistics of the evaluation network are held out for ``method``."""
    c = metrics.CONSTRAINED_STATISTICS[method]
    means = [n for n in RELU_LAYERS if n not in c.get("mean", ())]
    grams = [n for n in RELU_LAYERS + POOL_LAYERS if n not in c.get("gram", ())]
    return (f"means: {_compact(means, RELU_LAYERS)}; "
            f"Grams: {_compact(grams, RELU_LAYERS + POOL_LAYERS)}")


def summary_rows(data: dict[str, Any], names: Sequence[str], methods: Sequence[str],
                 seed: int = 0) -> dict[str, dict[str, Any]]:
    """``{row: {column: summary}}`` over the exemplars ``names`` (their mean), for the rows of
    :func:`rows_of` ``(methods)``."""
    rows = {}
    floors = [data[n]["floor"] for n in names]
    for row_key in rows_of(methods):
        method = method_of(row_key)
        ms = [data[n]["methods"][row_key] for n in names]
        row = {m.key: summarise(ms, floors, m.key, seed=seed) for m in PER_SAMPLE}
        row |= {f"held_out_{m.key}": summarise(ms, floors, m.key, method, seed=seed)
                for m in HELD_OUT}
        row["held_out_mean_of_samples"] = summarise(ms, floors, "mean_of_samples", method,
                                                    pooled=True)
        row["pooled_psw"] = summarise(ms, floors, "psw", pooled=True)
        row["pooled_welch"] = summarise(ms, floors, "welch", pooled=True)
        row["seconds"] = float(np.mean([data[n]["seconds"][row_key] for n in names]))
        rows[row_key] = row
    return rows


def _table(head: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in body])


def tables(rows: dict[str, dict[str, Any]]) -> str:
    """The two markdown tables of one exemplar or one set mean."""
    first = _table(["method"] + [m.label for m in PER_SAMPLE] + ["time (s)"],
                   [[LABELS[k]] + [cell(r[m.key], m.fmt) for m in PER_SAMPLE]
                    + [f"{r['seconds']:.0f}"] for k, r in rows.items()])
    second = _table(["method", "held out (this row)"] + [m.label for m in HELD_OUT]
                    + [m.label for m in POOLED],
                    [[LABELS[k], held_out_description(method_of(k))]
                     + [cell(r[f"held_out_{m.key}"], m.fmt) for m in HELD_OUT]
                     + [cell(r["held_out_mean_of_samples"], POOLED[0].fmt),
                        cell(r["pooled_psw"], POOLED[1].fmt),
                        cell(r["pooled_welch"], POOLED[2].fmt)]
                     for k, r in rows.items()])
    return first + "\n\n" + second


def _score(metric: Metric, s: dict) -> float:
    """Distance from the ideal: for "low" metrics the excess over the real-crop floor (a
    perfect method's score; going below it is not better, it fits the one exemplar crop more
    closely than another piece of the texture does), for "floor" metrics the distance to it."""
    floor = s["floor_crops"]
    if metric.goal == "low":
        return max(s["value"] - floor, 0.0) if np.isfinite(floor) else s["value"]
    return abs(s["value"] - (floor if np.isfinite(floor) else metric.target))


def leaders(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per metric of the first table: the leading method(s) (:func:`_score`; several when
    they tie, e.g. all at or below the real-crop floor), the runner-up, and whether the 95%
    intervals of leader and runner-up are disjoint. Methods that constrain the metric are
    left out."""
    out = {}
    for metric in PER_SAMPLE:
        cands = {k: r[metric.key] for k, r in rows.items() if k not in metric.constrained_by}
        scored = sorted((_score(metric, s), k) for k, s in cands.items()
                        if np.isfinite(s["value"]))
        if not scored:
            continue
        best = scored[0][0]
        tied = [k for v, k in scored if abs(v - best) <= 1e-9 * max(1.0, abs(best))]
        runner = next((k for v, k in scored if k not in tied), None)
        separated = None
        if runner is not None and len(tied) == 1:
            a, b = cands[tied[0]], cands[runner]
            separated = bool(a["high"] < b["low"] or b["high"] < a["low"])
        out[metric.key] = {"leaders": tied, "runner_up": runner, "separated": separated,
                           "score": best, "excluded": list(metric.constrained_by)}
    return out


def _and(names: Sequence[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def leader_sentence(rows: dict[str, dict[str, Any]], where: str) -> str:
    """Computed sentence(s): which method leads on which metric of the first table."""
    if len(rows) < 2:
        return f"{where}: one method only, no ranking."
    by_method: dict[str, list[str]] = {}
    ties, close = [], False
    metric_of = {m.key: m for m in PER_SAMPLE}
    for key, info in leaders(rows).items():
        metric = metric_of[key]
        name = metric.label + (f" (without {_and([LABELS[e] for e in info['excluded']])}, "
                               "which constrains it)" if info["excluded"] else "")
        if len(info["leaders"]) > 1:
            who = ("all methods" if info["runner_up"] is None
                   else _and([LABELS[k] for k in info["leaders"]]))
            where_tie = ("at or below the real-crop floor" if metric.goal == "low"
                         and info["score"] == 0.0 else "level")
            ties.append(f"{who} are {where_tie} on {name}")
            continue
        if info["separated"] is False:
            name += "*"
            close = True
        by_method.setdefault(info["leaders"][0], []).append(name)
    parts = [f"{LABELS[k]} leads on {_and(v)}" for k, v in by_method.items()]
    text = f"{where}: " + "; ".join(parts + ties) + "."
    text += (" (Lead: the smallest excess over the real-crop floor for the distances, gaps "
             "and copied patches, the closest value to it for diversity and the correlations"
             + ("; * = its 95% interval overlaps the runner-up's: not resolved by this many "
                "samples.)" if close else ".)"))
    return text


def protocol_views(rows: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The rows each leader sentence ranks: for each protocol present, the single-row methods
    with that protocol's rows (``{"run output": ..., "frozen theta": ...}``); ``{"all": rows}``
    when no learned method is in the table."""
    present = [p for p in PROTOCOLS if any(protocol_of(k) == p for k in rows)]
    if not present:
        return {"all": rows}
    return {PROTOCOLS[p]: {k: r for k, r in rows.items() if protocol_of(k) in (None, p)}
            for p in present}


def set_sentences(rows: dict[str, Any], where: str) -> dict[str, str]:
    """One computed leader sentence per protocol (:func:`protocol_views`)."""
    return {view: leader_sentence(sub, where if view == "all" else f"{where}, learned "
                                  f"methods as {view}") for view, sub in
            protocol_views(rows).items()}


def definitions_link(out_dir: Path) -> str:
    return os.path.relpath(DEFINITIONS, out_dir.resolve())


def legend(link: str, study: Study, data: dict[str, Any]) -> str:
    notes = "\n".join(f"* {n}: {e['exemplar_note']}" for n, e in data.items())
    return f"""Definitions and references of every metric: [metrics_definitions.md]({link}).

Each cell: **value [95% interval] (floor: crops / ADSN)**. The value is the mean over the
samples (pairs of samples for diversity and between-chain correlation) and over the exemplars
of the table; the interval is a percentile bootstrap of that mean (1000 resamples, resampling
within each exemplar; `metrics.stratified_bootstrap_interval`); the floors are the same
metric, computed by `metrics.floor` in this run, for disjoint crops of the same real texture
(a perfect method) and for exact ADSN samples of the exemplar. Cells without an interval are
values of the pooled samples (the samples' patch distribution, the Welch estimate of all
samples, the gap of the samples' mean statistics). Lower is better for the distances and gaps;
diversity and the correlations are best at their real-crop floor. The held-out VGG statistics
are the channel means (16 ReLU layers) and Gram matrices (16 ReLU layers and pool1-4) of one
evaluation network ({EVAL_NETWORK}) that the row's method does not constrain
(`metrics.CONSTRAINED_STATISTICS`; the layers are named in the row), so they compare a method
with its floors, not rows with each other; the Gram gap of relu2_1, relu3_1, relu4_1 and
relu5_1, which no method constrains by name, is common to every row (Gatys matches the Grams
of the pooled layers just before them, which nearly fixes these). The Welch spectrum distance
is constrained by ADSN.

Two protocols for the methods that learn parameters while they sample (Lu-Zhu-Wu and the
macrocanonical presets), both from the same learning run (same seed, same learned theta):
**run output** rows are the learning run's {study.samples} chains after its last iteration
(what the seed and Lu, Zhu & Wu show; the chains can match the features because theta keeps
moving while they run); **frozen theta** rows are {study.samples} new chains from new starts
(ADSN for the macrocanonical model, the white noise q for Lu-Zhu-Wu) after
{study.sample_steps} Langevin steps of the learned model at its averaged theta_bar (what
`maxent-jax sample` draws: a test of the model). Each leader sentence ranks the single-row
methods with one protocol's rows. Time = seconds per exemplar for the row (compilation
included, metrics excluded; a frozen-theta row counts the learning run and the sampling).

Exemplars and floors:

{notes}"""


def write_tables(out_dir: Path, data: dict[str, Any], methods: Sequence[str], study: Study,
                 header: str, total_seconds: float, extra: Optional[dict] = None,
                 seed: int = 0) -> dict[str, Any]:
    """``metrics.md`` (per set: the mean over its exemplars, a table per exemplar, a computed
    leader sentence) and ``metrics.json``; returns the JSON data."""
    sets: dict[str, list[str]] = {}
    for name, entry in data.items():
        sets.setdefault(entry["set"], []).append(name)
    order = [s for s in SETS if s in sets]
    summary = {s: summary_rows(data, sets[s], methods, seed) for s in order}
    per_exemplar = {n: summary_rows(data, [n], methods, seed) for n in data}
    sentences = {s: set_sentences(summary[s], f"{SETS[s]} ({', '.join(sets[s])})")
                 for s in order}
    parts = [header, "", f"Total time: {total_seconds:.0f} s ({total_seconds / 60:.1f} min).",
             "", legend(definitions_link(out_dir), study, data), "", "## Leaders (computed)",
             "", *[f"{t}\n" for s in order for t in sentences[s].values()]]
    for s in order:
        parts += [f"## {SETS[s]}: mean over {', '.join(sets[s])}", "", tables(summary[s]), "",
                  *[f"{t}\n" for t in sentences[s].values()]]
        for name in sets[s]:
            parts += [f"### {name}", "", data[name]["exemplar_note"] + ".", ""]
            if len(sets[s]) > 1:
                parts += [tables(per_exemplar[name]), ""]
            else:
                parts += ["(The only exemplar of the set: its table is the one above.)", ""]
    (out_dir / "metrics.md").write_text("\n".join(parts).rstrip() + "\n")
    out = {"study": study._asdict(), "total_seconds": total_seconds,
           "sets": {s: sets[s] for s in order}, "summary": summary,
           "per_exemplar": per_exemplar,
           "leaders": {s: {v: leaders(sub) for v, sub in protocol_views(summary[s]).items()}
                       for s in order},
           "leader_sentences": sentences, "evaluation_network": EVAL_NETWORK,
           "held_out_layers": {m: held_out_description(m) for m in methods},
           "details": data, **(extra or {})}
    (out_dir / "metrics.json").write_text(json.dumps(_jsonable(out), indent=1, sort_keys=True)
                                          + "\n")
    return out


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


# ============================================================================================
# The earlier evaluator (kept for notebooks/comparison.ipynb; not in the tables any more)
# ============================================================================================

def make_evaluator(variables) -> Callable[[np.ndarray, np.ndarray], dict]:
    """``(samples, exemplar) -> metrics.evaluate dict`` with jitted network functions (the
    earlier metrics: feature and Gram gaps that Gatys and the microcanonical descent optimise,
    periodogram spectrum distance, colour W1, diversity, nearest-patch distance)."""
    spec = feats.get_spec(EVAL_PRESET)
    feature_fn = jax.jit(lambda x: feats.features(spec, variables, x))
    gram_spec = gatys_spec()
    activation_fn = jax.jit(lambda x: feats.vgg_for(gram_spec).apply(variables, x))
    return functools.partial(metrics.evaluate, feature_fn=feature_fn,
                             blocks=feats.layer_slices(spec), activation_fn=activation_fn)


def _summary(m: dict[str, Any], seconds: float) -> dict[str, float]:
    return {"feature_gap": m["feature_gap"]["all"],
            "feature_gap_per_sample": m["feature_gap_per_sample"]["all"],
            "gram_gap": m["gram_gap"]["all"],
            "power_spectrum_distance": m["power_spectrum_distance"],
            "colour_histogram_distance": m["colour_histogram_distance"],
            "diversity": m["diversity"],
            "nearest_patch_distance": m["nearest_patch_distance"],
            "copied_fraction": m["copied_fraction"],
            "seconds": seconds}


COLUMNS = [("feature_gap", "feature gap (mean)", "{:.3f}"),
           ("feature_gap_per_sample", "feature gap (per sample)", "{:.3f}"),
           ("gram_gap", "Gram gap", "{:.3f}"),
           ("power_spectrum_distance", "spectrum dist.", "{:.3f}"),
           ("colour_histogram_distance", "colour W1", "{:.4f}"),
           ("diversity", "diversity", "{:.3f}"),
           ("copied_fraction", "copied patches", "{:.1%}"),
           ("seconds", "time (s)", "{:.0f}")]


def markdown_table(rows: dict[str, dict[str, float]]) -> str:
    """The earlier metrics as one markdown table: a row per method, the columns of
    ``COLUMNS`` (each method wins the gaps it optimises: not a ranking)."""
    return _table(["method"] + [c[1] for c in COLUMNS],
                  [[LABELS.get(k, k)] + [fmt.format(v[c]) for c, _, fmt in COLUMNS]
                   for k, v in rows.items()])


def evaluate_results(exemplars, results, evaluator) -> tuple[dict, dict]:
    """``(summary, details)`` of the earlier metrics, per exemplar and method."""
    summary, details = {}, {}
    for name, x0 in exemplars.items():
        summary[name], details[name] = {}, {}
        for method, (samples, seconds) in results[name].items():
            m = evaluator(samples, x0)
            details[name][method] = m
            summary[name][method] = _summary(m, seconds)
    return summary, details


# ============================================================================================
# Figure, samples, command line
# ============================================================================================

def _show(ax, image: np.ndarray) -> None:
    image = np.clip(image, 0.0, 1.0)
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(image, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def write_grid(path: Path, exemplars: dict[str, np.ndarray], results, methods: Sequence[str],
               title: str) -> None:
    """Figure grid: a row per exemplar, columns exemplar | first sample of each table row
    (both protocols of a learned method, :func:`rows_of`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = rows_of(methods)
    rows, cols = len(exemplars), len(columns) + 1
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.6 * rows + 0.4), squeeze=False)
    for r, (name, x0) in enumerate(exemplars.items()):
        _show(axes[r, 0], x0)
        axes[r, 0].set_ylabel(name, fontsize=8)
        for c, row in enumerate(columns, start=1):
            _show(axes[r, c], results[name][row][0][0])
    for c, label in enumerate(["exemplar"] + [LABELS[m].replace(", ", "\n") for m in columns]):
        axes[0, c].set_title(label, fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_samples(out_dir: Path, results) -> None:
    for name, by_method in results.items():
        for method, (samples, _) in by_method.items():
            for i, x in enumerate(samples):
                save_image(out_dir / "samples" / name / f"{method}_{i}.png", x)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("exemplars", nargs="*", metavar="EXEMPLAR",
                   help="bundled exemplar names or image paths (default: the bundled "
                        "exemplars of --set); grouped into the tuning and held-out tables")
    p.add_argument("--out-dir", type=Path, required=True, metavar="DIR")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--tiny", action="store_true",
                      help="16 px, 3 iterations, 2 samples, one exemplar per set: a CI smoke run")
    mode.add_argument("--gpu", action="store_true", help="the 256 px study (for a GPU)")
    p.add_argument("--set", dest="exemplar_set", choices=("tuning", "held-out", "both"),
                   default="both",
                   help=f"default exemplars: tuning {list_exemplars()}, held-out "
                        f"{list_exemplars(held_out=True)} (never used to tune), or both "
                        "(default); reported in separate tables")
    p.add_argument("--size", type=int, default=None, help="exemplar and sample side (px)")
    p.add_argument("--iterations", type=int, default=None,
                   help="Langevin / descent steps (and L-BFGS iterations) per method")
    p.add_argument("--samples", type=int, default=None,
                   help="samples (chains) per method and exemplar (default 8; --tiny 2)")
    p.add_argument("--sample-steps", type=int, default=None,
                   help="fixed-theta Langevin steps of the macrocanonical samples")
    p.add_argument("--macro-delta", type=float, default=None,
                   help="theta step of the macrocanonical learning (default: the library's)")
    p.add_argument("--methods", default=",".join(METHODS),
                   help=f"comma-separated subset of {','.join(METHODS)}")
    p.add_argument("--weights", type=Path, default=None, help="VGG-19 weights (see maxent-jax)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-samples", action="store_true", help="also write every sample")
    return p.parse_args(argv)


def study_from_args(args: argparse.Namespace) -> Study:
    study = STUDIES["tiny" if args.tiny else "gpu" if args.gpu else "cpu"]
    if args.size:
        study = study._replace(size=args.size)
    if args.iterations:
        study = study._replace(iterations=args.iterations, gatys_iterations=args.iterations,
                               macro_iterations=args.iterations)
    if args.samples:
        study = study._replace(samples=args.samples)
    if args.sample_steps:
        study = study._replace(sample_steps=args.sample_steps)
    if args.macro_delta is not None:
        if not args.macro_delta > 0:
            raise SystemExit("compare.py: --macro-delta must be > 0")
        study = study._replace(macro_delta=args.macro_delta)
    if study.size < 16 or study.samples < 1 or study.iterations < 1 or study.sample_steps < 1:
        raise SystemExit("compare.py: --size must be >= 16, --samples, --iterations and "
                         "--sample-steps >= 1")
    return study


def main(argv: Optional[Sequence[str]] = None) -> int:
    from maxent_jax.nn.backbone import load_network

    log = functools.partial(builtins.print, flush=True)
    start = time.perf_counter()
    args = parse_args(argv)
    study = study_from_args(args)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(methods).difference(METHODS)
    if unknown:
        raise SystemExit(f"compare.py: unknown methods {sorted(unknown)}; choose from {METHODS}")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    names = args.exemplars or default_exemplars(args.exemplar_set, args.tiny)
    prepared = prepare_exemplars(names, study.size)
    exemplars = {k: e.image for k, e in prepared.items()}
    variables, _ = load_network(args.weights)
    diagnostics: dict[str, Any] = {}
    results = run_study(exemplars, variables, study, methods, args.seed, log=log,
                        diagnostics=diagnostics)
    measured = measure_all(prepared, results, make_activation_fn(variables), study, methods,
                           args.seed, log=log)
    data = {name: {"set": ex.set, "exemplar_note": ex.note, **measured[name],
                   "seconds": {r: results[name][r][1] for r in rows_of(methods)},
                   "diagnostics": diagnostics.get(name, {})}
            for name, ex in prepared.items()}
    title = (f"{STUDY_NAMES[study.name]} study: {study.size} px, {study.iterations} "
             f"iterations ({study.gatys_iterations} L-BFGS, {_macro_iterations(study)} "
             f"macrocanonical), {study.samples} samples per method, "
             f"run on {jax.devices()[0].platform.upper()}")
    write_grid(args.out_dir / "grid.png", exemplars, results, methods, title)
    if args.save_samples:
        save_samples(args.out_dir, results)
    command = "python scripts/compare.py " + " ".join(sys.argv[1:] if argv is None else argv)
    total = time.perf_counter() - start
    write_tables(args.out_dir, data, methods, study,
                 f"# Comparison — {title}\n\nProduced by `{command}`.", total,
                 {"command": command, "methods": methods, "rows": rows_of(methods),
                  "protocols": {r: PROTOCOLS.get(protocol_of(r) or "", "single row")
                                for r in rows_of(methods)}}, args.seed)
    log(f"total time: {total:.0f} s ({total / 60:.1f} min); wrote {args.out_dir}/grid.png, "
          "metrics.md, metrics.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
