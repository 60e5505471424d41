"""Do the chains sample the model, or copy the exemplar's layout? Measured per setting.

    python experiments/fidelity_study/fidelity_study.py [--exemplars brick wood] [--size 64] [--iterations 300]
                                     [--chains 4] [--out-dir docs/fidelity] [--configs ...]

For each exemplar (shrunk to ``--size`` px) and each setting below, ``--chains`` chains start
from independent ADSN draws and run SOUL (``maxent_jax.tasks.texture.synthesize``, paper
preset unless said). Reported (``maxent_jax.metrics``):

* ``corr0``: mean correlation of each chain's last sample with the exemplar at zero shift
  (grey, mean removed, unit RMS); ``corr*``: the same at the best circular shift;
* ``between``: mean zero-shift correlation between the chains' last samples;
* the same three for the ADSN starts (the spread that independent stationary draws show);
* ``gap``: mean relative feature gap over the last 50 steps (in ``results.json`` also the gap
  of the running average over the last half, ``running_average_gap``); ``|theta|`` at the
  end and its growth per step over the last quarter.

Settings, each spelled out in full so that the results do not move with the library's
defaults: ``old`` (the 0.2.0 defaults: zero padding, optimistic theta step b = 10, eps = 0,
no projection); ``reflect`` / ``circular`` (``old`` with that padding); ``sgd`` (``old`` with
the plain SOUL theta step); ``sgd+eps`` (and eps = 1 / s^2, s the exemplar's pixel standard
deviation: the maximum-entropy reference measure with the exemplar's variance, as
Lu-Zhu-Wu's); ``circular+sgd+eps``; ``shallow`` (blocks 1-3 only); ``+decay`` (SOUL's
decreasing schedules); ``defaults`` (the library's current defaults). Writes
``results.json``, ``samples.png`` (exemplar | ADSN start | chain 0 of each setting) and a
markdown table on stdout. Tune on the four tuning exemplars only; the held-out ones
(``heldout_*``) may only confirm a choice made without them.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np

from maxent_jax import metrics
from maxent_jax.exemplars import load_exemplar
from maxent_jax.nn.backbone import load_network
from maxent_jax.tasks.texture import SynthesisConfig, initial_positions, synthesize

OLD = {"padding": "zero", "theta_step": "optimistic", "optimism": 10.0, "eps": 0.0,
       "projection": "none"}  # the 0.2.0 defaults
CONFIGS = {
    "old": OLD,
    "reflect": OLD | {"padding": "reflect"},
    "circular": OLD | {"padding": "circular"},
    "sgd": OLD | {"theta_step": "soul"},
    "sgd+eps": OLD | {"theta_step": "soul", "eps": "1/var"},
    "circular+sgd+eps": OLD | {"padding": "circular", "theta_step": "soul", "eps": "1/var"},
    "shallow": OLD | {"preset": "shallow"},
    "circular+sgd+eps+decay": OLD | {"padding": "circular", "theta_step": "soul", "eps": "1/var",
                                     "decay": True},
    "defaults": {},
}


def layout(samples: np.ndarray, exemplar: np.ndarray) -> dict[str, float]:
    corr = metrics.layout_correlation(samples, exemplar)
    return {"corr0": float(np.mean(corr["zero_shift"])),
            "corr_best": float(np.mean(corr["best_shift"])),
            "between": float(np.mean(metrics.between_chain_correlation(samples)))}


def run_one(name: str, exemplar: np.ndarray, variables, args) -> dict:
    overrides = dict(CONFIGS[name])
    if overrides.get("eps") == "1/var":
        overrides["eps"] = float(1.0 / np.var(exemplar))
    config = SynthesisConfig(iterations=args.iterations, chains=args.chains,
                             checkpoint_every=args.iterations, seed=args.seed, **overrides)
    start = time.perf_counter()
    result = synthesize(exemplar, variables, config, progress=False)
    trace = result.trace
    quarter = max(1, args.iterations // 4)
    theta = trace["theta_norm"]
    return {"config": overrides, "seconds": time.perf_counter() - start,
            **layout(result.samples, exemplar),
            "gap": float(np.mean(trace["relative_gap"][-50:])),
            "running_average_gap": float(trace["running_average_gap"][-1]),
            "theta_norm": float(theta[-1]),
            "theta_growth_per_step": float((theta[-1] - theta[-quarter]) / quarter),
            "sample0": result.samples[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exemplars", nargs="+", default=["brick", "wood"],
                        help="bundled names; held-out ones only to confirm, never to tune")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--out-dir", type=Path, default=Path("docs/fidelity"))
    args = parser.parse_args()
    variables, _ = load_network(None)
    results, rows = {}, []
    for name in args.exemplars:
        x0 = load_exemplar(name, size=args.size)
        init_key = jax.random.split(jax.random.key(args.seed))[0]  # synthesize's starts
        starts = np.asarray(initial_positions(init_key, x0, SynthesisConfig(chains=args.chains)))
        results[name] = {"adsn_start": layout(starts, x0)}
        images = [x0, starts[0]]
        for config in args.configs:
            out = run_one(config, x0, variables, args)
            images.append(out.pop("sample0"))
            results[name][config] = out
            print(f"{name} {config}: {json.dumps({k: v for k, v in out.items() if k != 'config'})}",
                  flush=True)
        rows.append((name, images))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "results.json").write_text(json.dumps(
        {"settings": vars(args) | {"out_dir": str(args.out_dir)}, "results": results},
        indent=2, sort_keys=True) + "\n")
    _grid(rows, ["exemplar", "ADSN start"] + args.configs, args.out_dir / "samples.png")
    print(_table(results, args.configs))


def _table(results: dict, configs: list[str]) -> str:
    lines = ["| exemplar | setting | corr0 | corr* | between | gap | \\|theta\\| | growth/step |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, res in results.items():
        s = res["adsn_start"]
        lines.append(f"| {name} | ADSN start | {s['corr0']:+.2f} | {s['corr_best']:.2f} | "
                     f"{s['between']:+.2f} | | | |")
        for c in configs:
            r = res[c]
            lines.append(f"| {name} | {c} | {r['corr0']:+.2f} | {r['corr_best']:.2f} | "
                         f"{r['between']:+.2f} | {r['gap']:.3f} | {r['theta_norm']:.1f} | "
                         f"{r['theta_growth_per_step']:+.3f} |")
    return "\n".join(lines)


def _grid(rows, labels, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), len(labels), figsize=(1.6 * len(labels), 1.7 * len(rows)),
                             squeeze=False)
    for r, (name, images) in enumerate(rows):
        for c, img in enumerate(images):
            ax = axes[r, c]
            img = np.clip(np.asarray(img), 0, 1)
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            if r == 0:
                ax.set_title(labels[c], fontsize=7)
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
