"""maxent-jax: exemplar-based texture synthesis with maximum-entropy models, in JAX.

Modules, one algorithm each (DESIGN.md §4):

* ``gaussian``   ADSN, random phase noise, periodic component, spot extension (Gaussian model)
* ``vgg``        VGG-19 as a Flax module returning named activations
* ``weights``    offline, allow-list reading of VGG-19 weight files
* ``features``   F(x): channel means, Gram matrices, colour statistics, presets
* ``energy``     U_theta(x) = beta <theta, F(x) - F(x0)> + r(x)
* ``langevin``   ULA and MALA kernels
* ``schedules``  SOUL step-size schedules and convergence conditions
* ``soul``       SOUL outer step and scan (macrocanonical sampler)
* ``synthesis``  chunked, checkpointed SOUL runs end to end
* ``parallel``   chains sharded over devices and hosts
* ``style``      style transfer with the macrocanonical model
* ``inpaint``    inpainting: Gaussian conditional simulation, CNN model as prior
* ``baselines``  Gatys et al., Lu-Zhu-Wu (FRAME with CNN filters), microcanonical sampling
* ``metrics``    feature/Gram/spectrum/histogram distances, diversity, memorisation
* ``io``, ``exemplars``, ``cli``
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
