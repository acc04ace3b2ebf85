"""mIoU against N when the labels come from the app's labelling flow (editgan.labelling), on a default model.

A simulated user labels seeds 0, 1, 2, ... of the shipped generator in a fresh project:
it assigns each k-means cluster of the first sample to the class it mostly covers (as a
user picks it from the cluster picture), then, per sample, either saves the proposal as
it is ("proposal": no brush) or repaints every wrong pixel ("corrected": the labels
equal the renderer's exact part map; we count the share of pixels repainted). After every
saved label the mapping is re-learnt, as in the app. At each N the branch is trained with
the app's settings (`labelling.train_branch`) and scored on 100 held-out samples against
the renderer's exact labels (the few-shot numbers of the model card use the same scoring);
in "corrected" mode the next samples then start from that branch's prediction, as the
app offers once a branch is trained.

    python scripts/labelling_flow.py faces --n 4 8 16 32 --json runs/labelling-faces.json
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from editgan import labelling as lab
from editgan.model import load_model
from editgan.segmenter import generator_features, mean_iou
from editgan.training import labelled_samples
from editgan.world import get_world


def truth(world, G, seed: int) -> torch.Tensor:
    """The renderer's part map of a seed (truncation 1: G(z) reproduces render(params(z)))."""
    z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(int(seed)))
    return world.render(world.params_from_z(z), G.resolution, 2)[1][0]


def heldout_miou(G, seg, world, n=100, seed=10_000) -> float:
    w, labels = labelled_samples(G, world, n, seed)
    feats = generator_features(G, w)
    with torch.no_grad():
        pred = torch.cat([seg.predict([f[i : i + 10] for f in feats]) for i in range(0, n, 10)])
    return mean_iou(pred, labels, len(world.classes))[0]


def run(domain: str, mode: str, ns: list[int], k: int, steps: int, log) -> dict:
    model = load_model(domain)
    G, world = model.G, get_world(domain)
    names, colors = [c.name for c in world.classes], [c.color for c in world.classes]
    out = {"mode": mode, "k": k, "miou": {}, "proposal_pixel_accuracy": [], "proposal_miou": []}
    with tempfile.TemporaryDirectory() as tmp:
        branch = None
        project = lab.open_project(Path(tmp) / "p", G, domain, names, colors, k=k, truncation=1.0)
        for i in range(max(ns)):
            seed = project.next_seed()
            gt = truth(world, G, seed)
            clusters = lab.clusters_of(project, G, lab.w_from_seed(G, seed, 1.0))
            if i == 0:  # the user assigns each cluster the class it mostly covers
                votes = torch.zeros(k, len(names)).index_put_((clusters.flatten(), gt.flatten()), torch.ones(gt.numel()), accumulate=True)
                lab.set_mapping(project, votes.argmax(1).tolist())
            if mode == "corrected" and branch is not None:
                proposal = lab.propose_labels(project, clusters, branch, generator_features(G, lab.w_from_seed(G, seed, 1.0)[None]))
            else:
                proposal = lab.propose_labels(project, clusters)
            out["proposal_pixel_accuracy"].append(round(float((proposal == gt).float().mean()), 4))
            out["proposal_miou"].append(round(mean_iou(proposal, gt, len(names))[0], 4))
            lab.save_label(project, G, seed, gt if mode == "corrected" else proposal)
            n = i + 1
            if n in ns:
                t = time.time()
                seg, report = lab.train_branch(project, G, steps=steps)
                branch = seg
                out["miou"][n] = round(heldout_miou(G, seg, world), 4)
                log(f"{domain} {mode} N={n}: held-out mIoU {out['miou'][n]:.3f} (train {report.train_miou:.3f}, "
                    f"{time.time() - t:.0f} s); proposal pixel accuracy so far "
                    f"{sum(out['proposal_pixel_accuracy']) / n:.3f}, last sample {out['proposal_pixel_accuracy'][-1]:.3f}")
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("domain", choices=["faces", "cars"])
    p.add_argument("--n", type=int, nargs="+", default=[4, 8, 16, 32])
    p.add_argument("--k", type=int, default=12)
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--modes", nargs="+", default=["proposal", "corrected"])
    p.add_argument("--json")
    a = p.parse_args()
    results = [run(a.domain, mode, sorted(a.n), a.k, a.steps, lambda m: print(m, flush=True)) for mode in a.modes]
    text = json.dumps({"domain": a.domain, "results": results}, indent=1)
    print(text)
    if a.json:
        Path(a.json).write_text(text)


if __name__ == "__main__":
    main()
