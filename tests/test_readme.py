"""The README's Python API block runs as written (real weights, tiny sizes)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_python_api_block_runs(tmp_path, monkeypatch):
    text = README.read_text()
    section = text[text.index("## Python API"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    code = code.replace("/tmp/wood_model.npz", str(tmp_path / "wood_model.npz"))
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)
    assert namespace["result"].samples.shape == (2, 32, 32, 3)
    assert namespace["more"].samples.shape == (2, 64, 64, 3)
    assert 0 < namespace["more"].diagnostics["mala_acceptance_rate"] <= 1
    assert namespace["info"].theta.shape == (448,)
    assert (tmp_path / "wood_model.npz").is_file()
