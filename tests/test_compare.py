"""scripts/compare.py --tiny on one tiny exemplar: every method runs and every output is written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compare.py"
METHODS = {"adsn", "gatys", "lu_zhu_wu", "microcanonical", "macro_full", "macro_deep",
           "macro_shallow"}


def test_compare_tiny_writes_grid_and_tables(tmp_path):
    out = tmp_path / "cmp"
    done = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--out-dir", str(out),
                           "--save-samples", "wood"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads((out / "metrics.json").read_text())
    assert data["study"]["name"] == "tiny" and set(data["summary"]) == {"wood"}
    rows = data["summary"]["wood"]
    assert set(rows) == METHODS
    for row in rows.values():
        assert all(np.isfinite(v) for v in row.values()), row
        assert row["diversity"] > 0  # two different samples per method
    layers = data["details"]["wood"]["macro_full"]["feature_gap"]
    assert "relu5_4" in layers and "all" in layers
    table = (out / "metrics.md").read_text()
    assert "| Gatys |" in table and "| macro. shallow |" in table and "## wood" in table
    grid = Image.open(out / "grid.png")
    assert grid.width > grid.height  # one row, eight columns
    assert len(list((out / "samples" / "wood").glob("*.png"))) == 2 * len(METHODS)


def test_compare_refuses_unknown_methods(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--tiny", "--out-dir", str(tmp_path),
                           "--methods", "adsn,magic", "wood"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "magic" in done.stderr
