"""PyTorch checkpoints, legacy (pre-zip) and zip serialisations, read with numpy only.

PyTorch files are pickles, and unpickling runs arbitrary code unless restricted: they are read with
an allow-list unpickler that only builds ordered dicts and lazy tensor references; the tensors
are then copied out of the raw storages with numpy. torch is never imported.
"""

from __future__ import annotations

import dataclasses
import io
import os
import pickle
import struct
import zipfile
from collections import OrderedDict
from typing import Any, BinaryIO, Callable, Iterator, Mapping

import numpy as np

from maxent_jax.nn.weights._base import VGGWeights, WeightsError
from maxent_jax.nn.weights._layouts import _from_state_dict

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
_STORAGE_DTYPES = {
    "FloatStorage": "f4", "DoubleStorage": "f8", "HalfStorage": "f2", "LongStorage": "i8",
    "IntStorage": "i4", "ShortStorage": "i2", "CharStorage": "i1", "ByteStorage": "u1",
    "BoolStorage": "b1",
}


# --------------------------------------------------------------------------- restricted unpickling


@dataclasses.dataclass(frozen=True, slots=True)
class _StorageType:
    """Stand-in for ``torch.FloatStorage`` and friends: only records the element type."""

    dtype: str


@dataclasses.dataclass(frozen=True, slots=True)
class _StorageRef:
    """A storage named by a pickle persistent id; ``view`` is (offset, numel) of a legacy view."""

    key: str
    dtype: str
    numel: int
    view: tuple[int, int] | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class _TensorRef:
    """A strided tensor in a storage, as rebuilt by ``torch._utils._rebuild_tensor_v2``."""

    storage: _StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _is_index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _index_tuple(value: Any, what: str) -> tuple[int, ...]:
    if not (isinstance(value, tuple) and len(value) <= 8 and all(map(_is_index, value))):
        raise WeightsError(f"invalid tensor {what} {value!r:.80}")
    return value


def _rebuild_tensor(storage: Any, offset: Any, shape: Any, stride: Any, *_: Any) -> _TensorRef:
    """Replacement for ``torch._utils._rebuild_tensor(_v2)``: a validated lazy reference."""
    if not isinstance(storage, _StorageRef) or not _is_index(offset):
        raise WeightsError("invalid tensor record (storage or offset)")
    shape, stride = _index_tuple(shape, "shape"), _index_tuple(stride, "stride")
    if len(shape) != len(stride):
        raise WeightsError(f"tensor shape {shape} and stride {stride} differ in length")
    return _TensorRef(storage, offset, shape, stride)


def _rebuild_parameter(data: Any, *_: Any) -> Any:
    """Replacement for ``torch._utils._rebuild_parameter``: a parameter is its tensor."""
    if not isinstance(data, _TensorRef):
        raise WeightsError("invalid parameter record")
    return data


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(code) for name, code in _STORAGE_DTYPES.items()},
}


def _storage_ref(pid: Any) -> _StorageRef:
    """Parse ``('storage', type, key, location, numel[, view_metadata])``."""
    if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
        raise WeightsError(f"unsupported persistent id {pid!r:.80}")
    stype, key, numel = pid[1], pid[2], pid[4]
    if not (isinstance(stype, _StorageType) and isinstance(key, str) and _is_index(numel)):
        raise WeightsError(f"invalid storage record {pid!r:.80}")
    view = pid[5] if len(pid) == 6 else None
    if view is not None:
        if not (isinstance(view, tuple) and len(view) == 3 and all(map(_is_index, view[1:]))):
            raise WeightsError(f"invalid storage view {view!r:.80}")
        view = (view[1], view[2])
    return _StorageRef(key, stype.dtype, numel, view)


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only :data:`_ALLOWED_GLOBALS` and records the storages it meets."""

    def __init__(self, file: BinaryIO, storages: dict[str, _StorageRef]) -> None:
        super().__init__(file, encoding="utf-8")  # as torch.load does for Python 2 strings
        self._storages = storages

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise WeightsError(
                f"refusing to unpickle '{module}.{name}': not in the allow-list of a plain "
                "tensor state dict (the file may be malicious)"
            ) from None

    def persistent_load(self, pid: Any) -> _StorageRef:
        ref = _storage_ref(pid)
        self._storages.setdefault(ref.key, ref)
        return ref


def _unpickle(file: BinaryIO, storages: dict[str, _StorageRef] | None = None) -> Any:
    """One pickle from ``file`` through the restricted unpickler; failures become WeightsError."""
    try:
        return _RestrictedUnpickler(file, {} if storages is None else storages).load()
    except WeightsError:
        raise
    except Exception as err:  # the pickle machine on untrusted bytes can raise anything
        detail = f"{type(err).__name__}: {err}"
        raise WeightsError(f"corrupt or truncated pickle data ({detail})") from err


# --------------------------------------------------------------------------- tensors from storages


def _apply_view(array: np.ndarray, ref: _StorageRef) -> np.ndarray:
    if ref.view is None:
        return array
    start, size = ref.view
    if start + size > array.size:
        raise WeightsError(f"storage view of '{ref.key}' out of bounds")
    return array[start : start + size]


def _materialise(ref: _TensorRef, fetch: Callable[[_StorageRef], np.ndarray]) -> np.ndarray:
    """Copy the strided tensor ``ref`` out of its storage (bounds checked, no overlap allowed)."""
    base = fetch(ref.storage)
    count = int(np.prod(ref.shape, dtype=np.int64))
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.stride))
    if (count and last >= base.size) or ref.offset > base.size or count > base.size:
        raise WeightsError(
            f"tensor (offset {ref.offset}, shape {ref.shape}, stride {ref.stride}) does not fit "
            f"in its storage '{ref.storage.key}' of {base.size} elements"
        )
    strides = tuple(s * base.itemsize for s in ref.stride)
    view = np.lib.stride_tricks.as_strided(base[ref.offset :], ref.shape, strides, writeable=False)
    return np.array(view)


class _LazyStateDict(Mapping[str, np.ndarray]):
    """A state dict whose tensors are read from their storages only when looked up."""

    def __init__(self, refs: dict[str, _TensorRef], fetch: Callable[[_StorageRef], np.ndarray]):
        self._refs, self._fetch = refs, fetch

    def __getitem__(self, key: str) -> np.ndarray:
        return _materialise(self._refs[key], self._fetch)

    def __iter__(self) -> Iterator[str]:
        return iter(self._refs)

    def __len__(self) -> int:
        return len(self._refs)


def _tensor_refs(obj: Any) -> dict[str, _TensorRef]:
    if not isinstance(obj, Mapping):
        raise WeightsError(f"the pickled object is a {type(obj).__name__}, not a state dict")
    return {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, _TensorRef)}


def _storage_array(raw: bytes, ref: _StorageRef, count: int, byteorder: str) -> np.ndarray:
    dtype = np.dtype(ref.dtype).newbyteorder(byteorder)
    if len(raw) < count * dtype.itemsize:
        need = count * dtype.itemsize
        raise WeightsError(f"truncated storage '{ref.key}' ({len(raw)} bytes, need {need})")
    return _apply_view(np.frombuffer(raw, dtype, count=count), ref)


# --------------------------------------------------------------------------- legacy torch format


def _check_legacy_header(file: BinaryIO) -> str:
    """Magic number, protocol version and system info; returns the byte order ('<' or '>')."""
    if _unpickle(file) != _LEGACY_MAGIC:
        raise WeightsError("a pickle but not a PyTorch checkpoint (bad magic number)")
    protocol = _unpickle(file)
    if protocol != _LEGACY_PROTOCOL:
        raise WeightsError(f"unsupported legacy PyTorch protocol version {protocol!r:.40}")
    info = _unpickle(file)
    if not isinstance(info, dict) or not isinstance(info.get("little_endian"), bool):
        raise WeightsError("invalid system-info record in legacy PyTorch file")
    return "<" if info["little_endian"] else ">"


def _skip_storage(
    file: BinaryIO, key: str, ref: _StorageRef | None, end: int, byteorder: str
) -> tuple[int, int]:
    """Step over one storage record (int64 element count, raw bytes); returns (offset, count)."""
    if ref is None:
        raise WeightsError(f"storage '{key}' is not used by any tensor")
    head = file.read(8)
    if len(head) < 8:
        raise WeightsError(f"truncated before storage '{key}'")
    (count,) = struct.unpack(byteorder + "q", head)
    start = file.tell()
    stop = start + count * np.dtype(ref.dtype).itemsize
    if count < 0 or stop > end:
        raise WeightsError(f"truncated in storage '{key}' ({count} elements announced)")
    file.seek(stop)
    return start, count


def _legacy_index(
    file: BinaryIO, keys: Any, storages: dict[str, _StorageRef], byteorder: str
) -> dict[str, tuple[int, int]]:
    """Locate every storage record that follows the key list: key -> (offset, count)."""
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise WeightsError("invalid storage key list in legacy PyTorch file")
    start = file.tell()
    end = file.seek(0, os.SEEK_END)
    file.seek(start)
    return {key: _skip_storage(file, key, storages.get(key), end, byteorder) for key in keys}


def _read_legacy(file: BinaryIO) -> VGGWeights:
    """Legacy serialisation: header pickles, the state dict, the key list, then raw storages."""
    byteorder = _check_legacy_header(file)
    storages: dict[str, _StorageRef] = {}
    refs = _tensor_refs(_unpickle(file, storages))
    index = _legacy_index(file, _unpickle(file), storages, byteorder)

    def fetch(ref: _StorageRef) -> np.ndarray:
        if ref.key not in index:
            raise WeightsError(f"storage '{ref.key}' missing from the file")
        offset, count = index[ref.key]
        file.seek(offset)
        raw = file.read(count * np.dtype(ref.dtype).itemsize)
        return _storage_array(raw, ref, count, byteorder)

    return _from_state_dict(_LazyStateDict(refs, fetch))


# --------------------------------------------------------------------------- zip format


def _zip_byteorder(archive: zipfile.ZipFile, prefix: str) -> str:
    if f"{prefix}byteorder" not in archive.namelist():
        return "<"
    order = archive.read(f"{prefix}byteorder").decode("ascii", "replace").strip()
    if order not in ("little", "big"):
        raise WeightsError(f"unknown byte order {order!r:.20}")
    return "<" if order == "little" else ">"


def _read_torch_zip(archive: zipfile.ZipFile, prefix: str) -> VGGWeights:
    """Zip serialisation: ``<prefix>data.pkl``, one raw ``<prefix>data/<key>`` per storage."""
    byteorder = _zip_byteorder(archive, prefix)
    refs = _tensor_refs(_unpickle(io.BytesIO(archive.read(f"{prefix}data.pkl"))))

    def fetch(ref: _StorageRef) -> np.ndarray:
        try:
            raw = archive.read(f"{prefix}data/{ref.key}")
        except KeyError:
            raise WeightsError(f"storage '{ref.key}' missing from the archive") from None
        return _storage_array(raw, ref, ref.numel, byteorder)

    return _from_state_dict(_LazyStateDict(refs, fetch))
