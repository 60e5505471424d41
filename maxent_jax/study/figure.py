"""The study's figure grid and its samples on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from maxent_jax.io import save_image
from maxent_jax.study.settings import LABELS, rows_of

__all__ = ["save_samples", "write_grid"]


def _show(ax, image: np.ndarray) -> None:
    image = np.clip(image, 0.0, 1.0)
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(image, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def write_grid(path: Path, exemplars: dict[str, np.ndarray], results, methods: Sequence[str],
               title: str) -> None:
    """Figure grid: a row per exemplar, columns exemplar | first sample of each table row
    (both protocols of a learned method, :func:`rows_of`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = rows_of(methods)
    rows, cols = len(exemplars), len(columns) + 1
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.6 * rows + 0.4), squeeze=False)
    for r, (name, x0) in enumerate(exemplars.items()):
        _show(axes[r, 0], x0)
        axes[r, 0].set_ylabel(name, fontsize=8)
        for c, row in enumerate(columns, start=1):
            _show(axes[r, c], results[name][row][0][0])
    for c, label in enumerate(["exemplar"] + [LABELS[m].replace(", ", "\n") for m in columns]):
        axes[0, c].set_title(label, fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_samples(out_dir: Path, results) -> None:
    """Every sample of ``results`` as ``out_dir/samples/EXEMPLAR/ROW_i.png``."""
    for name, by_method in results.items():
        for method, (samples, _) in by_method.items():
            for i, x in enumerate(samples):
                save_image(out_dir / "samples" / name / f"{method}_{i}.png", x)
