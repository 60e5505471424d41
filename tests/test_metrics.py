"""Metrics on cases whose answer is known in closed form."""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest

from maxent_jax import metrics
from maxent_jax.tasks.gaussian import random_phase_noise

RNG = np.random.default_rng(0)
X0 = RNG.uniform(0.2, 0.8, size=(32, 32, 3)).astype(np.float32)


def toy_features(x):
    """F(x) = (channel means, channel mean squares): two 'layers' of 3 numbers."""
    x = np.asarray(x, np.float64)
    return np.concatenate([x.mean(axis=(0, 1)), (x**2).mean(axis=(0, 1))])


TOY_BLOCKS = {"mean": slice(0, 3), "square": slice(3, 6)}


def test_relative_gap():
    assert metrics.relative_gap([3.0, 4.0], [0.0, 5.0]) == pytest.approx(np.sqrt(10) / 5)


def test_feature_gap_of_mean_and_per_sample():
    c = np.array([0.1, -0.05, 0.02])
    samples = np.stack([X0 + c, X0 - c])
    m0 = X0.mean(axis=(0, 1)).astype(np.float64)
    of_mean = metrics.feature_gap(toy_features, samples, X0, TOY_BLOCKS)
    per_sample = metrics.feature_gap(toy_features, samples, X0, TOY_BLOCKS, of_mean=False)
    assert of_mean["mean"] == pytest.approx(0.0, abs=1e-6)  # +c and -c cancel in the mean
    assert per_sample["mean"] == pytest.approx(np.linalg.norm(c) / np.linalg.norm(m0), rel=1e-5)
    assert set(of_mean) == {"mean", "square", "all"}


def test_feature_gap_of_the_exemplar_with_a_real_network_is_zero():
    from maxent_jax.nn import features as feats
    from maxent_jax.nn.vgg import random_variables

    spec = feats.get_spec(None, layers=("relu1_1", "relu2_1"))
    fn = feats.make_feature_fn(spec, random_variables(jax.random.key(0), layers=("relu2_1",)))
    x = X0[:16, :16]
    gaps = metrics.feature_gap(fn, x, x, feats.layer_slices(spec))
    assert set(gaps) == {"relu1_1", "relu2_1", "all"}
    assert max(gaps.values()) < 1e-6


def test_gram_gap_scales_with_the_activations():
    act = lambda x: {"a": np.asarray(x), "b": 2 * np.asarray(x)}  # noqa: E731
    gaps = metrics.gram_gap(act, 2 * X0, X0)  # G scales by 4: relative gap 3
    assert gaps == pytest.approx({"a": 3.0, "b": 3.0, "all": 3.0}, rel=1e-5)
    assert metrics.gram_gap(act, X0, X0)["all"] == pytest.approx(0.0, abs=1e-7)


def test_radial_spectrum_of_a_cosine_is_one_ring():
    n = np.arange(32)
    x = np.cos(2 * np.pi * 4 * n / 32)[:, None, None] * np.ones((32, 32, 1))
    s = metrics.radial_power_spectrum(x, 16)
    assert np.argmax(s) == 3  # radius 4/32 = 0.125 lies in the ring (3/32, 4/32]
    assert np.all(np.delete(s, 3) < 1e-20)


def test_power_spectrum_distance_known_answers():
    shifted = np.roll(X0, (5, -3), axis=(0, 1))
    assert metrics.power_spectrum_distance(shifted, X0) == pytest.approx(0.0, abs=1e-9)
    m = X0.mean(axis=(0, 1))
    scaled = m + 2.0 * (X0 - m)  # spectrum x 4 everywhere: |log10 4|
    assert metrics.power_spectrum_distance(scaled, X0) == pytest.approx(np.log10(4.0), rel=1e-6)
    rpn = np.asarray(random_phase_noise(jax.random.key(0), X0, periodic=False, num=2))
    assert metrics.power_spectrum_distance(rpn, X0) < 1e-4  # RPN keeps |FFT| exactly


def test_colour_histogram_distance_known_answers():
    perm = RNG.permutation(32 * 32)
    shuffled = X0.reshape(-1, 3)[perm].reshape(X0.shape)
    assert metrics.colour_histogram_distance(shuffled, X0) == pytest.approx(0.0, abs=1e-9)
    assert metrics.colour_histogram_distance(X0 + 0.1, X0) == pytest.approx(0.1, rel=1e-5)
    tiled = np.tile(X0, (2, 3, 1))  # other size, same distribution
    assert metrics.colour_histogram_distance(tiled, X0) == pytest.approx(0.0, abs=1e-9)
    grey = X0[..., :1]
    assert metrics.colour_histogram_distance(np.repeat(grey, 3, -1), grey) == pytest.approx(0.0)


def test_diversity_known_answers():
    samples = np.stack([X0, X0 + 0.1, X0 + 0.3])
    assert metrics.diversity(samples) == pytest.approx((0.1 + 0.3 + 0.2) / 3, rel=1e-5)
    assert np.isnan(metrics.diversity(X0))


def test_extract_patches():
    x = np.arange(5 * 6 * 2, dtype=np.float64).reshape(5, 6, 2)
    p = metrics.extract_patches(x, 3, stride=2)
    assert p.shape == (2 * 2, 3 * 3 * 2)
    np.testing.assert_array_equal(p[1], x[0:3, 2:5].ravel())


def test_memorisation_known_answers():
    crop = X0[5:29, 3:27]
    copied = metrics.memorisation(crop, X0)
    assert copied["nearest_patch_distance"] == pytest.approx(0.0, abs=1e-6)
    assert copied["copied_fraction"] == 1.0
    offset = metrics.memorisation(X0 + 0.01, X0, threshold=0.02)
    assert offset["nearest_patch_distance"] == pytest.approx(0.01, rel=1e-4)
    assert offset["copied_fraction"] == 1.0
    assert metrics.memorisation(X0 + 0.01, X0, threshold=0.005)["copied_fraction"] == 0.0
    fresh = metrics.memorisation(RNG.uniform(0.2, 0.8, size=(32, 32, 3)), X0)
    assert fresh["copied_fraction"] == 0.0 and fresh["nearest_patch_distance"] > 0.1


def test_evaluate_collects_everything():
    out = metrics.evaluate(np.stack([X0, X0[::-1]]), X0, feature_fn=toy_features,
                           blocks=TOY_BLOCKS, activation_fn=lambda x: {"a": np.asarray(x)})
    assert {"power_spectrum_distance", "colour_histogram_distance", "diversity",
            "nearest_patch_distance", "copied_fraction", "feature_gap",
            "feature_gap_per_sample", "gram_gap"} <= set(out)
    assert out["colour_histogram_distance"] == pytest.approx(0.0, abs=1e-9)
    assert functools.reduce(lambda a, b: a and np.isfinite(b), out["feature_gap"].values(), True)
