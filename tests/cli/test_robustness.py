"""Nothing lost, nothing silent (issue 15): one test per reported defect, each through the
command line as a user meets it: exit code 2, one line naming the file or option, no
traceback, and nothing written or changed."""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from maxent_jax.cli import main
from maxent_jax.exemplars import load_exemplar
from maxent_jax.io import save_image

FAST = ["--layers", "relu1_1,relu2_1", "--no-progress"]


def run(argv, capsys):
    """``(exit code, stderr)`` of ``maxent-jax ARGV``."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err, err
    if code == 2:
        assert len(err.strip().splitlines()) == 1, err  # one line
    return code, err


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def wood(tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "wood.png"
    save_image(path, load_exemplar("wood", size=32))
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory, wood):
    """A finished 6-step run with checkpoints every 3 steps."""
    out = tmp_path_factory.mktemp("runs") / "a"
    assert main(["synthesize", str(wood), "--out-dir", str(out), "--iterations", "6",
                 "--checkpoint-every", "3", "--chains", "2", *FAST]) == 0
    return out


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


# ---------------------------------------------------------------------------- defect 1

@pytest.mark.parametrize("damage", ["empty", "truncated", "flipped", "flipped_in_data"])
def test_damaged_checkpoint_is_a_clear_error(tmp_path, wood, finished, capsys, damage):
    out = _copy(finished, tmp_path / "run")
    ckpt = out / "checkpoint.npz"
    data = bytearray(ckpt.read_bytes())
    if damage == "empty":
        data = bytearray()
    elif damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "flipped":
        data[len(data) // 3] ^= 0xFF
    else:  # inside the chains' positions, where numpy's reader checks no CRC
        import zipfile

        with zipfile.ZipFile(ckpt) as archive:
            info = archive.getinfo("state_0.npy")
        data[info.header_offset + 30 + len(info.filename) + 200] ^= 0x01
    ckpt.write_bytes(bytes(data))
    before = digest(out)
    code, err = run(["synthesize", wood, "--out-dir", out, "--iterations", "9",
                     "--checkpoint-every", "3", "--chains", "2", "--resume", *FAST], capsys)
    assert code == 2 and str(ckpt) in err
    assert "damaged or not a maxent-jax checkpoint" in err or "belongs to another run" in err
    assert digest(out) == before


# ---------------------------------------------------------------------------- defect 2

def test_resume_refuses_another_exemplar_or_other_weights(tmp_path, finished, capsys,
                                                          real_weights):
    out = _copy(finished, tmp_path / "run")
    brick = tmp_path / "brick.png"
    save_image(brick, load_exemplar("brick", size=32).repeat(3, axis=-1))
    before = digest(out)
    code, err = run(["synthesize", brick, "--out-dir", out, "--iterations", "9",
                     "--checkpoint-every", "3", "--chains", "2", "--resume", *FAST], capsys)
    assert code == 2 and "belongs to another run" in err and "inputs.exemplar" in err
    from maxent_jax.nn.weights import save_weights

    params = {n: {k: v.copy() for k, v in layer.items()} for n, layer in real_weights.params.items()}
    params["conv1_1"]["bias"] += 0.01
    other = save_weights(real_weights._replace(params=params), tmp_path / "other.npz")
    code, err = run(["synthesize", _wood_of(finished), "--out-dir", out, "--iterations", "9",
                     "--checkpoint-every", "3", "--chains", "2", "--resume",
                     "--weights", other, *FAST], capsys)
    assert code == 2 and "weights_sha256" in err
    assert digest(out) == before


def _wood_of(run_dir: Path) -> Path:
    return Path(json.loads((run_dir / "config.json").read_text())["image"])


# ---------------------------------------------------------------------------- defect 3

def test_a_new_run_never_clobbers_an_earlier_one(tmp_path, wood, finished, capsys):
    out = _copy(finished, tmp_path / "run")
    before = digest(out)
    for extra in (["--gamma", "1e3"], ["--chains", "1"]):
        code, err = run(["synthesize", wood, "--out-dir", out, "--iterations", "4", *extra,
                         *FAST], capsys)
        assert code == 2 and "holds the outputs of an earlier run" in err and "--overwrite" in err
        assert digest(out) == before
    (out / "notes.txt").write_text("mine")
    code, _ = run(["synthesize", wood, "--out-dir", out, "--iterations", "4", "--chains", "1",
                   "--overwrite", *FAST], capsys)
    assert code == 0
    names = {p.name for p in out.iterdir()}
    assert "sample_000.png" in names and "sample_001.png" not in names  # old run's file gone
    assert "checkpoint.npz" not in names and (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / "config.json").read_text())["config"]["chains"] == 1
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]  # atomic writes


def test_out_dir_that_is_a_file_fails_before_the_weights_load(tmp_path, wood, capsys,
                                                               monkeypatch):
    monkeypatch.setenv("MAXENT_JAX_WEIGHTS", str(tmp_path / "no-weights-here.pth"))
    target = tmp_path / "afile"
    target.write_text("x")
    code, err = run(["synthesize", wood, "--out-dir", target, *FAST], capsys)
    assert code == 2 and f"--out-dir {target} exists and is not a folder" in err


# ---------------------------------------------------------------------------- defect 4

def _png_header(path: Path, height: int, width: int) -> Path:
    """A PNG whose header declares height x width (grey, 8 bits) and whose data is a stub."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    return path


def test_size_guards_refuse_before_decoding_or_compiling(tmp_path, wood, capsys):
    import time

    big = _png_header(tmp_path / "big.png", 9000, 9000)
    code, err = run(["features", big, "--out", tmp_path / "f.npy"], capsys)
    assert code == 2 and "9000x9000 pixels, more than the limit" in err
    start = time.perf_counter()
    code, err = run(["synthesize", wood, "--out-dir", tmp_path / "o", "--size", "5000", "5000",
                     "--iterations", "1", "--no-progress"], capsys)
    assert code == 2 and "GiB per device" in err and "try" in err
    assert time.perf_counter() - start < 30 and not (tmp_path / "o").exists()
    code, err = run(["synthesize", wood, "--out-dir", tmp_path / "o", "--max-memory", "0.001",
                     *FAST], capsys)
    assert code == 2 and "--max-memory" in err and not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------- defect 5

def test_small_or_non_finite_images_are_refused(tmp_path, wood, capsys):
    small = tmp_path / "small.png"
    save_image(small, load_exemplar("wood", size=8))
    code, err = run(["features", small, "--out", tmp_path / "f.npy"], capsys)
    assert code == 2 and "relu5_2 needs at least 16x16" in err and str(small) in err
    nan = tmp_path / "nan.tiff"
    values = np.full((32, 32), 0.5, np.float32)
    values[3, 4] = np.nan
    Image.fromarray(values, mode="F").save(nan)
    code, err = run(["features", nan, "--out", tmp_path / "g.npy"], capsys)
    assert code == 2 and "NaN" in err and str(nan) in err
    assert not (tmp_path / "f.npy").exists() and not (tmp_path / "g.npy").exists()
    mask = tmp_path / "mask.png"
    m = np.zeros((32, 32, 1), np.float32)
    m[10:20, 10:20] = 1
    save_image(mask, m)
    code, err = run(["inpaint", wood, mask, "--out-dir", tmp_path / "i", "--model", "cnn",
                     "--exemplar", small, "--no-progress"], capsys)
    assert code == 2 and str(small) in err and "needs at least" in err
    assert not (tmp_path / "i").exists()


# ---------------------------------------------------------------------------- defect 6

def test_smaller_defects(tmp_path, wood, finished, capsys, monkeypatch):
    code, err = run(["gaussian", wood, "--out-dir", tmp_path / "g", "--seed",
                     "99999999999999999999"], capsys)
    assert code == 2 and "--seed" in err
    code, err = run(["synthesize", wood, "--out-dir", tmp_path / "s", "--checkpoint-every", "0",
                     *FAST], capsys)
    assert code == 2 and "checkpoint-every" in err
    long = tmp_path / "long.png"
    save_image(long, np.random.default_rng(0).uniform(size=(17, 300, 3)).astype(np.float32))
    code, err = run(["synthesize", long, "--out-dir", tmp_path / "s"], capsys)
    assert code == 2 and "shrunk from 17x300 by --max-side 128" in err and "relu5_2" in err
    code, err = run(["synthesize", wood, "--out-dir", tmp_path / "s", "--max-side", "-4"], capsys)
    assert code == 2 and "--max-side -4" in err
    out = _copy(finished, tmp_path / "run")
    code, err = run(["synthesize", wood, "--out-dir", out, "--iterations", "3",
                     "--checkpoint-every", "3", "--chains", "2", "--resume", *FAST], capsys)
    assert code == 2 and "past the 3 iterations" in err
    assert json.loads((out / "config.json").read_text())["config"]["iterations"] == 6
    code, err = run(["synthesize", wood, "--out-dir", out, "--iterations", "9",
                     "--checkpoint-every", "3", "--chains", "2", "--resume", "--gamma", "5e-8",
                     *FAST], capsys)
    assert code == 2 and "--allow-step-change" in err
    code, _ = run(["synthesize", wood, "--out-dir", out, "--iterations", "9",
                   "--checkpoint-every", "3", "--chains", "2", "--resume", "--gamma", "5e-8",
                   "--allow-step-change", *FAST], capsys)
    record = json.loads((out / "config.json").read_text())
    assert code == 0 and record["config"]["gamma"] == 5e-8 and record["config"]["iterations"] == 9
    assert record["resumed_with_new_steps"] == {"at_iteration": 6, "gamma": [1e-7, 5e-8]}
    trace = np.load(out / "trace.npz")
    np.testing.assert_allclose(trace["step_size"], [1e-7] * 6 + [5e-8] * 3)
    mask = tmp_path / "mask.png"
    save_image(mask, np.zeros((20, 20), np.float32))
    code, err = run(["inpaint", wood, mask, "--out-dir", tmp_path / "i"], capsys)
    assert code == 2 and str(mask) in err and str(wood) in err
    grass = tmp_path / "tiny_style.png"
    save_image(grass, load_exemplar("grass", size=8))
    code, err = run(["style", wood, grass, "--out-dir", tmp_path / "st"], capsys)
    assert code == 2 and str(grass) in err and not (tmp_path / "st").exists()
    monkeypatch.setenv("MAXENT_JAX_WEIGHTS", str(tmp_path))
    code, err = run(["features", wood, "--out", tmp_path / "w.npy"], capsys)
    assert code == 2 and "is a folder, not a weight file" in err


def test_divergence_advice_works_as_advertised(tmp_path, wood, capsys):
    out = tmp_path / "d"
    code, err = run(["synthesize", wood, "--out-dir", out, "--iterations", "6",
                     "--checkpoint-every", "3", "--gamma", "1e6", "--delta", "1e6", *FAST],
                    capsys)
    assert code == 2 and "diverged" in err and "--resume --allow-step-change" in err
    assert (out / "checkpoint.npz").is_file()
    code, _ = run(["synthesize", wood, "--out-dir", out, "--iterations", "6",
                   "--checkpoint-every", "3", "--gamma", "1e-7", "--delta", "0.02", "--resume",
                   "--allow-step-change", *FAST], capsys)
    assert code == 0 and np.isfinite(np.load(out / "samples.npy")).all()
    record = json.loads((out / "config.json").read_text())
    assert record["resumed_with_new_steps"]["gamma"] == [1e6, 1e-7]
    assert record["resumed_with_new_steps"]["delta"] == [1e6, 0.02]


# ---------------------------------------------------------------------------- issue 31

def _npy_header(path: Path, shape: tuple, descr: str = "<f4", data: bytes = b"") -> Path:
    """A ``.npy`` file whose header claims ``shape`` and ``descr``, followed by ``data``."""
    import io as _io

    buf = _io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                              "shape": shape})
    path.write_bytes(buf.getvalue() + data)
    return path


def test_sample_starts_with_a_huge_header_is_refused_before_loading(tmp_path, finished,
                                                                     capsys):
    starts = _npy_header(tmp_path / "huge.npy", (100000, 10000, 10000, 3))
    out = tmp_path / "s"
    code, err = run(["sample", finished / "model.npz", "--out-dir", out, "--starts", starts,
                     "--steps", "1", "--no-progress"], capsys)
    assert code == 2 and str(starts) in err and "(N, H, W, 3)" in err
    assert "header claims" in err and "MemoryError" not in err and not out.exists()


def test_sample_starts_of_another_shape_names_the_expected_one(tmp_path, finished, capsys):
    samples = np.load(finished / "samples.npy")
    starts = tmp_path / "small.npy"
    np.save(starts, samples[:, :16, :16])
    out = tmp_path / "s"
    code, err = run(["sample", finished / "model.npz", "--out-dir", out, "--starts", starts,
                     "--steps", "1", "--no-progress"], capsys)
    h, w = samples.shape[1:3]
    assert code == 2 and str(starts) in err and f"{len(samples)}x{h}x{w}xC" in err
    assert not out.exists()


def test_sample_starts_that_is_an_npz_says_a_npy_is_expected(tmp_path, finished, capsys):
    out = tmp_path / "s"
    for starts in (finished / "model.npz", finished / "trace.npz"):
        code, err = run(["sample", finished / "model.npz", "--out-dir", out, "--starts",
                         starts, "--steps", "1", "--no-progress"], capsys)
        assert code == 2 and str(starts) in err and ".npz archive" in err and ".npy" in err
        assert "AttributeError" not in err and not out.exists()


def test_sample_starts_of_the_learning_run_still_work(tmp_path, finished, capsys):
    out = tmp_path / "s"
    code, _ = run(["sample", finished / "model.npz", "--out-dir", out, "--starts",
                   finished / "samples.npy", "--steps", "2", "--no-progress"], capsys)
    assert code == 0 and np.isfinite(np.load(out / "samples.npy")).all()


@pytest.mark.parametrize("command", ["sample", "synthesize"])
def test_gamma_beyond_float32_is_one_line_without_a_numpy_warning(tmp_path, wood, finished,
                                                                  capsys, command):
    import warnings

    out = tmp_path / "g"
    argv = (["sample", finished / "model.npz", "--out-dir", out, "--steps", "2",
             "--no-progress"]
            if command == "sample" else ["synthesize", wood, "--out-dir", out,
                                         "--iterations", "2", *FAST])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning (overflow in cast) would fail here
        code, err = run(argv + ["--gamma", "1e300"], capsys)
    assert code == 2 and "gamma" in err and "RuntimeWarning" not in err and not out.exists()


def test_a_long_run_without_a_progress_bar_says_how_long_it_will_take(tmp_path, finished,
                                                                      capsys, monkeypatch):
    from maxent_jax.run import driver

    monkeypatch.setattr(driver._Estimate, "LONG", 0.0)  # any run counts as long here
    out = tmp_path / "s"
    code, err = run(["sample", finished / "model.npz", "--out-dir", out, "--num", "1",
                     "--steps", "150", "--no-progress"], capsys)  # 3 chunks of 50 steps
    lines = [line for line in err.splitlines() if "left for the remaining" in line]
    assert code == 0 and len(lines) == 1 and "remaining 50 steps" in lines[0], err
    assert "s a step" in lines[0]


# ---------------------------------------------------------------- issue 29, item 6

def test_synthesize_lists_every_file_it_writes(tmp_path, wood, capsys):
    """"wrote N files" names exactly the files in the folder (it said 6 and wrote 7: the
    exemplar.png and checkpoint.npz were left out of the count)."""
    out = tmp_path / "run"
    capsys.readouterr()
    assert main(["synthesize", str(wood), "--out-dir", str(out), "--iterations", "4",
                 "--checkpoint-every", "2", *FAST]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("wrote "))
    count, names = line.split(" files to ")[0].split()[1], line.split(": ", 1)[1].split(", ")
    assert sorted(names) == sorted(p.name for p in out.iterdir())
    assert int(count) == len(names) and {"exemplar.png", "checkpoint.npz"} <= set(names)


# ---------------------------------------------------------------- issue 29, item 5

CHAIN_COMMANDS = ("synthesize", "style", "inpaint", "sample")


def test_every_chain_running_command_goes_through_the_one_preflight():
    """Each command's run() calls ``prepare`` and none repeats a step of it by hand (the
    multi-host guard was only in synthesize)."""
    import importlib
    import inspect

    for name in CHAIN_COMMANDS:
        source = inspect.getsource(importlib.import_module(f"maxent_jax.cli.{name}").run)
        assert "prepare(args" in source, name
        for step in ("check_run_memory(", "start_distributed(", "load_backbone_arg(",
                     "step_changes(", "process_index("):
            assert step not in source, (name, step)


def test_only_process_zero_writes_the_outputs(tmp_path, wood, finished, capsys, monkeypatch):
    """On a host whose ``jax.process_index()`` is not 0 a command runs and writes nothing;
    on process 0 the same command writes its files."""
    import jax

    monkeypatch.setattr(jax, "process_index", lambda: 1)
    quiet = tmp_path / "other_host"
    assert main(["synthesize", str(wood), "--out-dir", str(quiet), "--iterations", "2",
                 *FAST]) == 0
    assert main(["sample", str(finished / "model.npz"), "--out-dir", str(quiet / "s"),
                 "--num", "1", "--steps", "2", "--no-progress"]) == 0
    assert [p.name for p in quiet.rglob("*") if p.is_file()] == []
    monkeypatch.setattr(jax, "process_index", lambda: 0)
    assert main(["sample", str(finished / "model.npz"), "--out-dir", str(quiet / "s"),
                 "--num", "1", "--steps", "2", "--no-progress"]) == 0
    assert {"sample_000.png", "samples.npy", "trace.npz", "diagnostics.json"} == \
        {p.name for p in (quiet / "s").iterdir()}
