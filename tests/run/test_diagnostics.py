"""Run diagnostics: the derived trace arrays against hand computations, and each warning
fires on the failure it names and only then."""

import jax
import jax.numpy as jnp
import numpy as np

from maxent_jax.run.diagnostics import (fixed_theta_warnings, summary, trace_diagnostics,
                                        warnings)
from maxent_jax.sampling.soul import chain_correlation


def _trace(n=40, p=3, **changes):
    rng = np.random.default_rng(0)
    trace = {"theta": np.ones((n, p)), "gap": 0.01 * rng.normal(size=(n, p)),
             "feature_spread": np.full(n, 4.0), "theta_norm": np.full(n, np.sqrt(p)),
             "projected": np.zeros(n), "chain_correlation": np.zeros(n),
             "probe_acceptance": np.where(np.arange(n) % 10 == 0, 0.95, np.nan),
             "relative_gap": np.full(n, 0.1), "stein_ratio": np.full(n, 1.02)}
    trace.update(changes)
    return trace


def test_derived_arrays_match_hand_computations():
    n, p = 40, 3
    theta = np.arange(n * p, dtype=float).reshape(n, p)
    gap = np.random.default_rng(1).normal(size=(n, p))
    out = trace_diagnostics(_trace(theta=theta, gap=gap), target_norm=2.0)
    bar = theta[n // 2:].mean(0)
    np.testing.assert_allclose(out["theta_distance"], np.linalg.norm(theta - bar, axis=1))
    for k in (1, 7, n):  # window (k/2, k]
        expected = np.linalg.norm(gap[k // 2:k].mean(0)) / 2.0
        np.testing.assert_allclose(out["running_average_gap"][k - 1], expected, rtol=1e-12)
    np.testing.assert_allclose(out["relative_feature_std"], 1.0)  # sqrt(4) / 2
    assert trace_diagnostics({"theta_norm": np.ones(3)}, 1.0) == {}


def test_a_healthy_trace_gives_no_warning():
    assert warnings(_trace()) == []
    record = summary(_trace())
    assert record["warnings"] == [] and record["probe_acceptance"] == 0.95
    assert record["stein_ratio"] == 1.02


def test_each_warning_fires_on_its_failure():
    n = 40
    growing = _trace(theta_norm=np.linspace(1.0, 2.0, n))
    assert any("not converged" in w for w in warnings(growing))
    projected = _trace(projected=np.r_[np.zeros(n - 1), 1.0])
    assert any("projection" in w for w in warnings(projected))
    early = _trace(projected=np.r_[1.0, np.zeros(n - 1)])  # only at the start: fine
    assert warnings(early) == []
    collapsed = _trace(chain_correlation=np.full(n, 0.6))
    assert any("collapsed" in w for w in warnings(collapsed))
    rejected = _trace(probe_acceptance=np.r_[np.full(n - 1, np.nan), 0.2])
    assert any("MALA accepts 0.20" in w for w in warnings(rejected))
    for far in (-8.0, 43.0, np.nan):  # outward drift, a transient, a broken run
        out_of_equilibrium = _trace(stein_ratio=np.r_[np.ones(n - 10), np.full(10, far)])
        assert any("not at equilibrium" in w for w in warnings(out_of_equilibrium))
    settled = _trace(stein_ratio=np.r_[np.full(n - 10, 40.0), np.full(10, 1.1)])
    assert warnings(settled) == []  # only the last quarter counts


def test_fixed_theta_warnings_fire_on_a_large_gap_an_off_stein_ratio_or_divergence():
    assert fixed_theta_warnings(0.1, 1.0, 300) == []  # the thresholds themselves pass
    assert fixed_theta_warnings(0.03, 1.25, 300) == []
    assert fixed_theta_warnings(0.05, None, 300) == []
    (gap,) = fixed_theta_warnings(0.29, 0.9, 1000)
    assert "misses F(x0) by 29% (last 500 of 1000 steps)" in gap
    (stein,) = fixed_theta_warnings(0.02, -6.4, 1000)
    assert "Stein's ratio is -6.4" in stein
    assert len(fixed_theta_warnings(0.3, -6.4, 7)) == 2
    (nan,) = fixed_theta_warnings(float("nan"), None, 10)
    assert "diverged" in nan


def test_chain_correlation_is_one_for_copies_and_near_zero_for_independent_chains():
    x = jax.random.normal(jax.random.key(0), (1, 16, 16, 3))
    offsets = jnp.array([0.0, 0.3, 0.7])[:, None, None, None] * jnp.array([1.0, 2.0, 3.0])
    copies = x + offsets  # the same image with other channel means
    np.testing.assert_allclose(chain_correlation(copies), 1.0, atol=1e-5)
    independent = jax.random.normal(jax.random.key(1), (8, 32, 32, 3))
    assert abs(float(chain_correlation(independent))) < 0.02  # std 1/sqrt(3072) per pair
    assert float(chain_correlation(x)) == 0.0
    np.testing.assert_allclose(chain_correlation(jnp.stack([x[0], -x[0]])), -1.0, atol=1e-5)
