"""The learned macrocanonical model Pi_theta as a value and a file.

    Pi_theta(dx) ∝ exp(-U_theta(x)) dx,
    U_theta(x) = beta |Omega| <theta, F(x) - F(x0)> + (eps / 2) ||x - c||^2

(De Bortoli, Desolneux, Durmus, Galerne & Leclaire, SIMODS 2021). A :class:`MaxEntModel` holds
everything needed to sample it again, at any size (the energy is extensive: one theta for
every |Omega|), without relearning:

* the feature spec (layers, activation, pooling, padding, colour statistics) and the SHA-256
  of the network's weights (:func:`maxent_jax.nn.backbone.weights_digest`): a model is
  refused with other weights;
* theta: the Polyak-Ruppert average of theta_n over the last half of the SOUL run (the
  estimator of theta* that SOUL's averaging theory analyses; De Bortoli, Durmus, Pereyra &
  Fernandez Vidal 2021), and ``theta_last``, the last iterate;
* ``target`` = F(x0), the reference measure (eps, centre c), beta and the extensive scaling;
* the exemplar (for ADSN starting images) and the settings of the run that learned it.

:func:`save_model` writes one ``.npz`` of plain arrays plus a JSON header, never a pickle;
:func:`load_model` checks the header, the shapes and the values, and raises
:class:`ModelError` naming the file for a truncated, foreign or inconsistent one.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path
from typing import Any, NamedTuple, Union

import numpy as np

from maxent_jax.nn import features as feats
from maxent_jax.io import write_atomic
from maxent_jax.run.checkpoint import arrays_digest
from maxent_jax.sampling.energy import EnergyFn, macrocanonical_energy

__all__ = ["MODEL_FORMAT", "MaxEntModel", "ModelError", "polyak_average", "model_energy",
           "save_model", "load_model", "check_weights"]

MODEL_FORMAT = "maxent-jax-model/1"
_ARRAYS = ("theta", "theta_last", "target", "centre", "exemplar")


class ModelError(ValueError):
    """A model file that cannot be used (damaged, foreign, inconsistent or mismatched)."""


class MaxEntModel(NamedTuple):
    """A learned macrocanonical model (see the module docstring)."""

    spec: feats.FeatureSpec
    weights_sha256: str
    theta: np.ndarray
    theta_last: np.ndarray
    target: np.ndarray
    beta: float
    extensive: bool
    eps: float
    centre: np.ndarray
    exemplar: np.ndarray
    settings: dict


def polyak_average(thetas: np.ndarray, fraction: float = 0.5) -> np.ndarray:
    """Mean of theta_n over the last ``fraction`` of the iterates ``thetas`` ``(N, p)``."""
    thetas = np.asarray(thetas)
    start = int(len(thetas) * (1.0 - fraction))
    return thetas[min(start, len(thetas) - 1):].mean(axis=0)


def model_energy(model: MaxEntModel, features_fn: Any) -> EnergyFn:
    """``(theta, x) -> (U_theta(x), F(x) - F(x0))`` of the model, F = ``features_fn``."""
    return macrocanonical_energy(features_fn, model.target, beta=model.beta, eps=model.eps,
                                 centre=model.centre, extensive=model.extensive)


def _header(model: MaxEntModel) -> dict[str, Any]:
    return {"format": MODEL_FORMAT, "spec": model.spec._asdict(),
            "weights_sha256": model.weights_sha256, "beta": float(model.beta),
            "extensive": bool(model.extensive), "eps": float(model.eps),
            "settings": model.settings}


def save_model(path: Union[str, Path], model: MaxEntModel) -> Path:
    """Write ``model`` to ``path`` (``.npz``: float32 arrays and a JSON header), atomically."""
    arrays = {k: np.asarray(getattr(model, k), np.float32) for k in _ARRAYS}
    arrays["header"] = np.array(json.dumps(_header(model), sort_keys=True))
    arrays["digest"] = np.array(arrays_digest(arrays))
    return write_atomic(Path(path), lambda f: np.savez(f, **arrays))


def _read(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in (*_ARRAYS, "header")}
            if str(data["digest"]) != arrays_digest(arrays):
                raise ValueError("its arrays do not match their SHA-256 (damaged or edited file)")
            header = json.loads(str(arrays.pop("header")))
    except FileNotFoundError:
        raise ModelError(f"{path}: no such model file") from None
    except IsADirectoryError:
        raise ModelError(f"{path}: is a folder, not a model file") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error,
            json.JSONDecodeError) as err:
        raise ModelError(f"{path}: damaged or not a maxent-jax model file "
                         f"({type(err).__name__}: {err})") from None
    if not isinstance(header, dict) or header.get("format") != MODEL_FORMAT:
        raise ModelError(f"{path}: not a maxent-jax model file of format {MODEL_FORMAT}")
    return header, arrays


def _spec(path: Path, data: Any) -> feats.FeatureSpec:
    try:
        spec = feats.FeatureSpec(**{**data, "layers": tuple(data["layers"])})
        return feats.get_spec(None, **spec._asdict())
    except (TypeError, KeyError, ValueError) as err:
        raise ModelError(f"{path}: unknown feature spec ({err})") from None


def _check(path: Path, model: MaxEntModel) -> None:
    p = feats.feature_dim(model.spec)
    problems = [name for name in ("theta", "theta_last", "target")
                if getattr(model, name).shape != (p,)]
    x0 = model.exemplar
    if x0.ndim != 3 or x0.shape[-1] not in (1, 3) or min(x0.shape[:2]) < 1:
        problems.append("exemplar")
    if model.centre.shape not in ((), (x0.shape[-1],) if x0.ndim == 3 else ()):
        problems.append("centre")
    if problems:
        raise ModelError(f"{path}: inconsistent model ({', '.join(problems)} do not fit a "
                         f"spec with p = {p})")
    bad = [k for k in _ARRAYS if not np.isfinite(getattr(model, k)).all()]
    if bad or not (np.isfinite(model.beta) and model.beta > 0 and np.isfinite(model.eps)
                   and model.eps >= 0):
        raise ModelError(f"{path}: non-finite or impossible values ({', '.join(bad) or 'beta/eps'})")


def load_model(path: Union[str, Path]) -> MaxEntModel:
    """Read a model written by :func:`save_model`; raises :class:`ModelError` naming ``path``."""
    path = Path(path)
    header, arrays = _read(path)
    try:
        model = MaxEntModel(_spec(path, header["spec"]), str(header["weights_sha256"]),
                            beta=float(header["beta"]), extensive=bool(header["extensive"]),
                            eps=float(header["eps"]), settings=dict(header["settings"]),
                            **{k: arrays[k].astype(np.float32) for k in _ARRAYS})
    except (KeyError, TypeError, ValueError) as err:
        raise ModelError(f"{path}: incomplete model header ({err})") from None
    _check(path, model)
    return model


def check_weights(model: MaxEntModel, digest: str, source: Any = "the loaded weights") -> None:
    """Refuse a model learned with other weights than those whose digest is ``digest``."""
    if model.weights_sha256 != digest:
        raise ModelError(f"the model was learned with other VGG-19 weights (SHA-256 "
                         f"{model.weights_sha256[:12]}...) than {source} ({digest[:12]}...); "
                         "pass the same --weights")

