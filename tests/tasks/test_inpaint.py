"""Inpainting against closed forms: dense Gaussian conditioning, known pixels kept bit for bit."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from maxent_jax.nn.backbone import prepare_backbone
from PIL import Image

from maxent_jax.nn import features as feats
from maxent_jax.tasks import inpaint as ip
from maxent_jax.gaussian import mean_and_autocorrelation, prepare_spot
from maxent_jax.nn.vgg import random_variables


# ------------------------------------------------------------------------------------------
# helpers: the dense (explicit matrix) Gaussian model
# ------------------------------------------------------------------------------------------

def dense_covariance(spot: np.ndarray) -> np.ndarray:
    """Gamma[(x, c), (y, c')] = sum_z t_c(z) t_c'(z + y - x), periodic, in float64."""
    t = np.asarray(spot, np.float64)
    h, w, c = t.shape
    gamma = np.zeros((h * w * c, h * w * c))
    for x in range(h * w):
        for y in range(h * w):
            (xi, xj), (yi, yj) = divmod(x, w), divmod(y, w)
            shifted = np.roll(t, (xi - yi, xj - yj), axis=(0, 1))  # shifted[z] = t[z + y - x]
            gamma[x * c:(x + 1) * c, y * c:(y + 1) * c] = np.einsum("abi,abj->ij", t, shifted)
    return gamma


def dense_conditional(model, image, mask, cond, jitter=0.0):
    """Mean and covariance of the unknown pixels given the values on ``cond`` (Schur formulas)."""
    c = image.shape[-1]
    gamma = dense_covariance(model.spot)
    lam = jitter * np.mean(np.sum(np.asarray(model.spot, np.float64) ** 2, axis=(0, 1)))
    ci = np.flatnonzero(np.repeat(np.asarray(cond).reshape(-1), c))
    ui = np.flatnonzero(np.repeat(np.asarray(mask).reshape(-1), c))
    m = np.tile(np.asarray(model.mean, np.float64), image.shape[0] * image.shape[1])
    g_cc = gamma[np.ix_(ci, ci)] + lam * np.eye(len(ci))
    g_uc = gamma[np.ix_(ui, ci)]
    mean = m[ui] + g_uc @ np.linalg.solve(g_cc, image.reshape(-1)[ci] - m[ci])
    cov = gamma[np.ix_(ui, ui)] - g_uc @ np.linalg.solve(g_cc, g_uc.T)
    return mean, cov


def tiny_case(shape=(6, 5, 1), hole=(slice(2, 4), slice(1, 3)), seed=0):
    image = np.random.default_rng(seed).uniform(size=shape).astype(np.float32)
    mask = np.zeros(shape[:2], bool)
    mask[hole] = True
    return image, mask


# ------------------------------------------------------------------------------------------
# Gaussian model
# ------------------------------------------------------------------------------------------

def test_covariance_matvec_is_the_adsn_autocorrelation():
    """Exemplar model: Gamma is C0 of ``mean_and_autocorrelation`` (an independent code path)."""
    exemplar = np.random.default_rng(1).uniform(size=(6, 5, 3)).astype(np.float32)
    image, mask = tiny_case((6, 5, 3))
    model = ip.gaussian_model(image, mask, exemplar=exemplar)
    _, c0 = mean_and_autocorrelation(prepare_spot(exemplar))
    c0 = np.asarray(c0, np.float64)
    h, w, c = image.shape
    gamma = np.zeros((h * w * c,) * 2)
    for x in range(h * w):
        for y in range(h * w):
            (xi, xj), (yi, yj) = divmod(x, w), divmod(y, w)
            gamma[x * c:(x + 1) * c, y * c:(y + 1) * c] = c0[(yi - xi) % h, (yj - xj) % w]
    np.testing.assert_allclose(gamma, dense_covariance(model.spot), atol=1e-7)
    v = np.random.default_rng(2).normal(size=image.shape).astype(np.float32)
    got = np.asarray(ip.covariance_matvec(model, jnp.asarray(v))).reshape(-1)
    np.testing.assert_allclose(got, gamma @ v.reshape(-1), rtol=1e-4, atol=1e-6)


def test_known_part_model_has_the_known_mean_and_variance():
    image, mask = tiny_case((8, 8, 3))
    model = ip.gaussian_model(image, mask)
    known = image[~mask]
    np.testing.assert_allclose(model.mean, known.mean(0), rtol=1e-5)
    # Gamma_cc(0) = sum_z t_c(z)^2 = the empirical variance of the known pixels
    np.testing.assert_allclose(np.sum(np.asarray(model.spot) ** 2, axis=(0, 1)), known.var(0),
                               rtol=1e-4)


@pytest.mark.parametrize("channels, border, jitter", [(1, None, 0.0), (1, 1, 0.0),
                                                      (3, 1, 1e-3)])
def test_conditional_mean_is_the_dense_kriging_formula(channels, border, jitter):
    image, mask = tiny_case((6, 5, channels))
    model = ip.gaussian_model(image, mask)
    cond = ip.conditioning_set(mask, border)
    expected, _ = dense_conditional(model, image, mask, cond, jitter)
    got, info = ip.conditional_mean(model, image, cond, jitter=jitter, tol=1e-7, maxiter=2000)
    assert float(info.residual) < 1e-4
    np.testing.assert_allclose(np.asarray(got)[mask].reshape(-1), expected, atol=2e-4)


def test_conditioning_set_is_a_band_of_known_pixels():
    mask = np.zeros((9, 9), bool)
    mask[4, 4] = True
    band = np.asarray(ip.conditioning_set(mask, 2))
    expected = np.zeros((9, 9), bool)
    expected[2:7, 2:7] = True
    expected[4, 4] = False
    np.testing.assert_array_equal(band, expected)
    np.testing.assert_array_equal(ip.conditioning_set(mask, None), ~mask)
    with pytest.raises(ValueError, match="border"):
        ip.conditioning_set(mask, 0)


def test_conditional_samples_have_the_conditional_law():
    """Monte Carlo: mean and covariance of the unknown pixels match the Schur formulas."""
    image, mask = tiny_case((6, 5, 1))
    model = ip.gaussian_model(image, mask)
    mean, cov = dense_conditional(model, image, mask, ~mask)
    n = 20000
    samples, info = jax.jit(lambda k: ip.gaussian_inpaint(k, image, mask, border=None, num=n,
                                                          jitter=0.0, tol=1e-7))(
        jax.random.key(0))
    assert float(jnp.max(info.residual)) < 1e-4
    x = np.asarray(samples, np.float64)[:, mask].reshape(n, -1)
    sd = np.sqrt(np.diag(cov))
    np.testing.assert_array_less(np.abs(x.mean(0) - mean), 5 * sd / np.sqrt(n) + 1e-6)
    np.testing.assert_allclose(np.cov(x.T), cov, atol=0.06 * sd.max() ** 2)


def test_gaussian_inpaint_keeps_known_pixels_bit_for_bit():
    image, mask = tiny_case((12, 10, 3), hole=(slice(3, 8), slice(2, 6)))
    samples, _ = ip.gaussian_inpaint(jax.random.key(3), image, mask, num=3)
    samples = np.asarray(samples)
    assert samples.dtype == np.float32
    for s in samples:
        assert s[~mask].tobytes() == image[~mask].tobytes()
        assert not np.array_equal(s[mask], image[mask])
    assert not np.array_equal(samples[0][mask], samples[1][mask])


def test_exemplar_model_and_its_validation():
    image, mask = tiny_case((8, 8, 3), hole=(slice(2, 5), slice(2, 5)))
    exemplar = np.random.default_rng(4).uniform(size=(12, 5, 3)).astype(np.float32)
    model = ip.gaussian_model(image, mask, exemplar=exemplar)  # cropped, then spot-extended
    assert model.spot.shape == image.shape
    sample, _ = ip.gaussian_inpaint(jax.random.key(0), image, mask, exemplar=exemplar)
    assert np.asarray(sample)[~mask].tobytes() == image[~mask].tobytes()
    with pytest.raises(ValueError, match="channels"):
        ip.gaussian_model(image, mask, exemplar=exemplar[..., :1])


@pytest.mark.parametrize("mask, message", [
    (np.zeros((5, 5), bool), "same height and width"),
    (np.zeros((6, 5), bool), "empty"),
    (np.ones((6, 5), bool), "full"),
    (np.full((6, 5), 0.5, np.float32), "binary"),
    (np.full((6, 5), np.nan, np.float32), "binary"),
    (np.stack([np.eye(6, 5), np.zeros((6, 5)), np.zeros((6, 5))], -1), "channels differ"),
    (np.eye(6, 5)[..., None, None], "same height and width"),
])
def test_bad_masks_raise_clear_errors(mask, message):
    image = np.zeros((6, 5, 1), np.float32)
    with pytest.raises(ValueError, match=message):
        ip.validate_mask(mask, image.shape)
    with pytest.raises(ValueError, match=message):
        ip.gaussian_inpaint(jax.random.key(0), image, mask)


def test_valid_masks_are_accepted():
    eye = np.eye(6, 5)
    for mask in (eye.astype(bool), eye.astype(np.uint8), eye[..., None],
                 np.repeat(eye[..., None], 3, -1)):
        np.testing.assert_array_equal(ip.validate_mask(mask, (6, 5, 3)), eye.astype(bool))


# ------------------------------------------------------------------------------------------
# CNN model
# ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rand_vars():
    return random_variables(jax.random.key(0), layers=("relu3_1",))


def test_feature_regions_follow_the_receptive_fields(rand_vars):
    """Known positions ignore the unknown pixels exactly; hole positions all depend on them;
    neither set reaches the zero padding."""
    spec = feats.get_spec(layers=["relu1_1", "relu2_1", "relu2_2"])
    mask = np.zeros((32, 32), bool)
    mask[13:18, 12:19] = True
    regions = ip.feature_regions(spec, mask)
    rng = np.random.default_rng(0)
    x1 = rng.uniform(size=(32, 32, 3)).astype(np.float32)
    x2 = np.where(mask[..., None], rng.uniform(size=x1.shape), x1).astype(np.float32)
    net = feats.vgg_for(spec)
    a1, a2 = (net.apply(rand_vars, jnp.asarray(v)) for v in (x1, x2))
    b1 = feats.vgg_for(spec._replace(padding="reflect")).apply(rand_vars, jnp.asarray(x1))
    for name in spec.layers:
        known, hole = np.asarray(regions.known[name]), np.asarray(regions.hole[name])
        assert known.any() and hole.any() and not (known & hole).any()
        np.testing.assert_allclose(np.asarray(a1[name])[known], np.asarray(a2[name])[known],
                                   atol=1e-5)
        changed = np.abs(np.asarray(a1[name]) - np.asarray(a2[name])).max(-1) > 0
        assert changed[hole].all()
        # positions whose receptive field reaches the padding are in neither set: there, and
        # only there, zero and reflection padding give different activations
        padding_seen = np.abs(np.asarray(a1[name]) - np.asarray(b1[name])).max(-1) > 1e-5
        np.testing.assert_array_equal(padding_seen, ~(known | hole))


def test_feature_regions_fall_back_to_all_positions(rand_vars):
    spec = feats.get_spec(layers=["relu1_1", "relu3_1"])
    mask = np.zeros((16, 16), bool)
    mask[4:12, 4:12] = True
    regions = ip.feature_regions(spec, mask)
    assert np.asarray(regions.known["relu3_1"]).all() and np.asarray(regions.hole["relu3_1"]).all()
    x = jnp.asarray(np.random.default_rng(0).uniform(size=(16, 16, 3)), jnp.float32)
    backbone = prepare_backbone(spec, rand_vars, (16, 16))
    f0 = ip.known_features(backbone, x, mask)
    np.testing.assert_array_equal(ip.regions_used(spec, regions), [True, False])
    full = backbone.features(x)
    block = feats.layer_slices(spec)["relu3_1"]
    np.testing.assert_allclose(f0[block], full[block], rtol=1e-5)


def test_exemplar_features_use_interior_positions(rand_vars):
    spec = feats.get_spec(layers=["relu1_1", "relu2_1"])
    x = jnp.asarray(np.random.default_rng(2).uniform(size=(20, 24, 3)), jnp.float32)
    acts = feats.vgg_for(spec).apply(rand_vars, x)
    f0 = feats.unflatten(spec, ip.exemplar_features(prepare_backbone(spec, rand_vars, (20, 24)),
                                                    x))
    np.testing.assert_allclose(f0["relu1_1"], acts["relu1_1"][1:-1, 1:-1].mean((0, 1)), rtol=1e-5)
    # relu2_1 (10 x 12 positions): the receptive field of conv1_1, conv1_2, pool1, conv2_1
    # stays inside for positions 2 .. n-3
    np.testing.assert_allclose(f0["relu2_1"], acts["relu2_1"][2:-2, 2:-2].mean((0, 1)), rtol=1e-5)


def test_inpainting_energy_ignores_the_known_part_of_the_chain(rand_vars):
    image, mask = tiny_case((16, 16, 3), hole=(slice(5, 10), slice(6, 11)))
    spec = feats.get_spec(layers=["relu1_1"])
    f = ip.hole_feature_fn(prepare_backbone(spec, rand_vars, (16, 16)), mask)
    energy = ip.inpainting_energy(lambda th, x: (jnp.vdot(th, f(x)), f(x)), image, mask)
    theta = jnp.ones(feats.feature_dim(spec))
    z = jnp.asarray(np.random.default_rng(1).uniform(size=image.shape), jnp.float32)
    grad = np.asarray(jax.grad(lambda y: energy(theta, y)[0])(z))
    assert np.all(grad[~mask] == 0) and np.abs(grad[mask]).max() > 0
    z2 = jnp.where(mask[..., None], z, 0.3)
    np.testing.assert_array_equal(energy(theta, z)[1], energy(theta, z2)[1])


def test_cnn_inpainting_keeps_known_pixels_and_moves_the_hole(real_variables, wood32):
    image = wood32[:24, :24]
    mask = np.zeros(image.shape[:2], bool)
    mask[8:16, 9:17] = True
    config = ip.InpaintConfig(model="cnn", layers=("relu1_1", "relu2_1"), iterations=6,
                              chains=2, checkpoint_every=4, average_last=2)
    result = ip.inpaint_image(image, mask, real_variables, config)
    assert result.images.shape == (2, 24, 24, 3)
    for x, g, a in zip(result.images, result.gaussian, result.average):
        assert x[~mask].tobytes() == image[~mask].tobytes()
        assert a[~mask].tobytes() == image[~mask].tobytes()
        assert g[~mask].tobytes() == image[~mask].tobytes()
        assert not np.array_equal(x[mask], g[mask])
    trace = result.trace
    assert trace["relative_gap"].shape == (6,) and np.isfinite(trace["relative_gap"]).all()
    assert trace["regions_used"].tolist() == [True, False]  # relu2_1 falls back at 24 px


def test_gaussian_model_needs_no_network(wood32):
    mask = np.zeros(wood32.shape[:2], bool)
    mask[10:20, 10:20] = True
    result = ip.inpaint_image(wood32, mask, None, ip.InpaintConfig(chains=2))
    assert result.images.shape == (2, 32, 32, 3) and result.state is None
    assert result.images[0][~mask].tobytes() == wood32[~mask].tobytes()
    with pytest.raises(ValueError, match="VGG-19"):
        ip.inpaint_image(wood32, mask, None, ip.InpaintConfig(model="cnn", iterations=1))


@pytest.mark.parametrize("change, message", [
    (dict(model="rbf"), "model"), (dict(iterations=0), "iterations"),
    (dict(border=0), "border"), (dict(jitter=-1.0), "jitter"), (dict(gamma=0.0), "gamma"),
    (dict(preset="nope"), "preset"), (dict(average_last=5, iterations=2), "average-last"),
    (dict(optimism=float("inf")), "optimism"), (dict(delta=-0.1), "delta"),
])
def test_config_validation(change, message):
    with pytest.raises(ValueError, match=message):
        ip.InpaintConfig(**change).validate()


def test_cnn_defaults_are_those_of_synthesis():
    from maxent_jax.tasks.texture import SynthesisConfig

    ref, config = SynthesisConfig(), ip.InpaintConfig()
    for name in ("gamma", "delta", "optimism", "optimizer", "extensive", "beta", "eps"):
        assert getattr(config, name) == getattr(ref, name), name


# ------------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------------

def cli(argv):
    """``maxent-jax ...``: the console script's entry point (errors give exit status 2)."""
    from maxent_jax.cli import main

    return main(argv)


def _write_inputs(tmp_path, shape=(24, 20, 3)):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=shape, dtype=np.uint8)
    mask = np.zeros(shape[:2], np.uint8)
    mask[6:14, 5:12] = 255
    Image.fromarray(image).save(tmp_path / "image.png")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    return image, mask > 0


def test_cli_gaussian_keeps_known_pixels_of_the_png(tmp_path, capsys):
    image, mask = _write_inputs(tmp_path)
    out = tmp_path / "out"
    assert cli(["inpaint", str(tmp_path / "image.png"), str(tmp_path / "mask.png"),
                "--out-dir", str(out), "--num", "2", "--seed", "1"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["config.json", "inpainted_000.png", "inpainted_001.png", "mask.png",
                     "masked.png"]
    result = np.asarray(Image.open(out / "inpainted_000.png"))
    np.testing.assert_array_equal(result[~mask], image[~mask])
    assert not np.array_equal(result[mask], image[mask])
    assert "inpainted" in capsys.readouterr().out


def test_cli_cnn_writes_trace(tmp_path):
    _write_inputs(tmp_path, (24, 24, 3))
    out = tmp_path / "out"
    assert cli(["inpaint", str(tmp_path / "image.png"), str(tmp_path / "mask.png"),
                "--out-dir", str(out), "--model", "cnn", "--layers", "relu1_1,relu2_1",
                "--iterations", "3", "--optimism", "0", "--delta", "0.01", "--no-progress"]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"inpainted_000.png", "gaussian_000.png", "trace.npz", "trace.png",
            "config.json"} <= names
    config = json.loads((out / "config.json").read_text())["config"]
    assert (config["optimism"], config["delta"], config["model"]) == (0, 0.01, "cnn")


def test_cli_bad_masks(tmp_path, capsys):
    _write_inputs(tmp_path)
    image = str(tmp_path / "image.png")
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "small.png")
    Image.fromarray(np.zeros((24, 20), np.uint8)).save(tmp_path / "empty.png")
    Image.fromarray(np.full((24, 20), 128, np.uint8)).save(tmp_path / "grey.png")
    for name, message in [("small.png", "same height and width"), ("empty.png", "empty"),
                          ("grey.png", "binary"), ("missing.png", "")]:
        assert cli(["inpaint", image, str(tmp_path / name), "--out-dir",
                    str(tmp_path / "out")]) == 2
        assert message in capsys.readouterr().err
