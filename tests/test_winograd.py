"""Winograd F(m x m, 3 x 3) convolutions against lax.conv, their adjoint, and the VGG switch."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from maxent_jax.vgg import (VGG19, conv_tiles, random_variables, transpose_kernel,
                            winograd_tile, with_transposed_kernels, with_winograd_kernels)
from maxent_jax.winograd import (TILES, winograd_conv3x3, winograd_conv3x3_adjoint,
                                 winograd_kernel)

TOL = {2: 1e-5, 4: 1e-4}  # relative to the output's scale; F(4,3) rounds ~10x more


def direct(x, kernel, pad):
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), [(pad, pad)] * 2,
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                        precision=jax.lax.Precision.HIGHEST)


def rel(a, b):
    return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))


def data(key, n=2, h=13, w=10, cin=5, cout=7):
    kx, kk, kg = jax.random.split(jax.random.key(key), 3)
    x = jax.random.normal(kx, (n, h, w, cin))
    kernel = jax.random.normal(kk, (3, 3, cin, cout)) / 3
    return x, kernel, kg


@pytest.mark.parametrize("m", sorted(TILES))
@pytest.mark.parametrize("pad", [0, 1])
@pytest.mark.parametrize("shape", [(13, 10), (16, 16), (3, 4)])
def test_equals_direct_convolution(m, pad, shape):
    x, kernel, _ = data(0, h=shape[0], w=shape[1])
    y = winograd_conv3x3(x, winograd_kernel(kernel, m), pad, m)
    ref = direct(x, kernel, pad)
    assert y.shape == ref.shape
    assert rel(y, ref) < TOL[m]


@pytest.mark.parametrize("m", sorted(TILES))
def test_bands_equal_one_piece(m):
    """Cutting the tile rows into bands (to stay in cache) changes nothing but the schedule."""
    x, kernel, _ = data(1, h=21, w=9)
    u = winograd_kernel(kernel, m)
    whole = winograd_conv3x3(x, u, 1, m, chunk_bytes=1 << 40)
    bands = winograd_conv3x3(x, u, 1, m, chunk_bytes=1)  # one tile row per band
    np.testing.assert_allclose(bands, whole, rtol=0, atol=1e-6 * float(jnp.abs(whole).max()))


@pytest.mark.parametrize("m", sorted(TILES))
@pytest.mark.parametrize("pad", [0, 1])
def test_adjoint_gradient(m, pad):
    """The custom VJP: input gradient = Winograd convolution with the adjoint kernel, equal to
    the gradient of the direct convolution; the U cotangent equals autodiff's."""
    x, kernel, kg = data(2)
    u, u_t = winograd_kernel(kernel, m), winograd_kernel(transpose_kernel(kernel), m)
    g = jax.random.normal(kg, direct(x, kernel, pad).shape)
    dx, du = jax.grad(lambda x, u: jnp.vdot(winograd_conv3x3_adjoint(x, u, u_t, pad, m), g),
                      argnums=(0, 1))(x, u)
    ref_dx = jax.grad(lambda x: jnp.vdot(direct(x, kernel, pad), g))(x)
    ref_du = jax.grad(lambda u: jnp.vdot(winograd_conv3x3(x, u, pad, m), g))(u)
    assert rel(dx, ref_dx) < TOL[m]
    assert rel(du, ref_du) < 1e-5


def test_bad_arguments():
    x, kernel, _ = data(3)
    with pytest.raises(ValueError, match="tile size"):
        winograd_kernel(kernel, 3)
    with pytest.raises(ValueError, match="3x3"):
        winograd_kernel(jnp.zeros((5, 5, 2, 2)), 2)
    with pytest.raises(ValueError, match="do not match"):
        winograd_conv3x3(x, winograd_kernel(kernel, 4), 1, 2)


def test_tile_rule():
    assert winograd_tile((64, 64), 3) == 0          # RGB input layer: direct
    assert winograd_tile((128, 128), 64) == 0       # large 64-channel map: direct
    assert winograd_tile((64, 64), 64) == 4
    assert winograd_tile((16, 16), 512) == 4
    assert winograd_tile((8, 8), 512) == 2
    assert winograd_tile((32, 32), 256, 256) == 2 and winograd_tile((32, 32), 256, 512) == 4
    tiles = conv_tiles((64, 64), "winograd")
    assert tiles["conv1_1"] == 0 and tiles["conv1_2"] == 4 and tiles["conv4_2"] == 2
    assert set(conv_tiles((64, 64), "direct").values()) == {0}


@pytest.fixture(scope="module")
def small_vgg():
    layers = ("relu1_2", "relu2_2", "relu3_1", "relu4_1")
    variables = with_transposed_kernels(random_variables(jax.random.key(4), layers=layers))
    x = jax.random.uniform(jax.random.key(5), (32, 32, 3))
    return layers, variables, x


def test_auto_switches_on_with_stored_kernels(small_vgg):
    layers, variables, x = small_vgg
    ref = VGG19(layers, "celu", "avg", conv="direct").apply(variables, x)
    auto_plain = VGG19(layers, "celu", "avg", conv="auto").apply(variables, x)
    stored = with_winograd_kernels(variables, x.shape[:2], "winograd")
    assert "conv1_1" not in stored["winograd"]  # RGB input layer stays direct
    assert set(stored["winograd"]["conv1_2"]) == {"u4", "ut4"}
    assert set(stored["winograd"]["conv4_1"]) == {"u2", "ut2"}
    for precision in ("tf32", "bfloat16"):  # such networks stay direct: nothing to store
        assert "winograd" not in with_winograd_kernels(variables, x.shape[:2], "winograd",
                                                        precision)
    auto = VGG19(layers, "celu", "avg", conv="auto").apply(stored, x)
    forced = VGG19(layers, "celu", "avg", conv="winograd").apply(variables, x)
    for name in layers:
        np.testing.assert_array_equal(auto_plain[name], ref[name])  # nothing stored: direct
        assert rel(auto[name], ref[name]) < 1e-4
        assert not np.array_equal(auto[name], ref[name])  # Winograd really ran
        assert rel(forced[name], auto[name]) < 1e-5  # computed on the fly = stored


def test_input_gradient_matches_direct(small_vgg):
    layers, variables, x = small_vgg
    stored = with_winograd_kernels(variables, x.shape[:2], "winograd")

    def grad(conv, v):
        f = lambda x: sum(jnp.mean(a) for a in VGG19(layers, "celu", "avg", conv=conv)  # noqa
                          .apply(v, x).values())
        return jax.grad(f)(x)

    assert rel(grad("auto", stored), grad("direct", variables)) < 1e-4
