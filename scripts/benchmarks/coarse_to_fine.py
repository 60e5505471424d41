"""Coarse-to-fine SOUL (``--scales``) beside the plain run: time and quality, one invocation.

    python scripts/benchmarks/coarse_to_fine.py [--exemplar gravel] [--size 128]
        [--iterations 600] [--chains 4] [--scales 32,64,128]
        [--modes tile:equal adsn:equal adsn:60,30,10] [--out results.json] [--quick]
        [--check-steps N] [--quadrants] [--save-dir DIR] [--plain-last] [--figure PNG]

Every mode learns from the same exemplar (crop 0 of the bundled image cut into ``--size``
crops, :func:`maxent_jax.metrics.real_crops`; the image itself when it holds fewer than two,
with the ADSN floor only) with the defaults and the same seed; the plain
run is ``scales`` None. Wall time includes compilation (what a user waits for). Quality is
measured on what no run optimises, on the **run output** (the chains' last iterates, the seed's
protocol), one value per chain with a 95% bootstrap interval:

* ``eval_gap``: ||mu_l(X) - mu_l(x0)|| / ||mu_l(x0)|| pooled over the ReLU layers of the
  evaluation network of docs/comparison (VGG-19 with ReLU and zero padding, not the CELU /
  circular network the runs constrain);
* patch sliced-Wasserstein (:func:`maxent_jax.metrics.patch_sliced_wasserstein`), normalised
  diversity, the layout correlation with the exemplar (zero shift) and between chains
  (:func:`maxent_jax.metrics.texture_metrics`);
* ``half_shift_correlation``: X against X shifted by half its size, 1 for the 2 x 2 tiling a
  doubling stage starts from: whether the last stage has undone the tiling;

beside the floors of :func:`maxent_jax.metrics.floor` (the other real crops; ADSN draws).
``--modes``: ``GROWTH:BUDGET[:SCALES]`` per coarse-to-fine run, GROWTH the ``--scale-growth``
(``adsn`` or ``tile``: window mode; ``upsample``, ``detail`` or ``pyramid-adsn``: the
resolution pyramid, ``--scale-mode pyramid``; a ``+reset`` suffix: ``--scale-theta reset``),
BUDGET the share of ``--iterations`` each scale gets (``equal``, or
shares such as ``60,30,10``), SCALES that mode's own ``--scales`` (default: ``--scales``).

``--check-steps N`` adds the second protocol, **frozen theta**: after each run, one new chain
per run chain from new ADSN starts (seed + 1) for N Langevin steps at the learned theta_bar
(:func:`maxent_jax.tasks.sample.sample_model`, what ``synthesize --check-steps`` does),
scored the same way, with its fixed-theta diagnostics (relative gap, Stein's ratio).
``--quadrants`` (automatic with one chain) scores the four quadrants of every
sample, with the exemplar's first quadrant as the reference and its other quadrants as the
real-crop floor, so one chain still gives an interval (over 4 quadrants: a within-chain
interval, narrower in meaning than one over chains). ``--save-dir`` keeps every mode's
samples (``.npy``, ``.png``). The JSON is rewritten after every mode, so a long invocation
that is stopped keeps what it finished; ``--plain-last`` runs the plain run last,
``--no-plain`` leaves it out (no speed-up then). ``--figure PNG`` writes one row: the
exemplar, then every mode's first chain, run output and (with ``--check-steps``) frozen theta,
in the order of the modes (:func:`figure_row`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
import sys
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from maxent_jax import metrics
from maxent_jax.exemplars import load_exemplar
from maxent_jax.io import save_image, write_atomic
from maxent_jax.nn.backbone import as_backbone
from maxent_jax.nn import features as feats
from maxent_jax.nn.vgg import vgg_variables, with_transposed_kernels
from maxent_jax.nn.weights import load_weights
from maxent_jax.tasks.texture import SynthesisConfig, synthesize
from maxent_jax.run.machine import describe_cpu

EVAL_SPEC = feats.get_spec(None, layers=tuple(feats.PRESETS["full"].layers), activation="relu",
                           pooling="avg", padding="zero")




def eval_gaps(variables: Any, samples: np.ndarray, exemplar: np.ndarray) -> np.ndarray:
    """Per sample: the pooled relative channel-mean gap in the evaluation network."""
    fn = jax.jit(lambda x: feats.features(EVAL_SPEC, variables, x))
    f0 = np.asarray(fn(jnp.asarray(exemplar)))
    return np.array([np.linalg.norm(np.asarray(fn(jnp.asarray(x))) - f0) / np.linalg.norm(f0)
                     for x in samples])


def half_shift_correlation(samples: np.ndarray) -> np.ndarray:
    """Per sample: the correlation of X with X circularly shifted by half its size, 1 for
    a 2 x 2 periodic tiling (what a doubling stage starts from), near 0 without one."""
    out = []
    for x in np.asarray(samples, np.float64):
        x = x - x.mean(axis=(0, 1))
        y = np.roll(x, (x.shape[0] // 2, x.shape[1] // 2), axis=(0, 1))
        out.append(float((x * y).sum() / max((x * x).sum(), 1e-30)))
    return np.array(out)


def quadrants(samples: np.ndarray) -> np.ndarray:
    """The four quadrants of every sample ``(N, H, W, C)``: ``(4 N, H // 2, W // 2, C)``."""
    samples = np.asarray(samples)
    h, w = samples.shape[1] // 2, samples.shape[2] // 2
    return np.concatenate([samples[:, i * h:(i + 1) * h, j * w:(j + 1) * w]
                           for i in range(2) for j in range(2)])


def scores(variables: Any, whole: np.ndarray, exemplar: np.ndarray,
           units: Any = np.asarray) -> dict[str, Any]:
    """Every metric with its 95% bootstrap interval, on ``units(whole)`` (the samples, or
    their quadrants); the half-shift correlation on the whole samples."""
    samples = units(whole)
    tm = metrics.texture_metrics(samples, exemplar)
    per = tm["per_sample"]
    out = {"eval_gap": eval_gaps(variables, samples, exemplar),
           "patch_sliced_wasserstein": per["patch_sliced_wasserstein"],
           "normalised_diversity": per["normalised_diversity"],
           "layout_zero_shift": per["layout_zero_shift"],
           "between_chain_correlation": per["between_chain_correlation"],
           "half_shift_correlation": half_shift_correlation(whole)}
    return {k: metrics.bootstrap_interval(v)._asdict() for k, v in out.items()}


def floors(metric: Any, image: np.ndarray, size: int, num: int) -> dict[str, Any]:
    """:func:`maxent_jax.metrics.floor` on ``size`` px crops; an image too small for two
    crops is the exemplar itself, with the ADSN floor only (``real`` NaN)."""
    if min(image.shape[:2]) >= 2 * size:
        return metrics.floor(metric, image, crop=size)
    from maxent_jax.gaussian import adsn

    x0 = np.asarray(image[:size, :size], np.float32)
    gauss = np.asarray(adsn(jax.random.key(0), x0, num=num))
    return {"real": float("nan"), "adsn": metric(gauss, x0), "exemplar": x0, "num": num}


def figure_row(exemplar: np.ndarray, panels: list[np.ndarray], gap: int = 4) -> np.ndarray:
    """The exemplar and ``panels`` (H x W x C images, grey shown as RGB) side by side, each
    clipped to [0, 1], separated by ``gap`` white columns; shorter panels are padded white
    at the bottom."""
    images = [np.asarray(x, np.float32) for x in (exemplar, *panels)]
    images = [np.repeat(x, 3, -1) if x.shape[-1] == 1 else x for x in images]
    height = max(x.shape[0] for x in images)
    columns = []
    for i, x in enumerate(images):
        pad = np.ones((height - x.shape[0], x.shape[1], 3), np.float32)
        columns.append(np.concatenate([np.clip(x, 0, 1), pad], 0))
        if i < len(images) - 1:
            columns.append(np.ones((height, gap, 3), np.float32))
    return np.concatenate(columns, 1)


def budgets(spec: str, iterations: int, count: int) -> tuple[int, ...] | None:
    if spec == "equal":
        return None
    shares = [float(s) for s in spec.split(",")]
    if len(shares) != count:
        raise SystemExit(f"--budgets {spec}: {count} shares needed")
    counts = [max(1, int(iterations * s / sum(shares))) for s in shares[:-1]]
    return tuple(counts + [iterations - sum(counts)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exemplar", default="gravel")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=600)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--scales", default="32,64,128")
    parser.add_argument("--modes", nargs="+", default=None,
                        help="default: tile:equal adsn:equal adsn:60,30,10 (with --quick: "
                             "tile:equal adsn:2,1)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--check-steps", type=int, default=0, metavar="N",
                        help="also score the frozen-theta protocol: N steps at theta_bar")
    parser.add_argument("--quadrants", action="store_true",
                        help="score quadrants (automatic with one chain)")
    parser.add_argument("--save-dir", type=Path, default=None,
                        help="write every mode's samples here (.npy, .png)")
    parser.add_argument("--no-plain", action="store_true",
                        help="only the coarse-to-fine modes (no speed-up then)")
    parser.add_argument("--plain-last", action="store_true",
                        help="run the plain run after the coarse-to-fine ones")
    parser.add_argument("--figure", type=Path, default=None, metavar="PNG",
                        help="one row: exemplar, each mode's first chain per protocol")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 32 px, 6 iterations, 2 chains, scales 16,32")
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.iterations, args.chains, args.scales = 32, 6, 2, "16,32"
        args.modes = args.modes or ["tile:equal", "adsn:2,1"]
    args.modes = args.modes or ["tile:equal", "adsn:equal", "adsn:60,30,10"]
    quads = args.quadrants or args.chains == 1
    weights = load_weights()
    network = with_transposed_kernels(vgg_variables(weights))
    image = load_exemplar(args.exemplar)
    exemplar = floors(metrics.patch_sliced_wasserstein, image, args.size, args.chains)["exemplar"]
    score_size = args.size // 2 if quads else args.size
    score_source = exemplar if quads else image
    floor_psw = floors(metrics.patch_sliced_wasserstein, score_source, score_size,
                       4 * args.chains if quads else args.chains)
    floor_div = floors(metrics.normalised_diversity, score_source, score_size,
                       4 * args.chains if quads else args.chains)
    reference = floor_psw["exemplar"]
    base = SynthesisConfig(iterations=args.iterations, chains=args.chains)
    modes = {"plain": base}
    for mode in args.modes:
        growth, _, rest = mode.partition(":")
        b, _, own = rest.partition(":")
        scales_text = own or args.scales
        scales = tuple(int(s) for s in scales_text.split(","))
        growth, reset = growth.removesuffix("+reset"), growth.endswith("+reset")
        pyramid = growth.startswith("pyramid-") or growth in ("upsample", "detail")
        growth = growth.removeprefix("pyramid-")
        name = (("pyramid, " if pyramid else "") + f"scales {scales_text}, {growth}, {b}"
                + (", theta reset" if reset else ""))
        modes[name] = dataclasses.replace(
            base, scales=scales, scale_growth=growth,
            scale_mode="pyramid" if pyramid else "window",
            scale_theta="reset" if reset else "carry",
            scale_iterations=budgets(b, args.iterations, len(scales)))
    if args.no_plain:
        del modes["plain"]
    elif args.plain_last:
        modes = {**{k: v for k, v in modes.items() if k != "plain"}, "plain": base}
    result: dict[str, Any] = {
        "command": "python scripts/benchmarks/coarse_to_fine.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "cpu": describe_cpu(), "jax": jax.__version__, "exemplar": args.exemplar,
        "size": args.size, "iterations": args.iterations, "chains": args.chains,
        "protocol": "run output (the chains' last iterates)",
        "protocols": ["run output"] + (["frozen theta"] if args.check_steps else []),
        "check_steps": args.check_steps,
        "scored_on": (f"the 4 quadrants ({score_size} px) of every sample, against the "
                      "exemplar's first quadrant" if quads else "whole samples"),
        "floors": {"patch_sliced_wasserstein": {"real": floor_psw["real"],
                                                "adsn": floor_psw["adsn"]},
                   "normalised_diversity": {"real": floor_div["real"],
                                            "adsn": floor_div["adsn"]}},
        "modes": {}}
    units = quadrants if quads else np.asarray
    panels: list[np.ndarray] = []
    for name, config in modes.items():
        start = time.perf_counter()
        run = synthesize(exemplar, network, config, progress=False)
        wall = time.perf_counter() - start
        entry = {"wall_s": wall, "scale_iterations": config.scale_iterations,
                 "scales": config.scales, "scale_mode": config.scale_mode,
                 "scale_growth": config.scale_growth, "scale_theta": config.scale_theta,
                 "final_relative_gap": float(run.trace["relative_gap"][-1]),
                 **scores(network, run.samples, reference, units)}
        print(f"{name}: {wall:.1f} s", flush=True)
        saved = {"run": run.samples}
        if args.check_steps:
            from maxent_jax.tasks.sample import sample_model

            start = time.perf_counter()
            backbone = as_backbone(network, config.spec(), run.samples.shape[1:3])
            check = sample_model(run.model, backbone, num=config.chains,
                                 steps=args.check_steps, seed=config.seed + 1)
            d = check.diagnostics
            entry["frozen"] = {"wall_s": time.perf_counter() - start,
                               "relative_gap": float(d["relative_gap"]),
                               "stein_ratio": float(d["stein_ratio"]),
                               **scores(network, check.samples, reference, units)}
            saved["frozen"] = check.samples
            print(f"{name}, frozen theta: gap {d['relative_gap']:.3f}, Stein "
                  f"{d['stein_ratio']:.3g}", flush=True)
        panels.extend(np.asarray(samples[0]) for samples in saved.values())
        if args.save_dir:
            slug = "".join(c if c.isalnum() else "_" for c in name)
            for protocol, samples in saved.items():
                write_atomic(args.save_dir / f"{slug}_{protocol}.npy",
                             lambda f, a=np.asarray(samples): np.save(f, a))
                for i, x in enumerate(samples):
                    save_image(args.save_dir / f"{slug}_{protocol}_{i}.png",
                               np.clip(np.asarray(x), 0, 1))
        result["modes"][name] = entry
        _write(args.out, result)
    plain = result["modes"]["plain"]["wall_s"] if "plain" in result["modes"] else None
    for r in result["modes"].values():
        r["speed_up"] = plain / r["wall_s"] if plain else None
    table = markdown(result)
    result["table"] = table
    if args.figure:
        row = figure_row(np.asarray(exemplar), panels)
        save_image(args.figure, row)
    print(table)
    _write(args.out, result)
    return 0


def _write(path: Path | None, result: dict[str, Any]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(result, indent=1, default=float).encode()
        write_atomic(path, lambda f: f.write(text))


def markdown(result: dict[str, Any]) -> str:
    keys = ("eval_gap", "patch_sliced_wasserstein", "normalised_diversity",
            "layout_zero_shift", "between_chain_correlation", "half_shift_correlation")
    lines = ["| mode | protocol | wall s | speed-up | " + " | ".join(keys) + " |",
             "|---|---|---:|---:|" + "---|" * len(keys)]
    for name, r in result["modes"].items():
        speed_up = f"{r['speed_up']:.2f}x" if r.get("speed_up") else "n/a"
        rows = [("run output", r, f"{r['wall_s']:.0f}", speed_up)]
        if "frozen" in r:
            rows.append(("frozen theta", r["frozen"], f"+{r['frozen']['wall_s']:.0f}", ""))
        for protocol, row, wall, speed in rows:
            cells = [f"{row[k]['estimate']:.3f} [{row[k]['low']:.3f}, {row[k]['high']:.3f}]"
                     for k in keys]
            lines.append(f"| {name} | {protocol} | {wall} | {speed} | " + " | ".join(cells)
                         + " |")
    f = result["floors"]
    lines.append(f"| floor: real crops / ADSN | | | | | "
                 f"{f['patch_sliced_wasserstein']['real']:.3f}"
                 f" / {f['patch_sliced_wasserstein']['adsn']:.3f} | "
                 f"{f['normalised_diversity']['real']:.3f} / "
                 f"{f['normalised_diversity']['adsn']:.3f} | | | |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
