"""Chains across devices (and hosts) with ``jax.sharding``; no hand-written communication.

The chain axis of the SOUL state is split over a one-dimensional device mesh (axis name
``"chains"``); theta, the optimiser state and the counters are replicated. Under ``jit`` the
Monte Carlo average over chains in ``soul.py`` (a sum over the vmapped chain axis) becomes a
cross-device reduction inserted by the compiler (GSPMD), so the sharded run computes the same
thing as the single-device run, up to the order of floating-point additions.

Multi-host (GPU clusters, TPU pods): call ``initialize_distributed()`` once per process before
anything else touches JAX, then use ``chain_mesh()`` (all devices of all hosts). Launch the same
command on every host, e.g. with SLURM::

    srun --nodes 2 --ntasks-per-node 1 maxent-jax synthesize IMAGE --out-dir DIR --chains 64 \\
         --distributed

(``jax.distributed.initialize`` reads the coordinator address, process count and id from
SLURM, Open MPI or TPU-pod environments; elsewhere set ``MAXENT_JAX_COORDINATOR`` = host:port,
``MAXENT_JAX_NUM_PROCESSES`` and ``MAXENT_JAX_PROCESS_ID``.) Only process 0 writes files.
"""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from maxent_jax.sampling.soul import SOULState

__all__ = ["chain_mesh", "shard_state", "replicate", "check_chains", "initialize_distributed"]

AXIS = "chains"


def chain_mesh(devices: Optional[int | Sequence[Any]] = None) -> Mesh:
    """A 1-D mesh over ``devices``: None = all (global) devices, an int = the first n."""
    available = jax.devices()
    if devices is None:
        chosen = available
    elif isinstance(devices, int):
        if not 1 <= devices <= len(available):
            raise ValueError(f"asked for {devices} devices; {len(available)} are visible "
                             f"({available[0].platform})")
        chosen = available[:devices]
    else:
        chosen = list(devices)
    return Mesh(chosen, (AXIS,))


def check_chains(chains: int, mesh: Mesh) -> None:
    """Chains must split evenly over the devices: a clear error otherwise."""
    n = mesh.devices.size
    if chains % n:
        up = -(-chains // n) * n
        raise ValueError(f"{chains} chains cannot be split over {n} devices; use --chains {up} "
                         f"(or a multiple of {n}), or --devices 1")


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Put every leaf of ``tree`` on all devices of ``mesh``."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def shard_state(state: SOULState, mesh: Mesh) -> SOULState:
    """Split positions and their average along the chain axis; replicate the rest."""
    check_chains(state.positions.shape[0], mesh)
    chains = NamedSharding(mesh, PartitionSpec(AXIS))
    return replicate(state, mesh)._replace(
        positions=jax.device_put(state.positions, chains),
        average=jax.device_put(state.average, chains))


def initialize_distributed() -> None:
    """``jax.distributed.initialize`` from the cluster's environment (see module docstring)."""
    address = os.environ.get("MAXENT_JAX_COORDINATOR")
    if address:
        jax.distributed.initialize(address, int(os.environ["MAXENT_JAX_NUM_PROCESSES"]),
                                   int(os.environ["MAXENT_JAX_PROCESS_ID"]))
    else:
        jax.distributed.initialize()
