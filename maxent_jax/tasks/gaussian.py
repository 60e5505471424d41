"""The former home of the Gaussian textures, now the ground-floor package
:mod:`maxent_jax.gaussian`; this name is kept so that earlier code still imports (the same
functions, not copies)."""

from maxent_jax.gaussian import *  # noqa: F401,F403
from maxent_jax.gaussian import __all__  # noqa: F401
