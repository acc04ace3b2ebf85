"""Turn a training run into a shipped default model: weights/<domain>/.

    python scripts/make_default_model.py faces --run runs/faces

Writes the generator, a segmentation branch trained on free labels (the renderer's part
maps of the training samples), the held-out mIoU of that branch and of branches trained
from only N = 4, 8, 16, 32 labelled samples (the EditGAN way), and a model card.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from editgan.segmenter import SegmenterTrainConfig, generator_features, mean_iou, train_segmenter
from editgan.training import evaluate_psnr, labelled_samples, load_run
from editgan.world import get_world

ROOT = Path(__file__).resolve().parent.parent


def heldout_miou(G, seg, world, n=100, seed=10_000):
    w, labels = labelled_samples(G, world, n, seed)
    feats = generator_features(G, w)
    with torch.no_grad():
        pred = torch.cat([seg(f).argmax(1) for f in ([x[i : i + 10] for x in feats] for i in range(0, n, 10))])
    return mean_iou(pred, labels, len(world.classes))


def train_branch(G, world, n, seed, steps, pixels, members=10):
    w, labels = labelled_samples(G, world, n, seed)
    bar = tqdm(total=steps, desc=f"segmenter N={n}", leave=False)
    res = train_segmenter(G, w, labels, [c.name for c in world.classes], [c.color for c in world.classes],
                          SegmenterTrainConfig(steps=steps, pixels_per_example=pixels, lr=2e-3),
                          num_members=members, progress=lambda s, t, l: (bar.update(1), bar.set_postfix(loss=round(l, 3))))
    bar.close()
    return res.segmenter


def main():
    p = argparse.ArgumentParser()
    p.add_argument("domain", choices=["faces", "cars"])
    p.add_argument("--run", required=True)
    p.add_argument("--out")
    p.add_argument("--examples", type=int, default=256, help="free-label examples for the shipped branch")
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--few-shot", type=int, nargs="*", default=[4, 8, 16, 32])
    args = p.parse_args()
    out = Path(args.out or ROOT / "weights" / args.domain)
    world = get_world(args.domain)
    G = load_run(args.run)
    G.save_pretrained(out)
    t = time.time()
    seg = train_branch(G, world, args.examples, 0, args.steps, max(8, 2048 // args.examples))
    seg.save_pretrained(out)
    metrics = {"segmenter_minutes": (time.time() - t) / 60, "psnr_db": evaluate_psnr(G, world)}
    miou, per = heldout_miou(G, seg, world)
    metrics["miou_shipped"] = miou
    metrics["per_class_iou_shipped"] = dict(zip([c.name for c in world.classes], per))
    metrics["few_shot"] = {}
    for n in args.few_shot:
        few = train_branch(G, world, n, 1 + n, args.steps, max(64, 2048 // n))
        metrics["few_shot"][n] = heldout_miou(G, few, world)[0]
        print(f"N={n}: mIoU {metrics['few_shot'][n]:.3f}")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    write_card(out, args.domain, G, world, json.loads((Path(args.run) / "train_config.json").read_text()), metrics, Path(args.run))
    print(json.dumps(metrics, indent=2))


def write_card(out, domain, G, world, train_cfg, metrics, run):
    """The model card (README.md): what the model is, how it was trained, how well it does."""
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    last = [r for r in log if "total" in r][-1]
    classes = "\n".join(f"| {i} | {c.name} | rgb{c.color} | {metrics['per_class_iou_shipped'][c.name] or 0:.3f} |" for i, c in enumerate(world.classes))
    few = " | ".join(f"{float(v):.3f}" for v in metrics["few_shot"].values())
    params = "\n".join(f"- `{p.name}` [{p.low}, {p.high}]: {p.doc}" for p in world.parameters)
    card = f"""---
library_name: editgan
license: apache-2.0
tags: [editgan, stylegan2, semantic-editing, {domain}]
---

# editgan default model: {domain}

A {G.resolution}-px StyleGAN2 ({sum(p.numel() for p in G.parameters()) / 1e6:.2f}M parameters; widths
{list(G.config.channels)}, w_dim {G.w_dim}, {G.num_ws} W+ layers, {G.config.mapping_layers}-layer mapping) with
its segmentation branch, trained from scratch on this project's procedural `{domain}` world
(`editgan/world/{domain}.py`) on a 2-core CPU. Load it with `editgan.load_model("weights/{domain}")`.

## Training
Distillation: z ~ N(0, I) is mapped to the world's {world.num_params} named parameters through their prior
(inverse CDF, so z_dim = {G.z_dim}), and G(z) learns render(params(z)) with a part-weighted L1
({train_cfg.get("part_weights") or "weights from editgan.training.PART_WEIGHTS"}), an image-gradient term and an
L1 on 2x-pooled images. Batch {train_cfg["batch"]}, Adam lr {train_cfg["lr"]} betas {train_cfg["betas"]},
weight averaging {train_cfg["ema"]}, lr decay over the last 20%, bfloat16 autocast, channels_last.
{last["step"]} steps in {last["minutes"]:.0f} minutes. Final losses: L1 {last["l1"]:.3f}, gradient {last["grad"]:.3f},
pooled {last["pooled"]:.3f}. Rerun: `python -m editgan train-default --world {domain} --minutes {train_cfg["minutes"]:.0f} --run runs/{domain}`
then `python scripts/make_default_model.py {domain} --run runs/{domain}`.

Held-out PSNR of G(z) against render(params(z)) (256 samples): **{metrics["psnr_db"]:.2f} dB**.

## Segmentation branch
An ensemble of 10 per-pixel MLPs on all synthesis features (EditGAN / DatasetGAN), trained on the
renderer's exact part maps of generated samples (free labels). Held-out mean IoU (100 samples,
against the renderer's labels): **{metrics["miou_shipped"]:.3f}**.

Trained instead from only N labelled samples (the EditGAN way): N = {", ".join(map(str, metrics["few_shot"]))}:
mIoU {few}.

| index | class | colour | IoU |
|---|---|---|---|
{classes}

## World parameters
{params}
"""
    (out / "README.md").write_text(card)


if __name__ == "__main__":
    main()
