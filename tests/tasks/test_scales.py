"""Coarse-to-fine SOUL (``--scales``, :mod:`maxent_jax.tasks.scales`): one scale is the plain
run bit for bit, theta and the step counter carry across a scale change, a run interrupted at
or after a scale change resumes bit-identically, bad scales are one line and exit 2."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from maxent_jax.cli import main
from maxent_jax.io import save_image
from maxent_jax.nn.vgg import random_variables
from maxent_jax.tasks.scales import grow, plan_stages, split_chunks
from maxent_jax.tasks.texture import SynthesisConfig, synthesize

SMALL = SynthesisConfig(layers=("relu1_1", "relu2_1"), iterations=6, chains=2,
                        checkpoint_every=3, gamma=1e-5, delta=1.0, scale_mode="window")


@pytest.fixture(scope="module")
def rand_vars():
    return random_variables(jax.random.key(0))


@pytest.fixture(scope="module")
def two_scales(rand_vars, wood32):
    config = dataclasses.replace(SMALL, scales=(16, 32), scale_iterations=(2, 4))
    return config, synthesize(wood32, rand_vars, config, progress=False)


def test_one_scale_is_the_plain_run_bit_for_bit(rand_vars, wood32):
    plain = synthesize(wood32, rand_vars, SMALL, progress=False)
    one = synthesize(wood32, rand_vars, dataclasses.replace(SMALL, scales=(32,)),
                     progress=False)
    np.testing.assert_array_equal(plain.samples, one.samples)
    assert set(plain.trace) == set(one.trace)  # no stage keys for one stage
    for key in ("theta", "gap_norms", "energy", "relative_gap"):
        np.testing.assert_array_equal(plain.trace[key], one.trace[key])
    np.testing.assert_array_equal(plain.model.theta, one.model.theta)


def test_theta_and_the_step_carry_across_a_scale_change(rand_vars, wood32, two_scales):
    """The first stage is the plain run at the small size (same keys, same starts); at the
    change the chains are tiled, and the theta step goes on from the last theta:
    theta_{n+1} = Proj_K[theta_n + delta gap_n] holds across the boundary as inside a stage
    (it would fail by theta_n if theta were reset)."""
    config, run = two_scales
    trace = run.trace
    np.testing.assert_array_equal(trace["stage"], [0, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(trace["stage_sizes"], [[16, 16], [32, 32]])
    assert run.samples.shape == (2, 32, 32, 3)
    small = synthesize(wood32, rand_vars, dataclasses.replace(
        SMALL, iterations=2, size=(16, 16)), progress=False)
    np.testing.assert_array_equal(small.trace["theta"], trace["theta"][:2])
    theta, gap = trace["theta"], trace["gap"]
    for n in (1, 2, 3):  # inside stage 0, at the change, inside stage 1
        np.testing.assert_allclose(theta[n], theta[n - 1] + config.delta * gap[n],
                                   rtol=1e-5, atol=1e-6)
    assert np.linalg.norm(theta[1]) > 0.1 * np.linalg.norm(theta[2])  # not a restart


def test_grow_tiles_periodically():
    x = np.arange(2 * 3 * 2 * 1, dtype=np.float32).reshape(2, 3, 2, 1)
    big = np.asarray(grow(x, (7, 5)))
    assert big.shape == (2, 7, 5, 1)
    np.testing.assert_array_equal(big, np.tile(x, (1, 3, 3, 1))[:, :7, :5])


def test_stages_and_chunks():
    stages = plan_stages((64, 128), 10, (32, 64, 128))
    assert [s.size for s in stages] == [(16, 32), (32, 64), (64, 128)]
    assert [(s.start, s.stop) for s in stages] == [(0, 3), (3, 6), (6, 10)]
    chunks = split_chunks([(0, 4, 1), (4, 4, 1), (8, 2, 1)], stages)
    assert chunks == [[(0, 3, 1)], [(3, 1, 1), (4, 2, 1)], [(6, 2, 1), (8, 2, 1)]]


@pytest.mark.parametrize("saves", [1, 2])
def test_resume_across_a_scale_change_is_bit_identical(tmp_path, rand_vars, wood32,
                                                       two_scales, crash_then_resume, saves):
    """Checkpoints at steps 2 (the end of the 16 px stage), 3 and 6: a crash after the first
    resumes across the scale change, after the second inside the 32 px stage."""
    config, whole = two_scales
    resumed = crash_then_resume(wood32, rand_vars, config, saves)
    np.testing.assert_array_equal(whole.samples, resumed.samples)
    for key in ("theta", "gap_norms", "energy", "stage"):
        np.testing.assert_array_equal(whole.trace[key], resumed.trace[key])
    np.testing.assert_array_equal(whole.model.theta, resumed.model.theta)
    other = dataclasses.replace(config, scale_iterations=(3, 3))
    with pytest.raises(ValueError, match="belongs to another run"):
        synthesize(wood32, rand_vars, other, out_dir=tmp_path, resume=True, progress=False)


@pytest.mark.parametrize("scales, words", [
    ("64,32", "increase strictly"),
    ("8,64", "scale 8 is 8x8; layer relu5_2 needs at least 16x16"),
    ("32,128", "above the output size"),
    ("32,x", "positive integers"),
    ("32,64 --scale-iterations 3,3", "sum to 6, not --iterations 8"),
])
def test_bad_scales_are_one_line_and_exit_2(tmp_path, wood32, capsys, scales, words):
    image = tmp_path / "wood.png"
    save_image(image, np.asarray(wood32))
    out = tmp_path / "out"
    code = main(["synthesize", str(image), "--out-dir", str(out), "--size", "64", "64",
                 "--iterations", "8", "--no-progress", "--scales", *scales.split()])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and words in err, err
    assert not out.exists()


def test_cli_scales_run_records_its_stages(tmp_path, wood32, capsys):
    import json

    image = tmp_path / "wood.png"
    save_image(image, np.asarray(wood32))
    out = tmp_path / "out"
    assert main(["synthesize", str(image), "--out-dir", str(out), "--iterations", "4",
                 "--scales", "16,32", "--layers", "relu1_1,relu2_1", "--chains", "2",
                 "--no-progress"]) == 0
    trace = np.load(out / "trace.npz")
    np.testing.assert_array_equal(trace["stage"], [0, 0, 1, 1])
    record = json.loads((out / "config.json").read_text())
    assert record["config"]["scales"] == [16, 32]
    assert (out / "trace.png").stat().st_size > 0 and (out / "model.npz").is_file()
