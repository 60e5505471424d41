"""Chains sharded over 4 forced host devices equal the single-device run (own process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import json, dataclasses
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import NamedSharding, PartitionSpec
    from maxent_jax.exemplars import load_exemplar
    from maxent_jax.run.parallel import chain_mesh, shard_state
    from maxent_jax.tasks.texture import SynthesisConfig, synthesize
    from maxent_jax.nn.vgg import random_variables

    out = {"devices": jax.device_count()}
    v = random_variables(jax.random.key(0))
    x = load_exemplar("wood", size=24)
    cfg = SynthesisConfig(layers=("relu1_1", "relu2_1"), iterations=4, chains=8, inner_steps=2,
                          gamma=1e-5, delta=1e-3, checkpoint_every=2)
    one = synthesize(x, v, cfg, progress=False, devices=1)
    four = synthesize(x, v, cfg, progress=False, devices=4)
    out["max_pos_diff"] = float(np.abs(one.samples - four.samples).max())
    out["max_theta_diff"] = float(np.abs(np.asarray(one.state.theta)
                                          - np.asarray(four.state.theta)).max())
    out["theta_scale"] = float(np.abs(np.asarray(one.state.theta)).max())
    sh = four.state.positions.sharding
    out["positions_spec_ok"] = isinstance(sh, NamedSharding) and sh.spec == PartitionSpec("chains")
    out["positions_devices"] = len(sh.device_set)
    out["theta_replicated"] = bool(four.state.theta.sharding.is_fully_replicated)
    out["shard_shape"] = list(four.state.positions.addressable_shards[0].data.shape)
    try:
        synthesize(x, v, dataclasses.replace(cfg, chains=6), progress=False, devices=4)
        out["error"] = None
    except ValueError as err:
        out["error"] = str(err)
    print("RESULT" + json.dumps(out))
""")


def test_sharded_chains_equal_single_device_run():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")][-1]
    out = json.loads(line[len("RESULT"):])
    assert out["devices"] == 4
    assert out["max_pos_diff"] < 1e-5  # reduction-order rounding only
    assert out["max_theta_diff"] <= 1e-5 * max(1.0, out["theta_scale"])
    assert out["positions_spec_ok"]
    assert out["positions_devices"] == 4 and out["shard_shape"][0] == 2
    assert out["theta_replicated"]
    assert out["error"] and "6 chains cannot be split over 4 devices" in out["error"]
