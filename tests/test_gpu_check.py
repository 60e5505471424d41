"""``bash scripts/gpu/check.sh --tiny``: the CPU rehearsal of the device check (issue 30).

It runs the same code as the device call (float16 weights expanded, timing against torch,
``synthesize`` runs with the fixed-theta check, the tars and check.json that come back, the
resume from a previous call), at 32 px, so that device time is not spent on a typo.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXEMPLARS = ("gravel", "wood", "heldout_galaxies")


def check_sh(out: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OUT": str(out)}
    return subprocess.run(["bash", str(ROOT / "scripts" / "gpu" / "check.sh"), "--tiny", *args],
                          capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory):
    out = tmp_path_factory.mktemp("check")
    start = time.monotonic()
    proc = check_sh(out)
    return out, proc, time.monotonic() - start


def test_rehearsal_runs_every_part_and_brings_back_at_most_8_files(rehearsal):
    out, proc, wall = rehearsal
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    # two minutes when it has the machine to itself (docs/gpu/README.md); under pytest-xdist
    # the other worker shares the two cores, hence the slack
    assert wall < 180, wall
    files = sorted(p.name for p in out.iterdir())
    assert len(files) <= 8 and all(p.is_file() for p in out.iterdir()), files  # device limit
    data = json.loads((out / "check.json").read_text())
    scaled = EXEMPLARS[: data["plan"]["scale_exemplars"]]
    runs = list(EXEMPLARS) + [f"{e}_scales" for e in scaled]
    assert files == sorted(["check.json", "log.txt"] + [f"run_{r}.tar" for r in runs])
    assert data["plan"]["side"] == 32 and data["calls"] == 1 and data["unfinished"] == []
    # timing: one row per (size, chains, precision), both libraries, finite positive times
    keys = {(r["size"], r["chains"], r["precision"]) for r in data["timing"]}
    plan = data["plan"]
    assert keys == {(s, c, p) for s in plan["sizes"] for c in plan["chains"]
                    for p in plan["precisions"]}
    for r in data["timing"]:
        for k in ("jax_s_per_step", "torch_s_per_step", "jax_first_call_s"):
            assert math.isfinite(r[k]) and r[k] > 0, r
    # the runs: the seed's algorithm with the fixed-theta check, outputs in the tars
    for e in runs:
        run = data["runs"][e]
        assert run["status"] == "done" and not run["resumed"], run
        assert "--check-steps 2" in run["command"] and "--max-side 32" in run["command"]
        check = run["fixed_theta_check"]
        assert check["steps"] == 2 and math.isfinite(check["relative_gap"]), check
        with tarfile.open(out / f"run_{e}.tar") as t:
            names = {Path(n).name for n in t.getnames()}
        assert {"model.npz", "trace.npz", "samples.npy", "checkpoint.npz",
                "config.json"} <= names, names
    # coarse-to-fine: synthesize has --scales, so the check runs it
    assert "--scales 16,32" in data["runs"]["gravel_scales"]["command"]


def test_report_prints_the_tables(rehearsal, tmp_path):
    out, proc, _ = rehearsal
    assert proc.returncode == 0
    copy = tmp_path / "fetched"
    shutil.copytree(out, copy)
    report = subprocess.run(["python3", str(ROOT / "scripts" / "gpu" / "check.py"), "--report",
                             str(copy)], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert report.returncode == 0, report.stderr
    assert "| 32 | 2 | float32 |" in report.stdout and "| gravel | done |" in report.stdout
    assert (copy / "runs" / "gravel" / "sample_000.png").is_file()


def test_budget_spent_then_previous_finishes_the_job(rehearsal, tmp_path):
    """A call whose budget is spent leaves check.json saying what is unfinished; a second call
    with --previous resumes a run from its checkpoint (synthesize --resume) and finishes with
    the uninterrupted run's samples, bit for bit."""
    out, proc, _ = rehearsal
    assert proc.returncode == 0
    first = tmp_path / "first"
    spent = check_sh(first, "--budget", "1", "--parts", "runs", "--exemplars", "gravel")
    assert spent.returncode == 0, spent.stderr
    data = json.loads((first / "check.json").read_text())
    assert data["unfinished"] == ["gravel"]
    assert data["runs"]["gravel"]["status"].startswith("not started")
    assert "--previous" in spent.stdout
    # a previous call stopped at the end of its run (the checkpoint of the rehearsal), the
    # run not yet recorded as done: the next call resumes it
    previous = tmp_path / "previous"
    previous.mkdir()
    shutil.copy(out / "run_gravel.tar", previous)
    data["runs"]["gravel"]["status"] = "stopped by the budget"
    (previous / "check.json").write_text(json.dumps(data))
    second = tmp_path / "second"
    done = check_sh(second, "--previous", str(previous), "--parts", "runs", "--exemplars",
                    "gravel")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    data = json.loads((second / "check.json").read_text())
    assert data["calls"] == 2 and data["unfinished"] == []
    assert data["runs"]["gravel"]["status"] == "done" and data["runs"]["gravel"]["resumed"]

    def samples(folder: Path) -> np.ndarray:
        with tarfile.open(folder / "run_gravel.tar") as t:
            t.extractall(folder / "x", filter="data")
        return np.load(folder / "x" / "gravel" / "samples.npy")

    np.testing.assert_array_equal(samples(second), samples(previous))


def test_previous_of_another_plan_is_refused(tmp_path):
    previous = tmp_path / "previous"
    previous.mkdir()
    (previous / "check.json").write_text(json.dumps({"plan": {"side": 256}}))
    proc = check_sh(tmp_path / "out", "--previous", str(previous))
    assert proc.returncode == 2
    assert "another plan" in proc.stdout + proc.stderr


def test_a_finished_runs_tar_leaves_out_its_checkpoint_first_when_too_large(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("check", ROOT / "scripts" / "gpu" / "check.py")
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    sizes = {"checkpoint.npz": 600, "samples.npy": 300, "config.json": 10, "model.npz": 50}
    for name, size in sizes.items():
        (tmp_path / name).write_bytes(b"x" * size)
    members = [tmp_path / n for n in check.KEEP if n in sizes]
    kept, left = check.fit(members, 400)
    assert left == ["checkpoint.npz"] and [p.name for p in kept] == [
        "samples.npy", "config.json", "model.npz"]
    kept, left = check.fit(members, 100)
    assert left == ["checkpoint.npz", "samples.npy"]
    assert check.fit(members, 10**6) == (members, [])
    assert check.TAR_LIMIT < 16 * 2**20
