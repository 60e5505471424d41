"""Baselines of the comparison study, on the same VGG-19 backbone as the macrocanonical model.

* :mod:`~maxent_jax.baselines.gatys`: Gram matrices + box-bounded L-BFGS
  (Gatys, Ecker & Bethge, NeurIPS 2015).
* :mod:`~maxent_jax.baselines.lu_zhu_wu`: FRAME with CNN filters, Langevin sampling and
  stochastic gradient on the parameters (Lu, Zhu & Wu, AAAI 2016), on the SOUL machinery.
* :mod:`~maxent_jax.baselines.microcanonical`: gradient descent on ||F(x) - F(x0)||^2 from
  maximum-entropy noise (Bruna & Mallat, 2018).

Each ``*_synthesize(key, exemplar, variables, config, ...)`` is pure (jit it with the config
static) and returns ``(final state, stacked per-iteration info)``.
"""

from maxent_jax.baselines.gatys import GatysConfig, gatys_synthesize
from maxent_jax.baselines.lu_zhu_wu import LuZhuWuConfig, lzw_synthesize
from maxent_jax.baselines.microcanonical import (MicrocanonicalConfig, max_entropy_noise,
                                                 microcanonical_synthesize)

__all__ = [
    "GatysConfig",
    "gatys_synthesize",
    "LuZhuWuConfig",
    "lzw_synthesize",
    "MicrocanonicalConfig",
    "microcanonical_synthesize",
    "max_entropy_noise",
]
