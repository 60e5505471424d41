"""``python -m maxent_jax.cli``: the ``maxent-jax`` command without the installed script."""

import sys

from maxent_jax.cli import main

sys.exit(main())
