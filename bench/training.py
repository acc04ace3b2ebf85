"""Training throughput of the default-model recipe (`editgan.training.train`): images per second.

    python bench/training.py [--quick] [--json] [--threads N]

A few dozen steps (a handful in --quick) of each faces recipe as `TrainConfig` sets it
(batch 8, bf16 autocast, the world rendered 2x supersampled every step): distillation and
adversarial sharpening, at 64 and 128 px, in a temporary run folder; images/s is the recipe's own log (`img_per_s`) over the windows
after the first (which holds the warm-up). The split times one batch's rendering and
one generator step (forward, loss, backward, Adam) on their own.
"""

from __future__ import annotations

import statistics
import tempfile
import time

try:
    from bench import common
except ImportError:  # run as a script
    import common

import torch


def split(cfg, repeats: int) -> dict:
    """Milliseconds of rendering one batch, and of one generator step, measured apart."""
    from editgan.generator import Generator
    from editgan.training import PART_WEIGHTS, distillation_loss, part_weight_map
    from editgan.world import get_world

    world = get_world(cfg.world)
    names = [c.name for c in world.classes]
    G = Generator(cfg.generator_config(world)).train().to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=cfg.betas)
    z = torch.randn(cfg.batch, G.z_dim)

    def render():
        with torch.no_grad():
            real, labels = world.render(world.params_from_z(z), G.resolution, cfg.supersample)
            return real, part_weight_map(labels, names, PART_WEIGHTS.get(cfg.world, {}))

    real, weight = render()

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
            fake = G(z)
        loss = distillation_loss(fake.float(), real, weight)["total"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return {"render_ms": common.timeit(render, repeats, 1)["best_ms"], "step_ms": common.timeit(step, repeats, 1)["best_ms"]}


RECIPES = {  # name: TrainConfig fields
    "64 px distillation": {},
    "64 px adversarial sharpening": {"adversarial": 0.1},
    "128 px distillation": {"resolution": 128, "channels": (128, 128, 128, 64, 32, 16)},
    "128 px adversarial sharpening": {"resolution": 128, "channels": (128, 128, 128, 64, 32, 16), "adversarial": 0.1},
}


def throughput(cfg) -> tuple[float, float]:
    """Images/s of train() on cfg (median over log windows after the first), and its wall seconds."""
    from editgan.training import train

    logs = []
    with tempfile.TemporaryDirectory() as run_dir:
        t0 = time.perf_counter()
        train(cfg, run_dir, progress=lambda step, info: logs.append(info))
        wall = time.perf_counter() - t0
    rates = [info["img_per_s"] for info in logs[1:]] or [logs[-1]["img_per_s"]]
    return statistics.median(rates), wall


def run(quick: bool) -> dict:
    from editgan.training import TrainConfig

    steps, every = (6, 2) if quick else (40, 10)
    rows, rates, walls = [], {}, []
    base = None
    for name, fields in RECIPES.items():
        cfg = TrainConfig(world="faces", max_steps=steps, log_every=every, minutes=1e6, checkpoint_every=1e9,
                          grid_every=1e9, **fields)
        ips, wall = throughput(cfg)
        walls.append(wall)
        base = base or ips
        rates[name] = ips
        rows.append([name, cfg.batch, ips, cfg.batch / ips * 1e3, ips / base])
    cfg = TrainConfig(world="faces")
    parts = split(cfg, 2 if quick else 5)
    rows += [
        ["64 px: render one batch (alone)", cfg.batch, cfg.batch / parts["render_ms"] * 1e3, parts["render_ms"], None],
        ["64 px: generator step (alone)", cfg.batch, cfg.batch / parts["step_ms"] * 1e3, parts["step_ms"], None],
    ]
    # The shipped 64-px models took 20,700 distillation steps (49 min); the same number of steps at 128 px:
    hours_128 = 20_700 * cfg.batch / rates["128 px distillation"] / 3600
    summary = {"train_images_per_s": rates["64 px distillation"],
               "train_render_share": parts["render_ms"] / (parts["render_ms"] + parts["step_ms"]),
               "adversarial_images_per_s": rates["64 px adversarial sharpening"],
               "train_128_images_per_s": rates["128 px distillation"],
               "train_128_vs_64": rates["128 px distillation"] / rates["64 px distillation"],
               "hours_for_20700_steps_at_128": hours_128}
    notes = [f"{steps} steps per recipe, logged every {every}; {sum(walls):.1f} s wall in all (with start-up and the final "
             f"checkpoint and grid); bf16 autocast={cfg.bf16}, supersample={cfg.supersample}",
             f"the shipped 64-px models took 20,700 distillation steps; at 128 px that many steps take {hours_128:.1f} h here"]
    return common.result("Training throughput (faces default-model recipes)", ["what", "batch", "images/s", "ms per batch", "vs 64 px distillation"],
                         rows, summary, notes)


def main(argv=None):
    common.main_for(run, __doc__, argv)


if __name__ == "__main__":
    main()
