"""Training throughput of the default-model recipe (`editgan.training.train`): images per second.

    python bench/training.py [--quick] [--json] [--threads N]

A few dozen steps (a handful in --quick) of the faces recipe as `TrainConfig` sets it
(64 px, batch 8, bf16 autocast, the world rendered 2x supersampled every step) in a
temporary run folder; images/s is the recipe's own log (`img_per_s`) over the windows
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


def run(quick: bool) -> dict:
    from editgan.training import TrainConfig, train

    steps, every = (6, 2) if quick else (40, 10)
    cfg = TrainConfig(world="faces", max_steps=steps, log_every=every, minutes=1e6, checkpoint_every=1e9, grid_every=1e9)
    logs = []
    with tempfile.TemporaryDirectory() as run_dir:
        t0 = time.perf_counter()
        train(cfg, run_dir, progress=lambda step, info: logs.append(info))
        wall = time.perf_counter() - t0
    rates = [info["img_per_s"] for info in logs[1:]] or [logs[-1]["img_per_s"]]
    ips = statistics.median(rates)
    parts = split(cfg, 2 if quick else 5)
    rows = [
        ["train() log, median over windows after the first", cfg.batch, ips, cfg.batch / ips * 1e3],
        ["  of which: render one batch (alone)", cfg.batch, cfg.batch / parts["render_ms"] * 1e3, parts["render_ms"]],
        ["  of which: generator step (alone)", cfg.batch, cfg.batch / parts["step_ms"] * 1e3, parts["step_ms"]],
    ]
    summary = {"train_images_per_s": ips, "train_render_share": parts["render_ms"] / (parts["render_ms"] + parts["step_ms"])}
    notes = [f"{steps} steps, logged every {every}; {wall:.1f} s wall in all (with start-up and the final checkpoint "
             f"and grid); bf16 autocast={cfg.bf16}, supersample={cfg.supersample}, channels {list(cfg.channels)}"]
    return common.result("Training throughput (faces default-model recipe)", ["what", "batch", "images/s", "ms per batch"],
                         rows, summary, notes)


def main(argv=None):
    common.main_for(run, __doc__, argv)


if __name__ == "__main__":
    main()
