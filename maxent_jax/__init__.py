"""maxent-jax: exemplar-based texture synthesis with maximum-entropy models, in JAX.

Packages and modules, one algorithm each (docs/reference.md §4):

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
* ``tasks``      ``gaussian`` (ADSN, random phase noise), ``starts``, ``texture`` (synthesis),
                 ``sample`` (sampling a learned model), ``style``, ``inpaint``
* ``baselines``  Gatys et al., Lu-Zhu-Wu (FRAME with CNN filters), microcanonical sampling
* ``metrics``, ``io``, ``exemplars``, ``cli`` (one thin module per command)
"""

__version__ = "0.3.0"

__all__ = ["__version__"]
