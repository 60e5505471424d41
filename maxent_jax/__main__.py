"""``python -m maxent_jax`` runs the command line."""

import sys

from maxent_jax.cli import main

sys.exit(main())
