"""Metrics on cases whose answer is known in closed form."""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest

from maxent_jax import metrics
from maxent_jax.metrics.patches import _sliced_distance
from maxent_jax.gaussian import random_phase_noise

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


# ============================================================================================
# Metrics that no method optimises (issue 14): floors from real crops, controlled degradations
# ============================================================================================

def _blur(x, sigma):
    """Periodic Gaussian blur of ``(..., H, W, C)`` by FFT (std ``sigma`` pixels)."""
    h, w = x.shape[-3:-1]
    f2 = np.fft.fftfreq(h)[:, None] ** 2 + np.fft.fftfreq(w)[None] ** 2
    g = np.exp(-2 * (np.pi * sigma) ** 2 * f2)[..., None]
    return np.real(np.fft.ifft2(np.fft.fft2(x, axes=(-3, -2)) * g, axes=(-3, -2)))


def _contrast(x, a):
    m = x.mean(axis=(-3, -2), keepdims=True)
    return m + a * (x - m)


def _shuffle(xs, block, seed=0):
    """Cut every image into ``block x block`` blocks and permute them."""
    rng, out = np.random.default_rng(seed), []
    for x in xs:
        h, w, c = x.shape
        b = x.reshape(h // block, block, w // block, block, c).swapaxes(1, 2)
        b = b.reshape(-1, block, block, c)[rng.permutation((h // block) * (w // block))]
        out.append(b.reshape(h // block, w // block, block, block, c).swapaxes(1, 2)
                   .reshape(h, w, c))
    return np.stack(out)


@functools.lru_cache(maxsize=None)
def _texture(name):
    """``(exemplar, real samples, ADSN samples)``: crop 0 of the bundled 256 px exemplar cut
    into 16 disjoint 64 px crops, crops 1..8, and 8 exact ADSN samples of crop 0."""
    from maxent_jax.exemplars import load_exemplar
    from maxent_jax.gaussian import adsn

    crops = metrics.real_crops(load_exemplar(name), 64).astype(np.float64)
    gauss = np.asarray(adsn(jax.random.key(0), crops[0].astype(np.float32), num=8), np.float64)
    return crops[0], crops[1:9], gauss


def _increasing(values, floor):
    """``floor < values[0] < values[1] < ...``, with the values in the message."""
    seq = [floor, *values]
    assert all(a < b for a, b in zip(seq, seq[1:])), seq


def test_real_crops_are_disjoint_and_cover_the_grid():
    x = np.arange(256 * 256, dtype=np.float32).reshape(256, 256, 1)
    crops = metrics.real_crops(x, 64)
    assert crops.shape == (16, 64, 64, 1)
    assert len(np.unique(crops)) == 256 * 256  # disjoint and covering
    np.testing.assert_array_equal(crops[5], x[64:128, 64:128])
    assert metrics.real_crops(x, 128).shape == (4, 128, 128, 1)
    assert metrics.real_crops(x, 64, num=3).shape[0] == 3
    with pytest.raises(ValueError, match="disjoint"):
        metrics.real_crops(x, 128, num=5)


def test_floor_is_computed_from_crops_and_adsn():
    from maxent_jax.exemplars import load_exemplar

    image = load_exemplar("gravel")
    fl = metrics.floor(metrics.normalised_diversity, image, crop=64, num=6)
    crops = metrics.real_crops(image, 64)
    assert fl["num"] == 6 and fl["exemplar"].shape == (64, 64, 1)
    assert fl["real"] == pytest.approx(metrics.normalised_diversity(crops[1:7], crops[0]))
    assert 0.85 < fl["real"] < 1.15 and 0.85 < fl["adsn"] < 1.15  # independent samples


def test_sliced_wasserstein_of_empirical_measures_of_different_sizes():
    rng = np.random.default_rng(1)
    a, b = np.sort(rng.normal(size=(7, 3)), 0), np.sort(rng.normal(size=(5, 3)), 0)
    t = (np.arange(70000) + 0.5) / 70000  # brute force: step quantile functions on a fine grid
    qa, qb = a[(t * 7).astype(int)], b[(t * 5).astype(int)]
    assert _sliced_distance(a, b, 2) == pytest.approx(np.sqrt(np.mean((qa - qb) ** 2)))
    assert _sliced_distance(a, b, 1) == pytest.approx(np.mean(np.abs(qa - qb)))
    assert _sliced_distance(np.sort(np.concatenate([b, b]), 0), b, 2) == 0.0
    # grey one-pixel patches, one level, pixel units: directions are +-1, a shift by c moves
    # every projection by c
    grey, kw = X0[..., :1], dict(levels=1, patch=1, normalise=False)
    assert metrics.patch_sliced_wasserstein(grey + 0.1, grey, **kw) == pytest.approx(0.1, rel=1e-5)
    assert metrics.patch_sliced_wasserstein(np.tile(grey, (2, 3, 1)), grey, **kw) == 0.0


def test_patch_sliced_wasserstein_floor_and_degradations():
    x0, real, _ = _texture("gravel")
    psw = metrics.patch_sliced_wasserstein
    assert psw(x0, x0) == 0.0
    assert psw(x0, x0, seed=3, pyramid="gaussian") == 0.0
    for a in (0.5, 1.5):  # each level relative to the exemplar's spread: about |1 - a|
        assert psw(_contrast(x0, a), x0) == pytest.approx(abs(1 - a), rel=0.02)
    floor = psw(real, x0)
    assert 0.0 < floor < 0.3
    _increasing([psw(_blur(real, s), x0) for s in (0.5, 1.0, 2.0)], floor)
    _increasing([psw(_contrast(real, a), x0) for a in (0.8, 0.6)], floor)
    _increasing([psw(_shuffle(real, b), x0) for b in (8, 4)], floor)
    per = psw(real[:3], x0, per_sample=True, directions=64)
    assert per.shape == (3,) and np.all(per > 0)
    with pytest.raises(ValueError, match="smaller than"):
        psw(real[:, :16, :16], x0)


def test_welch_spectrum_normalisation_and_model():
    rng = np.random.default_rng(2)
    white = 0.1 * rng.standard_normal((4, 64, 64, 1))
    s = metrics.welch_power_spectrum(white, 16)
    assert s.mean() == pytest.approx(0.01, rel=0.05)  # variance per frequency
    # the model spectrum is the exact expectation of the Welch estimate of ADSN samples:
    # X = m + t * W / 4 (periodic, 4 x 4 exemplar), segment 2 x 2 at the origin, Hann window
    from maxent_jax.gaussian import periodic_component

    x0 = rng.uniform(size=(6, 6, 1)).astype(np.float32)
    t = np.asarray(periodic_component(x0), np.float64)[..., 0]
    t -= t.mean()
    L, n = 4, 6
    w = np.outer(np.hanning(L), np.hanning(L))
    conv = np.zeros((L * L, n * n))  # segment pixel u <- noise pixel z: t(u - z) / n
    for u in range(L * L):
        for z in range(n * n):
            conv[u, z] = t[(u // L - z // n) % n, (u % L - z % n) % n] / n
    dft = np.stack([np.exp(-2j * np.pi * (f // L * np.arange(L)[:, None]
                                          + f % L * np.arange(L)[None]) / L).ravel()
                    for f in range(L * L)])
    expected = np.sum(np.abs(dft @ (w.ravel()[:, None] * conv)) ** 2, 1) / np.sum(w ** 2)
    np.testing.assert_allclose(metrics.model_welch_spectrum(x0, L).ravel(), expected,
                               rtol=1e-5, atol=1e-12)


def test_welch_spectrum_distance_floor_and_degradations():
    x0, real, gauss = _texture("gravel")
    dist = metrics.welch_spectrum_distance
    adsn_score = dist(gauss, x0)
    assert adsn_score < 0.05  # only estimation noise ...
    assert adsn_score < metrics.power_spectrum_distance(gauss, x0) / 3  # ... unlike before
    for a in (0.8, 0.6):  # scaling x - m by a shifts every log-ratio by 2 log10 a
        assert dist(_contrast(gauss, a), x0) == pytest.approx(-2 * np.log10(a), abs=adsn_score)
    floor = dist(real, x0)
    assert floor < 0.15
    _increasing([dist(_blur(real, s), x0) for s in (0.5, 1.0, 2.0)], floor)
    _increasing([dist(_contrast(real, a), x0) for a in (0.8, 0.6)], floor)
    _increasing([dist(_shuffle(real, b), x0) for b in (8, 4)], floor)
    assert dist(real, x0, per_sample=True).shape == (8,)


def test_normalised_diversity():
    x0, real, gauss = _texture("grass")
    div = metrics.normalised_diversity
    assert div(np.stack([x0, x0, x0]), x0) == 0.0  # copies
    assert 0.9 < div(real, x0) < 1.1 and 0.9 < div(gauss, x0) < 1.1
    for a in (0.8, 0.6):  # (each crop's own mean is kept: not exactly a times)
        assert div(_contrast(real, a), x0) == pytest.approx(a * div(real, x0), rel=0.03)
    blurred = [div(_blur(real, s), x0) for s in (0.5, 1.0, 2.0)]
    assert div(real, x0) > blurred[0] > blurred[1] > blurred[2]
    assert div(real, x0, per_pair=True).shape == (28,)
    assert np.isnan(div(x0, x0))


def test_copied_patch_fraction_is_the_memorisation_signal():
    x0, real, gauss = _texture("gravel")
    frac = metrics.copied_patch_fraction
    rng = np.random.default_rng(3)
    copies = np.stack([np.roll(x0, (3 * i, 5 * i), axis=(0, 1)) for i in range(4)])
    noise = x0.std() * rng.standard_normal(copies.shape)
    values = [frac(copies, x0), frac(copies + 0.1 * noise, x0), frac(copies + 0.3 * noise, x0)]
    assert values[0] == 1.0 and values[1] > 0.8 and values[2] < 0.2
    assert frac(gauss, x0) < 0.01
    assert frac(real, x0) < 0.05  # the floor: other crops of the same texture
    half = np.concatenate([copies[:, :32], real[:4, 32:]], axis=1)  # top half copied
    assert 0.35 < frac(half, x0) < 0.6
    assert frac(copies[:2], x0, per_sample=True).tolist() == [1.0, 1.0]
    x0b, realb, _ = _texture("brick")  # a repetitive texture: floor stays low
    assert frac(realb, x0b) < 0.1


def test_layout_correlation_and_between_chains():
    x0, real, gauss = _texture("gravel")
    own = metrics.layout_correlation(x0, x0)
    assert own["zero_shift"][0] == pytest.approx(1.0) and own["best_shift"][0] == pytest.approx(1)
    shifted = metrics.layout_correlation(np.roll(x0, (7, -20), axis=(0, 1)), x0)
    assert shifted["best_shift"][0] == pytest.approx(1.0)
    assert tuple(shifted["shift"][0]) == (64 - 7, 20)
    assert abs(shifted["zero_shift"][0]) < 0.3
    g = metrics.layout_correlation(gauss, x0)
    assert abs(g["zero_shift"].mean()) < 0.1 and np.all(np.abs(g["zero_shift"]) < 0.3)
    assert np.all(g["best_shift"] < 0.5)
    big = np.tile(x0, (2, 2, 1))  # larger samples are cropped to the exemplar's size
    assert metrics.layout_correlation(big, x0)["zero_shift"][0] == pytest.approx(1.0)
    pairs = metrics.between_chain_correlation(gauss)
    assert pairs.shape == (28,) and abs(pairs.mean()) < 0.1
    same = metrics.between_chain_correlation(np.stack([x0, 0.5 * x0 + 0.2, x0]))
    np.testing.assert_allclose(same, 1.0, rtol=1e-9)


def test_held_out_gaps_skip_the_constrained_statistics():
    def act(x):
        x = np.asarray(x, np.float64)
        return {"a": x, "b": x ** 2, "c": np.sqrt(x)}

    acts0 = act(X0)
    samples = [act(np.roll(X0, 3, axis=0)), act(X0[::-1])]  # same means and Grams as X0
    gaps = metrics.held_out_gaps(samples, acts0, {"mean": ("a",), "gram": ("a", "b")})
    assert set(gaps["mean"]) == {"b", "c", "all"} and set(gaps["gram"]) == {"c", "all"}
    assert set(gaps["mean_of_samples"]) == {"b", "c", "all"}
    assert max(np.max(v) for k in ("mean", "gram") for v in gaps[k].values()) < 1e-12
    m = X0.mean(axis=(0, 1))
    worse = [metrics.held_out_gaps([act(m + a * (X0 - m))], acts0, {"mean": ("a",)})
             for a in (1.0, 0.8, 0.6)]
    for kind in ("mean", "gram"):
        _increasing([w[kind]["all"][0] for w in worse[1:]], worse[0][kind]["all"][0])
    stacked = {k: np.stack([s[k] for s in samples]) for k in samples[0]}  # one dict (S, ...)
    again = metrics.held_out_gaps(stacked, acts0, {"mean": ("a",)}, kinds=("mean",))
    assert set(again) == {"mean", "mean_of_samples"}
    assert metrics.held_out_gaps(samples, acts0, "adsn")["gram"].keys() == {"a", "b", "c", "all"}


def test_held_out_gaps_with_a_real_network():
    from maxent_jax.nn import features as feats
    from maxent_jax.nn.vgg import random_variables

    spec = feats.get_spec(None, layers=("relu1_1", "relu2_1"))
    variables = random_variables(jax.random.key(0), layers=("relu2_1",))
    act = functools.partial(feats.vgg_for(spec).apply, variables)
    x = X0[:16, :16]
    gaps = metrics.held_out_gaps([act(x), act(x[::-1])], act(x), "lu_zhu_wu")
    assert gaps["mean"] == {} and gaps["mean_of_samples"] == {}  # both layers constrained
    assert set(gaps["gram"]) == {"relu1_1", "relu2_1", "all"}
    assert gaps["gram"]["all"][0] < 1e-6 and gaps["gram"]["all"][1] > 1e-3


def test_constrained_statistics_match_the_methods():
    from maxent_jax.baselines.gatys import GATYS_LAYERS
    from maxent_jax.baselines.lu_zhu_wu import LZW_LAYERS
    from maxent_jax.nn.features import PRESETS

    c = metrics.CONSTRAINED_STATISTICS
    assert c["gatys"] == {"gram": GATYS_LAYERS} and c["lu_zhu_wu"] == {"mean": LZW_LAYERS}
    for preset in ("full", "deep", "shallow", "paper"):
        assert c[f"macro_{preset}"] == {"mean": PRESETS[preset].layers}
    assert c["microcanonical"] == {"mean": PRESETS["full"].layers} and c["adsn"] == {}


def test_bootstrap_interval():
    values = np.random.default_rng(4).normal(1.0, 0.5, size=40)
    ci = metrics.bootstrap_interval(values)
    assert ci.estimate == pytest.approx(values.mean())
    assert ci.low < ci.estimate < ci.high
    half_width = 1.96 * values.std(ddof=1) / np.sqrt(values.size)  # normal approximation
    assert (ci.high - ci.low) / 2 == pytest.approx(half_width, rel=0.2)
    assert metrics.bootstrap_interval(values) == ci  # seeded
    narrow = metrics.bootstrap_interval(values, level=0.5)
    assert ci.low < narrow.low < narrow.high < ci.high
    assert metrics.bootstrap_interval([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)


def test_texture_metrics_collects_the_new_metrics():
    x0, real, _ = _texture("grass")
    out = metrics.texture_metrics(real[:3], x0, directions=32)
    assert {"patch_sliced_wasserstein", "welch_spectrum_distance", "normalised_diversity",
            "copied_patch_fraction", "layout_zero_shift", "layout_best_shift",
            "between_chain_correlation"} <= set(out)
    assert out["per_sample"]["patch_sliced_wasserstein"].shape == (3,)
    assert out["per_sample"]["between_chain_correlation"].shape == (3,)


def test_held_out_exemplars_are_listed_apart():
    from maxent_jax.exemplars import list_exemplars, load_exemplar

    assert list_exemplars() == ["brick", "grass", "gravel", "wood"]
    held_out = list_exemplars(held_out=True)
    assert 2 <= len(held_out) <= 4 and not set(held_out) & set(list_exemplars())
    for name in held_out:
        x = load_exemplar(name)
        assert x.shape[:2] == (256, 256) and 0.0 <= x.min() and x.max() <= 1.0


# --- controlled degradations that the tests above do not cover --------------------------------

def test_diversity_falls_as_the_samples_approach_one_image():
    x0, real, _ = _texture("gravel")
    div = [metrics.normalised_diversity((1 - t) * real + t * x0, x0)
           for t in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert all(a > b for a, b in zip(div, div[1:])), div
    assert div[-1] == 0.0 and div[0] == pytest.approx(1.0, abs=0.1)  # copies; the floor


def test_copied_patch_fraction_grows_with_the_copied_share():
    x0, real, gauss = _texture("gravel")
    fractions = []
    for k in range(5):  # the top k quarters of every real crop replaced by the exemplar's
        s = real.copy()
        s[:, :16 * k] = x0[None, :16 * k]
        fractions.append(metrics.copied_patch_fraction(s, x0))
    floor = metrics.copied_patch_fraction(real, x0)
    assert fractions[0] == floor and metrics.copied_patch_fraction(gauss, x0) <= 0.01
    _increasing(fractions[1:], floor)
    assert fractions[-1] == 1.0


def test_layout_correlations_grow_with_layout_copying():
    x0, real, _ = _texture("gravel")
    blends = [(1 - t) * real + t * x0 for t in (0.25, 0.5, 0.75)]  # toward the exemplar
    floor = metrics.layout_correlation(real, x0)["zero_shift"].mean()
    assert abs(floor) < 0.1
    _increasing([metrics.layout_correlation(b, x0)["zero_shift"].mean() for b in blends], floor)
    common = real[0]  # chains drawn toward one common image
    chains = [metrics.between_chain_correlation((1 - t) * real + t * common).mean()
              for t in (0.25, 0.5, 0.75)]
    floor = metrics.between_chain_correlation(real).mean()
    assert abs(floor) < 0.1
    _increasing(chains, floor)


def test_held_out_gaps_floor_and_degradations_with_a_network():
    from maxent_jax.nn import features as feats
    from maxent_jax.nn.vgg import random_variables

    x0, real, _ = _texture("gravel")
    spec = feats.get_spec(None, layers=("relu1_1", "relu1_2", "pool1", "relu2_1"),
                          activation="relu", pooling="avg")
    fn = jax.jit(functools.partial(feats.vgg_for(spec).apply,
                                   random_variables(jax.random.key(0), layers=("relu2_1",))))
    acts0 = fn(np.float32(x0))

    def gap(xs, kind):
        acts = [fn(np.float32(x)) for x in xs]
        out = metrics.held_out_gaps(acts, acts0, {"mean": ("relu1_1",), "gram": ("relu1_1",)})
        assert "relu1_1" not in out[kind]
        return out[kind]["all"].mean()

    for kind in ("mean", "gram"):
        assert gap(x0[None], kind) < 1e-6  # identical
        floor = gap(real, kind)
        assert 0 < floor < 0.1
        _increasing([gap(_blur(real, s), kind) for s in (0.5, 1.0, 2.0)], floor)
        _increasing([gap(_contrast(real, a), kind) for a in (0.8, 0.6)], floor)
        _increasing([gap(_shuffle(real, b), kind) for b in (8, 4)], floor)


def test_floor_of_the_patch_metric_is_computed_from_crops_and_adsn():
    from maxent_jax.exemplars import load_exemplar
    from maxent_jax.gaussian import adsn

    image = load_exemplar("grass")
    psw = functools.partial(metrics.patch_sliced_wasserstein, directions=32)
    fl = metrics.floor(psw, image, crop=64, num=3, seed=5)
    crops = metrics.real_crops(image, 64)
    assert fl["real"] == psw(crops[1:4], crops[0])
    gauss = np.asarray(adsn(jax.random.key(5), crops[0], num=3))
    assert fl["adsn"] == pytest.approx(psw(gauss, crops[0]), rel=1e-6)
    np.testing.assert_array_equal(fl["exemplar"], crops[0])


def test_stratified_bootstrap_interval():
    rng = np.random.default_rng(5)
    groups = [rng.normal(1.0, 0.5, size=30), rng.normal(3.0, 1.0, size=20)]
    ci = metrics.stratified_bootstrap_interval(groups)
    assert ci.estimate == pytest.approx((groups[0].mean() + groups[1].mean()) / 2)
    assert ci.low < ci.estimate < ci.high
    se = np.sqrt(sum(g.var(ddof=1) / g.size for g in groups)) / 2  # of the mean of means
    assert (ci.high - ci.low) / 2 == pytest.approx(1.96 * se, rel=0.2)
    assert metrics.stratified_bootstrap_interval(groups) == ci  # seeded
    one = metrics.stratified_bootstrap_interval(groups[:1])  # one group: the plain bootstrap
    assert tuple(one) == pytest.approx(tuple(metrics.bootstrap_interval(groups[0])))
    with pytest.raises(ValueError):
        metrics.stratified_bootstrap_interval([groups[0], []])
