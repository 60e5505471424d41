"""The study's tables: per-metric summaries with intervals and floors, leaders, metrics.md.

Each cell is "value [95% interval] (floor: crops / ADSN)": the mean over samples and exemplars,
a stratified percentile bootstrap of it (:func:`maxent_jax.metrics.stratified_bootstrap_interval`)
and the same metric for real crops and exact ADSN samples (:func:`maxent_jax.metrics.floor`).
Each leader sentence ranks the single-row methods with one protocol's rows
(:func:`protocol_views`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NamedTuple, Optional, Sequence

import numpy as np

from maxent_jax import metrics
from maxent_jax.study.measure import EVAL_NETWORK, POOL_LAYERS, RELU_LAYERS
from maxent_jax.study.settings import (LABELS, PROTOCOLS, SETS, Study, method_of,
                                       protocol_of, rows_of)

__all__ = ["HELD_OUT", "Metric", "PER_SAMPLE", "POOLED", "cell", "definitions_link",
           "held_out_description", "leader_sentence", "leaders", "legend", "markdown_rows",
           "protocol_views", "set_sentences", "summarise", "summary_rows", "tables", "write_tables"]

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


def markdown_rows(head: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    """A markdown table: the header ``head``, then one line per row of ``body``, the first
    column left-aligned and the others right-aligned."""
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in body])


def tables(rows: dict[str, dict[str, Any]]) -> str:
    """The two markdown tables of one exemplar or one set mean."""
    first = markdown_rows(["method"] + [m.label for m in PER_SAMPLE] + ["time (s)"],
                   [[LABELS[k]] + [cell(r[m.key], m.fmt) for m in PER_SAMPLE]
                    + [f"{r['seconds']:.0f}"] for k, r in rows.items()])
    second = markdown_rows(["method", "held out (this row)"] + [m.label for m in HELD_OUT]
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


def definitions_link(out_dir: Path, definitions: Path) -> str:
    """The link from ``out_dir/metrics.md`` to the metric definitions page ``definitions``."""
    return os.path.relpath(Path(definitions).resolve(), out_dir.resolve())


def legend(link: str, study: Study, data: dict[str, Any]) -> str:
    """metrics.md's explanation of the cells, floors, protocols and exemplars."""
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
                 header: str, total_seconds: float, definitions: Path,
                 extra: Optional[dict] = None, seed: int = 0) -> dict[str, Any]:
    """``metrics.md`` (per set: the mean over its exemplars, a table per exemplar, a computed
    leader sentence; its legend links to the metric definitions page ``definitions``) and
    ``metrics.json``; returns the JSON data."""
    sets: dict[str, list[str]] = {}
    for name, entry in data.items():
        sets.setdefault(entry["set"], []).append(name)
    order = [s for s in SETS if s in sets]
    summary = {s: summary_rows(data, sets[s], methods, seed) for s in order}
    per_exemplar = {n: summary_rows(data, [n], methods, seed) for n in data}
    sentences = {s: set_sentences(summary[s], f"{SETS[s]} ({', '.join(sets[s])})")
                 for s in order}
    parts = [header, "", f"Total time: {total_seconds:.0f} s ({total_seconds / 60:.1f} min).",
             "", legend(definitions_link(out_dir, definitions), study, data), "", "## Leaders (computed)",
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
