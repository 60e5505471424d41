"""VGG-19 weights: the shapes every reader checks against, the errors and :class:`VGGWeights`.

Shared by every reader of :mod:`maxent_jax.nn.weights`: the 16 convolution names and their HWIO
kernel shapes, the native padding of each source, and :func:`_validated`, which checks a set of
arrays against VGG-19 (Simonyan & Zisserman, ICLR 2015) and builds the :class:`VGGWeights`.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import numpy as np

_BLOCKS = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))  # (channels, convs) per block
CONV_NAMES: tuple[str, ...] = tuple(
    f"conv{b}_{i}" for b, (_, n) in enumerate(_BLOCKS, 1) for i in range(1, n + 1)
)
"""The 16 convolutions of VGG-19, in network order."""

_SOURCES = {"vgg_normalised": "reflect", "torchvision": "zero", "keras": "zero"}


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
