"""Per-layer profile of the paper features' gradient, and Winograd tiles chosen at run time.

    python scripts/benchmarks/tiles.py [--sizes 64 128 256 512] [--repeats 5] [--out FILE.json]

For each image size: every VGG-19 convolution the paper preset runs (up to conv5_2), timed
alone at its input shape for one image, forward and input gradient, directly and with
Winograd F(2, 3) and F(4, 3) (:func:`maxent_jax.nn.tiles.profile_layer`); the fixed rule's
tile (:func:`maxent_jax.nn.vgg.winograd_tile`) and the measured choice
(:func:`maxent_jax.nn.tiles.choose_tile`). Then, side by side in this process, the whole
``grad_x <theta, F(x)>`` (jit, median of ``--repeats``) with the rule's tiles (``--conv
auto``, the default) and with the measured ones (``--conv measured``). Layers of equal shape
(conv3_2-conv3_4, ...) are timed once.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from maxent_jax.nn import features as feats
from maxent_jax.nn import tiles
from maxent_jax.nn.backbone import load_backbone
from maxent_jax.nn.vgg import winograd_tile


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            lines = f.read().splitlines()
        model = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
        flags = next(line for line in lines if line.startswith("flags")).split()
        return f"{model} ({'AVX-512' if 'avx512f' in flags else 'AVX2' if 'avx2' in flags else 'no AVX2'})"
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def gradient_seconds(backbone, x, theta, repeats: int) -> float:
    fn = jax.jit(jax.grad(lambda b, y: jnp.vdot(theta, b.features(y)), argnums=1))
    jax.block_until_ready(fn(backbone, x))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(backbone, x))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    spec = feats.get_spec("paper")
    order = list(tiles.layer_shapes((1, 1)))
    last = max(order.index(f"conv{n[4:]}") for n in spec.layers)
    print(f"paper preset, one image, jax {jax.__version__} ({jax.default_backend()}), "
          f"{os.cpu_count()} CPU(s), {cpu_name()}")
    result = {"cpu": cpu_name(), "jax": jax.__version__, "sizes": {}}
    theta = jnp.asarray(np.random.default_rng(1).normal(size=feats.feature_dim(spec)), jnp.float32)
    for size in args.sizes:
        shapes = {n: s for n, s in tiles.layer_shapes((size, size)).items() if order.index(n) <= last}
        seen: dict = {}
        rows = []
        print(f"\n{size} px: layer, shape, forward / backward ms per tile (0 = direct), rule, measured")
        for name, shape in shapes.items():
            if shape not in seen:
                seen[shape] = tiles.profile_layer(shape, 1, args.repeats)
            timing = seen[shape]
            rule = winograd_tile((shape.height, shape.width), shape.cin, shape.cout)
            chosen = tiles.choose_tile(timing, rule)
            rows.append({"layer": name, "shape": list(shape), "rule": rule, "measured": chosen,
                         "ms": {str(m): [1e3 * t.forward, 1e3 * t.backward]
                                for m, t in timing.items()}})
            cells = "  ".join(f"{m}: {1e3 * t.forward:7.2f}/{1e3 * t.backward:7.2f}"
                              for m, t in timing.items())
            print(f"  {name:8s} {shape.height:>3}x{shape.width:<3} {shape.cin:>3}->{shape.cout:<3} "
                  f"{cells}  rule {rule}  measured {chosen}")
        x = jnp.asarray(np.random.default_rng(size).uniform(size=(size, size, 3)), jnp.float32)
        timed = [(conv, gradient_seconds(load_backbone(spec._replace(conv=conv), (size, size)),
                                         x, theta, args.repeats))
                 for conv in ("auto", "measured", "auto")]  # the rule before and after
        rule_s, measured_s = min(timed[0][1], timed[2][1]), timed[1][1]
        sum_rule = sum(seen[s][r["rule"]].total for s, r in zip(shapes.values(), rows))
        print(f"  whole gradient: rule {rule_s:.4f} s, measured {measured_s:.4f} s "
              f"(rule / measured {rule_s / measured_s:.3f}); sum of the rule's layers "
              f"alone {sum_rule:.4f} s")
        result["sizes"][str(size)] = {"layers": rows, "gradient_rule_s": rule_s,
                                      "gradient_measured_s": measured_s,
                                      "sum_of_rule_layers_s": sum_rule}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
