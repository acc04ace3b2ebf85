"""Make the shipped edit vectors of a default model, the EditGAN way, and their grids.

    python scripts/make_vectors.py faces

For each vector: one sample whose target parameter is low, its part map repainted as a
user would paint the change (`editgan.evaluation.painted_edit`), the latent optimised
by the editor, the offset saved with its metadata under vectors/<domain>/. Then a grid
per vector (strengths -2..2 on 8 other samples) under docs/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from editgan.editor import EditConfig, edit, painted_classes
from editgan.evaluation import painted_edit, seed_params
from editgan.model import ROOT, load_model
from editgan.vectors import EditVector, save_vector
from editgan.world import get_world

# name, parameter, target value, description
SPECS = {
    "faces": [
        ("smile", "smile", 0.95, "Smile: lift the mouth corners and open the mouth on the teeth."),
        ("raise_eyebrows", "eyebrow_height", 1.0, "Raise both eyebrows."),
        ("bigger_eyes", "eye_size", 1.0, "Make the eyes larger."),
    ],
    "cars": [
        ("bigger_wheels", "wheel_size", 0.19, "Larger wheels (tyres and rims)."),
        ("bigger_lights", "light_size", 1.0, "Larger front and rear lights."),
        ("taller_roof", "roof_height", 0.34, "A taller roof and windows."),
    ],
}
STRENGTHS = [-2.0, -1.0, 0.0, 1.0, 2.0]


def source_seed(model, world, parameter, start=0):
    """The first seed whose parameter lies in the lowest fifth of its range."""
    p = world.parameters[world.index(parameter)]
    for seed in range(start, start + 500):
        if seed_params(model, world, seed)[0, world.index(parameter)] < p.low + 0.2 * (p.high - p.low):
            return seed
    raise RuntimeError(f"no seed with a low {parameter}")


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
    a = p.parse_args()
    model = load_model(a.domain)
    world = get_world(a.domain)
    out_dir = ROOT / "vectors" / a.domain
    out_dir.mkdir(parents=True, exist_ok=True)
    docs = ROOT / "docs"
    for name, parameter, value, description in SPECS[a.domain]:
        seed = source_seed(model, world, parameter)
        w = model.w_from_seed(seed)
        _, before = model.render(w)
        target = painted_edit(model, world, seed, parameter, value)
        res = edit(model.G, model.segmenter, w, target, EditConfig(steps=a.steps))
        parts = [model.class_names[c] for c in painted_classes(before, target)]
        vec = EditVector(
            delta=res.delta, name=name, description=description, model_fingerprint=model.fingerprint,
            parts=parts, default_strength=1.0,
            method={"kind": "segmentation-edit", "seed": seed, "parameter": parameter, "direction": 1.0,
                    "target_value": value, "steps": res.steps, "lr": EditConfig().lr,
                    "region_accuracy": res.history[-1]["accuracy"]},
        )
        save_vector(vec, out_dir / f"{name}.safetensors")
        grid(model, vec, list(range(1000, 1008)), docs / f"vector-{a.domain}-{name}.png")
        print(f"{name}: seed {seed}, {res.steps} steps, region accuracy {res.history[-1]['accuracy']:.3f}, parts {parts}", file=sys.stderr)


if __name__ == "__main__":
    main()
