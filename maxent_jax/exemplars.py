"""Bundled exemplar textures (CC0 or public domain; ``maxent_jax/data/exemplars/PROVENANCE.md``).

Two sets: the tuning set (``list_exemplars()``: brick, grass, gravel, wood), on which settings
have been chosen, and a held-out set (``list_exemplars(held_out=True)``, file names starting with
``heldout_``) on which no setting may ever be tuned; it is only for reporting.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from maxent_jax.io import load_image

__all__ = ["HELD_OUT_PREFIX", "list_exemplars", "exemplar_path", "load_exemplar",
           "resize_longer_side"]


def _folder() -> Path:
    return Path(str(resources.files("maxent_jax.data").joinpath("exemplars")))


HELD_OUT_PREFIX = "heldout_"


def list_exemplars(*, held_out: bool = False) -> list[str]:
    """Names of the bundled exemplars, sorted.

    ``held_out=False`` (default): the tuning set, ``['brick', 'grass', 'gravel', 'wood']``.
    ``held_out=True``: the held-out set (names starting with ``heldout_``), never used to
    choose a setting.
    """
    names = sorted(p.stem for p in _folder().glob("*.png"))
    return [n for n in names if n.startswith(HELD_OUT_PREFIX) == held_out]


def exemplar_path(name: str) -> Path:
    """Path of the bundled exemplar ``name``; ``ValueError`` listing the choices if unknown."""
    path = _folder() / f"{name}.png"
    if not path.is_file():
        choices = list_exemplars() + list_exemplars(held_out=True)
        raise ValueError(f"no bundled exemplar {name!r}; choose one of {choices}")
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
