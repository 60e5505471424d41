"""Style transfer: the energy's parts, the style/content trade-off, the chunked driver, the CLI."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from maxent_jax.exemplars import load_exemplar
from maxent_jax.io import save_image
from maxent_jax.nn import features as feats
from maxent_jax.nn.backbone import prepare_backbone
from maxent_jax.nn.vgg import VGG19, random_variables
from maxent_jax.tasks import style as st

LAYERS = ("relu1_1", "relu2_1", "relu3_1")


@pytest.fixture(scope="module")
def rand_vars():
    return random_variables(jax.random.key(0), layers=("relu3_1",))


@pytest.fixture(scope="module")
def brick_gravel():
    return load_exemplar("brick", size=32), load_exemplar("gravel", size=32)


def test_style_energy_is_the_sum_of_its_parts(rand_vars):
    spec = feats.get_spec(layers=["relu1_2", "relu2_1"], colour=True)
    rng = np.random.default_rng(0)
    content, style, x = (jnp.asarray(rng.uniform(size=s), jnp.float32)
                         for s in [(16, 16, 3), (24, 20, 3), (16, 16, 3)])
    theta = jnp.asarray(rng.normal(size=feats.feature_dim(spec)), jnp.float32)
    f = feats.make_feature_fn(spec, rand_vars)
    net = VGG19(("relu2_1",), spec.activation, spec.pooling, spec.padding)
    phi_x, phi_c = net.apply(rand_vars, x)["relu2_1"], net.apply(rand_vars, content)["relu2_1"]
    backbone = prepare_backbone(spec, rand_vars, (16, 16))
    target = prepare_backbone(spec, rand_vars, (24, 20)).features(style)
    for extensive, pixels in ((True, 16 * 16), (False, 1)):
        energy = st.style_energy(backbone, content, target, content_layers=("relu2_1",),
                                 content_weight=7.0, beta=2.0, eps=0.5, centre=0.25,
                                 extensive=extensive)
        u, gap = energy(theta, x)
        np.testing.assert_allclose(gap, f(x) - f(style), rtol=1e-4, atol=1e-6)
        # U = |Omega| (beta <theta, F_s(x) - F_s(y)> + w c(x)) + (eps / 2) ||x - centre||^2
        expected = (pixels * (2.0 * jnp.vdot(theta, gap) + 7.0 * jnp.mean((phi_x - phi_c) ** 2))
                    + 0.25 * jnp.sum((x - 0.25) ** 2))
        np.testing.assert_allclose(u, expected, rtol=1e-5)
        at_content = (pixels * 2.0 * jnp.vdot(theta, f(content) - f(style))
                      + 0.25 * jnp.sum((content - 0.25) ** 2))
        np.testing.assert_allclose(energy(theta, content)[0], at_content, rtol=1e-5)  # c(x_c)=0


def test_initial_positions(brick_gravel):
    content, style = brick_gravel
    key = jax.random.key(0)
    start = st.initial_positions(key, content, style, "content", 2)
    assert start.shape == (2, 32, 32, 1) and np.array_equal(start[1], content)
    wood = load_exemplar("wood", size=24)
    for init in ("adsn", "noise"):
        x = st.initial_positions(key, content, wood, init, 3)  # RGB style, grey content
        assert x.shape == (3, 32, 32, 1) and np.isfinite(x).all()
        assert not np.array_equal(x[0], x[1])
    with pytest.raises(ValueError, match="init"):
        st.initial_positions(key, content, style, "zeros", 1)


def _run(content, style, variables, **kw):
    # a faster theta step than the default (0.005) so that 40 iterations at 32 px show the trend
    settings = dict(layers=LAYERS, content_layers=("relu2_1",), iterations=40,
                    checkpoint_every=10, delta=0.05)
    config = st.StyleConfig(**{**settings, **kw})
    return st.transfer_style(content, style, variables, config)


def test_style_features_move_towards_the_style(real_variables, brick_gravel):
    content, style = brick_gravel
    result = _run(content, style, real_variables, content_weight=0.0)
    gap = result.trace["relative_gap"]
    assert gap[0] == pytest.approx(1.0, abs=0.2)
    assert gap[:10].mean() > gap[10:20].mean() > gap[30:40].mean()
    assert gap[30:40].mean() < 0.7 * gap[0]
    spec = feats.get_spec(layers=LAYERS)
    f = feats.make_feature_fn(spec, real_variables)
    target = f(jnp.asarray(style))
    before = jnp.linalg.norm(f(jnp.asarray(content)) - target)
    after = jnp.linalg.norm(f(jnp.asarray(result.images[0])) - target)
    assert after < 0.8 * before
    assert result.images.shape == (1, 32, 32, 1) and result.average is None
    assert result.trace["content_distance"].shape == (5, 1)
    np.testing.assert_array_equal(result.trace["content_iteration"], [0, 10, 20, 30, 40])


def test_content_stays_closer_as_the_content_weight_grows(real_variables, brick_gravel):
    content, style = brick_gravel
    distances = [float(_run(content, style, real_variables, content_weight=w,
                            checkpoint_every=40).trace["content_distance"][-1, 0])
                 for w in (0.0, 300.0, 1000.0)]
    assert distances[0] > 0
    assert distances[0] > 1.5 * distances[1] > 1.5 ** 2 * distances[2]


def test_chains_and_average(real_variables, brick_gravel):
    content, style = brick_gravel
    config = st.StyleConfig(layers=("relu1_1",), content_layers=("relu1_1",), iterations=4,
                            chains=2, checkpoint_every=3, average_last=2, init="adsn", seed=1)
    result = st.transfer_style(content, style, real_variables, config)
    assert result.images.shape == result.average.shape == (2, 32, 32, 1)
    assert not np.array_equal(result.images[0], result.images[1])
    assert result.trace["relative_gap"].shape == (4,)


@pytest.mark.parametrize("change, message", [
    (dict(iterations=0), "iterations"), (dict(content_weight=-1.0), "content-weight"),
    (dict(init="zeros"), "init"), (dict(content_layers=("relu9_9",)), "content layers"),
    (dict(content_layers=()), "content layer"), (dict(gamma=float("nan")), "gamma"),
    (dict(preset="nope"), "preset"),
    (dict(optimism=-1.0), "optimism"), (dict(checkpoint_every=0), "checkpoint-every"),
    (dict(average_last=5, iterations=2), "average-last"),
])
def test_config_validation(change, message):
    with pytest.raises(ValueError, match=message):
        st.StyleConfig(**change).validate()


def test_defaults_follow_the_synthesis_regime():
    """Extensive energy, gamma, reference measure, padding and theta step of SynthesisConfig;
    the theta step of the config is the optax transformation of ``soul.theta_optimizer``:
    the plain SOUL step by default, the optimistic one on request."""
    import dataclasses

    from maxent_jax.tasks.texture import SynthesisConfig

    ref, config = SynthesisConfig(), st.StyleConfig()
    for name in ("gamma", "theta_step", "eps", "padding", "projection", "extensive"):
        assert getattr(config, name) == getattr(ref, name), name
    assert 0 < config.delta <= ref.delta
    theta, g1, g2 = jnp.zeros(2), jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0])
    for cfg in (config, dataclasses.replace(config, theta_step="optimistic")):
        opt = cfg.theta_optimizer()
        state = opt.init(theta)
        _, state = opt.update(g1, state, theta)
        step, _ = opt.update(g2, state, theta)
        b = cfg.optimism if cfg.theta_step == "optimistic" else 0.0
        # -delta ((1 + b) g_n - b g_(n-1)); b = 0: SOUL's -delta g_n
        np.testing.assert_allclose(step, -cfg.delta * ((1 + b) * g2 - b * g1), rtol=1e-6)
    options = config.soul_options()
    assert options["sampler"] == "ula" and options["projection"] is not None
    np.testing.assert_allclose(options["projection"](jnp.full(4, 1e3)), jnp.full(4, 250.0),
                               rtol=1e-6)  # the l2 ball of radius 500
    assert float(options["step_size"](7)) == pytest.approx(config.gamma)


def test_too_small_images_are_refused(real_variables, brick_gravel):
    content, style = brick_gravel
    with pytest.raises(ValueError, match="relu5_2 needs at least 16x16"):
        st.transfer_style(content[:12], style, real_variables, st.StyleConfig(iterations=1))
    with pytest.raises(ValueError, match="channels"):
        st.transfer_style(content[..., :0], style, real_variables, st.StyleConfig(iterations=1))


# ------------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------------

def cli(argv):
    """``maxent-jax ...``: the console script's entry point (errors give exit status 2)."""
    from maxent_jax.cli import main

    return main(argv)


def test_cli_writes_result_config_and_trace(tmp_path, capsys, brick_gravel):
    content, style = brick_gravel
    save_image(tmp_path / "content.png", content)
    save_image(tmp_path / "style.png", load_exemplar("wood", size=40))
    out = tmp_path / "out"
    assert cli(["style", str(tmp_path / "content.png"), str(tmp_path / "style.png"),
                "--out-dir", str(out), "--size", "24", "20", "--iterations", "3",
                "--content-weight", "100", "--layers", "relu1_1,relu2_1",
                "--content-layers", "relu2_1", "--seed", "2", "--optimism", "3",
                "--no-progress"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["config.json", "content.png", "result_000.png", "style.png", "trace.npz",
                     "trace.png"]
    record = json.loads((out / "config.json").read_text())
    assert record["config"]["content_weight"] == 100 and record["config"]["size"] == [24, 20]
    assert record["config"]["optimism"] == 3 and record["config"]["extensive"] is True
    from maxent_jax.io import load_image

    assert load_image(out / "result_000.png").shape == (24, 20, 1)
    assert "style gap" in capsys.readouterr().out
    assert cli(["style", str(tmp_path / "content.png"), str(tmp_path / "style.png"),
                "--out-dir", str(out), "--preset", "nope"]) == 2
    assert cli(["style", str(tmp_path / "missing.png"), str(tmp_path / "style.png"),
                "--out-dir", str(out)]) == 2
    assert cli(["style", str(tmp_path / "content.png"), str(tmp_path / "style.png"),
                "--out-dir", str(out) + "_small", "--size", "8", "8"]) == 2
    assert "needs at least 16x16" in capsys.readouterr().err
