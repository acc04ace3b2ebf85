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
    seg = train_branch(G, world, args.examples, 0, args.steps, max(16, 8192 // args.examples))
    seg.save_pretrained(out)
    metrics = {"segmenter_minutes": (time.time() - t) / 60, "psnr_db": evaluate_psnr(G, world)}
    miou, per = heldout_miou(G, seg, world)
    metrics["miou_shipped"] = miou
    metrics["per_class_iou_shipped"] = dict(zip([c.name for c in world.classes], per))
    metrics["few_shot"] = {}
    for n in args.few_shot:
        few = train_branch(G, world, n, 1 + n, args.steps, 256)
        metrics["few_shot"][n] = heldout_miou(G, few, world)[0]
        print(f"N={n}: mIoU {metrics['few_shot'][n]:.3f}")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
