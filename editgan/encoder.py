"""An encoder (image -> W+) for a generator, trained on the generator's own samples.

EditGAN starts the embedding of a photo from an encoder's guess, then optimises. Our
encoder is a small residual CNN that predicts W+ as the generator's mean latent plus a
per-dimension scaled offset (the scale is the spread of the mapping network's outputs,
measured when the encoder is made), one shared code and a per-layer correction.

Training needs nothing downloaded: images are the generator's own samples, whose W+ is
known, so the losses are
- a latent loss (predicted W+ against the true one, in units of w's spread);
- a pixel loss (multi-scale L1 + image gradients of G(E(x)) against x);
- a feature loss: the generator's own feature maps at E(x) against those at the true W+,
  a perceptual loss whose network is the generator itself (its features carry the
  semantics the segmentation branch reads).

An encoder belongs to one generator: its folder files (`encoder.json`,
`encoder.safetensors`) record the generator's fingerprint and a mismatch is refused.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .embedding import cosine_to_tenth, psnr, reconstruction_loss

CONFIG_NAME = "encoder.json"
WEIGHTS_NAME = "encoder.safetensors"


class EncoderError(ValueError):
    """An encoder that does not fit the generator, or a file that is not an encoder."""


@dataclass
class EncoderConfig:
    resolution: int
    num_ws: int
    w_dim: int
    width: int = 32  # channels at full resolution, doubled per halving up to max_width
    max_width: int = 256
    hidden: int = 384
    generator_fingerprint: str = ""

    @classmethod
    def for_generator(cls, G, **kw) -> "EncoderConfig":
        return cls(resolution=G.resolution, num_ws=G.num_ws, w_dim=G.w_dim, generator_fingerprint=G.fingerprint(), **kw)

    def widths(self) -> list[int]:
        """Channels at resolution R/2, R/4, ..., 4 (the stem halves the image at once)."""
        n = int(math.log2(self.resolution)) - 2
        return [min(self.width * 2**k, self.max_width) for k in range(n)]


class ResidualDown(nn.Module):
    """conv3x3 -> lrelu -> conv3x3 stride 2 -> lrelu, plus an average-pooled 1x1 skip."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv0 = nn.Conv2d(cin, cin, 3, padding=1)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=2, padding=1)
        self.norm = nn.GroupNorm(min(8, cout), cout)
        self.skip = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(F.leaky_relu(self.conv0(x), 0.2))
        return F.leaky_relu(self.norm(y + self.skip(F.avg_pool2d(x, 2))), 0.2)


class Encoder(nn.Module):
    """Images (N, 3, R, R) in [-1, 1] -> W+ (N, num_ws, w_dim)."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = c = config
        widths = c.widths()
        self.stem = nn.Conv2d(3, widths[0], 4, stride=2, padding=1)
        self.blocks = nn.ModuleList(ResidualDown(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.reduce = nn.Conv2d(widths[-1], 64, 1)
        self.hidden = nn.Linear(64 * 16, c.hidden)
        self.shared = nn.Linear(c.hidden, c.w_dim)
        self.per_layer = nn.Linear(c.hidden, c.num_ws * c.w_dim)
        nn.init.zeros_(self.per_layer.weight)
        nn.init.zeros_(self.per_layer.bias)
        self.register_buffer("w_mean", torch.zeros(c.w_dim))
        self.register_buffer("w_std", torch.ones(c.w_dim))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        c = self.config
        if images.ndim != 4 or images.shape[1:] != (3, c.resolution, c.resolution):
            raise EncoderError(f"the encoder takes images (N, 3, {c.resolution}, {c.resolution}), got {tuple(images.shape)}")
        x = F.leaky_relu(self.stem(images), 0.2)
        for block in self.blocks:
            x = block(x)
        h = F.leaky_relu(self.hidden(F.leaky_relu(self.reduce(x), 0.2).flatten(1)), 0.2)
        offset = self.shared(h)[:, None, :] + self.per_layer(h).reshape(-1, c.num_ws, c.w_dim)
        return self.w_mean + self.w_std * offset

    @torch.no_grad()
    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """One image (3, R, R) -> its W+ (num_ws, w_dim)."""
        return self(image[None].to(self.w_mean.device))[0]

    def check_generator(self, G) -> None:
        fp = self.config.generator_fingerprint
        if fp and fp != G.fingerprint():
            raise EncoderError(f"this encoder was trained for generator {fp}, not {G.fingerprint()}: train one for this model "
                               "(python -m editgan encoder train MODEL)")
        if (G.resolution, G.num_ws, G.w_dim) != (self.config.resolution, self.config.num_ws, self.config.w_dim):
            raise EncoderError("the encoder's image size or latent shape does not match the generator")

    # ----- folders -------------------------------------------------------------------
    def save_pretrained(self, folder: str | Path) -> Path:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CONFIG_NAME).write_text(json.dumps(asdict(self.config), indent=2) + "\n")
        save_file({k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}, str(folder / WEIGHTS_NAME))
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "Encoder":
        from safetensors.torch import load_file

        folder = Path(folder)
        try:
            config = EncoderConfig(**json.loads((folder / CONFIG_NAME).read_text()))
            model = cls(config)
            model.load_state_dict(load_file(str(folder / WEIGHTS_NAME)))
        except FileNotFoundError as e:
            raise EncoderError(f"no encoder in {folder}: {e.filename} is missing") from None
        except Exception as e:  # corrupt JSON, unknown keys, a corrupt or mismatched safetensors file
            raise EncoderError(f"the encoder in {folder} could not be read: {e}") from None
        return model.eval()


def has_encoder(folder: str | Path | None) -> bool:
    return folder is not None and (Path(folder) / CONFIG_NAME).is_file()


# ----- training ---------------------------------------------------------------------------------
@dataclass
class EncoderTrainConfig:
    steps: int = 4000
    batch: int = 16
    lr: float = 1e-3
    latent_weight: float = 1.0
    pixel_weight: float = 1.0
    feature_weight: float = 0.5
    mixing: float = 0.5  # share of samples whose W+ mixes two w at a random layer
    feature_layers: int = 4  # the generator's first N feature maps go into the feature loss
    seed: int = 0
    checkpoint_every: float = 120.0  # seconds, when a run folder is given


@torch.no_grad()
def w_statistics(G, n: int = 4096, seed: int = 12345) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and per-dimension std of the mapping network's outputs."""
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
    w = torch.cat([G.mapping(z[i : i + 512]) for i in range(0, n, 512)])
    return w.mean(0), w.std(0).clamp(min=1e-4)


@torch.no_grad()
def sample_w_plus(G, batch: int, mixing: float, generator: torch.Generator) -> torch.Tensor:
    """W+ codes of random samples: w of z ~ N(0, I); a share mixes a second w from a random layer on."""
    n = G.num_ws
    w1 = G.mapping(torch.randn(batch, G.z_dim, generator=generator))
    w2 = G.mapping(torch.randn(batch, G.z_dim, generator=generator))
    cut = torch.randint(1, n, (batch,), generator=generator)
    mixed = torch.rand(batch, generator=generator) < mixing
    layer = torch.arange(n)[None, :]
    take2 = (layer >= cut[:, None]) & mixed[:, None]  # (B, n)
    return torch.where(take2[..., None], w2[:, None], w1[:, None])


def encoder_losses(E: Encoder, G, w_true: torch.Tensor, cfg: EncoderTrainConfig) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        images, feats_true = G.synthesis(w_true, return_features=True)
    w_pred = E(images)
    latent = ((w_pred - w_true) / E.w_std).pow(2).mean()
    recon, feats = G.synthesis(w_pred, return_features=True)
    pixel = reconstruction_loss(recon, images)
    feature = sum((a - b).pow(2).mean() / b.pow(2).mean().clamp(min=1e-6)
                  for a, b in zip(feats[: cfg.feature_layers], feats_true[: cfg.feature_layers])) / cfg.feature_layers
    total = cfg.latent_weight * latent + cfg.pixel_weight * pixel + cfg.feature_weight * feature
    return {"total": total, "latent": latent, "pixel": pixel, "feature": feature,
            "psnr": torch.tensor(psnr(recon.detach(), images))}


def train_encoder(G, cfg: EncoderTrainConfig | None = None, run_dir: str | Path | None = None,
                  progress: Callable[[int, int, dict], None] | None = None, encoder_config: dict | None = None,
                  init: Encoder | None = None) -> Encoder:
    """Train an encoder for G on G's own samples. With `run_dir`, checkpoints are written every
    `checkpoint_every` seconds and a rerun resumes from the last one. `init` starts from an
    encoder of a close generator (G fine-tuned from the one it was trained for): its weights,
    with G's own latent statistics."""
    cfg = cfg or EncoderTrainConfig()
    torch.manual_seed(cfg.seed)
    G = G.eval().requires_grad_(False)
    E = Encoder(EncoderConfig.for_generator(G, **(encoder_config or {})))
    if init is not None:
        if dataclasses.replace(init.config, generator_fingerprint=E.config.generator_fingerprint) != E.config:
            raise ValueError(f"the initial encoder's config {init.config} does not fit this generator ({E.config})")
        E.load_state_dict(init.state_dict())
    w_mean, w_std = w_statistics(G)
    E.w_mean.copy_(G.mapping.w_avg if G.mapping.w_avg.abs().sum() > 0 else w_mean)
    E.w_std.copy_(w_std)
    opt = torch.optim.Adam(E.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
    gen = torch.Generator().manual_seed(cfg.seed)
    start = 0
    ckpt = Path(run_dir) / "encoder-checkpoint.pt" if run_dir else None
    if ckpt and ckpt.is_file():
        state = torch.load(ckpt, weights_only=False)
        E.load_state_dict(state["encoder"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["rng"])
        start = state["step"]
    last_save = time.time()
    E.train()
    for step in range(start, cfg.steps):
        for g in opt.param_groups:
            g["lr"] = cosine_to_tenth(cfg.lr, step, cfg.steps)
        losses = encoder_losses(E, G, sample_w_plus(G, cfg.batch, cfg.mixing, gen), cfg)
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        opt.step()
        if progress:
            progress(step + 1, cfg.steps, {k: float(v.detach()) for k, v in losses.items()})
        if ckpt and (time.time() - last_save > cfg.checkpoint_every or step + 1 == cfg.steps):
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            tmp = ckpt.with_suffix(".tmp")
            torch.save({"encoder": E.state_dict(), "opt": opt.state_dict(), "rng": gen.get_state(), "step": step + 1}, tmp)
            tmp.replace(ckpt)
            last_save = time.time()
    return E.eval()
