"""Comparison study: ADSN, Gatys, Lu-Zhu-Wu, microcanonical and the macrocanonical model.

For every exemplar (bundled names or image paths; default: every bundled exemplar) this runs

* ADSN (Galerne, Gousseau & Morel 2011), the Gaussian maximum-entropy model;
* Gatys, Ecker & Bethge (NeurIPS 2015): Gram matrices + box-bounded L-BFGS;
* Lu, Zhu & Wu (AAAI 2016): FRAME with CNN filters, Langevin + stochastic gradient;
* microcanonical gradient descent (Bruna & Mallat 2018) on the ``full`` features;
* the macrocanonical CNN model (De Bortoli et al., SIMODS 2021) with the ``full``, ``deep``
  and ``shallow`` feature presets (:func:`maxent_jax.tasks.texture.synthesize`, its defaults
  except the theta step, ``--macro-delta``, 0.005: with the library's delta = 0.02, tuned on
  the ``paper`` preset, theta kept growing on the ``full`` and ``deep`` presets at 64 px and
  the samples turned over-contrasted within 300 iterations: on wood at 64 px, ``full``
  ended at relative gap 0.27 and colour W1 0.13 with delta = 0.02, 0.11 and 0.026 with 0.005),

all on the same VGG-19, and writes to ``--out-dir``:

* ``grid.png``: one row per exemplar: exemplar | one sample of each method;
* ``metrics.md`` and ``metrics.json``: the metrics of :mod:`maxent_jax.metrics` per exemplar
  and method (the JSON adds per-layer gaps, run times and every setting);
* with ``--save-samples``, every sample as ``samples/EXEMPLAR/METHOD_i.png``.

Metrics: feature gaps use the ``full`` preset (CELU, average pooling), Gram gaps Gatys' layers
(ReLU); every method is measured on the same scale whichever features it was fitted to.

Settings (``--size``, ``--iterations`` and ``--samples`` override any of them):

* ``--tiny``: 16 px, 3 iterations, 2 samples: a smoke run for CI (under a minute).
* default, CPU-sized: 64 px, 300 iterations (L-BFGS iterations for Gatys; gradient steps for
  the microcanonical descent; Langevin steps for the macrocanonical chains and for Lu-Zhu-Wu,
  i.e. 300 / 5 learning iterations of 5 steps), 2 samples. About 5 minutes per exemplar on 2
  CPU cores.
* ``--gpu``: the 256 px study: 256 px, 2000 L-BFGS iterations (DeepTextures' maxiter), 3000
  Langevin / descent steps (the reference setting of docs/reference.md §2), 4 samples:

      python scripts/compare.py --gpu --out-dir runs/compare256

Usage: ``python scripts/compare.py [--tiny | --gpu] --out-dir DIR [EXEMPLAR ...]``
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
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
from maxent_jax.tasks.gaussian import adsn
from maxent_jax.io import load_image, save_image

METHODS: tuple[str, ...] = ("adsn", "gatys", "lu_zhu_wu", "microcanonical",
                            "macro_full", "macro_deep", "macro_shallow")
LABELS: dict[str, str] = {
    "adsn": "ADSN", "gatys": "Gatys", "lu_zhu_wu": "Lu-Zhu-Wu",
    "microcanonical": "microcanonical", "macro_full": "macro. full",
    "macro_deep": "macro. deep", "macro_shallow": "macro. shallow",
}
EVAL_PRESET = "full"


class Study(NamedTuple):
    """Sizes and budgets of one study (see the module docstring)."""

    name: str
    size: int
    iterations: int
    gatys_iterations: int
    samples: int
    langevin_steps: int = 5
    macro_delta: Optional[float] = 0.005  # None: SynthesisConfig's default


STUDIES = {
    "tiny": Study("tiny", 16, 3, 3, 2, 1),
    "cpu": Study("cpu", 64, 300, 300, 2),
    "gpu": Study("gpu", 256, 3000, 2000, 4),
}

STUDY_NAMES = {"tiny": "Tiny (CI smoke)", "cpu": "CPU-sized", "gpu": "256 px"}

_gatys = jax.jit(gatys_synthesize, static_argnames=("config", "size", "num"))
_micro = jax.jit(microcanonical_synthesize, static_argnames=("config", "size", "num"))
_adsn = jax.jit(adsn, static_argnames=("num",))


def run_adsn(key, exemplar, variables, study: Study) -> np.ndarray:
    return np.asarray(_adsn(key, exemplar, num=study.samples))


def run_gatys(key, exemplar, variables, study: Study) -> np.ndarray:
    config = GatysConfig(iterations=study.gatys_iterations)
    return np.asarray(_gatys(key, exemplar, variables, config, num=study.samples)[0].position)


def run_lu_zhu_wu(key, exemplar, variables, study: Study) -> np.ndarray:
    config = LuZhuWuConfig(iterations=max(1, study.iterations // study.langevin_steps),
                           chains=study.samples, langevin_steps=study.langevin_steps)
    seed = int(jax.random.randint(key, (), 0, 2**31 - 1))
    return np.asarray(lzw_learn(exemplar, variables, config, seed=seed).state.positions)


def run_microcanonical(key, exemplar, variables, study: Study) -> np.ndarray:
    config = MicrocanonicalConfig(preset="full", iterations=study.iterations)
    return np.asarray(_micro(key, exemplar, variables, config, num=study.samples)[0].position)


def run_macro(preset: str, key, exemplar, variables, study: Study) -> np.ndarray:
    from maxent_jax.tasks.texture import SynthesisConfig, synthesize

    seed = int(jax.random.randint(key, (), 0, 2**31 - 1))
    config = SynthesisConfig(preset=preset, iterations=study.iterations, chains=study.samples,
                             seed=seed, checkpoint_every=study.iterations)
    if study.macro_delta is not None:
        config = dataclasses.replace(config, delta=study.macro_delta)
    return np.asarray(synthesize(np.asarray(exemplar), variables, config, progress=False).samples)


RUNNERS: dict[str, Callable] = {
    "adsn": run_adsn, "gatys": run_gatys, "lu_zhu_wu": run_lu_zhu_wu,
    "microcanonical": run_microcanonical,
    **{f"macro_{p}": functools.partial(run_macro, p) for p in ("full", "deep", "shallow")},
}


def load_exemplars(names: Sequence[str], size: int) -> dict[str, np.ndarray]:
    """Bundled names or image paths -> ``{name: (H, W, C)}`` with the longer side ``size``."""
    out = {}
    for name in names or list_exemplars():
        path = Path(name)
        image = load_image(path if path.is_file() else exemplar_path(name))
        out[path.stem] = resize_longer_side(image, size)
    return out


def make_evaluator(variables) -> Callable[[np.ndarray, np.ndarray], dict]:
    """``(samples, exemplar) -> metrics dict`` with jitted network functions."""
    spec = feats.get_spec(EVAL_PRESET)
    feature_fn = jax.jit(lambda x: feats.features(spec, variables, x))
    gram_spec = gatys_spec()
    activation_fn = jax.jit(lambda x: feats.vgg_for(gram_spec).apply(variables, x))
    return functools.partial(metrics.evaluate, feature_fn=feature_fn,
                             blocks=feats.layer_slices(spec), activation_fn=activation_fn)


def run_study(exemplars: dict[str, np.ndarray], variables, study: Study,
              methods: Sequence[str], seed: int = 0, log=print) -> dict[str, Any]:
    """Every method on every exemplar: ``{exemplar: {method: (samples, seconds)}}``."""
    results: dict[str, Any] = {}
    for e, (name, x0) in enumerate(exemplars.items()):
        results[name] = {}
        for m, method in enumerate(methods):
            key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), e), m)
            start = time.perf_counter()
            samples = RUNNERS[method](key, jnp.asarray(x0), variables, study)
            seconds = time.perf_counter() - start
            results[name][method] = (samples, seconds)
            log(f"{name:>10} {method:>15}: {seconds:7.1f} s")
    return results


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
           ("nearest_patch_distance", "NN-patch dist.", "{:.3f}"),
           ("copied_fraction", "copied patches", "{:.1%}"),
           ("seconds", "time (s)", "{:.0f}")]


def markdown_table(rows: dict[str, dict[str, float]]) -> str:
    """One markdown table: a row per method, the columns of ``COLUMNS``."""
    head = "| method | " + " | ".join(c[1] for c in COLUMNS) + " |"
    rule = "|---|" + "---:|" * len(COLUMNS)
    body = ["| " + LABELS.get(k, k) + " | "
            + " | ".join(fmt.format(v[c]) for c, _, fmt in COLUMNS) + " |"
            for k, v in rows.items()]
    return "\n".join([head, rule, *body])


def _mean_rows(summary: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    methods = next(iter(summary.values())).keys()
    return {m: {c: float(np.mean([summary[e][m][c] for e in summary])) for c, _, _ in COLUMNS}
            for m in methods}


LEGEND = """Columns (lower is closer to the exemplar, except diversity and NN-patch distance):
feature gap = ||F(X) - F(x0)|| / ||F(x0)|| with the `full` preset (VGG-19 channel means, CELU,
average pooling), of the sample mean of F ("mean", the macrocanonical constraint) or averaged
over samples ("per sample", the microcanonical one); Gram gap = relative Frobenius gap of Gatys'
Gram matrices (relu1_1, pool1-4), averaged over samples; spectrum dist. = RMS of log10 ratios of
radially averaged power spectra; colour W1 = Wasserstein-1 distance of the per-channel value
histograms; diversity = mean RMS difference between samples; NN-patch dist. = mean RMS distance
of 8x8 sample patches to their nearest exemplar patch; copied patches = share of those closer
than 0.02 (near-verbatim copies); time = wall-clock seconds of the run, compilation included.
Per-layer gaps and every setting are in metrics.json."""


def write_tables(out_dir: Path, summary, details, study: Study, header: str) -> None:
    """``metrics.md`` (a table per exemplar and their mean) and ``metrics.json``."""
    parts = [header, "", LEGEND, "", "## Mean over exemplars", "",
             markdown_table(_mean_rows(summary))]
    for name, rows in summary.items():
        parts += ["", f"## {name}", "", markdown_table(rows)]
    (out_dir / "metrics.md").write_text("\n".join(parts) + "\n")
    data = {"study": study._asdict(), "evaluation_preset": EVAL_PRESET,
            "summary": summary, "details": details}
    (out_dir / "metrics.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


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
    """Figure grid: a row per exemplar, columns exemplar | first sample of each method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols = len(exemplars), len(methods) + 1
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.6 * rows + 0.4), squeeze=False)
    for r, (name, x0) in enumerate(exemplars.items()):
        _show(axes[r, 0], x0)
        axes[r, 0].set_ylabel(name)
        for c, method in enumerate(methods, start=1):
            _show(axes[r, c], results[name][method][0][0])
    for c, label in enumerate(["exemplar"] + [LABELS[m] for m in methods]):
        axes[0, c].set_title(label, fontsize=9)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def evaluate_results(exemplars, results, evaluator) -> tuple[dict, dict]:
    """``(summary, details)``: headline numbers and every metric, per exemplar and method."""
    summary, details = {}, {}
    for name, x0 in exemplars.items():
        summary[name], details[name] = {}, {}
        for method, (samples, seconds) in results[name].items():
            m = evaluator(samples, x0)
            details[name][method] = m
            summary[name][method] = _summary(m, seconds)
    return summary, details


def save_samples(out_dir: Path, results) -> None:
    for name, by_method in results.items():
        for method, (samples, _) in by_method.items():
            for i, x in enumerate(samples):
                save_image(out_dir / "samples" / name / f"{method}_{i}.png", x)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("exemplars", nargs="*", metavar="EXEMPLAR",
                   help=f"bundled exemplar names or image paths (default: {list_exemplars()})")
    p.add_argument("--out-dir", type=Path, required=True, metavar="DIR")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--tiny", action="store_true", help="16 px, 3 iterations: a CI smoke run")
    mode.add_argument("--gpu", action="store_true", help="the 256 px study (for a GPU)")
    p.add_argument("--size", type=int, default=None, help="longer side of the exemplars (px)")
    p.add_argument("--iterations", type=int, default=None,
                   help="Langevin / descent steps (and L-BFGS iterations) per method")
    p.add_argument("--samples", type=int, default=None, help="samples (chains) per method")
    p.add_argument("--macro-delta", type=float, default=None,
                   help="theta step of the macrocanonical runs (default 0.005; 0: the "
                        "library default of SynthesisConfig)")
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
        study = study._replace(iterations=args.iterations, gatys_iterations=args.iterations)
    if args.samples:
        study = study._replace(samples=args.samples)
    if args.macro_delta is not None:
        study = study._replace(macro_delta=args.macro_delta if args.macro_delta > 0 else None)
    if study.size < 16 or study.samples < 1 or study.iterations < 1:
        raise SystemExit("compare.py: --size must be >= 16, --samples and --iterations >= 1")
    return study


def main(argv: Optional[Sequence[str]] = None) -> int:
    from maxent_jax.nn.backbone import load_network

    args = parse_args(argv)
    study = study_from_args(args)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(methods).difference(METHODS)
    if unknown:
        raise SystemExit(f"compare.py: unknown methods {sorted(unknown)}; choose from {METHODS}")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    exemplars = load_exemplars(args.exemplars, study.size)
    variables, _ = load_network(args.weights)
    results = run_study(exemplars, variables, study, methods, args.seed)
    summary, details = evaluate_results(exemplars, results, make_evaluator(variables))
    title = (f"{STUDY_NAMES[study.name]} study: {study.size} px, {study.iterations} "
             f"iterations ({study.gatys_iterations} L-BFGS), {study.samples} samples per method, "
             f"run on {jax.devices()[0].platform.upper()}")
    write_grid(args.out_dir / "grid.png", exemplars, results, methods, title)
    command = "python scripts/compare.py " + " ".join(sys.argv[1:] if argv is None else argv)
    write_tables(args.out_dir, summary, details, study,
                 f"# Comparison — {title}\n\nProduced by `{command}`.")
    if args.save_samples:
        save_samples(args.out_dir, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
