"""Winograd tiles chosen at run time (``conv="measured"``, :mod:`maxent_jax.nn.tiles`)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from maxent_jax.nn import features as feats
from maxent_jax.nn import tiles
from maxent_jax.nn.backbone import prepare_backbone
from maxent_jax.nn.vgg import CONV_CHANNELS, conv_tiles, random_variables, winograd_tile

SPEC = feats.get_spec(layers=("relu1_1", "relu2_1", "relu3_1"))
cpu_only = pytest.mark.skipif(jax.default_backend() != "cpu",
                              reason="Winograd kernels are stored on the CPU backend only")


@pytest.fixture(scope="module")
def rand_vars():
    return random_variables(jax.random.key(0), layers=("relu3_1",))


def test_layer_shapes_follow_the_poolings():
    shapes = tiles.layer_shapes((100, 64))
    assert list(shapes) == list(CONV_CHANNELS)
    assert shapes["conv1_1"] == (100, 64, 3, 64) and shapes["conv1_2"] == (100, 64, 64, 64)
    assert shapes["conv2_1"] == (50, 32, 64, 128) and shapes["conv3_1"] == (25, 16, 128, 256)
    assert shapes["conv4_1"] == (12, 8, 256, 512) and shapes["conv5_4"] == (6, 4, 512, 512)


def test_choose_tile_keeps_the_rule_unless_another_is_faster_by_the_margin():
    t = tiles.LayerTiming
    timings = {0: t(1.0, 1.0), 2: t(0.5, 0.5), 4: t(0.97, 1.0)}
    assert tiles.choose_tile(timings, rule=2) == 2          # the rule is the fastest
    assert tiles.choose_tile(timings, rule=0) == 2          # 50% faster than the rule
    close = {0: t(1.0, 1.0), 4: t(0.98, 0.98)}             # 2% faster: noise, keep the rule
    assert tiles.choose_tile(close, rule=0) == 0
    assert tiles.choose_tile(close, rule=0, margin=0.0) == 4
    assert tiles.choose_tile(close, rule=2) == 4            # rule not timed: the fastest


@pytest.mark.parametrize("m", tiles.CANDIDATES)
def test_the_timed_functions_are_the_convolution_and_its_input_gradient(m):
    """What is timed for each tile is the network's convolution (forward) and its VJP in x."""
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.standard_normal((1, 10, 12, 8)), jnp.float32)
    g = jnp.asarray(rng.standard_normal((1, 10, 12, 16)), jnp.float32)
    kernel = jnp.asarray(rng.standard_normal((3, 3, 8, 16)) / 10, jnp.float32)
    prepare, forward, backward = tiles._layer_functions(m)
    ks = prepare(kernel)
    def direct(y):  # an independent reference: lax's convolution, autodiff for its VJP
        return jax.lax.conv_general_dilated(y, kernel, (1, 1), [(1, 1), (1, 1)],
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                            precision=jax.lax.Precision.HIGHEST)
    np.testing.assert_allclose(forward(x, *ks), direct(x), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(backward(x, g, *ks), jax.vjp(direct, x)[1](g)[0],
                               rtol=1e-4, atol=1e-4)


def test_a_real_measurement_gives_a_candidate():
    shape = tiles.LayerShape(8, 8, 16, 16)
    timing = tiles.time_layer(shape, 4, repeats=2)
    assert all(math.isfinite(s) and s > 0 for s in timing) and timing.total == sum(timing)
    assert tiles.measured_tile(shape, repeats=2) in tiles.CANDIDATES
    with pytest.raises(ValueError, match="tile must be one of"):
        tiles.time_layer(shape, 3)


@cpu_only
def test_the_measured_network_uses_the_measured_tiles(rand_vars, monkeypatch):
    """``conv="measured"`` computes each layer with the tile measured_tile returns: the rule's
    tiles give the ``auto`` network bit for bit, all-direct the ``direct`` one, and a tile the
    rule does not use changes the rounding only."""
    x = jnp.asarray(np.random.default_rng(0).uniform(size=(32, 32, 3)), jnp.float32)
    measured = SPEC._replace(conv="measured")

    def features(spec):
        return np.asarray(prepare_backbone(spec, rand_vars, (32, 32)).features(x))

    rule = lambda s, repeats=0: winograd_tile((s.height, s.width), s.cin, s.cout)  # noqa: E731
    monkeypatch.setattr(tiles, "measured_tile", rule)
    assert conv_tiles((32, 32), "measured") == conv_tiles((32, 32), "auto")
    np.testing.assert_array_equal(features(measured), features(SPEC))

    monkeypatch.setattr(tiles, "measured_tile", lambda s, repeats=0: 0)
    backbone = prepare_backbone(measured, rand_vars, (32, 32))
    assert "winograd" not in backbone.variables
    np.testing.assert_array_equal(features(measured), features(SPEC._replace(conv="direct")))

    monkeypatch.setattr(tiles, "measured_tile", lambda s, repeats=0: 2)
    stored = prepare_backbone(measured, rand_vars, (32, 32)).variables["winograd"]
    assert {n: sorted(k) for n, k in stored.items()} == {
        n: ["u2", "ut2"] for n in rand_vars["params"] if n.startswith("conv")}
    two = features(measured)
    assert not np.array_equal(two, features(SPEC))       # conv1_2 etc. take m = 2, not 4
    np.testing.assert_allclose(two, features(SPEC._replace(conv="direct")), rtol=2e-3, atol=1e-3)


def test_synthesize_records_the_measured_tiles(tmp_path, wood32, monkeypatch):
    """``--conv measured`` writes the tiles it used at every chain size into config.json."""
    import json

    from maxent_jax.cli import main
    from maxent_jax.io import save_image

    image = save_image(tmp_path / "wood.png", wood32)
    chosen = lambda s, repeats=0: 2 if s.cin >= 64 else 0  # noqa: E731
    monkeypatch.setattr(tiles, "measured_tile", chosen)
    out = tmp_path / "out"
    assert main(["synthesize", str(image), "--out-dir", str(out), "--iterations", "4",
                 "--conv", "measured", "--scales", "16,32", "--preset", "shallow",
                 "--no-progress"]) == 0
    record = json.loads((out / "config.json").read_text())["winograd_tiles"]
    assert set(record) == {"16x16", "32x32"}
    for size, layer_tiles in record.items():
        side = int(size.split("x")[0])
        assert layer_tiles == {n: chosen(s) for n, s in tiles.layer_shapes((side, side)).items()}
