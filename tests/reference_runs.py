"""The three runs whose results must stay bit-identical across refactors (issue 12).

Small but complete: real VGG-19 weights, 32 px, 12 outer steps cut into chunks of 5, 5 and 2
(so the remainder chunk and the checkpoint cadence are exercised), two chains, averaging.
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

OUT = Path(__file__).resolve().parent / "data" / "reference_runs.npz"
ITERATIONS, CADENCE, SIZE = 12, 5, 32
# The defaults when the runs were recorded (0.2.0); 0.3.0 changed them (docs/fidelity.md), so
# they are spelled out: equal settings must still give bit-identical results.
RECORDED_DEFAULTS = dict(padding="zero", theta_step="optimistic", optimism=10.0, eps=0.0,
                         projection="none", probe_every=0)


def fingerprint() -> dict[str, str]:
    """What decides XLA:CPU's rounding: versions, backend and the CPU's vector ISA class."""
    import jaxlib

    from maxent_jax.run.machine import vector_isa

    isa = vector_isa()

    return {"jax": jax.__version__, "jaxlib": jaxlib.__version__,
            "backend": jax.default_backend(), "isa": isa}


def _mask() -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), bool)
    mask[10:22, 12:24] = True
    return mask


def run_all() -> dict[str, np.ndarray]:
    from maxent_jax.exemplars import load_exemplar
    from maxent_jax.nn.backbone import load_network

    variables, _ = load_network()
    wood = load_exemplar("wood", size=SIZE)
    brick, grass = load_exemplar("brick", size=SIZE), load_exemplar("grass", size=SIZE)
    out: dict[str, np.ndarray] = {}
    out.update(_synthesis(variables, wood))
    out.update(_style(variables, brick, grass))
    out.update(_inpaint(variables, wood))
    return out


def _synthesis(variables, wood) -> dict[str, np.ndarray]:
    from maxent_jax.tasks.texture import SynthesisConfig, synthesize

    config = SynthesisConfig(iterations=ITERATIONS, chains=2, checkpoint_every=CADENCE,
                             average_last=4, seed=3, **RECORDED_DEFAULTS)
    r = synthesize(wood, variables, config, progress=False)
    return {"synthesis_samples": r.samples, "synthesis_average": r.average,
            "synthesis_theta": np.asarray(r.state.theta),
            "synthesis_relative_gap": r.trace["relative_gap"]}


def _style(variables, content, style) -> dict[str, np.ndarray]:
    from maxent_jax.tasks.style import StyleConfig, transfer_style

    config = StyleConfig(iterations=ITERATIONS, chains=2, checkpoint_every=CADENCE,
                         average_last=4, seed=5, **RECORDED_DEFAULTS)
    r = transfer_style(content, style, variables, config)
    return {"style_images": r.images, "style_average": r.average,
            "style_theta": np.asarray(r.state.theta),
            "style_relative_gap": r.trace["relative_gap"],
            "style_content_distance": r.trace["content_distance"][-1]}


def _inpaint(variables, wood) -> dict[str, np.ndarray]:
    from maxent_jax.tasks.inpaint import InpaintConfig, inpaint_image

    config = InpaintConfig(model="cnn", iterations=ITERATIONS, chains=2, checkpoint_every=CADENCE,
                           average_last=4, seed=7, **RECORDED_DEFAULTS)
    r = inpaint_image(wood, _mask(), variables, config)
    return {"inpaint_images": r.images, "inpaint_average": r.average,
            "inpaint_theta": np.asarray(r.state.theta),
            "inpaint_relative_gap": r.trace["relative_gap"]}
