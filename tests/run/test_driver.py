"""The one chunk driver: chunk plan, one compilation for remainders, divergence, resume."""

from __future__ import annotations

import dataclasses
import json
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from maxent_jax.exemplars import load_exemplar
from maxent_jax.nn.vgg import random_variables
from maxent_jax.run.checkpoint import CheckpointError
from maxent_jax.run.driver import Checkpointing, DivergenceError, drive
from maxent_jax.run.settings import chunk_plan
from maxent_jax.sampling.scan import scan_steps
from maxent_jax.sampling.soul import SOULInfo, soul_init


def test_chunk_plan_cuts_at_the_cadence_and_the_stages():
    assert chunk_plan(12, 5, 1) == [(0, 5, 1), (5, 5, 1), (10, 2, 1)]
    assert chunk_plan(4, 10, 1) == [(0, 4, 1)]
    # growing m_n (decay): stage boundaries cut chunks too
    plan = chunk_plan(10, 4, 1, 0.5)
    assert [c[0] for c in plan] == [0, 3, 4, 8] and {c[2] for c in plan} == {1, 2}
    assert sum(c[1] for c in plan) == 10


class _State(NamedTuple):
    x: jax.Array
    step: jax.Array


def test_scan_steps_stops_early_without_changing_the_first_steps():
    def kernel(key, s):
        x = s.x + jax.random.normal(key, s.x.shape)
        return _State(x, s.step + 1), x.sum()

    key, init = jax.random.key(0), _State(jnp.zeros(3), jnp.zeros((), jnp.int32))
    full, infos = scan_steps(kernel, key, init, 5)
    part, part_infos = jax.jit(lambda s, stop: scan_steps(kernel, key, s, 5, stop))(init, 3)
    three, _ = scan_steps(kernel, key, init, 3)
    assert int(part.step) == 3
    np.testing.assert_array_equal(part.x, three.x)
    np.testing.assert_array_equal(part_infos[:3], infos[:3])
    np.testing.assert_array_equal(part_infos[3:], 0.0)


def _toy_chunk(calls):
    def run(state, stop, m):
        calls.append((int(state.step), int(stop), m))
        info = SOULInfo(*[jnp.zeros((5,) + s) for s in ((), (1,), (), (), (1,), (), (1,), (), (),
                                                        (), (), ())])
        return state._replace(step=jnp.asarray(stop, jnp.int32)), info
    return run


def test_drive_runs_each_chunk_once_and_keeps_only_its_steps():
    calls = []
    state = soul_init(jnp.zeros((1, 2)), jnp.zeros(1), optax.sgd(1.0))
    result = drive(_toy_chunk(calls), state, chunk_plan(12, 5, 1), SOULInfo,
                   monitor=lambda s: int(s.step))
    assert calls == [(0, 5, 1), (5, 10, 1), (10, 12, 1)]
    assert [len(i.energy) for i in result.infos] == [5, 5, 2] and result.records == [0, 5, 10, 12]


def test_divergence_saves_the_last_good_state_and_names_the_iteration(tmp_path):
    state = soul_init(jnp.zeros((1, 2)), jnp.zeros(1), optax.sgd(1.0))

    def run(s, stop, m):
        new, info = _toy_chunk([])(s, stop, m)
        bad = int(stop) > 5
        energy = jnp.where(jnp.arange(5) == 1, jnp.nan, 0.0) if bad else info.energy
        return new, info._replace(energy=energy)

    ckpt = Checkpointing(tmp_path / "checkpoint.npz", {"config": {"a": 1}}, write=True,
                         advice="lower --gamma and resume with --resume --gamma G")
    with pytest.raises(DivergenceError, match="at iteration 6; lower --gamma.*iteration 5"):
        drive(run, state, chunk_plan(12, 5, 1), SOULInfo, checkpointing=ckpt)
    data = np.load(tmp_path / "checkpoint.npz")
    assert json.loads(str(data["identity"]))["config"] == {"a": 1}
    assert len(data["trace_energy"]) == 5


def test_cli_run_with_a_remainder_compiles_the_chunk_program_once(tmp_path):
    """7 iterations, checkpoints every 3: chunks of 3, 3 and 1 steps share one program."""
    from maxent_jax.cli import main
    from maxent_jax.io import save_image
    from maxent_jax.run import task
    from maxent_jax.tasks.texture import SynthesisConfig, texture_energy

    save_image(tmp_path / "wood.png", load_exemplar("wood", size=32))
    out = tmp_path / "out"
    assert main(["synthesize", str(tmp_path / "wood.png"), "--out-dir", str(out),
                 "--layers", "relu1_1,relu2_1", "--iterations", "7", "--checkpoint-every", "3",
                 "--no-progress"]) == 0
    config = SynthesisConfig.from_json(json.loads((out / "config.json").read_text())["config"])
    runner = task.chunk_program(config, texture_energy)  # the cached jitted chunk program
    assert runner._cache_size() == 1
    assert np.load(out / "trace.npz")["relative_gap"].shape == (7,)


@pytest.fixture(scope="module")
def rand_vars():
    return random_variables(jax.random.key(0), layers=("relu2_1",))


def test_style_resumes_bit_identically(tmp_path, rand_vars):
    from maxent_jax.tasks.style import StyleConfig, transfer_style

    content, style = load_exemplar("brick", size=24), load_exemplar("grass", size=24)
    config = StyleConfig(layers=("relu1_1", "relu2_1"), content_layers=("relu1_1",),
                         iterations=6, checkpoint_every=3, chains=2, gamma=1e-5, delta=1.0)
    whole = transfer_style(content, style, rand_vars, config)
    first = dataclasses.replace(config, iterations=3)
    transfer_style(content, style, rand_vars, first, out_dir=tmp_path, checkpoint=True)
    resumed = transfer_style(content, style, rand_vars, config, out_dir=tmp_path, resume=True,
                             checkpoint=True)
    np.testing.assert_array_equal(whole.images, resumed.images)
    np.testing.assert_array_equal(whole.state.theta, resumed.state.theta)
    np.testing.assert_array_equal(whole.trace["energy"], resumed.trace["energy"])
    with pytest.raises(CheckpointError, match="inputs.style"):
        transfer_style(content, style[::-1], rand_vars, config, out_dir=tmp_path, resume=True)


def test_inpainting_resumes_bit_identically(tmp_path, rand_vars):
    from maxent_jax.tasks.inpaint import InpaintConfig, inpaint_image

    image = load_exemplar("wood", size=24)
    mask = np.zeros((24, 24), bool)
    mask[8:16, 6:18] = True
    config = InpaintConfig(model="cnn", layers=("relu1_1", "relu2_1"), iterations=6,
                           checkpoint_every=3, chains=2, gamma=1e-5, delta=1.0)
    whole = inpaint_image(image, mask, rand_vars, config)
    inpaint_image(image, mask, rand_vars, dataclasses.replace(config, iterations=3),
                  out_dir=tmp_path, checkpoint=True)
    resumed = inpaint_image(image, mask, rand_vars, config, out_dir=tmp_path, resume=True,
                            checkpoint=True)
    np.testing.assert_array_equal(whole.images, resumed.images)
    np.testing.assert_array_equal(whole.state.theta, resumed.state.theta)
    other = dataclasses.replace(config, gamma=2e-5)
    with pytest.raises(CheckpointError, match="config.gamma"):
        inpaint_image(image, mask, rand_vars, other, out_dir=tmp_path, resume=True)
