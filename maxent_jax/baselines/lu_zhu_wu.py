"""Lu, Zhu & Wu (AAAI 2016, arXiv 1509.08379): FRAME models learnt with pre-trained CNN filters.

Their stationary FRAME model (Zhu, Wu & Mumford, IJCV 1998) with CNN filters F_k is

    p_w(x) = Z(w)^{-1} exp( sum_k w_k sum_{u} [F_k * x](u) ) q(x),   q = N(m0, sigma^2 I),

learnt by maximum likelihood: M persistent chains each make L Langevin steps
``x <- x + (d^2 / 2) grad log p_w(x) + d Z``, then
``w <- w + eta (F(x0) - mean_chains F(x_L))``. In the notation of this library
(:mod:`maxent_jax.sampling.energy`) this is the macrocanonical Gibbs model
``U_theta(x) = |Omega| <theta, F(x) - F(x0)> + (eps / 2) ||x - m0||^2`` (the extensive
energy, F the channel means) with ``theta = -w`` (up to a per-layer scale, point 4 below),
``eps = 1 / sigma^2`` and ``c = m0`` (the shift by F(x0) only changes Z), sampled by ULA with
``gamma = d^2 / 2`` and learnt by a stochastic gradient step on theta: the maths of SOUL
(De Bortoli et al., Stat. Comput. 2021), whose energy, ULA kernel, optax theta update,
projection, state and diagnostics are reused here: :func:`lzw_kernel` is the SOUL kernel
(:func:`maxent_jax.sampling.soul.soul`) with ``num_inner = L`` and ``estimator="last"``. Each
difference from the macrocanonical runs of :mod:`maxent_jax.tasks.texture`:

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
from maxent_jax.nn.backbone import prepare_backbone
from maxent_jax.nn.features import FeatureSpec, feature_dim, get_spec
from maxent_jax.sampling.energy import EnergyFn, macrocanonical_energy, reference_centre
from maxent_jax.sampling.scan import scan_steps
from maxent_jax.sampling.schedules import Schedule, constant
from maxent_jax.sampling.soul import SOULInfo, SOULKernel, SOULState, soul, soul_init

__all__ = [
    "LZW_LAYERS",
    "LuZhuWuConfig",
    "lzw_spec",
    "lzw_energy",
    "lzw_init",
    "lzw_kernel",
    "lzw_run",
    "lzw_synthesize",
    "lzw_settings",
    "lzw_learn",
    "lzw_model",
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
               sigma: Optional[float | Array] = None, *, extensive: bool = True,
               target: Optional[Array] = None) -> EnergyFn:
    """``(theta, x) -> (U, F(x) - F(x0))``, U = |Omega| <theta, F(x) - F(x0)> + |x - m0|^2 / (2 s^2).

    That is ``macrocanonical_energy(..., eps=1 / sigma^2, centre=m0, extensive=extensive)``;
    sigma (by default the exemplar's std) may be a traced value. ``extensive=True``
    multiplies the feature term by the number of pixels |Omega| (FRAME's sum over positions;
    difference 4 of the module docstring). ``target``: F(x0) if already computed.
    """
    sigma = jnp.std(exemplar) if sigma is None else sigma
    return macrocanonical_energy(feature_fn, feature_fn(exemplar) if target is None else target,
                                 eps=1.0 / jnp.asarray(sigma) ** 2,
                                 centre=reference_centre(exemplar, "mean"), extensive=extensive)


def lzw_init(positions: Array, num_features: int,
             optimizer: optax.GradientTransformation) -> SOULState:
    """theta_0 = 0 (w = 0: the chains start by sampling q) and the chains ``(M, H, W, C)``."""
    return soul_init(positions, jnp.zeros(num_features, jnp.float32), optimizer)


def lzw_kernel(energy_fn: EnergyFn, *, optimizer: optax.GradientTransformation,
               step_size: Schedule, num_langevin: int = 5,
               projection: Optional[Projection] = None,
               block_sizes: Optional[Sequence[int]] = None) -> SOULKernel:
    """L Langevin steps of every chain, then ``theta <- theta + eta mean_c (F(x_L^c) - F(x0))``:
    the SOUL kernel with F taken at the last samples (difference 1)."""
    return soul(energy_fn, optimizer, step_size, num_inner=num_langevin, projection=projection,
                block_sizes=block_sizes, estimator="last")


def lzw_run(key: Array, state: SOULState, energy_fn: EnergyFn, num_steps: int,
            **kernel_kwargs: Any) -> tuple[SOULState, SOULInfo]:
    """``num_steps`` learning iterations in one ``lax.scan``; step n uses ``fold_in(key, n)``."""
    return scan_steps(lzw_kernel(energy_fn, **kernel_kwargs).step, key, state, num_steps)


def lzw_synthesize(key: Array, exemplar: Array, variables: Mapping[str, Any],
                   config: LuZhuWuConfig = LuZhuWuConfig(), *,
                   size: Optional[Sequence[int]] = None) -> tuple[SOULState, SOULInfo]:
    """Learn the LZW model of ``exemplar`` and return the final state (``state.positions``:
    the M chains' last samples) and the stacked per-iteration infos. Jit it with ``config``
    and ``size`` static. On the CPU the convolutions are Winograd ones for the samples' size."""
    spec = lzw_spec(config)
    out_hw = tuple(size) if size is not None else exemplar.shape[:2]
    backbone = prepare_backbone(spec, variables, out_hw)
    target = backbone.resized(exemplar.shape[:2]).features(exemplar)
    energy = lzw_energy(backbone.features, exemplar, config.sigma, target=target)
    init_key, run_key = jax.random.split(key)
    opt = optax.sgd(config.learning_rate)
    state = lzw_init(max_entropy_noise(init_key, exemplar, size=size, num=config.chains),
                     feature_dim(spec), opt)
    return lzw_run(run_key, state, energy, config.iterations, optimizer=opt,
                   step_size=constant(config.gamma), num_langevin=config.langevin_steps,
                   block_sizes=backbone.block_sizes())


def lzw_settings(config: LuZhuWuConfig, exemplar: Any, *, seed: int = 0,
                 checkpoint_every: Optional[int] = None) -> Any:
    """The baseline as :class:`maxent_jax.run.settings.SOULConfig` settings, so that it runs
    through the shared task shell (:func:`lzw_learn`): plain sgd with rate eta, L inner
    steps, eps = 1 / sigma^2 centred on the exemplar's mean (sigma: the exemplar's std)."""
    import numpy as np

    from maxent_jax.run.settings import SOULConfig

    sigma = float(np.std(np.asarray(exemplar))) if config.sigma is None else float(config.sigma)
    return SOULConfig(layers=config.layers, activation=config.activation,
                      pooling=config.pooling, padding=config.padding, gamma=config.gamma,
                      delta=config.learning_rate, optimism=0.0, inner_steps=config.langevin_steps,
                      chains=config.chains, iterations=config.iterations,
                      eps=1.0 / sigma**2, centre="mean", seed=seed, projection="none",
                      theta_step="soul", probe_every=0,
                      checkpoint_every=checkpoint_every or config.iterations).validate()


def lzw_learn(exemplar: Array, network: Any, config: LuZhuWuConfig = LuZhuWuConfig(), *,
              seed: int = 0, size: Optional[Sequence[int]] = None, out_dir: Any = None,
              checkpoint_every: Optional[int] = None, resume: bool = False,
              checkpoint: bool = False, progress: bool = False) -> Any:
    """The baseline run by the one chunk driver (checkpoints, resume, divergence), like the
    macrocanonical tasks: returns :class:`maxent_jax.run.task.TaskRun` (``run.state.positions``
    holds the M chains' last samples). Same kernel as :func:`lzw_synthesize`; the starting
    noise is drawn from ``seed``."""
    import numpy as np

    from maxent_jax.run.task import run_identity, run_soul_task
    from maxent_jax.nn.backbone import as_backbone, exemplar_features
    from maxent_jax.tasks.texture import texture_energy

    exemplar = jnp.asarray(exemplar, jnp.float32)
    settings = lzw_settings(config, exemplar, seed=seed, checkpoint_every=checkpoint_every)
    out_hw = tuple(size) if size is not None else tuple(exemplar.shape[:2])
    backbone = as_backbone(network, settings.spec(), out_hw)
    init_key, run_key = jax.random.split(jax.random.key(seed))
    target = exemplar_features(backbone, exemplar)
    starts = max_entropy_noise(init_key, exemplar, size=out_hw, num=config.chains)
    return run_soul_task(settings, backbone, texture_energy, (exemplar, target), starts, target,
                         run_key, identity=run_identity(settings, backbone,
                                                        exemplar=np.asarray(exemplar)),
                         out_dir=out_dir, resume=resume, checkpoint=checkpoint,
                         progress=progress, desc="Lu-Zhu-Wu", estimator="last")


def lzw_model(exemplar: Array, backbone: Any, config: LuZhuWuConfig, run: Any, *,
              seed: int = 0) -> Any:
    """The model learnt by a finished :func:`lzw_learn` run, as a
    :class:`maxent_jax.model.MaxEntModel`: the energy of :func:`lzw_energy` at theta_bar, the
    mean of theta_n over the last half of the learning iterations (as for the
    macrocanonical runs; the last iterate is kept as ``theta_last``), so that
    :func:`maxent_jax.tasks.sample.sample_model` draws new chains of the learnt FRAME model at
    frozen parameters. ``backbone``: the run's (:func:`lzw_spec` of ``config``)."""
    import numpy as np

    from maxent_jax.nn.backbone import exemplar_features
    from maxent_jax.tasks.texture import learned_model

    exemplar = jnp.asarray(exemplar, jnp.float32)
    settings = lzw_settings(config, exemplar, seed=seed)
    target = exemplar_features(backbone, exemplar)
    return learned_model(settings, backbone, np.asarray(exemplar), np.asarray(target), run.trace)
