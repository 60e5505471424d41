"""The study's exemplars and the real textures of their floors.

The exemplar each method gets is a crop of the bundled full-resolution image at the study
size (crop 0 of :func:`maxent_jax.metrics.real_crops`) whenever the image holds two such crops;
:func:`maxent_jax.metrics.floor` then scores the other crops (a perfect method) and as many
exact ADSN samples. An image at most :data:`MAX_UPSAMPLING` times too small (``wood``, 120 px,
at 64 px) is first resampled so that it holds 2 x 2 crops; otherwise (the 256 px study) the
exemplar is the whole image at the study size and the floors come from crops of half the
image's shorter side (another scale: the tables say so).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from maxent_jax import metrics
from maxent_jax.exemplars import exemplar_path, list_exemplars, resize_longer_side
from maxent_jax.io import load_image

__all__ = ["Exemplar", "MAX_UPSAMPLING", "TINY_EXEMPLARS", "default_exemplars", "exemplar_set",
           "load_exemplars", "prepare_exemplar", "prepare_exemplars"]

MAX_UPSAMPLING = 1.25
TINY_EXEMPLARS = {"tuning": ["gravel"], "held-out": ["heldout_speckle"]}  # grey: one compile


class Exemplar(NamedTuple):
    """What every method gets (``image``) and the larger real texture whose disjoint ``crop``
    px crops give the floors (crop 0 is ``image`` unless ``same_scale`` is False)."""

    name: str
    set: str
    image: np.ndarray
    texture: np.ndarray
    crop: int
    same_scale: bool
    note: str


def exemplar_set(name: str) -> str:
    """``"tuning"``, ``"held-out"`` (bundled) or ``"other"`` (an image path)."""
    if name in list_exemplars(held_out=True):
        return "held-out"
    return "tuning" if name in list_exemplars() else "other"


def prepare_exemplar(name: str, size: int) -> Exemplar:
    """The study's exemplar at ``size`` px and the texture of its floors (the module's
    docstring)."""
    path = Path(name)
    bundled = not path.is_file()
    full = load_image(exemplar_path(name) if bundled else path)
    stem = name if bundled else path.stem
    group = exemplar_set(name) if bundled else "other"
    h, w = full.shape[:2]
    if (h // size) * (w // size) >= 2:
        n = (h // size) * (w // size)
        return Exemplar(stem, group, metrics.real_crops(full, size, 1)[0], full, size, True,
                        f"crop 0 of the {h}x{w} image (native resolution); floors from its "
                        f"other {size} px crops ({n - 1} available)")
    scale = 2 * size / min(h, w)
    if scale <= MAX_UPSAMPLING:
        big = resize_longer_side(full, math.ceil(max(h, w) * scale - 1e-9))
        if min(big.shape[:2]) >= 2 * size:
            return Exemplar(stem, group, metrics.real_crops(big, size, 1)[0], big, size, True,
                            f"crop 0 of the {h}x{w} image resampled by {scale:.3f} to "
                            f"{big.shape[0]}x{big.shape[1]}; floors from its other {size} px "
                            "crops")
    crop = min(h, w) // 2
    return Exemplar(stem, group, resize_longer_side(full, size), full, crop, False,
                    f"the whole {h}x{w} image at {size} px; floors from {crop} px crops of it "
                    f"at native resolution (another size and scale: indicative only)")


def prepare_exemplars(names: Sequence[str], size: int) -> dict[str, Exemplar]:
    """``{name: Exemplar}`` of :func:`prepare_exemplar` for bundled names or image paths."""
    out = {}
    for name in names:
        ex = prepare_exemplar(name, size)
        out[ex.name] = ex
    return out


def load_exemplars(names: Sequence[str], size: int) -> dict[str, np.ndarray]:
    """Bundled names or image paths (default: the tuning set) -> ``{name: (H, W, C)}``, the
    exemplar every method gets (:func:`prepare_exemplar`)."""
    return {k: e.image for k, e in prepare_exemplars(names or list_exemplars(), size).items()}


def default_exemplars(which: str, tiny: bool) -> list[str]:
    """The bundled exemplars of ``--set`` (one per set for ``--tiny``)."""
    sets = ("tuning", "held-out") if which == "both" else (which,)
    if tiny:
        return [n for s in sets for n in TINY_EXEMPLARS[s]]
    return [n for s in sets for n in list_exemplars(held_out=s == "held-out")]
