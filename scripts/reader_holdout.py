"""Is the shipped parameter reader held out from what the editor and the vectors were made with?

    python scripts/reader_holdout.py faces

Replays the random draws of `editgan.reader.train_reader` (seed 0, 3000 steps, batch 32:
world parameters from z, then the blur and noise of `soften`) without rendering, and checks
that no training draw's z equals the z of any model seed the vectors were made from (below
500), the strict evaluation's seeds (100000-100199) or the paint benchmark's (200000-200099).
(The reader trains on renders only, `world.render` of fresh parameter draws: it never sees a
generator sample or the branch; see train_reader.)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from editgan.model import load_model
from editgan.reader import ParameterReader

SEED_RANGES = {"vector sources": range(0, 500), "strict evaluation": range(100_000, 100_200),
               "paint benchmark": range(200_000, 200_100)}


def training_draws(num_params: int, resolution: int, steps: int, batch: int, seed: int) -> torch.Tensor:
    """The z of every training render of train_reader, in order (steps * batch, num_params)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(steps):
        out.append(torch.randn(batch, num_params, generator=g))
        torch.rand(batch, generator=g)  # soften: blur sigma
        torch.randn((batch, 3, resolution, resolution), generator=g)  # soften: noise
    return torch.cat(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("domain")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=32)
    a = p.parse_args(argv)
    model = load_model(a.domain)
    reader = ParameterReader.from_pretrained(Path(model.folder) / "reader")
    world = reader.world
    draws = training_draws(world.num_params, reader.config.resolution, a.steps, a.batch, seed=0)
    seen = {tuple(row.tolist()) for row in draws}
    report = {"domain": a.domain, "training_renders": len(draws)}
    for name, seeds in SEED_RANGES.items():
        z = [torch.randn(1, model.G.z_dim, generator=torch.Generator().manual_seed(s))[0, : world.num_params] for s in seeds]
        report[f"{name}: seeds {seeds.start}-{seeds.stop - 1} whose z the reader trained on"] = sum(tuple(v.tolist()) in seen for v in z)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
