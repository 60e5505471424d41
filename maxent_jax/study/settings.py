"""The comparison study's methods, table rows, protocols and budgets.

A *row* of the tables is a method, or for a method that learns parameters while it samples
(:data:`LEARNED`) one of its two protocols: ``METHOD_run`` (the learning run's chains after its
last iteration) and ``METHOD_frozen`` (new chains of the learned model at frozen theta_bar);
:func:`rows_of` lists them, :func:`split_row` reads them back. :data:`STUDIES` holds the three
budgets (``tiny``: CI smoke; ``cpu``: 64 px; ``gpu``: the 256 px study).
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

__all__ = ["LABELS", "LEARNED", "METHODS", "PROTOCOLS", "SETS", "STUDIES", "STUDY_NAMES",
           "Study", "learning_iterations", "method_of", "protocol_of", "rows_of", "split_row"]

METHODS: tuple[str, ...] = ("adsn", "gatys", "lu_zhu_wu", "microcanonical",
                            "macro_full", "macro_deep", "macro_shallow")
LABELS: dict[str, str] = {
    "adsn": "ADSN", "gatys": "Gatys", "lu_zhu_wu": "Lu-Zhu-Wu",
    "microcanonical": "microcanonical", "macro_full": "macro. full",
    "macro_deep": "macro. deep", "macro_shallow": "macro. shallow",
}
SETS: dict[str, str] = {"tuning": "Tuning exemplars", "held-out": "Held-out exemplars",
                        "other": "Other exemplars"}
LEARNED: tuple[str, ...] = ("lu_zhu_wu", "macro_full", "macro_deep", "macro_shallow")
PROTOCOLS: dict[str, str] = {"run": "run output", "frozen": "frozen theta"}
LABELS |= {f"{m}_{p}": f"{LABELS[m]}, {name}" for m in LEARNED for p, name in PROTOCOLS.items()}


def rows_of(methods: Sequence[str]) -> list[str]:
    """The table rows of ``methods``: the method itself, or ``METHOD_run`` and
    ``METHOD_frozen`` for a method of :data:`LEARNED` (:mod:`maxent_jax.study`'s protocols)."""
    return [r for m in methods
            for r in ([f"{m}_{p}" for p in PROTOCOLS] if m in LEARNED else [m])]


def split_row(row: str) -> tuple[str, Optional[str]]:
    """``(method, protocol)`` of a table row: ``macro_full_run`` -> ``("macro_full", "run")``;
    a single-row method's protocol is None."""
    head, _, tail = row.rpartition("_")
    return (head, tail) if tail in PROTOCOLS and head in LEARNED else (row, None)


def method_of(row: str) -> str:
    """The method of a table row (``macro_full_run`` -> ``macro_full``)."""
    return split_row(row)[0]


def protocol_of(row: str) -> Optional[str]:
    """``"run"`` or ``"frozen"`` for a learned method's row, None for a single-row method."""
    return split_row(row)[1]


class Study(NamedTuple):
    """Sizes and budgets of one study (:data:`STUDIES`; :mod:`maxent_jax.study`)."""

    name: str
    size: int
    iterations: int
    gatys_iterations: int
    samples: int
    langevin_steps: int = 5
    macro_delta: Optional[float] = None  # None: SynthesisConfig's default
    macro_iterations: Optional[int] = None  # None: ``iterations``
    sample_steps: int = 300  # fixed-theta Langevin steps of the macrocanonical samples
    copy_stride: int = 4  # stride of the copied-patch fraction's sample patches


STUDIES = {
    "tiny": Study("tiny", 16, 3, 3, 2, 1, sample_steps=3),
    "cpu": Study("cpu", 64, 300, 300, 8, sample_steps=300),
    "gpu": Study("gpu", 256, 3000, 2000, 8, macro_iterations=10000, sample_steps=1000,
                 copy_stride=8),
}

STUDY_NAMES = {"tiny": "Tiny (CI smoke)", "cpu": "CPU-sized", "gpu": "256 px"}


def learning_iterations(study: Study) -> int:
    """The macrocanonical learning run's iterations (``macro_iterations``, else
    ``iterations``)."""
    return study.macro_iterations or study.iterations
