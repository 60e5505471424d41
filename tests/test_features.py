"""Features F: order, presets, pytree/flat views, Gram, colour statistics, Jacobian products."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from maxent_jax import features as feats
from maxent_jax.cli import main
from maxent_jax.io import save_image
from maxent_jax.vgg import VGG19, random_variables


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
    np.testing.assert_allclose(flat, manual, rtol=1e-5, atol=1e-6)
    tree = feats.unflatten(spec, flat)
    np.testing.assert_array_equal(feats.flatten(spec, tree), flat)
    assert flat.shape == (feats.feature_dim(spec),)


def test_features_do_not_depend_on_size(rand_vars):
    """With reflect padding a constant image stays constant through the net: F(x) is exact."""
    spec = feats.get_spec("paper", padding="reflect")
    colour = jnp.array([0.2, 0.5, 0.7])
    a = feats.features(spec, rand_vars, jnp.ones((32, 32, 3)) * colour)
    b = feats.features(spec, rand_vars, jnp.ones((48, 80, 3)) * colour)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6 * float(jnp.abs(a).max()))


def test_gram_and_colour_statistics_against_numpy():
    a = np.random.default_rng(0).normal(size=(5, 7, 4)).astype(np.float32)
    g = feats.gram_matrices({"l": jnp.asarray(a)})["l"]
    flat = a.reshape(-1, 4)
    np.testing.assert_allclose(g, flat.T @ flat / 35, rtol=1e-5)
    x = np.random.default_rng(1).uniform(size=(6, 5, 3)).astype(np.float32)
    stats = np.asarray(feats.colour_statistics(jnp.asarray(x)))
    cov = np.cov(x.reshape(-1, 3).T, bias=True)
    np.testing.assert_allclose(stats[:3], x.reshape(-1, 3).mean(0), rtol=1e-5)
    np.testing.assert_allclose(stats[3:], cov[np.triu_indices(3)], rtol=1e-4, atol=1e-7)


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
    spec = feats.get_spec(layers=["relu1_1", "relu2_1"], pooling="max")
    expected = feats.features(spec, real_variables, jnp.asarray(load_image(path)))
    np.testing.assert_allclose(np.load(out), expected, rtol=1e-5)
    assert main(["features", str(tmp_path / "missing.png"), "--out", str(out)]) == 2
    assert main(["features", str(path), "--out", str(out), "--preset", "nope"]) == 2
