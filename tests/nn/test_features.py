"""Features F: order, presets, pytree/flat views, Gram, colour statistics, Jacobian products."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from maxent_jax.nn import features as feats
from maxent_jax.cli import main
from maxent_jax.io import save_image
from maxent_jax.nn.vgg import LAYER_NAMES, VGG19, random_variables

from float32_bounds import (FN_ROUNDING, TINY, U, assert_within_float32_bound, conv_abs,
                            float32_bound, gamma, preprocess_abs)


@pytest.fixture(scope="module")
def rand_vars():
    return random_variables(jax.random.key(0))


def test_preset_dimensions_and_order():
    dims = {name: feats.feature_dim(spec) for name, spec in feats.PRESETS.items()}
    assert dims == {"paper": 2688, "full": 5504, "deep": 4096, "shallow": 1408}
    paper = feats.PRESETS["paper"]
    assert (paper.activation, paper.pooling, paper.padding) == ("celu", "avg", "zero")
    spec = feats.get_spec(layers=["relu3_1", "relu1_1"])  # given out of order
    assert spec.layers == ("relu1_1", "relu3_1")
    assert feats.layer_slices(spec) == {"relu1_1": slice(0, 64), "relu3_1": slice(64, 320)}
    with pytest.raises(ValueError, match="unknown feature preset"):
        feats.get_spec("medium")
    with pytest.raises(ValueError, match="unknown VGG-19 layer"):
        feats.get_spec(layers=["relu1_3"])


def test_flat_vector_is_channel_means_in_network_order(rand_vars):
    spec = feats.get_spec(layers=["relu2_1", "pool1", "conv1_1"], colour=True)
    x = jax.random.uniform(jax.random.key(1), (24, 20, 3))
    acts = VGG19(spec.layers, spec.activation, spec.pooling, spec.padding).apply(rand_vars, x)
    manual = np.concatenate([np.asarray(acts[n]).mean(axis=(0, 1)) for n in spec.layers]
                            + [np.asarray(feats.colour_statistics(x))])
    flat = feats.features(spec, rand_vars, x)
    # the same activations, averaged by XLA and by numpy (pairwise float32 sums): each mean
    # of N values within gamma_N mean |a| of the exact one; the colour part is the same call
    means = {n: np.abs(np.asarray(acts[n], np.float64)).mean(axis=(0, 1)) for n in spec.layers}
    bound = np.concatenate([2 * float32_bound(means[n], np.prod(acts[n].shape[:2]))
                            for n in spec.layers] + [np.zeros(9)])
    assert_within_float32_bound(flat, manual, bound + TINY, "features vs numpy channel means")
    tree = feats.unflatten(spec, flat)
    np.testing.assert_array_equal(feats.flatten(spec, tree), flat)
    assert flat.shape == (feats.feature_dim(spec),)


def test_features_do_not_depend_on_size(rand_vars):
    """With reflect padding a constant image stays constant through the net: F(x) is exact."""
    spec = feats.get_spec("paper", padding="reflect")
    colour = jnp.array([0.2, 0.5, 0.7])
    images = (jnp.ones((32, 32, 3)) * colour, jnp.ones((48, 80, 3)) * colour)
    a, b = (feats.features(spec, rand_vars, x) for x in images)
    # in float32 the pixels of a channel differ (other sums, other sizes): bound that spread
    # layer by layer, then each feature is a mean of values within it
    every = LAYER_NAMES[: LAYER_NAMES.index(spec.layers[-1]) + 1]
    acts = [VGG19(every, spec.activation, spec.pooling, spec.padding).apply(rand_vars, x)
            for x in images]
    spread = constant_image_spread(acts, rand_vars["params"], np.asarray(colour), every)
    bound = np.concatenate([spread[n] + sum(gamma(np.prod(v[n].shape[:2]))
                                            * np.abs(np.asarray(v[n], np.float64)).max((0, 1))
                                            for v in acts) for n in spec.layers])
    assert_within_float32_bound(a, b, bound + TINY, "constant-image features, two sizes")


def constant_image_spread(acts, params, colour, names):
    """Check, layer by layer, the spread of each channel over the pixels of both images.

    Exactly, a constant image (reflect padding) gives every pixel of a layer the same value.
    For two inputs whose channels ``c`` lie within ranges of width ``R_c``, the exact outputs of
    a 3x3 convolution lie within ``sum_(taps, c) |K| R_c`` of each other, and each computed
    output within its rounding bound ``gamma_{9 C_in + 1} (|h| * |K| + |bias|)`` (any order)
    of the exact one on its computed input; CELU (plus ``FN_ROUNDING``) and the 2x2 average
    (plus ``gamma_3``) do not widen a range. Each layer's measured spread (max - min over both
    images) is checked against the bound from the previous layer's measured spread, and
    returned ``{layer: spread}``. The preprocessing's range is ``2 gamma_4 (|x| |M|^T + |b|)``.
    """
    matrix, bias = (np.asarray(params["preprocess"][k], np.float64) for k in ("matrix", "bias"))
    pre = colour @ matrix.T + bias
    width = 2 * gamma(4) * preprocess_abs(colour[None, None], matrix, bias)[0, 0, 0]
    spreads, prev = {}, None
    for name in names:
        vals = [np.asarray(v[name], np.float64).reshape(-1, v[name].shape[-1]) for v in acts]
        mag = np.max([np.abs(v).max(0) for v in vals], 0)
        if name.startswith("conv"):
            kernel = np.asarray(params[name]["kernel"], np.float64)
            b_abs = np.abs(np.asarray(params[name]["bias"], np.float64))
            ins = ([np.broadcast_to(np.abs(pre) + width, (1, 3, 3, 3))] if prev is None else
                   [np.pad(np.asarray(v[prev], np.float64)[None], ((0, 0), (1, 1), (1, 1), (0, 0)),
                           mode="reflect") for v in acts])
            rounding = np.max([float32_bound(conv_abs(h, kernel, 0) + b_abs,
                                             9 * kernel.shape[2] + 1).max((0, 1, 2))
                               for h in ins], 0)
            bound = np.abs(kernel).sum((0, 1)).T @ width + 2 * rounding
        elif name.startswith("relu"):
            bound = width + 2 * FN_ROUNDING * mag
        else:
            bound = width + 2 * gamma(3) * np.max(
                [np.abs(np.asarray(v[prev], np.float64)).max((0, 1)) for v in acts], 0)
        width = np.max([v.max(0) for v in vals], 0) - np.min([v.min(0) for v in vals], 0)
        assert_within_float32_bound(width, 0.0, bound + TINY, f"constant image spread: {name}")
        spreads[name], prev = width, name
    return spreads


def test_gram_and_colour_statistics_against_numpy():
    a = np.random.default_rng(0).normal(size=(5, 7, 4)).astype(np.float32)
    g = feats.gram_matrices({"l": jnp.asarray(a)})["l"]
    flat = a.reshape(-1, 4)
    # 35 products and the division, in XLA's order and in numpy's (float32 BLAS)
    abs_gram = np.abs(flat.astype(np.float64)).T @ np.abs(flat.astype(np.float64)) / 35
    assert_within_float32_bound(g, flat.T @ flat / 35, 2 * float32_bound(abs_gram, 36),
                                "Gram matrix vs numpy")
    x = np.random.default_rng(1).uniform(size=(6, 5, 3)).astype(np.float32)
    stats = np.asarray(feats.colour_statistics(jnp.asarray(x)))
    cov = np.cov(x.reshape(-1, 3).T, bias=True)
    rgb = x.reshape(-1, 3).astype(np.float64)
    n = rgb.shape[0]
    # means: n terms and the division, in two orders
    assert_within_float32_bound(stats[:3], x.reshape(-1, 3).mean(0),
                                2 * float32_bound(np.abs(rgb).mean(0), n), "colour means")
    # covariance against float64: the float32 mean is off by e <= gamma_n mean |x|, which
    # cancels to first order (the centred values sum to 0); centring rounds (u), the product
    # sums n terms and divides (gamma_{n+1}); numpy's float64 rounding is far below 1e-13
    c = np.abs(rgb - rgb.mean(0))
    e = gamma(n) * np.abs(rgb).mean(0)
    big = c + e  # >= |x - fl(mean)|
    off = e + U * big  # >= |fl(x - fl(mean)) - (x - mean)|
    cov_bound = (gamma(n + 1) * (1 + U) ** 2 * big.T @ big + U * (c.T @ big + big.T @ c)
                 + off.T @ off + 1e-13 * big.T @ big) / n
    rows, cols = np.triu_indices(3)
    assert_within_float32_bound(stats[3:], cov[rows, cols], cov_bound[rows, cols] + TINY,
                                "colour covariance vs numpy float64")


def test_jacobian_products(rand_vars):
    spec = feats.get_spec(layers=["relu1_2", "relu2_1"])
    f = feats.make_feature_fn(spec, rand_vars)
    x = jax.random.uniform(jax.random.key(3), (16, 16, 3))
    theta = jax.random.normal(jax.random.key(4), (feats.feature_dim(spec),))
    fx, g = feats.value_and_vjp(f, x, theta)
    np.testing.assert_allclose(g, jax.grad(lambda y: jnp.vdot(theta, f(y)))(x), rtol=1e-4,
                               atol=1e-7)
    v = jax.random.normal(jax.random.key(5), x.shape)
    _, jv = feats.jvp(feats.make_feature_fn(spec, rand_vars, forward_mode=True), x, v)
    # <theta, J v> = <J^T theta, v>
    np.testing.assert_allclose(jnp.vdot(theta, jv), jnp.vdot(g, v), rtol=1e-3)
    np.testing.assert_allclose(fx, f(x), rtol=1e-6)


def test_features_cli_writes_the_library_vector(tmp_path, real_variables, wood32):
    path = tmp_path / "wood.png"
    save_image(path, wood32)
    out = tmp_path / "F.npy"
    assert main(["features", str(path), "--out", str(out), "--layers", "relu1_1,relu2_1",
                 "--pooling", "max"]) == 0
    from maxent_jax.io import load_image
    # the command's padding default is the model's (circular), like synthesize's
    spec = feats.get_spec(layers=["relu1_1", "relu2_1"], pooling="max", padding="circular")
    expected = feats.features(spec, real_variables, jnp.asarray(load_image(path)))
    # the command runs Winograd convolutions, the reference direct ones: float32 rounding
    np.testing.assert_allclose(np.load(out), expected, rtol=1e-5, atol=1e-6)
    assert main(["features", str(path), "--out", str(out), "--layers", "relu1_1,relu2_1",
                 "--pooling", "max", "--padding", "zero", "--overwrite"]) == 0
    zero = feats.features(spec._replace(padding="zero"), real_variables,
                          jnp.asarray(load_image(path)))
    np.testing.assert_allclose(np.load(out), zero, rtol=1e-5, atol=1e-6)
    assert np.abs(zero - expected).max() > 1e-3
    assert main(["features", str(tmp_path / "missing.png"), "--out", str(out)]) == 2
    assert main(["features", str(path), "--out", str(out), "--preset", "nope"]) == 2


def test_circular_padding_makes_channel_means_shift_invariant():
    """On the torus a 3x3 convolution commutes with circular shifts, so the channel means of a
    layer after k poolings are invariant under shifts by multiples of 2^k (here k = 2: 4 px);
    zero padding is not."""
    from maxent_jax.nn.backbone import prepare_backbone
    from maxent_jax.nn.vgg import random_variables

    variables = random_variables(jax.random.key(0), layers=("relu3_1",))
    x = jnp.asarray(np.random.default_rng(0).uniform(size=(32, 32, 3)), jnp.float32)
    shifted = jnp.roll(x, (8, 12), axis=(0, 1))
    gaps = {}
    for padding in ("circular", "zero"):
        spec = feats.get_spec(layers=("relu1_1", "relu2_1", "relu3_1"), padding=padding)
        backbone = prepare_backbone(spec, variables, (32, 32))
        f, g = backbone.features(x), backbone.features(shifted)
        gaps[padding] = float(jnp.max(jnp.abs(f - g)) / jnp.max(jnp.abs(f)))
    assert gaps["circular"] < 1e-5 < 1e-3 < gaps["zero"], gaps
