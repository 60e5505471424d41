"""Image loading and saving: formats, conversions and clear errors; bundled exemplars."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from maxent_jax import io
from maxent_jax.exemplars import exemplar_path, list_exemplars, load_exemplar


def test_grey_rgb_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    x = io.load_image(tmp_path / "c.png")
    assert x.dtype == np.float32 and x.shape == (20, 30, 3)
    np.testing.assert_array_equal(np.round(x * 255).astype(np.uint8), rgb)
    io.save_image(tmp_path / "d.png", x)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "d.png")), rgb)
    Image.fromarray(rgb[..., 0]).save(tmp_path / "g.png")
    g = io.load_image(tmp_path / "g.png")
    assert g.shape == (20, 30, 1)
    assert io.load_image(tmp_path / "g.png", mode="rgb").shape == (20, 30, 3)
    assert io.load_image(tmp_path / "c.png", mode="grey").shape == (20, 30, 1)


def test_rgba_palette_and_16_bit(tmp_path):
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 128
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    with pytest.warns(UserWarning, match="alpha channel dropped"):
        x = io.load_image(tmp_path / "a.png")
    assert x.shape == (16, 16, 3) and np.allclose(x[..., 0], 200 / 255)
    pal = Image.fromarray(np.full((16, 16, 3), [10, 20, 30], np.uint8)).quantize(4)
    pal.save(tmp_path / "p.png")
    np.testing.assert_allclose(io.load_image(tmp_path / "p.png")[0, 0], [10 / 255, 20 / 255,
                                                                          30 / 255])
    deep = (np.arange(16 * 16, dtype=np.uint16).reshape(16, 16) * 257)
    Image.fromarray(deep).save(tmp_path / "d16.png")
    y = io.load_image(tmp_path / "d16.png")
    assert y.shape == (16, 16, 1)
    np.testing.assert_allclose(y[..., 0], deep / 65535.0, atol=1e-6)


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        io.load_image(tmp_path / "missing.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(io.ImageError, match="empty"):
        io.load_image(tmp_path / "empty.png")
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    with pytest.raises(io.ImageError, match="cannot read"):
        io.load_image(tmp_path / "junk.png")
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "t.png")
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "trunc.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(io.ImageError, match="cannot read"):
        io.load_image(tmp_path / "trunc.png")
    Image.fromarray(np.zeros((4, 64), np.uint8)).save(tmp_path / "small.png")
    with pytest.raises(io.ImageError, match="at least"):
        io.load_image(tmp_path / "small.png")
    with pytest.raises(io.ImageError, match="directory"):
        io.load_image(tmp_path)
    with pytest.raises(ValueError, match="mode"):
        io.load_image(tmp_path / "t.png", mode="cmyk")


def test_absurdly_large_image_is_refused(tmp_path, monkeypatch):
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(tmp_path / "big.png")
    monkeypatch.setattr(io, "MAX_PIXELS", 1000)
    with pytest.raises(io.ImageError, match="more than the limit"):
        io.load_image(tmp_path / "big.png")


def test_save_refuses_bad_arrays(tmp_path):
    with pytest.raises(io.ImageError, match="NaN"):
        io.save_image(tmp_path / "n.png", np.full((8, 8), np.nan))
    with pytest.raises(io.ImageError, match="shape"):
        io.save_image(tmp_path / "s.png", np.zeros((8, 8, 2)))
    io.save_image(tmp_path / "clip.png", np.full((8, 8, 1), 2.0))
    assert np.asarray(Image.open(tmp_path / "clip.png")).max() == 255


def test_bundled_exemplars():
    names = list_exemplars()
    assert {"brick", "grass", "gravel", "wood"} <= set(names)
    for name in names:
        x = load_exemplar(name)
        assert max(x.shape[:2]) <= 256 and x.dtype == np.float32
        assert 0.0 <= x.min() and x.max() <= 1.0
    assert load_exemplar("wood").shape[-1] == 3 and load_exemplar("brick").shape[-1] == 1
    assert load_exemplar("brick", size=64).shape == (64, 64, 1)
    assert (exemplar_path("wood").parent / "PROVENANCE.md").is_file()
    with pytest.raises(ValueError, match="no bundled exemplar"):
        load_exemplar("marble")
