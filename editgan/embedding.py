"""Embedding a real image into W+, and reading images in any size and mode.

Three stages, each a function, run in order by `invert`:
1. the encoder's guess (`editgan.encoder`, optional: without one, the mean latent);
2. `embed`: optimisation of W+ with a reconstruction loss that needs no downloaded weights:
   L1 at three scales plus an image-gradient term (edges matter to the eye more than flat
   regions), and a small pull towards the mean latent that keeps W+ where the generator
   draws well;
3. `pivotal_tuning` (optional): a copy of the generator fine-tuned around the found latent
   so that it draws the photo exactly, for images the generator cannot draw.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError


class ImageError(ValueError):
    """An image that cannot be used (unreadable, empty, ...)."""


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode -> RGB; transparency is composited on white."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, image).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(image, dtype=np.float64)
        arr = np.clip(arr / max(arr.max(), 1) * 255, 0, 255).astype(np.uint8)
        return Image.fromarray(arr).convert("RGB")
    return image.convert("RGB")


MAX_PIXELS = 50_000_000  # larger images are refused before they are decoded (8000 x 6000 is 48 MP)


def check_size(image: Image.Image, source="the image") -> None:
    """Refuse an image larger than MAX_PIXELS from its header alone (no memory is spent on it)."""
    w, h = image.size
    if w * h > MAX_PIXELS:
        raise ImageError(f"{source} is {w} x {h} pixels ({w * h / 1e6:.0f} MP); the limit is "
                         f"{MAX_PIXELS / 1e6:.0f} MP: downscale it first")


def open_image(path, what: str = "an image") -> Image.Image:
    """A file as a decoded PIL image (first frame of an animation), size-checked before decoding."""
    try:
        image = Image.open(path)
        check_size(image, f"{Path(str(path)).name}")
        image.load()
    except ImageError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageError(f"{Path(str(path)).name} is too large to decode safely ({e}); the limit is "
                         f"{MAX_PIXELS / 1e6:.0f} MP") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"cannot read {path} as {what}: {e}") from e
    return image


def load_image(source, resolution: int) -> torch.Tensor:
    """A path, PIL image or uint8 array -> (3, R, R) float tensor in [-1, 1], centre-cropped to a square."""
    if isinstance(source, (str, Path)):
        image = open_image(source)
    elif isinstance(source, np.ndarray):
        if source.ndim not in (2, 3) or source.size == 0:
            raise ImageError(f"an image array must be HxW or HxWxC, got shape {source.shape}")
        image = Image.fromarray(source if source.dtype == np.uint8 else np.clip(source, 0, 255).astype(np.uint8))
    elif isinstance(source, Image.Image):
        image = source
    else:
        raise ImageError(f"expected an image path, PIL image or array, got {type(source).__name__}")
    if min(image.size) < 1:
        raise ImageError("the image is empty")
    check_size(image)
    image = to_rgb(image)
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize((resolution, resolution), Image.LANCZOS)
    arr = torch.from_numpy(np.asarray(image, dtype=np.float32).copy()).permute(2, 0, 1)
    return arr / 127.5 - 1


def crop_note(size: tuple[int, int], resolution: int) -> str:
    """What `load_image` does to an image of `size` (width, height), in words for the user."""
    w, h = size
    side = min(w, h)
    crop = f"centre {side} x {side} of {w} x {h}" if w != h else f"{w} x {h}"
    return f"{crop}, resized to {resolution} x {resolution}"


def to_pil(image: torch.Tensor) -> Image.Image:
    """(3, H, W) in [-1, 1] -> PIL RGB."""
    arr = ((image.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(arr)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of images in [-1, 1] on a 0-1 scale."""
    mse = ((a - b) / 2).pow(2).mean().clamp(min=1e-12)
    return float(-10 * torch.log10(mse))


def cosine_to_tenth(lr: float, step: int, total: int) -> float:
    """The learning rate at `step` of `total`: a cosine from `lr` down to a tenth of it."""
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / max(total, 1))))


def reconstruction_loss(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    loss = x.new_zeros(())
    a, b = x, target
    for _ in range(3):
        loss = loss + (a - b).abs().mean()
        gx = (a[..., 1:] - a[..., :-1]) - (b[..., 1:] - b[..., :-1])
        gy = (a[..., 1:, :] - a[..., :-1, :]) - (b[..., 1:, :] - b[..., :-1, :])
        loss = loss + 0.5 * (gx.abs().mean() + gy.abs().mean())
        if a.shape[-1] <= 8:
            break
        a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
    return loss


@dataclass
class EmbedConfig:
    steps: int = 300
    lr: float = 0.05
    mean_weight: float = 1e-3  # pull towards the mean latent
    w_steps: float = 0.3  # share of the steps spent in W (one code for all layers) before W+
    seed: int = 0


@dataclass
class EmbedResult:
    w_plus: torch.Tensor  # (num_ws, w_dim)
    image: torch.Tensor  # (3, R, R) reconstruction
    psnr: float
    history: list[dict] = field(default_factory=list)


def _optimise(G, codes_of, param, target, steps, lr, mean_w, mean_weight, first_step, total, history, progress):
    """Adam on `param` for `steps` steps with a cosine decay to a tenth; codes_of(param) -> W+."""
    opt = torch.optim.Adam([param], lr=lr)
    for i in range(steps):
        for g in opt.param_groups:
            g["lr"] = cosine_to_tenth(lr, i, steps)
        codes = codes_of(param)
        loss = reconstruction_loss(G.synthesis(codes), target) + mean_weight * (codes - mean_w).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        record = {"step": first_step + i + 1, "loss": float(loss.detach())}
        history.append(record)
        if progress:
            progress(first_step + i + 1, total, record)


def embed(
    G,
    target: torch.Tensor,
    config: EmbedConfig | None = None,
    start: torch.Tensor | None = None,
    progress: Callable[[int, int, dict], None] | None = None,
) -> EmbedResult:
    """Find W+ whose image matches `target` (3, R, R) in [-1, 1].

    First a share of the steps in W (one code broadcast to every layer: robust), then in
    W+ (every layer free: accurate). `start` is a W (w_dim) or W+ (num_ws, w_dim) guess,
    for example from an encoder; by default the mean latent.
    """
    config = config or EmbedConfig()
    r, n, d = G.resolution, G.num_ws, G.w_dim
    if target.shape != (3, r, r):
        raise ImageError(f"the image to embed must be (3, {r}, {r}) for this generator, got {tuple(target.shape)}")
    torch.manual_seed(config.seed)
    mean_w = G.mean_w().detach().reshape(1, 1, d)
    target = target[None]
    history: list[dict] = []
    if start is not None and start.numel() == n * d:
        w_plus = start.detach().reshape(1, n, d).clone()
        w_steps = 0
    else:
        w = (start.detach().reshape(1, 1, d) if start is not None else mean_w).clone().requires_grad_(True)
        w_steps = int(config.steps * config.w_steps)
        _optimise(G, lambda p: p.expand(1, n, d), w, target, w_steps, config.lr, mean_w, config.mean_weight, 0, config.steps, history, progress)
        w_plus = w.detach().expand(1, n, d).clone()
    w_plus.requires_grad_(True)
    _optimise(G, lambda p: p, w_plus, target, config.steps - w_steps, config.lr * 0.5, mean_w, config.mean_weight, w_steps, config.steps, history, progress)
    codes = w_plus.detach()
    with torch.no_grad():
        image = G.synthesis(codes)[0]
    return EmbedResult(w_plus=codes[0], image=image, psnr=psnr(image, target[0]), history=history)


# ----- pivotal tuning (PTI, Roich et al. 2021) ------------------------------------------------------
@dataclass
class PTIConfig:
    steps: int = 300
    lr: float = 1e-2  # cosine decay to a tenth
    locality_weight: float = 10.0  # keep the generator as it was away from the pivot
    locality_every: int = 4  # the locality term every N steps (it costs extra generator passes)
    locality_alpha: float = 1.0  # latents from the pivot towards random samples: this share of the way (1: the samples)
    locality_samples: int = 2
    seed: int = 0


def pivotal_tuning(G, w_pivot: torch.Tensor, target: torch.Tensor, config: PTIConfig | None = None,
                   progress: Callable[[int, int, dict], None] | None = None):
    """A copy of G whose synthesis network is fine-tuned so that G(w_pivot) draws `target`.

    The pivot stays fixed; the locality regulariser keeps images at latents between the
    pivot and random samples as the original G drew them, so edits (vectors, part-map
    edits) behave as before. G itself is never changed. Returns (tuned G, history).
    """
    config = config or PTIConfig()
    r, n, d = G.resolution, G.num_ws, G.w_dim
    if target.shape != (3, r, r):
        raise ImageError(f"the image to tune on must be (3, {r}, {r}) for this generator, got {tuple(target.shape)}")
    tuned = copy.deepcopy(G).eval()
    tuned.requires_grad_(False)
    tuned.tuned_from = getattr(G, "tuned_from", None) or G.fingerprint()  # its identity for edit vectors
    params = list(tuned.synthesis.parameters())
    for p in params:
        p.requires_grad_(True)
    G = G.eval()
    gen = torch.Generator().manual_seed(config.seed)
    pivot = w_pivot.detach().reshape(1, n, d).to(target.device)
    target = target[None]
    opt = torch.optim.Adam(params, lr=config.lr)
    history: list[dict] = []
    for i in range(config.steps):
        for g in opt.param_groups:
            g["lr"] = cosine_to_tenth(config.lr, i, config.steps)
        image = tuned.synthesis(pivot)
        loss = reconstruction_loss(image, target) + F.mse_loss(image, target)
        record = {"step": i + 1, "psnr": psnr(image.detach()[0], target[0])}
        if config.locality_weight > 0 and i % config.locality_every == 0:
            with torch.no_grad():
                z = torch.randn(config.locality_samples, G.z_dim, generator=gen).to(pivot.device)
                w_rand = G.w_plus(G.mapping(z))
                w_near = pivot + config.locality_alpha * (w_rand - pivot)
                before = G.synthesis(w_near)
            local = F.mse_loss(tuned.synthesis(w_near), before)
            loss = loss + config.locality_weight * local
            record["locality"] = float(local.detach())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        record["loss"] = float(loss.detach())
        history.append(record)
        if progress:
            progress(i + 1, config.steps, record)
    tuned.requires_grad_(False)
    return tuned.eval(), history


# ----- the whole inversion: encoder, optimisation, pivotal tuning -------------------------------------
@dataclass
class InversionConfig:
    steps: int = 100  # optimisation steps after the encoder (or from the mean latent without one)
    lr: float = 0.02  # W+ learning rate when starting from the encoder
    pti_steps: int = 0  # 0: no pivotal tuning
    pti: PTIConfig = field(default_factory=PTIConfig)


@dataclass
class StageReport:
    stage: str  # "encoder", "optimisation", "pivotal tuning"
    psnr: float
    seconds: float
    steps: int = 0


@dataclass
class InversionResult:
    w_plus: torch.Tensor  # (num_ws, w_dim), the pivot
    image: torch.Tensor  # (3, R, R) the final reconstruction
    psnr: float
    stages: list[StageReport]
    generator: object | None = None  # the pivotally tuned generator, when PTI ran (else None: use G)

    def summary(self) -> str:
        return ", ".join(f"{s.stage} {s.psnr:.1f} dB" + (f" ({s.steps} steps)" if s.steps else "") + f" {s.seconds:.1f} s"
                         for s in self.stages)


def encode_stage(G, encoder, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The encoder's W+ guess and its image."""
    with torch.no_grad():
        w = encoder.encode(target).to(target.device)
        image = G.synthesis(w[None])[0]
    return w, image


def invert(G, target: torch.Tensor, encoder=None, config: InversionConfig | None = None,
           progress: Callable[[str, int, int, dict], None] | None = None) -> InversionResult:
    """Embed `target` (3, R, R) in [-1, 1]: the encoder's guess (if an encoder is given), then
    `config.steps` optimisation steps from it, then `config.pti_steps` of pivotal tuning.

    `progress(stage, step, total, info)` is called during each stage (and once after the
    encoder, with step = total = 1). The result says which stages ran, their PSNR and time.
    """
    config = config or InversionConfig()
    r = G.resolution
    if target.shape != (3, r, r):
        raise ImageError(f"the image to embed must be (3, {r}, {r}) for this generator, got {tuple(target.shape)}")
    stages: list[StageReport] = []
    start = None
    image = None
    if encoder is not None:
        t = time.perf_counter()
        start, image = encode_stage(G, encoder, target)
        stages.append(StageReport("encoder", psnr(image, target), time.perf_counter() - t))
        if progress:
            progress("encoder", 1, 1, {"psnr": stages[-1].psnr, "image": image})
    w = start
    if config.steps > 0 or start is None:
        t = time.perf_counter()
        steps = max(config.steps, 1)
        # embed() runs W+ at half its lr (its W phase, skipped from a W+ start, takes the full lr)
        cfg = EmbedConfig(steps=steps, lr=config.lr * 2 if start is not None else EmbedConfig.lr)
        res = embed(G, target, cfg, start=start,
                    progress=(lambda s, tot, info: progress("optimisation", s, tot, info)) if progress else None)
        w, image = res.w_plus, res.image
        stages.append(StageReport("optimisation", res.psnr, time.perf_counter() - t, steps))
    tuned = None
    if config.pti_steps > 0:
        t = time.perf_counter()
        pti = dataclasses.replace(config.pti, steps=config.pti_steps)
        tuned, _ = pivotal_tuning(G, w, target, pti,
                                  progress=(lambda s, tot, info: progress("pivotal tuning", s, tot, info)) if progress else None)
        with torch.no_grad():
            image = tuned.synthesis(w[None])[0]
        stages.append(StageReport("pivotal tuning", psnr(image, target), time.perf_counter() - t, config.pti_steps))
    return InversionResult(w_plus=w.detach(), image=image.detach(), psnr=psnr(image, target), stages=stages, generator=tuned)
