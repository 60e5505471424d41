"""The curated names of ``maxent_jax`` (loaded on first use) are the library's own objects,
and importing the package stays light."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import maxent_jax


def test_every_curated_name_is_the_object_of_its_module():
    for name, module_name in maxent_jax._EXPORTS.items():
        module = importlib.import_module(module_name)
        expected = module if module_name == f"maxent_jax.{name}" else getattr(module, name)
        assert getattr(maxent_jax, name) is expected, name
        assert name in maxent_jax.__all__ and name in dir(maxent_jax)
    from maxent_jax.gaussian import adsn
    from maxent_jax.tasks import gaussian as former  # the former path: the same functions

    assert maxent_jax.adsn is adsn is former.adsn
    assert set(former.__all__) == set(maxent_jax.gaussian.__all__)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        maxent_jax.no_such_name  # noqa: B018


def test_importing_the_package_does_not_load_jax():
    code = "import sys, maxent_jax; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout.strip()
    assert out == "False"


def test_the_gaussian_package_is_the_ground_floor():
    """maxent_jax.gaussian imports nothing else of the library (no upward import)."""
    import ast
    from pathlib import Path

    for path in Path(maxent_jax.gaussian.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and \
                    node.module.startswith("maxent_jax"):
                assert node.module.startswith("maxent_jax.gaussian"), (path.name, node.module)
