"""Pilot: Langevin preconditioned by the inverse of the energy's curvature per frequency band.

    python experiments/curvature_pilot/curvature_pilot.py [--model PATH] [--caps 32 8] [--steps 300]
        [--learn-iterations 1000] [--check-steps 1000] [--delta D]
        [--out experiments/curvature_pilot/curvature_pilot.json] [--quick]

docs/mixing.md found the learned VGG energy of wood at 64 px stiffest at the lowest
frequencies and about 30 times softer at the highest: plain ULA at gamma = 1e-7 relaxes the
soft high-frequency modes 30 times slower than the stiff ones. This pilot tries the opposite of
the spectrum preconditioner: a Fourier multiplier that equalises the bands,

    m(k) = min(cap, c_top / c(band of |k|)),   c_top = max over bands of c,

with c the mean curvature ``v^T H v`` of U along random unit directions of the band
(:func:`mixing.band_curvature`, Hessian-vector products at two ADSN starts, three
directions each) of the model learned as in ``mixing.py`` (wood, 64 px, 300 iterations,
defaults). m = 1 on the stiffest band, so gamma = 1e-7 keeps plain ULA's step there.

1. **Fixed theta.** ``--chains`` chains from the same ADSN starts, ``--steps`` steps of ULA at
   gamma = 1e-7, plain and with M for each cap: running gap (mean over the chains and the last
   half of the steps so far), correlation with the start, pixel standard deviation, and at the
   end Stein's ratio (1 under Pi_theta) and the MALA probe's acceptance, plain and with M.
2. **Learning.** For each cap, ``synthesize`` with the defaults and M as the Langevin
   preconditioner (``--learn-iterations``, 4 chains, theta step ``--delta``; M enters
   through the ``precondition`` hook of :mod:`maxent_jax.tasks.texture`, replaced here for
   the run), then
   ``--check-steps`` steps at the learned theta_bar from new ADSN starts with the same M
   (:func:`maxent_jax.tasks.sample.sample_model`).

Writes ``--out`` (JSON) and prints a summary. Exploratory: one exemplar, one seed; the
multiplier is not a library option. ``--quick``: a smoke run at 16 px (numbers meaningless).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "benchmarks"))
import mixing  # noqa: E402  (the benchmark beside this file)

from maxent_jax.exemplars import load_exemplar  # noqa: E402
from maxent_jax.nn.backbone import load_network, prepare_backbone  # noqa: E402
from maxent_jax.run.diagnostics import running_gap  # noqa: E402
from maxent_jax.sampling.preconditioned import (Preconditioner,  # noqa: E402
                                                identity_preconditioner)
from maxent_jax.sampling.soul import probe_acceptance  # noqa: E402
from maxent_jax.sampling.stein import stein_dimension, stein_statistic  # noqa: E402
from maxent_jax.tasks import sample as sample_task  # noqa: E402
from maxent_jax.tasks import texture  # noqa: E402
from maxent_jax.tasks.starts import adsn_starts  # noqa: E402
from maxent_jax.run.machine import describe_cpu

GAMMA = 1e-7
MARKS = (50, 100, 200, 300, 500, 1000)


def _band_mask(band: list[float], size: tuple[int, int]) -> np.ndarray:
    """The rfft2 frequencies of radius in (lo, hi] cycles per pixel (hi = 0: the DC term)."""
    h, w = size
    radius = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :])
    lo, hi = band
    return (radius == 0) if hi == 0 else (radius > lo) & (radius <= hi)


def band_multiplier(curvature: list[dict[str, Any]], size: tuple[int, int],
                    cap: float) -> Preconditioner:
    """m(k) = min(cap, c_top / c_band) on the rfft2 grid (c_band floored at c_top / cap)."""
    top = max(row["curvature_mean"] for row in curvature)
    m = np.ones((size[0], size[1] // 2 + 1))
    for row in curvature:
        m[_band_mask(row["band"], size)] = top / max(row["curvature_mean"], top / cap)
    return Preconditioner(jnp.asarray(m, jnp.float32))


@contextlib.contextmanager
def preconditioned_by(precond: Preconditioner) -> Iterator[None]:
    """Within the block, the tasks' ``precondition="spectrum"`` hook returns ``precond``."""
    saved = texture.make_preconditioner, sample_task.make_preconditioner

    def make(kind, exemplar, size=None):
        return None if kind == "none" else precond

    texture.make_preconditioner = sample_task.make_preconditioner = make
    try:
        yield
    finally:
        texture.make_preconditioner, sample_task.make_preconditioner = saved


def stein_and_probe(backbone, model, positions, precond) -> dict[str, float]:
    potential = mixing.model_potential(backbone, mixing.model_arrays(model), model)
    grads = jax.jit(jax.vmap(jax.grad(lambda x: potential(x)[0])))(positions)
    stein = jnp.mean(jax.vmap(stein_statistic)(positions, grads))
    out = {"stein_ratio": float(stein / stein_dimension(positions.shape[1:]))}
    out["probe_plain"] = float(probe_acceptance(jax.random.key(3), positions, potential, GAMMA))
    if precond is not None:
        out["probe_preconditioned"] = float(probe_acceptance(jax.random.key(3), positions,
                                                             potential, GAMMA, precond))
    return out


def _at_marks(values: np.ndarray) -> dict[str, float]:
    return {str(k): float(values[k - 1]) for k in MARKS if k <= len(values)}


def _pixel_std(x: np.ndarray) -> float:
    return float(np.mean(np.std(np.asarray(x), axis=(1, 2))))


def fixed_theta(backbone, model, starts, precond, steps: int, chunk: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    run = mixing.run_sampler(backbone, model, starts, "ula", GAMMA, precond, steps, chunk, 0)
    out = {"running_gap": _at_marks(running_gap(run["gap"], np.linalg.norm(model.target))),
           "correlation_with_start": _at_marks(run["correlation"].mean(axis=1)),
           "pixel_std": _pixel_std(run["positions"]),
           **stein_and_probe(backbone, model, jnp.asarray(run["positions"]), precond)}
    out["seconds"] = time.perf_counter() - t0
    return out


def learning(exemplar, variables, digest, precond, args) -> dict[str, Any]:
    t0 = time.perf_counter()
    config = texture.SynthesisConfig(iterations=args.learn_iterations, chains=4,
                                     precondition="spectrum", delta=args.delta,
                                     checkpoint_every=min(50, args.learn_iterations),
                                     **({"layers": ("relu1_1",)} if args.quick else {}))
    size = tuple(exemplar.shape[:2])
    backbone = prepare_backbone(config.spec(), variables, size, digest)
    with preconditioned_by(precond):
        learned = texture.synthesize(exemplar, backbone, config, progress=False)
        check = sample_task.sample_model(learned.model, backbone, num=4,
                                         steps=args.check_steps, seed=1,
                                         precondition="spectrum")
    trace = learned.trace
    quarter = max(len(trace["theta_norm"]) // 4, 1)
    return {"theta_norm": _at_marks(trace["theta_norm"]),
            "projected_last_quarter": float(np.mean(trace["projected"][-quarter:])),
            "running_average_gap": float(trace["running_average_gap"][-1]),
            "stein_ratio_last_quarter": float(np.mean(trace["stein_ratio"][-quarter:])),
            "pixel_std": _pixel_std(learned.samples),
            "fixed_theta_check": {"relative_gap": check.diagnostics["relative_gap"],
                                  "stein_ratio": check.diagnostics["stein_ratio"],
                                  "pixel_std": _pixel_std(check.samples)},
            "seconds": time.perf_counter() - t0}


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=None,
                   help="the fixed-theta model (mixing.py's; learned and written if missing)")
    p.add_argument("--caps", type=float, nargs="+", default=[32.0, 8.0])
    p.add_argument("--chains", type=int, default=8)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--learn-iterations", type=int, default=1000)
    p.add_argument("--check-steps", type=int, default=1000)
    p.add_argument("--delta", type=float, default=texture.SynthesisConfig.delta,
                   help="theta step of the learning runs (default: the library's)")
    p.add_argument("--out", type=Path, default=Path("experiments/curvature_pilot/curvature_pilot.json"))
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    args.exemplar, args.size, args.iterations, args.learn_chains, args.seed = (
        "wood", 64, 300, 4, 0)
    if args.quick:
        args.size, args.iterations, args.learn_chains, args.chains = 16, 2, 2, 2
        args.steps, args.learn_iterations, args.check_steps = 4, 2, 2
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    variables, digest = load_network(None)
    exemplar = load_exemplar(args.exemplar, size=args.size)
    model, _ = mixing.learn(exemplar, variables, args)
    size = tuple(exemplar.shape[:2])
    backbone = prepare_backbone(model.spec, variables, size, digest)
    starts = adsn_starts(jax.random.key(11), jnp.asarray(model.exemplar), size, args.chains)
    curvature = mixing.band_curvature(backbone, model, starts[:2], identity_preconditioner(size),
                                      args.seed, 1 if args.quick else 3)
    chunk = min(mixing.CHUNK, args.steps)
    out: dict[str, Any] = {"command": "python " + " ".join(sys.argv), "machine":
                           describe_cpu(), "jax": jax.__version__, "gamma": GAMMA,
                           "curvature": curvature, "fixed_theta": {}, "learning": {}}
    out["fixed_theta"]["plain"] = fixed_theta(backbone, model, starts, None, args.steps, chunk)
    for cap in args.caps:
        precond = band_multiplier(curvature, size, cap)
        key = f"cap {cap:g}"
        out.setdefault("multiplier_per_band", {})[key] = [float(np.asarray(
            precond.multiplier)[_band_mask(row["band"], size)].mean()) for row in curvature]
        out["fixed_theta"][key] = fixed_theta(backbone, model, starts, precond, args.steps,
                                              chunk)
        out["learning"][key] = learning(exemplar, variables, digest, precond, args)
        print(key, json.dumps({"fixed_theta": out["fixed_theta"][key],
                               "learning": out["learning"][key]}), flush=True)
    print("plain", json.dumps(out["fixed_theta"]["plain"]))
    out["total_seconds"] = time.perf_counter() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(f"total {out['total_seconds']:.0f} s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
