"""Mixing of Langevin samplers at a fixed learned theta: gradient evaluations to equal accuracy.

    python scripts/benchmarks/mixing.py [--steps 300] [--chains 8] [--size 64]
                                        [--out docs/mixing/results.json] [--model PATH] [--quick]

1. Learn a model on the *tuning* exemplar ``wood`` (64 px) with the library defaults
   (:func:`maxent_jax.tasks.texture.synthesize`: 300 iterations, 4 chains, gamma = 1e-7); its
   ``.model`` holds the Polyak-averaged theta. ``--model PATH`` reuses (or writes) that model.
2. MALA probe (:func:`maxent_jax.sampling.soul.probe_acceptance`) at the ADSN starts for
   gamma in a grid, plain and preconditioned (``precondition="spectrum"``,
   :mod:`maxent_jax.sampling.preconditioned`): gamma* = the largest gamma whose mean probe
   acceptance is >= 0.5, for each.
3. At that fixed theta, ``--chains`` chains from the same ADSN starts run ``--steps`` steps of
   each sampler (:func:`maxent_jax.sampling.fixed.langevin_chains`, the kernel of
   ``maxent-jax sample``): plain ULA at gamma = 1e-7 (the default), preconditioned ULA at
   1e-7 and at its gamma*, plain ULA at its own gamma*, and MALA / preconditioned MALA at
   1e-7 and at their gamma*.
4. For each sampler, gradient evaluations per chain (ULA: one per step; MALA: one per step
   plus one at the start) needed
   (a) for the running gap ``||mean F(X) - F(x0)|| / ||F(x0)||`` (mean over the chains and
       the last half of the steps so far) to reach, and stay at or below until the end of the
       budget, the value plain ULA at 1e-7 has at the end of its budget (equal accuracy);
   (b) for the mean over chains of the correlation of X_k with X_0 (grey, each image's mean
       removed, as :func:`maxent_jax.metrics.layout_correlation` at zero shift) to fall below
       0.5.
   A sampler that does not get there within the budget is reported as such (``null``), with
   a linear extrapolation of ``1 - corr`` for (b) (a lower bound on the count when the decay
   slows down, as it does); speed-ups are plain ULA's count over the sampler's. The other
   way round, (a') the gradient evaluations plain ULA needs to reach the sampler's own final
   running gap, over the sampler's budget: a speed-up at the sampler's accuracy.

Writes ``--out`` (results.json) and prints a markdown table. ``--quick``: a smoke run at 16 px
with relu1_1 only and a few steps (under a minute; numbers meaningless).
Tuning exemplar only: never the ``heldout_*`` ones.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np

from maxent_jax.run.machine import describe_cpu
from maxent_jax import metrics
from maxent_jax.exemplars import load_exemplar
from maxent_jax.model import MaxEntModel, load_model, save_model
from maxent_jax.nn.backbone import Backbone, load_network, prepare_backbone
from maxent_jax.run import diagnostics
from maxent_jax.sampling.energy import macrocanonical_energy
from maxent_jax.sampling.fixed import langevin_chains
from maxent_jax.sampling.preconditioned import Preconditioner, spectrum_preconditioner
from maxent_jax.sampling.scan import scan_steps
from maxent_jax.sampling.soul import probe_acceptance
from maxent_jax.tasks.starts import adsn_starts
from maxent_jax.tasks.texture import SynthesisConfig, synthesize

BASE_GAMMA = 1e-7
GAMMAS = (1e-7, 2e-7, 3e-7, 5e-7, 1e-6, 3e-6, 1e-5)
BANDS = ((0.0, 0.0), (0.0, 0.04), (0.04, 0.08), (0.08, 0.16), (0.16, 0.3), (0.3, 0.75))
CHUNK = 50
CORRELATION = 0.5
MIN_ACCEPTANCE = 0.5


# ------------------------------------------------------------------ the model and its potential
def learn(exemplar: np.ndarray, variables: Any, args: argparse.Namespace) -> tuple[MaxEntModel,
                                                                                   float]:
    """The library defaults on ``exemplar`` (``--iterations``, ``--learn-chains``)."""
    if args.model is not None and args.model.is_file():
        return load_model(args.model), 0.0
    extra = dict(layers=("relu1_1",)) if args.quick else {}
    config = SynthesisConfig(iterations=args.iterations, chains=args.learn_chains,
                             checkpoint_every=min(50, args.iterations), **extra)
    start = time.perf_counter()
    result = synthesize(exemplar, variables, config, progress=False)
    seconds = time.perf_counter() - start
    if args.model is not None:
        args.model.parent.mkdir(parents=True, exist_ok=True)
        save_model(args.model, result.model)
    return result.model, seconds


def model_arrays(model: MaxEntModel) -> tuple:
    """``(theta, target, centre)`` of a learned model as device arrays."""
    return tuple(jnp.asarray(a) for a in (model.theta, model.target, model.centre))


def model_potential(backbone: Backbone, arrays: tuple, model: MaxEntModel):
    """``x -> U_theta(x)`` of the learned model at its ``arrays`` (:func:`model_arrays`)."""
    theta, target, centre = arrays
    energy = macrocanonical_energy(backbone.features, target, beta=float(model.beta),
                                   eps=float(model.eps), centre=centre,
                                   extensive=bool(model.extensive))
    return lambda x: energy(theta, x)


def start_correlation(positions: jax.Array, start: jax.Array) -> jax.Array:
    """Per chain: correlation of X_k with X_0, both grey (channel mean), mean removed."""
    def centred(x):
        g = x.mean(-1)
        g = g - g.mean((-2, -1), keepdims=True)
        return g / jnp.maximum(jnp.sqrt(jnp.sum(g**2, (-2, -1), keepdims=True)), 1e-12)

    return jnp.sum(centred(positions) * centred(start), (-2, -1))


# ------------------------------------------------------------------ compiled programs
@functools.lru_cache(maxsize=8)
def _programs(model_key: tuple, sampler: str, chunk: int):
    """jitted ``init(backbone, arrays, positions, precond)`` and ``run(backbone, arrays, gamma,
    precond, start, key, state)`` (``chunk`` steps; gamma and M are arguments)."""
    beta, eps, extensive = model_key
    model = argparse.Namespace(beta=beta, eps=eps, extensive=extensive)

    def kernel(backbone, arrays, gamma, precond):
        return langevin_chains(model_potential(backbone, arrays, model), gamma, sampler, precond)

    def init(backbone, arrays, positions, precond):
        return kernel(backbone, arrays, BASE_GAMMA, precond).init(positions)

    def run(backbone, arrays, gamma, precond, start, key, state):
        k = kernel(backbone, arrays, gamma, precond)

        def step(key, s):
            s, info = k.step(key, s)
            return s, (info.gap, info.energy, info.acceptance,
                       start_correlation(s.positions, start))

        return scan_steps(step, key, state, chunk)

    return jax.jit(init), jax.jit(run)


def _model_key(model: MaxEntModel) -> tuple:
    return float(model.beta), float(model.eps), bool(model.extensive)


@functools.lru_cache(maxsize=4)
def _probe(model_key: tuple):
    model = argparse.Namespace(beta=model_key[0], eps=model_key[1], extensive=model_key[2])

    def probe(backbone, arrays, key, positions, gamma, precond):
        return probe_acceptance(key, positions, model_potential(backbone, arrays, model), gamma,
                                precond)

    return jax.jit(probe)


def probe_table(backbone: Backbone, model: MaxEntModel, positions: jax.Array,
                precond: Optional[Preconditioner], gammas: tuple[float, ...],
                seed: int) -> dict[str, float]:
    """Mean MALA probe acceptance at ``positions`` for each gamma (same key for each)."""
    probe = _probe(_model_key(model))
    key = jax.random.key(seed + 1)
    return {f"{g:g}": float(probe(backbone, model_arrays(model), key, positions, g, precond))
            for g in gammas}


def largest_gamma(table: dict[str, float]) -> float:
    """The largest gamma of the grid up to which the probe acceptance stays >= MIN_ACCEPTANCE
    (the smallest gamma of the grid if it is below already there)."""
    best = min(float(g) for g in table)
    for g, a in sorted(table.items(), key=lambda item: float(item[0])):
        if a < MIN_ACCEPTANCE:
            break
        best = float(g)
    return best


def band_curvature(backbone: Backbone, model: MaxEntModel, positions: jax.Array,
                   precond: Preconditioner, seed: int, per_band: int) -> list[dict[str, Any]]:
    """Curvature ``v^T H v`` of U along random unit directions v whose Fourier transform lives
    in a band of radial frequencies (cycles per pixel; the first band is the DC term), at each
    of ``positions`` (Hessian-vector products), beside the mean multiplier m(k) of the band."""
    potential = model_potential(backbone, model_arrays(model), model)
    grad = jax.grad(lambda x: potential(x)[0])
    hvp = jax.jit(lambda x, v: jnp.vdot(v, jax.jvp(grad, (x,), (v,))[1]))
    h, w, c = positions.shape[1:]
    radius = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :])
    rng = np.random.default_rng(seed)
    m = np.asarray(precond.multiplier)
    out = []
    for lo, hi in BANDS:
        band = (radius == 0) if hi == 0 else (radius > lo) & (radius <= hi)
        if not band.any():
            continue
        values = []
        for x in positions:
            for _ in range(per_band):
                z = rng.normal(size=band.shape + (c,)) + 1j * rng.normal(size=band.shape + (c,))
                v = np.fft.irfft2(z * band[..., None], s=(h, w), axes=(0, 1))
                v = jnp.asarray(v / np.linalg.norm(v), jnp.float32)
                values.append(float(hvp(x, v)))
        out.append({"band": [lo, hi], "modes": int(band.sum()), "curvature_mean":
                    float(np.mean(values)), "curvature_min": float(np.min(values)),
                    "curvature_max": float(np.max(values)),
                    "multiplier_mean": float(m[band].mean())})
    return out


def run_sampler(backbone: Backbone, model: MaxEntModel, starts: jax.Array, sampler: str,
                gamma: float, precond: Optional[Preconditioner], steps: int, chunk: int,
                seed: int) -> dict[str, np.ndarray]:
    """``steps`` steps of the chains; per step: chain-mean gap F - F(x0), energy,
    acceptance, per-chain correlation with the start; the last positions."""
    init, run = _programs(_model_key(model), sampler, chunk)
    arrays = model_arrays(model)
    state = init(backbone, arrays, starts, precond)
    key = jax.random.key(seed + 2)
    gaps, energies, rates, corrs = [], [], [], []
    for _ in range(steps // chunk):
        state, (gap, energy, rate, corr) = run(backbone, arrays, gamma, precond, starts, key,
                                               state)
        for store, value in zip((gaps, energies, rates, corrs), (gap, energy, rate, corr)):
            store.append(np.asarray(value))
    return {"gap": np.concatenate(gaps), "energy": np.concatenate(energies),
            "acceptance": np.concatenate(rates), "correlation": np.concatenate(corrs),
            "positions": np.asarray(state.positions)}


# ------------------------------------------------------------------ measures
def running_gap(gaps: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Entry k-1: ``||mean_{j in [k//2, k)} gap_j|| / ||F(x0)||`` after k steps, gap_j the
    chains' mean of F(X_j) - F(x0) (X_j: the position step j starts from;
    :func:`maxent_jax.run.diagnostics.running_gap`)."""
    return diagnostics.running_gap(gaps, float(np.linalg.norm(target)))


def steps_to_stay_below(values: np.ndarray, threshold: float) -> Optional[int]:
    """Smallest k (1-based) with ``values[j - 1] <= threshold`` for every j >= k; None if the
    last value is above it."""
    above = np.nonzero(values > threshold)[0]
    if len(above) == 0:
        return 1
    k = int(above[-1]) + 2
    return k if k <= len(values) else None


def steps_to_fall_below(values: np.ndarray, threshold: float) -> Optional[int]:
    """Smallest k (1-based) with ``values[k - 1] < threshold``; None if never."""
    below = np.nonzero(values < threshold)[0]
    return int(below[0]) + 1 if len(below) else None


def extrapolated_decorrelation(corr: np.ndarray) -> float:
    """Steps for the correlation to reach CORRELATION by a straight line through (0, 1) and the
    last step: ``K (1 - CORRELATION) / (1 - corr_K)``."""
    drop = 1.0 - float(corr[-1])
    return float("inf") if drop <= 0 else len(corr) * (1.0 - CORRELATION) / drop


# ------------------------------------------------------------------ main


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--exemplar", default="wood", help="a tuning exemplar (never heldout_*)")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--iterations", type=int, default=300, help="learning run (SOUL steps)")
    p.add_argument("--learn-chains", type=int, default=4)
    p.add_argument("--chains", type=int, default=8, help="chains per sampler")
    p.add_argument("--steps", type=int, default=300, help="steps per sampler (budget)")
    p.add_argument("--probe-chains", type=int, default=16,
                   help="ADSN draws the MALA probe averages over")
    p.add_argument("--floor", type=float, default=None,
                   help="floor of the spectrum preconditioner (default: the library's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", type=Path, default=None,
                   help="reuse this learned model.npz if it exists, else write it there")
    p.add_argument("--out", type=Path, default=Path("docs/mixing/results.json"))
    p.add_argument("--quick", action="store_true", help="tiny smoke run (meaningless numbers)")
    args = p.parse_args(argv)
    if args.exemplar.startswith("heldout"):
        p.error("tune on the tuning exemplars only")
    if args.quick:
        args.size, args.iterations, args.learn_chains = 16, 2, 2
        args.chains, args.steps, args.probe_chains = 2, 4, 2
    return args


def plan(gamma_plain: float, gamma_pre: float) -> list[tuple[str, str, float, bool]]:
    """(name, sampler, gamma, preconditioned) of every sampler, plain ULA at 1e-7 first."""
    rows = [("ULA", "ula", BASE_GAMMA, False),
            ("pULA", "ula", BASE_GAMMA, True),
            ("ULA gamma*", "ula", gamma_plain, False),
            ("pULA gamma*", "ula", gamma_pre, True)]
    if gamma_plain != gamma_pre and gamma_plain != BASE_GAMMA:
        rows.append(("pULA at plain gamma*", "ula", gamma_plain, True))
    rows += [("MALA", "mala", BASE_GAMMA, False), ("pMALA", "mala", BASE_GAMMA, True)]
    if gamma_plain != BASE_GAMMA:
        rows.append(("MALA gamma*", "mala", gamma_plain, False))
    if gamma_pre != BASE_GAMMA:
        rows.append(("pMALA gamma*", "mala", gamma_pre, True))
    seen, unique = set(), []
    for row in rows:  # gamma* may be 1e-7: run each (kernel, gamma, M) once
        if row[1:] not in seen:
            seen.add(row[1:])
            unique.append(row)
    return unique


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    chunk = min(CHUNK, args.steps)
    if args.steps % chunk:
        raise SystemExit(f"--steps must be a multiple of {chunk}")
    variables, digest = load_network(None)
    exemplar = load_exemplar(args.exemplar, size=args.size)
    model, learn_seconds = learn(exemplar, variables, args)
    size = tuple(exemplar.shape[:2])
    backbone = prepare_backbone(model.spec, variables, size, digest)
    starts = adsn_starts(jax.random.key(args.seed), jnp.asarray(model.exemplar), size,
                         args.chains)
    floor = {} if args.floor is None else {"floor": args.floor}
    precond = spectrum_preconditioner(model.exemplar, size, **floor)
    gammas = GAMMAS[:2] if args.quick else GAMMAS
    probe_starts = adsn_starts(jax.random.key(args.seed + 3), jnp.asarray(model.exemplar), size,
                               args.probe_chains)
    probes = {"plain": probe_table(backbone, model, probe_starts, None, gammas, args.seed),
              "spectrum": probe_table(backbone, model, probe_starts, precond, gammas,
                                      args.seed)}
    gamma_plain, gamma_pre = largest_gamma(probes["plain"]), largest_gamma(probes["spectrum"])
    print(f"probe acceptance at ADSN draws: {json.dumps(probes)}; gamma* plain "
          f"{gamma_plain:g}, preconditioned {gamma_pre:g}", flush=True)
    curvature = band_curvature(backbone, model, starts[:1 if args.quick else 2], precond,
                               args.seed, 1 if args.quick else 3)
    for row in curvature:
        print(f"curvature in band {row['band']} ({row['modes']} modes): mean "
              f"{row['curvature_mean']:.3g} [{row['curvature_min']:.3g}, "
              f"{row['curvature_max']:.3g}], mean m {row['multiplier_mean']:.3g}", flush=True)

    target_norm = np.asarray(model.target)
    runs: dict[str, dict[str, Any]] = {}
    for name, sampler, gamma, pre in plan(gamma_plain, gamma_pre):
        start = time.perf_counter()
        out = run_sampler(backbone, model, starts, sampler, gamma, precond if pre else None,
                          args.steps, chunk, args.seed)
        rg = running_gap(out["gap"], target_norm)
        corr = out["correlation"].mean(axis=1)
        end_probe = probe_table(backbone, model, jnp.asarray(out["positions"]),
                                precond if pre else None, (gamma,), args.seed)[f"{gamma:g}"]
        check = np.mean([metrics.layout_correlation(x[None], x0)["zero_shift"][0]
                         for x, x0 in zip(out["positions"], np.asarray(starts))])
        runs[name] = {"sampler": sampler, "gamma": gamma, "precondition":
                      "spectrum" if pre else "none", "extra_gradients": int(sampler == "mala"),
                      "running_gap": rg.tolist(), "correlation": corr.tolist(),
                      "acceptance": float(out["acceptance"].mean()),
                      "probe_at_end": end_probe, "finite": bool(np.isfinite(out["positions"])
                                                                .all()),
                      "seconds": time.perf_counter() - start,
                      "pixel_std_change": float(np.std(out["positions"] - np.asarray(starts)))}
        assert abs(check - corr[-1]) < 1e-3, (check, corr[-1])  # same as the metrics helper
        print(f"{name}: gamma {gamma:g}, running gap {rg[-1]:.4f}, correlation with the start "
              f"{corr[-1]:.3f}, acceptance {runs[name]['acceptance']:.3f}, probe at the end "
              f"{end_probe:.3f} ({runs[name]['seconds']:.0f} s)", flush=True)

    target_gap = runs["ULA"]["running_gap"][-1]
    rows = summarise(runs, target_gap, args.chains)
    result = {"settings": {k: (str(v) if isinstance(v, Path) else v)
                           for k, v in vars(args).items()},
              "machine": describe_cpu(), "jax": jax.__version__, "backend": jax.default_backend(),
              "learn_seconds": learn_seconds, "total_seconds": time.perf_counter() - t0,
              "gamma_star": {"plain": gamma_plain, "spectrum": gamma_pre},
              "probe_at_starts": probes, "band_curvature": curvature,
              "floor": precond_floor(args), "target_gap": target_gap,
              "correlation_threshold": CORRELATION, "summary": rows, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(table(rows, target_gap))
    print(f"total {result['total_seconds']:.0f} s; wrote {args.out}")
    return 0


def precond_floor(args: argparse.Namespace) -> float:
    """The floor the spectrum preconditioner was built with."""
    if args.floor is not None:
        return args.floor
    import inspect

    return inspect.signature(spectrum_preconditioner).parameters["floor"].default


def summarise(runs: dict[str, dict[str, Any]], target_gap: float, chains: int) -> list[dict]:
    """Per sampler: gradient evaluations per chain to (a) the target gap, (b) decorrelation,
    and the speed-ups over plain ULA at 1e-7."""
    rows = []
    base_gap = np.asarray(next(iter(runs.values()))["running_gap"])
    for name, r in runs.items():
        extra = r["extra_gradients"]
        k_same = steps_to_stay_below(base_gap, r["running_gap"][-1])
        k_gap = steps_to_stay_below(np.asarray(r["running_gap"]), target_gap)
        corr = np.asarray(r["correlation"])
        k_corr = steps_to_fall_below(corr, CORRELATION)
        rows.append({"sampler": name, "gamma": r["gamma"], "precondition": r["precondition"],
                     "kernel": r["sampler"], "acceptance": r["acceptance"],
                     "grads_to_gap": None if k_gap is None else k_gap + extra,
                     "grads_to_decorrelate": None if k_corr is None else k_corr + extra,
                     "decorrelation_extrapolated": extrapolated_decorrelation(corr) + extra,
                     "final_gap": r["running_gap"][-1], "final_correlation": float(corr[-1]),
                     "budget": len(corr) + extra, "chains": chains,
                     "ula_grads_to_same_gap": k_same})
    base = rows[0]
    for row in rows:
        row["speedup_gap"] = _ratio(base["grads_to_gap"], row["grads_to_gap"])
        known = base["grads_to_decorrelate"] or base["decorrelation_extrapolated"]
        row["speedup_decorrelation"] = _ratio(known, row["grads_to_decorrelate"])
        row["speedup_decorrelation_extrapolated"] = _ratio(
            base["decorrelation_extrapolated"], row["decorrelation_extrapolated"])
        row["speedup_at_own_gap"] = _ratio(row["ula_grads_to_same_gap"], row["budget"])
    return rows


def _ratio(base: Optional[float], other: Optional[float]) -> Optional[float]:
    return None if base is None or other is None else float(base) / float(other)


def _fmt(value: Optional[float], budget: int) -> str:
    return f"> {budget}" if value is None else f"{value:.0f}"


def _speed(value: Optional[float], prefix: str = "") -> str:
    return "-" if value is None else f"{prefix}{value:.2f}x"


def table(rows: list[dict], target_gap: float) -> str:
    """Markdown: gradient evaluations per chain and speed-ups over plain ULA at 1e-7."""
    lines = [f"| sampler | gamma | MALA acceptance | final gap | (a) grads to gap "
             f"{target_gap:.4f} | speed-up | (a') ULA grads to the same gap | speed-up | "
             "final corr | (b) grads to corr < 0.5 | speed-up (extrapolated) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    base_corr = rows[0]["grads_to_decorrelate"]
    for r in rows:
        corr = _fmt(r["grads_to_decorrelate"], r["budget"])
        if r["grads_to_decorrelate"] is None:
            corr += f" (~{r['decorrelation_extrapolated']:.3g} extrapolated)"
        speed_corr = (_speed(r["speedup_decorrelation"], ">= " if base_corr is None else "")
                      if r["speedup_decorrelation"] is not None
                      else f"({_speed(r['speedup_decorrelation_extrapolated'])})")
        rate = f"{r['acceptance']:.3f}" if r["kernel"] == "mala" else "-"
        lines.append(f"| {r['sampler']} | {r['gamma']:g} | {rate} | {r['final_gap']:.4f} | "
                     f"{_fmt(r['grads_to_gap'], r['budget'])} | {_speed(r['speedup_gap'])} | "
                     f"{_fmt(r['ula_grads_to_same_gap'], rows[0]['budget'])} | "
                     f"{_speed(r['speedup_at_own_gap'])} | {r['final_correlation']:.3f} | "
                     f"{corr} | {speed_corr} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
