"""SOUL against closed forms: quadratic features give Gaussian models with known theta*."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from maxent_jax.sampling.energy import macrocanonical_energy
from maxent_jax.sampling.schedules import Exponents, check_conditions, constant, stages
from maxent_jax.sampling.soul import make_projection, soul_init, soul_run


def ula_theta(gamma, target):
    """theta with E_theta^ULA[F] = target for U = theta * F, F quadratic with Hessian 2 theta.

    ULA on N(0, 1/(2 theta)) has variance 1/(2 theta (1 - gamma theta)); solve for theta.
    """
    return (1.0 - np.sqrt(1.0 - 2.0 * gamma / target)) / (2.0 * gamma)


def test_soul_square_feature_converges_to_ula_theta():
    s0, gamma = 1.0, 0.2
    energy = macrocanonical_energy(lambda x: jnp.sum(x**2)[None], jnp.array([s0]))
    opt = optax.sgd(0.05)
    state = soul_init(jnp.zeros((2000, 1)), jnp.array([0.2]), opt)
    run = jax.jit(lambda k, s: soul_run(k, s, energy, 1500, optimizer=opt,
                                        step_size=constant(gamma)))
    state, info = run(jax.random.key(0), state)
    theta_hist = np.asarray(info.theta_norm)
    estimate = theta_hist[750:].mean()
    expected = ula_theta(gamma, s0)
    assert abs(expected - 0.5) > 0.05  # the ULA bias is visible at this gamma ...
    np.testing.assert_allclose(estimate, expected, rtol=0.02)  # ... and matched


def power_spectrum(x):
    return (jnp.abs(jnp.fft.fft2(x)) ** 2).ravel() / x.size


def exemplar_with_spectrum(n=8):
    k1, k2 = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    s = 1.0 + 0.5 * np.cos(2 * np.pi * k1 / n) * np.cos(2 * np.pi * k2 / n)
    w = np.fft.fft2(np.random.default_rng(0).normal(size=(n, n)))
    return np.real(np.fft.ifft2(w / np.abs(w) * np.sqrt(n * n * s))).astype(np.float32), s


def test_soul_power_spectrum_recovers_theta_star_and_gaussian_samples():
    x0, s = exemplar_with_spectrum()
    target = power_spectrum(jnp.asarray(x0))
    np.testing.assert_allclose(np.asarray(target), s.ravel(), rtol=1e-4)
    energy = macrocanonical_energy(power_spectrum, target)  # no reference measure
    gamma, opt = 0.05, optax.sgd(0.05)
    state = soul_init(jnp.zeros((400, 8, 8)), jnp.full(64, 0.5), opt)
    run = jax.jit(lambda k, s_, n: soul_run(k, s_, energy, n, optimizer=opt,
                                            step_size=constant(gamma), num_inner=2),
                  static_argnums=2)
    state, _ = run(jax.random.key(1), state, 1500)
    thetas = []
    for _ in range(10):  # average theta over 10 further windows to beat the SGD noise
        state, _ = run(jax.random.key(2), state, 100)
        thetas.append(np.asarray(state.theta))
    theta = np.mean(thetas, axis=0)
    np.testing.assert_allclose(theta, ula_theta(gamma, s.ravel()), rtol=0.05)
    # and theta*_k = 1 / (2 |x0_hat(k)|^2 / N) up to that ULA bias (< 6% here)
    np.testing.assert_allclose(theta, 1 / (2 * s.ravel()), rtol=0.1)
    # samples are Gaussian with the exemplar's power spectrum: ADSN's law (zero mean)
    spectra = jax.vmap(power_spectrum)(state.positions).mean(0)
    np.testing.assert_allclose(np.asarray(spectra), s.ravel(), rtol=0.3)
    x = np.asarray(state.positions).ravel()
    kurtosis = np.mean((x - x.mean()) ** 4) / np.var(x) ** 2
    assert abs(kurtosis - 3.0) < 0.2


def test_projection_keeps_theta_in_the_ball_and_box():
    energy = macrocanonical_energy(lambda x: jnp.sum(x**2)[None] * jnp.ones(3), jnp.ones(3) * 5)
    for spec, check in (("l2:0.1", lambda t: np.linalg.norm(t) <= 0.1 + 1e-6),
                        ("box:0.05", lambda t: np.all(np.abs(t) <= 0.05 + 1e-7))):
        opt = optax.sgd(1.0)
        state = soul_init(jnp.ones((4, 2)), jnp.zeros(3), opt)
        state, info = soul_run(jax.random.key(0), state, energy, 20, optimizer=opt,
                               step_size=constant(0.01), projection=make_projection(spec))
        assert check(np.asarray(state.theta))
        assert np.all(np.asarray(info.theta_norm) <= 0.1 + 1e-6)


def test_vmapped_chains_equal_per_chain_runs_with_the_same_keys():
    from maxent_jax.sampling.langevin import ULAState, ula_step
    energy = macrocanonical_energy(lambda x: jnp.sin(x).ravel(), jnp.zeros(6), eps=0.5)
    opt = optax.sgd(0.0)  # theta fixed: chains are independent given theta
    theta = jnp.linspace(-1, 1, 6)
    x0 = jax.random.normal(jax.random.key(5), (3, 2, 3))
    key = jax.random.key(9)
    state, _ = soul_run(key, soul_init(x0, theta, opt), energy, 2, optimizer=opt,
                        step_size=constant(0.1), num_inner=2)
    for c in range(3):
        x = x0[c]
        for n in range(2):
            for k in jax.random.split(jax.random.fold_in(key, n), 2):
                s, _ = ula_step(jax.random.split(k, 3)[c], ULAState(x),
                                lambda y: energy(theta, y), 0.1)
                x = s.position
        np.testing.assert_allclose(np.asarray(state.positions[c]), np.asarray(x), rtol=1e-6,
                                   atol=1e-6)


def test_chunked_run_is_bit_identical_and_step_traced_once():
    traces = []
    energy = macrocanonical_energy(lambda x: jnp.tanh(x).ravel(), jnp.zeros(4), eps=1.0)
    opt = optax.adam(0.01)

    def run(k, s, n):
        traces.append(1)
        return soul_run(k, s, energy, n, optimizer=opt, step_size=constant(0.05), num_inner=3)

    run_jit = jax.jit(run, static_argnums=2)
    init = soul_init(jnp.ones((2, 2, 2)), jnp.zeros(4), opt)
    key = jax.random.key(0)
    whole, _ = run_jit(key, init, 6)
    half, _ = run_jit(key, init, 3)
    half, _ = run_jit(key, half, 3)
    for a, b in zip(jax.tree_util.tree_leaves(whole), jax.tree_util.tree_leaves(half)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert len(traces) == 2  # one per distinct static length; the second 3-step call reused it


def test_running_average_of_late_iterates():
    energy = macrocanonical_energy(lambda x: x.ravel(), jnp.zeros(2), eps=1.0)
    opt = optax.sgd(0.0)
    state = soul_init(jnp.zeros((1, 2)), jnp.zeros(2), opt)
    keep = []
    for _ in range(6):
        state, _ = soul_run(jax.random.key(1), state, energy, 1, optimizer=opt,
                            step_size=constant(0.1), average_from=3)
        keep.append(np.asarray(state.positions))
    np.testing.assert_allclose(np.asarray(state.average), np.mean(keep[3:], axis=0), rtol=1e-5)
    assert int(state.num_averaged) == 3


def test_schedule_conditions_and_stages():
    assert all(check_conditions(Exponents()).values())
    assert not all(check_conditions(Exponents(a=1.0, b=0.0, c=0.0)).values())
    st = stages(100, 2, 0.5)
    assert sum(n for n, _ in st) == 100
    assert [m for _, m in st] == sorted({m for _, m in st})


def test_probe_equals_one_mala_step_from_mala_init():
    """The probe evaluates x and y in one two-step scan (one compiled network pass); it must
    give what ``mala_step(mala_init(x))`` gives with the same keys: the same proposal, and
    the same acceptance up to float rounding, plain and preconditioned, with float32 and
    float64 energies. gamma is chosen for each so that the acceptance is far from 0 and 1."""
    from maxent_jax.sampling.langevin import exact_potential_for, mala_init
    from maxent_jax.sampling.preconditioned import langevin_steps, spectrum_preconditioner
    from maxent_jax.sampling.soul import probe_acceptance

    def potential(x):  # non-quadratic, in the dtype of x (float64 for the exact energy)
        u = jnp.sum(x**2) + 0.5 * jnp.sum(jnp.cos(3.0 * x)) + 0.1 * jnp.sum(x**4)
        return u, jnp.stack([jnp.mean(x), jnp.mean(x**2)])

    positions = jax.random.normal(jax.random.key(1), (3, 8, 8, 1))
    exemplar = jax.random.uniform(jax.random.key(2), (8, 8, 1))
    key = jax.random.key(3)
    for precond, gamma in ((None, 0.3), (spectrum_preconditioner(exemplar, (8, 8)), 0.18)):
        for energy in ("float32", "float64"):
            exact = exact_potential_for(potential, energy)
            step = langevin_steps(precond)[1]
            rates = [step(k, mala_init(x, potential, exact), potential, gamma,
                          exact_potential=exact)[1].acceptance_rate
                     for k, x in zip(jax.random.split(key, 3), positions)]
            reference = float(np.mean(rates))
            probe = float(probe_acceptance(key, positions, potential, gamma, precond, energy))
            assert 0.2 < reference < 0.8, reference
            # float32 rounding of the log-ratio (energies about 100) moves the rate by ~1e-6;
            # another key or proposal would move it by 0.1 or more
            assert abs(probe - reference) < 2e-5, (precond is None, energy, probe, reference)


def test_the_probe_leaves_the_chains_and_theta_bit_identical():
    """``probe_every`` only adds a diagnostic: with a probe every 2 steps (float64 energies)
    the jitted run's chains and theta equal those of the run without one, bit for bit, and
    the probe's values are acceptance rates on the probe steps and NaN elsewhere."""
    energy = macrocanonical_energy(lambda x: jnp.tanh(x).ravel(), jnp.full(8, 0.1), eps=1.0)
    opt = optax.sgd(0.05)
    init = soul_init(jax.random.normal(jax.random.key(4), (3, 2, 4)), jnp.zeros(8), opt)

    def run(probe_every):
        return jax.jit(lambda k, s: soul_run(k, s, energy, 6, optimizer=opt,
                                             step_size=constant(0.05),
                                             probe_every=probe_every))(jax.random.key(1), init)

    (plain, _), (probed, info) = run(0), run(2)
    np.testing.assert_array_equal(np.asarray(plain.positions), np.asarray(probed.positions))
    np.testing.assert_array_equal(np.asarray(plain.theta), np.asarray(probed.theta))
    rates = np.asarray(info.probe_acceptance)
    assert np.all((rates[::2] > 0) & (rates[::2] <= 1)) and np.all(np.isnan(rates[1::2]))


def test_restart_due_staggers_every_chain_once_per_cycle_and_stops_at_until():
    from maxent_jax.sampling.soul import restart_due
    chains, every, until = 4, 6, 20
    due = np.stack([np.asarray(restart_due(jnp.asarray(n), chains, every, until))
                    for n in range(30)])
    for start in range(0, until - every + 1):  # any window of R steps before until
        np.testing.assert_array_equal(due[start:start + every].sum(0), np.ones(chains))
    assert not due[until:].any() and due[until - 1, 3]  # step n = until - 1 is the last
    assert len({tuple(np.flatnonzero(due[:, c])) for c in range(chains)}) == chains  # staggered


def test_restarted_chains_take_the_fresh_draws_and_the_theta_step_is_unchanged():
    """Restarts replace exactly the due chains by ``restart(fold_in(key, _RESTART))`` after
    the theta step: theta and the info of the first step equal the persistent run's, the
    chains that are not due keep the persistent run's positions bit for bit."""
    from maxent_jax.sampling.soul import _RESTART, restart_due, soul
    energy = macrocanonical_energy(lambda x: jnp.tanh(x).ravel(), jnp.full(8, 0.1), eps=1.0)
    opt = optax.sgd(0.05)
    init = soul_init(jax.random.normal(jax.random.key(4), (4, 2, 4)), jnp.zeros(8), opt)
    fresh = lambda k: 10.0 + jax.random.normal(k, (4, 2, 4))  # noqa: E731
    key = jax.random.key(3)
    plain = soul(energy, opt, constant(0.05))
    restarted = soul(energy, opt, constant(0.05), restart_every=2, restart=fresh)
    for n in (0, 1):
        state = init._replace(step=jnp.asarray(n, jnp.int32))
        a, info_a = jax.jit(plain.step)(key, state)
        b, info_b = jax.jit(restarted.step)(key, state)
        np.testing.assert_array_equal(np.asarray(a.theta), np.asarray(b.theta))
        np.testing.assert_array_equal(np.asarray(info_a.gap), np.asarray(info_b.gap))
        due = np.asarray(restart_due(jnp.asarray(n), 4, 2, 2**30))
        assert 0 < due.sum() < 4
        draws = np.asarray(fresh(jax.random.fold_in(key, _RESTART)))
        np.testing.assert_array_equal(np.asarray(b.positions)[due], draws[due])
        np.testing.assert_array_equal(np.asarray(b.positions)[~due],
                                      np.asarray(a.positions)[~due])
    try:
        soul(energy, opt, constant(0.05), restart_every=2)
    except ValueError as err:
        assert "restart function" in str(err)
    else:
        raise AssertionError("restart_every without a restart function was accepted")
