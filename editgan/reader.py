"""The parameter reader: a small CNN that reads a world's named parameters off an image.

It is the measuring instrument for edits (`editgan.evaluation`): trained on renders only
(never on the generator, never on the segmentation branch that edits optimise), with
blur and noise so that it reads the generator's softer images as it reads renders.
Parameters are predicted on a 0-1 scale of their prior range.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from .world import World, get_world


@dataclass
class ReaderConfig:
    world: str
    resolution: int = 64
    width: int = 16


def conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())


class ParameterReader(nn.Module):
    def __init__(self, config: ReaderConfig):
        super().__init__()
        self.config = config
        self.world: World = get_world(config.world)
        w = config.width
        chans = [w, 2 * w, 4 * w, 4 * w]
        # + x/y coordinate channels (positions matter); a strided stem keeps full resolution cheap
        self.stem = nn.Sequential(nn.Conv2d(3 + 2, w, 4, stride=2, padding=1), nn.BatchNorm2d(w), nn.ReLU())
        self.blocks = nn.ModuleList(conv_block(a, b) for a, b in zip(chans[:-1], chans[1:]))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(chans[-1] * 16, 256), nn.ReLU(), nn.Linear(256, self.world.num_params))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images (N, 3, R, R) in [-1, 1] -> parameters on a 0-1 scale (N, P)."""
        n, _, h, w = images.shape
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        x = self.stem(torch.cat([images, xs.expand(n, 1, h, w), ys.expand(n, 1, h, w)], 1))
        for i, block in enumerate(self.blocks):
            x = block(x)
            x = F.max_pool2d(x, 2) if i < len(self.blocks) - 1 else F.adaptive_avg_pool2d(x, 4)
        return self.head(x)

    @torch.no_grad()
    def read(self, images: torch.Tensor) -> torch.Tensor:
        """Parameters in their own units (N, P)."""
        low, high = self.world.bounds()
        out = torch.cat([self(images[i : i + 64]) for i in range(0, len(images), 64)])
        return low + (high - low) * out

    def save_pretrained(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "reader.json").write_text(json.dumps(asdict(self.config)))
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(folder / "reader.safetensors"))

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "ParameterReader":
        folder = Path(folder)
        model = cls(ReaderConfig(**json.loads((folder / "reader.json").read_text())))
        model.load_state_dict(load_file(str(folder / "reader.safetensors")))
        return model.eval()


def soften(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random Gaussian blur (sigma 0-1.2 px) and noise: renders made to look like a small generator's output."""
    n = images.shape[0]
    sigma = torch.rand(n, generator=generator) * 1.2 + 1e-3
    k = torch.arange(-2, 3).float()
    kern = torch.exp(-(k[None] ** 2) / (2 * sigma[:, None] ** 2))
    kern = kern / kern.sum(1, keepdim=True)  # (N, 5)
    x = images.reshape(1, n * 3, *images.shape[-2:])
    kx = kern.repeat_interleave(3, 0)[:, None, None, :]
    x = F.conv2d(F.pad(x, (2, 2, 0, 0), mode="replicate"), kx, groups=n * 3)
    x = F.conv2d(F.pad(x, (0, 0, 2, 2), mode="replicate"), kx.transpose(-1, -2), groups=n * 3)
    x = x.reshape(images.shape)
    return x + 0.03 * torch.randn(images.shape, generator=generator)


def train_reader(world_name: str, steps: int = 3000, batch: int = 32, resolution: int = 64, seed: int = 0,
                 progress: Callable[[int, int, float], None] | None = None, width: int = 16,
                 emphasis: dict[str, float] | None = None) -> ParameterReader:
    """Train a reader on fresh renders (a new batch every step: no image is seen twice).

    `emphasis` weighs the loss of named parameters (e.g. those the shipped vectors target)
    by the given factor; the others keep weight 1.
    """
    torch.manual_seed(seed)
    reader = ParameterReader(ReaderConfig(world_name, resolution, width)).train()
    world = reader.world
    low, high = world.bounds()
    weight = torch.ones(world.num_params)
    for name, factor in (emphasis or {}).items():
        weight[world.index(name)] = float(factor)
    weight = weight / weight.mean()
    opt = torch.optim.AdamW(reader.parameters(), lr=2e-3, weight_decay=1e-4)
    g = torch.Generator().manual_seed(seed)
    for step in range(steps):
        lr = 2e-3 * 0.5 * (1 + math.cos(math.pi * step / steps))
        for group in opt.param_groups:
            group["lr"] = lr
        params = world.params_from_z(torch.randn(batch, world.num_params, generator=g))
        images, _ = world.render(params, resolution)
        target = (params - low) / (high - low)
        loss = (F.smooth_l1_loss(reader(soften(images, g)), target, beta=0.05, reduction="none") * weight).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if progress:
            progress(step + 1, steps, float(loss.detach()))
    return reader.eval()


def r_squared(reader: ParameterReader, n: int = 512, seed: int = 4321, soft: bool = True) -> dict[str, float]:
    """R^2 per parameter on held-out renders."""
    world = reader.world
    g = torch.Generator().manual_seed(seed)
    params = world.params_from_z(torch.randn(n, world.num_params, generator=g))
    images = torch.cat([world.render(params[i : i + 64], reader.config.resolution)[0] for i in range(0, n, 64)])
    if soft:
        images = soften(images, g)
    pred = reader.read(images)
    ss_res = (pred - params).pow(2).sum(0)
    ss_tot = (params - params.mean(0)).pow(2).sum(0)
    return dict(zip(world.param_names, (1 - ss_res / ss_tot).tolist()))
