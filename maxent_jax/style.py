"""Style transfer with the macrocanonical CNN model, sampled by SOUL.

De Bortoli, Desolneux, Durmus, Galerne & Leclaire (SIMODS 2021, arXiv 1912.01691) extend the
macrocanonical texture model to style transfer. Here the *style* is the set of constraints
``E[F_s(X)] = F_s(y)``, with ``F_s`` the channel means of the chosen VGG-19 layers
(:mod:`maxent_jax.features`) and ``y`` the style image; the *content* is an image ``x_c``.
With the content term of Gatys, Ecker & Bethge (CVPR 2016), the mean squared difference of the
activations ``phi_l`` of a few content layers ``L_c``,

    c(x) = sum_{l in L_c} ||phi_l(x) - phi_l(x_c)||^2 / (H_l W_l C_l),

the sampled Gibbs measure is

    Pi_theta(dx) ∝ exp(-U_theta(x)) dx,
    U_theta(x) = |Omega| (beta <theta, F_s(x) - F_s(y)> + w c(x)) + (eps / 2) ||x - centre||^2,

with ``|Omega| = H W`` the number of pixels (``extensive=True``, as in :mod:`maxent_jax.energy`;
1 otherwise). Both ``F_s`` and ``c`` are means over positions, so ``|Omega|`` times either is a
sum of local terms: the energy is extensive, one ``theta`` and one ``w`` serve every image size,
and the regime of :class:`maxent_jax.synthesis.SynthesisConfig` carries over (``gamma = 1e-7``,
optimistic theta step; :class:`StyleConfig` says why its ``delta`` is smaller).

``theta`` is learned by SOUL (:mod:`maxent_jax.soul`) for the style constraints only: the
content term is part of the reference measure ``mu_w ∝ exp(-|Omega| w c(x) - r(x))``, so
``Pi_theta*`` is the maximum-entropy distribution relative to ``mu_w`` meeting the style
constraints, and the theta problem stays convex. The style/content trade-off is set by

(a) starting the chains at the content image (``init="content"``) with ``w = 0``: the chains
    move under the style model only and the number of iterations sets the trade-off; or
(b) the weight ``w`` (``content_weight``) of the content term, which holds the chains near the
    content image (both can be combined).

Channel means do not depend on the image size, so the style image may have any size; the
output has the content image's size. Images live in ``[0, 1]`` pixel units, as in
:mod:`maxent_jax.synthesis`.

:func:`style_energy` is pure; :func:`transfer_style` is the imperative shell that compiles the
SOUL scan (``jax.jit``) and runs it in chunks (:func:`run_chunked`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from maxent_jax import features as feats
from maxent_jax.energy import EnergyFn, reference_centre
from maxent_jax.gaussian import adsn, validate_image
from maxent_jax.schedules import constant
from maxent_jax.soul import (SOULInfo, SOULState, block_norms, soul_checks, soul_init, soul_run,
                             theta_optimizer)
from maxent_jax.vgg import LAYER_NAMES, VGG19

__all__ = [
    "SOULSettings",
    "soul_checks",
    "StyleConfig",
    "StyleResult",
    "content_distance",
    "style_energy",
    "initial_positions",
    "transfer_style",
    "run_chunked",
    "soul_trace",
]

Array = jax.Array
Runner = Callable[[SOULState, int], tuple[SOULState, SOULInfo]]


@dataclasses.dataclass(frozen=True)
class SOULSettings:
    """The settings shared by style transfer and inpainting (constant-step SOUL).

    preset/layers/activation/pooling/padding/colour: the features (as in
    :class:`maxent_jax.synthesis.SynthesisConfig`). gamma: Langevin step (pixel units);
    delta: theta step; optimism: b of the optimistic theta step
    ``theta += delta ((1 + b) g_n - b g_(n-1))`` (0: plain SOUL step;
    :func:`maxent_jax.soul.theta_optimizer`); extensive: energy proportional to the number of
    pixels (see :mod:`maxent_jax.energy`). average_last: also average the end-of-step
    positions of the last N outer steps (0: no average). chunk: outer steps per compiled call
    (progress and divergence checks happen between chunks).
    """

    preset: str = "paper"
    layers: Optional[tuple[str, ...]] = None
    activation: Optional[str] = None
    pooling: Optional[str] = None
    padding: Optional[str] = None
    colour: bool = False
    iterations: int = 300
    chains: int = 1
    inner_steps: int = 1
    gamma: float = 1e-7
    delta: float = 0.02
    beta: float = 1.0
    extensive: bool = True
    eps: float = 0.0
    centre: str = "mean"
    optimizer: str = "sgd"
    optimism: float = 10.0
    average_last: int = 0
    seed: int = 0
    chunk: int = 25

    def checks(self) -> list[tuple[bool, str]]:
        """``(ok, message)`` pairs; subclasses append their own."""
        return soul_checks(self) + [
            (self.chunk >= 1, "chunk must be >= 1"),
            (0 <= self.average_last <= self.iterations,
             "average-last must be between 0 and the number of iterations"),
        ]

    def validate(self) -> "SOULSettings":
        """Raise ``ValueError`` naming the first impossible setting; return ``self``."""
        for ok, message in self.checks():
            if not ok:
                raise ValueError(message)
        self.spec()
        return self

    def spec(self) -> feats.FeatureSpec:
        """The feature specification (preset or layers, with overrides)."""
        return feats.get_spec(self.preset, layers=self.layers, activation=self.activation,
                              pooling=self.pooling, padding=self.padding,
                              colour=self.colour or None)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def theta_optimizer(self) -> optax.GradientTransformation:
        """The theta step: constant delta, plain or optimistic sgd, or adam."""
        return theta_optimizer(self.delta, kind=self.optimizer, optimism=self.optimism)

    def soul_options(self, spec: feats.FeatureSpec) -> dict[str, Any]:
        """Keyword arguments of :func:`maxent_jax.soul.soul_run` (constant steps)."""
        return dict(optimizer=self.theta_optimizer(), step_size=constant(self.gamma),
                    num_inner=self.inner_steps, block_sizes=_block_sizes(spec),
                    average_from=(self.iterations - self.average_last if self.average_last
                                  else 2**30))


@dataclasses.dataclass(frozen=True)
class StyleConfig(SOULSettings):
    """Every setting of a style transfer run (written to ``config.json``).

    The style features F_s and the sampler: see :class:`SOULSettings`. content_layers: the
    layers L_c of the content term (default ``relu2_1``: at CPU sizes, 64-128 px, deeper
    layers such as Gatys et al.'s ``relu4_2`` lose the layout; at 256 px and above try
    ``relu3_1`` or ``relu4_2``); content_weight: w (extensive: it multiplies ``H W c(x)``).
    init: ``"content"`` (start at the content image), ``"adsn"`` (an ADSN sample of the style
    image) or ``"noise"``. size: recorded only (the content image is used at its own size).

    Defaults (brick content, grass style, 96 px, 300 iterations): gamma = 1e-7 as in
    synthesis, but delta = 0.005 rather than 0.02: from the content image the theta step of
    synthesis overshoots (style gap 0.13 after 300 iterations against 0.05; gamma delta
    about 5e-10 works, 2e-9 and more oscillates). w = 100 brings the relu2_1 content distance
    from 1.6 (w = 0) to 0.9 at the same style gap. The content term is stiff: above about
    w gamma = 3e-5 it leaves high-frequency artifacts (w = 1e3 wants gamma = 3e-8).
    """

    delta: float = 0.005
    content_layers: tuple[str, ...] = ("relu2_1",)
    content_weight: float = 100.0
    size: Optional[tuple[int, int]] = None
    init: str = "content"

    def checks(self) -> list[tuple[bool, str]]:
        unknown = [n for n in self.content_layers if n not in LAYER_NAMES]
        return super().checks() + [
            (np.isfinite(self.content_weight) and self.content_weight >= 0,
             "content-weight must be a finite number >= 0"),
            (self.init in ("content", "adsn", "noise"),
             "init must be 'content', 'adsn' or 'noise'"),
            (self.size is None or min(self.size) >= 16, "size must be at least 16x16"),
            (len(self.content_layers) >= 1, "give at least one content layer"),
            (not unknown, f"unknown content layers {unknown}; valid names: "
                          f"{', '.join(LAYER_NAMES)}"),
        ]


class StyleResult(NamedTuple):
    """Last iterates ``(C, H, W, ch)``, their running average (or None), the trace, the state."""

    images: np.ndarray
    average: Optional[np.ndarray]
    trace: dict[str, np.ndarray]
    state: SOULState


def _network(spec: feats.FeatureSpec, content_layers: Sequence[str]) -> VGG19:
    """One VGG-19 computing the style and the content layers in a single forward pass."""
    outputs = tuple(n for n in LAYER_NAMES if n in set(spec.layers) | set(content_layers))
    return VGG19(outputs, spec.activation, spec.pooling, spec.padding)


def _style_features(spec: feats.FeatureSpec, acts: Mapping[str, Array], x: Array) -> Array:
    """F_s(x) (flat, documented order) from the activations of x."""
    tree = {name: jnp.mean(acts[name], axis=(0, 1)) for name in spec.layers}
    if spec.colour:
        tree["colour"] = feats.colour_statistics(x)
    return feats.flatten(spec, tree)


def content_distance(acts: Mapping[str, Array], content_acts: Mapping[str, Array],
                     layers: Sequence[str]) -> Array:
    """c(x) = sum_l ||phi_l(x) - phi_l(x_c)||^2 / (H_l W_l C_l) (Gatys et al., CVPR 2016)."""
    return sum(jnp.mean((acts[n] - content_acts[n]) ** 2) for n in layers)


def style_energy(spec: feats.FeatureSpec, variables: Mapping[str, Any], content: Array,
                 style: Array, *, content_layers: Sequence[str] = ("relu2_1",),
                 content_weight: float = 0.0, beta: float = 1.0, eps: float = 0.0,
                 centre: Array | float = 0.0, extensive: bool = True) -> EnergyFn:
    """``(theta, x) -> (U_theta(x), F_s(x) - F_s(style))`` with U_theta of the module docstring.

    One forward pass of the network per call gives both the style features and the content
    activations; ``phi_l(content)`` and ``F_s(style)`` are computed once, here.
    """
    net = _network(spec, content_layers)
    target = _style_features(spec, net.apply(variables, style), style)
    content_acts = net.apply(variables, content)

    def energy(theta: Array, x: Array) -> tuple[Array, Array]:
        acts = net.apply(variables, x)
        gap = _style_features(spec, acts, x) - target
        u = beta * jnp.vdot(theta, gap, precision=jax.lax.Precision.HIGHEST)  # no TF32
        if content_weight:
            u = u + content_weight * content_distance(acts, content_acts, content_layers)
        u = u * (x.shape[0] * x.shape[1] if extensive else 1)
        if eps:
            u = u + 0.5 * eps * jnp.sum((x - centre) ** 2)
        return u, gap

    return energy


def initial_positions(key: Array, content: Array, style: Array, init: str,
                      chains: int) -> Array:
    """``(chains, H, W, ch)`` starting images at the content size and channels.

    ``"content"``: copies of the content image; ``"adsn"``: ADSN samples of the style image
    (Galerne, Gousseau & Morel 2011), cropped from a sample at least as large as both images;
    ``"noise"``: white noise with the style image's channel means and standard deviations.
    """
    size, ch = content.shape[:2], content.shape[-1]
    if init == "content":
        return jnp.broadcast_to(content, (chains, *content.shape))
    style = jnp.broadcast_to(style, style.shape[:2] + (ch,)) if style.shape[-1] < ch else style
    style = jnp.mean(style, -1, keepdims=True) if style.shape[-1] > ch else style
    if init == "adsn":
        big = tuple(max(a, b) for a, b in zip(size, style.shape[:2]))
        return adsn(key, style, size=big, num=chains)[:, : size[0], : size[1]]
    if init == "noise":
        noise = jax.random.normal(key, (chains, *size, ch))
        return style.mean(axis=(0, 1)) + style.std(axis=(0, 1)) * noise
    raise ValueError(f"init must be 'content', 'adsn' or 'noise', got {init!r}")


def _block_sizes(spec: feats.FeatureSpec) -> tuple[int, ...]:
    return tuple(sl.stop - sl.start for sl in feats.layer_slices(spec).values())


def _make_runner(config: StyleConfig, spec: feats.FeatureSpec) -> Callable:
    """jitted ``(variables, content, style, key, state, length) -> (state, info)``."""
    options = config.soul_options(spec)

    def run(variables, content, style, key, state, length):
        energy = style_energy(
            spec, variables, content, style, content_layers=config.content_layers,
            content_weight=config.content_weight, beta=config.beta, eps=config.eps,
            centre=reference_centre(style, config.centre) if config.eps else 0.0,
            extensive=config.extensive)
        return soul_run(key, state, energy, length, **options)

    return jax.jit(run, static_argnums=5)


def _make_monitor(config: StyleConfig, spec: feats.FeatureSpec) -> Callable:
    """jitted ``(variables, content, positions) -> c(x)`` of every chain."""
    net = _network(spec, config.content_layers)

    def monitor(variables, content, positions):
        content_acts = net.apply(variables, content)
        one = lambda x: content_distance(net.apply(variables, x), content_acts,  # noqa: E731
                                         config.content_layers)
        return jax.vmap(one)(positions)

    return jax.jit(monitor)


def run_chunked(run: Runner, state: SOULState, iterations: int, *, chunk: int = 25,
                progress: bool = False, desc: str = "SOUL",
                monitor: Optional[Callable[[SOULState], Any]] = None
                ) -> tuple[SOULState, SOULInfo, list[Any]]:
    """Call ``run(state, length)`` on chunks of at most ``chunk`` outer steps.

    Between chunks: divergence check (``RuntimeError`` on NaN/inf energy or positions),
    progress bar, and ``monitor(state)`` (recorded once before the first chunk and after each).
    Returns the final state, the stacked info (numpy) and the monitor's records.
    """
    infos, records = [], [] if monitor is None else [monitor(state)]
    bar = _progress_bar(iterations, desc) if progress else None
    done = 0
    while done < iterations:
        length = min(chunk, iterations - done)
        new, info = run(state, length)
        if not (np.isfinite(np.asarray(info.energy)).all()
                and bool(jnp.all(jnp.isfinite(new.positions)))):
            raise RuntimeError(f"the chains diverged (NaN or infinite values) between iterations "
                               f"{done} and {done + length}; try a smaller gamma")
        state, done = new, done + length
        infos.append(jax.tree_util.tree_map(np.asarray, info))
        if monitor is not None:
            records.append(monitor(state))
        if bar is not None:
            bar.update(length)
    if bar is not None:
        bar.close()
    stacked = SOULInfo(*[np.concatenate([getattr(i, k) for i in infos]) for k in SOULInfo._fields])
    return state, stacked, records


def _progress_bar(total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="it")


def soul_trace(info: SOULInfo, target: Array, spec: feats.FeatureSpec) -> dict[str, np.ndarray]:
    """Trace arrays (the keys of :mod:`maxent_jax.synthesis`'s ``trace.npz``).

    ``relative_gap = ||mean F(X) - F0|| / ||F0||`` in total and per layer block, ``theta_norm``,
    ``energy``, ``iteration`` (1-based) and the block names ``layers``.
    """
    norms = np.asarray(block_norms(jnp.asarray(target), _block_sizes(spec)))
    gaps = np.asarray(info.gap_norms)
    return {
        "iteration": np.arange(1, len(gaps) + 1),
        "relative_gap": np.linalg.norm(gaps, axis=1) / np.linalg.norm(norms),
        "relative_gap_per_layer": gaps / norms,
        "theta_norm": np.asarray(info.theta_norm),
        "energy": np.asarray(info.energy),
        "target_norms": norms,
        "layers": np.array(list(feats.layer_slices(spec))),
    }


def _check_images(content: Any, style: Any) -> tuple[Array, Array]:
    content = validate_image(content, name="content")
    style = validate_image(style, name="style")
    for name, img in (("content", content), ("style", style)):
        if min(img.shape[:2]) < 16:
            raise ValueError(f"the {name} image is {img.shape[0]}x{img.shape[1]}; each side must "
                             "be at least 16 pixels (VGG-19 pools four times)")
    return content, style


def transfer_style(content: Any, style: Any, variables: Mapping[str, Any],
                   config: StyleConfig, *, progress: bool = False) -> StyleResult:
    """Sample the style model of ``style`` near ``content`` (see the module docstring).

    ``content`` is used at its own size (resize it beforehand; ``config.size`` is only recorded).
    The trace holds :func:`soul_trace`'s arrays plus ``content_distance`` ``(chunks + 1, C)``
    (c(x) of every chain before the first chunk and after each) and ``content_iteration``.
    """
    config.validate()
    content, style = _check_images(content, style)
    spec = config.spec()
    variables = feats.with_conv_kernels(spec, variables, content.shape[:2])
    init_key, run_key = jax.random.split(jax.random.key(config.seed))
    positions = initial_positions(init_key, content, style, config.init, config.chains)
    state = soul_init(positions, jnp.zeros(feats.feature_dim(spec)), config.theta_optimizer())
    runner, monitor = _make_runner(config, spec), _make_monitor(config, spec)
    state, info, records = run_chunked(
        lambda s, n: runner(variables, content, style, run_key, s, n), state, config.iterations,
        chunk=config.chunk, progress=progress, desc="style",
        monitor=lambda s: np.asarray(monitor(variables, content, s.positions)))
    trace = soul_trace(info, feats.features(spec, variables, style), spec)
    trace["content_distance"] = np.stack(records)
    trace["content_iteration"] = np.minimum(np.arange(len(records)) * config.chunk,
                                            config.iterations)
    average = np.asarray(state.average) if int(state.num_averaged) > 0 else None
    return StyleResult(np.asarray(state.positions), average, trace, state)
