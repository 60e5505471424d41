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


PAGES = sorted((ROOT / "docs" / "tutorials").glob("*.md"))


def test_every_notebook_has_its_rendered_page():
    notebooks = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert notebooks and notebooks == {p.stem for p in PAGES}


def test_the_tutorial_pages_are_listed_in_the_navigation():
    nav = (ROOT / "mkdocs.yml").read_text()
    listed = set(re.findall(r"tutorials/(\w+)\.md", nav))
    assert listed == {p.stem for p in PAGES}


def test_each_rendered_notebook_is_the_notebook_as_it_is_now():
    """docs/tutorials/NAME.md (scripts/render_notebooks.py) holds every cell of
    notebooks/NAME.ipynb as committed, was rendered at full settings, and each figure it
    shows is there."""
    import json

    for page in PAGES:
        notebook = ROOT / "notebooks" / f"{page.stem}.ipynb"
        assert notebook.is_file(), f"{page.name}: no notebook {notebook.name}"
        text = page.read_text()
        assert "at its full settings" in text
        for cell in json.loads(notebook.read_text())["cells"]:
            source = "".join(cell["source"]).rstrip()
            assert source in text, (f"{page.name} is older than {notebook.name}: "
                                    f"run python scripts/render_notebooks.py --only {page.stem}")
        figures = re.findall(r"!\[[^]]*\]\(([^)]+\.png)\)", text)
        assert all((page.parent / f).is_file() for f in figures)


def test_the_notebook_renderer_writes_cells_outputs_and_figures(tmp_path):
    """scripts/render_notebooks.py's converter on an executed notebook's cells: markdown as
    is, code fenced, text output fenced, a markdown output as markdown (not its repr), each
    PNG written beside the page and linked; a cell that failed is refused."""
    import base64
    import importlib.util

    spec = importlib.util.spec_from_file_location("render_notebooks",
                                                  ROOT / "scripts" / "render_notebooks.py")
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    png = (ROOT / "docs" / "overview.png").read_bytes()
    cells = [{"cell_type": "markdown", "source": ["# Title\n", "text"]},
             {"cell_type": "code", "source": ["print(1)"],
              "outputs": [{"output_type": "stream", "text": ["1\n"]}]},
             {"cell_type": "code", "source": ["plot()"],
              "outputs": [{"output_type": "display_data",
                           "data": {"image/png": base64.b64encode(png).decode(),
                                    "text/plain": ["<Figure>"]}}]},
             {"cell_type": "code", "source": ["display(Markdown(table))"],
              "outputs": [{"output_type": "display_data",
                           "data": {"text/markdown": ["| a |\n", "|---|\n", "| 1 |"],
                                    "text/plain": ["<IPython.core.display.Markdown object>"]}}]}]
    page = render.to_markdown(cells, "demo", tmp_path / "demo")
    assert "\n\n| a |\n|---|\n| 1 |\n" in page and "Markdown object" not in page
    assert page.startswith("# Title\ntext\n\n```python\nprint(1)\n```\n\n```text\n1\n```")
    assert "![demo, figure 1](demo/figure_01.png)" in page and "<Figure>" not in page
    assert (tmp_path / "demo" / "figure_01.png").read_bytes() == png
    failed = [{"cell_type": "code", "source": ["1/0"],
               "outputs": [{"output_type": "error", "ename": "ZeroDivisionError",
                            "evalue": "division by zero"}]}]
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        render.to_markdown(failed, "demo", tmp_path / "demo")


def test_every_file_and_function_the_maths_pages_name_exists():
    """docs/maths/*.md name each equation's home as `path` :: `function`, `function`: each
    must be a def or class of that file, so the pages cannot drift from the code."""
    pages = sorted((ROOT / "docs" / "maths").glob("*.md"))
    assert len(pages) >= 6
    named, missing = 0, []
    for page in pages:
        for m in re.finditer(r"`(maxent_jax/[\w/]+\.py)` :: ((?:`\w+`(?:, )?)+)", page.read_text()):
            source = (ROOT / m.group(1)).read_text()
            for name in re.findall(r"`(\w+)`", m.group(2)):
                named += 1
                if not re.search(rf"^(def|class) {name}\b", source, re.M):
                    missing.append(f"{page.name}: {m.group(1)} :: {name}")
    assert named > 40 and not missing, missing
