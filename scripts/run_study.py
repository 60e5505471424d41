"""Run a synthesis study from a config file: many exemplars, GPU/TPU sized, resumable.

    python scripts/run_study.py configs/study256.json [--out-dir runs/study256] [--tiny]

The JSON file holds ``"exemplars"`` (bundled names or image paths), ``"max_side"`` and
``"synthesis"`` (fields of ``maxent_jax.tasks.texture.SynthesisConfig``). Each exemplar gets a
folder with the outputs of ``maxent-jax synthesize`` and a ``checkpoint.npz`` every
``checkpoint_every`` iterations; run the same command again after an interruption and
finished exemplars are skipped while unfinished ones resume bit-identically. ``--tiny``
shrinks everything (CI smoke test). Multi-host: add ``--distributed`` and launch the command
on every host (see ``maxent_jax/run/parallel.py``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from maxent_jax.cli._common import load_exemplar_arg
from maxent_jax.model import save_model
from maxent_jax.nn.backbone import load_network
from maxent_jax.cli.synthesize import write_outputs
from maxent_jax.exemplars import exemplar_path, list_exemplars
from maxent_jax.io import save_image
from maxent_jax.run.checkpoint import CHECKPOINT
from maxent_jax.tasks.texture import SynthesisConfig, synthesize


def load_study(path: Path, tiny: bool) -> tuple[list[str], int, SynthesisConfig]:
    data = json.loads(path.read_text())
    unknown = set(data) - {"exemplars", "max_side", "synthesis", "weights", "comment"}
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
    config = SynthesisConfig.from_json(data.get("synthesis", {}))
    exemplars, max_side = data.get("exemplars", list_exemplars()), int(data.get("max_side", 256))
    if tiny:
        config = dataclasses.replace(config, iterations=4, chains=min(config.chains, 2),
                                     checkpoint_every=2, size=None,
                                     average_last=min(config.average_last, 2))
        exemplars, max_side = exemplars[:1], 32
    return exemplars, max_side, config.validate()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--distributed", action="store_true")
    args = parser.parse_args(argv)
    if args.distributed:
        from maxent_jax.run.parallel import initialize_distributed
        initialize_distributed()
    exemplars, max_side, config = load_study(args.config, args.tiny)
    out_root = args.out_dir or Path("runs") / args.config.stem
    variables, _ = load_network(args.weights)
    for name in exemplars:
        path = exemplar_path(name) if name in list_exemplars() else Path(name)
        out = out_root / path.stem
        if (out / "config.json").exists():
            print(f"{path.stem}: done, skipped")
            continue
        image = load_exemplar_arg(path, max_side)
        out.mkdir(parents=True, exist_ok=True)
        save_image(out / "exemplar.png", image)
        result = synthesize(image, variables, config, out_dir=out, checkpoint=True,
                            resume=(out / CHECKPOINT).exists())
        write_outputs(out, result, config, extra={"image": str(path), "max_side": max_side})
        save_model(out / "model.npz", result.model)
        print(f"{path.stem}: relative gap {result.trace['relative_gap'][-1]:.3f} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
