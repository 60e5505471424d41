"""The command line's persistent XLA compilation cache (``maxent_jax.cli._common``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from maxent_jax.cli._common import ENV_COMPILE_CACHE, enable_compile_cache
from maxent_jax.io import load_image, save_image


def test_folder_default_and_off(monkeypatch, tmp_path):
    before = jax.config.jax_compilation_cache_dir
    try:
        jax.config.update("jax_compilation_cache_dir", None)
        monkeypatch.setenv(ENV_COMPILE_CACHE, "off")
        assert enable_compile_cache() is None
        assert jax.config.jax_compilation_cache_dir is None
        monkeypatch.setenv(ENV_COMPILE_CACHE, "")
        monkeypatch.setenv("MAXENT_JAX_CACHE", str(tmp_path / "cache"))
        assert enable_compile_cache() == tmp_path / "cache" / "xla"
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "cache" / "xla")
        monkeypatch.setenv(ENV_COMPILE_CACHE, str(tmp_path / "mine"))
        jax.config.update("jax_compilation_cache_dir", str(tmp_path / "users"))
        assert enable_compile_cache() == tmp_path / "users"  # a folder given to JAX is kept
        jax.config.update("jax_compilation_cache_dir", None)
        assert enable_compile_cache() == tmp_path / "mine"
        jax.config.update("jax_compilation_cache_dir", None)
        (tmp_path / "file").write_text("not a folder")
        monkeypatch.setenv(ENV_COMPILE_CACHE, str(tmp_path / "file" / "xla"))
        with pytest.warns(UserWarning, match="compilation cache disabled"):
            assert enable_compile_cache() is None
        assert jax.config.jax_compilation_cache_dir is None
    finally:
        jax.config.update("jax_compilation_cache_dir", before)


def _synthesize(image: Path, out: Path, cache: Path) -> None:
    env = {**os.environ, ENV_COMPILE_CACHE: str(cache),
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    args = ["synthesize", str(image), "--out-dir", str(out), "--iterations", "2",
            "--layers", "relu1_1", "--size", "16", "16", "--no-progress"]
    subprocess.run([sys.executable, "-m", "maxent_jax.cli", *args], env=env, check=True,
                   capture_output=True, timeout=600)


def test_cache_is_written_and_a_second_run_gives_the_same_sample(tmp_path, wood32):
    image = tmp_path / "wood.png"
    save_image(image, wood32)
    cache = tmp_path / "xla"
    _synthesize(image, tmp_path / "a", cache)
    entries = sorted(p.name for p in cache.iterdir())
    assert entries, "nothing was written to the compilation cache"
    _synthesize(image, tmp_path / "b", cache)
    np.testing.assert_array_equal(load_image(tmp_path / "a" / "sample_000.png"),
                                  load_image(tmp_path / "b" / "sample_000.png"))
