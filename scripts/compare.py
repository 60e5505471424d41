"""Comparison study: ADSN, Gatys, Lu-Zhu-Wu, microcanonical and the macrocanonical model.

For every exemplar (bundled names or image paths; default: the tuning and the held-out bundled
exemplars, ``--set``) this runs every method of :mod:`maxent_jax.study.methods` (ADSN, Gatys,
Lu-Zhu-Wu, the microcanonical descent and the macrocanonical model with the ``full``, ``deep``
and ``shallow`` presets) on the same VGG-19 (the machinery is :mod:`maxent_jax.study`; this
file parses the command line and prints), and writes to ``--out-dir``:

* ``grid.png``: one row per exemplar: exemplar | one sample of each row of the tables;
* ``metrics.md``: per exemplar set (tuning, held-out), the mean over its exemplars and one
  table per exemplar; each cell "value [95% interval] (floor: crops / ADSN)"; a computed
  sentence naming the leader on each metric; the total run time;
* ``metrics.json``: every value, per sample too, the floors, intervals, held-out layers,
  run times, the macrocanonical fixed-theta diagnostics and every setting;
* with ``--save-samples``, every sample as ``samples/EXEMPLAR/METHOD_i.png``.

Two protocols for the methods that learn parameters while they sample (Lu-Zhu-Wu and the
macrocanonical presets), each its own row, both from the same learning run: **run output**
(``METHOD_run``, the learning run's chains after its last iteration, what the seed and Lu, Zhu
& Wu show) and **frozen theta** (``METHOD_frozen``, new chains of the learned model at its
averaged theta_bar: a test of the model); :mod:`maxent_jax.study` says exactly how.

Metrics (definitions and references: ``docs/comparison/metrics_definitions.md``;
:mod:`maxent_jax.study.measure`) are those no method optimises; the floors are other crops of
the same real texture and exact ADSN samples (:mod:`maxent_jax.study.exemplars`).

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
import functools
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import jax

from maxent_jax.exemplars import list_exemplars
from maxent_jax.study import (METHODS, PROTOCOLS, STUDIES, STUDY_NAMES, Study,
                              default_exemplars, learning_iterations, make_activation_fn,
                              measure_all, prepare_exemplars, protocol_of, rows_of, run_study,
                              save_samples, write_grid, write_tables)

DEFINITIONS = Path(__file__).resolve().parents[1] / "docs" / "comparison" / "metrics_definitions.md"


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
             f"iterations ({study.gatys_iterations} L-BFGS, {learning_iterations(study)} "
             f"macrocanonical), {study.samples} samples per method, "
             f"run on {jax.devices()[0].platform.upper()}")
    write_grid(args.out_dir / "grid.png", exemplars, results, methods, title)
    if args.save_samples:
        save_samples(args.out_dir, results)
    command = "python scripts/compare.py " + " ".join(sys.argv[1:] if argv is None else argv)
    total = time.perf_counter() - start
    write_tables(args.out_dir, data, methods, study,
                 f"# Comparison — {title}\n\nProduced by `{command}`.", total, DEFINITIONS,
                 {"command": command, "methods": methods, "rows": rows_of(methods),
                  "protocols": {r: PROTOCOLS.get(protocol_of(r) or "", "single row")
                                for r in rows_of(methods)}}, args.seed)
    log(f"total time: {total:.0f} s ({total / 60:.1f} min); wrote {args.out_dir}/grid.png, "
          "metrics.md, metrics.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
