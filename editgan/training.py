"""Train a default model: distillation from a procedural world, then adversarial sharpening.

z ~ N(0, I) is mapped to the world's parameters through their prior (inverse CDF), and the
generator learns G(z) = render(params(z)) with a part-weighted L1, an image-gradient term
and an L1 on 2x-pooled images. This reaches in tens of CPU-minutes what adversarial
training does not reach in hours (../shared/notes/default-model-feasibility.md), and
sampling z ~ N(0, I) afterwards gives the world's whole variety.

An L1 loss averages what it cannot predict exactly, so a distilled generator is soft. The
second stage (`adversarial > 0`, usually with `init` = the distilled model) adds a StyleGAN2
discriminator on renders vs samples (non-saturating loss, lazy R1), keeping the distillation
loss as the regulariser that ties G(z) to render(params(z)).

Runs are resumable: `run_dir/checkpoint.pt` is written every `checkpoint_every` seconds
and picked up again by the same command.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from .generator import Generator, GeneratorConfig
from .world import World, get_world

# Parts that edits target get a larger loss weight: they are small, and a generator that
# does not draw them cannot be edited there (shared notes: the mouth came last).
PART_WEIGHTS = {
    "faces": {"lips": 15.0, "mouth": 15.0, "teeth": 15.0, "eyebrows": 15.0, "eye_whites": 5.0, "irises": 5.0, "nose": 5.0},
    "cars": {"rims": 8.0, "lights": 10.0, "windows": 5.0, "tyres": 5.0},
}


@dataclass
class TrainConfig:
    world: str = "faces"
    resolution: int = 64
    w_dim: int = 256
    mapping_layers: int = 4
    channels: tuple[int, ...] = (128, 128, 128, 64, 32)
    batch: int = 8
    lr: float = 2e-3
    betas: tuple[float, float] = (0.9, 0.99)
    ema: float = 0.998
    minutes: float = 60.0  # wall-clock budget; the lr decays over its last 20%
    max_steps: int | None = None  # stop earlier (tests, smoke runs)
    supersample: int = 2
    bf16: bool = True
    seed: int = 0
    log_every: int = 100
    checkpoint_every: float = 120.0  # seconds
    grid_every: float = 300.0  # seconds
    part_weights: dict[str, float] = field(default_factory=dict)
    # adversarial sharpening (0: pure distillation)
    init: str | None = None  # a model folder (weights/faces) to start from instead of random weights
    adversarial: float = 0.0  # weight of the non-saturating generator loss next to the distillation loss
    d_lr: float = 2e-3
    gan_betas: tuple[float, float] = (0.0, 0.99)  # both optimisers, once adversarial
    r1_gamma: float = 1.0
    r1_every: int = 16  # lazy regularisation (StyleGAN2): R1 on one step in r1_every, scaled up

    def generator_config(self, world: World) -> GeneratorConfig:
        return GeneratorConfig(
            resolution=self.resolution,
            z_dim=world.num_params,
            w_dim=self.w_dim,
            mapping_layers=self.mapping_layers,
            channels=tuple(self.channels),
            normalize_z=False,  # z's per-component values carry the parameters
        )


# ----- losses --------------------------------------------------------------------------
def part_weight_map(labels: torch.Tensor, class_names: list[str], weights: dict[str, float]) -> torch.Tensor:
    """(N, H, W) labels -> (N, 1, H, W) per-pixel loss weight, parts dilated by one pixel."""
    w = torch.ones(labels.shape[0], 1, *labels.shape[1:])
    for name, value in weights.items():
        mask = (labels == class_names.index(name)).float().unsqueeze(1)
        mask = F.max_pool2d(mask, 3, stride=1, padding=1)
        w = torch.maximum(w, mask * value)
    return w


def image_gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def distillation_loss(fake: torch.Tensor, real: torch.Tensor, weight: torch.Tensor) -> dict[str, torch.Tensor]:
    l1 = (weight * (fake - real).abs()).mean()
    fx, fy = image_gradients(fake)
    rx, ry = image_gradients(real)
    grad = (weight[..., :, 1:] * (fx - rx).abs()).mean() + (weight[..., 1:, :] * (fy - ry).abs()).mean()
    pooled = (F.avg_pool2d(fake, 2) - F.avg_pool2d(real, 2)).abs().mean()
    return {"l1": l1, "grad": grad, "pooled": pooled, "total": l1 + grad + pooled}


def per_part_l1(fake: torch.Tensor, real: torch.Tensor, labels: torch.Tensor, class_names: list[str], names) -> dict[str, float]:
    err = (fake - real).abs().mean(1)
    out = {}
    for name in names:
        m = labels == class_names.index(name)
        if m.any():
            out[name] = float(err[m].mean() / 2)  # on a 0-1 scale
    return out


# ----- the loop ---------------------------------------------------------------------------
def lr_at(cfg: TrainConfig, fraction_done: float) -> float:
    """Constant, then a cosine decay to zero over the last 20% of the budget."""
    if fraction_done < 0.8:
        return cfg.lr
    t = min(1.0, (fraction_done - 0.8) / 0.2)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * t))


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, beta: float) -> None:
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm, 1 - beta)
    for be, bm in zip(ema.buffers(), model.buffers()):
        be.copy_(bm)


def save_grid(path: Path, generators, world: World, z: torch.Tensor, supersample: int, scale: int = 1) -> None:
    """Renders on top, then one row per generator (a Generator or a list of them), on these z."""
    from PIL import Image

    generators = generators if isinstance(generators, (list, tuple)) else [generators]
    with torch.no_grad():
        real, _ = world.render(world.params_from_z(z), generators[0].resolution, supersample)
        fakes = [G(z.to(next(G.parameters()).device)).float().clamp(-1, 1).cpu() for G in generators]
    rows = [torch.cat(list(t), 2) for t in (real, *fakes)]
    img = Image.fromarray(((torch.cat(rows, 1) + 1) * 127.5).round().clamp(0, 255).byte().permute(1, 2, 0).numpy())
    img.resize((img.width * scale, img.height * scale), Image.NEAREST).save(path)


def initial_generator(cfg: TrainConfig, world: World) -> Generator:
    """Random weights, or the model in `cfg.init` (its world must match)."""
    if cfg.init is None:
        return Generator(cfg.generator_config(world))
    G = Generator.from_pretrained(cfg.init)
    if G.z_dim != world.num_params:
        raise ValueError(f"{cfg.init} has z_dim {G.z_dim}; the {cfg.world} world has {world.num_params} parameters")
    return G


def train(cfg: TrainConfig, run_dir: str | Path, progress=None) -> Generator:
    """Train (or resume) a run in `run_dir`; returns the weight-averaged generator.

    `progress(step, info)` is called every `log_every` steps with a dict of numbers.
    """
    from .discriminator import Discriminator, discriminator_loss, generator_adversarial_loss, r1_penalty

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    world = get_world(cfg.world)
    names = [c.name for c in world.classes]
    weights = cfg.part_weights or PART_WEIGHTS.get(cfg.world, {})
    torch.manual_seed(cfg.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    adversarial = cfg.adversarial > 0

    G = initial_generator(cfg, world).train().to(device, memory_format=torch.channels_last)
    G_ema = copy.deepcopy(G).eval()
    betas = cfg.gan_betas if adversarial else cfg.betas
    opt = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=betas)
    D = Discriminator(G.resolution).to(device) if adversarial else None
    d_opt = torch.optim.Adam(D.parameters(), lr=cfg.d_lr, betas=cfg.gan_betas) if adversarial else None
    step, elapsed = 0, 0.0
    ckpt_path = run_dir / "checkpoint.pt"
    if ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=device, weights_only=True)
        G.load_state_dict(state["G"])
        G_ema.load_state_dict(state["G_ema"])
        opt.load_state_dict(state["opt"])
        if adversarial:
            D.load_state_dict(state["D"])
            d_opt.load_state_dict(state["d_opt"])
        step, elapsed = state["step"], state["elapsed"]
        torch.set_rng_state(state["rng"].cpu())  # map_location may have moved it to the GPU
    (run_dir / "train_config.json").write_text(json.dumps(asdict(cfg), indent=2))

    fixed_z = torch.randn(8, G.z_dim, generator=torch.Generator().manual_seed(1234))
    budget = cfg.minutes * 60
    t0 = time.time() - elapsed
    last_ckpt = last_grid = time.time()
    log_t, log_step = time.time(), step
    running: dict[str, float] = {}

    def checkpoint():
        tmp = ckpt_path.with_suffix(".tmp")
        state = {"G": G.state_dict(), "G_ema": G_ema.state_dict(), "opt": opt.state_dict(), "step": step,
                 "elapsed": time.time() - t0, "rng": torch.get_rng_state()}
        if adversarial:
            state.update(D=D.state_dict(), d_opt=d_opt.state_dict())
        torch.save(state, tmp)
        os.replace(tmp, ckpt_path)

    autocast = dict(device_type=device.type, dtype=torch.bfloat16, enabled=cfg.bf16)
    while True:
        elapsed = time.time() - t0
        if elapsed >= budget or (cfg.max_steps is not None and step >= cfg.max_steps):
            break
        lr_scale = lr_at(cfg, elapsed / budget) / cfg.lr
        for group in opt.param_groups:
            group["lr"] = cfg.lr * lr_scale
        z = torch.randn(cfg.batch, G.z_dim)
        with torch.no_grad():
            real, labels = world.render(world.params_from_z(z), G.resolution, cfg.supersample)
            weight = part_weight_map(labels, names, weights)
        real, weight, z = real.to(device), weight.to(device), z.to(device)

        with torch.autocast(**autocast):
            fake = G(z)
        if adversarial:  # the discriminator's step: renders are real, samples (detached) fake
            for group in d_opt.param_groups:
                group["lr"] = cfg.d_lr * lr_scale
            with torch.autocast(**autocast):
                d_loss = discriminator_loss(D(real).float(), D(fake.detach()).float())
            if step % cfg.r1_every == 0:
                r1 = r1_penalty(D, real)
                d_loss = d_loss + cfg.r1_gamma / 2 * r1 * cfg.r1_every
                running["r1"] = running.get("r1", 0.0) + float(r1.detach()) * cfg.r1_every
            d_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            d_opt.step()
            running["d_loss"] = running.get("d_loss", 0.0) + float(d_loss.detach())

        losses = distillation_loss(fake.float(), real, weight)
        if adversarial:  # the generator's step: D frozen, so only G gets gradients
            D.requires_grad_(False)
            with torch.autocast(**autocast):
                losses["adversarial"] = generator_adversarial_loss(D(fake).float())
            losses["total"] = losses["total"] + cfg.adversarial * losses["adversarial"]
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        opt.step()
        if adversarial:
            D.requires_grad_(True)
        ema_update(G_ema, G, cfg.ema)
        step += 1
        for k, v in losses.items():
            running[k] = running.get(k, 0.0) + float(v.detach())

        if step % cfg.log_every == 0:
            now = time.time()
            info = {k: v / (step - log_step) for k, v in running.items()}
            info.update(step=step, img_per_s=cfg.batch * (step - log_step) / (now - log_t),
                        minutes=(now - t0) / 60, eta_minutes=max(0.0, budget - (now - t0)) / 60,
                        lr=opt.param_groups[0]["lr"])
            info["parts_l1"] = per_part_l1(fake.detach().float().cpu(), real.cpu(), labels, names, weights)
            with open(run_dir / "log.jsonl", "a") as f:
                f.write(json.dumps(info) + "\n")
            if progress:
                progress(step, info)
            running, log_t, log_step = {}, now, step
        if time.time() - last_ckpt > cfg.checkpoint_every:
            checkpoint()
            last_ckpt = time.time()
        if time.time() - last_grid > cfg.grid_every:
            G_ema.eval()
            q = evaluate_quality(G_ema, world, n=64, supersample=cfg.supersample)
            save_grid(run_dir / f"grid-{int((time.time() - t0) / 60):03d}min.png", G_ema, world, fixed_z, cfg.supersample)
            with open(run_dir / "log.jsonl", "a") as f:
                f.write(json.dumps({"step": step, "ema_psnr_64": q.psnr_db, "ema_sharpness_64": q.sharpness}) + "\n")
            last_grid = time.time()

    checkpoint()
    G_ema = G_ema.to(memory_format=torch.contiguous_format).cpu().eval()
    save_grid(run_dir / "grid-final.png", G_ema, world, fixed_z, cfg.supersample)
    return G_ema


def box_blur(x: torch.Tensor) -> torch.Tensor:
    """3x3 box blur of (N, C, H, W) images, edges replicated."""
    return F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)


def high_frequency_energy(x: torch.Tensor) -> torch.Tensor:
    """Per image: mean squared difference between x and its 3x3 box blur (what blur removes)."""
    return (x - box_blur(x)).pow(2).mean(dim=(1, 2, 3))


@dataclass
class Quality:
    psnr_db: float  # G(z) against render(params(z))
    sharpness: float  # high-frequency energy of G(z) over that of the renders (1: as crisp)
    samples: int


def evaluate_quality(G: Generator, world: World, n: int = 256, seed: int = 999, supersample: int = 2) -> Quality:
    """Held-out PSNR and sharpness of G(z) against render(params(z)), z from a fixed seed."""
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
    mse, hf_fake, hf_real = 0.0, 0.0, 0.0
    with torch.no_grad():
        for i in range(0, n, 32):
            real, _ = world.render(world.params_from_z(z[i : i + 32]), G.resolution, supersample)
            fake = G(z[i : i + 32].to(next(G.parameters()).device)).float().clamp(-1, 1).cpu()
            mse += ((fake - real) / 2).pow(2).mean().item() * len(real)
            hf_fake += high_frequency_energy(fake).sum().item()
            hf_real += high_frequency_energy(real).sum().item()
    return Quality(psnr_db=float(-10 * math.log10(mse / n)), sharpness=hf_fake / hf_real, samples=n)



def labelled_samples(G: Generator, world: World, n: int, seed: int, supersample: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """n samples of a distilled generator with free labels: W+ codes and the renderer's part maps.

    G(z) reproduces render(params(z)), so the renderer's part map of params(z) labels G(z).
    """
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        w_plus = G.w_plus(G.mapping(z))
    labels = torch.cat([world.render(world.params_from_z(z[i : i + 64]), G.resolution, supersample)[1] for i in range(0, n, 64)])
    return w_plus, labels


def load_run(run_dir: str | Path) -> Generator:
    """The weight-averaged generator of a training run (finished or still going)."""
    run_dir = Path(run_dir)
    if (run_dir / "generator" / "config.json").is_file():
        return Generator.from_pretrained(run_dir / "generator")
    cfg = TrainConfig(**json.loads((run_dir / "train_config.json").read_text()))
    G = initial_generator(cfg, get_world(cfg.world))
    G.load_state_dict(torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)["G_ema"])
    return G.eval()
