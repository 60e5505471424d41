"""The deterministic ``.npz`` cache of converted weights: write, read and verify.

``metadata.npy`` (JSON as uint8: format, version, source, padding, the source file's SHA-256 and a
SHA-256 over the arrays) then the arrays in a fixed order, stored uncompressed with fixed dates, so
converting the same weights twice gives identical bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from typing import Any, Mapping

import numpy as np

from maxent_jax.nn.weights._base import CONV_NAMES, _SOURCES, VGGWeights, WeightsError, _validated

CACHE_FORMAT_VERSION = 1
"""Version of the ``.npz`` layout written by :func:`convert_weights`."""

_CACHE_FORMAT = "maxent-jax-vgg19"
_CACHE_ARRAYS = ("preprocess_matrix", "preprocess_bias") + tuple(
    f"{name}.{part}" for name in CONV_NAMES for part in ("kernel", "bias")
)
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed zip entry date: converted files are byte-reproducible


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def _cache_arrays(weights: VGGWeights) -> dict[str, np.ndarray]:
    """The cached arrays, in the fixed order :data:`_CACHE_ARRAYS`."""
    arrays = {
        "preprocess_matrix": weights.preprocess_matrix,
        "preprocess_bias": weights.preprocess_bias,
    }
    for name in CONV_NAMES:
        for part in ("kernel", "bias"):
            arrays[f"{name}.{part}"] = weights.params[name][part]
    return {key: np.ascontiguousarray(arrays[key], dtype=np.float32) for key in _CACHE_ARRAYS}


def _payload_sha256(arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over name, dtype, shape and bytes of every cached array, in fixed order."""
    digest = hashlib.sha256()
    for key in _CACHE_ARRAYS:
        array = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}|{array.dtype.str}|{array.shape}\n".encode())
        digest.update(array.data)
    return digest.hexdigest()


def _cache_bytes(weights: VGGWeights, source_sha256: str) -> bytes:
    """A deterministic ``.npz``: ``metadata.npy`` (JSON as uint8) then the arrays, fixed dates."""
    arrays = _cache_arrays(weights)
    meta = {
        "format": _CACHE_FORMAT,
        "format_version": CACHE_FORMAT_VERSION,
        "source": weights.source,
        "native_padding": weights.native_padding,
        "source_sha256": source_sha256,
        "payload_sha256": _payload_sha256(arrays),
    }
    meta_bytes = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8)
    entries = {"metadata": meta_bytes, **arrays}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for key, array in entries.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            archive.writestr(info, _npy_bytes(array))
    return buffer.getvalue()


def _read_npy(archive: zipfile.ZipFile, key: str) -> np.ndarray:
    if f"{key}.npy" not in archive.namelist():
        raise WeightsError(f"cache entry '{key}.npy' missing")
    return np.lib.format.read_array(io.BytesIO(archive.read(f"{key}.npy")), allow_pickle=False)


def _cache_metadata(archive: zipfile.ZipFile) -> dict[str, Any]:
    meta = json.loads(_read_npy(archive, "metadata").tobytes().decode("utf-8"))
    if not isinstance(meta, dict) or meta.get("format") != _CACHE_FORMAT:
        raise WeightsError("not a maxent-jax weight cache (bad metadata)")
    if meta.get("format_version") != CACHE_FORMAT_VERSION:
        version = meta.get("format_version")
        raise WeightsError(f"cache format version {version!r:.20} is not {CACHE_FORMAT_VERSION}")
    source = meta.get("source")
    if source not in _SOURCES or _SOURCES[source] != meta.get("native_padding"):
        raise WeightsError("cache metadata has an unknown source or padding")
    return meta


def _read_cache_archive(archive: zipfile.ZipFile) -> tuple[VGGWeights, str]:
    """Read and verify a ``.npz`` written by :func:`convert_weights`; also its source SHA-256."""
    meta = _cache_metadata(archive)
    arrays = {key: _read_npy(archive, key) for key in _CACHE_ARRAYS}
    if _payload_sha256(arrays) != meta.get("payload_sha256"):
        raise WeightsError("payload checksum mismatch (corrupt cache file)")
    params = {n: {p: arrays[f"{n}.{p}"] for p in ("kernel", "bias")} for n in CONV_NAMES}
    matrix, bias = arrays["preprocess_matrix"], arrays["preprocess_bias"]
    weights = _validated(params, matrix, bias, meta["source"])
    return weights, str(meta.get("source_sha256"))
