"""End-to-end SOUL synthesis: checkpoints, resume, divergence, CLI (the gap falling on a real
exemplar with real weights is asserted in test_closed_forms.py, on the 64 px diversity run)."""

from __future__ import annotations

import dataclasses
import json

import jax
import numpy as np
import pytest

from maxent_jax.cli import main
from maxent_jax.io import load_image, save_image
from maxent_jax.tasks.texture import (DivergenceError, SynthesisConfig, initial_positions,
                                  synthesize)
from maxent_jax.nn.vgg import random_variables

SMALL = SynthesisConfig(layers=("relu1_1", "relu2_1"), iterations=6, chains=2, inner_steps=2,
                        checkpoint_every=3, gamma=1e-5, delta=1.0)


@pytest.fixture(scope="module")
def rand_vars():
    return random_variables(jax.random.key(0))


def test_resume_is_bit_identical(tmp_path, rand_vars, wood32):
    whole = synthesize(wood32, rand_vars, SMALL, progress=False)
    first = dataclasses.replace(SMALL, iterations=3)
    synthesize(wood32, rand_vars, first, out_dir=tmp_path, checkpoint=True, progress=False)
    resumed = synthesize(wood32, rand_vars, SMALL, out_dir=tmp_path, resume=True,
                         checkpoint=True, progress=False)
    np.testing.assert_array_equal(whole.samples, resumed.samples)
    np.testing.assert_array_equal(whole.state.theta, resumed.state.theta)
    for key in ("theta_norm", "gap_norms", "energy"):
        np.testing.assert_array_equal(whole.trace[key], resumed.trace[key])
    other = dataclasses.replace(SMALL, gamma=2e-5)
    with pytest.raises(ValueError, match="belongs to another run: config.gamma"):
        synthesize(wood32, rand_vars, other, out_dir=tmp_path, resume=True, progress=False)


def test_restarts_keep_the_first_theta_step_resume_bit_identically_and_stop_in_time(
        tmp_path, rand_vars, wood32, monkeypatch):
    """``restart_every`` R: the first theta step equals the persistent run's (restarts come
    after it), later ones differ; a run interrupted after its first checkpoint and resumed
    equals the whole run; with R equal to the number of iterations no chain restarts (none
    in the last R steps), so the run is the persistent one bit for bit."""
    from maxent_jax.run import driver
    persistent = synthesize(wood32, rand_vars, SMALL, progress=False)
    config = dataclasses.replace(SMALL, restart_every=2)
    whole = synthesize(wood32, rand_vars, config, progress=False)
    np.testing.assert_array_equal(whole.trace["theta"][0], persistent.trace["theta"][0])
    assert not np.array_equal(whole.trace["theta"][-1], persistent.trace["theta"][-1])
    saves, save = [], driver.save_checkpoint

    def save_once(*args, **kwargs):  # the first checkpoint (step 3) is written, then a crash
        if saves:
            raise KeyboardInterrupt
        saves.append(1)
        save(*args, **kwargs)

    monkeypatch.setattr(driver, "save_checkpoint", save_once)
    with pytest.raises(KeyboardInterrupt):
        synthesize(wood32, rand_vars, config, out_dir=tmp_path, checkpoint=True,
                   progress=False)
    monkeypatch.setattr(driver, "save_checkpoint", save)
    resumed = synthesize(wood32, rand_vars, config, out_dir=tmp_path, resume=True,
                         progress=False)
    np.testing.assert_array_equal(whole.samples, resumed.samples)
    np.testing.assert_array_equal(whole.trace["theta"], resumed.trace["theta"])
    late = synthesize(wood32, rand_vars, dataclasses.replace(SMALL, restart_every=6),
                      progress=False)
    np.testing.assert_array_equal(late.samples, persistent.samples)
    np.testing.assert_array_equal(late.trace["theta"], persistent.trace["theta"])


def test_delta_scale_pixels_is_delta_times_4096_over_the_chains_pixels(rand_vars, wood32):
    """``delta_scale="pixels"``: the step is delta x 4096 / (H W) for H x W chains (64 x 64
    px: delta itself), and the run equals the unscaled run with that delta, bit for bit."""
    scaled = dataclasses.replace(SMALL, delta_scale="pixels", iterations=3)
    plain = dataclasses.replace(scaled, delta_scale="none")
    assert scaled.theta_delta(64 * 64) == SMALL.delta
    assert scaled.theta_delta(32 * 32) == 4 * SMALL.delta
    assert scaled.theta_delta(128 * 128) == SMALL.delta / 4
    assert plain.theta_delta(128 * 128) == SMALL.delta
    with pytest.raises(ValueError, match="chains' size"):
        scaled.theta_delta()
    a = synthesize(wood32, rand_vars, scaled, progress=False)  # 32 x 32 chains: x 4
    b = synthesize(wood32, rand_vars, dataclasses.replace(plain, delta=4 * SMALL.delta),
                   progress=False)
    np.testing.assert_array_equal(a.trace["theta"], b.trace["theta"])
    np.testing.assert_array_equal(a.samples, b.samples)
    assert np.abs(a.trace["theta"][0]).max() > 0


def test_divergence_names_the_iteration_and_keeps_the_last_good_state(tmp_path, rand_vars,
                                                                         wood32):
    config = dataclasses.replace(SMALL, gamma=1e6, delta=1e6, iterations=6)
    with pytest.raises(DivergenceError, match=r"iteration \d+.*smaller --gamma"):
        synthesize(wood32, rand_vars, config, out_dir=tmp_path, checkpoint=True,
                   progress=False)
    data = np.load(tmp_path / "checkpoint.npz")
    assert all(np.all(np.isfinite(data[k])) for k in data.files if k.startswith("state_"))


def test_output_size_and_initialisation(wood32):
    config = dataclasses.replace(SMALL, size=(40, 24), chains=3)
    x = initial_positions(jax.random.key(0), wood32, config)
    assert x.shape == (3, 40, 24, 3)
    grey = wood32.mean(-1, keepdims=True)
    noise = initial_positions(jax.random.key(0), grey, dataclasses.replace(config, init="noise"))
    assert noise.shape == (3, 40, 24, 1)


@pytest.mark.parametrize("field,value,message", [
    ("iterations", 0, "iterations"), ("gamma", -1.0, "gamma"), ("gamma", float("nan"), "gamma"),
    ("chains", 0, "chains"), ("projection", "l3:2", "projection"), ("preset", "x", "preset"),
    ("size", (1, 1), "relu2_1 needs at least 2x2"), ("init", "zeros", "init"),
    ("restart_every", -1, "restart-every"), ("delta_scale", "area", "delta-scale")])
def test_bad_settings_are_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(SMALL, **{field: value}).validate()


def test_cli_synthesize_writes_everything(tmp_path, wood32):
    image = tmp_path / "wood.png"
    save_image(image, wood32)
    out = tmp_path / "out"
    code = main(["synthesize", str(image), "--out-dir", str(out), "--iterations", "4",
                 "--chains", "2", "--layers", "relu1_1,relu2_1", "--size", "24", "32",
                 "--average-last", "2", "--no-progress", "--checkpoint-every", "2"])
    assert code == 0
    for name in ("sample_000.png", "sample_001.png", "average_000.png", "trace.npz",
                 "trace.png", "config.json", "checkpoint.npz"):
        assert (out / name).is_file(), name
    assert load_image(out / "sample_001.png").shape == (24, 32, 3)
    record = json.loads((out / "config.json").read_text())
    assert SynthesisConfig.from_json(record["config"]).size == (24, 32)
    trace = np.load(out / "trace.npz")
    assert trace["theta"].shape[0] == 4 and trace["relative_gap"].shape == (4,)
    assert main(["synthesize", str(tmp_path / "nope.png"), "--out-dir", str(out)]) == 2
    assert main(["synthesize", str(image), "--out-dir", str(out), "--gamma", "-1"]) == 2
