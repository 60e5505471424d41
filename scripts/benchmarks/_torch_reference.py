"""A plain PyTorch VGG-19 feature extractor (the reference the benchmarks compare against).

Same network as ``maxent_jax.nn.features`` with the paper preset: the weights' preprocessing,
CELU (alpha 1), 2x2 average pooling, zero padding, channel means of the ten layers of
docs/reference.md §2, nothing deeper than relu5_2. Weights come from ``maxent_jax.nn.weights`` (numpy),
so both sides use identical numbers.
"""

from __future__ import annotations

import numpy as np
import torch

from maxent_jax.nn.vgg import LAYER_NAMES


class TorchFeatures(torch.nn.Module):
    def __init__(self, weights, layers, activation="celu", pooling="avg", padding="zero"):
        super().__init__()
        self.layers = set(layers)
        self.last = max(LAYER_NAMES.index(n) for n in layers)
        self.register_buffer("pre_w", torch.from_numpy(
            np.array(weights.preprocess_matrix, np.float32)))  # buffers follow .to(device)
        self.register_buffer("pre_b", torch.from_numpy(np.array(weights.preprocess_bias, np.float32)))
        self.convs = torch.nn.ModuleDict()
        for name, p in weights.params.items():
            k = torch.from_numpy(np.ascontiguousarray(np.transpose(p["kernel"], (3, 2, 0, 1))))
            conv = torch.nn.Conv2d(k.shape[1], k.shape[0], 3, padding=1,
                                   padding_mode={"zero": "zeros", "circular": "circular"}.get(
                                       padding, "reflect"))
            conv.weight.data, conv.bias.data = k.clone(), torch.from_numpy(p["bias"]).clone()
            self.convs[name] = conv
        self.act = torch.nn.CELU(1.0) if activation == "celu" else torch.nn.ReLU()
        self.pool = torch.nn.AvgPool2d(2) if pooling == "avg" else torch.nn.MaxPool2d(2)
        for p_ in self.parameters():
            p_.requires_grad_(False)

    def forward(self, x):  # x: (N, 3, H, W) RGB in [0, 1]
        h = torch.einsum("ij,njhw->nihw", self.pre_w, x) + self.pre_b[None, :, None, None]
        out = []
        for name in LAYER_NAMES[: self.last + 1]:
            if name.startswith("conv"):
                h = self.convs[name](h)
            elif name.startswith("relu"):
                h = self.act(h)
            else:
                h = self.pool(h)
            if name in self.layers:
                out.append(h.mean(dim=(2, 3)))
        return torch.cat(out, dim=1)  # (N, p)
