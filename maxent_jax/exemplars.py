"""Bundled exemplar textures (CC0; see ``maxent_jax/data/exemplars/PROVENANCE.md``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from maxent_jax.io import load_image

__all__ = ["list_exemplars", "exemplar_path", "load_exemplar", "resize_longer_side"]


def _folder() -> Path:
    return Path(str(resources.files("maxent_jax.data").joinpath("exemplars")))


def list_exemplars() -> list[str]:
    """Names of the bundled exemplars, sorted (e.g. ``['brick', 'grass', 'gravel', 'wood']``)."""
    return sorted(p.stem for p in _folder().glob("*.png"))


def exemplar_path(name: str) -> Path:
    """Path of the bundled exemplar ``name``; ``ValueError`` listing the choices if unknown."""
    path = _folder() / f"{name}.png"
    if not path.is_file():
        raise ValueError(f"no bundled exemplar {name!r}; choose one of {list_exemplars()}")
    return path


def load_exemplar(name: str, *, mode: str = "auto", size: int | None = None) -> np.ndarray:
    """Load a bundled exemplar as ``float32`` ``(H, W, C)`` in ``[0, 1]``.

    ``size`` optionally resizes (area-averaging) so that the longer side is ``size`` pixels:
    handy for tiny test and CPU runs.
    """
    image = load_image(exemplar_path(name), mode=mode)
    return image if size is None else resize_longer_side(image, size)


def resize_longer_side(image: np.ndarray, size: int) -> np.ndarray:
    """Box-resample ``(H, W, C)`` so that ``max(H, W) == size`` (aspect ratio kept)."""
    from PIL import Image

    h, w, c = image.shape
    scale = size / max(h, w)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    chans = [np.asarray(Image.fromarray(image[..., k]).resize(new, Image.Resampling.BOX))
             for k in range(c)]
    return np.stack(chans, axis=-1).astype(np.float32)
