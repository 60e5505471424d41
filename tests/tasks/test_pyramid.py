"""Coarse-to-fine SOUL as a resolution pyramid (``--scale-mode pyramid``,
:mod:`maxent_jax.tasks.scales`) and the periodic resampling under it
(:mod:`maxent_jax.gaussian.resample`): closed forms of the resampling, the first stage is the
plain run on the resampled exemplar, theta carries or restarts as asked, the model averages
the last stage only, resume across a level change is bit-identical, bad settings exit 2."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from maxent_jax.cli import main
from maxent_jax.gaussian import fourier_resample, refine
from maxent_jax.io import save_image
from maxent_jax.model import polyak_average
from maxent_jax.nn.vgg import random_variables
from maxent_jax.tasks.scales import stage_exemplar
from maxent_jax.tasks.texture import SynthesisConfig, synthesize

SMALL = SynthesisConfig(layers=("relu1_1", "relu2_1"), iterations=6, chains=2,
                        checkpoint_every=3, gamma=1e-5, delta=1.0, scales=(16, 32),
                        scale_iterations=(2, 4), scale_mode="pyramid", scale_growth="adsn")


def _wave(n: int, m: int, fy: int, fx: int) -> np.ndarray:
    """cos(2 pi (fy y / n + fx x / m) + 0.3) on an n x m grid, one channel."""
    y, x = np.meshgrid(np.arange(n) / n, np.arange(m) / m, indexing="ij")
    return np.cos(2 * np.pi * (fy * y + fx * x) + 0.3)[..., None].astype(np.float32)


@pytest.mark.parametrize("src, dst", [((16, 20), (9, 12)), ((9, 12), (16, 20)), ((15, 15), (15, 8))])
def test_a_band_limited_wave_is_resampled_exactly(src, dst):
    """A trigonometric polynomial of frequencies below both grids' Nyquist is the same
    function on every grid: its samples on the new grid are the closed form."""
    x = 0.5 + _wave(*src, 2, 3) + 0.25 * _wave(*src, 1, -1)
    want = 0.5 + _wave(*dst, 2, 3) + 0.25 * _wave(*dst, 1, -1)
    np.testing.assert_allclose(np.asarray(fourier_resample(x, dst)), want, atol=2e-6)


def test_resampling_keeps_means_undoes_an_upsampling_and_is_a_projection():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 16, 12, 3)).astype(np.float32)
    up = fourier_resample(x, (33, 24))
    assert up.shape == (3, 33, 24, 3) and up.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(up).mean((1, 2)), x.mean((1, 2)), atol=1e-6)
    np.testing.assert_allclose(np.asarray(fourier_resample(up, (16, 12))), x, atol=2e-6)
    p = lambda z: fourier_resample(fourier_resample(z, (8, 7)), (16, 12))  # noqa: E731
    b = rng.normal(size=x.shape).astype(np.float32)
    np.testing.assert_allclose(np.asarray(p(p(x))), np.asarray(p(x)), atol=2e-6)
    assert abs(float(jnp.sum(p(x) * (b - p(b))))) < 1e-3  # P orthogonal: <Px, (I-P)b> = 0
    np.testing.assert_array_equal(np.asarray(fourier_resample(x, (16, 12))), x)


def test_refine_takes_the_low_band_from_the_coarse_image_and_the_rest_from_the_draw():
    rng = np.random.default_rng(1)
    coarse = rng.normal(size=(2, 8, 8, 1)).astype(np.float32)
    fresh = rng.normal(size=(2, 16, 16, 1)).astype(np.float32)
    out = refine(coarse, fresh)
    np.testing.assert_allclose(np.asarray(fourier_resample(out, (8, 8))), coarse, atol=2e-6)
    p = lambda z: fourier_resample(fourier_resample(z, (8, 8)), (16, 16))  # noqa: E731
    np.testing.assert_allclose(np.asarray(out - p(out)), np.asarray(fresh - p(fresh)),
                               atol=2e-6)


@pytest.fixture(scope="module")
def rand_vars():
    return random_variables(jax.random.key(0))


@pytest.fixture(scope="module")
def pyramid(rand_vars, wood32):
    return synthesize(wood32, rand_vars, SMALL, progress=False)


def test_one_level_is_the_plain_run_bit_for_bit(rand_vars, wood32):
    plain = dataclasses.replace(SMALL, scales=None, scale_iterations=None, scale_mode="window")
    a = synthesize(wood32, rand_vars, plain, progress=False)
    b = synthesize(wood32, rand_vars, dataclasses.replace(plain, scales=(32,),
                                                          scale_mode="pyramid"), progress=False)
    np.testing.assert_array_equal(a.samples, b.samples)
    np.testing.assert_array_equal(a.trace["theta"], b.trace["theta"])
    np.testing.assert_array_equal(a.model.theta, b.model.theta)


def test_the_first_level_is_the_plain_run_on_the_resampled_exemplar(rand_vars, wood32, pyramid):
    """Stage 0 learns from the exemplar resampled to 16 x 16 with 16 x 16 chains: its two
    steps are those of a plain run on that exemplar; the relative gaps of each stage are
    against its own F(x0); the model is the last stage's, averaged over its last half."""
    small = stage_exemplar(jnp.asarray(wood32), (16, 16), (32, 32))
    assert small.shape == (16, 16, 3)
    plain = synthesize(small, rand_vars, dataclasses.replace(
        SMALL, iterations=2, scales=None, scale_iterations=None, scale_mode="window"),
        progress=False)
    trace = pyramid.trace
    np.testing.assert_array_equal(plain.trace["theta"], trace["theta"][:2])
    np.testing.assert_allclose(trace["relative_gap"][:2], plain.trace["relative_gap"],
                               rtol=1e-6)
    np.testing.assert_array_equal(trace["stage"], [0, 0, 1, 1, 1, 1])
    assert pyramid.samples.shape == (2, 32, 32, 3)
    np.testing.assert_allclose(pyramid.model.theta, polyak_average(trace["theta"][2:]),
                               rtol=1e-6)
    assert not np.allclose(pyramid.model.theta, polyak_average(trace["theta"]))


def test_theta_carries_or_restarts_at_a_level_change(rand_vars, wood32, pyramid):
    """theta_{n+1} = theta_n + delta gap_{n+1} (no projection at these sizes): across the
    change from theta_1 with ``carry``, from 0 with ``reset``."""
    delta = SMALL.delta
    theta, gap = pyramid.trace["theta"], pyramid.trace["gap"]
    np.testing.assert_allclose(theta[2], theta[1] + delta * gap[2], rtol=1e-5, atol=1e-6)
    reset = synthesize(wood32, rand_vars, dataclasses.replace(SMALL, scale_theta="reset"),
                       progress=False).trace
    np.testing.assert_array_equal(reset["theta"][:2], theta[:2])
    np.testing.assert_allclose(reset["theta"][2], delta * reset["gap"][2], rtol=1e-5,
                               atol=1e-7)
    assert np.linalg.norm(theta[1]) > 0.1 * np.linalg.norm(reset["theta"][2])


def test_upsample_growth_starts_the_level_from_the_interpolated_chains(rand_vars, wood32):
    """With ``upsample`` and no inner step in between, the next level's chains are the last
    ones resampled: a 1-step first level, then the 32 px level started from it."""
    config = dataclasses.replace(SMALL, scale_growth="upsample", iterations=3,
                                 scale_iterations=(1, 2))
    small = stage_exemplar(jnp.asarray(wood32), (16, 16), (32, 32))
    first = synthesize(small, rand_vars, dataclasses.replace(
        config, iterations=1, scales=None, scale_iterations=None, scale_mode="window",
        scale_growth="adsn"), progress=False)
    assert first.samples.shape == (2, 16, 16, 3)
    grown = np.asarray(fourier_resample(first.samples, (32, 32)))
    whole = synthesize(wood32, rand_vars, config, progress=False)
    # the chains moved by two Langevin sweeps from `grown`: close to it, not to new draws
    assert np.abs(whole.samples - grown).mean() < 0.2 * np.abs(grown - grown.mean()).mean()


def test_the_default_of_scales_is_the_pyramid_with_detail_growth(rand_vars, wood32):
    """``scale_growth="auto"`` (the default) is ``detail`` in pyramid mode (the default mode)
    and ``adsn`` in window mode, bit for bit."""
    default = SynthesisConfig()
    assert (default.scale_mode, default.scale_growth, default.scale_theta) == (
        "pyramid", "auto", "carry")
    for mode, growth in (("pyramid", "detail"), ("window", "adsn")):
        auto, named = (synthesize(wood32, rand_vars, dataclasses.replace(
            SMALL, iterations=3, scale_iterations=(1, 2), scale_mode=mode, scale_growth=g),
            progress=False) for g in ("auto", growth))
        np.testing.assert_array_equal(auto.samples, named.samples)
        np.testing.assert_array_equal(auto.trace["theta"], named.trace["theta"])


@pytest.mark.parametrize("saves", [1, 2])
def test_resume_across_a_level_change_is_bit_identical(rand_vars, wood32, crash_then_resume,
                                                       saves):
    config = dataclasses.replace(SMALL, scale_growth="detail")
    whole = synthesize(wood32, rand_vars, config, progress=False)
    resumed = crash_then_resume(wood32, rand_vars, config, saves)
    np.testing.assert_array_equal(whole.samples, resumed.samples)
    for key in ("theta", "gap_norms", "relative_gap", "stage"):
        np.testing.assert_array_equal(whole.trace[key], resumed.trace[key])
    np.testing.assert_array_equal(whole.model.theta, resumed.model.theta)


@pytest.mark.parametrize("flags, words", [
    ("--scales 32,64 --scale-growth tile", "scale-growth tile does not go with scale-mode "
                                           "pyramid"),
    ("--scales 16,64", "the exemplar resampled for scale 16 is 8x8"),
])
def test_bad_pyramid_settings_are_one_line_and_exit_2(tmp_path, wood32, capsys, flags, words):
    image = tmp_path / "wood.png"
    save_image(image, np.asarray(wood32))
    out = tmp_path / "out"
    code = main(["synthesize", str(image), "--out-dir", str(out), "--size", "64", "64",
                 "--iterations", "8", "--no-progress", "--scale-mode", "pyramid",
                 *flags.split()])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and words in err, err
    assert not out.exists()
