"""``maxent-jax sample``: a model learned at 64 px sampled at 128 px, seeds, refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from maxent_jax.cli import main
from maxent_jax.exemplars import load_exemplar
from maxent_jax.io import save_image

LAYERS = "relu1_1,relu2_1,relu3_1"


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    """``synthesize`` at 64 px with real weights: writes model.npz and samples.npy."""
    root = tmp_path_factory.mktemp("learned")
    image = root / "wood.png"
    save_image(image, load_exemplar("wood", size=64))
    out = root / "run"
    assert main(["synthesize", str(image), "--out-dir", str(out), "--layers", LAYERS,
                 "--iterations", "8", "--chains", "2", "--checkpoint-every", "5",
                 "--check-steps", "4", "--no-progress"]) == 0
    return out


def _sample(model, out, *extra):
    return main(["sample", str(model), "--out-dir", str(out), "--size", "128", "128",
                 "--num", "2", "--steps", "4", "--no-progress", *extra])


def test_synthesize_writes_the_model_and_the_samples(learned):
    samples = np.load(learned / "samples.npy")
    assert samples.shape == (2, 64, 64, 3) and samples.dtype == np.float32
    from maxent_jax.model import load_model

    model = load_model(learned / "model.npz")
    trace = np.load(learned / "trace.npz")
    np.testing.assert_allclose(model.theta, trace["theta"][4:].mean(0), rtol=1e-6)  # last half
    np.testing.assert_array_equal(model.theta_last, trace["theta"][-1])
    assert model.exemplar.shape == (64, 64, 3) and model.spec.layers == tuple(LAYERS.split(","))


def test_the_fixed_theta_check_is_maxent_jax_sample_at_seed_plus_one(learned, tmp_path):
    """``synthesize --check-steps 4`` records what ``maxent-jax sample`` gives for the same
    model, chains, steps and seed + 1, and its warnings join the run's."""
    record = json.loads((learned / "config.json").read_text())["diagnostics"]
    check = record["fixed_theta_check"]
    assert (check["steps"], check["num"], check["seed"], check["size"]) == (4, 2, 1, [64, 64])
    assert set(check["warnings"]) <= set(record["warnings"])
    assert (check["relative_gap"] > 0.1) == any("misses F(x0)" in w for w in check["warnings"])
    assert main(["sample", str(learned / "model.npz"), "--out-dir", str(tmp_path / "s"),
                 "--num", "2", "--steps", "4", "--seed", "1", "--no-progress"]) == 0
    again = json.loads((tmp_path / "s" / "diagnostics.json").read_text())
    for key in ("relative_gap", "relative_gap_per_layer", "stein_ratio", "warnings"):
        assert again[key] == check[key], key
    assert main(["synthesize", str(learned / "exemplar.png"), "--out-dir",
                 str(tmp_path / "bad"), "--check-steps", "-1"]) == 2


def test_sample_at_another_size_with_seeds(learned, tmp_path, capsys):
    model = learned / "model.npz"
    assert _sample(model, tmp_path / "a", "--seed", "1") == 0
    assert _sample(model, tmp_path / "b", "--seed", "1") == 0
    assert _sample(model, tmp_path / "c", "--seed", "2", "--sampler", "mala") == 0
    a, b, c = (np.load(tmp_path / d / "samples.npy") for d in "abc")
    assert a.shape == (2, 128, 128, 3) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)  # same seed twice: identical
    assert np.abs(a - c).mean() > 1e-3  # another seed: different samples
    assert not np.array_equal(a[0], a[1])
    for d in "abc":
        names = sorted(p.name for p in (tmp_path / d).iterdir())
        assert names == ["diagnostics.json", "sample_000.png", "sample_001.png", "samples.npy",
                         "trace.npz"]
    diag = json.loads((tmp_path / "c" / "diagnostics.json").read_text())
    with np.load(tmp_path / "c" / "trace.npz") as trace:  # the per-step record of the run
        steps = len(trace["iteration"])
        assert trace["gap"].shape[0] == steps and steps == len(trace["stein_ratio"])
        np.testing.assert_allclose(trace["running_relative_gap"][-1], diag["relative_gap"],
                                   rtol=1e-5)
        np.testing.assert_allclose(trace["running_relative_gap"][0], trace["relative_gap"][0],
                                   rtol=1e-5)  # k = 1: the first step's gap alone
        np.testing.assert_allclose(np.mean(trace["acceptance"][steps // 2:]),
                                   diag["mala_acceptance_rate"], rtol=1e-6)
    assert 0 <= diag["relative_gap"] < 1 and set(diag["relative_gap_per_layer"]) == set(
        LAYERS.split(","))
    assert 0.5 < diag["mala_acceptance_rate"] <= 1 and diag["size"] == [128, 128]
    assert "mala_acceptance_rate" not in json.loads((tmp_path / "a" / "diagnostics.json")
                                                    .read_text())
    captured = capsys.readouterr()
    assert "relative feature gap" in captured.out
    warned = [json.loads((tmp_path / d / "diagnostics.json").read_text())["warnings"]
              for d in "abc"]
    assert captured.err.count("warning: ") == sum(map(len, warned))


def test_tampered_or_mismatched_models_are_refused(learned, tmp_path, capsys):
    good = (learned / "model.npz").read_bytes()
    tampered = tmp_path / "tampered.npz"
    tampered.write_bytes(good[: len(good) // 2])
    other = tmp_path / "other.npz"
    with np.load(learned / "model.npz", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    header = json.loads(str(arrays["header"]))
    header["weights_sha256"] = "0" * 64
    arrays["header"] = np.array(json.dumps(header))
    from maxent_jax.run.checkpoint import arrays_digest

    arrays.pop("digest")
    arrays["digest"] = np.array(arrays_digest(arrays))  # consistent, but other weights
    np.savez(other, **arrays)
    for path, message in ((tampered, "damaged or not a maxent-jax model"),
                          (other, "other VGG-19 weights"),
                          (tmp_path / "nope.npz", "no such model file")):
        out = tmp_path / ("out_" + path.stem)
        assert _sample(path, out) == 2
        err = capsys.readouterr().err
        assert message in err and str(path) in err or message == "other VGG-19 weights"
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert not out.exists()  # nothing written
    assert _sample(learned / "model.npz", tmp_path / "small", "--size", "2", "2") == 2
    assert "relu3_1 needs at least 4x4" in capsys.readouterr().err


def test_sample_with_the_spectrum_preconditioner(learned, tmp_path):
    """``--precondition spectrum`` (here with MALA) runs at another size and is recorded; the
    default is the learning run's setting (none)."""
    model = learned / "model.npz"
    assert _sample(model, tmp_path / "p", "--precondition", "spectrum", "--sampler",
                   "mala") == 0
    diag = json.loads((tmp_path / "p" / "diagnostics.json").read_text())
    assert diag["precondition"] == "spectrum" and 0 < diag["mala_acceptance_rate"] <= 1
    assert np.isfinite(np.load(tmp_path / "p" / "samples.npy")).all()
    assert _sample(model, tmp_path / "n") == 0
    assert json.loads((tmp_path / "n" / "diagnostics.json").read_text())["precondition"] == "none"


def test_sample_continues_the_learning_chains_from_starts(learned, tmp_path, capsys):
    """``--starts samples.npy``: the learning run's chains continued at fixed theta (as many
    chains as the file holds, at the exemplar's size); unreadable or mismatched files are one
    line and exit code 2, before anything is written."""
    model, starts = learned / "model.npz", learned / "samples.npy"
    out = tmp_path / "warm"
    assert main(["sample", str(model), "--out-dir", str(out), "--starts", str(starts),
                 "--steps", "1", "--gamma", "1e-12", "--no-progress"]) == 0
    warm = np.load(out / "samples.npy")
    assert warm.shape == (2, 64, 64, 3)
    # one step of size 1e-12 moves a pixel by about 1e-6: the samples are the starts
    np.testing.assert_allclose(warm, np.load(starts), atol=1e-4)
    diag = json.loads((out / "diagnostics.json").read_text())
    assert np.isfinite(diag["stein_ratio"]) and "Stein's ratio" in capsys.readouterr().out
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not an array")
    nan = tmp_path / "nan.npy"
    np.save(nan, np.full((2, 64, 64, 3), np.nan, np.float32))
    for path, extra, words in ((bad, (), "not a readable"), (nan, (), "finite floats"),
                               (starts, ("--size", "128", "128"), "shape")):
        target = tmp_path / f"refused_{path.stem}_{len(extra)}"
        assert main(["sample", str(model), "--out-dir", str(target), "--starts", str(path),
                     "--steps", "1", "--no-progress", *extra]) == 2
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1, err
        assert not target.exists()
