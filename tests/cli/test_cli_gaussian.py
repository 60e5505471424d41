"""The ``maxent-jax gaussian`` sub-command, end to end on tiny PNG files."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from maxent_jax.cli import main


def _png(path, shape, seed=0):
    arr = np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)
    Image.fromarray(arr).save(path)
    return str(path)


@pytest.mark.parametrize("method", ["adsn", "rpn"])
def test_writes_rgb_samples(tmp_path, capsys, method):
    image = _png(tmp_path / "in.png", (16, 12, 3))
    out = tmp_path / "out"
    code = main(["gaussian", image, "--out-dir", str(out), "--method", method,
                 "--num", "2", "--seed", "3"])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["sample_000.png", "sample_001.png"]
    with Image.open(out / "sample_000.png") as a, Image.open(out / "sample_001.png") as b:
        assert a.mode == "RGB" and a.size == (12, 16)
        assert not np.array_equal(np.asarray(a), np.asarray(b))
    printed = capsys.readouterr().out
    assert str(out) in printed and "sample_000.png" in printed and "sample_001.png" in printed


def test_grey_stays_grey_with_size_and_no_periodic(tmp_path):
    image = _png(tmp_path / "grey.png", (12, 12))
    out = tmp_path / "out"
    assert main(["gaussian", image, "--out-dir", str(out), "--size", "16", "20",
                 "--no-periodic"]) == 0
    assert [p.name for p in out.iterdir()] == ["sample_000.png"]
    with Image.open(out / "sample_000.png") as img:
        assert img.mode == "L" and img.size == (20, 16)


def test_same_seed_same_file(tmp_path):
    image = _png(tmp_path / "in.png", (16, 12, 3))
    for name in ("a", "b"):
        assert main(["gaussian", image, "--out-dir", str(tmp_path / name), "--seed", "7"]) == 0
    a = np.asarray(Image.open(tmp_path / "a" / "sample_000.png"))
    b = np.asarray(Image.open(tmp_path / "b" / "sample_000.png"))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("extra,match", [
    (["--size", "8", "20"], r"smaller than the exemplar 12x12"),
    (["--num", "0"], r"--num must be at least 1"),
    (["--seed", "-1"], r"--seed must be an integer between 0 and 2\^63 - 1"),
])
def test_bad_options_return_non_zero(tmp_path, capsys, extra, match):
    image = _png(tmp_path / "in.png", (12, 12, 3))
    out = tmp_path / "out"
    assert main(["gaussian", image, "--out-dir", str(out)] + extra) != 0
    err = capsys.readouterr().err
    assert "maxent-jax gaussian: error:" in err
    assert re.search(match, err), err
    assert not out.exists() or not any(out.iterdir())


def test_bad_files_return_non_zero(tmp_path, capsys):
    out = str(tmp_path / "out")
    assert main(["gaussian", str(tmp_path / "missing.png"), "--out-dir", out]) != 0
    assert "not found" in capsys.readouterr().err
    (tmp_path / "junk.png").write_bytes(b"not an image")
    assert main(["gaussian", str(tmp_path / "junk.png"), "--out-dir", out]) != 0
    assert "cannot read" in capsys.readouterr().err
    image = _png(tmp_path / "in.png", (12, 12, 3))
    (tmp_path / "file").write_text("x")
    assert main(["gaussian", image, "--out-dir", str(tmp_path / "file")]) != 0
    assert "is not a folder" in capsys.readouterr().err


def test_bad_method_is_an_argparse_error(tmp_path, capsys):
    image = _png(tmp_path / "in.png", (12, 12, 3))
    with pytest.raises(SystemExit) as info:
        main(["gaussian", image, "--out-dir", str(tmp_path), "--method", "gatys"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
