"""Style transfer with the macrocanonical CNN model, sampled by SOUL.

De Bortoli, Desolneux, Durmus, Galerne & Leclaire (SIMODS 2021, arXiv 1912.01691) extend the
macrocanonical texture model to style transfer. Here the *style* is the set of constraints
``E[F_s(X)] = F_s(y)``, with ``F_s`` the channel means of the chosen VGG-19 layers
(:mod:`maxent_jax.nn.features`) and ``y`` the style image; the *content* is an image ``x_c``.
With the content term of Gatys, Ecker & Bethge (CVPR 2016), the mean squared difference of the
activations ``phi_l`` of a few content layers ``L_c``,

    c(x) = sum_{l in L_c} ||phi_l(x) - phi_l(x_c)||^2 / (H_l W_l C_l),

the sampled Gibbs measure is

    Pi_theta(dx) ∝ exp(-U_theta(x)) dx,
    U_theta(x) = |Omega| (beta <theta, F_s(x) - F_s(y)> + w c(x)) + (eps / 2) ||x - centre||^2,

with ``|Omega| = H W`` the number of pixels (``extensive=True``, as in :mod:`maxent_jax.sampling.energy`;
1 otherwise). Both ``F_s`` and ``c`` are means over positions, so ``|Omega|`` times either is a
sum of local terms: the energy is extensive, one ``theta`` and one ``w`` serve every image size,
and the regime of :class:`maxent_jax.run.settings.SOULConfig` carries over (``gamma = 1e-7``,
the plain SOUL theta step, eps, circular padding; :class:`StyleConfig` says why its ``delta``
is smaller).

``theta`` is learned by SOUL (:mod:`maxent_jax.sampling.soul`) for the style constraints only: the
content term is part of the reference measure ``mu_w ∝ exp(-|Omega| w c(x) - r(x))``, so
``Pi_theta*`` is the maximum-entropy distribution relative to ``mu_w`` meeting the style
constraints, and the theta problem stays convex. The style/content trade-off is set by

(a) starting the chains at the content image (``init="content"``) with ``w = 0``: the chains
    move under the style model only and the number of iterations sets the trade-off; or
(b) the weight ``w`` (``content_weight``) of the content term, which holds the chains near the
    content image (both can be combined).

Channel means do not depend on the image size, so the style image may have any size; the
output has the content image's size. Images live in ``[0, 1]`` pixel units, as in
:mod:`maxent_jax.tasks.texture`.

:func:`style_energy` is pure; :func:`transfer_style` is the imperative shell, run by the shared
SOUL task shell (:func:`maxent_jax.run.task.run_soul_task`: chunks, checkpoints and resume,
divergence, progress).
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Optional, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np

from maxent_jax.nn.backbone import Backbone, as_backbone, check_image_size, exemplar_features
from maxent_jax.nn.vgg import LAYER_NAMES
from maxent_jax.run.checkpoint import to_host
from maxent_jax.run.settings import SOULConfig, setting
from maxent_jax.run.task import run_identity, run_soul_task
from maxent_jax.sampling.energy import EnergyFn, macrocanonical_energy, reference_centre
from maxent_jax.sampling.preconditioned import make_preconditioner
from maxent_jax.sampling.soul import SOULState
from maxent_jax.gaussian import validate_image
from maxent_jax.tasks.starts import starts

__all__ = [
    "StyleConfig",
    "StyleResult",
    "content_distance",
    "style_energy",
    "initial_positions",
    "transfer_style",
]

Array = jax.Array
INITS = ("content", "adsn", "noise")


@dataclasses.dataclass(frozen=True)
class StyleConfig(SOULConfig):
    """Every setting of a style transfer run (written to ``config.json``).

    The style features F_s and the sampler: :class:`maxent_jax.run.settings.SOULConfig`.
    content_layers: the layers L_c of the content term (default ``relu2_1``: at CPU sizes,
    64-128 px, deeper layers such as Gatys et al.'s ``relu4_2`` lose the layout; at 256 px and
    above try ``relu3_1`` or ``relu4_2``); content_weight: w (extensive: it multiplies
    ``H W c(x)``). init: ``"content"`` (start at the content image), ``"adsn"`` (an ADSN
    sample of the style image) or ``"noise"``. size: recorded only (the content image is used
    at its own size). ``precondition="spectrum"``: the power spectrum of the style image's
    ADSN model at the content size.

    Defaults (brick content, grass style, 96 px, 300 iterations; measured with 0.2.0's
    optimistic theta step and zero padding): gamma = 1e-7 as in synthesis, but delta = 0.005
    rather than 0.02: from the content image the theta step of synthesis overshoots (style gap 0.13 after 300 iterations against 0.05; gamma delta
    about 5e-10 works, 2e-9 and more oscillates). w = 100 brings the relu2_1 content distance
    from 1.6 (w = 0) to 0.9 at the same style gap. The content term is stiff: above about
    w gamma = 3e-5 it leaves high-frequency artifacts (w = 1e3 wants gamma = 3e-8).
    """

    delta: float = setting(0.005, "learner", "theta step")
    iterations: int = setting(300, "run", "outer SOUL steps")
    checkpoint_every: int = setting(25, "run", "outer steps per compiled chunk; on the "
                                    "command line also writes checkpoint.npz every K steps",
                                    metavar="K")
    content_layers: tuple[str, ...] = setting(
        ("relu2_1",), "task", "comma-separated layers of the content term (at 256 px and "
        "above try relu3_1 or relu4_2)")
    content_weight: float = setting(100.0, "task", "weight w of the content term (0: style "
                                    "model only; above about 3e-5 / gamma lower --gamma)")
    size: Optional[tuple[int, int]] = setting(None, "task", "recorded only", cli=False)
    init: str = setting("content", "task", "starting images", choices=INITS)

    def checks(self) -> list[tuple[bool, str]]:
        unknown = [n for n in self.content_layers if n not in LAYER_NAMES]
        return super().checks() + [
            (np.isfinite(self.content_weight) and self.content_weight >= 0,
             "content-weight must be a finite number >= 0"),
            (self.init in INITS, f"init must be one of {INITS}"),
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


def content_distance(acts: Mapping[str, Array], content_acts: Mapping[str, Array],
                     layers: Sequence[str]) -> Array:
    """c(x) = sum_l ||phi_l(x) - phi_l(x_c)||^2 / (H_l W_l C_l) (Gatys et al., CVPR 2016)."""
    return sum(jnp.mean((acts[n] - content_acts[n]) ** 2) for n in layers)


def style_energy(backbone: Backbone, content: Array, target: Array, *,
                 content_layers: Sequence[str] = ("relu2_1",), content_weight: float = 0.0,
                 beta: float = 1.0, eps: float = 0.0, centre: Array | float = 0.0,
                 extensive: bool = True) -> EnergyFn:
    """``(theta, x) -> (U_theta(x), F_s(x) - F_s(style))`` with U_theta of the module docstring.

    ``target`` = F_s(style). One forward pass of the network per call gives both the style
    features and the content activations; ``phi_l(content)`` is computed once, here.
    """
    content_acts = backbone.activations(content, content_layers)

    def features_and_penalty(x: Array) -> tuple[Array, Optional[Array]]:
        acts = backbone.activations(x, content_layers)
        penalty = (content_weight * content_distance(acts, content_acts, content_layers)
                   if content_weight else None)
        return backbone.features_from(acts, x), penalty

    return macrocanonical_energy(features_and_penalty, target, beta=beta, eps=eps,
                                 centre=centre, extensive=extensive, with_penalty=True)


def _energy(config: StyleConfig, backbone: Backbone, content: Array, style: Array,
            target: Array) -> EnergyFn:
    return style_energy(backbone, content, target, content_layers=config.content_layers,
                        content_weight=config.content_weight, beta=config.beta,
                        eps=config.eps, extensive=config.extensive,
                        centre=reference_centre(style, config.centre) if config.eps else 0.0)


def initial_positions(key: Array, content: Array, style: Array, init: str,
                      chains: int) -> Array:
    """``(chains, H, W, ch)`` starting images at the content size and channels.

    ``"content"``: copies of the content image; ``"adsn"`` / ``"noise"``: ADSN samples or
    matched white noise of the style image (:mod:`maxent_jax.tasks.starts`), with the
    content's channel count.
    """
    size, ch = content.shape[:2], content.shape[-1]
    if init == "content":
        return jnp.broadcast_to(content, (chains, *content.shape))
    style = jnp.broadcast_to(style, style.shape[:2] + (ch,)) if style.shape[-1] < ch else style
    style = jnp.mean(style, -1, keepdims=True) if style.shape[-1] > ch else style
    return starts(init, key, style, size, chains)


@functools.partial(jax.jit, static_argnums=3)
def _content_distances(backbone: Backbone, args: tuple, positions: Array,
                       layers: tuple[str, ...]) -> Array:
    content = args[0]
    content_acts = backbone.activations(content, layers)
    one = lambda x: content_distance(backbone.activations(x, layers), content_acts,  # noqa: E731
                                     layers)
    return jax.vmap(one)(positions)


def _check_images(content: Any, style: Any, spec: Any) -> tuple[Array, Array]:
    content = validate_image(content, name="content")
    style = validate_image(style, name="style")
    for name, img in (("content", content), ("style", style)):
        check_image_size(img.shape[:2], spec, f"the {name} image")
    return content, style


def transfer_style(content: Any, style: Any, network: Union[Backbone, Mapping[str, Any]],
                   config: StyleConfig, *, out_dir: Optional[Path] = None,
                   resume: bool = False, checkpoint: bool = False, progress: bool = False,
                   devices: Optional[int] = None,
               allow_step_change: bool = False) -> StyleResult:
    """Sample the style model of ``style`` near ``content`` (see the module docstring).

    ``content`` is used at its own size (resize it beforehand; ``config.size`` is only
    recorded). ``network``: a :class:`Backbone` or Flax variables. Checkpoints and resume as
    in :func:`maxent_jax.tasks.texture.synthesize`. The trace holds the SOUL trace plus
    ``content_distance`` ``(records, C)`` (c(x) of every chain before the first chunk and
    after each) and ``content_iteration`` (the outer step of each record).
    """
    config.validate()
    spec = config.spec()
    content, style = _check_images(content, style, spec)
    backbone = as_backbone(network, config.spec(), tuple(content.shape[:2]))
    init_key, run_key = jax.random.split(jax.random.key(config.seed))
    positions = initial_positions(init_key, content, style, config.init, config.chains)
    target = exemplar_features(backbone, style)
    layers = tuple(config.content_layers)

    def monitor(b, args, state):
        return int(state.step), to_host(_content_distances(b, args, state.positions, layers))

    run = run_soul_task(config, backbone, _energy, (content, style, target), positions, target,
                        run_key, identity=run_identity(config, backbone, content=content,
                                                       style=style),
                        out_dir=out_dir, resume=resume, checkpoint=checkpoint,
                        progress=progress, devices=devices, desc="style", monitor=monitor,
                        allow_step_change=allow_step_change,
                        precond=make_preconditioner(config.precondition, style,
                                                    content.shape[:2]))
    trace = dict(run.trace)
    trace["content_distance"] = np.stack([r[1] for r in run.records])
    trace["content_iteration"] = np.array([r[0] for r in run.records])
    state = run.state
    average = to_host(state.average) if int(state.num_averaged) > 0 else None
    return StyleResult(to_host(state.positions), average, trace, state)
