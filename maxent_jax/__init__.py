"""maxent-jax: exemplar-based texture synthesis with maximum-entropy models, in JAX.

Packages and modules, one algorithm each (docs/reference.md §4):

* ``gaussian``   the ground floor: ADSN, random phase noise, periodic component, spot
                 extension, texton (it imports nothing else of the library)
* ``nn``         the network: ``vgg`` (VGG-19, Flax), ``winograd`` (fast 3x3 convolutions),
                 ``weights`` (offline, allow-list reading of weight files), ``features`` (F(x):
                 channel means, Gram matrices, colour statistics, presets), ``backbone`` (the
                 network prepared for one image size, the one way to load it)
* ``sampling``   pure kernels: ``energy`` (U_theta), ``langevin`` (ULA, MALA), ``soul`` (SOUL's
                 (init, step) pair), ``fixed`` (chains at fixed theta), ``schedules``, ``scan``
* ``model``      the learned model Pi_theta as a value and a file
* ``run``        the imperative shell: ``settings`` (every setting, declared once), ``driver``
                 (chunks, divergence, progress), ``checkpoint``, ``task`` (one SOUL task from
                 settings to trace), ``parallel`` (chains over devices and hosts)
* ``tasks``      ``starts``, ``texture`` (synthesis), ``scales`` (coarse-to-fine stages),
                 ``sample`` (sampling a learned model), ``style``, ``inpaint``
* ``baselines``  Gatys et al., Lu-Zhu-Wu (FRAME with CNN filters), microcanonical sampling
* ``metrics``, ``io``, ``exemplars``, ``cli`` (one thin module per command)

The names a script needs are re-exported here, loaded on first use (``import maxent_jax``
stays light: the command line's ``--help`` does not load jax)::

    import maxent_jax as mj
    x0 = mj.load_exemplar("wood", size=64)
    result = mj.synthesize(x0, mj.load_backbone(config.spec(), (64, 64)), config)
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.3.0"

_EXPORTS: dict[str, str] = {
    # Gaussian textures
    "gaussian": "maxent_jax.gaussian", "adsn": "maxent_jax.gaussian",
    "random_phase_noise": "maxent_jax.gaussian", "periodic_component": "maxent_jax.gaussian",
    # images and exemplars
    "load_exemplar": "maxent_jax.exemplars", "list_exemplars": "maxent_jax.exemplars",
    "load_image": "maxent_jax.io", "save_image": "maxent_jax.io",
    # the network and its features
    "load_backbone": "maxent_jax.nn.backbone", "Backbone": "maxent_jax.nn.backbone",
    # the macrocanonical model: energy, kernels, learning, the learned model, sampling it
    "macrocanonical_energy": "maxent_jax.sampling.energy", "soul": "maxent_jax.sampling.soul",
    "SynthesisConfig": "maxent_jax.tasks.texture", "synthesize": "maxent_jax.tasks.texture",
    "MaxEntModel": "maxent_jax.model", "load_model": "maxent_jax.model",
    "save_model": "maxent_jax.model", "sample_model": "maxent_jax.tasks.sample",
    # extensions
    "StyleConfig": "maxent_jax.tasks.style", "transfer_style": "maxent_jax.tasks.style",
    "InpaintConfig": "maxent_jax.tasks.inpaint", "inpaint_image": "maxent_jax.tasks.inpaint",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    """The re-exported names of :data:`_EXPORTS`, imported on first use (PEP 562)."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'maxent_jax' has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name])
    value = module if module.__name__ == f"maxent_jax.{name}" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
