"""Embedding a real image into W+: seconds and reconstruction PSNR against the number of steps.

    python bench/embedding.py [--quick] [--json] [--threads N]

"Real": a face drawn by the procedural world (`editgan.world.get_world("faces").render`),
not by the generator, so the generator has to find it. `embedding.embed` with its
default schedule (30% of the steps in W, then W+), for several step counts.
"""

from __future__ import annotations

import time

try:
    from bench import common
except ImportError:  # run as a script
    import common

import torch

SEED = 7


def real_face(resolution: int, seed: int = SEED) -> torch.Tensor:
    from editgan.world import get_world

    world = get_world("faces")
    z = torch.randn(1, world.num_params, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        images, _ = world.render(world.params_from_z(z), resolution, 2)
    return images[0]


def run(quick: bool) -> dict:
    from editgan.embedding import EmbedConfig, embed
    from editgan.model import load_model

    if "faces" not in common.default_domains():
        return {"title": "Embedding", "columns": ["note"], "rows": [["no weights/faces/: skipped"]], "summary": {}, "notes": []}
    G = load_model("faces").G
    target = real_face(G.resolution)
    embed(G, target, EmbedConfig(steps=2))  # warm-up: the first call pays one-off costs
    rows = []
    for steps in ((20,) if quick else (25, 50, 100, 300)):
        t0 = time.perf_counter()
        res = embed(G, target, EmbedConfig(steps=steps))
        seconds = time.perf_counter() - t0
        rows.append([steps, seconds, seconds / steps * 1e3, res.psnr])
    last = rows[-1]
    return {
        "title": "Embedding a real image (faces default model)",
        "columns": ["steps", "seconds", "ms/step", "PSNR dB"],
        "rows": rows,
        "summary": {"embed_steps": last[0], "embed_seconds": last[1], "embed_psnr_db": last[3]},
        "notes": [f"target: a procedural face (world seed {SEED}), rendered at {G.resolution} px, 2x supersampled"],
    }


def main(argv=None):
    common.main_for(run, __doc__, argv)


if __name__ == "__main__":
    main()
