"""Lu, Zhu & Wu (AAAI 2016, arXiv 1509.08379): FRAME models learnt with pre-trained CNN filters.

Their stationary FRAME model (Zhu, Wu & Mumford, IJCV 1998) with CNN filters F_k is

    p_w(x) = Z(w)^{-1} exp( sum_k w_k sum_{u} [F_k * x](u) ) q(x),   q = N(m0, sigma^2 I),

learnt by maximum likelihood: M persistent chains each make L Langevin steps
``x <- x + (d^2 / 2) grad log p_w(x) + d Z``, then
``w <- w + eta (F(x0) - mean_chains F(x_L))``. In the notation of this library
(:mod:`maxent_jax.energy`) this is the macrocanonical Gibbs model
``U_theta(x) = |Omega| <theta, F(x) - F(x0)> + (eps / 2) ||x - m0||^2`` (the extensive
energy, F the channel means) with ``theta = -w`` (up to a per-layer scale, point 4 below),
``eps = 1 / sigma^2`` and ``c = m0`` (the shift by F(x0) only changes Z), sampled by ULA with
``gamma = d^2 / 2`` and learnt by a stochastic gradient step on theta: the maths of SOUL
(De Bortoli et al., Stat. Comput. 2021), whose energy, ULA kernel, optax theta update,
projection, state and diagnostics are reused here. Each difference from
:func:`maxent_jax.soul.soul_step` and from the macrocanonical runs of :mod:`maxent_jax.synthesis`:

1. **Estimator of E_theta[F].** LZW average F over the chains' *last* samples, after the L
   Langevin steps; SOUL averages over the positions every inner step starts from. One extra
   forward pass per theta step computes F at the last samples.
2. **Reference measure.** LZW always keep the Gaussian white-noise reference q: eps =
   1 / sigma^2 > 0, centred on the exemplar's mean; the macrocanonical default is eps = 0.
   Here sigma defaults to the exemplar's pixel standard deviation, so q is the
   maximum-entropy noise with the exemplar's first two moments.
3. **Initialisation.** The chains start from q (white noise), not from ADSN.
4. **Features.** Filter responses of the plain network: ReLU and max pooling (the
   macrocanonical presets' CELU and average pooling make F smooth), summed over positions.
   The energy here is the library's extensive one, |Omega| <theta, F(x) - F(x0)> with F the
   channel means and |Omega| the number of *pixels*; LZW sum each layer over its own
   |Omega_l| = |Omega| / 4^k positions (k pooling steps above the layer), a fixed per-layer
   rescaling of w (the model family is the same; the steps differ by 4^k per layer). LZW use
   VGG-16 filters of one or a few layers; this study uses the same VGG-19 as every other
   method, and by default the first ReLU of blocks 1-4 (this library's choice).
5. **Steps.** Constant eta and d, plain stochastic gradient (no projection, no optimistic
   term), L > 1 Langevin steps per update (SOUL's reference setting: m = 1). The defaults
   (gamma = 3e-7, eta = 0.5, L = 5) were picked on the bundled exemplars at 64 px: the
   lowest feature gap after 60 updates among gamma in {1e-7, 3e-7, 1e-6} and
   eta in {0.02, 0.1, 0.5}.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import optax

from maxent_jax.baselines.microcanonical import max_entropy_noise
from maxent_jax.energy import EnergyFn, macrocanonical_energy, reference_centre
from maxent_jax.features import (FeatureSpec, feature_dim, get_spec, layer_slices, make_feature_fn,
                                 with_conv_kernels)
from maxent_jax.langevin import ULAState, ula_step
from maxent_jax.schedules import Schedule, constant
from maxent_jax.soul import SOULInfo, SOULState, block_norms, soul_init

__all__ = [
    "LZW_LAYERS",
    "LuZhuWuConfig",
    "lzw_spec",
    "lzw_energy",
    "lzw_init",
    "lzw_step",
    "lzw_run",
    "lzw_synthesize",
]

Array = jax.Array
Projection = Callable[[Array], Array]

LZW_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")


class LuZhuWuConfig(NamedTuple):
    """Settings of the Lu-Zhu-Wu baseline (pixel units; gamma = d^2 / 2)."""

    layers: tuple[str, ...] = LZW_LAYERS
    activation: str = "relu"
    pooling: str = "max"
    padding: str = "zero"
    iterations: int = 100        # theta (w) updates
    chains: int = 4              # M
    langevin_steps: int = 5      # L
    gamma: float = 3e-7          # Langevin step d^2 / 2
    learning_rate: float = 0.5   # eta (for the extensive energy)
    sigma: Optional[float] = None  # std of q; None: the exemplar's pixel std


def lzw_spec(config: LuZhuWuConfig = LuZhuWuConfig()) -> FeatureSpec:
    """The feature specification of ``config``."""
    return get_spec(None, layers=config.layers, activation=config.activation,
                    pooling=config.pooling, padding=config.padding)


def lzw_energy(feature_fn: Callable[[Array], Array], exemplar: Array,
               sigma: Optional[float | Array] = None, *, extensive: bool = True) -> EnergyFn:
    """``(theta, x) -> (U, F(x) - F(x0))``, U = |Omega| <theta, F(x) - F(x0)> + |x - m0|^2 / (2 s^2).

    That is ``macrocanonical_energy(..., eps=1 / sigma^2, centre=m0, extensive=extensive)``,
    with the reference term added here so that sigma (by default the exemplar's std) may be a
    traced value. ``extensive=True`` multiplies the feature term by the number of pixels
    |Omega| (FRAME's sum over positions; difference 4 of the module docstring).
    """
    feature_energy = macrocanonical_energy(feature_fn, feature_fn(exemplar), extensive=extensive)
    centre = reference_centre(exemplar, "mean")
    sigma = jnp.std(exemplar) if sigma is None else sigma

    def energy(theta: Array, x: Array) -> tuple[Array, Array]:
        u, gap = feature_energy(theta, x)
        return u + 0.5 * jnp.sum((x - centre) ** 2) / sigma**2, gap

    return energy


def lzw_init(positions: Array, num_features: int,
             optimizer: optax.GradientTransformation) -> SOULState:
    """theta_0 = 0 (w = 0: the chains start by sampling q) and the chains ``(M, H, W, C)``."""
    return soul_init(positions, jnp.zeros(num_features, jnp.float32), optimizer)


def _langevin(key: Array, positions: Array, potential, gamma: Array, num_steps: int) -> Array:
    """``num_steps`` ULA steps of every chain (vmap), returning the last positions."""
    def move(k, x):
        return ula_step(k, ULAState(x), potential, gamma)[0].position

    def body(x, k):
        return jax.vmap(move)(jax.random.split(k, x.shape[0]), x), None

    return jax.lax.scan(body, positions, jax.random.split(key, num_steps))[0]


def lzw_step(key: Array, state: SOULState, energy_fn: EnergyFn, *,
             optimizer: optax.GradientTransformation, step_size: Schedule,
             num_langevin: int = 5, projection: Optional[Projection] = None,
             block_sizes: Optional[Sequence[int]] = None) -> tuple[SOULState, SOULInfo]:
    """L Langevin steps of every chain, then ``theta <- theta + eta mean_c (F(x_L^c) - F(x0))``."""
    gamma = step_size(state.step)
    potential = lambda x: energy_fn(state.theta, x)  # noqa: E731
    positions = _langevin(key, state.positions, potential, gamma, num_langevin)
    energies, gaps = jax.vmap(potential)(positions)  # F at the last samples (difference 1)
    mean_gap = gaps.mean(0)
    updates, opt_state = optimizer.update(-mean_gap, state.opt_state, state.theta)
    theta = optax.apply_updates(state.theta, updates)
    theta = theta if projection is None else projection(theta)
    new = state._replace(positions=positions, theta=theta, opt_state=opt_state,
                         step=state.step + 1)
    info = SOULInfo(jnp.linalg.norm(theta), block_norms(mean_gap, block_sizes),
                    energies.mean(), jnp.asarray(gamma, jnp.float32), theta)
    return new, info


def lzw_run(key: Array, state: SOULState, energy_fn: EnergyFn, num_steps: int,
            **step_kwargs: Any) -> tuple[SOULState, SOULInfo]:
    """``num_steps`` learning iterations in one ``lax.scan``; step n uses ``fold_in(key, n)``."""
    def body(s, _):
        return lzw_step(jax.random.fold_in(key, s.step), s, energy_fn, **step_kwargs)

    return jax.lax.scan(body, state, None, length=num_steps)


def lzw_synthesize(key: Array, exemplar: Array, variables: Mapping[str, Any],
                   config: LuZhuWuConfig = LuZhuWuConfig(), *,
                   size: Optional[Sequence[int]] = None) -> tuple[SOULState, SOULInfo]:
    """Learn the LZW model of ``exemplar`` and return the final state (``state.positions``:
    the M chains' last samples) and the stacked per-iteration infos. Jit it with ``config``
    and ``size`` static. On the CPU the convolutions are Winograd ones for the samples' size."""
    spec = lzw_spec(config)
    out_hw = size if size is not None else exemplar.shape[:2]
    variables = with_conv_kernels(spec, variables, out_hw)
    energy = lzw_energy(make_feature_fn(spec, variables), exemplar, config.sigma)
    init_key, run_key = jax.random.split(key)
    opt = optax.sgd(config.learning_rate)
    state = lzw_init(max_entropy_noise(init_key, exemplar, size=size, num=config.chains),
                     feature_dim(spec), opt)
    sizes = [sl.stop - sl.start for sl in layer_slices(spec).values()]
    return lzw_run(run_key, state, energy, config.iterations, optimizer=opt,
                   step_size=constant(config.gamma), num_langevin=config.langevin_steps,
                   block_sizes=sizes)
