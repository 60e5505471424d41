"""What machine a measurement ran on: the CPU's model name and vector-ISA class.

Benchmarks and studies record it beside every figure (the CPUs of the project's machines differ
from session to session, AVX-512 on some and AVX2 only on others), and the recorded-run tests
compare bit for bit only on a machine of the recording's ISA class.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

__all__ = ["cpu_model", "vector_isa", "describe_cpu"]


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what :mod:`platform` knows)."""
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def vector_isa() -> str:
    """``"avx512"`` (the CPU has AVX-512F), ``"avx2"``, or the machine's architecture name."""
    flags = _cpuinfo()
    if "avx512f" in flags:
        return "avx512"
    return "avx2" if "avx2" in flags else platform.machine()


def describe_cpu() -> str:
    """``"MODEL (AVX-512, N cores)"``: the line a measurement names its machine by."""
    isa = {"avx512": "AVX-512", "avx2": "AVX2"}.get(vector_isa(), vector_isa())
    return f"{cpu_model()} ({isa}, {os.cpu_count()} cores)"
