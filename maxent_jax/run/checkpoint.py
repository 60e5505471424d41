"""Checkpoints of chain-running tasks: the state, the trace so far and the run's identity.

A checkpoint is one ``.npz`` (no pickle) holding every leaf of the state pytree
(``state_0`` ...), every field of the trace (``trace_<field>``) and a JSON ``identity``: the
format version, the settings and whatever the task adds (its inputs' hashes, the weights'
digest). ``--resume`` continues only a run of the same identity: a mismatch is refused with
the list of differences, and a damaged or foreign file with a message naming it.
Writes are atomic (a temporary file in the same folder, then a rename), so a crash never
leaves a half-written checkpoint.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["CHECKPOINT", "FORMAT", "CheckpointError", "to_host", "stack_infos", "arrays_digest",
           "save_checkpoint", "load_checkpoint"]

CHECKPOINT = "checkpoint.npz"
FORMAT = 2
"""Version of the checkpoint layout (1: before the model-centred core)."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or that belongs to another run."""


def to_host(x: Any) -> np.ndarray:
    """A (possibly sharded, possibly multi-host) array as one numpy array on this host."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        from jax.experimental import multihost_utils
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


def stack_infos(infos: Sequence[NamedTuple]) -> dict[str, np.ndarray]:
    """Concatenate a list of stacked infos (one per chunk) field by field."""
    if not infos:
        return {}
    return {k: np.concatenate([np.asarray(getattr(i, k)) for i in infos])
            for k in infos[0]._fields}


def save_checkpoint(path: Path, state: Any, infos: Sequence[NamedTuple],
                    identity: Mapping[str, Any]) -> None:
    """Write the state, the trace and the identity to ``path`` (on process 0 only)."""
    leaves = [to_host(x) for x in jax.tree_util.tree_leaves(state)]
    if jax.process_index() != 0:
        return
    arrays = {f"state_{i}": x for i, x in enumerate(leaves)}
    arrays.update({f"trace_{k}": v for k, v in stack_infos(infos).items()})
    record = {"format": FORMAT, **identity}
    arrays["identity"] = np.array(json.dumps(record, sort_keys=True))
    arrays["digest"] = np.array(arrays_digest(arrays))
    from maxent_jax.io import write_atomic

    write_atomic(path, lambda f: np.savez(f, **arrays))


def arrays_digest(arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over the names, dtypes, shapes and bytes of ``arrays`` (sorted by name).

    Stored beside the arrays and checked on reading: numpy reads an ``.npz`` member without
    reaching the end of its stream, where zipfile would check the CRC, so a flipped byte in
    the data would otherwise go unnoticed."""
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


_READ_ERRORS = (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile,
                zlib.error, json.JSONDecodeError)


def _differences(saved: Mapping[str, Any], ours: Mapping[str, Any],
                 ignore: Sequence[str], prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(saved) | set(ours)):
        name = prefix + key
        if name in ignore:
            continue
        a, b = saved.get(key), ours.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, ignore, name + ".")
        elif a != b:
            out.append(f"{name}: {a!r} in the checkpoint, {b!r} now")
    return out


def load_checkpoint(path: Path, template: Any, info_type: type,
                    identity: Mapping[str, Any], ignore: Sequence[str] = ("config.iterations",)
                    ) -> tuple[Any, list[NamedTuple], dict[str, Any]]:
    """Read a checkpoint of this run: ``(state, [trace], saved identity)``.

    ``template`` gives the state's structure, shapes and dtypes; ``identity`` must equal the
    saved one except for the keys in ``ignore`` (dotted paths). Raises
    :class:`CheckpointError` naming the file and the problem.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in data.files if k != "digest"}
            if str(data["digest"]) != arrays_digest(arrays):
                raise ValueError("its arrays do not match their SHA-256 (damaged file)")
            saved = json.loads(str(arrays.pop("identity")))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no checkpoint to resume from") from None
    except _READ_ERRORS as err:
        raise CheckpointError(f"{path}: damaged or not a maxent-jax checkpoint "
                              f"({type(err).__name__}: {err})") from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise CheckpointError(f"{path}: written by another version of maxent-jax "
                              f"(format {saved.get('format') if isinstance(saved, dict) else '?'}"
                              f", this version reads format {FORMAT}); start a new run")
    ours = json.loads(json.dumps({"format": FORMAT, **identity}, sort_keys=True))
    diff = _differences(saved, ours, ignore)
    if diff:
        steps_only = all(d.startswith(("config.gamma:", "config.delta:")) for d in diff)
        hint = ("; pass --allow-step-change to continue it with new step sizes"
                if steps_only else "")
        raise CheckpointError(f"{path} belongs to another run: " + "; ".join(diff) + hint)
    leaves, treedef = jax.tree_util.tree_flatten(template)
    try:
        new = [jnp.asarray(arrays[f"state_{i}"], dtype=x.dtype) for i, x in enumerate(leaves)]
        has_trace = any(k.startswith("trace_") for k in arrays)  # none: saved before step 1
        trace = {k: arrays[f"trace_{k}"] if has_trace else np.zeros(0)
                 for k in info_type._fields}
    except KeyError as err:
        raise CheckpointError(f"{path}: incomplete checkpoint (no {err})") from None
    if any(a.shape != b.shape for a, b in zip(new, leaves)):
        raise CheckpointError(f"{path}: its arrays do not have this run's shapes")
    lengths = {len(v) for v in trace.values()}
    if len(lengths) != 1:
        raise CheckpointError(f"{path}: its trace fields have different lengths")
    infos = [info_type(**trace)] if lengths != {0} else []
    return jax.tree_util.tree_unflatten(treedef, new), infos, saved


def saved_identity(path: Optional[Path]) -> Optional[dict[str, Any]]:
    """The identity a checkpoint was written with, unchecked (None if it cannot be read):
    enough to choose which part of a run to resume; :func:`load_checkpoint` then checks."""
    try:
        with np.load(Path(path), allow_pickle=False) as data:
            saved = json.loads(str(data["identity"]))
        return saved if isinstance(saved, dict) else None
    except Exception:  # any damage: load_checkpoint names it
        return None


def checkpoint_path(out_dir: Optional[Path]) -> Optional[Path]:
    """``out_dir/checkpoint.npz`` (None without a folder)."""
    return None if out_dir is None else Path(out_dir) / CHECKPOINT
