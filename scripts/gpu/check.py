"""One device lease, the current defaults at the seed's scale: step times and the seed's runs.

    bash scripts/gpu/check.sh [--tiny] [--previous DIR] [--budget SECONDS] [--parts ...]

What it measures (issue 30), in this order, each part skipped when ``--previous`` already holds it:

timing
    seconds per SOUL step at 256 and 512 px for 1, 8 and 16 chains, float32 and tf32: the jitted
    ``soul_run`` scan with the defaults' network (:class:`maxent_jax.tasks.texture.SynthesisConfig`)
    beside the eager PyTorch reference loop of docs/reference.md §2 in the same process
    (``scripts/benchmarks/soul.py``; two forwards and one backward per step, the chains batched).
runs
    the seed's run with the defaults: ``maxent-jax synthesize EXEMPLAR --max-side 256
    --iterations 10000 --chains 8 --check-steps 1000`` for two bundled exemplars and one
    held-out exemplar, checkpointing every 500 steps.
scales
    the same with ``--scales 64,128,256`` when ``synthesize`` has that option (coarse-to-fine
    learning); otherwise recorded as "not available in this version".

The whole call stops within ``--budget`` seconds (default 540: 9 minutes of a 10-minute command).
A run cut by the budget keeps its last checkpoint; everything comes back in at most 8 files (the
device tool's limit): ``check.json`` (every figure, and each run's state), ``log.txt`` and one
``run_NAME.tar`` per run (its outputs, or its checkpoint if unfinished). To finish the job, copy
``check.json`` and the unfinished runs' tars into a folder of the repository that travels (e.g.
``.gpu/previous``) and call again with ``--previous .gpu/previous``: finished parts are kept,
unfinished runs continue from their checkpoint (``synthesize --resume``, bit-identical to an
uninterrupted run).

``--tiny`` is the CPU rehearsal (tested in CI): the same code paths at 32 px, 2 chains, a few
steps, one coarse-to-fine run, in about two minutes (its runs use ``--preset shallow
--probe-every 0``, whose compilation is shorter; its timing rows compile the defaults' network). ``--report DIR`` (here, after the
lease) unpacks the tars of a fetched folder and prints the Markdown tables for docs/gpu/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple, Optional

ROOT = Path(__file__).resolve().parents[2]
EXEMPLARS = ("gravel", "wood", "heldout_galaxies")  # two bundled, one held out (PROVENANCE.md)
KEEP = ("checkpoint.npz", "samples.npy", "config.json", "model.npz", "trace.npz", "trace.png",
        "exemplar.png", "sample_000.png", "sample_001.png", "average_000.png")
"""What a finished run's tar holds, in the order files are left out when it is too large."""
TAR_LIMIT = 15 * 2**20  # bytes of one run's tar (the device returns files of at most 16 MiB)
MARGIN_S = 25.0  # kept free at the end of the budget for packing the tars and check.json


class Plan(NamedTuple):
    sizes: tuple[int, ...]
    chains: tuple[int, ...]
    precisions: tuple[str, ...]
    timing_steps: int
    side: int
    iterations: int
    run_chains: int
    check_steps: int
    checkpoint_every: int
    scales: str
    run_args: tuple[str, ...]  # the rehearsal's runs: the shallow preset, no probe: faster compiles
    scale_exemplars: int  # how many of EXEMPLARS also run coarse to fine


PLANS = {
    "full": Plan((256, 512), (1, 8, 16), ("float32", "tf32"), 10,
                 256, 10000, 8, 1000, 500, "64,128,256", (), 3),
    "tiny": Plan((32,), (2,), ("float32", "tf32"), 2,
                 32, 8, 2, 2, 4, "16,32", ("--preset", "shallow", "--probe-every", "0"), 1),
}


def machine() -> dict[str, Any]:
    import jax

    from maxent_jax.run.machine import describe_cpu

    cpu = describe_cpu()
    out: dict[str, Any] = {"jax": jax.__version__, "backend": jax.default_backend(),
                           "device": jax.devices()[0].device_kind, "cpu": cpu,
                           "cpu_count": os.cpu_count(), "python": platform.python_version()}
    try:
        import torch

        out["torch"] = torch.__version__
        out["torch_device"] = (torch.cuda.get_device_name() if torch.cuda.is_available()
                               else "cpu")
    except ImportError:
        out["torch"] = None
    return out


def prepare_weights(tiny: bool, work: Path) -> Path:
    """The float16 copy expanded to float32 (the file ``--weights`` reads). The rehearsal makes
    the copy itself from the installed weights, so it runs the same ``expand`` as the device."""
    half = ROOT / ".gpu" / "vgg16bit.npz"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = str(ROOT / "scripts" / "gpu" / "half_weights.py")
    if tiny and not half.is_file():
        half = work / "vgg16bit.npz"
        subprocess.run([sys.executable, script, "export", "-o", str(half)], check=True, env=env,
                       stdout=subprocess.DEVNULL)
    if not half.is_file():
        raise SystemExit(f"check: {half} is missing; make it here with "
                         "`python scripts/gpu/half_weights.py export -o .gpu/vgg16bit.npz` "
                         "and carry .gpu")
    full = work / "vgg.npz"
    subprocess.run([sys.executable, script, "expand", str(half), "-o", str(full)], check=True,
                   env=env, stdout=subprocess.DEVNULL)
    return full


def torch_loop(net: Any, x0: Any, chains: int, steps: int) -> float:
    """The reference loop of docs/reference.md §2 with ``chains`` chains batched: seconds per
    step. Same constants as ``scripts/benchmarks/soul.py`` (the timing does not depend on them)."""
    import torch

    from soul import BETA, DELTA, EPS, GAMMA

    sync = torch.cuda.synchronize if x0.is_cuda else (lambda: None)
    with torch.no_grad():
        f0 = net(x0)[0]
    theta = torch.zeros_like(f0)
    x = x0.repeat(chains, 1, 1, 1)
    for warm in (True, False):
        sync()
        start = time.perf_counter()
        for _ in range(1 if warm else steps):
            xg = x.clone().requires_grad_(True)
            v = BETA * (net(xg) - f0).sum(0) @ theta + EPS / 2 * (xg ** 2).sum()
            (grad,) = torch.autograd.grad(v, xg)
            x = x - GAMMA * grad + (2 * GAMMA) ** 0.5 * torch.randn_like(x)
            with torch.no_grad():
                theta = theta + DELTA * (net(x).mean(0) - f0)
        sync()
    return (time.perf_counter() - start) / steps


def timing_rows(plan: Plan, weights_file: Path, done: list[dict[str, Any]],
                deadline: float) -> list[dict[str, Any]]:
    """One row per (size, chains, precision): jax and torch seconds per step."""
    import jax.numpy as jnp
    import numpy as np

    from maxent_jax.nn.vgg import vgg_variables, with_transposed_kernels, with_winograd_kernels
    from maxent_jax.nn.weights import load_weights
    from maxent_jax.tasks.texture import SynthesisConfig
    from soul import jax_time

    have = {(r["size"], r["chains"], r["precision"]) for r in done}
    rows = list(done)
    weights = load_weights(weights_file, cache=False)
    variables = with_transposed_kernels(vgg_variables(weights))
    try:
        import torch

        from _torch_reference import TorchFeatures
    except ImportError:
        torch = None
    device = "cuda" if torch is not None and torch.cuda.is_available() else "cpu"
    for precision in plan.precisions:
        for size in plan.sizes:
            spec = SynthesisConfig(size=(size, size), precision=precision).spec()
            net = None
            if torch is not None:
                torch.backends.cudnn.allow_tf32 = precision == "tf32"
                torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
                net = TorchFeatures(weights, spec.layers, spec.activation, spec.pooling,
                                    spec.padding).to(device)
            x_np = np.random.default_rng(size).uniform(size=(size, size, 3)).astype(np.float32)
            wino = with_winograd_kernels(variables, (size, size), spec.conv, precision)
            for chains in plan.chains:
                if (size, chains, precision) in have:
                    continue
                if time.monotonic() > deadline:
                    print(f"timing: budget spent before {size} px, {chains} chains, {precision}")
                    return rows
                row: dict[str, Any] = {"size": size, "chains": chains, "precision": precision}
                try:
                    first, step = jax_time(spec, wino, jnp.asarray(x_np), chains,
                                           plan.timing_steps)
                    row.update(jax_s_per_step=step, jax_first_call_s=first)
                except Exception as err:  # out of memory, say: recorded, the check goes on
                    row["jax_error"] = f"{type(err).__name__}: {str(err)[:200]}"
                if net is not None:
                    try:
                        x_t = torch.from_numpy(x_np).permute(2, 0, 1)[None].contiguous()
                        row["torch_s_per_step"] = torch_loop(net, x_t.to(device), chains,
                                                             plan.timing_steps)
                    except Exception as err:
                        row["torch_error"] = f"{type(err).__name__}: {str(err)[:200]}"
                if "jax_s_per_step" in row and "torch_s_per_step" in row:
                    row["torch_over_jax"] = row["torch_s_per_step"] / row["jax_s_per_step"]
                print("timing:", json.dumps(row), flush=True)
                rows.append(row)
    return rows


def has_scales() -> bool:
    """Whether ``synthesize`` has ``--scales`` (coarse-to-fine learning) in this version."""
    from maxent_jax.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return any("--scales" in a.option_strings for a in sub.choices["synthesize"]._actions)


def fit(members: list[Path], limit: int) -> tuple[list[Path], list[str]]:
    """Leave files out from the front of ``members`` until their sizes sum to at most
    ``limit`` (the device returns files of at most 16 MiB; a finished run's checkpoint, the
    chains and their average, is 12.6 MB at 256 px with 8 chains and is not needed again)."""
    members, left = list(members), []
    while len(members) > 1 and sum(m.stat().st_size for m in members) > limit:
        left.append(members.pop(0).name)
    return members, left


def run_one(name: str, exemplar: str, extra: list[str], plan: Plan, weights: Path, work: Path,
            previous: Optional[Path], deadline: float) -> dict[str, Any]:
    """One ``synthesize`` run in ``work/name``, continued from ``previous/run_NAME.tar`` if
    that holds a checkpoint; stopped (SIGTERM, then SIGKILL) at the deadline."""
    out = work / name
    resume = False
    tar = previous / f"run_{name}.tar" if previous else None
    if tar is not None and tar.is_file():
        with tarfile.open(tar) as t:
            t.extractall(work, filter="data")
        resume = (out / "checkpoint.npz").is_file()
    from maxent_jax.exemplars import exemplar_path

    cmd = [sys.executable, "-m", "maxent_jax.cli", "synthesize", str(exemplar_path(exemplar)),
           "--out-dir", str(out), "--max-side", str(plan.side),
           "--iterations", str(plan.iterations), "--chains", str(plan.run_chains),
           "--check-steps", str(plan.check_steps), "--checkpoint-every",
           str(plan.checkpoint_every), "--weights", str(weights), "--no-progress",
           *plan.run_args, *extra]
    if resume:
        cmd.append("--resume")
    left = deadline - time.monotonic()
    record: dict[str, Any] = {"exemplar": exemplar, "command": " ".join(cmd[1:]),
                              "resumed": resume}
    if left < 5:
        record["status"] = "not started (budget spent)"
        return record
    print(f"run {name}: {'resuming' if resume else 'starting'}, {left:.0f} s left", flush=True)
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, timeout=left, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        rc, tail = proc.returncode, (proc.stdout + proc.stderr)[-3000:]
    except subprocess.TimeoutExpired as err:
        rc = None
        tail = ((err.stdout or b"").decode() if isinstance(err.stdout, bytes)
                else (err.stdout or ""))[-3000:]
    record.update(wall_s=time.monotonic() - start, output_tail=tail)
    print(f"run {name} ({time.monotonic() - start:.0f} s):\n{tail}", flush=True)
    if rc == 0:
        config = json.loads((out / "config.json").read_text())
        diag = config.get("diagnostics", {})
        record.update(status="done", seconds=config.get("seconds"),
                      fixed_theta_check=diag.get("fixed_theta_check"),
                      warnings=diag.get("warnings"))
        import numpy as np

        with np.load(out / "trace.npz") as tr:
            record["relative_gap_first_last"] = [float(tr["relative_gap"][0]),
                                                 float(tr["relative_gap"][-1])]
        members, left_out = fit(
            [out / f for f in KEEP if (out / f).is_file()], TAR_LIMIT)
        if left_out:
            record["left_out"] = left_out
    else:
        record["status"] = ("stopped by the budget" if rc is None else f"failed (exit {rc})")
        members = [out / "checkpoint.npz"] if (out / "checkpoint.npz").is_file() else []
        if members:
            import numpy as np

            with np.load(members[0]) as ck:
                if "trace_iteration" in ck.files and len(ck["trace_iteration"]):
                    record["checkpoint_iteration"] = int(ck["trace_iteration"][-1])
    if members:
        with tarfile.open(work / f"run_{name}.tar", "w") as t:
            for m in members:
                t.add(m, arcname=f"{name}/{m.name}")
    return record


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "out/gpu-check")))
    parser.add_argument("--tiny", action="store_true", help="the CPU rehearsal")
    parser.add_argument("--previous", type=Path, default=None, metavar="DIR",
                        help="a folder holding a previous call's check.json and run tars")
    parser.add_argument("--budget", type=float, default=540.0, metavar="SECONDS")
    parser.add_argument("--parts", nargs="+", default=["timing", "runs", "scales"],
                        choices=["timing", "runs", "scales"])
    parser.add_argument("--exemplars", nargs="+", default=list(EXEMPLARS))
    parser.add_argument("--report", type=Path, default=None, metavar="DIR",
                        help="unpack a fetched folder's tars and print the tables (no run)")
    args = parser.parse_args(argv)
    if args.report:
        return report(args.report)
    deadline = time.monotonic() + args.budget - MARGIN_S
    plan = PLANS["tiny" if args.tiny else "full"]
    args.out.mkdir(parents=True, exist_ok=True)
    old: dict[str, Any] = {}
    if args.previous is not None:
        if not (args.previous / "check.json").is_file():
            print(f"check: --previous {args.previous} holds no check.json", file=sys.stderr)
            return 2
        old = json.loads((args.previous / "check.json").read_text())
        if old.get("plan") != json.loads(json.dumps(plan._asdict())):
            print(f"check: --previous {args.previous} is another plan's "
                  f"({'tiny' if old.get('plan', {}).get('side') == 32 else 'full'})",
                  file=sys.stderr)
            return 2
    result: dict[str, Any] = {"plan": plan._asdict(), "machine": machine(),
                              "calls": old.get("calls", 0) + 1, "timing": old.get("timing", []),
                              "runs": dict(old.get("runs", {}))}
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="maxent-check-") as tmp:
        work = Path(tmp)
        weights = prepare_weights(args.tiny, work)
        if "timing" in args.parts:
            result["timing"] = timing_rows(plan, weights, result["timing"], deadline)
        jobs = []
        if "runs" in args.parts:
            jobs += [(f"{e}", e, []) for e in args.exemplars]
        if "scales" in args.parts:
            if has_scales():
                jobs += [(f"{e}_scales", e, ["--scales", plan.scales])
                         for e in args.exemplars[: plan.scale_exemplars]]
            else:
                result["scales"] = "not available in this version (synthesize has no --scales)"
        for name, exemplar, extra in jobs:
            if result["runs"].get(name, {}).get("status") == "done":
                continue
            result["runs"][name] = run_one(name, exemplar, extra, plan, weights, work,
                                           args.previous, deadline)
            if (work / f"run_{name}.tar").is_file():
                shutil.copy(work / f"run_{name}.tar", args.out / f"run_{name}.tar")
        result["wall_s"] = time.monotonic() - start
        unfinished = [n for n, r in result["runs"].items() if r.get("status") != "done"]
        result["unfinished"] = unfinished
        (args.out / "check.json").write_text(json.dumps(result, indent=1, default=str))
    print(f"check: {result['wall_s']:.0f} s; timing rows {len(result['timing'])}; runs done "
          f"{sorted(n for n, r in result['runs'].items() if r.get('status') == 'done')}")
    if unfinished:
        print("check: to finish, copy check.json and " +
              ", ".join(f"run_{n}.tar" for n in unfinished) +
              " into .gpu/previous and call again with --previous .gpu/previous")
    return 0


def report(folder: Path) -> int:
    """Unpack the tars of a fetched folder beside them and print the tables."""
    data = json.loads((folder / "check.json").read_text())
    for tar in sorted(folder.glob("run_*.tar")):
        with tarfile.open(tar) as t:
            t.extractall(folder / "runs", filter="data")
    m = data["machine"]
    print(f"{m['device']} ({m['backend']}), jax {m['jax']}, torch {m.get('torch')}, "
          f"calls: {data['calls']}\n")
    print("| size | chains | precision | torch s/step | jax s/step | torch/jax "
          "| jax first call s |")
    print("|---:|---:|---|---:|---:|---:|---:|")
    for r in data["timing"]:
        cells = [f"{r[k]:.4g}" if isinstance(r.get(k), float)
                 else str(r.get(k, r.get("jax_error", "")))
                 for k in ("torch_s_per_step", "jax_s_per_step", "torch_over_jax",
                           "jax_first_call_s")]
        print(f"| {r['size']} | {r['chains']} | {r['precision']} | " + " | ".join(cells) + " |")
    print("\n| run | status | s | relative gap first -> last | fixed-theta gap | Stein ratio |")
    print("|---|---|---:|---|---:|---:|")
    def fmt(v: Any, f: str) -> str:
        return format(v, f) if isinstance(v, (int, float)) else ""

    for name, r in data["runs"].items():
        ftc = r.get("fixed_theta_check") or {}
        gap = r.get("relative_gap_first_last")
        print(f"| {name} | {r['status']} | {fmt(r.get('seconds'), '.1f')} | "
              f"{'' if not gap else f'{gap[0]:.3f} -> {gap[1]:.3f}'} | "
              f"{fmt(ftc.get('relative_gap'), '.3f')} | {fmt(ftc.get('stein_ratio'), '.3g')} |")
    if isinstance(data.get("scales"), str):
        print(f"\ncoarse-to-fine: {data['scales']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
