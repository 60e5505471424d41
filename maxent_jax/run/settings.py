"""Every setting of a chain-running task, declared once.

:class:`SOULConfig` holds the four groups that every SOUL-type task shares (texture
synthesis, style transfer, CNN inpainting) and that the command line exposes with the same
flags for every command:

* **network**: preset, layers, activation, pooling, padding, colour, precision, conv, remat
  (:class:`maxent_jax.nn.features.FeatureSpec`);
* **sampler**: sampler (ULA or MALA), gamma, inner_steps, chains, probe_every, precondition,
  mala_energy;
* **learner**: the theta step (delta, optimizer, theta_step, optimism, decay, projection) and the energy
  (beta, eps, centre, extensive; :mod:`maxent_jax.sampling.energy`);
* **run**: iterations, checkpoint_every, average_last, seed.

Task configs (:class:`maxent_jax.tasks.texture.SynthesisConfig`, ``StyleConfig``,
``InpaintConfig``) subclass it and add their own fields. Each field's ``metadata`` carries its
group, command-line flag and help text; :mod:`maxent_jax.cli._common` builds the parsers
from them, so a setting's name, default and meaning are written here only.

Units: images, and so the chains, are in ``[0, 1]`` pixel units. The reference
re-implementation of the SIMODS authors' course works in ``[0, 255]`` units; its gamma'
is ``gamma = gamma' / 255^2`` here and its eps' is ``eps = 255^2 eps'``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, Optional

import optax

from maxent_jax.nn import features as feats
from maxent_jax.sampling.langevin import MALA_ENERGIES
from maxent_jax.sampling.preconditioned import PRECONDITIONERS
from maxent_jax.sampling.schedules import Schedule, constant, inverse_power, stages
from maxent_jax.sampling.soul import make_projection, theta_optimizer

__all__ = ["SOULConfig", "setting", "GROUPS", "SAMPLERS", "chunk_plan"]

GROUPS = ("network", "sampler", "learner", "run")
SAMPLERS = ("ula", "mala")
THETA_STEPS = ("soul", "optimistic")
DELTA_SCALES = ("none", "pixels")
DELTA_REFERENCE_PIXELS = 64 * 64
"""The image size (pixels) at which ``delta_scale="pixels"`` uses delta unchanged."""


def setting(default: Any, group: str, help: str, **cli: Any) -> Any:
    """A dataclass field with its group and command-line description in ``metadata``.

    ``cli`` may hold ``flag`` (default ``--name-with-dashes``), ``choices``, ``metavar`` and
    ``cli=False`` (not on the command line)."""
    return dataclasses.field(default=default, metadata={"group": group, "help": help, **cli})


FLOAT32_MAX = 3.4028234663852886e38  # the chains and theta are float32


def _finite(value: float, low: float, strict: bool = False) -> bool:
    ok = (isinstance(value, (int, float)) and math.isfinite(value)
          and abs(value) < FLOAT32_MAX)  # finite once cast to float32 too
    return ok and (value > low if strict else value >= low)


@dataclasses.dataclass(frozen=True)
class SOULConfig:
    """The settings shared by every SOUL-type task (see the module docstring).

    The defaults are the seed's algorithm (docs/reference.md §1, docs/fidelity.md): the plain
    projected SOUL step theta_{n+1} = Proj_K[theta_n + delta mean(F(X) - F(x0))] with constant
    steps, K the l2 ball of radius 500, a Gaussian reference measure of precision eps = 25
    (standard deviation 0.2, wider than the pixel spread of the bundled exemplars, 0.07-0.14,
    so that the model is proper without constraining contrast: the features do), and circular
    padding (channel means invariant to circular shifts, as in the Gaussian models; with zero
    padding the chains copy the exemplar's layout, docs/fidelity.md). Departures, each opt-in:

    decay: if True, delta_n = delta (n+1)^-1, gamma_n = gamma (n+1)^-0.2 and m_n grows like
    (n+1)^0.5 in doubling stages (the convergence conditions of
    :mod:`maxent_jax.sampling.schedules`); the default constant steps do not meet them but
    reach a lower gap within CPU budgets (docs/fidelity.md). theta_step ``optimistic``: the
    optimistic step theta += delta ((1 + b) g_n - b g_{n-1}), b = ``optimism`` (optax's
    ``optimistic_gradient_descent``; Daskalakis et al., ICLR 2018): same fixed point, faster
    early progress, but it shrinks the samples' spread (a descent term on the feature gap,
    measured in docs/fidelity.md). precondition ``spectrum``: Langevin moves preconditioned
    in Fourier by the power spectrum of the exemplar's ADSN model (same model;
    :mod:`maxent_jax.sampling.preconditioned`); on wood at 64 px it decorrelates the chains
    from their starts faster but is less accurate at equal cost (docs/mixing.md).
    delta_scale ``pixels``: the theta step delta x 4096 / (H W) for H x W chains
    (:meth:`theta_delta`), a constant step of the seed's per-image parametrisation; at 128 px
    it keeps theta from swinging (wood) or running away (a held-out exemplar) where the
    default constant delta does, but is slower on another (docs/fidelity.md).
    """

    # network
    preset: str = setting("paper", "network", "feature preset: paper, full, deep or shallow")
    layers: Optional[tuple[str, ...]] = setting(
        None, "network", "comma-separated layers (e.g. relu1_1,relu2_1); overrides --preset")
    activation: Optional[str] = setting(None, "network", "activation (default: the preset's)",
                                        choices=("relu", "celu"))
    pooling: Optional[str] = setting(None, "network", "pooling (default: the preset's)",
                                     choices=("avg", "max"))
    padding: Optional[str] = setting("circular", "network", "VGG padding (circular: the image "
                                     "is a torus, features are invariant to circular shifts; "
                                     "zero, reflect: with them the chains may copy the "
                                     "exemplar's layout)", choices=("zero", "reflect", "circular"))
    colour: bool = setting(False, "network", "also constrain the RGB mean and covariance "
                           "(9 extra features)", flag="--colour-stats")
    precision: str = setting("float32", "network", "convolution arithmetic",
                             choices=("float32", "tf32", "bfloat16"))
    conv: str = setting("auto", "network", "3x3 convolution algorithm: auto = Winograd on the "
                        "CPU, direct elsewhere; measured = as auto, each layer's Winograd tile "
                        "timed on this CPU at the start of the run",
                        choices=("auto", "direct", "winograd", "measured"))
    remat: bool = setting(False, "network", "rematerialise VGG activations in the backward "
                          "pass (less memory, one more forward pass)")
    # sampler
    sampler: str = setting("ula", "sampler", "Langevin kernel: ula (unadjusted) or mala "
                           "(Metropolis-adjusted)", choices=SAMPLERS)
    gamma: float = setting(1e-7, "sampler", "Langevin step (pixel units)")
    inner_steps: int = setting(1, "sampler", "Langevin steps per theta step (m_n, or m_0 with "
                               "--decay)")
    chains: int = setting(1, "sampler", "parallel chains")
    probe_every: int = setting(50, "sampler", "every K outer steps, trace the MALA acceptance "
                               "of a probe proposal at the current gamma (0: never)",
                               metavar="K")
    precondition: str = setting("none", "sampler", "Langevin preconditioner M: none, or "
                                "spectrum (a Fourier multiplier proportional to the power "
                                "spectrum of the exemplar's ADSN model: moves X - gamma M grad "
                                "U + sqrt(2 gamma) M^1/2 Z: the same model, larger steps at "
                                "the low frequencies; see docs/mixing.md)",
                                choices=PRECONDITIONERS)
    mala_energy: str = setting("float64", "sampler", "arithmetic of the energies in MALA's "
                               "accept/reject ratio (--sampler mala and the probe): float64 "
                               "(exact; one float64 forward pass per proposal) or float32 "
                               "(faster, but its rounding moves the ratio; measured in "
                               "docs/mixing.md)", choices=MALA_ENERGIES)
    # learner
    delta: float = setting(0.02, "learner", "theta step")
    delta_scale: str = setting("none", "learner", "none: the theta step is delta at every "
                               "image size; pixels: delta is the step of a 64 x 64 image and "
                               "the step used is delta x 4096 / (H W) for H x W chains, a "
                               "constant step of the seed's per-image parametrisation (the "
                               "extensive energy makes the theta loop's gain grow with H W; "
                               "see docs/fidelity.md)", choices=DELTA_SCALES)
    optimizer: str = setting("sgd", "learner", "theta optimiser", choices=("sgd", "adam"))
    theta_step: str = setting("soul", "learner", "soul: the seed's step theta + delta "
                              "mean(F(X) - F(x0)); optimistic: delta((1+b) g_n - b g_(n-1)), "
                              "faster early but it shrinks the samples' spread",
                              choices=THETA_STEPS)
    optimism: float = setting(10.0, "learner", "b of --theta-step optimistic")
    decay: bool = setting(False, "learner", "decreasing delta_n, gamma_n and growing m_n "
                          "meeting SOUL's convergence conditions")
    projection: str = setting("l2:500", "learner", "theta constraint set K: none, l2:R or "
                              "box:A (the trace counts the steps where the projection acts)")
    beta: float = setting(1.0, "learner", "inverse temperature of the feature term")
    eps: float = setting(25.0, "learner", "precision of the Gaussian reference measure "
                         "(eps/2)||x - c||^2 in [0, 1] pixel units (> 0: a proper model)")
    centre: str = setting("mean", "learner", "centre c of the reference measure",
                          choices=("zero", "mean"))
    extensive: bool = setting(True, "learner", "energy proportional to the number of pixels",
                              cli=False)
    # run
    iterations: int = setting(500, "run", "outer SOUL steps")
    checkpoint_every: int = setting(50, "run", "outer steps per compiled chunk; on the command "
                                    "line also writes checkpoint.npz every K steps",
                                    metavar="K")
    average_last: int = setting(0, "run", "also average the end-of-step positions of the last "
                                "N outer steps (0: no average)", metavar="N")
    seed: int = setting(0, "run", "random seed")

    # ---------------------------------------------------------------- validation
    def checks(self) -> list[tuple[bool, str]]:
        """``(ok, message)`` pairs; subclasses append their own."""
        return [
            (isinstance(self.iterations, int) and self.iterations >= 1,
             "iterations must be >= 1"),
            (isinstance(self.chains, int) and self.chains >= 1, "chains must be >= 1"),
            (isinstance(self.probe_every, int) and self.probe_every >= 0,
             "probe-every must be >= 0"),
            (isinstance(self.inner_steps, int) and self.inner_steps >= 1,
             "inner-steps must be >= 1"),
            (_finite(self.gamma, 0, strict=True), "gamma must be a finite number > 0"),
            (_finite(self.delta, 0), "delta must be a finite number >= 0"),
            (_finite(self.beta, 0, strict=True), "beta must be a finite number > 0"),
            (_finite(self.eps, 0), "eps must be a finite number >= 0"),
            (_finite(self.optimism, 0), "optimism must be a finite number >= 0"),
            (self.optimizer in ("sgd", "adam"), "optimizer must be 'sgd' or 'adam'"),
            (self.theta_step in THETA_STEPS, f"theta-step must be one of {THETA_STEPS}"),
            (self.delta_scale in DELTA_SCALES, f"delta-scale must be one of {DELTA_SCALES}"),
            (self.centre in ("zero", "mean"), "centre must be 'zero' or 'mean'"),
            (self.sampler in SAMPLERS, f"sampler must be one of {SAMPLERS}"),
            (self.precondition in PRECONDITIONERS,
             f"precondition must be one of {PRECONDITIONERS}"),
            (self.mala_energy in MALA_ENERGIES, f"mala-energy must be one of {MALA_ENERGIES}"),
            (isinstance(self.checkpoint_every, int) and self.checkpoint_every >= 1,
             "checkpoint-every must be >= 1"),
            (isinstance(self.average_last, int) and 0 <= self.average_last <= self.iterations,
             "average-last must be between 0 and the number of iterations"),
            (isinstance(self.seed, int) and 0 <= self.seed < 2**63,
             "seed must be an integer between 0 and 2^63 - 1"),
        ]

    def validate(self):
        """Raise ``ValueError`` naming the first impossible setting; return ``self``."""
        for ok, message in self.checks():
            if not ok:
                raise ValueError(message)
        make_projection(self.projection)
        self.spec()
        return self

    # ---------------------------------------------------------------- derived objects
    def spec(self) -> feats.FeatureSpec:
        """The feature specification (preset or layers, with overrides)."""
        return feats.get_spec(self.preset, layers=self.layers, activation=self.activation,
                              pooling=self.pooling, padding=self.padding,
                              colour=self.colour or None, remat=self.remat or None,
                              precision=self.precision, conv=self.conv)

    def theta_delta(self, pixels: Optional[int] = None) -> float:
        """The theta step used for chains of ``pixels`` = H W pixels: ``delta``, or with
        ``delta_scale="pixels"`` ``delta x 4096 / (H W)``.

        Why: with the extensive energy U = |Omega| <theta, F - F0> + r, a change of theta
        moves grad_x U, and so the chains, in proportion to |Omega| = H W, so a constant delta
        makes the theta loop's gain grow like H W (measured: at 128 px the default delta's
        chains and theta swing around F(x0), docs/fidelity.md). In the seed's per-image
        parametrisation theta' = |Omega| theta, a constant step delta' is delta = delta' /
        |Omega| here: the scaled step is that, anchored so that 64 x 64 px is unchanged.
        """
        if self.delta_scale == "none":
            return self.delta
        if pixels is None:
            raise ValueError("delta-scale pixels needs the chains' size")
        return self.delta * (DELTA_REFERENCE_PIXELS / pixels)

    def theta_optimizer(self, pixels: Optional[int] = None) -> optax.GradientTransformation:
        """The theta step as an optax transformation (for chains of ``pixels`` = H W pixels
        when ``delta_scale`` is ``"pixels"``)."""
        optimism = self.optimism if self.theta_step == "optimistic" else 0.0
        return theta_optimizer(self.theta_delta(pixels), kind=self.optimizer,
                               optimism=optimism, decay=self.decay)

    def gamma_schedule(self) -> Schedule:
        """n -> gamma_n (constant, or gamma (n+1)^-0.2 with ``decay``)."""
        return inverse_power(self.gamma, 0.2) if self.decay else constant(self.gamma)

    def average_from(self) -> int:
        """First outer step whose end positions enter the running average (2^30: none)."""
        return self.iterations - self.average_last if self.average_last else 2**30

    def soul_options(self, pixels: Optional[int] = None) -> dict[str, Any]:
        """Keyword arguments of :func:`maxent_jax.sampling.soul.soul` (everything but the
        energy and the block sizes) for chains of ``pixels`` = H W pixels."""
        return dict(optimizer=self.theta_optimizer(pixels), step_size=self.gamma_schedule(),
                    projection=make_projection(self.projection),
                    average_from=self.average_from(), sampler=self.sampler,
                    probe_every=self.probe_every, mala_energy=self.mala_energy)

    def chunks(self) -> list[tuple[int, int, int]]:
        """``(start, length, m)`` of every compiled chunk (see :func:`chunk_plan`)."""
        return chunk_plan(self.iterations, self.checkpoint_every, self.inner_steps,
                          0.5 if self.decay else 0.0)

    # ---------------------------------------------------------------- records
    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown settings {unknown}")
        data = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items()}
        return cls(**data)


def chunk_plan(iterations: int, cadence: int, m0: int, c: float = 0.0
               ) -> list[tuple[int, int, int]]:
    """``(start, length, m)`` of every chunk: stage boundaries of m_n and multiples of the
    cadence cut them. Every chunk is run by a program compiled for ``cadence`` steps (a
    shorter one stops early), so a remainder chunk compiles nothing new."""
    out, start = [], 0
    for length, m in stages(iterations, m0, c):
        end = start + length
        while start < end:
            stop = min(end, (start // cadence + 1) * cadence)
            out.append((start, stop - start, m))
            start = stop
    return out

