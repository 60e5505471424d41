"""State-dict layouts: torchvision's ``vgg19`` and AdaIN's ``vgg_normalised``, and caffe input.

Each layout maps a state dict of OIHW tensors to a :class:`VGGWeights` with HWIO kernels and the
affine preprocessing of its source: ImageNet mean/std (torchvision), the leading 1x1 convolution of
the normalised VGG-19 (Gatys et al. 2015, as converted by Huang & Belongie 2017), or caffe's
mean-subtracted BGR in [0, 255] (Keras).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from maxent_jax.nn.weights._base import CONV_NAMES, VGGWeights, WeightsError, _validated

_NORMALISED_INDICES = (2, 5, 9, 12, 16, 19, 22, 25, 29, 32, 35, 38, 42, 45, 48, 51)
_TORCHVISION_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


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
