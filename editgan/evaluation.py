"""Ground-truth evaluation of edits on the procedural worlds.

Each default model was distilled from a world whose images are drawn from named
parameters, so an edit can be measured by what it did to those parameters: the
parameter reader (trained on renders only) reads every parameter before and after.
For each edit vector, on samples it was not made from:

- how far its target parameter moved (in the parameter's unit) and in what share of
  samples it moved the right way;
- how much the other parameters moved, in units of each one's prior std, relative to
  the target's move (entanglement; the worst other parameter is reported);
- PSNR and SSIM of the image outside the edited parts, and the part map's IoU there;

learning-free (w + s * dW) and after 10 and 30 refinement steps. The same is measured
for direct part-map edits (paint a target, optimise).

"Edited parts" are the vector's parts less the classes that cover more than the editor's
`max_part_share` of the image (skin, sky, road, body): those are painted to erase a part,
and counting them as edited would excuse the whole face from the outside measures.
The instrument's own floor is measured too (`reader_floor`): the renderer moves only the
target parameter, by the vector's mean move, and the reader reads both renders; no edit
of that size can show less entanglement than that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from .editor import EditConfig, edit, parts_region, psnr_outside, refine, scaled_dilation
from .model import EditModel
from .reader import ParameterReader
from .world import World


# ----- programmatic part-map edits: what a user would paint ---------------------------------
def seed_params(model: EditModel, world: World, seed: int) -> torch.Tensor:
    """The world parameters behind a seed of a distilled model (z -> params by inverse CDF)."""
    z = torch.randn(1, model.G.z_dim, generator=torch.Generator().manual_seed(int(seed)))
    return world.params_from_z(z)


def painted_edit(model: EditModel, world: World, seed: int, parameter: str, value: float) -> torch.Tensor:
    """The part map of a seed as a user would repaint it to set `parameter` to `value`.

    The branch's part map of the sample, overwritten where the renderer's part maps
    before and after the change differ, with the renderer's labels after it.
    """
    params = seed_params(model, world, seed)
    after = params.clone()
    after[0, world.index(parameter)] = value
    res = model.G.resolution
    _, lab_before = world.render(params, res)
    _, lab_after = world.render(after, res)
    _, current = model.render(model.w_from_seed(seed))
    target = current.clone()
    diff = lab_before[0] != lab_after[0]
    target[diff] = lab_after[0][diff]
    return target


# ----- image metrics ------------------------------------------------------------------------
def ssim_map(a: torch.Tensor, b: torch.Tensor, window: int = 7) -> torch.Tensor:
    """Per-pixel SSIM (H, W) of two images (3, H, W) in [-1, 1], on a 0-1 scale, mean over channels."""
    a, b = (a[None] + 1) / 2, (b[None] + 1) / 2
    pad = window // 2
    pool = lambda x: F.avg_pool2d(F.pad(x, (pad,) * 4, mode="replicate"), window, stride=1)
    mu_a, mu_b = pool(a), pool(b)
    var_a = pool(a * a) - mu_a**2
    var_b = pool(b * b) - mu_b**2
    cov = pool(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s[0].mean(0)


def iou_outside(a: torch.Tensor, b: torch.Tensor, outside: torch.Tensor) -> float:
    """Mean IoU of two part maps over the pixels of `outside`, across the classes present there."""
    a, b = a[outside], b[outside]
    ious = []
    for k in torch.unique(torch.cat([a, b])):
        inter = ((a == k) & (b == k)).sum().item()
        union = ((a == k) | (b == k)).sum().item()
        ious.append(inter / union)
    return sum(ious) / len(ious) if ious else 1.0


@dataclass
class EditMeasure:
    move: float  # target parameter, own unit, signed in the vector's direction
    right: bool
    others: torch.Tensor  # |move| of every parameter in prior-std units (P,)
    psnr: float
    ssim: float
    iou: float


def edited_classes(labels0: torch.Tensor, labels1: torch.Tensor, classes, max_part_share: float = EditConfig().max_part_share) -> list[int]:
    """The classes whose pixels count as edited: `classes` less those that cover more than
    `max_part_share` of the image before and after (skin, sky, road, body: the editor's rule
    for classes painted to erase a part). A vector that names such a class as one of its parts
    does not get the whole face or sky excused from the outside measures."""
    n = labels0.numel()
    return [c for c in classes if max(int((labels0 == c).sum()), int((labels1 == c).sum())) <= max_part_share * n]


def measure(model: EditModel, reader: ParameterReader, image0, labels0, image1, labels1, classes, target_index, direction) -> EditMeasure:
    world = reader.world
    p0, p1 = reader.read(torch.stack([image0, image1])).unbind(0)
    std = torch.tensor([p.prior_std for p in world.parameters])
    classes = edited_classes(labels0, labels1, classes)
    region = parts_region(labels0, labels1, classes, scaled_dilation(EditConfig(), model.G.resolution))
    outside = ~region
    move = float(p1[target_index] - p0[target_index]) * direction
    return EditMeasure(
        move=move,
        right=move > 0,
        others=((p1 - p0).abs() / std),
        psnr=psnr_outside(image1, image0, region) if outside.any() else float("inf"),
        ssim=float(ssim_map(image0, image1)[outside].mean()) if outside.any() else 1.0,
        iou=iou_outside(labels0, labels1, outside),
    )


def summarise(measures: list[EditMeasure], world: World, target_index: int) -> dict:
    std = torch.tensor([p.prior_std for p in world.parameters])
    moves = torch.tensor([m.move for m in measures])
    others = torch.stack([m.others for m in measures]).mean(0)
    target_std_move = moves.abs().mean() / std[target_index]
    others[target_index] = 0
    worst = int(others.argmax())
    return {
        "mean_move": float(moves.mean()),
        "right_direction": float(sum(m.right for m in measures) / len(measures)),
        "entanglement": float(others[worst] / target_std_move.clamp(min=1e-9)),
        "most_entangled": world.param_names[worst],
        "psnr_outside": float(torch.tensor([m.psnr for m in measures]).mean()),
        "ssim_outside": float(torch.tensor([m.ssim for m in measures]).mean()),
        "iou_outside": float(torch.tensor([m.iou for m in measures]).mean()),
    }


def headroom(model: EditModel, world: World, seeds, target_index: int, direction: float, margin: float = 0.1) -> list[bool] | None:
    """For each seed: is the world parameter behind it (`seed_params`) more than `margin` of its
    range away from the end the edit moves towards? None where the model's z cannot carry the
    world's parameters (not a distilled model of this world)."""
    spec = world.parameters[target_index]
    try:
        values = torch.cat([seed_params(model, world, seed) for seed in seeds])[:, target_index]
    except ValueError:
        return None
    u = (values - spec.low) / (spec.high - spec.low)
    return ((u < 1 - margin) if direction > 0 else (u > margin)).tolist()


@torch.no_grad()
def reader_floor(reader: ParameterReader, parameter: str, move: float, n: int = 100, seed: int = 777) -> dict:
    """What the measures read for a perfect edit: the renderer itself moving only `parameter` by
    `move` (its own unit) on n world samples, read by the same reader. Its entanglement is the
    instrument's floor: no edit of that size can measure better."""
    world = reader.world
    t = world.index(parameter)
    spec = world.parameters[t]
    m = min(abs(move), 0.9 * (spec.high - spec.low))
    g = torch.Generator().manual_seed(seed)
    params = world.params_from_z(torch.randn(n, world.num_params, generator=g))
    params[:, t] = spec.low + (params[:, t] - spec.low) * (spec.high - spec.low - m) / (spec.high - spec.low)
    after = params.clone()
    after[:, t] += m
    res = reader.config.resolution
    images0 = torch.cat([world.render(params[i : i + 50], res)[0] for i in range(0, n, 50)])
    images1 = torch.cat([world.render(after[i : i + 50], res)[0] for i in range(0, n, 50)])
    p0, p1 = reader.read(images0), reader.read(images1)
    std = torch.tensor([p.prior_std for p in world.parameters])
    moves = p1[:, t] - p0[:, t]
    others = ((p1 - p0).abs() / std).mean(0)
    others[t] = 0
    worst = int(others.argmax())
    return {"floor_move": float(moves.mean()), "floor_right_direction": float((moves > 0).float().mean()),
            "floor_entanglement": float(others[worst] / (moves.abs().mean() / std[t]).clamp(min=1e-9)),
            "floor_most_entangled": world.param_names[worst]}


def evaluate_vector(model: EditModel, reader: ParameterReader, vec, n: int = 100, refine_steps=(10, 30),
                    refine_samples: int | None = None, first_seed: int = 100_000,
                    progress: Callable[[int, int], None] | None = None) -> dict:
    """Learning-free and refined measures of one shipped vector on n held-out seeds."""
    world = reader.world
    parameter, direction = vec.method["parameter"], float(vec.method.get("direction", 1.0))
    t = world.index(parameter)
    classes = [model.class_names.index(p) for p in vec.parts]
    s = vec.default_strength
    made_from = {vec.method.get("seed"), *vec.method.get("seeds", [])}
    seeds = [seed for seed in range(first_seed, first_seed + n + len(made_from)) if seed not in made_from][:n]
    free, refined = [], {k: [] for k in refine_steps}
    refine_samples = n if refine_samples is None else refine_samples
    total = len(seeds) + refine_samples * len(refine_steps)
    done = 0
    for i, seed in enumerate(seeds):
        w = model.w_from_seed(seed)
        image0, labels0 = model.render(w)
        image1, labels1 = model.render(w + s * vec.delta)
        free.append(measure(model, reader, image0, labels0, image1, labels1, classes, t, direction))
        done += 1
        if i < refine_samples:
            for k in refine_steps:
                r = refine(model.G, model.segmenter, w, s * vec.delta, vec.parts, steps=k)
                refined[k].append(measure(model, reader, image0, labels0, r.image, r.labels, classes, t, direction))
                done += 1
        if progress:
            progress(done, total)
    out = {"vector": vec.name, "parameter": parameter, "strength": s, "samples": len(free), **summarise(free, world, t)}
    room = headroom(model, world, seeds, t, direction)
    if room is not None:  # the right-way share on samples that are not already at the end of the range
        kept = [m for m, ok in zip(free, room) if ok]
        out["headroom_samples"] = len(kept)
        out["right_direction_headroom"] = float(sum(m.right for m in kept) / len(kept)) if kept else None
    out.update(reader_floor(reader, parameter, out["mean_move"]))
    if any(refined.values()):  # learning-free on the very samples that were refined: the fair baseline
        base = summarise(free[:refine_samples], world, t)
        for key in ("mean_move", "right_direction", "entanglement", "psnr_outside", "ssim_outside", "iou_outside"):
            out[f"{key}_base"] = base[key]
    for k, ms in refined.items():
        if ms:
            for key, value in summarise(ms, world, t).items():
                out[f"{key}_refined{k}"] = value
    if 30 in refined and refined[30]:
        out["right_direction_refined"] = out["right_direction_refined30"]
        out["psnr_outside_refined"] = out["psnr_outside_refined30"]
    return out


def evaluate_direct_edits(model: EditModel, reader: ParameterReader, parameter: str, value: float, n: int = 10,
                          steps: int = 100, first_seed: int = 200_000) -> dict:
    """Paint a target part map (as a user would) on n seeds, optimise, measure by the image."""
    world = reader.world
    t = world.index(parameter)
    measures = []
    for seed in range(first_seed, first_seed + n):
        w = model.w_from_seed(seed)
        image0, labels0 = model.render(w)
        before = float(seed_params(model, world, seed)[0, t])
        direction = 1.0 if value > before else -1.0
        target = painted_edit(model, world, seed, parameter, value)
        if torch.equal(target, labels0):
            continue
        res = edit(model.G, model.segmenter, w, target, EditConfig(steps=steps))
        classes = sorted(set(torch.unique(target[target != labels0]).tolist()))
        measures.append(measure(model, reader, image0, labels0, res.image, res.labels, classes, t, direction))
    return {"edit": f"paint {parameter} -> {value}", "parameter": parameter, "samples": len(measures), **summarise(measures, world, t)}


def markdown_table(rows: list[dict], keys: list[str]) -> str:
    def fmt(v):
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(fmt(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(lines)
