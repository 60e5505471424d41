"""Gaussian textures: ADSN, random phase noise, periodic component, spot extension, texton.

The ground floor of the library (it imports nothing else of it): one file per algorithm,
``checks`` (input validation), ``fourier`` (FFTs, mean and autocorrelation), ``periodic``
(periodic + smooth decomposition), ``spot`` (spot and spot extension), ``adsn``, ``rpn``
(random phase noise, texton), ``resample`` (periodic Fourier resampling, fine frequencies drawn
given coarse ones); every public function is re-exported here.

With the features F = (mean, autocorrelation), the maximum-entropy (macrocanonical) model of an
exemplar x0 is the stationary Gaussian N(m0, C0). This module samples it exactly, by FFT:

* **ADSN** (asymptotic discrete spot noise), Galerne, Gousseau & Morel 2011:
  ``X = m0 + |Omega|^{-1/2} (x0 - m0) * W`` with W standard white Gaussian noise on the periodic
  domain Omega and ``*`` the periodic convolution. Colour: the SAME W for every channel, so the
  cross-channel covariance is kept. X ~ N(m0, C0) with C0 the periodic autocorrelation of x0
  (see :func:`mean_and_autocorrelation` for the convention).
* **RPN** (random phase noise): ``X_hat = FFT(x0 - m0) . exp(i phi)`` (+ m0 at the DC term), phi a
  uniform Hermitian-symmetric random phase, the same for every channel (so the phase differences
  between channels, i.e. the colours, are kept). Every sample has exactly the Fourier modulus of x0.
* **Periodic component** (Moisan 2011): x0 = p + s with s smooth; using p instead of x0 removes the
  cross artefacts the periodic convolution creates at the image borders.
* **Spot extension**: outputs larger than the exemplar, by embedding the windowed, rescaled spot in a
  mean-valued canvas (Galerne, Gousseau & Morel, IPOL 2011).
* **Non-periodic ADSN**: zero-pad the spot, synthesise on a larger periodic domain, crop.
* **Texton**: the zero-phase spot, a compact picture of the model.

Conventions: images are ``float32`` arrays ``(H, W, C)`` with C = 1 or 3 (values nominally in
[0, 1]; samples are not clipped). FFTs act on axes (0, 1) and use the real transforms
(``rfft2``/``irfft2``), so every sample is real by construction. |Omega| = H W.
All functions are pure and work under ``jax.jit`` and ``jax.vmap``; keyword arguments that set
shapes (``size``, ``num``, ``periodic``, ``border``) must be static under ``jit``. The library never
jits for you. Validation (shape, channels, sizes) happens in every public function; the NaN/inf
check only runs on concrete arrays (it is skipped on tracers, i.e. inside ``jit``/``vmap``).

References:
  B. Galerne, Y. Gousseau, J.-M. Morel. Random phase textures: theory and synthesis.
  IEEE Trans. Image Processing 20(1):257-267, 2011.
  B. Galerne, Y. Gousseau, J.-M. Morel. Micro-texture synthesis by phase randomization.
  Image Processing On Line 1, 2011.
  L. Moisan. Periodic plus smooth image decomposition. J. Math. Imaging Vision 39(2):161-179, 2011.
  A. Desolneux, L. Moisan, S. Ronsin. A compact representation of random phase and Gaussian
  textures. ICASSP 2012 (the texton).
"""

from maxent_jax.gaussian.checks import validate_image, validate_num, validate_size
from maxent_jax.gaussian.fourier import mean_and_autocorrelation
from maxent_jax.gaussian.periodic import periodic_component, periodic_smooth_decomposition
from maxent_jax.gaussian.spot import prepare_spot, spot_extension
from maxent_jax.gaussian.adsn import (adsn, adsn_from_noise, adsn_nonperiodic,
                                      adsn_nonperiodic_from_noise)
from maxent_jax.gaussian.rpn import random_phase, random_phase_noise, rpn_from_phase, texton
from maxent_jax.gaussian.resample import fourier_resample, refine

__all__ = [
    "validate_image",
    "validate_size",
    "validate_num",
    "mean_and_autocorrelation",
    "periodic_smooth_decomposition",
    "periodic_component",
    "spot_extension",
    "prepare_spot",
    "adsn_from_noise",
    "adsn",
    "adsn_nonperiodic_from_noise",
    "adsn_nonperiodic",
    "random_phase",
    "rpn_from_phase",
    "random_phase_noise",
    "texton",
    "fourier_resample",
    "refine",
]
