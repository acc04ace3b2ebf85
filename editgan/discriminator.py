"""A StyleGAN2 discriminator (residual form), used to sharpen the distilled default models.

Written from the StyleGAN2 paper (Karras et al., CVPR 2020, fig. 7c): a 1x1 "from RGB" conv,
then one residual block per resolution (two 3x3 convs, 2x down, a 1x1 skip, summed and
scaled by 1/sqrt(2); the down-sampling is a 2x2 average pool before the second conv, not a
blur and a strided conv), then the epilogue: minibatch standard deviation, a 3x3 conv, a fully
connected layer and the logit. Equalised learning rate everywhere, as in the generator.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .generator import SQRT2, FullyConnected, bias_lrelu


class Conv(nn.Module):
    """Conv with equalised learning rate; `down` halves the resolution with a 2x2 average pool
    before it (the 3x3 conv then runs on a quarter of the pixels: 2.8x faster on a CPU than
    convolving first, for the same receptive field up to the pool's phase)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, down: bool = False,
                 activation: bool = True, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.down, self.activation, self.padding = down, activation, kernel_size // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.down:
            x = F.avg_pool2d(x, 2)
        x = F.conv2d(x, self.weight * self.weight_gain, padding=self.padding)
        if self.activation:
            return bias_lrelu(x, self.bias)
        return x if self.bias is None else x + self.bias.view(1, -1, 1, 1)


class DiscriminatorBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv0 = Conv(in_channels, in_channels, 3)
        self.conv1 = Conv(in_channels, out_channels, 3, down=True)
        self.skip = Conv(in_channels, out_channels, 1, down=True, activation=False, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.skip(x) + self.conv1(self.conv0(x))) / SQRT2


def minibatch_std(x: torch.Tensor, group: int = 4) -> torch.Tensor:
    """Append one channel: the std over groups of samples, averaged over channels and pixels."""
    n, c, h, w = x.shape
    g = min(group, n)
    while n % g:
        g -= 1
    y = x.reshape(g, -1, c, h, w)
    y = (y - y.mean(0)).pow(2).mean(0).add(1e-8).sqrt().mean(dim=(1, 2, 3))  # (n / g,)
    y = y.reshape(-1, 1, 1, 1).repeat(g, 1, h, w)
    return torch.cat([x, y], 1)


class Discriminator(nn.Module):
    """image (N, 3, R, R) in [-1, 1] -> one logit per image.

    `channels` lists the widths from the full resolution down to 4 x 4 (one more entry than
    there are blocks); by default 2048 / resolution (32 at 64 px), at least 16, at most `max_channels`.
    """

    def __init__(self, resolution: int, channels: tuple[int, ...] | None = None, max_channels: int = 128):
        super().__init__()
        n_blocks = int(math.log2(resolution)) - 2
        if channels is None:
            channels = tuple(min(max_channels, max(16, 2048 // (resolution >> k))) for k in range(n_blocks + 1))
        if len(channels) != n_blocks + 1:
            raise ValueError(f"a {resolution}-px discriminator needs {n_blocks + 1} widths, got {channels}")
        self.resolution = resolution
        self.from_rgb = Conv(3, channels[0], 1)
        self.blocks = nn.ModuleList(DiscriminatorBlock(channels[k], channels[k + 1]) for k in range(n_blocks))
        c = channels[-1]
        self.conv = Conv(c + 1, c, 3)
        self.fc = FullyConnected(c * 16, c, activation=True)
        self.out = FullyConnected(c, 1)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        if img.shape[-1] != self.resolution or img.shape[-2] != self.resolution:
            raise ValueError(f"the discriminator takes {self.resolution} x {self.resolution} images, got {tuple(img.shape[-2:])}")
        x = self.from_rgb(img)
        for block in self.blocks:
            x = block(x)
        x = self.conv(minibatch_std(x))
        return self.out(self.fc(x.flatten(1))).squeeze(1)


# ----- losses (non-saturating, with the R1 penalty on reals) ---------------------------------
def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    return F.softplus(-fake_logits).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()


def r1_penalty(D: Discriminator, real: torch.Tensor) -> torch.Tensor:
    """Mean squared gradient norm of D at the real images (Mescheder et al. 2018)."""
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(real).sum(), real, create_graph=True)
    return grad.pow(2).sum(dim=(1, 2, 3)).mean()
