"""Fuzzing the command line (hypothesis): image bytes, image sizes and option values.

Every outcome must be a success or a clean error: exit code 0 or 2, never a traceback or an
"internal error", never a hang (each example has a deadline), never a NaN output, and never a
changed file that was there before (half of the examples start from a folder holding an
earlier run's ``config.json``). Derandomised and bounded, so CI runs the same examples in
about a minute.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from maxent_jax.cli import main

SETTINGS = dict(deadline=120_000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
EARLIER = b'{"config": {"note": "an earlier run"}}\n'
FOLDERS = st.sampled_from(["none"] * 3 + ["keep", "overwrite"])


def _png(height: int, width: int, channels: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(height, width, channels), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels[..., 0] if channels == 1 else pixels).save(buf, format="PNG")
    return buf.getvalue()


def _outcome(argv: list, out: Path, earlier: str, capsys, guarded: str = "config.json") -> int:
    """Run; check exit code, stderr, the earlier file and the outputs' finiteness.

    ``earlier``: ``"none"`` (fresh folder), ``"keep"`` (an earlier run's file there, no flag:
    must be refused and left as it was) or ``"overwrite"`` (the same with --overwrite).
    ``guarded``: the earlier file's name in ``out``."""
    if earlier == "overwrite":
        argv = argv + ["--overwrite"]
    if earlier != "none":
        out.mkdir(parents=True, exist_ok=True)
        (out / guarded).write_bytes(EARLIER)
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    event(f"exit {code}")
    assert code in (0, 2), (argv, code, err)
    assert "Traceback" not in err and "internal error" not in err, (argv, err)
    if code == 2:
        assert len(err.strip().splitlines()) == 1, err
    if earlier == "keep":
        assert (out / guarded).read_bytes() == EARLIER, argv
        assert code == 2, argv
    if code == 0 and (out / "samples.npy").is_file():
        assert np.isfinite(np.load(out / "samples.npy")).all(), argv
    return code


@st.composite
def image_bytes(draw):
    """A valid small PNG, possibly corrupted (flipped bytes, truncated) or replaced by junk."""
    h, w = draw(st.integers(4, 40)), draw(st.integers(4, 40))
    data = bytearray(_png(h, w, draw(st.sampled_from([1, 3])), draw(st.integers(0, 9))))
    kind = draw(st.sampled_from(["valid"] * 4 + ["flip", "truncate", "junk", "empty"]))
    if kind == "flip":
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= draw(st.integers(1, 255))
    elif kind == "truncate":
        data = data[: draw(st.integers(1, len(data) - 1))]
    elif kind == "junk":
        data = bytearray(draw(st.binary(min_size=1, max_size=300)))
    elif kind == "empty":
        data = bytearray()
    return bytes(data)


@settings(max_examples=40, **SETTINGS)
@given(data=image_bytes(), command=st.sampled_from(["gaussian", "features", "synthesize"]),
       earlier=FOLDERS)
def test_image_bytes(data, command, earlier, capsys):
    with tempfile.TemporaryDirectory() as tmp:
        image, out = Path(tmp) / "x.png", Path(tmp) / "out"
        image.write_bytes(data)
        argv = {"gaussian": ["gaussian", image, "--out-dir", out],
                "features": ["features", image, "--out", out / "f.npy", "--layers", "relu1_1"],
                "synthesize": ["synthesize", image, "--out-dir", out, "--layers", "relu1_1",
                               "--iterations", "1", "--no-progress"]}[command]
        code = _outcome(argv, out, earlier, capsys,
                        "f.npy" if command == "features" else "config.json")
        if command == "features" and code == 0:
            assert np.isfinite(np.load(out / "f.npy")).all()


def mostly(good: list, bad: list):
    """Valid values about five times in six, invalid ones otherwise."""
    return st.sampled_from(good * (5 * len(bad) // len(good) + 1) + bad)


@settings(max_examples=24, **SETTINGS)
@given(gamma=mostly([1e-7, 1e-6], [float("nan"), float("inf"), -1.0, 0.0, 1e30]),
       delta=mostly([0.02], [float("nan"), -1.0, 1e6]), iterations=mostly([1, 2, 3], [0, -1]),
       chains=mostly([1, 2], [0, -1]), cadence=mostly([1, 2, 3], [0, -1]),
       max_side=mostly([0, 16, 24], [-5, 7]),
       projection=mostly(["none", "l2:1"], ["box:0", "l2:x", "cube:1"]),
       seed=mostly([0, 7], [-1, 2**63, 2**80]), earlier=FOLDERS,
       size=mostly([None, (20, 24)], [(0, 5), (1, 3)]))
def test_synthesize_options(gamma, delta, iterations, chains, cadence, max_side, projection,
                            seed, earlier, size, capsys):
    with tempfile.TemporaryDirectory() as tmp:
        image, out = Path(tmp) / "x.png", Path(tmp) / "out"
        image.write_bytes(_png(24, 24, 3, 0))
        argv = ["synthesize", image, "--out-dir", out, "--layers", "relu1_1,relu2_1",
                "--gamma", gamma, "--delta", delta, "--iterations", iterations,
                "--chains", chains, "--checkpoint-every", cadence, "--max-side", max_side,
                "--projection", projection, "--seed", seed, "--no-progress"]
        argv += ["--size", *size] if size else []
        _outcome(argv, out, earlier, capsys)


@settings(max_examples=24, **SETTINGS)
@given(num=mostly([1, 2, 4], [0, -2]), seed=mostly([0, 3], [-1, 2**63, 2**80]),
       size=mostly([None, (40, 33)], [(0, 4), (5, 5), (10**6, 10**6)]),
       method=st.sampled_from(["adsn", "rpn"]), earlier=FOLDERS,
       shape=st.tuples(st.integers(8, 30), st.integers(8, 30)))
def test_gaussian_options(num, seed, size, method, earlier, shape, capsys):
    with tempfile.TemporaryDirectory() as tmp:
        image, out = Path(tmp) / "x.png", Path(tmp) / "out"
        image.write_bytes(_png(*shape, 3, 1))
        argv = ["gaussian", image, "--out-dir", out, "--num", num, "--seed", seed,
                "--method", method]
        argv += ["--size", *size] if size else []
        code = _outcome(argv, out, earlier, capsys)
        if code == 0:
            pngs = sorted(out.glob("sample_*.png"))
            assert len(pngs) == num and hashlib.sha256(pngs[0].read_bytes()).hexdigest()


def _corrupt(draw, data: bytes) -> bytes:
    data = bytearray(data)
    kind = draw(st.sampled_from(["valid", "flip", "truncate", "junk"]))
    if kind == "flip":
        for _ in range(draw(st.integers(1, 4))):
            data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
    elif kind == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif kind == "junk":
        data = bytearray(draw(st.binary(max_size=300)))
    return bytes(data)


@st.composite
def other_inputs(draw):
    """A command other than the above with one fuzzed input: the style image, the mask, a
    model file or a weight file."""
    command = draw(st.sampled_from(["style", "inpaint", "sample", "convert-weights"]))
    if command == "style":
        return command, _corrupt(draw, _png(draw(st.integers(4, 30)), 24, 3, 2))
    if command == "inpaint":
        h, w = draw(st.sampled_from([(24, 24), (24, 24), (20, 24)]))
        mask = np.zeros((h, w), np.uint8)
        mask[draw(st.integers(0, h - 1)):, draw(st.integers(0, w - 1)):] = 255
        mask = mask * draw(st.sampled_from([1, 1, 0]))  # sometimes empty
        buf = io.BytesIO()
        Image.fromarray(mask).save(buf, format="PNG")
        return command, _corrupt(draw, buf.getvalue())
    if command == "sample":
        return command, None  # the model's bytes are corrupted in the test (needs the file)
    return command, draw(st.binary(max_size=400))


@settings(max_examples=20, **SETTINGS)
@given(case=other_inputs(), earlier=FOLDERS, flips=st.lists(st.integers(0, 10**6), max_size=3),
       cut=st.sampled_from([None, None, 0, 100, 2000]))
def test_other_commands_inputs(case, earlier, flips, cut, capsys, tmp_path_factory):
    command, data = case
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        image, out, fuzzed = tmp / "x.png", tmp / "out", tmp / "fuzzed"
        image.write_bytes(_png(24, 24, 3, 0))
        if command == "sample":
            model = bytearray(_model_bytes(tmp_path_factory))
            for i in flips:
                model[i % len(model)] ^= 0x5A
            data = bytes(model if cut is None else model[:cut])
        fuzzed.write_bytes(data)
        argv = {"style": ["style", image, fuzzed, "--out-dir", out, "--layers", "relu1_1",
                          "--content-layers", "relu1_1", "--iterations", "1", "--no-progress"],
                "inpaint": ["inpaint", image, fuzzed, "--out-dir", out],
                "sample": ["sample", fuzzed, "--out-dir", out, "--num", "1", "--steps", "1",
                           "--no-progress"],
                "convert-weights": ["convert-weights", fuzzed, "-o", out / "w.npz"]}[command]
        guarded = "w.npz" if command == "convert-weights" else "config.json"
        if command == "convert-weights" and earlier == "overwrite":
            earlier = "none"
        _outcome(argv, out, earlier, capsys, guarded)


_MODEL: dict = {}


def _model_bytes(factory) -> bytes:
    """A small learned model (two layers, 24 px), made once."""
    if "bytes" not in _MODEL:
        root = factory.mktemp("model")
        image = root / "x.png"
        image.write_bytes(_png(24, 24, 3, 0))
        assert main(["synthesize", str(image), "--out-dir", str(root / "run"), "--layers",
                     "relu1_1,relu2_1", "--iterations", "2", "--no-progress"]) == 0
        _MODEL["bytes"] = (root / "run" / "model.npz").read_bytes()
    return _MODEL["bytes"]


@st.composite
def starts_files(draw):
    """Bytes given as ``sample --starts``: a ``.npy`` whose header claims a random shape and
    dtype (with too few, enough or too many data bytes), a valid array of a random shape, an
    ``.npz``, or junk."""
    kind = draw(st.sampled_from(["header", "header", "array", "npz", "junk"]))
    shape = tuple(draw(st.lists(st.sampled_from([0, 1, 2, 3, 24, 10**6, 2**40]),
                                min_size=0, max_size=5)))
    descr = draw(st.sampled_from(["<f4", ">f4", "<f8", "<f2", "<i4", "|u1", "|b1", "<c8",
                                  "|O", "<U3"]))
    buf = io.BytesIO()
    if kind == "header":
        np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order":
                                                   draw(st.booleans()), "shape": shape})
        buf.write(draw(st.binary(max_size=64)))
    elif kind == "array":
        small = draw(st.sampled_from([(1, 24, 24, 3), (2, 24, 24, 3), (1, 24, 24, 1),
                                      (1, 20, 24, 3), (24, 24, 3), (1, 24, 24, 4)]))
        values = np.random.default_rng(0).random(small)
        if draw(st.booleans()):
            values.flat[0] = draw(st.sampled_from([np.nan, np.inf, 1e30]))
        np.save(buf, values.astype(draw(st.sampled_from(["<f4", ">f8", "<f2", "<i4"]))))
    elif kind == "npz":
        np.savez(buf, samples=np.zeros((1, 24, 24, 3), np.float32))
    else:
        buf.write(draw(st.binary(max_size=300)))
    return buf.getvalue()


@settings(max_examples=25, **SETTINGS)
@given(data=starts_files())
def test_sample_starts_files(data, capsys, tmp_path_factory):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model, starts, out = tmp / "model.npz", tmp / "starts.npy", tmp / "out"
        model.write_bytes(_model_bytes(tmp_path_factory))
        starts.write_bytes(data)
        capsys.readouterr()  # drop the model-making run's and earlier examples' output
        code = _outcome(["sample", model, "--out-dir", out, "--starts", starts, "--steps", "1",
                         "--no-progress"], out, "none", capsys)
        if code == 2:
            assert not out.exists()
