"""maxent_jax.run.machine names the CPU as /proc/cpuinfo does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from maxent_jax.run import machine


def test_the_isa_class_follows_the_cpu_flags(monkeypatch):
    info = "model name\t: Test CPU 9000\nflags\t: sse avx2 avx512f\n"
    monkeypatch.setattr(machine, "_cpuinfo", lambda: info)
    assert machine.cpu_model() == "Test CPU 9000" and machine.vector_isa() == "avx512"
    assert machine.describe_cpu() == f"Test CPU 9000 (AVX-512, {os.cpu_count()} cores)"
    monkeypatch.setattr(machine, "_cpuinfo", lambda: "model name\t: Other\nflags\t: sse avx2\n")
    assert machine.vector_isa() == "avx2" and "(AVX2," in machine.describe_cpu()


@pytest.mark.skipif(not Path("/proc/cpuinfo").is_file(), reason="Linux only")
def test_this_machine_is_described():
    text = Path("/proc/cpuinfo").read_text()
    assert machine.cpu_model() in text
    assert (machine.vector_isa() == "avx512") == ("avx512f" in text)
