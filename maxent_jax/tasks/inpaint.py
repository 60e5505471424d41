"""Texture inpainting: Gaussian conditional simulation (kriging) and the macrocanonical CNN model.

An image ``u`` on the grid Omega (H x W, C channels) is known outside a mask M (the white pixels
of a mask image) and unknown on M. We draw random completions X with ``X = u`` on
``omega = Omega \\ M``: known pixels are never changed, by construction
(``X = where(M, chain, u)``), so they are bit-for-bit those of ``u``.

**Gaussian model** (Galerne & Leclaire, SIAM J. Imaging Sciences 10(3), 2017; Galerne,
Leclaire & Moisan, ICASSP 2016). The texture is modelled as ADSN: ``F = m + t * W`` (W standard
white Gaussian noise, the same for every channel, ``*`` the periodic convolution on Omega), so
``F ~ N(m, Gamma)`` with ``Gamma = A A^T``, ``A w = t * w``, i.e. in Fourier

    (Gamma v)^_c(k) = t^_c(k) sum_c' conj(t^_c'(k)) v^_c'(k).

The model is estimated on the known pixels (the "naive" estimator of Galerne & Leclaire):
``m = |omega|^{-1} sum_omega u`` and ``t = |omega|^{-1/2} (u - m) 1_omega``; or from a separate
exemplar x0 (``t = |Omega|^{-1/2} (p - m0)``, ``p`` its periodic component spot-extended to Omega,
as in :func:`maxent_jax.gaussian.adsn`). Conditioning on the values on a set C of known pixels
(by default the known pixels within ``border`` pixels of M; or all of them):

    kriging (conditional mean)    u*(x) = m + Gamma_{x C} Gamma_{C C}^{-1} (u_C - m),
    conditional simulation        X = F + Gamma_{. C} Gamma_{C C}^{-1} (u_C - F_C),

and X has the law of F given ``F_C = u_C`` exactly (simple kriging of the residual of an
independent unconditional sample). ``Gamma_CC psi = r`` is solved by conjugate gradient, each
product by ``Gamma`` costing a few FFTs on Omega; a small nugget ``lambda I`` (``jitter`` times
the mean variance) keeps the system well posed (ADSN colour covariances are rank one per
frequency, so ``Gamma_CC`` can be singular).

**CNN model** (De Bortoli, Desolneux, Durmus, Galerne & Leclaire, SIMODS 2021: macrocanonical
models as image priors). Global channel means barely feel a small hole, so the constrained
statistics are local to it: ``F_M(x)``, the channel means of every layer over the positions
whose receptive field meets M (and the RGB statistics of the pixels of M, with ``colour``).
The chains move only the unknown pixels:

    Pi_theta(dz) ∝ exp(-U_theta(where(M, z, u))) dz,
    U_theta(x) = beta |Omega| <theta, F_M(x) - F0> + (eps / 2) ||x - c||^2,

with theta learned by SOUL so that ``E[F_M(X)] = F0``: the hole and its surroundings must, on
average, have the statistics of the known part. ``F0`` is learned on the known part (channel
means over the positions that see known pixels only, :func:`feature_regions`) or is ``F(x0)``
of a separate exemplar. Positions whose receptive field reaches the padding (zero, reflected or
wrapped pixels) enter neither average. Chains start from Gaussian conditional samples. ``|Omega| = H W`` (the
extensive energy of :mod:`maxent_jax.sampling.energy`; 1 with ``extensive=False``) lets the settings
of synthesis (``gamma = 1e-7``, ``delta = 0.02``, the plain SOUL theta step, eps, circular
padding; :class:`maxent_jax.run.settings.SOULConfig`) carry over.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp
import jax.scipy.sparse.linalg as jsl
import numpy as np

from maxent_jax.nn import features as feats
from maxent_jax.sampling.energy import EnergyFn, macrocanonical_energy, reference_centre
from maxent_jax.gaussian import prepare_spot, validate_image
from maxent_jax.io import load_image
from maxent_jax.nn.backbone import Backbone, as_backbone, check_image_size
from maxent_jax.nn.vgg import LAYER_NAMES
from maxent_jax.run.checkpoint import to_host
from maxent_jax.run.settings import SOULConfig, setting
from maxent_jax.run.task import run_identity, run_soul_task
from maxent_jax.sampling.soul import SOULState

__all__ = [
    "validate_mask",
    "load_mask",
    "GaussianModel",
    "KrigingInfo",
    "gaussian_model",
    "model_sample_from_noise",
    "covariance_matvec",
    "conditioning_set",
    "kriging",
    "conditional_mean",
    "conditional_sample_from_noise",
    "gaussian_inpaint",
    "FeatureRegions",
    "feature_regions",
    "region_features",
    "regions_used",
    "known_features",
    "exemplar_features",
    "hole_feature_fn",
    "inpainting_energy",
    "InpaintConfig",
    "InpaintResult",
    "inpaint_image",
]

Array = jax.Array
_AXES = (0, 1)


# --------------------------------------------------------------------------------------------
# Masks
# --------------------------------------------------------------------------------------------

def validate_mask(mask: Any, shape: tuple[int, ...]) -> Array:
    """Check a binary mask for an image of ``shape``; return it as a boolean ``(H, W)`` array.

    ``True`` (1, white) marks an unknown pixel. Accepted: ``(H, W)``, or ``(H, W, 1|3)`` with
    equal channels; boolean, or numbers that are all exactly 0 or 1. Inside ``jit`` (a traced
    mask) only the shape is checked.

    Raises:
      ValueError: wrong size, unequal channels, values other than 0 and 1 (incl. NaN), no unknown
        pixel (empty mask) or no known pixel (full mask).
    """
    if isinstance(mask, jax.core.Tracer):
        if tuple(mask.shape[:2]) != tuple(shape[:2]):
            raise ValueError(f"the mask has shape {mask.shape} but the image is {shape[:2]}")
        return (mask[..., 0] if mask.ndim == 3 else mask).astype(bool)
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[-1] in (1, 3):
        if not (m == m[..., :1]).all():
            raise ValueError("the mask's colour channels differ; give a black and white mask")
        m = m[..., 0]
    if m.ndim != 2 or m.shape != tuple(shape[:2]):
        raise ValueError(f"the mask has shape {np.shape(mask)} but the image is "
                         f"{shape[0]}x{shape[1]}; they must have the same height and width")
    if m.dtype != bool and not np.isin(m, (0, 1)).all():
        raise ValueError("the mask must be binary (0 = known, 1 = unknown); found values "
                         f"{np.unique(m)[:6]} (threshold anti-aliased masks first)")
    m = m.astype(bool)
    if not m.any():
        raise ValueError("the mask is empty: no unknown (white) pixel to inpaint")
    if m.all():
        raise ValueError("the mask is full: no known (black) pixel to condition on")
    return jnp.asarray(m)


def load_mask(path: Union[str, Path], shape: tuple[int, ...]) -> Array:
    """Read a mask image (white = unknown) and :func:`validate_mask` it against ``shape``."""
    return validate_mask(load_image(path), shape)


def _known_weights(mask: Array) -> Array:
    """``(H, W, 1)`` float indicator of the known pixels."""
    return (~mask)[..., None].astype(jnp.float32)


# --------------------------------------------------------------------------------------------
# Gaussian model and its covariance operator
# --------------------------------------------------------------------------------------------

class GaussianModel(NamedTuple):
    """ADSN model ``F = mean + spot * W``: mean ``(C,)``, normalised spot ``(H, W, C)``."""

    mean: Array
    spot: Array


class KrigingInfo(NamedTuple):
    """Relative residual ``||(Gamma_CC + lambda) psi - r|| / ||r||`` of the CG solve."""

    residual: Array


def _rfft2(x: Array) -> Array:
    return jnp.fft.rfft2(x, axes=_AXES)


def _irfft2(x_hat: Array, size: tuple[int, int]) -> Array:
    return jnp.fft.irfft2(x_hat, s=size, axes=_AXES)


def _spot_from_exemplar(exemplar: Array, size: tuple[int, int]) -> GaussianModel:
    crop = exemplar[: size[0], : size[1]]
    spot = prepare_spot(crop, size=size)
    mean = jnp.mean(spot, axis=_AXES)
    return GaussianModel(mean, (spot - mean) / np.sqrt(size[0] * size[1]))


def gaussian_model(image: Any, mask: Any, *, exemplar: Any = None) -> GaussianModel:
    """Estimate the ADSN model on the known pixels of ``image`` (or on ``exemplar``).

    Known part: ``m = mean of u over omega``, ``t = |omega|^{-1/2} (u - m) 1_omega``
    (Galerne & Leclaire 2017, §3). Exemplar: its periodic component, cropped to the image size
    if larger and spot-extended if smaller (:func:`maxent_jax.gaussian.prepare_spot`),
    ``t = |Omega|^{-1/2} (p - m0)``. The exemplar must have the image's channel count.
    """
    image = validate_image(image, name="image")
    mask = validate_mask(mask, image.shape)
    if exemplar is not None:
        exemplar = validate_image(exemplar, name="exemplar")
        if exemplar.shape[-1] != image.shape[-1]:
            raise ValueError(f"the exemplar has {exemplar.shape[-1]} channels and the image "
                             f"{image.shape[-1]}; they must match")
        return _spot_from_exemplar(exemplar, image.shape[:2])
    known = _known_weights(mask)
    count = jnp.sum(known)
    mean = jnp.sum(image * known, axis=_AXES) / count
    return GaussianModel(mean, (image - mean) * known / jnp.sqrt(count))


def model_sample_from_noise(model: GaussianModel, noise: Array) -> Array:
    """``F = m + t * W`` for a given ``(H, W)`` noise (periodic convolution by FFT)."""
    size = model.spot.shape[:2]
    return model.mean + _irfft2(_rfft2(model.spot) * _rfft2(noise)[..., None], size)


def _covariance_operator(model: GaussianModel) -> Callable[[Array], Array]:
    """``v -> Gamma v`` with the spot's FFT computed once (outside the CG loop)."""
    t_hat, size = _rfft2(model.spot), model.spot.shape[:2]

    def apply(v: Array) -> Array:
        mixed = jnp.sum(jnp.conj(t_hat) * _rfft2(v), axis=-1, keepdims=True)
        return _irfft2(t_hat * mixed, size)

    return apply


def covariance_matvec(model: GaussianModel, v: Array) -> Array:
    """``Gamma v`` for ``v`` ``(H, W, C)``: ``t^_c sum_c' conj(t^_c') v^_c'`` in Fourier."""
    return _covariance_operator(model)(v)


def conditioning_set(mask: Array, border: Optional[int] = 3) -> Array:
    """Known pixels within ``border`` pixels (Chebyshev distance) of the mask; ``None``: all known.

    Galerne & Leclaire (2017) condition on such a band around the hole: the values far from
    it barely change the conditional law, and the linear system is much smaller.
    """
    mask = jnp.asarray(mask, bool)
    if border is None:
        return ~mask
    if border < 1:
        raise ValueError(f"border must be >= 1 pixel (or None for every known pixel), got {border}")
    near = jax.lax.reduce_window(mask.astype(jnp.float32), 0.0, jax.lax.max,
                                 (2 * border + 1, 2 * border + 1), (1, 1),
                                 [(border, border), (border, border)])
    return (near > 0) & ~mask


def _nugget(model: GaussianModel, jitter: float) -> Array:
    """``lambda = jitter * mean_c Gamma_cc(0)`` (the mean pixel variance of the model)."""
    return jitter * jnp.mean(jnp.sum(model.spot**2, axis=_AXES))


def kriging(model: GaussianModel, residual: Array, cond: Array, *, jitter: float = 1e-3,
            tol: float = 1e-5, maxiter: int = 1000) -> tuple[Array, KrigingInfo]:
    """Kriging component ``Gamma_{. C} (Gamma_CC + lambda I)^{-1} residual_C`` on all of Omega.

    ``residual`` is ``(H, W, C)`` (only its values on C matter); the system is solved by
    conjugate gradient (``jax.scipy.sparse.linalg.cg``) on vectors supported on C, with
    ``Gamma`` applied by FFT (:func:`covariance_matvec`); ``lambda`` as in the module docstring
    (``jitter = 0``: exact kriging). Galerne & Leclaire (2017), §4.
    """
    on_c = jnp.asarray(cond, bool)[..., None].astype(residual.dtype)
    lam, gamma = _nugget(model, jitter), _covariance_operator(model)

    def matvec(v: Array) -> Array:
        return on_c * gamma(on_c * v) + lam * on_c * v

    rhs = on_c * residual
    psi, _ = jsl.cg(matvec, rhs, tol=tol, maxiter=maxiter)
    psi = on_c * psi
    error = jnp.linalg.norm(matvec(psi) - rhs) / jnp.maximum(jnp.linalg.norm(rhs), 1e-30)
    return gamma(psi), KrigingInfo(error)


def conditional_mean(model: GaussianModel, image: Any, cond: Array,
                     **solver: Any) -> tuple[Array, KrigingInfo]:
    """Simple kriging ``E[F | F_C = u_C] = m + Gamma_{. C} Gamma_CC^{-1} (u_C - m)``."""
    component, info = kriging(model, jnp.asarray(image) - model.mean, cond, **solver)
    return model.mean + component, info


def conditional_sample_from_noise(model: GaussianModel, image: Any, cond: Array, noise: Array,
                                  **solver: Any) -> tuple[Array, KrigingInfo]:
    """``X = F + Gamma_{. C} Gamma_CC^{-1} (u_C - F_C)`` with ``F`` driven by ``noise`` (H, W).

    Exact conditional simulation of N(m, Gamma) given ``X_C = u_C`` (up to the nugget and the
    CG tolerance). The known pixels are NOT yet restored: see :func:`gaussian_inpaint`.
    """
    f = model_sample_from_noise(model, noise)
    component, info = kriging(model, jnp.asarray(image) - f, cond, **solver)
    return f + component, info


def gaussian_inpaint(key: Array, image: Any, mask: Any, *, exemplar: Any = None,
                     border: Optional[int] = 3, num: Optional[int] = None, jitter: float = 1e-3,
                     tol: float = 1e-5, maxiter: int = 1000) -> tuple[Array, KrigingInfo]:
    """Gaussian texture inpainting (Galerne & Leclaire 2017): conditional samples, known kept.

    Returns ``(samples, info)``: one ``(H, W, C)`` sample for ``num=None``, else ``num`` samples
    ``(num, H, W, C)`` from ``jax.random.split(key, num)``; ``samples = where(M, X, u)``, so
    the known pixels are exactly those of ``image``. ``border``: width of the conditioning band
    (``None``: condition on every known pixel). ``jitter``, ``tol``, ``maxiter``: see
    :func:`kriging`.
    """
    image = validate_image(image, name="image")
    mask = validate_mask(mask, image.shape)
    model = gaussian_model(image, mask, exemplar=exemplar)
    cond = conditioning_set(mask, border)
    solver = dict(jitter=jitter, tol=tol, maxiter=maxiter)

    def one(k: Array) -> tuple[Array, KrigingInfo]:
        noise = jax.random.normal(k, image.shape[:2], image.dtype)
        x, info = conditional_sample_from_noise(model, image, cond, noise, **solver)
        return jnp.where(mask[..., None], x, image), info

    return one(key) if num is None else jax.vmap(one)(jax.random.split(key, num))


# --------------------------------------------------------------------------------------------
# CNN (macrocanonical) model
# --------------------------------------------------------------------------------------------

class FeatureRegions(NamedTuple):
    """Per layer, ``(H_l, W_l)`` booleans: positions seeing only known pixels (``known``) and
    positions seeing some unknown pixel (``hole``), both away from the padding."""

    known: dict[str, Array]
    hole: dict[str, Array]


def _propagate(spec: feats.FeatureSpec, pixels: Array, outside: float) -> dict[str, Array]:
    """Receptive-field reach of a pixel set: each 3x3 convolution dilates it by one position
    (the padding counting as ``outside``), each 2x2 pooling marks a position if any input is."""
    reach = jnp.asarray(pixels, jnp.float32)
    out: dict[str, Array] = {}
    last = max(LAYER_NAMES.index(n) for n in spec.layers)
    for name in LAYER_NAMES[: last + 1]:
        if name.startswith("conv"):
            padded = jnp.pad(reach, 1, constant_values=outside)
            reach = jax.lax.reduce_window(padded, 0.0, jax.lax.max, (3, 3), (1, 1), "VALID")
        elif name.startswith("pool"):
            reach = jax.lax.reduce_window(reach, 0.0, jax.lax.max, (2, 2), (2, 2), "VALID")
        if name in spec.layers:
            out[name] = reach > 0
    return out


def feature_regions(spec: feats.FeatureSpec, mask: Array) -> FeatureRegions:
    """Where each layer's channel means are taken for inpainting (see :class:`FeatureRegions`).

    Only *interior* positions count, those whose receptive field lies inside the image (so
    the padding, which biases activations near the border, enters neither set). A layer
    where either set is empty (a small image, a large hole) falls back to all its positions
    for both.
    """
    mask = jnp.asarray(mask, bool)
    border = _propagate(spec, jnp.zeros(mask.shape), 1.0)
    touched = _propagate(spec, mask, 0.0)
    known, hole = {}, {}
    for name in spec.layers:
        k, h = ~border[name] & ~touched[name], ~border[name] & touched[name]
        usable = jnp.any(k) & jnp.any(h)
        known[name] = jnp.where(usable, k, True)
        hole[name] = jnp.where(usable, h, True)
    return FeatureRegions(known, hole)


def _region_mean(act: Array, region: Array) -> Array:
    """Channel means over the positions of ``region``; over all positions if it is empty."""
    w = region[..., None].astype(act.dtype)
    count = jnp.sum(w)
    masked = jnp.sum(act * w, axis=_AXES) / jnp.maximum(count, 1.0)
    return jnp.where(count > 0, masked, jnp.mean(act, axis=_AXES))


def _region_colour_statistics(x: Array, region: Array) -> Array:
    """RGB mean and covariance (upper triangle) over the pixels of ``region`` ``(H, W)``."""
    rgb = jnp.broadcast_to(x, x.shape[:-1] + (3,)).reshape(-1, 3)
    w = region.reshape(-1, 1).astype(x.dtype)
    mean = jnp.sum(rgb * w, axis=0) / jnp.sum(w)
    centred = (rgb - mean) * jnp.sqrt(w)
    cov = jnp.matmul(centred.T, centred, precision=jax.lax.Precision.HIGHEST) / jnp.sum(w)
    rows, cols = jnp.triu_indices(3)
    return jnp.concatenate([mean, cov[rows, cols]])


def region_features(backbone: Backbone, x: Array, regions: Mapping[str, Array],
                    pixels: Array) -> Array:
    """F restricted to regions: per layer l, channel means of phi_l(x) over ``regions[l]``
    (``(H_l, W_l)`` booleans; all positions where empty), colour statistics over ``pixels``."""
    spec = backbone.spec
    acts = backbone.activations(x)
    tree = {n: _region_mean(acts[n], regions[n]) for n in spec.layers}
    if spec.colour:
        tree["colour"] = _region_colour_statistics(x, pixels)
    return feats.flatten(spec, tree)


def regions_used(spec: feats.FeatureSpec, regions: FeatureRegions) -> Array:
    """Per layer, True where :func:`feature_regions` found proper (disjoint) known/hole sets."""
    return jnp.stack([~jnp.all(regions.known[n] & regions.hole[n]) for n in spec.layers])


def known_features(backbone: Backbone, filled: Array, mask: Array) -> Array:
    """F0 of the known part: channel means over the ``known`` positions of
    :func:`feature_regions`, colour statistics over the known pixels.

    ``filled`` is the image with its hole filled (e.g. by :func:`gaussian_inpaint`); it only
    matters for the layers that fall back to all positions.
    """
    regions = feature_regions(backbone.spec, mask)
    return region_features(backbone, filled, regions.known, ~jnp.asarray(mask, bool))


def exemplar_features(backbone: Backbone, exemplar: Array) -> Array:
    """F0 of a separate exemplar: channel means over its interior positions (receptive field
    inside the image; all positions where there are none), as for :func:`known_features`."""
    border = _propagate(backbone.spec, jnp.zeros(exemplar.shape[:2]), 1.0)
    interior = {n: jnp.where(jnp.any(~b), ~b, True) for n, b in border.items()}
    return region_features(backbone.resized(exemplar.shape[:2]), exemplar, interior,
                           jnp.ones(exemplar.shape[:2], bool))


def hole_feature_fn(backbone: Backbone, mask: Array) -> Callable[[Array], Array]:
    """``x -> F_M(x)``: channel means over the ``hole`` positions of :func:`feature_regions`
    (those the unknown pixels reach), colour statistics over the mask's pixels.

    These are the statistics the unknown pixels can change; matching them to the known part's
    (:func:`known_features`) asks the hole and its surroundings to look like the rest.
    """
    return functools.partial(region_features, backbone,
                             regions=feature_regions(backbone.spec, mask).hole,
                             pixels=jnp.asarray(mask, bool))


def inpainting_energy(energy_fn: EnergyFn, image: Array, mask: Array) -> EnergyFn:
    """``(theta, z) -> energy_fn(theta, where(M, z, u))``: only the unknown pixels of z matter.

    grad_z is zero on the known pixels; they never enter the image, which is always rebuilt
    as ``where(M, z, u)``.
    """
    unknown = jnp.asarray(mask, bool)[..., None]

    def energy(theta: Array, z: Array) -> tuple[Array, Array]:
        return energy_fn(theta, jnp.where(unknown, z, image))

    return energy


@dataclasses.dataclass(frozen=True)
class InpaintConfig(SOULConfig):
    """Settings of an inpainting run (written to ``config.json``).

    model: ``"gaussian"`` (kriging + conditional simulation only) or ``"cnn"`` (SOUL, started
    from Gaussian conditional samples). border, jitter, cg_tol, cg_maxiter: the Gaussian
    conditioning (:func:`gaussian_inpaint`). The features and the sampler (constant steps,
    gamma = 1e-7, delta = 0.02, the plain SOUL theta step, extensive energy):
    :class:`maxent_jax.run.settings.SOULConfig`.
    """

    iterations: int = setting(300, "run", "outer SOUL steps (cnn)")
    checkpoint_every: int = setting(25, "run", "outer steps per compiled chunk; on the "
                                    "command line also writes checkpoint.npz every K steps",
                                    metavar="K")
    model: str = setting("gaussian", "task", "gaussian: exact conditional simulation of the "
                         "ADSN model; cnn: macrocanonical CNN model, started from Gaussian "
                         "samples", choices=("gaussian", "cnn"))
    border: Optional[int] = setting(3, "task", "width of the band of known pixels "
                                    "conditioned on (None: all known pixels)", cli=False)
    jitter: float = setting(1e-3, "task", "kriging nugget, relative to the mean pixel variance")
    cg_tol: float = setting(1e-5, "task", "conjugate-gradient tolerance", cli=False)
    cg_maxiter: int = setting(1000, "task", "conjugate-gradient iterations", cli=False)

    def checks(self) -> list[tuple[bool, str]]:
        return [(self.model in ("gaussian", "cnn"), "model must be 'gaussian' or 'cnn'")] + [
            *super().checks(),
            (np.isfinite(self.jitter) and self.jitter >= 0, "jitter must be a finite number >= 0"),
            (self.cg_tol > 0 and self.cg_maxiter >= 1, "cg-tol must be > 0 and cg-maxiter >= 1"),
            (self.border is None or self.border >= 1, "border must be >= 1 (or None: all known)"),
            (self.precondition == "none", "precondition: inpainting supports only 'none' (a "
                                          "Fourier preconditioner would couple the known "
                                          "pixels, which carry no energy, to the unknown ones)"),
        ]


class InpaintResult(NamedTuple):
    """Completed images ``(C, H, W, ch)`` (known pixels exact), their average (or None), the
    Gaussian (starting) samples, the trace (only ``cg_residual`` for the Gaussian model) and
    the SOUL state (None for the Gaussian model)."""

    images: np.ndarray
    average: Optional[np.ndarray]
    gaussian: np.ndarray
    trace: dict[str, np.ndarray]
    state: Optional[SOULState]


def _energy(config: InpaintConfig, backbone: Backbone, image: Array, mask: Array,
            target: Array) -> EnergyFn:
    """U_theta of the module docstring, on the unknown pixels of ``image``."""
    centre = reference_centre(image, config.centre) if config.eps else 0.0
    base = macrocanonical_energy(hole_feature_fn(backbone, mask), target, beta=config.beta,
                                 eps=config.eps, centre=centre, extensive=config.extensive)
    return inpainting_energy(base, image, mask)


def _gaussian_start(key: Array, image: Array, mask: Array, exemplar: Any,
                    config: InpaintConfig) -> tuple[np.ndarray, np.ndarray]:
    samples, info = jax.jit(lambda k, u, m, x0: gaussian_inpaint(
        k, u, m, exemplar=x0, border=config.border, num=config.chains, jitter=config.jitter,
        tol=config.cg_tol, maxiter=config.cg_maxiter))(key, image, mask, exemplar)
    return np.asarray(samples), np.asarray(info.residual)


def inpaint_image(image: Any, mask: Any, network: Optional[Union[Backbone, Mapping[str, Any]]],
                  config: InpaintConfig, *, exemplar: Any = None, out_dir: Optional[Path] = None,
                  resume: bool = False, checkpoint: bool = False, progress: bool = False,
                  devices: Optional[int] = None,
               allow_step_change: bool = False) -> InpaintResult:
    """Inpaint with the Gaussian model (``config.model == "gaussian"``) or the CNN model.

    Imperative shell: compiles the Gaussian sampler and, for the CNN model, runs SOUL through
    the shared task shell (:func:`maxent_jax.run.task.run_soul_task`: chunks, checkpoints and
    resume, divergence, progress). ``network`` (a :class:`Backbone` or Flax variables) may be
    None for the Gaussian model. The trace holds the SOUL trace plus ``regions_used`` (per
    layer, False where :func:`feature_regions` fell back to all positions) and
    ``cg_residual`` (per chain).
    """
    config.validate()
    image = validate_image(image, name="image")
    mask = validate_mask(mask, image.shape)
    if exemplar is not None:
        exemplar = validate_image(exemplar, name="exemplar")
    gauss_key, run_key = jax.random.split(jax.random.key(config.seed))
    start, residual = _gaussian_start(gauss_key, image, mask, exemplar, config)
    if config.model == "gaussian":
        return InpaintResult(start, None, start, {"cg_residual": residual}, None)
    if network is None:
        raise ValueError("the CNN model needs the VGG-19 network")
    spec = config.spec()
    check_image_size(image.shape[:2], spec, "the image")
    if exemplar is not None:
        check_image_size(exemplar.shape[:2], spec, "the exemplar")
    backbone = as_backbone(network, config.spec(), tuple(image.shape[:2]))
    if exemplar is not None:
        target = exemplar_features(backbone, exemplar)
    else:
        target = known_features(backbone, jnp.asarray(start[0]), mask)
    used = regions_used(spec, feature_regions(spec, mask))
    inputs = dict(image=image, mask=np.asarray(mask, np.float32))
    if exemplar is not None:
        inputs["exemplar"] = exemplar
    run = run_soul_task(config, backbone, _energy, (image, mask, target), jnp.asarray(start),
                        target, run_key, identity=run_identity(config, backbone, **inputs),
                        out_dir=out_dir, resume=resume, checkpoint=checkpoint,
                        progress=progress, devices=devices, desc="inpaint",
                        allow_step_change=allow_step_change)
    trace = dict(run.trace)
    trace.update(cg_residual=residual, regions_used=np.asarray(used))
    state = run.state
    images = np.asarray(jnp.where(mask[..., None], to_host(state.positions), image))
    average = (np.asarray(jnp.where(mask[..., None], to_host(state.average), image))
               if int(state.num_averaged) > 0 else None)
    return InpaintResult(images, average, start, trace, state)
