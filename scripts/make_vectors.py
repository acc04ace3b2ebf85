"""Make the shipped edit vectors of a default model, the EditGAN way, and their grids.

    python scripts/make_vectors.py faces

For each vector: several samples whose target parameter is low (its recipe in SPECS, or
`--sources`), each one's part map repainted as a user would paint the change
(`editgan.evaluation.painted_edit`, the same target value for all), the latent optimised
by the editor; the vector is the mean of their offsets (what is particular to one sample
averages out, the common edit stays), saved with its metadata under vectors/<domain>/.
Its parts are the painted classes, less the large ones (skin, sky, road, body: more than
15% of the image on any source sample) that a user paints only to erase a part. Then a grid per vector (strengths -2..2 on 8 other
samples) under docs/.

    python scripts/make_vectors.py faces --sources 1     # one-sample vectors, as before
    python scripts/make_vectors.py cars --only taller_roof --out runs/try --no-grids   # try one
    python scripts/make_vectors.py faces --grids-only    # redraw the grids of vectors/<domain>
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from editgan.editor import EditConfig, edit, painted_classes
from editgan.evaluation import painted_edit, seed_params
from editgan.model import ROOT, load_model
from editgan.vectors import EditVector, load_vector, save_vector
from editgan.world import get_world

# name, parameter, target value, description, recipe: (source samples, painted both ways).
# The recipes are what the evaluation chose (docs/evaluation-*.md): several edits averaged
# helped every vector but the wheels; painting both ways helped the eyes and eyebrows only.
# 16 painted samples instead of 4-6 add 0.7-2.1 dB of strict PSNR outside on the faces
# vectors (docs/evaluation.md, item 4), which the sharpened faces model needs (its crisper
# details make the same small leak cost more).
SPECS = {
    "faces": [
        ("smile", "smile", 0.95, "Smile: lift the mouth corners and open the mouth on the teeth.", (16, False)),
        ("raise_eyebrows", "eyebrow_height", 1.0, "Raise both eyebrows.", (16, True)),
        ("bigger_eyes", "eye_size", 1.0, "Make the eyes larger.", (16, True)),
    ],
    "cars": [
        ("bigger_wheels", "wheel_size", 0.19, "Larger wheels (tyres and rims).", (1, False)),
        ("bigger_lights", "light_size", 1.0, "Larger front and rear lights.", (6, False)),
        ("taller_roof", "roof_height", 0.34, "A taller roof and windows.", (6, False)),
    ],
}
STRENGTHS = [-2.0, -1.0, 0.0, 1.0, 2.0]


def source_seeds(model, world, parameter, count=1, start=0, high=False):
    """The first `count` seeds whose parameter lies in the lowest (`high`: highest) fifth of its range."""
    p = world.parameters[world.index(parameter)]
    seeds = []
    for seed in range(start, start + 500):
        u = (seed_params(model, world, seed)[0, world.index(parameter)] - p.low) / (p.high - p.low)
        if (u > 0.8) if high else (u < 0.2):
            seeds.append(seed)
            if len(seeds) == count:
                return seeds
    raise RuntimeError(f"fewer than {count} seeds with a low {parameter}")


def edited_parts(before, target, max_part_share=EditConfig().max_part_share):
    """The painted classes: (small ones, large ones). Large: more than `max_part_share` of the
    image before or after (the editor's own rule for classes painted to erase a part)."""
    n = before.numel()
    painted = painted_classes(before, target)
    large = {c for c in painted if max(int((before == c).sum()), int((target == c).sum())) > max_part_share * n}
    return set(painted) - large, large


def grid(model, vec, seeds, path):
    """Rows: samples; columns: strengths. Images on the left half, part maps on the right."""
    r = model.G.resolution
    scale = 2
    cell = r * scale
    out = Image.new("RGB", (cell * len(STRENGTHS) * 2 + 8, cell * len(seeds) + 16), "white")
    d = ImageDraw.Draw(out)
    for j, s in enumerate(STRENGTHS):
        d.text((j * cell + 4, 2), f"{s:+.0f}", fill="black")
    for i, seed in enumerate(seeds):
        w = model.w_from_seed(seed)
        for j, s in enumerate(STRENGTHS):
            image, labels = model.render(w + s * vec.delta)
            img = Image.fromarray(((image.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy())
            seg = Image.fromarray(model.palette[labels].numpy())
            out.paste(img.resize((cell, cell), Image.NEAREST), (j * cell, 16 + i * cell))
            out.paste(seg.resize((cell, cell), Image.NEAREST), (len(STRENGTHS) * cell + 8 + j * cell, 16 + i * cell))
    out.save(path)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("domain", choices=list(SPECS))
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--sources", type=int, help="samples painted the same way, the vector is their mean offset (default: the recipe in SPECS)")
    p.add_argument("--only", nargs="*", help="make only these vectors")
    p.add_argument("--both-ways", action="store_true",
                   help="also paint as many high samples down and count their offsets negated")
    p.add_argument("--colour-weight", type=float, default=0.0,
                   help="keep each edited part's mean colour (editor's colour term; 0: off)")
    p.add_argument("--model", help="model folder (default: the shipped one)")
    p.add_argument("--out", help="vectors folder (default vectors/<domain>)")
    p.add_argument("--no-grids", action="store_true")
    p.add_argument("--grids-only", action="store_true", help="only redraw the grids of the vectors in the folder")
    a = p.parse_args()
    model = load_model(a.model or a.domain)
    world = get_world(a.domain)
    out_dir = Path(a.out) if a.out else ROOT / "vectors" / a.domain
    out_dir.mkdir(parents=True, exist_ok=True)
    docs = ROOT / "docs"
    for name, parameter, value, description, (sources, both_ways) in SPECS[a.domain]:
        sources = a.sources or sources
        both_ways = a.both_ways or both_ways
        if a.only and name not in a.only:
            continue
        if a.grids_only:
            grid(model, load_vector(out_dir / f"{name}.safetensors"), list(range(1000, 1008)), docs / f"vector-{a.domain}-{name}.png")
            continue
        spec = world.parameters[world.index(parameter)]
        jobs = [(seed, value, 1.0) for seed in source_seeds(model, world, parameter, sources)]
        if both_ways:  # also paint high samples down to the mirrored value; their offsets count negated
            jobs += [(seed, spec.low + spec.high - value, -1.0) for seed in source_seeds(model, world, parameter, sources, high=True)]
        seeds = [seed for seed, _, _ in jobs]
        deltas, parts, large, accuracies, steps = [], set(), set(), [], []
        for seed, paint_value, sign in jobs:
            w = model.w_from_seed(seed)
            _, before = model.render(w)
            target = painted_edit(model, world, seed, parameter, paint_value)
            res = edit(model.G, model.segmenter, w, target, EditConfig(steps=a.steps, colour_weight=a.colour_weight))
            deltas.append(sign * res.delta)
            if sign > 0:  # the parts are what is painted to make the edit the vector makes
                small, big = edited_parts(before, target)
                parts |= small
                large |= big
            accuracies.append(res.history[-1]["accuracy"])
            steps.append(res.steps)
            print(f"{name}: seed {seed}, {res.steps} steps, region accuracy {accuracies[-1]:.3f}", file=sys.stderr)
        delta = torch.stack(deltas).mean(0)
        # a class that is large on any source (the car body: 12-16% of the image) is not a part
        parts = [model.class_names[c] for c in sorted(parts - large)]
        vec = EditVector(
            delta=delta, name=name, description=description, model_fingerprint=model.fingerprint,
            parts=parts, default_strength=1.0,
            method={"kind": "segmentation-edit" if len(seeds) == 1 else "mean-of-segmentation-edits" + ("-both-ways" if both_ways else ""),
                    "seed": seeds[0], "seeds": seeds, "parameter": parameter, "direction": 1.0,
                    "target_value": value, "steps": max(steps), "lr": EditConfig().lr, "colour_weight": a.colour_weight,
                    "region_accuracy": sum(accuracies) / len(accuracies)},
        )
        save_vector(vec, out_dir / f"{name}.safetensors")
        if not a.no_grids:
            grid(model, vec, list(range(1000, 1008)), docs / f"vector-{a.domain}-{name}.png")
        print(f"{name}: mean of {len(seeds)} edits (seeds {seeds}), |delta| {float(delta.norm()):.3f}, parts {parts}", file=sys.stderr)


if __name__ == "__main__":
    main()
