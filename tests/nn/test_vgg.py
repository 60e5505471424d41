"""The Flax VGG-19 against an independent PyTorch network built from torch.load, and numpy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from maxent_jax.nn.vgg import (LAYER_NAMES, VGG19, conv_tiles, layer_channels, random_variables,
                            vgg_variables, with_transposed_kernels, with_winograd_kernels)
from maxent_jax.nn.weights import load_weights

from float32_bounds import (check_vgg_gradient, check_vgg_layers, gamma, preprocess_abs,
                            preprocess_error, traced_gradient, vgg_hooks)

NORMALISED_CONVS = [2, 5, 9, 12, 16, 19, 22, 25, 29, 32, 35, 38, 42, 45, 48, 51]
TORCHVISION_CONVS = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
EVERY = LAYER_NAMES[: LAYER_NAMES.index("relu5_4") + 1]  # all compared, layer by layer


def torch_vgg(convs, activation, pooling, padding):
    """Plain torch.nn VGG-19 features from a list of (weight OIHW, bias) tensors."""
    layers, i = [], 0
    for block, n in enumerate([2, 2, 4, 4, 4]):
        for _ in range(n):
            w, b = convs[i]
            conv = torch.nn.Conv2d(w.shape[1], w.shape[0], 3, padding=1,
                                   padding_mode="reflect" if padding == "reflect" else "zeros")
            conv.weight.data, conv.bias.data = w.clone(), b.clone()
            layers += [conv, torch.nn.CELU(1.0) if activation == "celu" else torch.nn.ReLU()]
            i += 1
        layers.append(torch.nn.AvgPool2d(2) if pooling == "avg" else torch.nn.MaxPool2d(2))
    return torch.nn.Sequential(*layers).eval()


def torch_activations(net, x_nchw):
    out, names = {}, [n for n in LAYER_NAMES]
    h = x_nchw
    with torch.no_grad():
        for name, layer in zip(names, net):
            h = layer(h)
            out[name] = h[0].permute(1, 2, 0).numpy()
    return out


@pytest.fixture(scope="module")
def torch_state(weights_path):
    return torch.load(weights_path, weights_only=True)


@pytest.mark.parametrize("conv", ["direct", "winograd"])
@pytest.mark.parametrize("activation,pooling,padding", [
    ("relu", "max", "reflect"), ("celu", "avg", "zero"), ("relu", "avg", "zero"),
    ("celu", "max", "reflect")])
def test_normalised_weights_match_torch(torch_state, real_variables, wood32, activation,
                                        pooling, padding, conv):
    """Direct convolutions, and Winograd F(2,3)/F(4,3) (the tiles of ``conv_tiles``)."""
    variables = with_winograd_kernels(real_variables, wood32.shape[:2], conv)
    convs = [(torch_state[f"{i}.weight"], torch_state[f"{i}.bias"]) for i in NORMALISED_CONVS]
    net = torch_vgg(convs, activation, pooling, padding)
    x = torch.from_numpy(wood32).permute(2, 0, 1)[None]
    with torch.no_grad():  # the file's own leading 1x1 conv: RGB [0,1] -> BGR [0,255] - mean
        x = torch.nn.functional.conv2d(x, torch_state["0.weight"], torch_state["0.bias"])
    ref = torch_activations(net, x)
    ours = VGG19(EVERY, activation, pooling, padding).apply(variables, jnp.asarray(wood32))
    # every layer within the float32 bounds of the two computations from their own inputs;
    # both preprocess with the file's 1x1 convolution (3 products and the bias)
    pre, pre_error = preprocess_error(wood32, variables["params"])
    tiles = conv_tiles(wood32.shape[:2], conv)
    check_vgg_layers((ours, ref), variables["params"], pre, pre_error, activation=activation,
                     pooling=pooling, padding=padding, tiles=(tiles, {}),
                     what=f"VGG vs torch, {conv} {activation} {pooling} {padding}")


def test_torchvision_convention_matches_torch(tmp_path, torch_state, wood32):
    """The real convolutions saved in torchvision's zip layout, read back by our reader."""
    sd = {}
    for j, i in zip(TORCHVISION_CONVS, NORMALISED_CONVS):
        sd[f"features.{j}.weight"] = torch_state[f"{i}.weight"]
        sd[f"features.{j}.bias"] = torch_state[f"{i}.bias"]
    sd["classifier.0.weight"] = torch.zeros(4, 4)
    path = tmp_path / "vgg19-test.pth"
    torch.save(sd, path)
    weights = load_weights(path, cache=False)
    assert weights.source == "torchvision" and weights.native_padding == "zero"
    variables = vgg_variables(weights)
    convs = [(sd[f"features.{j}.weight"], sd[f"features.{j}.bias"]) for j in TORCHVISION_CONVS]
    net = torch_vgg(convs, "relu", "max", "zero")
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    x = ((torch.from_numpy(wood32).permute(2, 0, 1) - mean) / std)[None]
    ref = torch_activations(net, x)
    ours = VGG19(EVERY, "relu", "max", "zero").apply(variables, jnp.asarray(wood32))
    # preprocessing: ours x @ fl(1/std) + fl(-mean/std) (3 products and the bias), torch
    # (x - fl(mean)) / fl(std) (2 roundings); the constants' rounding is computed exactly
    x01 = wood32.astype(np.float64)
    mean64 = np.array([0.485, 0.456, 0.406])
    std64 = np.array([0.229, 0.224, 0.225])
    pre = (x01 - mean64) / std64
    prep = variables["params"]["preprocess"]
    matrix, bias = (np.asarray(prep[k], np.float64) for k in ("matrix", "bias"))
    mean32, std32 = mean[:, 0, 0].double().numpy(), std[:, 0, 0].double().numpy()
    pre_error = (gamma(4) * preprocess_abs(x01, matrix, bias)
                 + np.abs(x01 @ matrix.T + bias - pre)
                 + gamma(2) * (x01 + np.abs(mean32)) / std32
                 + np.abs((x01 - mean32) / std32 - pre))
    check_vgg_layers((ours, ref), variables["params"], pre, pre_error, activation="relu",
                     pooling="max", padding="zero", tiles=({}, {}),
                     what="VGG vs torch, torchvision layout")


def test_first_layers_against_numpy(real_weights, real_variables, wood32):
    x = wood32[:12, :10].astype(np.float64)
    pre = x @ real_weights.preprocess_matrix.T.astype(np.float64) + real_weights.preprocess_bias
    padded = np.pad(pre, ((1, 1), (1, 1), (0, 0)))
    k = real_weights.params["conv1_1"]["kernel"].astype(np.float64)
    conv = sum(np.einsum("hwi,io->hwo", padded[a:a + 12, b:b + 10], k[a, b])
               for a in range(3) for b in range(3)) + real_weights.params["conv1_1"]["bias"]
    relu = np.maximum(conv, 0)
    pool = relu.reshape(6, 2, 5, 2, 64).max(axis=(1, 3))  # pool1 needs conv1_2; check relu1_1
    ours = VGG19(("conv1_1", "relu1_1")).apply(real_variables, jnp.asarray(x, jnp.float32))
    # float32 (3 + 1 terms, then 27 + 1) against numpy's float64 on the same float32 weights
    params = real_variables["params"]
    pre_error = gamma(4) * preprocess_abs(x, params["preprocess"]["matrix"],
                                          params["preprocess"]["bias"])
    check_vgg_layers((ours, {"conv1_1": conv, "relu1_1": relu}), params, pre, pre_error,
                     activation="relu", pooling="max", padding="zero", tiles=({}, None),
                     what="VGG first layers vs numpy float64")
    assert pool.shape == (6, 5, 64)
    # the normalised VGG maps RGB [0,1] to mean-subtracted BGR [0,255]
    np.testing.assert_allclose(pre[0, 0], 255 * x[0, 0, ::-1] - [103.939, 116.779, 123.68],
                               rtol=1e-4, atol=1e-2)


def test_grey_input_equals_repeated_rgb(real_variables, wood32):
    grey = wood32.mean(axis=-1, keepdims=True)
    model = VGG19(("relu2_1",))
    a = model.apply(real_variables, jnp.asarray(grey))["relu2_1"]
    b = model.apply(real_variables, jnp.asarray(np.repeat(grey, 3, -1)))["relu2_1"]
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_no_deeper_layer_is_computed():
    full = random_variables(jax.random.key(0))
    shallow = {"params": {k: v for k, v in full["params"].items()
                          if k in ("preprocess", "conv1_1", "conv1_2")}}
    out = VGG19(("pool1",)).apply(shallow, jnp.ones((16, 16, 3)))  # fails if conv2_1 is needed
    assert set(out) == {"pool1"} and out["pool1"].shape == (8, 8, 64)
    out = VGG19(("relu5_4", "conv1_1")).apply(full, jnp.ones((2, 32, 32, 3)))
    assert out["relu5_4"].shape == (2, 2, 2, 512) and out["conv1_1"].shape == (2, 32, 32, 64)


@pytest.mark.parametrize("padding", ["zero", "reflect"])
def test_custom_vjp_equals_autodiff(padding):
    variables = random_variables(jax.random.key(1))
    x = jax.random.uniform(jax.random.key(2), (20, 18, 3))
    model = VGG19(("relu2_1", "relu3_1"), "celu", "avg", padding)

    def loss(x, v):
        return sum(jnp.sum(jnp.sin(a)) for a in model.apply(v, x).values())

    def reference(x, hook):  # lax.conv everywhere: autodiff only
        h = x[None] @ variables["params"]["preprocess"]["matrix"].T
        total = 0.0
        for name in LAYER_NAMES[: LAYER_NAMES.index("relu3_1") + 1]:
            if name.startswith("conv"):
                p = variables["params"][name]
                h = hook(name, "in", h)
                if padding == "reflect":
                    h = jnp.pad(h, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
                pad = 0 if padding == "reflect" else 1
                h = jax.lax.conv_general_dilated(h, p["kernel"], (1, 1), [(pad, pad)] * 2,
                                                 dimension_numbers=("NHWC", "HWIO", "NHWC"))
                h = hook(name, "out", h + p["bias"])
            elif name.startswith("relu"):
                h = jax.nn.celu(h)
            else:
                h = jax.lax.reduce_window(h, 0.0, jax.lax.add, (1, 2, 2, 1), (1, 2, 2, 1),
                                          "VALID") / 4
            if name in ("relu2_1", "relu3_1"):
                total = total + jnp.sum(jnp.sin(h))
        return total

    def ours(v):
        def f(x, hook):
            with vgg_hooks(hook):
                return loss(x, v)
        return f

    # layer by layer, backwards: every cotangent within the float32 bounds of the two
    # computations (custom VJP / autodiff adjoint convolutions) from their own inputs
    ref_trace = traced_gradient(reference, x)
    for v, kind in ((variables, "adjoint kernel on the fly"),
                    (with_transposed_kernels(variables), "stored adjoint kernel")):
        check_vgg_gradient((traced_gradient(ours(v), x), ref_trace), variables["params"],
                           {"relu2_1": "sin", "relu3_1": "sin"}, padding=padding,
                           tiles=({}, {}), what=f"VGG custom VJP ({kind}) vs autodiff, {padding}")
    # the kernel gradient (not used by Langevin, still correct)
    gk = jax.grad(lambda v: loss(x, v))(variables)["params"]["conv1_1"]["kernel"]
    assert np.all(np.isfinite(gk)) and float(jnp.abs(gk).max()) > 0


def test_bad_options_and_layers():
    with pytest.raises(ValueError, match="activation"):
        VGG19(("relu1_1",), activation="tanh").init(jax.random.key(0), jnp.ones((16, 16, 3)))
    with pytest.raises(ValueError, match="unknown"):
        VGG19(("relu9_9",)).init(jax.random.key(0), jnp.ones((16, 16, 3)))
    with pytest.raises(ValueError, match="unknown VGG-19 layer"):
        layer_channels("conv6_1")
    assert layer_channels("pool3") == 256 and layer_channels("relu5_2") == 512


def test_remat_gives_the_same_features_and_gradients():
    variables = with_transposed_kernels(random_variables(jax.random.key(3)))
    x = jax.random.uniform(jax.random.key(4), (24, 24, 3))
    outs = ("relu1_2", "conv2_1", "relu3_1")

    def loss(remat):
        model = VGG19(outs, "celu", "avg", "zero", remat=remat)
        return lambda y: sum(jnp.sum(a**2) for a in model.apply(variables, y).values())

    plain, remat = loss(False), loss(True)
    np.testing.assert_allclose(remat(x), plain(x), rtol=1e-6)
    np.testing.assert_allclose(jax.grad(remat)(x), jax.grad(plain)(x), rtol=1e-5, atol=1e-8)
    jaxpr = str(jax.make_jaxpr(jax.grad(remat))(x))
    assert "remat" in jaxpr or "checkpoint" in jaxpr


def test_precision_options(real_variables, wood32):
    x = jnp.asarray(wood32)
    ref = VGG19(("relu3_1",), precision="float32").apply(real_variables, x)["relu3_1"]
    tf32 = VGG19(("relu3_1",), precision="tf32").apply(real_variables, x)["relu3_1"]
    bf16 = VGG19(("relu3_1",), precision="bfloat16").apply(real_variables, x)["relu3_1"]
    scale = float(jnp.abs(ref).max())
    assert float(jnp.abs(tf32 - ref).max()) / scale < 1e-2
    err = float(jnp.abs(bf16 - ref).max()) / scale
    assert 1e-5 < err < 5e-2  # bfloat16 really is used, and stays close
    with pytest.raises(ValueError, match="precision"):
        VGG19(("relu1_1",), precision="fp8").apply(real_variables, x)


def test_float64_backbone_matches_torch_in_float64(torch_state, real_variables, wood32):
    """A float64 image runs the whole backbone in float64 (the energies of MALA's ratio,
    :mod:`maxent_jax.sampling.langevin`): its channel means of the paper preset match the
    torch network run in float64 to 1e-10 relative (float32 alone would give about 1e-6), and
    its float32 features within float32 rounding (1e-4)."""
    from maxent_jax.nn.backbone import prepare_backbone
    from maxent_jax.nn.features import get_spec

    padding = "zero"  # the paper preset's (torch_vgg above builds zero or reflect padding)
    spec = get_spec("paper", padding=padding)
    backbone = prepare_backbone(spec, real_variables, wood32.shape[:2])
    convs = [(torch_state[f"{i}.weight"].double(), torch_state[f"{i}.bias"].double())
             for i in NORMALISED_CONVS]
    net = torch_vgg(convs, spec.activation, spec.pooling, padding).double()
    x = torch.from_numpy(wood32.astype(np.float64)).permute(2, 0, 1)[None]
    with torch.no_grad():
        x = torch.nn.functional.conv2d(x, torch_state["0.weight"].double(),
                                       torch_state["0.bias"].double())
    ref = torch_activations(net, x)
    expected = np.concatenate([ref[name].mean(axis=(0, 1)) for name in spec.layers])

    def features64(image):
        with jax.enable_x64(True):
            return backbone.features(jnp.asarray(image, jnp.float64))

    with jax.enable_x64(True):
        ours = np.asarray(jax.jit(features64)(wood32))
    assert ours.dtype == np.float64
    scale = np.abs(expected).max()
    assert np.abs(ours - expected).max() < 1e-10 * scale
    single = np.asarray(jax.jit(backbone.features)(jnp.asarray(wood32)), np.float64)
    assert 1e-9 * scale < np.abs(single - expected).max() < 1e-4 * scale
