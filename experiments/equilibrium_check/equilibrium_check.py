"""Are the chains draws of Pi_theta? Stein's ratio and the fixed-theta gap, fresh and warm starts.

    python experiments/equilibrium_check/equilibrium_check.py [--exemplars wood gravel] [--size 64]
        [--iterations 300] [--steps 300] [--chains 4] [--gamma G] [--continue-with S:G ...]
        [--set NAME=VALUE ...]
        [--out-dir docs/fidelity/equilibrium] [--save-states DIR] [--quick]

For each exemplar:

1. learn theta with the library defaults (:func:`maxent_jax.tasks.texture.synthesize`,
   ``--iterations`` outer steps, ``--chains`` chains, seed 0; ``--set inner_steps=10 ...``
   overrides any other field of :class:`~maxent_jax.tasks.texture.SynthesisConfig`); the
   model keeps theta_bar, the Polyak-Ruppert average of the last half;
2. Stein's ratio ``<X - mean X, grad U_theta(X)> / (d - C)`` (1 in expectation under
   Pi_theta, :mod:`maxent_jax.sampling.stein`), the mean ||grad U_theta||, the mean energy
   U_theta and the gap of the chains' mean of F, at the learning run's last states (at
   theta_bar and at the last iterate theta_N) and at fresh ADSN draws; the learning history
   (||theta_n||, the window means of Stein's ratio and the running gap at 50, 100, ... steps,
   and the change of ||theta|| over the last quarter that the run's warning uses);
3. at fixed theta_bar, ``--steps`` steps of the default sampler (ULA, the learning run's
   gamma; :func:`maxent_jax.tasks.sample.sample_model`) from fresh ADSN starts and from the
   learning run's last states (warm starts): the running gap of the samples' average of F
   (mean over the chains and the last half of the steps so far) after 50, 100, ... steps,
   and Stein's ratio over the last half.

4. with ``--continue-with ula:1e-6 mala:3e-7 ...``: the learning run's last states continued
   at theta_bar by each of these samplers and gammas for ``--steps`` steps: running gap,
   Stein's ratio, the samples' pixel standard deviation (mean over channels; the exemplar's
   beside it) and MALA's acceptance rate.

A sampler of Pi_theta_bar whose chains are at equilibrium keeps Stein's ratio at 1 and the
gap where it is; warm starts that drift away from F(x0) at fixed theta show that the
learning run's low gap came from theta following the chains.

Writes ``results.json`` in ``--out-dir`` and prints a markdown table; ``--save-states DIR``
also keeps each exemplar's model and the chains' last states for further runs (e.g.
``maxent-jax sample DIR/wood.model.npz --starts ...``). Tuning exemplars only
by default (the held-out ones may be named; the defaults were not tuned on this figure).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np

from maxent_jax.run.machine import describe_cpu
from maxent_jax.exemplars import load_exemplar
from maxent_jax.model import save_model
from maxent_jax.nn.backbone import load_network, prepare_backbone
from maxent_jax.run.diagnostics import running_gap, theta_change
from maxent_jax.sampling.energy import macrocanonical_energy
from maxent_jax.sampling.stein import stein_ratio
from maxent_jax.tasks.sample import sample_model
from maxent_jax.tasks.starts import adsn_starts
from maxent_jax.tasks.texture import SynthesisConfig, parse_overrides, synthesize

MARKS = (50, 100, 200, 300, 500, 1000, 2000, 5000, 10000)


def stein_at(backbone, model, theta: np.ndarray, positions: np.ndarray) -> dict[str, float]:
    """Stein's ratio, the mean ||grad U_theta||, the mean energy U_theta and the relative gap
    ``||mean F(X) - F(x0)|| / ||F(x0)||`` of the chains' mean at ``positions`` (N, H, W, C)."""
    energy = macrocanonical_energy(backbone.features, jnp.asarray(model.target),
                                   beta=float(model.beta), eps=float(model.eps),
                                   centre=jnp.asarray(model.centre),
                                   extensive=bool(model.extensive))
    value_and_grad = jax.jit(jax.vmap(jax.value_and_grad(
        lambda x: energy(jnp.asarray(theta), x), has_aux=True)))
    x = jnp.asarray(positions, jnp.float32)
    (u, gap), g = value_and_grad(x)
    return {"stein_ratio": float(stein_ratio(x, g)),
            "grad_norm": float(jnp.mean(jnp.sqrt(jnp.sum(g**2, axis=(1, 2, 3))))),
            "energy": float(jnp.mean(u)),
            "relative_gap": float(jnp.linalg.norm(jnp.mean(gap, axis=0))
                                  / jnp.linalg.norm(jnp.asarray(model.target)))}


def running_gaps(gaps: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Relative gap of the mean of the per-step gaps over [k/2, k), at the MARKS <= len
    (:func:`maxent_jax.run.diagnostics.running_gap`)."""
    running = running_gap(gaps, float(np.linalg.norm(target)))
    return {str(k): float(running[k - 1]) for k in MARKS if k <= len(gaps)}


def learning_history(trace: dict[str, np.ndarray]) -> dict[str, Any]:
    """||theta_n||, its change over the last quarter, and Stein's ratio and the running-average
    gap at the MARKS <= n (Stein's ratio as a mean over (k/2, k])."""
    norms = np.asarray(trace["theta_norm"], np.float64)
    stein = np.asarray(trace["stein_ratio"], np.float64)
    gaps = np.asarray(trace["running_average_gap"], np.float64)
    marks = sorted({k for k in MARKS if k <= len(norms)} | {len(norms)})
    return {"theta_change_last_quarter": theta_change(norms),
            "theta_norm": {str(k): float(norms[k - 1]) for k in marks},
            "stein_ratio": {str(k): float(stein[k // 2:k].mean()) for k in marks},
            "running_average_gap": {str(k): float(gaps[k - 1]) for k in marks}}


def check(name: str, variables: Any, digest: str, args: argparse.Namespace) -> dict[str, Any]:
    exemplar = load_exemplar(name, size=args.size)
    size = tuple(exemplar.shape[:2])
    extra = {} if args.gamma is None else {"gamma": args.gamma}
    if args.quick:
        extra["layers"] = ("relu1_1",)
    extra.update(args.set)
    config = SynthesisConfig(iterations=args.iterations, chains=args.chains,
                             checkpoint_every=min(50, args.iterations), **extra)
    backbone = prepare_backbone(config.spec(), variables, size, digest)
    t0 = time.perf_counter()
    learned = synthesize(exemplar, backbone, config, progress=False)
    learn_seconds = time.perf_counter() - t0
    model = learned.model
    fresh = np.asarray(adsn_starts(jax.random.key(args.seed + 1), jnp.asarray(exemplar), size,
                                   args.chains))
    out: dict[str, Any] = {
        "size": list(size), "config": config.to_json(), "learn_seconds": learn_seconds,
        "theta_norm": float(np.linalg.norm(model.theta)),
        "theta_last_distance": float(np.linalg.norm(model.theta - model.theta_last)),
        "learning_running_average_gap": float(learned.trace["running_average_gap"][-1]),
        "learning_stein_ratio_last_quarter": float(np.mean(
            learned.trace["stein_ratio"][-max(args.iterations // 4, 1):])),
        "learning_history": learning_history(learned.trace),
        "at_adsn_starts": stein_at(backbone, model, model.theta, fresh),
        "learning_end_theta_bar": stein_at(backbone, model, model.theta, learned.samples),
        "learning_end_theta_last": stein_at(backbone, model, model.theta_last,
                                            learned.samples),
    }
    ends = {}
    for label, starts in (("fresh", None), ("warm", learned.samples)):
        t0 = time.perf_counter()
        run = sample_model(model, backbone, num=args.chains, steps=args.steps,
                           seed=args.seed + 2, starts=starts)
        out[f"fixed_theta_{label}"] = {
            "running_gap": running_gaps(run.trace["gap"], model.target),
            "relative_gap": run.diagnostics["relative_gap"], "steps": args.steps,
            "stein_ratio_last_half": run.diagnostics["stein_ratio"],
            "end": stein_at(backbone, model, model.theta, run.samples),
            "seconds": time.perf_counter() - t0}
        ends[label] = run.samples
    if args.save_states is not None:
        args.save_states.mkdir(parents=True, exist_ok=True)
        save_model(args.save_states / f"{name}.model.npz", model)
        np.savez(args.save_states / f"{name}.states.npz", learning=learned.samples,
                 **{f"fixed_theta_{label}": np.asarray(r) for label, r in ends.items()})
    out["exemplar_pixel_std"] = float(np.asarray(exemplar).std(axis=(0, 1)).mean())
    out["learning_end_pixel_std"] = _pixel_std(learned.samples)
    for spec in args.continue_with:
        sampler, _, gamma = spec.partition(":")
        t0 = time.perf_counter()
        run = sample_model(model, backbone, num=args.chains, steps=args.steps,
                           sampler=sampler, gamma=float(gamma), seed=args.seed + 3,
                           starts=learned.samples)
        out[f"continued_{spec}"] = {
            "running_gap": running_gaps(run.trace["gap"], model.target),
            "stein_ratio_last_half": run.diagnostics["stein_ratio"],
            "acceptance": float(np.mean(run.trace["acceptance"])),
            "pixel_std": _pixel_std(run.samples),
            "finite": bool(np.isfinite(run.samples).all()),
            "seconds": time.perf_counter() - t0}
    return out


def _pixel_std(samples: np.ndarray) -> float:
    """Per-sample, per-channel standard deviation over the pixels, averaged."""
    return float(np.asarray(samples).std(axis=(1, 2)).mean())


def table(results: dict[str, dict[str, Any]]) -> str:
    lines = ["| exemplar | chains | theta | Stein's ratio | mean ‖grad U‖ | mean U | "
             "gap of the last states | gap (running average) |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        rows = [("ADSN draws", "theta_bar", r["at_adsn_starts"], None),
                ("learning run, last states", "theta_N", r["learning_end_theta_last"],
                 r["learning_running_average_gap"]),
                ("learning run, last states", "theta_bar", r["learning_end_theta_bar"], None)]
        for label in ("fresh", "warm"):
            f = r[f"fixed_theta_{label}"]
            what = "ADSN starts" if label == "fresh" else "warm starts (learning run's last states)"
            rows.append((f"{what}, {f['steps']} fixed-theta steps",
                         "theta_bar", f["end"], f["relative_gap"]))
        for what, theta, s, gap in rows:
            lines.append(f"| {name} | {what} | {theta} | {s['stein_ratio']:+.2f} | "
                         f"{s['grad_norm']:.2e} | {s['energy']:.3e} | {s['relative_gap']:.3f} | "
                         f"{'' if gap is None else f'{gap:.3f}'} |")
    return "\n".join(lines)




def _overrides(parser: argparse.ArgumentParser, items: list[str]) -> dict[str, Any]:
    """``--set``'s items as :func:`~maxent_jax.tasks.texture.parse_overrides` reads them; a
    bad one is a usage error (exit code 2)."""
    try:
        return parse_overrides(items)
    except ValueError as exc:
        parser.error(str(exc))


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--exemplars", nargs="+", default=["wood", "gravel"])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--iterations", type=int, default=300)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gamma", type=float, default=None,
                   help="Langevin step of the learning run and of the fixed-theta runs "
                        "(default: the library's, 1e-7)")
    p.add_argument("--continue-with", nargs="*", default=[], metavar="SAMPLER:GAMMA",
                   help="also continue the learning run's last states at theta_bar with "
                        "these samplers (ula or mala) and gammas, e.g. ula:1e-6 mala:3e-7")
    p.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                   help="override other learning settings (SynthesisConfig fields), e.g. "
                        "inner_steps=10 delta=0.002")
    p.add_argument("--out-dir", type=Path, default=Path("docs/fidelity/equilibrium"))
    p.add_argument("--save-states", type=Path, default=None, metavar="DIR",
                   help="also write DIR/<exemplar>.model.npz (theta_bar) and "
                        "DIR/<exemplar>.states.npz (the learning run's last states and the "
                        "fixed-theta runs' last states) for further checks")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: 16 px, relu1_1 only, 4 iterations and steps, 2 chains")
    args = p.parse_args(argv)
    args.set = _overrides(p, args.set)
    if args.quick:
        args.size, args.iterations, args.steps, args.chains = 16, 4, 4, 2
    return args


def _render(value: Any) -> str:
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in value.items())
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    variables, digest = load_network(None)
    results = {}
    for name in args.exemplars:
        results[name] = check(name, variables, digest, args)
        print(json.dumps({name: results[name]}, indent=1), flush=True)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    record = {"command": "python experiments/equilibrium_check/equilibrium_check.py " + " ".join(
        f"--{k.replace('_', '-')}" + ("" if v is True else f" {_render(v)}")
        for k, v in vars(args).items()
        if v is not None and v is not False and v != [] and v != {}),
        "machine": describe_cpu(),
        "jax": jax.__version__, "backend": jax.default_backend(),
        "total_seconds": time.perf_counter() - t0, "results": results}
    (args.out_dir / "results.json").write_text(json.dumps(record, indent=1) + "\n")
    print(table(results))
    for name, r in results.items():
        for key, c in r.items():
            if key.startswith("continued_"):
                print(f"{name} {key[10:]}: running gap {c['running_gap']}, Stein's ratio "
                      f"{c['stein_ratio_last_half']:.3g}, acceptance {c['acceptance']:.2f}, "
                      f"pixel std {c['pixel_std']:.3f} (exemplar {r['exemplar_pixel_std']:.3f}, "
                      f"learning run {r['learning_end_pixel_std']:.3f})")
    print(f"total {record['total_seconds']:.0f} s; wrote {args.out_dir / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
