"""Random phase noise (Galerne, Gousseau & Morel, IEEE TIP 2011): ``X_hat = FFT(x0 - m0)
exp(i phi)``, phi a uniform Hermitian random phase shared by the channels; and the texton,
the zero-phase spot (Desolneux, Moisan & Ronsin, ICASSP 2012).
"""

from __future__ import annotations

from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from maxent_jax.gaussian.checks import (Array, _validate_grid, validate_image, validate_num,
                                        validate_size)
from maxent_jax.gaussian.fourier import _AXES, _irfft2, _mean, _rfft2
from maxent_jax.gaussian.periodic import _periodic_smooth
from maxent_jax.gaussian.spot import prepare_spot
from maxent_jax.gaussian.adsn import _batched

__all__ = ["random_phase", "rpn_from_phase", "random_phase_noise", "texton"]


def _hermitian_column(col: Array) -> Array:
    """Make a column of unit phases Hermitian: ``u(-q) = conj(u(q))``, ``+-1`` where ``q = -q``."""
    h = col.shape[0]
    q = np.arange(h)
    col = jnp.where(q > h // 2, jnp.conj(jnp.roll(col[::-1], 1)), col)
    self_conj = (q == 0) | (2 * q == h)
    return jnp.where(self_conj, jnp.where(col.real < 0, -1.0, 1.0).astype(col.dtype), col)


def random_phase(key: Array, size: Sequence[int]) -> Array:
    """Uniform random phase ``exp(i phi)`` on the ``rfft2`` grid ``(H, W // 2 + 1)``.

    ``phi = angle(FFT(w))`` for real white Gaussian noise ``w = jax.random.normal(key, (H, W))``:
    uniform on [0, 2 pi), independent up to the Hermitian symmetry ``phi(-k) = -phi(k)``, and
    uniform on {0, pi} at the self-conjugate frequencies (Nyquist ones), where it is set to exactly
    ``+-1``; the symmetry is enforced exactly on the columns ``r = 0`` and ``r = W/2`` of the half
    grid. The DC term is exactly 1 so that random phase noise keeps the mean.
    (Galerne, Gousseau, Morel, IEEE TIP 2011.)
    """
    h, w = validate_size(size)
    phase = jnp.exp(1j * jnp.angle(jnp.fft.rfft2(jax.random.normal(key, (h, w)))))
    for r in (0, w // 2) if w % 2 == 0 else (0,):
        phase = phase.at[:, r].set(_hermitian_column(phase[:, r]))
    return phase.at[0, 0].set(1)


def _rpn_from_phase(phase: Array, spot: Array) -> Array:
    m = _mean(spot)
    return m + _irfft2(_rfft2(spot - m) * phase[..., None], spot.shape[:2])


def rpn_from_phase(phase: Array, spot: Array) -> Array:
    """Random phase noise of ``spot`` for a given unit phase ``phase`` (shape ``(H, W//2 + 1)``).

    ``X_c = m_c + IFFT(FFT(spot_c - m_c) . phase)``: the same phase for every channel, so each
    channel keeps its Fourier modulus exactly and the phase differences between channels are kept.
    """
    spot = validate_image(spot, name="spot")
    _validate_grid(phase, (spot.shape[0], spot.shape[1] // 2 + 1), "phase")
    return _rpn_from_phase(phase, spot)


def random_phase_noise(key: Array, x0: Array, *, size: Optional[Sequence[int]] = None,
                       periodic: bool = True, num: Optional[int] = None,
                       border: Optional[int] = None) -> Array:
    """Random phase noise (RPN) of ``x0``: its Fourier modulus with a uniform random phase.

    ``X_hat_c(k) = FFT(x0_c - m0_c)(k) exp(i phi(k))`` for ``k != 0`` and ``X_hat_c(0) = |Omega| m0_c``
    with ``phi`` from :func:`random_phase` (the same for every channel). Every sample has exactly
    the Fourier modulus of the spot, the mean m0 and the empirical variance of the spot; it is real
    because ``phi`` is Hermitian-symmetric. ``x0`` is first replaced by :func:`prepare_spot`
    (periodic component, spot extension); arguments as in :func:`adsn`.
    (Galerne, Gousseau, Morel, IEEE TIP 20(1), 2011; IPOL "Micro-texture synthesis by phase
    randomization", 2011.)
    """
    spot = prepare_spot(x0, size=size, periodic=periodic, border=border)
    sample = lambda k: _rpn_from_phase(random_phase(k, spot.shape[:2]), spot)
    return _batched(sample, key, validate_num(num))


def texton(x0: Array, *, periodic: bool = True) -> Array:
    """The texton: the zero-phase spot, centred (``fftshift``), for visualisation.

    ``t_c = m_c + IFFT(T_c exp(-i psi))`` with ``T = FFT(x0 - m0)`` and ``psi = angle(sum_c T_c)``:
    for a grey image this is ``IFFT(|T|)``; in colour, removing one common phase keeps the
    cross-channel phase differences. The texton has the same mean, autocorrelation and Fourier
    modulus as the spot (``x0`` or its periodic component), so its ADSN / RPN have the same law. Values may leave
    [0, 1] (the energy concentrates at the centre). (Desolneux, Moisan, Ronsin, ICASSP 2012;
    Galerne, Gousseau, Morel 2011.)
    """
    x0 = validate_image(x0, name="x0")
    base = _periodic_smooth(x0)[0] if periodic else x0
    m, t_hat = _mean(base), _rfft2(base - _mean(base))
    unit = jnp.exp(-1j * jnp.angle(jnp.sum(t_hat, axis=-1, keepdims=True)))
    return m + jnp.fft.fftshift(_irfft2(t_hat * unit, base.shape[:2]), axes=_AXES)
