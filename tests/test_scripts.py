"""The run script: a tiny study runs, writes its outputs, and a second call skips/resumes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_run_study_tiny_is_resumable(tmp_path, capsys):
    study = load_script("run_study")
    out = tmp_path / "runs"
    assert study.main([str(ROOT / "configs" / "study256.json"), "--tiny", "--out-dir",
                       str(out)]) == 0
    folder = out / "brick"
    for name in ("sample_000.png", "trace.npz", "config.json", "checkpoint.npz"):
        assert (folder / name).is_file(), name
    record = json.loads((folder / "config.json").read_text())
    assert record["config"]["iterations"] == 4
    assert study.main([str(ROOT / "configs" / "study256.json"), "--tiny", "--out-dir",
                       str(out)]) == 0
    assert "done, skipped" in capsys.readouterr().out


def test_run_study_rejects_unknown_keys(tmp_path):
    study = load_script("run_study")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"exemplars": ["wood"], "synthesis": {}, "iterations": 3}))
    with pytest.raises(ValueError, match="unknown keys"):
        study.main([str(bad), "--tiny", "--out-dir", str(tmp_path / "o")])
