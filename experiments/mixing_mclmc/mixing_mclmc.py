"""blackjax's MCLMC against plain ULA at a fixed learned theta: gradient evaluations to equal gap.

    python experiments/mixing_mclmc/mixing_mclmc.py [--model PATH] [--steps 600] [--chains 8]
        [--step-sizes 0.02 0.05 0.1 0.2] [--L 1.0] [--out experiments/mixing_mclmc/mclmc.json]

Needs ``pip install blackjax==1.7.1`` (not a dependency of the library). The model and the
starts are those of ``scripts/benchmarks/mixing.py`` (wood, 64 px, the library defaults,
300 learning iterations, 4 chains; ``--chains`` ADSN starts drawn with ``key(0)``); the model
is learned here unless ``--model`` names a file (written if missing).

Microcanonical Langevin Monte Carlo (Robnik, De Luca, Silverstein & Seljak, JMLR 2023;
blackjax ``mclmc``) moves each chain at a fixed speed: x' = x + eps u, with the unit velocity
u turned towards -grad U by the isokinetic update and partially refreshed with decoherence
length L. One velocity-Verlet step costs one gradient evaluation, as one ULA step does. For
each step size eps, the running gap ``||mean F(X) - F(x0)|| / ||F(x0)||`` (mean over the
chains and the last half of the steps so far) after 50, 100, 300 and ``--steps`` steps is
put beside plain ULA's at gamma = 1e-7 after as many gradient evaluations (read from
``docs/mixing/results.json``, the same model and starts; ULA ran 300 steps there), with
Stein's ratio (:mod:`maxent_jax.sampling.stein`; 1 at equilibrium) of the last states and
per chunk of 50 steps, the variance per dimension of the energy error, which MCLMC's own
tuning aims to keep at 5e-4, the samples' pixel standard deviation and their correlation
with their starts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "benchmarks"))
import mixing  # noqa: E402  (the benchmark next to this file: model, potential, running gap)

from maxent_jax.exemplars import load_exemplar  # noqa: E402
from maxent_jax.nn.backbone import load_network, prepare_backbone  # noqa: E402
from maxent_jax.sampling.stein import (stein_dimension, stein_ratio,  # noqa: E402
                                       stein_statistic)
from maxent_jax.tasks.starts import adsn_starts  # noqa: E402
from maxent_jax.run.machine import describe_cpu

ULA_RESULTS = Path(__file__).resolve().parents[2] / "docs" / "mixing" / "results.json"
CHUNK = 50


def run_mclmc(potential, starts, step_size: float, L: float, steps: int, seed: int):
    """``steps`` MCLMC steps (isokinetic velocity Verlet) of every chain; per step the chains'
    mean gap F - F(x0) and Stein's ratio at the positions the step starts from (the state
    carries grad log density, so the ratio costs no extra pass) and the energy error; per
    chunk of CHUNK steps the pixel standard deviation and the correlation with the starts."""
    import blackjax

    algorithm = blackjax.mclmc(lambda x: -potential(x)[0], L=L, step_size=step_size,
                               integrator=blackjax.mcmc.integrators.isokinetic_velocity_verlet)
    chains = starts.shape[0]
    state = jax.vmap(algorithm.init)(starts, jax.random.split(jax.random.key(seed), chains))

    dim = stein_dimension(starts.shape[1:])

    @jax.jit
    def run(state, key):
        def body(s, k):
            new, info = jax.vmap(algorithm.step)(jax.random.split(k, chains), s)
            gap = jax.vmap(lambda x: potential(x)[1])(s.position).mean(0)
            # grad U = -grad log density
            stein = jax.vmap(stein_statistic)(s.position, -s.logdensity_grad).mean() / dim
            return new, (gap, stein, info.energy_change)
        return jax.lax.scan(body, state, jax.random.split(key, CHUNK))

    gaps, steins, errors, chunks = [], [], [], []
    key = jax.random.key(seed + 1)
    for _ in range(steps // CHUNK):
        key, sub = jax.random.split(key)
        state, (gap, stein, error) = run(state, sub)
        gaps.append(np.asarray(gap))
        steins.append(np.asarray(stein))
        errors.append(np.asarray(error))
        x = np.asarray(state.position)
        chunks.append({"pixel_std": float(x.std(axis=(1, 2)).mean()),
                       "start_correlation": float(np.mean(np.asarray(
                           mixing.start_correlation(state.position, starts))))})
    return (state, np.concatenate(gaps), np.concatenate(steins), np.concatenate(errors),
            chunks)


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--chains", type=int, default=8)
    p.add_argument("--step-sizes", type=float, nargs="+", default=[0.02, 0.05, 0.1])
    p.add_argument("--L", type=float, default=1.0)
    p.add_argument("--out", type=Path, default=Path("experiments/mixing_mclmc/mclmc.json"))
    args = p.parse_args(argv)
    if args.steps % CHUNK:
        raise SystemExit(f"--steps must be a multiple of {CHUNK}")
    t0 = time.perf_counter()
    variables, digest = load_network(None)
    exemplar = load_exemplar("wood", size=64)
    learn_args = argparse.Namespace(model=args.model, quick=False, iterations=300,
                                    learn_chains=4)
    model, _ = mixing.learn(exemplar, variables, learn_args)
    size = tuple(exemplar.shape[:2])
    backbone = prepare_backbone(model.spec, variables, size, digest)
    starts = adsn_starts(jax.random.key(0), jnp.asarray(model.exemplar), size, args.chains)
    potential = mixing.model_potential(backbone, mixing.model_arrays(model), model)
    grad = jax.jit(jax.vmap(jax.grad(lambda x: potential(x)[0])))
    ula = json.loads(ULA_RESULTS.read_text())["runs"]["ULA"]["running_gap"]
    marks = sorted({k for k in (50, 100, 300, args.steps) if k <= args.steps})
    rows = []
    for eps in args.step_sizes:
        start = time.perf_counter()
        state, gaps, steins, errors, chunks = run_mclmc(potential, starts, eps, args.L,
                                                        args.steps, seed=5)
        rg = mixing.running_gap(gaps, np.asarray(model.target))
        x = state.position
        per_chunk = [dict(steps=(i + 1) * CHUNK, running_gap=float(rg[(i + 1) * CHUNK - 1]),
                          stein_ratio=float(steins[i * CHUNK:(i + 1) * CHUNK].mean()),
                          energy_error_var_per_dim=float(
                              np.var(errors[i * CHUNK:(i + 1) * CHUNK]) / x[0].size), **c)
                     for i, c in enumerate(chunks)]
        rows.append({"step_size": eps, "L": args.L,
                     "running_gap": {str(k): float(rg[k - 1]) for k in marks},
                     "ula_running_gap_same_gradients": {
                         str(k): (float(ula[k - 1]) if k <= len(ula) else None) for k in marks},
                     "stein_ratio_end": float(stein_ratio(x, grad(x))),
                     "energy_error_var_per_dim": float(np.var(errors[-CHUNK:]) / x[0].size),
                     "per_chunk": per_chunk,
                     "finite": bool(jnp.isfinite(x).all()),
                     "seconds": time.perf_counter() - start})
        print(json.dumps(rows[-1]), flush=True)
    record = {"command": "python experiments/mixing_mclmc/mixing_mclmc.py " + " ".join(argv or sys.argv[1:]),
              "machine": describe_cpu(), "jax": jax.__version__,
              "blackjax": __import__("blackjax").__version__, "chains": args.chains,
              "total_seconds": time.perf_counter() - t0, "runs": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"| eps | running gap after {', '.join(map(str, marks))} grads | ULA 1e-7 at the same "
          f"| Stein's ratio at the end | energy error var / dim |\n|---:|---|---|---:|---:|")
    for r in rows:
        print(f"| {r['step_size']:g} | " + " / ".join(f"{v:.3f}" for v in r["running_gap"].values())
              + " | " + " / ".join("-" if v is None else f"{v:.3f}" for v in
                                   r["ula_running_gap_same_gradients"].values())
              + f" | {r['stein_ratio_end']:+.2f} | {r['energy_error_var_per_dim']:.3g} |")
    for r in rows:
        print(f"eps {r['step_size']:g}, per {CHUNK} steps: " + "; ".join(
            f"{c['steps']}: gap {c['running_gap']:.3f}, Stein {c['stein_ratio']:+.2f}, pixel std "
            f"{c['pixel_std']:.3f}, corr. with start {c['start_correlation']:.2f}"
            for c in r["per_chunk"]))
    print(f"total {record['total_seconds']:.0f} s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
