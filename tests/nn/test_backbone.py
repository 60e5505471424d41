"""The backbone: one object per (weights, spec, size) that owns the kernels and checks sizes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from maxent_jax.nn import features as feats
from maxent_jax.nn.backbone import (check_image_size, load_backbone, min_side, prepare_backbone,
                                    weights_digest)
from maxent_jax.nn.vgg import random_variables, vgg_variables

SPEC = feats.get_spec(layers=("relu1_1", "relu2_1", "relu3_1"))


@pytest.fixture(scope="module")
def rand_vars():
    return random_variables(jax.random.key(0), layers=("relu3_1",))


def test_another_size_is_refused_or_prepared(rand_vars):
    backbone = prepare_backbone(SPEC, rand_vars, (32, 32))
    x = jnp.asarray(np.random.default_rng(0).uniform(size=(40, 24, 3)), jnp.float32)
    with pytest.raises(ValueError, match="prepared for 32x32 images, got 40x24"):
        backbone.features(x)
    with pytest.raises(ValueError, match="prepared for 32x32"):
        jax.jit(lambda b, y: b.features(y))(backbone, x)  # also at trace time
    resized = backbone.resized((40, 24))
    assert resized.size == (40, 24) and backbone.resized((32, 32)) is backbone
    # the resized backbone computes F exactly as a fresh one, and as the plain network
    fresh = prepare_backbone(SPEC, rand_vars, (40, 24))
    np.testing.assert_array_equal(resized.features(x), fresh.features(x))
    direct = feats.features(SPEC._replace(conv="direct"), rand_vars, x)
    np.testing.assert_allclose(resized.features(x), direct, rtol=2e-3, atol=1e-3)


def test_kernels_are_prepared_for_the_size_only(rand_vars):
    """Winograd kernels are those of the prepared size's tiles; resizing replaces the stored
    collection, never mixes it (a stale one would silently change some layers' algorithm)."""
    if jax.default_backend() != "cpu":
        pytest.skip("Winograd kernels are stored on the CPU backend only")
    from maxent_jax.nn.vgg import conv_tiles

    def stored(b):
        return {n: sorted(k) for n, k in b.variables.get("winograd", {}).items()}

    def expected(hw):
        return {n: sorted([f"u{m}", f"ut{m}"]) for n, m in conv_tiles(hw).items()
                if m and n in rand_vars["params"]}

    big = prepare_backbone(SPEC, rand_vars, (96, 96))
    assert stored(big) == expected((96, 96)) and stored(big)
    assert stored(big.resized((12, 12))) == expected((12, 12)) != expected((96, 96))
    assert "winograd" not in prepare_backbone(SPEC._replace(conv="direct"), rand_vars,
                                              (96, 96)).variables


def test_backbone_is_a_pytree_with_static_spec(rand_vars):
    backbone = prepare_backbone(SPEC, rand_vars, (16, 16), "abc")
    leaves, treedef = jax.tree_util.tree_flatten(backbone)
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves)
    assert rebuilt.spec == SPEC and rebuilt.size == (16, 16) and rebuilt.weights_sha256 == "abc"
    assert backbone.dim == 64 + 128 + 256 and backbone.block_sizes() == (64, 128, 256)


def test_min_side_follows_the_deepest_layer():
    assert min_side(feats.get_spec("paper")) == (16, "relu5_2")
    assert min_side(feats.get_spec(layers=("relu1_1",))) == (1, "relu1_1")
    assert min_side(feats.get_spec(layers=("relu1_2", "relu3_1"))) == (4, "relu3_1")
    with pytest.raises(ValueError, match=r"the image is 8x30; layer relu5_2 needs at least "
                                         r"16x16 pixels \(4 poolings"):
        check_image_size((8, 30), feats.get_spec("paper"), "the image")
    check_image_size((16, 16), feats.get_spec("paper"))


def test_weights_digest_is_that_of_the_values(real_weights, real_variables):
    digest = weights_digest(real_weights)
    assert digest == weights_digest(vgg_variables(real_weights)) == weights_digest(real_variables)
    changed = real_weights._replace(preprocess_bias=real_weights.preprocess_bias + 1e-3)
    assert weights_digest(changed) != digest
    backbone = load_backbone(feats.get_spec("paper"), (16, 16), real_weights)
    assert backbone.weights_sha256 == digest


def test_size_advice_names_the_layer_and_what_works():
    from maxent_jax.nn.backbone import size_advice

    paper = feats.get_spec("paper")
    assert size_advice((64, 64), paper) is None  # relu5_2: 4x4 positions
    advice = size_advice((32, 40), paper)  # 2x2
    assert "relu5_2" in advice and "2x2" in advice and "64 px" in advice
    assert size_advice((32, 32), feats.get_spec("shallow")) is None
