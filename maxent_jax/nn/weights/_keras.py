"""Keras ``vgg19`` HDF5 weights (notop or full model file), read with h5py when it is installed."""

from __future__ import annotations

import re
from typing import Any, BinaryIO

import numpy as np

from maxent_jax.nn.weights._base import CONV_NAMES, VGGWeights, WeightsError, _validated
from maxent_jax.nn.weights._layouts import _caffe_preprocess

_KERAS_KERNEL = re.compile(r"(?:^|_)(?:kernel|W)(?:_\d+)?(?::0)?$")
_KERAS_BIAS = re.compile(r"(?:^|_)(?:bias|b)(?:_\d+)?(?::0)?$")


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
