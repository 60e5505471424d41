"""Winograd F(m x m, 3 x 3) convolutions against lax.conv, their adjoint, and the VGG switch."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from maxent_jax.nn.vgg import (LAYER_NAMES, VGG19, conv_tiles, random_variables,
                               transpose_kernel, winograd_tile, with_transposed_kernels,
                               with_winograd_kernels)
from maxent_jax.nn.winograd import (TILES, winograd_conv3x3, winograd_conv3x3_adjoint,
                                 winograd_kernel)

from float32_bounds import (TINY, assert_within_float32_bound, check_vgg_gradient,
                            check_vgg_layers, direct_conv_bound, gamma, preprocess_error,
                            traced_gradient, vgg_hooks, winograd_conv_bound, winograd_tiles)


def direct(x, kernel, pad):
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), [(pad, pad)] * 2,
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                        precision=jax.lax.Precision.HIGHEST)


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
    # each within its float32 error bound of the exact convolution (see float32_bounds)
    assert_within_float32_bound(y, ref, winograd_conv_bound(x, kernel, pad, m)
                                + direct_conv_bound(x, kernel, pad),
                                f"Winograd F({m},3) vs direct, pad {pad}, {shape}")


@pytest.mark.parametrize("m", sorted(TILES))
def test_bands_equal_one_piece(m):
    """Cutting the tile rows into bands (to stay in cache) changes nothing but the schedule."""
    x, kernel, _ = data(1, h=21, w=9)
    u = winograd_kernel(kernel, m)
    whole = winograd_conv3x3(x, u, 1, m, chunk_bytes=1 << 40)
    bands = winograd_conv3x3(x, u, 1, m, chunk_bytes=1)  # one tile row per band
    # the same arithmetic, but XLA may sum the channels of differently shaped products in
    # another order: both within the Winograd bound (U = u shared) of the exact result
    assert_within_float32_bound(bands, whole, 2 * winograd_conv_bound(x, kernel, 1, m, u=u),
                                f"F({m},3) bands vs one piece")


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
    # dx: Winograd convolution of g with the adjoint kernel; ref_dx: direct transposed
    # convolution, 9 C_out products per pixel (the cotangent of vdot is g, exactly)
    kernel_t = transpose_kernel(kernel)
    assert_within_float32_bound(dx, ref_dx, winograd_conv_bound(g, kernel_t, 2 - pad, m)
                                + direct_conv_bound(g, kernel_t, 2 - pad),
                                f"F({m},3) input gradient vs direct, pad {pad}")
    assert_within_float32_bound(du, ref_du, 2 * kernel_cotangent_bound(x, g, pad, m),
                                f"F({m},3) U cotangent vs autodiff, pad {pad}")


def kernel_cotangent_bound(x, g, pad, m):
    """Error bound of the cotangent of ``U`` in ``vdot(winograd_conv3x3(x, U, pad, m), g)``.

    It is ``sum_tiles V * Gbar`` with ``V = B^T d B`` (the input tiles d) and
    ``Gbar = A gt A^T`` (gt: the output tiles of g, zero past the edge), a sum over the
    ``T = N th tw`` tiles. With ``n_B = 2 nnz(B^T row)`` and ``n_A = 2 nnz(A^T column)``
    roundings in the transforms and ``T`` in the sum, the first-order bound is
    ``g_B |V|_abs . |Gbar| + g_A |V| . |Gbar|_abs + g_T |V| . |Gbar|`` (dot products over the
    tiles, ``|V|_abs = |B^T| |d| |B|``, ``|Gbar|_abs = |A| |gt| |A^T|``), and the second
    order ``(g_B + g_A + g_T)^2 |V|_abs . |Gbar|_abs``, as in ``winograd_conv_bound``.
    """
    tr = TILES[m]
    bt, at = np.array(tr.BT, np.float64), np.array(tr.AT, np.float64)
    g = np.asarray(g, np.float64)
    d = winograd_tiles(x, pad, m)                                   # (n, th, t, tw, t, c)
    n, th, _, tw, _, _ = d.shape
    gp = np.pad(g, ((0, 0), (0, th * m - g.shape[1]), (0, tw * m - g.shape[2]), (0, 0)))
    gt = gp.reshape(n, th, m, tw, m, -1)

    def tiles(mat, arr, spec):  # (a, b, tiles, channels)
        out = np.einsum(spec, mat, mat, arr, optimize=True)
        return out.reshape(out.shape[:2] + (-1, out.shape[-1]))

    v, v_abs = (tiles(b, dd, "ak,bl,nikjlc->abnijc") for b, dd in ((bt, d), (abs(bt), abs(d))))
    gbar, gbar_abs = (tiles(a, gg, "pa,qb,nipjqd->abnijd")
                      for a, gg in ((at, gt), (abs(at), abs(gt))))
    nnz = lambda mat: max(sum(c != 0 for c in row) for row in mat)  # noqa: E731
    g_b, g_a, g_t = gamma(2 * nnz(tr.BT)), gamma(2 * nnz(np.transpose(tr.AT))), gamma(n * th * tw)
    dot = lambda p, q: np.swapaxes(p, 2, 3) @ q  # noqa: E731  (a, b, c, d)
    first = (g_b * dot(v_abs, abs(gbar)) + g_a * dot(abs(v), gbar_abs)
             + g_t * dot(abs(v), abs(gbar)))
    return first + (g_b + g_a + g_t) ** 2 * dot(v_abs, gbar_abs) + TINY


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
    every = LAYER_NAMES[: LAYER_NAMES.index(layers[-1]) + 1]  # for the layer-by-layer bounds
    ref = VGG19(every, "celu", "avg", conv="direct").apply(variables, x)
    auto_plain = VGG19(layers, "celu", "avg", conv="auto").apply(variables, x)
    stored = with_winograd_kernels(variables, x.shape[:2], "winograd")
    assert "conv1_1" not in stored["winograd"]  # RGB input layer stays direct
    assert set(stored["winograd"]["conv1_2"]) == {"u4", "ut4"}
    assert set(stored["winograd"]["conv4_1"]) == {"u2", "ut2"}
    for precision in ("tf32", "bfloat16"):  # such networks stay direct: nothing to store
        assert "winograd" not in with_winograd_kernels(variables, x.shape[:2], "winograd",
                                                        precision)
    auto = VGG19(every, "celu", "avg", conv="auto").apply(stored, x)
    forced = VGG19(every, "celu", "avg", conv="winograd").apply(variables, x)
    for name in layers:
        np.testing.assert_array_equal(auto_plain[name], ref[name])  # nothing stored: direct
        assert not np.array_equal(auto[name], ref[name])  # Winograd really ran
    # each layer within the float32 bounds of its two computations, from their own inputs
    tiles = conv_tiles(x.shape[:2], "winograd")
    pre, pre_error = preprocess_error(x, variables["params"])
    options = dict(activation="celu", pooling="avg", padding="zero")
    check_vgg_layers((auto, ref), variables["params"], pre, pre_error, tiles=(tiles, {}),
                     what="VGG Winograd (stored U) vs direct", **options)
    check_vgg_layers((forced, auto), variables["params"], pre, pre_error, tiles=(tiles, tiles),
                     what="VGG Winograd U on the fly vs stored", **options)


def test_input_gradient_matches_direct(small_vgg):
    layers, variables, x = small_vgg
    stored = with_winograd_kernels(variables, x.shape[:2], "winograd")

    def loss(conv, v):
        def f(x, hook):  # hook: values and cotangents around each convolution
            with vgg_hooks(hook):
                return sum(jnp.mean(a) for a in VGG19(layers, "celu", "avg", conv=conv)
                           .apply(v, x).values())
        return f

    # layer by layer, backwards: each cotangent within the float32 bounds of its two
    # computations (Winograd / direct adjoint convolutions) from their own inputs
    check_vgg_gradient((traced_gradient(loss("auto", stored), x),
                        traced_gradient(loss("direct", variables), x)),
                       variables["params"], dict.fromkeys(layers, "mean"), padding="zero",
                       tiles=(conv_tiles(x.shape[:2], "winograd"), {}),
                       what="VGG input gradient, Winograd vs direct")
