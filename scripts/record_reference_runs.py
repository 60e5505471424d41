"""Record one synthesis, one style and one CNN-inpainting run as bit-identity references.

``tests/test_reference_runs.py`` reruns the same three settings with the current code and
compares with ``tests/data/reference_runs.npz``: bit for bit on a machine of the same kind
(same jax/jaxlib, same CPU instruction-set class), within float32 rounding otherwise (XLA's
CPU code, and so its rounding, depends on the instruction set).

The references were recorded at commit 3dbc14c (before the model-centred core of issue 12);
this script now calls the current API with the same settings. Run:
``python scripts/record_reference_runs.py`` (about a minute on two CPU cores).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from reference_runs import OUT, fingerprint, run_all  # noqa: E402

if __name__ == "__main__":
    arrays = run_all()
    arrays.update({f"fingerprint_{k}": np.array(v) for k, v in fingerprint().items()})
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT}: " + ", ".join(sorted(arrays)))
