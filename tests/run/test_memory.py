"""The memory estimate is an upper bound of XLA's own figure, and refusals say what fits."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from maxent_jax.nn.backbone import prepare_backbone
from maxent_jax.nn.vgg import random_variables
from maxent_jax.run.memory import GIB, activation_elements, check_memory, estimate_bytes
from maxent_jax.run.settings import SOULConfig
from maxent_jax.run.task import _runner
from maxent_jax.sampling.soul import soul_init
from maxent_jax.tasks.texture import texture_energy


@pytest.mark.parametrize("probe_every", [0, 50])
@pytest.mark.parametrize("layers, size, chains", [
    (("relu1_1", "relu2_1", "relu3_1"), 48, 2), (("relu1_1", "relu2_2"), 64, 1)])
def test_estimate_bounds_the_compiled_chunk(layers, size, chains, probe_every):
    """Without and with the probe (its float64 forward pass and weights)."""
    config = SOULConfig(layers=layers, chains=chains, checkpoint_every=2,
                        probe_every=probe_every)
    spec = config.spec()
    variables = random_variables(jax.random.key(0), layers=(layers[-1],))
    backbone = prepare_backbone(spec, variables, (size, size))
    state = soul_init(jnp.zeros((chains, size, size, 3)), jnp.zeros(backbone.dim),
                      config.theta_optimizer())
    args = (jnp.zeros((size, size, 3)), jnp.zeros(backbone.dim))
    compiled = _runner(config, texture_energy).lower(
        backbone, args, jax.random.key(0), state, jnp.int32(2), 1).compile()
    m = compiled.memory_analysis()
    xla = (m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
           - m.alias_size_in_bytes)
    ours = estimate_bytes(spec, (size, size), chains, float64_energy=probe_every > 0)
    print(f"{layers} {size} px x{chains}: XLA {xla / 2**20:.1f} MiB, estimate "
          f"{ours / 2**20:.1f} MiB")
    assert xla <= ours <= 4 * xla


def test_activation_elements_follow_the_pools():
    spec = SOULConfig(layers=("relu1_1", "relu2_1")).spec()
    # conv1_1, conv1_2 at 16x16 (64 channels), pool1, conv2_1 at 8x8 (128)
    assert activation_elements(spec, (16, 16)) == 2 * 256 * 64 + 64 * 128


def test_refusal_names_the_estimate_and_what_fits():
    spec = SOULConfig().spec()
    with pytest.raises(ValueError, match=r"needs about .* GiB per device \(8 chains of "
                                         r"512x512, layers up to relu5_2\) but 3.0 GiB are "
                                         r"--max-memory; try .*chains per device.*--devices"):
        check_memory(spec, (512, 512), 8, max_memory_gib=3.0)
    assert check_memory(spec, (64, 64), 1, max_memory_gib=4.0) < 4 * GIB
    # two devices halve the chains each must hold
    need_one = check_memory(spec, (256, 256), 8, devices=1, max_memory_gib=100.0)
    need_two = check_memory(spec, (256, 256), 8, devices=2, max_memory_gib=100.0)
    assert need_two < need_one
