"""The run script: a tiny study runs, writes its outputs, and a second call skips/resumes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from maxent_jax.io import load_image

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str):
    """``scripts/<name>.py`` as a module (``name`` may hold a folder: ``benchmarks/mixing``),
    or an experiment's script, ``experiments/<name>/<name>.py``."""
    path = ROOT / "scripts" / f"{name}.py"
    if not path.is_file():
        path = ROOT / "experiments" / name / f"{name}.py"
    spec = importlib.util.spec_from_file_location(Path(name).name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_run_study_tiny_is_resumable(tmp_path, capsys):
    study = load_script("run_study")
    out = tmp_path / "runs"
    assert study.main([str(ROOT / "configs" / "study256.json"), "--tiny", "--out-dir",
                       str(out)]) == 0
    folder = out / "brick"
    for name in ("sample_000.png", "trace.npz", "config.json", "checkpoint.npz"):
        assert (folder / name).is_file(), name
    record = json.loads((folder / "config.json").read_text())
    assert record["config"]["iterations"] == 4
    assert study.main([str(ROOT / "configs" / "study256.json"), "--tiny", "--out-dir",
                       str(out)]) == 0
    assert "done, skipped" in capsys.readouterr().out


def test_run_study_rejects_unknown_keys(tmp_path):
    study = load_script("run_study")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"exemplars": ["wood"], "synthesis": {}, "iterations": 3}))
    with pytest.raises(ValueError, match="unknown keys"):
        study.main([str(bad), "--tiny", "--out-dir", str(tmp_path / "o")])


def test_mixing_benchmark_quick_smoke_run(tmp_path):
    """``scripts/benchmarks/mixing.py --quick``: every sampler runs and the results are written."""
    mixing = load_script("benchmarks/mixing")
    out = tmp_path / "results.json"
    assert mixing.main(["--quick", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["summary"][0]["sampler"] == "ULA" and data["summary"][0]["speedup_gap"] == 1.0
    assert {r["precondition"] for r in data["runs"].values()} == {"none", "spectrum"}
    assert all(r["finite"] for r in data["runs"].values())
    # the measures
    import numpy as np

    assert mixing.steps_to_stay_below(np.array([3.0, 1.0, 2.0, 1.0, 0.5]), 1.0) == 4
    assert mixing.steps_to_stay_below(np.array([0.5, 2.0]), 1.0) is None
    assert mixing.steps_to_fall_below(np.array([0.9, 0.6, 0.4, 0.7]), 0.5) == 3
    gaps = np.array([[2.0], [0.0], [4.0], [0.0]])
    np.testing.assert_allclose(mixing.running_gap(gaps, np.array([1.0])), [2.0, 0.0, 2.0, 2.0])


def test_curvature_pilot_quick_smoke_run(tmp_path):
    """``experiments/curvature_pilot/curvature_pilot.py --quick``: the band multiplier is c_top / c
    capped (1 on the stiffest band), the library's preconditioner hook is restored after the
    learning run, and the results are written."""
    import numpy as np

    pilot = load_script("curvature_pilot")
    curvature = [{"band": [0.0, 0.0], "curvature_mean": 5.0},
                 {"band": [0.0, 0.25], "curvature_mean": 100.0},
                 {"band": [0.25, 0.75], "curvature_mean": 1.0}]
    m = np.asarray(pilot.band_multiplier(curvature, (8, 8), 30.0).multiplier)
    assert m[0, 0] == 20.0 and m[0, 1] == 1.0 and m[4, 4] == 30.0  # 100/5, 100/100, capped
    hooks = pilot.texture.make_preconditioner, pilot.sample_task.make_preconditioner
    out = tmp_path / "pilot.json"
    assert pilot.main(["--quick", "--caps", "4", "--out", str(out)]) == 0
    assert (pilot.texture.make_preconditioner, pilot.sample_task.make_preconditioner) == hooks
    data = json.loads(out.read_text())
    assert set(data["fixed_theta"]) == {"plain", "cap 4"} and set(data["learning"]) == {"cap 4"}
    assert np.isfinite(data["learning"]["cap 4"]["fixed_theta_check"]["relative_gap"])


def test_mala_precision_benchmark_quick_smoke_run(tmp_path):
    """``experiments/mala_precision/mala_precision.py --quick``: rounding errors, probe tables in both
    arithmetics and step times are written, finite; at 16 px with relu1_1 the energy is
    small, so float32's error of U(y) - U(x) is tiny there."""
    bench = load_script("mala_precision")
    out = tmp_path / "precision.json"
    assert bench.main(["--quick", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert set(data["probe"]) == {"float32", "float64"}
    rows = data["rounding"]["16"]
    assert all(0 <= r["rms_error"] < 1e-3 for r in rows.values())
    assert all(t > 0 for t in data["seconds_per_mala_step"]["16"].values())


def test_equilibrium_check_quick_smoke_run(tmp_path, capsys):
    """``experiments/equilibrium_check/equilibrium_check.py --quick``: learning, Stein's ratios, fixed-theta runs
    from fresh and warm starts and a continuation are all written, finite."""
    check = load_script("equilibrium_check")
    out = tmp_path / "eq"
    assert check.main(["--quick", "--exemplars", "wood", "--continue-with", "mala:1e-9",
                       "--save-states", str(tmp_path / "states"), "--set", "inner_steps=2",
                       "--out-dir", str(out)]) == 0
    record = json.loads((out / "results.json").read_text())
    wood = record["results"]["wood"]
    assert wood["config"]["inner_steps"] == 2 and "--set inner_steps=2" in record["command"]
    assert " --quick" in record["command"] and "--seed 0" in record["command"]
    assert "False" not in record["command"]
    for key in ("at_adsn_starts", "learning_end_theta_bar", "learning_end_theta_last"):
        assert wood[key]["grad_norm"] > 0 and abs(wood[key]["stein_ratio"]) < 1e9
    for key in ("fixed_theta_fresh", "fixed_theta_warm"):
        assert wood[key]["steps"] == 4 and 0 <= wood[key]["relative_gap"] < 10
    assert wood["continued_mala:1e-9"]["finite"]
    assert "| wood | warm starts" in capsys.readouterr().out
    # the chains' gap depends on the states only, not on the theta of the energy
    end_bar, end_last = wood["learning_end_theta_bar"], wood["learning_end_theta_last"]
    assert end_bar["relative_gap"] == pytest.approx(end_last["relative_gap"], rel=1e-6)
    assert np.isfinite(end_bar["energy"]) and np.isfinite(end_last["energy"])
    states = np.load(tmp_path / "states" / "wood.states.npz")
    assert sorted(states.files) == ["fixed_theta_fresh", "fixed_theta_warm", "learning"]
    assert all(states[k].shape == (2, 16, 16, 3) for k in states.files)
    assert (tmp_path / "states" / "wood.model.npz").is_file()


def test_equilibrium_check_set_names_a_config_field():
    """``--set`` takes NAME=VALUE with NAME a field of SynthesisConfig; anything else is a
    usage error (exit code 2)."""
    check = load_script("equilibrium_check")
    assert check.parse_args(["--set", "inner_steps=10", "delta=0.002", "padding=circular"]
                            ).set == {"inner_steps": 10, "delta": 0.002, "padding": "circular"}
    for bad in ("inner_steps", "no_such_field=1"):
        with pytest.raises(SystemExit) as exc:
            check.parse_args(["--set", bad])
        assert exc.value.code == 2


def test_equilibrium_check_learning_history_reads_the_trace():
    """The learning history keeps ||theta_n|| at the marks and at the last step, Stein's ratio
    as a mean over (k/2, k], and the relative change of ||theta|| over the last quarter."""
    check = load_script("equilibrium_check")
    n = 1200
    steps = np.arange(1, n + 1, dtype=np.float64)
    history = check.learning_history({"theta_norm": steps, "stein_ratio": steps,
                                      "running_average_gap": 1.0 / steps})
    assert list(history["theta_norm"]) == ["50", "100", "200", "300", "500", "1000", "1200"]
    assert history["theta_norm"]["1200"] == 1200.0
    assert history["stein_ratio"]["100"] == np.mean(steps[50:100])
    assert history["running_average_gap"]["500"] == 1.0 / 500
    assert abs(history["theta_change_last_quarter"] - (1200 - 900) / 1200) < 1e-12


def test_tiles_benchmark_profiles_every_layer_and_both_tile_choices(tmp_path):
    """``scripts/benchmarks/tiles.py`` at 16 px: every convolution of the paper preset is
    timed for every candidate tile, forward and backward; the measured choice is a candidate
    no slower than the rule's tile by the margin; the whole gradient is timed both ways."""
    from maxent_jax.nn import tiles

    bench = load_script("benchmarks/tiles")
    out = tmp_path / "tiles.json"
    assert bench.main(["--sizes", "16", "--repeats", "1", "--out", str(out)]) == 0
    data = json.loads(out.read_text())["sizes"]["16"]
    assert [r["layer"] for r in data["layers"]] == [
        "conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
        "conv3_4", "conv4_1", "conv4_2", "conv4_3", "conv4_4", "conv5_1", "conv5_2"]
    for row in data["layers"]:
        assert sorted(row["ms"]) == [str(m) for m in tiles.CANDIDATES]
        total = {int(m): sum(ms) for m, ms in row["ms"].items()}
        assert all(t > 0 for t in total.values())
        assert total[row["measured"]] <= total[row["rule"]]
    assert data["gradient_rule_s"] > 0 and data["gradient_measured_s"] > 0


def test_coarse_to_fine_benchmark_quick_smoke_run(tmp_path):
    """``scripts/benchmarks/coarse_to_fine.py --quick``: the plain run and two modes of
    ``--scales 16,32`` are timed and scored with intervals; chains grown by tiling start as
    a 2 x 2 tiling, which the half-shift correlation sees (a few steps do not undo it), new
    ADSN starts do not."""
    bench = load_script("benchmarks/coarse_to_fine")
    out = tmp_path / "c2f.json"
    assert bench.main(["--quick", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert list(data["modes"]) == ["plain", "scales 16,32, tile, equal",
                                   "scales 16,32, adsn, 2,1"]
    assert data["modes"]["plain"]["speed_up"] == 1.0
    assert data["modes"]["scales 16,32, adsn, 2,1"]["scale_iterations"] == [4, 2]
    for mode in data["modes"].values():
        for key in ("eval_gap", "patch_sliced_wasserstein", "normalised_diversity"):
            r = mode[key]
            assert r["low"] <= r["estimate"] <= r["high"], (key, r)
    half = {k: m["half_shift_correlation"]["estimate"] for k, m in data["modes"].items()}
    assert half["scales 16,32, tile, equal"] > 0.9 > max(half["plain"],
                                                          half["scales 16,32, adsn, 2,1"])
    assert "| plain |" in data["table"]


def test_coarse_to_fine_benchmark_frozen_protocol_and_quadrants(tmp_path):
    """With ``--check-steps`` every mode also has a frozen-theta row (new chains at the
    learned theta_bar, its fixed-theta diagnostics); with one chain the metrics are scored on
    the four quadrants, so the intervals are not empty, and the real-crop floor comes from
    the exemplar's other quadrants; ``--no-plain`` leaves the speed-up undefined; the samples
    of both protocols are saved, the run output equal to the learning run's. A pyramid mode
    (``detail+reset``) is named and configured as written."""
    bench = load_script("benchmarks/coarse_to_fine")
    out = tmp_path / "c2f.json"
    assert bench.main(["--size", "64", "--iterations", "4", "--chains", "1", "--no-plain",
                       "--modes", "adsn:1,1:32,64", "detail+reset:1,1:32,64",
                       "--check-steps", "2",
                       "--save-dir", str(tmp_path / "s"), "--out", str(out),
                       "--figure", str(tmp_path / "row.png")]) == 0
    data = json.loads(out.read_text())
    row = load_image(tmp_path / "row.png")  # exemplar + 2 modes x 2 protocols, 4 px gaps
    assert row.shape[:2] == (64, 5 * 64 + 4 * 4)
    (name, mode), (pyr_name, pyr) = data["modes"].items()
    assert name == "scales 32,64, adsn, 1,1" and mode["speed_up"] is None
    assert pyr_name == "pyramid, scales 32,64, detail, 1,1, theta reset"
    assert (pyr["scale_mode"], pyr["scale_growth"], pyr["scale_theta"]) == (
        "pyramid", "detail", "reset")
    assert mode["scale_mode"] == "window" and np.isfinite(pyr["frozen"]["relative_gap"])
    assert "quadrants" in data["scored_on"]
    assert np.isfinite(data["floors"]["patch_sliced_wasserstein"]["real"])
    frozen = mode["frozen"]
    assert frozen["relative_gap"] > 0 and np.isfinite(frozen["stein_ratio"])
    for row in (mode, frozen):
        r = row["patch_sliced_wasserstein"]
        assert r["low"] < r["high"], r
    run = np.load(tmp_path / "s" / "scales_32_64__adsn__1_1_run.npy")
    drawn = np.load(tmp_path / "s" / "scales_32_64__adsn__1_1_frozen.npy")
    assert run.shape == drawn.shape == (1, 64, 64, 1) and not np.array_equal(run, drawn)
    assert "frozen theta" in data["table"] and "n/a" in data["table"]
