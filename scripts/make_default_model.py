"""Turn a training run into a shipped default model: weights/<domain>/.

    python scripts/make_default_model.py faces --run runs/faces

A run that started from a model (`train-default --init weights/faces --adversarial 0.1`,
the sharpening stage) keeps that model's distillation record and adds its own, with the
PSNR and sharpness before and after (`editgan.training.evaluate_quality`, 256 held-out z).

Writes the generator, a segmentation branch trained on free labels (the renderer's part
maps of the training samples), the held-out mIoU of that branch and of branches trained
from only N = 4, 8, 16, 32 labelled samples (the EditGAN way), and a model card.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from editgan.segmenter import SegmenterTrainConfig, generator_features, mean_iou, train_segmenter
from editgan.model import load_generator
from editgan.training import evaluate_quality, labelled_samples, load_run, save_grid
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


def training_summary(run: Path) -> dict:
    """What the card says about training, from the run's own config and log (kept in metrics.json)."""
    cfg = json.loads((run / "train_config.json").read_text())
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    last = [r for r in log if "total" in r][-1]
    keep = ("batch", "lr", "betas", "ema", "minutes", "part_weights", "adversarial", "d_lr", "gan_betas", "r1_gamma", "r1_every")
    out = {"config": {k: cfg.get(k) for k in keep if k in cfg}, **{k: last[k] for k in ("step", "minutes", "l1", "grad", "pooled")}}
    if cfg.get("adversarial"):
        out.update({k: last[k] for k in ("adversarial", "d_loss")})
    return out


def few_shot_mious(G, world, sizes, steps) -> dict:
    """Held-out mIoU of branches trained from only N labelled samples (the EditGAN way)."""
    out = {}
    for n in sizes:
        few = train_branch(G, world, n, 1 + n, steps, max(64, 2048 // n))
        out[str(n)] = heldout_miou(G, few, world)[0]
        print(f"N={n}: mIoU {out[str(n)]:.3f}")
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("domain", choices=["faces", "cars"])
    p.add_argument("--run", help="the training run (runs/<domain>); without it, --card-only")
    p.add_argument("--out")
    p.add_argument("--examples", type=int, default=256, help="free-label examples for the shipped branch")
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--few-shot", type=int, nargs="*", default=[4, 8, 16, 32])
    p.add_argument("--card-only", action="store_true",
                   help="keep the shipped weights; measure the few-shot mIoUs metrics.json lacks and rewrite the card")
    args = p.parse_args()
    out = Path(args.out or ROOT / "weights" / args.domain)
    world = get_world(args.domain)
    if args.card_only:
        G = load_generator(out)
        metrics = json.loads((out / "metrics.json").read_text())
        missing = [n for n in args.few_shot if str(n) not in metrics.get("few_shot", {})]
        metrics.setdefault("few_shot", {}).update(few_shot_mious(G, world, missing, args.steps))
        if "sharpness" not in metrics:
            metrics["sharpness"] = evaluate_quality(G, world).sharpness
    else:
        if not args.run:
            p.error("--run is required unless --card-only")
        G = load_run(args.run)
        run_config = json.loads((Path(args.run) / "train_config.json").read_text())
        quality = evaluate_quality(G, world)
        metrics = {"psnr_db": quality.psnr_db, "sharpness": quality.sharpness}
        if run_config.get("init"):  # a sharpening run: the starting model's record stays, this run's is added
            init = Path(run_config["init"])
            G_before = load_generator(init)
            before = evaluate_quality(G_before, world)
            if (init / "metrics.json").is_file():  # a shipped model folder
                metrics["training"] = json.loads((init / "metrics.json").read_text())["training"]
            elif (init.parent / "log.jsonl").is_file():  # a distillation run's generator/ folder
                metrics["training"] = training_summary(init.parent)
            else:
                raise SystemExit(f"error: no record of how {init} was distilled (metrics.json or the run's log.jsonl)")
            shipped = out.resolve() == (ROOT / "weights" / args.domain).resolve()
            held_out_z = torch.randn(8, G.z_dim, generator=torch.Generator().manual_seed(999))  # renders, distilled, sharpened
            save_grid(ROOT / "docs" / f"sharpening-{args.domain}.png" if shipped else Path(args.run) / "sharpening.png",
                      [G_before, G], world, held_out_z, supersample=2, scale=2)
            metrics["sharpening"] = {**training_summary(Path(args.run)), "psnr_db_before": before.psnr_db,
                                     "sharpness_before": before.sharpness}
        else:
            metrics["training"] = training_summary(Path(args.run))
        G.save_pretrained(out)
        t = time.time()
        seg = train_branch(G, world, args.examples, 0, args.steps, max(8, 2048 // args.examples))
        seg.save_pretrained(out)
        metrics["segmenter_minutes"] = (time.time() - t) / 60
        miou, per = heldout_miou(G, seg, world)
        metrics["miou_shipped"] = miou
        metrics["per_class_iou_shipped"] = dict(zip([c.name for c in world.classes], per))
        metrics["few_shot"] = few_shot_mious(G, world, args.few_shot, args.steps)
    card = card_text(args.domain, G, world, metrics)  # raises before anything is written if a field is empty
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (out / "README.md").write_text(card)
    print(json.dumps(metrics, indent=2))


def sharpening_text(domain, metrics) -> str:
    """The card's paragraph on the adversarial stage (empty for a model that only was distilled)."""
    sh = metrics.get("sharpening")
    if not sh:
        return ""
    c = sh["config"]
    return f"""
Then adversarial sharpening, starting from the distilled model: a StyleGAN2 discriminator (residual,
`editgan/discriminator.py`) on renders vs samples, non-saturating loss with weight {c["adversarial"]} next to
the distillation loss (kept as the regulariser), lazy R1 (gamma {c["r1_gamma"]}, every {c["r1_every"]} steps),
Adam lr {c["lr"]} (generator) and {c["d_lr"]} (discriminator), betas {c["gan_betas"]}, weight averaging {c["ema"]}.
{sh["step"]} steps in {sh["minutes"]:.0f} minutes. Rerun, with the distilled model in weights/{domain} (as the
distillation's rerun above leaves it): `python -m editgan train-default --world {domain} --init weights/{domain}
--adversarial {c["adversarial"]} --lr {c["lr"]} --minutes {c["minutes"]:.0f} --run runs/{domain}-sharpen`, then
`python scripts/make_default_model.py {domain} --run runs/{domain}-sharpen` and
`python -m editgan encoder train weights/{domain} --init weights/{domain} --steps 600`, run twice, the second time
with `--steps 2000` (the encoder of the distilled model, fine-tuned to the sharpened one).

| held-out, 256 samples | PSNR | sharpness |
|---|---|---|
| distilled | {sh["psnr_db_before"]:.2f} dB | {sh["sharpness_before"]:.2f} |
| sharpened (shipped) | {metrics["psnr_db"]:.2f} dB | {metrics["sharpness"]:.2f} |
"""


def card_text(domain, G, world, metrics) -> str:
    """The model card (README.md): what the model is, how it was trained, how well it does.

    Every figure comes from `metrics` (what make_default_model measured); a card with an
    empty field is refused (`card_problems`)."""
    tr, cfg = metrics["training"], metrics["training"]["config"]
    classes = "\n".join(f"| {i} | {c.name} | rgb{c.color} | {metrics['per_class_iou_shipped'][c.name] or 0:.3f} |" for i, c in enumerate(world.classes))
    few = sorted(metrics["few_shot"].items(), key=lambda kv: int(kv[0]))
    few_rows = "\n".join(f"| {n} | {float(v):.3f} |" for n, v in few)
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
({cfg.get("part_weights") or "weights from editgan.training.PART_WEIGHTS"}), an image-gradient term and an
L1 on 2x-pooled images. Batch {cfg["batch"]}, Adam lr {cfg["lr"]} betas {cfg["betas"]},
weight averaging {cfg["ema"]}, lr decay over the last 20%, bfloat16 autocast, channels_last.
{tr["step"]} steps in {tr["minutes"]:.0f} minutes. Final losses: L1 {tr["l1"]:.3f}, gradient {tr["grad"]:.3f},
pooled {tr["pooled"]:.3f}. Rerun: `python -m editgan train-default --world {domain} --minutes {cfg["minutes"]:.0f} --run runs/{domain}`
then `python scripts/make_default_model.py {domain} --run runs/{domain}`.

{sharpening_text(domain, metrics)}
Held-out PSNR of G(z) against render(params(z)) (256 samples): **{metrics["psnr_db"]:.2f} dB**; sharpness
(high-frequency energy, what a 3x3 box blur removes, of G(z) over that of the renders; 1 is as crisp):
**{metrics["sharpness"]:.2f}**.

## Segmentation branch
An ensemble of 10 per-pixel MLPs on all synthesis features (EditGAN / DatasetGAN), trained on the
renderer's exact part maps of generated samples (free labels). Held-out mean IoU (100 samples,
against the renderer's labels): **{metrics["miou_shipped"]:.3f}**.

Trained instead from only N labelled samples (the EditGAN way), held-out mIoU on the same 100 samples:

| N labelled | mIoU |
|---|---|
{few_rows}

| index | class | colour | IoU |
|---|---|---|---|
{classes}

## World parameters
{params}
"""
    problems = card_problems(card)
    if problems:
        raise ValueError(f"the {domain} model card has empty fields or placeholders: {problems}")
    return card


EMPTY_FIELD_PATTERNS = {
    "empty list after '='": r"=[ \t]*[:.,]",
    "empty figure after a label": r"\b(mIoU|PSNR|IoU)[ \t]*[.:,]?[ \t]*$",
    "empty bold figure": r"\*\*[ \t]*(dB)?[ \t]*\*\*",
    "unfilled template brace": r"\{[a-z_]+\}",
    "None or nan as a value": r"\b(None|nan|NaN)\b",
    "a table row with an empty cell": r"^\|.*\|[ \t]*\|",
    "a section with no body": r"^## .*\n\s*(\n## |\Z)",
}


def card_problems(card: str) -> list[str]:
    """The placeholders and empty fields in a model card's text (empty list: none)."""
    import re

    return [name for name, pattern in EMPTY_FIELD_PATTERNS.items() if re.search(pattern, card, re.MULTILINE)]


if __name__ == "__main__":
    main()
