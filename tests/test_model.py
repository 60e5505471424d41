"""The learned model as a file: round trip, Polyak-Ruppert theta, refusal of bad files."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from maxent_jax.model import (MaxEntModel, ModelError, check_weights, load_model, polyak_average,
                              save_model)
from maxent_jax.nn import features as feats
from maxent_jax.run.checkpoint import arrays_digest


def _model(spec=feats.get_spec(layers=("relu1_1", "relu2_1"))) -> MaxEntModel:
    rng = np.random.default_rng(0)
    p = feats.feature_dim(spec)
    return MaxEntModel(spec, "ab" * 32, rng.normal(size=p).astype(np.float32),
                       rng.normal(size=p).astype(np.float32), rng.uniform(size=p).astype(np.float32),
                       1.0, True, 0.5, np.array([0.4, 0.5, 0.6], np.float32),
                       rng.uniform(size=(20, 24, 3)).astype(np.float32), {"gamma": 1e-7})


def test_round_trip_is_exact(tmp_path):
    model = _model()
    path = save_model(tmp_path / "model.npz", model)
    loaded = load_model(path)
    assert loaded.spec == model.spec and loaded.weights_sha256 == model.weights_sha256
    for name in ("theta", "theta_last", "target", "centre", "exemplar"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name))
    assert (loaded.beta, loaded.extensive, loaded.eps, loaded.settings) == (1.0, True, 0.5,
                                                                            {"gamma": 1e-7})
    with zipfile.ZipFile(path) as archive:  # plain arrays, a JSON header and a digest
        assert all(n.endswith(".npy") for n in archive.namelist())
    np.load(path, allow_pickle=False)["header"]


def test_polyak_average_is_the_mean_of_the_last_half():
    thetas = np.arange(10.0)[:, None] * np.ones((1, 3))
    np.testing.assert_array_equal(polyak_average(thetas), np.full(3, 7.0))  # mean of 5..9
    np.testing.assert_array_equal(polyak_average(thetas[:1]), np.zeros(3))


def _rewrite(path, out, **changes):
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    header = json.loads(str(arrays["header"]))
    for key, value in changes.items():
        if key in arrays and key != "header":
            arrays[key] = value
        else:
            header[key] = value
    arrays["header"] = np.array(json.dumps(header))
    arrays.pop("digest")
    arrays["digest"] = np.array(arrays_digest(arrays))  # a consistent file with wrong contents
    np.savez(out, **arrays)
    return out


def test_bad_files_are_refused_naming_the_file(tmp_path):
    good = save_model(tmp_path / "good.npz", _model())
    cases = {}
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:300])
    cases[truncated] = "damaged or not a maxent-jax model"
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    cases[empty] = "damaged or not a maxent-jax model"
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, x=np.zeros(3))
    cases[foreign] = "damaged or not a maxent-jax model"
    cases[_rewrite(good, tmp_path / "format.npz", format="other/9")] = "not a maxent-jax model"
    spec = dict(_model().spec._asdict(), layers=["relu9_1"])
    cases[_rewrite(good, tmp_path / "spec.npz", spec=spec)] = "unknown feature spec"
    cases[_rewrite(good, tmp_path / "shape.npz", theta=np.zeros(5, np.float32))] = "inconsistent"
    cases[_rewrite(good, tmp_path / "nan.npz",
                   target=np.full(192, np.nan, np.float32))] = "non-finite"
    cases[tmp_path / "missing.npz"] = "no such model file"
    edited = tmp_path / "edited.npz"  # one value changed, digest not updated
    with np.load(good, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["theta"] = arrays["theta"] + np.float32(1e-3)
    np.savez(edited, **arrays)
    cases[edited] = "do not match their SHA-256"
    cases[tmp_path] = "is a folder"
    for path, message in cases.items():
        with pytest.raises(ModelError, match=message) as err:
            load_model(path)
        assert str(path) in str(err.value)


def test_other_weights_are_refused():
    model = _model()
    check_weights(model, "ab" * 32)
    with pytest.raises(ModelError, match="other VGG-19 weights"):
        check_weights(model, "cd" * 32)
