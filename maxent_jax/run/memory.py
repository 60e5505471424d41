"""How much memory a chain-running task needs, estimated before anything is compiled.

A Langevin step of C chains keeps, for the backward pass, the activations of every VGG-19
layer up to the deepest one the features use; XLA's own accounting of the compiled SOUL
chunk (``compiled.memory_analysis()``, ``scripts/benchmarks/memory.py``) measured its
temporaries at 2.1-2.4 times the activations' float32 size (paper, shallow and deep presets,
64-256 px, 1-4 chains, on the CPU; 1.8 with ``remat``), and its arguments (weights, their
adjoints and Winograd transforms) at 4-8 times the weights' size. The estimate

    bytes = 10 * weights + 2.5 * 4 * C * sum_l H_l W_l C_l + 4 * 4 * C * H W ch

is therefore an upper bound with some margin (``tests/run/test_memory.py`` checks it against
XLA's figure). When MALA's ratio or the probe evaluates U in float64
(:mod:`maxent_jax.sampling.langevin`), the float64 copy of the weights, a float64 forward
pass of the C chains (8 bytes per activation) and the probe's own float32 gradient passes,
whose buffers XLA does not share with the sweep's (about 10 bytes per activation), add
``2 * weights + 20 * C * sum_l H_l W_l C_l`` (XLA measured 27.5 MiB against 25.6 MiB without
the second term's float32 share, relu1_1 to relu2_2 at 64 px, one chain). :func:`check_memory` compares it with the memory available (``/proc/meminfo``'s
MemAvailable on the CPU, the device's limit on a GPU) or a user's limit, and refuses with the
estimate and what would fit.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence

import jax

from maxent_jax.nn.features import FeatureSpec
from maxent_jax.nn.vgg import CONV_CHANNELS, LAYER_NAMES

__all__ = ["weight_bytes", "activation_elements", "estimate_bytes", "available_bytes",
           "check_memory"]

GIB = 2**30


def _layers_to(spec: FeatureSpec) -> list[str]:
    deepest = max(LAYER_NAMES.index(n) for n in spec.layers)
    return list(LAYER_NAMES[: deepest + 1])


def weight_bytes(spec: FeatureSpec) -> int:
    """float32 bytes of the 3x3 kernels up to the spec's deepest layer."""
    total, cin = 0, 3
    for name in _layers_to(spec):
        if name.startswith("conv"):
            total += 9 * cin * CONV_CHANNELS[name] * 4
            cin = CONV_CHANNELS[name]
    return total


def activation_elements(spec: FeatureSpec, hw: Sequence[int]) -> int:
    """Sum over the convolutions up to the deepest layer of H_l W_l C_l (2x2 pools, floor)."""
    h, w = int(hw[0]), int(hw[1])
    total = 0
    for name in _layers_to(spec):
        if name.startswith("conv"):
            total += h * w * CONV_CHANNELS[name]
        elif name.startswith("pool"):
            h, w = h // 2, w // 2
    return total


def estimate_bytes(spec: FeatureSpec, hw: Sequence[int], chains: int, channels: int = 3,
                   float64_energy: bool = False) -> int:
    """The estimate of the module docstring for ``chains`` chains on one device
    (``float64_energy``: with the float64 forward pass of MALA's ratio or the probe)."""
    pixels = int(hw[0]) * int(hw[1])
    acts = activation_elements(spec, hw)
    extra = 2 * weight_bytes(spec) + 20 * chains * acts if float64_energy else 0
    return (10 * weight_bytes(spec) + int(2.5 * 4 * chains * acts)
            + 16 * chains * pixels * channels + extra)


def available_bytes() -> Optional[int]:
    """Memory a run may use: the accelerator's limit, else the host's MemAvailable (None if
    unknown)."""
    device = jax.devices()[0]
    if device.platform != "cpu":
        try:
            return int(device.memory_stats()["bytes_limit"])
        except (AttributeError, KeyError, TypeError, RuntimeError):
            return None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_memory(spec: FeatureSpec, hw: Sequence[int], chains: int, devices: int = 1,
                 max_memory_gib: Optional[float] = None, channels: int = 3,
                 float64_energy: bool = False) -> int:
    """Raise ``ValueError`` if the run will not fit; return the estimate (bytes per device).

    ``max_memory_gib`` (``--max-memory``) replaces the available memory as the limit;
    ``float64_energy``: see :func:`estimate_bytes`.
    """
    per_device = max(1, math.ceil(chains / max(devices, 1)))
    need = estimate_bytes(spec, hw, per_device, channels, float64_energy)
    limit = (int(max_memory_gib * GIB) if max_memory_gib is not None else available_bytes())
    if limit is None or need <= limit:
        return need
    fit = [c for c in range(per_device - 1, 0, -1)
           if estimate_bytes(spec, hw, c, channels, float64_energy) <= limit]
    side = int(hw[0])
    while side > 16 and estimate_bytes(spec, (side, side * int(hw[1]) // int(hw[0])),
                                       1, channels, float64_energy) > limit:
        side = int(side * 0.8)
    hints = []
    if fit:
        hints.append(f"{fit[0]} chains per device")
    hints.append("more devices (--devices)")
    hints.append(f"a smaller --size (about {side} px high fits one chain)")
    source = "--max-memory" if max_memory_gib is not None else "available"
    raise ValueError(f"the run needs about {need / GIB:.1f} GiB per device ({per_device} chains "
                     f"of {hw[0]}x{hw[1]}, layers up to {_layers_to(spec)[-1]}) but "
                     f"{limit / GIB:.1f} GiB are {source}; try " + ", or ".join(hints)
                     + " (or raise --max-memory)")
