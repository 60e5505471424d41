"""The README's picture: each bundled exemplar | ADSN | RPN | macrocanonical CNN samples.

    python scripts/readme_figure.py [--out docs/overview.png] [--iterations 500] [--chains 4]
        [--set NAME=VALUE ...]

CPU-sized: exemplars at most 128 px, default synthesis settings (``--set`` overrides fields
of :class:`~maxent_jax.tasks.texture.SynthesisConfig` for a study, e.g.
``--set delta_scale=pixels``; they are written to the JSON). Also writes, per exemplar,
the run's relative feature gaps (first step, last step, running average over the last half),
the chains' correlation with the exemplar at zero shift and with each other, ||theta|| and
its change over the last quarter, the run's warnings and its time to ``docs/overview.json``,
and the README's table on stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import jax
import numpy as np

from maxent_jax import metrics
from maxent_jax.run.diagnostics import theta_change, warnings
from maxent_jax import gaussian
from maxent_jax.exemplars import list_exemplars, load_exemplar
from maxent_jax.io import save_image
from maxent_jax.tasks.texture import SynthesisConfig, parse_overrides, synthesize
from maxent_jax.nn.backbone import load_network


def rgb(x: np.ndarray) -> np.ndarray:
    return np.repeat(x, 3, -1) if x.shape[-1] == 1 else x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/overview.png"))
    parser.add_argument("--iterations", type=int, default=SynthesisConfig().iterations)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                        help="override synthesis settings (SynthesisConfig fields)")
    args = parser.parse_args()
    try:
        overrides = parse_overrides(args.set)
    except ValueError as exc:
        parser.error(str(exc))
    variables, _ = load_network(None)
    rows, gaps = [], {}
    for name in list_exemplars():
        x0 = load_exemplar(name, size=args.size)
        key = jax.random.key(0)
        adsn = np.asarray(gaussian.adsn(key, x0))
        rpn = np.asarray(gaussian.random_phase_noise(key, x0))
        config = dataclasses.replace(SynthesisConfig(), **{
            "iterations": args.iterations, "chains": args.chains, **overrides})
        start = time.perf_counter()
        result = synthesize(x0, variables, config, progress=False)
        seconds = time.perf_counter() - start
        trace = result.trace
        gaps[name] = {"initial": float(trace["relative_gap"][0]),
                      "final": float(trace["relative_gap"][-1]),
                      "running_average": float(trace["running_average_gap"][-1]),
                      "corr_exemplar": float(np.mean(
                          metrics.layout_correlation(result.samples, x0)["zero_shift"])),
                      "corr_between": float(np.mean(
                          metrics.between_chain_correlation(result.samples))),
                      "theta_norm": float(trace["theta_norm"][-1]),
                      "theta_change_last_quarter": theta_change(trace["theta_norm"]),
                      "warnings": warnings(trace), "seconds": seconds}
        tiles = [x0, adsn, rpn] + list(result.samples)
        pad = np.ones((x0.shape[0], 4, x0.shape[-1]), np.float32)
        rows.append(np.concatenate(sum([[rgb(t), rgb(pad)] for t in tiles], [])[:-1], axis=1))
        print(name, gaps[name], flush=True)
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=1) for r in rows]
    save_image(args.out, np.concatenate(rows, axis=0))
    args.out.with_suffix(".json").write_text(json.dumps(
        {"columns": ["exemplar", "ADSN", "RPN"] + [f"CNN chain {i}" for i in range(args.chains)],
         "iterations": args.iterations, "overrides": overrides, "relative_gap": gaps}, indent=2) + "\n")
    print("| exemplar | gap: ADSN start | last step | running average | corr. with exemplar "
          "| corr. between chains | \\|theta\\| (change, last quarter) | time (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, g in gaps.items():
        print(f"| {name} | {g['initial']:.3f} | {g['final']:.3f} | {g['running_average']:.3f} "
              f"| {g['corr_exemplar']:+.2f} | {g['corr_between']:+.2f} | {g['theta_norm']:.1f} "
              f"({100 * g['theta_change_last_quarter']:.0f}%) | {g['seconds']:.0f} |")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
