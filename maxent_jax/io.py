"""Image input and output with pillow.

Images inside the library are ``float32`` arrays of shape ``(H, W, C)`` with values in
``[0, 1]`` and ``C = 1`` (grey) or ``C = 3`` (RGB). Loading accepts grey, grey + alpha,
RGB, RGBA (the alpha channel is dropped with a warning), palette and 16-bit files.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, BinaryIO, Callable, Union

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = [
    "ImageError",
    "load_image",
    "save_image",
    "save_figure",
    "to_uint8",
    "array_sha256",
    "write_atomic",
    "MIN_SIDE",
    "MAX_PIXELS",
]

PathLike = Union[str, os.PathLike]

MIN_SIDE = 8
"""Smallest accepted side length: VGG-19 pools four times and a texture needs some extent."""

MAX_PIXELS = 8192 * 8192
"""Largest accepted number of pixels (guards against decompression bombs and typos)."""


class ImageError(ValueError):
    """An image file or array that cannot be used, with the reason in the message."""


def _open(path: Path) -> Image.Image:
    if not path.exists():
        raise FileNotFoundError(f"image file not found: {path}")
    if path.is_dir():
        raise ImageError(f"{path} is a directory, not an image file")
    if path.stat().st_size == 0:
        raise ImageError(f"image file {path} is empty (0 bytes)")
    img = _guarded(path, lambda: Image.open(path))
    _check_size(img.height, img.width, f"image {path}")  # from the header, before decoding
    _guarded(path, img.load)
    return img


def _guarded(path: Path, action: Callable[[], Any]) -> Any:
    """Run a pillow call, turning its errors into one :class:`ImageError` naming the file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return action()
    except (UnidentifiedImageError, Image.DecompressionBombWarning,
            Image.DecompressionBombError) as err:
        raise ImageError(f"cannot read {path} as an image: {err}") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageError(f"cannot read {path} as an image (truncated or corrupt?): {err}") from None


def _check_size(height: int, width: int, where: str) -> None:
    if height * width > MAX_PIXELS:
        raise ImageError(f"{where} is {height}x{width} pixels, more than the limit of {MAX_PIXELS}")
    if min(height, width) < MIN_SIDE:
        raise ImageError(f"{where} is {height}x{width} pixels; each side must be at least {MIN_SIDE}")


def _to_float(img: Image.Image, path: Path) -> np.ndarray:
    """Pillow image -> float32 HWC in [0, 1], keeping 16-bit precision."""
    mode = img.mode
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        warnings.warn(f"{path}: alpha channel dropped", stacklevel=3)
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        return np.clip(arr / top, 0, 1).astype(np.float32)[..., None]
    if mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        if not np.isfinite(arr).all():
            raise ImageError(f"image {path} contains NaN or infinite values")
        return np.clip(arr, 0, 1)[..., None]
    if mode in ("1", "L", "LA") or (mode == "P" and _palette_is_grey(img)):
        return (np.asarray(img.convert("L"), dtype=np.float32) / 255.0)[..., None]
    return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0


def _palette_is_grey(img: Image.Image) -> bool:
    rgb = np.asarray(img.convert("RGB"))
    return bool(np.all(rgb[..., 0] == rgb[..., 1]) and np.all(rgb[..., 1] == rgb[..., 2]))


def load_image(path: PathLike, *, mode: str = "auto") -> np.ndarray:
    """Read an image file as a ``float32`` ``(H, W, C)`` array in ``[0, 1]``.

    Args:
      path: the file to read (any format pillow reads: PNG, JPEG, TIFF, ...).
      mode: ``"auto"`` keeps grey images grey (``C = 1``) and colour images RGB
        (``C = 3``); ``"grey"`` and ``"rgb"`` force one or the other.

    Raises:
      FileNotFoundError: the file does not exist.
      ImageError: the file is empty, unreadable, too small or absurdly large.
    """
    if mode not in ("auto", "grey", "rgb"):
        raise ValueError(f"mode must be 'auto', 'grey' or 'rgb', got {mode!r}")
    path = Path(path)
    img = _open(path)
    _check_size(img.height, img.width, f"image {path}")
    arr = _to_float(img, path)
    if mode == "grey" and arr.shape[-1] == 3:
        arr = (arr @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
    elif mode == "rgb" and arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    return np.ascontiguousarray(arr, dtype=np.float32)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Clip to ``[0, 1]`` and quantise to 8 bits, squeezing a single channel."""
    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] != 3):
        raise ImageError(f"expected an (H, W), (H, W, 1) or (H, W, 3) image, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ImageError("image contains NaN or infinite values")
    return np.round(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)


def write_atomic(path: PathLike, write: Callable[[BinaryIO], Any]) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, flush it to disk, then
    rename it to ``path``: a crash never leaves a half-written file, and an earlier file stays
    whole until then. The library's one atomic writer (images, arrays, models, checkpoints,
    converted weights)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_figure(fig: Any, path: PathLike) -> Path:
    """``fig.savefig`` as PNG (110 dpi), atomically (:func:`write_atomic`)."""
    return write_atomic(path, lambda f: fig.savefig(f, dpi=110, format="png"))


def save_image(path: PathLike, image: np.ndarray) -> Path:
    """Write an ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` array in ``[0, 1]`` as 8-bit PNG.

    Values are clipped to ``[0, 1]``; parent folders are created; the write is atomic.
    Returns the path.
    """
    pixels = Image.fromarray(to_uint8(np.asarray(image)))
    return write_atomic(path, lambda f: pixels.save(f, format="PNG"))


def array_sha256(array: np.ndarray) -> str:
    """SHA-256 of an array's float32 values and shape (identifies an input image)."""
    arr = np.ascontiguousarray(np.asarray(array, np.float32))
    digest = hashlib.sha256(repr(arr.shape).encode())
    digest.update(arr.tobytes())
    return digest.hexdigest()
