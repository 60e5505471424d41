"""``maxent-jax sample MODEL --out-dir DIR``: draw samples of a learned model at fixed theta.

MODEL is a ``model.npz`` written by ``maxent-jax synthesize``. The energy is extensive, so any
``--size`` works; the chains start from ADSN samples of the model's exemplar (or from
``--starts FILE.npy``, e.g. the learning run's own ``samples.npy``: its chains continued at
the fixed learned theta) and run ``--steps`` ULA or MALA steps (``--precondition spectrum``: preconditioned by the power
spectrum of the exemplar's ADSN model). Writes ``sample_000.png`` ..., ``samples.npy`` (float32,
``(N, H, W, 3)``, [0, 1] units, unclipped) and ``diagnostics.json`` (relative feature gap of
the samples' average over the last half of the steps, per layer too, Stein's ratio over
the same steps, 1 when the chains are at equilibrium, and the MALA acceptance rate with
``--sampler mala``) and ``trace.npz`` (per step: energy, feature gap, the running gap of the
last half so far, Stein's ratio, acceptance; :class:`maxent_jax.tasks.sample.SampleResult`).
See :mod:`maxent_jax.tasks.sample`.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np

from maxent_jax.run.settings import FLOAT32_MAX
from maxent_jax.cli._common import (add_output_arguments, add_settings_arguments,
                                    add_weights_argument, argument_group, check_out_dir,
                                    check_seed, clear_out_dir, prepare, report_written,
                                    save_json, write_run)

__all__ = ["add_parser", "load_starts", "read_starts_header", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``sample`` sub-command."""
    from maxent_jax.run.settings import SOULConfig

    p = sub.add_parser(
        "sample", help="draw samples of a learned model (model.npz) at fixed theta",
        description="Sample Pi_theta of a model learned by 'maxent-jax synthesize' at any size, "
                    "without relearning theta: parallel ULA or MALA chains from ADSN starts.")
    p.add_argument("model", type=Path, metavar="MODEL")
    p.add_argument("--out-dir", type=Path, required=True, metavar="DIR")
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), default=None,
                   help="sample size (default: the model's exemplar size)")
    p.add_argument("--num", type=int, default=None,
                   help="number of samples (chains; default 4, or as many as --starts holds)")
    p.add_argument("--starts", type=Path, default=None, metavar="FILE.npy",
                   help="start the chains from a .npy array (N, H, W, 3) of floats, e.g. the "
                        "learning run's samples.npy (not an .npz; default: ADSN draws of "
                        "the exemplar)")
    sampler = argument_group(p, "sampler")
    sampler.add_argument("--steps", type=int, default=200, help="Langevin steps (default: 200)")
    # the settings shared with synthesize, declared once in maxent_jax/run/settings.py
    add_settings_arguments(p, SOULConfig, ("network", "sampler", "run"),
                           only=("precision", "conv", "remat", "sampler", "gamma",
                                 "precondition", "mala_energy", "seed"),
                           defaults={"gamma": (None, "the learning run's"),
                                     "precondition": (None, "the learning run's")})
    folder = argument_group(p, "folder")
    folder.add_argument("--devices", type=int, default=None,
                        help="split the chains over this many devices (default 1)")
    folder.add_argument("--max-memory", type=float, default=None, metavar="GIB",
                        help="refuse to start if the estimated memory per device exceeds this")
    add_output_arguments(p, resume=False)
    folder.add_argument("--distributed", action="store_true",
                        help="multi-host: call jax.distributed.initialize() first")
    add_weights_argument(p)
    folder.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def read_starts_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of the ``.npy`` file ``path``, read from its header alone.

    Nothing is allocated before the header is checked: the file must be a ``.npy`` of format
    1.0 or 2.0 (not an ``.npz`` or anything else) holding floats in C order, of four
    dimensions ``(N, H, W, 3)`` (``C = 1`` for grey), with as many data bytes as its header
    claims (a header may claim terabytes in a file of a few bytes)."""
    want = "a .npy array of floats of shape (N, H, W, 3) (e.g. a run's samples.npy)"
    try:
        with open(path, "rb") as f:
            head = f.read(6)
            if head[:4] == b"PK\x03\x04":
                raise ValueError(f"--starts {path}: this is an .npz archive; expected {want}")
            if head != b"\x93NUMPY":
                raise ValueError(f"--starts {path}: not a readable .npy file; expected {want}")
            f.seek(0)
            version = np.lib.format.read_magic(f)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"--starts {path}: .npy format {version[0]}.{version[1]} "
                                 f"is not read here; expected {want}")
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                    else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read(f, max_header_size=10000)
            offset = f.tell()
        size = path.stat().st_size
    except ValueError:
        raise
    except (OSError, EOFError, SyntaxError, TypeError) as err:
        raise ValueError(f"--starts {path}: not a readable .npy header ({err}); expected "
                         f"{want}") from None
    if (dtype.kind != "f" or dtype.hasobject or fortran or len(shape) != 4
            or shape[-1] not in (1, 3)):
        order = "Fortran-ordered " if fortran else ""
        raise ValueError(f"--starts {path}: holds {dtype} {order}of shape {tuple(shape)}; "
                         f"expected {want}")
    claimed = math.prod(shape) * dtype.itemsize
    if claimed != size - offset:
        raise ValueError(f"--starts {path}: its header claims shape {tuple(shape)} "
                         f"({claimed} bytes of {dtype}) but the file holds {size - offset} "
                         f"bytes of data; expected {want}")
    return tuple(int(n) for n in shape), dtype


def load_starts(path: Path, expected: Optional[tuple[int, ...]] = None) -> np.ndarray:
    """A float32 ``(N, H, W, C)`` array of finite values from a ``.npy`` file (no pickles).

    The header is checked first (:func:`read_starts_header`), then against ``expected``
    (``None`` entries match any length), and only then are the data read."""
    shape, _ = read_starts_header(path)
    if expected is not None and any(e is not None and e != n for e, n in zip(expected, shape)):
        want = "x".join(str(e) if e is not None else "NHWC"[i]
                        for i, e in enumerate(expected))
        raise ValueError(f"--starts {path}: shape {shape}, but chains of {want} are to be run")
    try:
        starts = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise ValueError(f"--starts {path}: not a readable .npy array ({err})") from None
    if not np.isfinite(starts).all():
        raise ValueError(f"--starts {path}: holds NaN or infinite values; expected "
                         "finite floats")
    return starts.astype(np.float32)


def run(args: argparse.Namespace) -> int:
    """Load, check, sample and write; nothing is written before every check has passed."""
    from maxent_jax.model import check_weights, load_model
    from maxent_jax.nn.backbone import check_image_size
    from maxent_jax.tasks.sample import sample_model

    check_out_dir(args)
    check_seed(args.seed)
    start_shape = None if args.starts is None else read_starts_header(args.starts)[0]
    if args.num is None:
        args.num = 4 if start_shape is None else start_shape[0]
    if args.num < 1 or args.steps < 1:
        raise ValueError("--num and --steps must be >= 1")
    if args.gamma is not None and not (math.isfinite(args.gamma)
                                       and 0 < args.gamma < FLOAT32_MAX):
        raise ValueError(f"--gamma must be a finite number > 0 (and below float32's "
                         f"{FLOAT32_MAX:.3g}), got {args.gamma}")
    model = load_model(args.model)
    size = tuple(args.size) if args.size else tuple(model.exemplar.shape[:2])
    starts = None
    if args.starts is not None:
        starts = load_starts(args.starts, (args.num,) + size + (None,))
        channels = model.exemplar.shape[-1]
        if channels == 1:  # grey model: samples.npy repeats the grey channel
            starts = starts[..., :1]
        elif starts.shape[-1] != channels:
            raise ValueError(f"--starts {args.starts}: {starts.shape[-1]} channel, but the "
                             f"model is in colour (3 channels)")
    spec = model.spec._replace(precision=args.precision, conv=args.conv, remat=args.remat)
    check_image_size(size, spec, "--size")
    context = prepare(args, spec, size, args.num, model.exemplar.shape[-1])
    check_weights(model, context.backbone.weights_sha256,
                  f"the weights loaded ({args.weights or 'default'})")
    start = time.perf_counter()
    result = sample_model(model, context.backbone, size=size, num=args.num, steps=args.steps,
                          sampler=args.sampler, gamma=args.gamma, seed=args.seed,
                          devices=args.devices, progress=not args.no_progress,
                          precondition=args.precondition, starts=starts,
                          mala_energy=args.mala_energy)
    seconds = time.perf_counter() - start
    if not np.isfinite(result.samples).all():
        raise RuntimeError(f"the chains diverged (NaN or infinite values); try a smaller "
                           f"--gamma (now {result.diagnostics['gamma']:g})")
    if not context.writes:
        return 0
    clear_out_dir(args)  # only now: a run that fails leaves an earlier run's folder as it was
    paths = write_run(args.out_dir, {"sample": result.samples}, samples=result.samples,
                      trace=result.trace)
    diagnostics = {**result.diagnostics, "model": str(args.model), "seconds": seconds}
    paths.append(save_json(args.out_dir / "diagnostics.json", diagnostics))
    extra = (f", MALA acceptance {diagnostics['mala_acceptance_rate']:.3f}"
             if "mala_acceptance_rate" in diagnostics else "")
    print(f"{args.num} samples of {size[0]}x{size[1]} after {args.steps} steps: relative "
          f"feature gap {diagnostics['relative_gap']:.3f}, Stein's ratio "
          f"{diagnostics['stein_ratio']:.3g} (1 at equilibrium){extra} ({seconds:.1f} s)")
    for line in diagnostics["warnings"]:
        print(f"warning: {line}", file=sys.stderr)
    report_written(args.out_dir, paths)
    return 0
