"""Save a grid of a world's samples: images on the top row, part maps below.

    python scripts/world_grid.py cars docs/world-cars.png            # seeds 0..7 at 128 px
    python scripts/world_grid.py cars /tmp/cars-64.png --size 64 --scale 2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from editgan.world import get_world  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("world")
    ap.add_argument("out")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--count", type=int, default=8)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--scale", type=int, default=1, help="enlarge the grid (nearest neighbour)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    world = get_world(a.world)
    params = torch.cat([world.sample_params(1, s) for s in range(a.first_seed, a.first_seed + a.count)])
    images, labels = world.render(params, a.size)
    rgb = ((images + 1) * 127.5).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    parts = world.palette()[labels].numpy()
    grid = np.concatenate([np.concatenate(list(rgb), 1), np.concatenate(list(parts), 1)], 0)
    im = Image.fromarray(grid)
    if a.scale > 1:
        im = im.resize((im.width * a.scale, im.height * a.scale), Image.NEAREST)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    im.save(a.out)
    print(f"saved {a.out} ({im.width}x{im.height})")


if __name__ == "__main__":
    main()
