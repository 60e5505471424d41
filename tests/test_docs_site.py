"""The documentation site (mkdocs.yml) builds in strict mode (a broken link, a page missing
from the navigation or an unresolved cross-reference fails), and its API reference holds every
public function and class of the library."""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import maxent_jax

ROOT = Path(__file__).resolve().parents[1]
API = ROOT / "docs" / "api.md"
ALIASES = {"maxent_jax.tasks.gaussian"}  # a former path, re-exporting maxent_jax.gaussian


def library_modules() -> list[str]:
    """Every public module of the library but the command-line ones (``maxent-jax --help``
    and docs/cli_reference.md document those) and the packages' ``__init__``."""
    names = [m.name for m in pkgutil.walk_packages(maxent_jax.__path__, "maxent_jax.")
             if not m.ispkg or m.name == "maxent_jax.nn.weights"]
    return [n for n in names if not any(p.startswith("_") for p in n.split(".")[1:])
            and n not in ALIASES
            and not (n.startswith("maxent_jax.cli.") and n != "maxent_jax.cli.reference")]


def public_names(module_name: str) -> list[str]:
    """The functions and classes a module exports (``__all__``) and defines itself."""
    module = importlib.import_module(module_name)
    out = []
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name)
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and \
                getattr(obj, "__module__", None) == module_name:
            out.append(name)
    return out


def test_the_api_page_lists_every_library_module():
    listed = re.findall(r"^::: ([\w.]+)$", API.read_text(), flags=re.M)
    assert sorted(listed) == sorted(library_modules())


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-4000:]
    return out


def test_the_site_builds_strict_with_every_public_function_in_the_api_reference(site):
    html = (site / "api" / "index.html").read_text()
    missing = [f"{m}.{n}" for m in library_modules() for n in public_names(m)
               if f'id="{m}.{n}"' not in html]
    assert not missing, missing
    assert 'id="maxent_jax.tasks.texture.synthesize"' in html
    for page in ("cli_reference", "settings", "fidelity", "comparison", "maths"):
        assert (site / page / "index.html").is_file(), page


def test_strict_mode_fails_on_a_broken_link(tmp_path):
    """The check is real: the same configuration refuses a page with a dead link."""
    import shutil

    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    page = tmp_path / "docs" / "index.md"
    page.write_text(page.read_text() + "\n[dead](no_such_page.md)\n")
    config = (tmp_path / "mkdocs.yml").read_text().replace("paths: [.]", f"paths: [{ROOT}]")
    (tmp_path / "mkdocs.yml").write_text(config)
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d",
                           str(tmp_path / "site")], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode != 0 and "no_such_page.md" in done.stderr
