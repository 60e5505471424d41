"""scripts/compare.py: the tiny study writes the tables (intervals, floors, sets, leaders), and
the pieces of :mod:`maxent_jax.study` it is built from."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compare.py"
sys.path.insert(0, str(SCRIPT.parent))
import compare  # noqa: E402

from maxent_jax import metrics  # noqa: E402
from maxent_jax import study as comparison  # noqa: E402

# a fast subset: a closed-form method, an optimiser, and the learn-then-sample macro path
SMOKE_METHODS = ("adsn", "gatys", "macro_shallow")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmp")
    done = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--out-dir", str(out),
                           "--methods", ",".join(SMOKE_METHODS), "--save-samples"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "total time:" in done.stdout
    return out, json.loads((out / "metrics.json").read_text())


def test_tiny_study_writes_values_intervals_and_floors(tiny_run):
    out, data = tiny_run
    assert data["study"]["name"] == "tiny" and data["study"]["samples"] == 2
    assert data["sets"] == {"tuning": ["gravel"], "held-out": ["heldout_speckle"]}
    assert data["total_seconds"] > 0
    for group in ("tuning", "held-out"):
        rows = data["summary"][group]
        assert set(rows) == set(comparison.rows_of(SMOKE_METHODS))  # (JSON keys: sorted)
        for row in rows.values():
            for m in comparison.PER_SAMPLE:
                s = row[m.key]
                assert s["floor_crops"] is not None and s["floor_adsn"] is not None, m.key
                if m.unit == "sample":  # one pair only with 2 samples: no spread
                    assert s["low"] <= s["value"] <= s["high"], (m.key, s)
            assert row["held_out_gram"]["value"] > 0 and row["pooled_psw"]["low"] is None
    # per-sample values are kept, for the methods and for both floors
    gravel = data["details"]["gravel"]
    assert len(gravel["methods"]["gatys"]["psw"]["per_sample"]) == 2
    assert gravel["floor"]["num"] == 2 and gravel["floor"]["crop"] == 16
    assert len(gravel["floor"]["adsn"]["copied"]["per_sample"]) == 2
    # the held-out statistics exclude what the row's method constrains
    assert set(gravel["methods"]["gatys"]["held_out"]) == {"gatys"}
    gatys = gravel["methods"]["gatys"]["held_out"]["gatys"]["layers"]
    assert "relu1_1" in gatys["mean"] and "relu1_1" not in gatys["gram"] and "pool1" not in gatys["gram"]
    for protocol in ("run", "frozen"):  # a learned method's rows: its held-out statistics
        row = gravel["methods"][f"macro_shallow_{protocol}"]
        shallow = row["held_out"]["macro_shallow"]["layers"]["mean"]
        assert shallow == [n for n in comparison.RELU_LAYERS if n[4] in "45"]
    # the macrocanonical samples come from the learned model at fixed theta
    fixed = gravel["diagnostics"]["macro_shallow"]["fixed_theta"]
    assert fixed["num"] == 2 and fixed["steps"] == 3
    assert len(list((out / "samples" / "gravel").glob("*.png"))) == \
        2 * len(comparison.rows_of(SMOKE_METHODS))
    assert data["rows"] == ["adsn", "gatys", "macro_shallow_run", "macro_shallow_frozen"]
    assert data["protocols"]["macro_shallow_run"] == "run output"
    grid = Image.open(out / "grid.png")
    assert grid.width > grid.height  # two rows, five columns


def test_tiny_study_floors_are_computed(tiny_run):
    from maxent_jax.exemplars import load_exemplar

    _, data = tiny_run
    image = load_exemplar("gravel")
    floor = data["details"]["gravel"]["floor"]
    expected = metrics.floor(metrics.normalised_diversity, image, crop=16, num=2)
    assert floor["crops"]["diversity"]["per_sample"][0] == pytest.approx(expected["real"])
    assert floor["adsn"]["diversity"]["per_sample"][0] == pytest.approx(expected["adsn"],
                                                                        rel=1e-5)
    crops = metrics.real_crops(image, 16)
    psw = metrics.patch_sliced_wasserstein(crops[1:3], crops[0], levels=2, per_sample=True)
    np.testing.assert_allclose(floor["crops"]["psw"]["per_sample"], psw, rtol=1e-6)


def test_tiny_study_markdown_table(tiny_run):
    out, data = tiny_run
    table = (out / "metrics.md").read_text()
    assert "metrics_definitions.md" in table and "Total time:" in table
    assert "## Tuning exemplars: mean over gravel" in table
    assert "## Held-out exemplars: mean over heldout_speckle" in table
    assert "| macro. shallow, run output |" in table and "(floor: " in table and " [" in table
    assert "| macro. shallow, frozen theta |" in table and "**run output** rows" in table
    assert "NN-patch" not in table and "feature gap" not in table
    row = next(line for line in table.splitlines() if line.startswith("| Gatys | means:"))
    assert "Grams: all 20 but relu1_1, pool1-4" in row
    for by_protocol in data["leader_sentences"].values():  # one sentence per protocol
        assert set(by_protocol) == {"run output", "frozen theta"}
        for sentence in by_protocol.values():
            assert sentence in table and " lead" in sentence
        assert "learned methods as run output" in by_protocol["run output"]
    assert set(data["leaders"]["tuning"]) == {"run output", "frozen theta"}
    assert (SCRIPT.parents[1] / "docs" / "comparison" / "metrics_definitions.md").is_file()


def test_compare_refuses_unknown_methods(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--out-dir", str(tmp_path),
                           "--methods", "adsn,magic", "wood"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "magic" in done.stderr


def test_studies_and_arguments():
    args = compare.parse_args(["--out-dir", "x"])
    study = compare.study_from_args(args)
    assert (study.name, study.size, study.samples, study.macro_delta) == ("cpu", 64, 8, None)
    assert args.exemplar_set == "both"
    gpu = compare.study_from_args(compare.parse_args(["--gpu", "--out-dir", "x"]))
    assert (gpu.size, gpu.macro_iterations, gpu.gatys_iterations) == (256, 10000, 2000)
    opt = compare.study_from_args(compare.parse_args(
        ["--tiny", "--out-dir", "x", "--macro-delta", "0.01", "--samples", "3"]))
    assert (opt.size, opt.samples, opt.macro_delta) == (16, 3, 0.01)
    with pytest.raises(SystemExit):
        compare.study_from_args(compare.parse_args(["--out-dir", "x", "--macro-delta", "0"]))
    assert comparison.default_exemplars("both", tiny=False) == [
        "brick", "grass", "gravel", "wood", "heldout_galaxies", "heldout_speckle"]
    assert comparison.default_exemplars("held-out", tiny=True) == ["heldout_speckle"]
    assert [comparison.psw_levels(s) for s in (16, 32, 64, 256)] == [2, 3, 3, 3]


def test_exemplars_are_native_crops_with_their_floor_texture():
    ex = comparison.prepare_exemplar("gravel", 64)  # 256 px: 16 crops of 64 px
    assert ex.set == "tuning" and ex.same_scale and ex.crop == 64
    np.testing.assert_array_equal(ex.image, metrics.real_crops(ex.texture, 64)[0])
    wood = comparison.prepare_exemplar("wood", 64)  # 120 px: resampled by 128 / 120
    assert wood.same_scale and wood.texture.shape[:2] == (128, 128) and wood.image.shape == (64, 64, 3)
    big = comparison.prepare_exemplar("heldout_speckle", 256)  # the whole image; 128 px floors
    assert big.set == "held-out" and not big.same_scale and big.crop == 128
    assert big.image.shape[:2] == (256, 256)


def test_leader_sentence_is_computed_from_the_rows():
    def row(psw, diversity):
        stats = {m.key: {"value": 0.0, "low": 0.0, "high": 0.0, "floor_crops": 0.0,
                         "floor_adsn": 0.0} for m in comparison.PER_SAMPLE}
        stats["psw"] = {"value": psw, "low": psw - 0.01, "high": psw + 0.01,
                        "floor_crops": 0.1, "floor_adsn": 0.1}
        stats["diversity"] = {"value": diversity, "low": diversity - 0.2,
                              "high": diversity + 0.2, "floor_crops": 1.0, "floor_adsn": 1.0}
        return stats

    rows = {"adsn": row(0.3, 0.5), "gatys": row(0.2, 1.3), "macro_full": row(0.5, 0.95)}
    text = comparison.leader_sentence(rows, "Tuning")
    assert "Gatys leads on patch SW" in text  # lowest excess over the floor
    assert "macro. full leads on norm. diversity*" in text  # closest to the floor, not resolved
    assert "all methods are at or below the real-crop floor on copied patches" in text
    rows["adsn"] = row(0.05, 0.5)  # below the floor: not better than at it
    rows["gatys"] = row(0.1, 1.3)
    assert "ADSN and Gatys are at or below the real-crop floor on patch SW" in \
        comparison.leader_sentence(rows, "Tuning")


def test_rows_protocols_and_the_views_each_sentence_ranks():
    methods = ("adsn", "lu_zhu_wu", "macro_full")
    rows = comparison.rows_of(methods)
    assert rows == ["adsn", "lu_zhu_wu_run", "lu_zhu_wu_frozen", "macro_full_run",
                    "macro_full_frozen"]
    assert [comparison.method_of(r) for r in rows] == ["adsn", "lu_zhu_wu", "lu_zhu_wu",
                                                    "macro_full", "macro_full"]
    assert [comparison.protocol_of(r) for r in rows] == [None, "run", "frozen", "run", "frozen"]
    assert [comparison.split_row(r) for r in rows[:2]] == [("adsn", None), ("lu_zhu_wu", "run")]
    assert comparison.split_row("gatys_run") == ("gatys_run", None)  # not a learned method
    assert comparison.LABELS["macro_full_frozen"] == "macro. full, frozen theta"
    views = comparison.protocol_views({r: {} for r in rows})
    assert views["run output"].keys() == {"adsn", "lu_zhu_wu_run", "macro_full_run"}
    assert views["frozen theta"].keys() == {"adsn", "lu_zhu_wu_frozen", "macro_full_frozen"}
    assert list(comparison.protocol_views({"adsn": {}, "gatys": {}})) == ["all"]


@pytest.fixture(scope="module")
def tiny_inputs():
    from maxent_jax.nn.backbone import load_network

    study = comparison.STUDIES["tiny"]
    x0 = comparison.load_exemplars(["gravel"], study.size)["gravel"]
    return study, x0, load_network(None)[0]


def test_macro_protocols_come_from_one_learning_run(tiny_inputs):
    """The run-output row is the learning run's own final chains; the frozen-theta row is
    new chains of that run's learned model (same seed, same theta_bar)."""
    import jax

    from maxent_jax.io import array_sha256
    from maxent_jax.tasks.sample import sample_model
    from maxent_jax.tasks.texture import SynthesisConfig, synthesize

    study, x0, variables = tiny_inputs
    info: dict = {}
    out = comparison.methods.run_macro("shallow", jax.random.key(7), x0, variables, study,
                                       info=info)
    seed = info["learning_seed"]
    config = SynthesisConfig(preset="shallow", iterations=study.iterations,
                             chains=study.samples, seed=seed,
                             checkpoint_every=study.iterations)
    backbone = comparison.methods._backbone(variables, config.spec(), x0.shape[:2])
    learned = synthesize(x0, backbone, config, progress=False)
    np.testing.assert_array_equal(out["run"], learned.samples)
    assert info["theta_bar_sha256"] == array_sha256(np.asarray(learned.model.theta,
                                                               np.float32))
    drawn = sample_model(learned.model, backbone, num=study.samples,
                         steps=study.sample_steps, seed=seed + 1)
    np.testing.assert_array_equal(out["frozen"], drawn.samples)
    assert out["run"].shape == out["frozen"].shape == (study.samples, *x0.shape)
    assert np.abs(out["run"] - out["frozen"]).max() > 1e-3  # new chains, not the run's
    assert info["sampling_seed"] == seed + 1 and info["fixed_theta"]["steps"] == 3


def test_lu_zhu_wu_protocols_come_from_one_learning_run(tiny_inputs):
    import jax

    from maxent_jax.baselines.lu_zhu_wu import (LuZhuWuConfig, lzw_learn, lzw_model,
                                                lzw_settings)
    from maxent_jax.io import array_sha256

    study, x0, variables = tiny_inputs
    info: dict = {}
    out = comparison.methods.run_lu_zhu_wu(jax.random.key(8), x0, variables, study,
                                           info=info)
    seed = info["learning_seed"]
    config = LuZhuWuConfig(iterations=max(1, study.iterations // study.langevin_steps),
                           chains=study.samples, langevin_steps=study.langevin_steps)
    backbone = comparison.methods._backbone(variables, lzw_settings(config, x0).spec(),
                                            x0.shape[:2])
    run = lzw_learn(x0, backbone, config, seed=seed)
    np.testing.assert_array_equal(out["run"], np.asarray(run.state.positions))
    model = lzw_model(x0, backbone, config, run, seed=seed)
    assert info["theta_bar_sha256"] == array_sha256(np.asarray(model.theta, np.float32))
    thetas = np.asarray(run.trace["theta"])  # theta_bar: the mean over the last half
    assert len(thetas) == 3
    np.testing.assert_allclose(model.theta, thetas[1:].mean(axis=0), rtol=1e-6)
    np.testing.assert_array_equal(model.theta_last, thetas[-1])
    assert model.eps == pytest.approx(1.0 / float(np.std(x0)) ** 2, rel=1e-5)
    assert np.abs(out["run"] - out["frozen"]).max() > 1e-3
    assert out["frozen"].shape == (study.samples, *x0.shape)
