"""Strict ground-truth evaluation of edits on the procedural worlds (docs/evaluation.md).

Each default model was distilled from a world whose images are drawn from named
parameters, with exact part maps. An edit is judged by its image only, never by the
segmentation branch the editor optimised (an edit can fool the branch without changing
the image):

- the **parameter reader** (a CNN trained on renders only; `editgan.reader`) reads every
  world parameter of the image before and after the edit. Only parameters it reads with
  R^2 >= `min_r2` on fresh renders count for pass/fail (`reader_quality`);
- the **outside region** is everything except the vector's declared parts, taken from the
  renderer's ground-truth part maps before and after the edit (their union, widened by
  2 px at 64 px). Before: render(params(z)), the world sample the generator sample was
  distilled from (`seed_params`). After: the same parameters with the intended one moved
  by what the reader read (`params_after_edit`): the part map of the edit the image shows.
  A declared class that covers more than `max_part_share` of the image (skin, sky, body)
  is left out of the region: it would excuse the whole face. Nothing in the region
  depends on predicted labels;
- every strength of `STRENGTHS`, both directions: right-direction rate, intended-parameter
  change per unit strength (linearity), PSNR outside, entanglement (mean |change| of every
  other usable parameter in prior-std units over that of the intended one; the worst
  parameter is reported) and the instrument's floor for it (the renderer itself moves
  only the intended parameter by the same amount, the reader reads both renders);
- learning-free (w + s dW) against 10 and 30 steps of EditGAN's refinement;
- `paint_benchmark`: the part-map editor itself against the renderer's ground truth
  (paint the renderer's part-map change p -> p', optimise, compare with render(p')).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from .editor import EditConfig, dilate, edit, refine, scaled_dilation
from .model import EditModel
from .reader import ParameterReader, r_squared
from .world import World

STRENGTHS = (-2.0, -1.0, -0.5, 0.5, 1.0, 2.0)
PASS_STRENGTHS = (-1.0, 1.0)  # the strengths pass/fail is judged at
Progress = Callable[[int, int], None] | None


@dataclass(frozen=True)
class Targets:
    """What an edit has to reach at the pass/fail strengths (issue 17)."""

    right_direction: float = 0.95
    psnr_outside: float = 30.0  # dB, strict region
    entanglement: float = 0.1
    visible_change: float = 0.15  # images in [-1, 1]; see visible_change()


@dataclass
class StrictConfig:
    samples: int = 100  # held-out seeds per vector
    first_seed: int = 100_000  # the vectors are made from seeds below 500 (scripts/make_vectors.py)
    strengths: tuple[float, ...] = STRENGTHS
    refine_steps: tuple[int, ...] = (10, 30)
    refine_samples: int = 10  # the first seeds also refined, at refine_strengths
    refine_strengths: tuple[float, ...] = PASS_STRENGTHS
    min_r2: float = 0.8  # reader R^2 a parameter needs to count
    r2_samples: int = 512
    r2_seed: int = 20_261_207  # fresh renders: neither the reader's training draws nor any model seed's z
    max_part_share: float = EditConfig().max_part_share
    region_dilation: int = EditConfig().region_dilation  # px at 64 px
    paint_samples: int = 0  # per vector parameter; 0: no paint benchmark
    paint_first_seed: int = 200_000
    paint_shift: float = 0.5  # p -> p': the intended parameter moves this share of its range, toward the far end
    paint_steps: int = EditConfig().steps
    batch: int = 32
    targets: Targets = field(default_factory=Targets)


# ----- world samples behind a distilled model's seeds -----------------------------------------
def seed_params(model: EditModel, world: World, seed: int) -> torch.Tensor:
    """The world parameters behind a seed of a distilled model (z -> params by inverse CDF)."""
    z = torch.randn(1, model.G.z_dim, generator=torch.Generator().manual_seed(int(seed)))
    return world.params_from_z(z)


def painted_target(current: torch.Tensor, truth0: torch.Tensor, truth1: torch.Tensor) -> torch.Tensor:
    """A part map repainted as a user would: `current` (the branch's map), overwritten where the
    renderer's part maps before (`truth0`) and after (`truth1`) differ with the labels after."""
    target = current.clone()
    diff = truth0 != truth1
    target[diff] = truth1[diff]
    return target


def painted_edit(model: EditModel, world: World, seed: int, parameter: str, value: float) -> torch.Tensor:
    """The part map of a seed as a user would repaint it to set `parameter` to `value`."""
    params = seed_params(model, world, seed)
    after = params.clone()
    after[0, world.index(parameter)] = value
    res = model.G.resolution
    _, lab_before = world.render(params, res)
    _, lab_after = world.render(after, res)
    _, current = model.render(model.w_from_seed(seed))
    return painted_target(current, lab_before[0], lab_after[0])


def held_out_seeds(vec, n: int, first_seed: int) -> list[int]:
    """n seeds from first_seed on, none of those the vector was made from."""
    made_from = {vec.method.get("seed"), *(vec.method.get("seeds") or [])}
    return [s for s in range(first_seed, first_seed + n + len(made_from)) if s not in made_from][:n]


# ----- image metrics (small pure functions) -------------------------------------------------------
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


def masked_psnr(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor, cap: float = 100.0) -> torch.Tensor:
    """Per-image PSNR (N,) in dB on a 0-1 scale between images (N, 3, R, R) in [-1, 1] over the
    pixels of mask (N, R, R); an empty mask or identical pixels give `cap`."""
    m = mask.float()
    se = (((a - b) / 2) ** 2).mean(1)
    mse = (se * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp(min=1)
    psnr = -10 * torch.log10(mse.clamp(min=10 ** (-cap / 10)))
    return torch.where(m.flatten(1).sum(1) > 0, psnr, torch.full_like(psnr, cap))


def correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation (N,) of two batches of images, each flattened; 0 where one is constant."""
    a, b = a.flatten(1), b.flatten(1)
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    den = (a.norm(dim=1) * b.norm(dim=1))
    return torch.where(den > 0, (a * b).sum(1) / den.clamp(min=1e-12), torch.zeros_like(den))


# ----- the strict region: ground-truth part maps only --------------------------------------------
def world_classes(world: World, names: Sequence[str]) -> list[int]:
    """Indices of the world's part classes named `names` (a vector's declared parts)."""
    known = [c.name for c in world.classes]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"parts {unknown} are not classes of the {world.name} world ({known})")
    return [known.index(n) for n in names]


def small_classes(truth0: torch.Tensor, truth1: torch.Tensor, classes: Sequence[int], max_part_share: float) -> list[int]:
    """`classes` less those covering more than `max_part_share` of an image, before or after, in any
    sample of the batch (N, R, R): a class as large as the skin or the sky would excuse everything."""
    n = truth0[0].numel()
    share = lambda lab, c: float((lab == c).flatten(1).sum(1).max()) / n
    return [c for c in classes if max(share(truth0, c), share(truth1, c)) <= max_part_share]


def strict_region(truth0: torch.Tensor, truth1: torch.Tensor, classes: Sequence[int], dilation: int,
                  changed: torch.Tensor | None = None) -> torch.Tensor:
    """The edited region (N, R, R): pixels of `classes` in the ground-truth part maps before or after
    (and `changed` pixels, where given), widened by `dilation` px. Everything else is outside."""
    region = torch.isin(truth0, torch.tensor(list(classes), dtype=torch.long)) | torch.isin(truth1, torch.tensor(list(classes), dtype=torch.long))
    if changed is not None:
        region = region | changed
    return dilate(region, dilation)


def params_after_edit(world: World, params: torch.Tensor, read0: torch.Tensor, read1: torch.Tensor, t: int) -> torch.Tensor:
    """The world parameters an edited image shows, for its ground-truth part map: the sample's own
    parameters with the intended one moved by what the reader read (kept inside its range)."""
    low, high = world.bounds()
    after = params.clone()
    after[:, t] = (params[:, t] + read1[:, t] - read0[:, t]).clamp(low[t], high[t])
    return after


# ----- the instrument -------------------------------------------------------------------------------
@dataclass
class ReaderQuality:
    r2: dict[str, float]  # per parameter, on fresh softened renders
    min_r2: float
    samples: int
    seed: int

    @property
    def usable(self) -> list[str]:
        return [k for k, v in self.r2.items() if v >= self.min_r2]

    def mask(self, world: World) -> torch.Tensor:
        return torch.tensor([self.r2[n] >= self.min_r2 for n in world.param_names])


def reader_quality(reader: ParameterReader, config: StrictConfig) -> ReaderQuality:
    return ReaderQuality(r_squared(reader, n=config.r2_samples, seed=config.r2_seed), config.min_r2,
                         config.r2_samples, config.r2_seed)


def prior_std(world: World) -> torch.Tensor:
    return torch.tensor([p.prior_std for p in world.parameters])


def entanglement(change: torch.Tensor, t: int, std: torch.Tensor, usable: torch.Tensor, names: Sequence[str]) -> dict:
    """Reader changes (N, P) -> the worst usable other parameter's mean |change| over the intended
    one's (both in prior-std units), which parameter that is, and the mean over usable others."""
    moved = (change.abs() / std).mean(0)
    others = usable.clone()
    others[t] = False
    target = moved[t].clamp(min=1e-9)
    if not others.any():
        return {"entanglement": None, "most_entangled": None, "entanglement_mean": None}
    ratio = torch.where(others, moved / target, torch.full_like(moved, -1.0))
    worst = int(ratio.argmax())
    return {"entanglement": float(ratio[worst]), "most_entangled": names[worst],
            "entanglement_mean": float((moved[others] / target).mean())}


@torch.no_grad()
def images_of(G, ws: torch.Tensor, batch: int) -> torch.Tensor:
    return torch.cat([G.synthesis(ws[i : i + batch]) for i in range(0, len(ws), batch)])


@torch.no_grad()
def renders(world: World, params: torch.Tensor, resolution: int, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    parts = [world.render(params[i : i + batch], resolution) for i in range(0, len(params), batch)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


# ----- scoring a batch of edits of the same samples ------------------------------------------------
@dataclass
class Samples:
    """Held-out samples of a distilled model: their W+, world parameters, ground-truth part maps,
    unedited images and what the reader reads on them."""

    seeds: list[int]
    ws: torch.Tensor  # (N, num_ws, w_dim)
    params: torch.Tensor  # (N, P)
    truth0: torch.Tensor  # (N, R, R)
    image0: torch.Tensor  # (N, 3, R, R)
    read0: torch.Tensor  # (N, P)

    def subset(self, k: int) -> "Samples":
        return Samples(self.seeds[:k], self.ws[:k], self.params[:k], self.truth0[:k], self.image0[:k], self.read0[:k])


@torch.no_grad()
def held_out_samples(model: EditModel, reader: ParameterReader, seeds: list[int], batch: int) -> Samples:
    world = reader.world
    ws = model.G.w_plus_from_seeds(seeds)
    params = torch.cat([seed_params(model, world, s) for s in seeds])
    _, truth0 = renders(world, params, model.G.resolution, batch)
    image0 = images_of(model.G, ws, batch)
    return Samples(seeds, ws, params, truth0, image0, reader.read(image0))


@dataclass
class Scoring:
    """What every edit of one vector is scored with."""

    world: World
    reader: ParameterReader
    t: int  # intended parameter
    direction: float  # +1: the vector raises it at positive strength
    declared: list[int]  # the vector's parts, world class indices
    usable: torch.Tensor  # (P,) bool: parameters the reader reads with R^2 >= min_r2
    dilation: int
    config: StrictConfig


def visible_change(image0: torch.Tensor, image1: torch.Tensor) -> float:
    """How visibly an edit changes the image: per sample, the 99.5th percentile over pixels of the
    absolute change (averaged over RGB, images in [-1, 1]); the median over samples. A large edit
    of a small part reaches it (a wheel, an eye); a faint shift of everything does not."""
    per_pixel = (image1 - image0).abs().mean(1).flatten(1)
    return float(per_pixel.quantile(0.995, dim=1).median())


def score_edits(sc: Scoring, samples: Samples, image1: torch.Tensor, strength: float) -> dict:
    """Right direction, move per unit strength, strict PSNR outside, entanglement of edited images."""
    world = sc.world
    read1 = sc.reader.read(image1)
    change = read1 - samples.read0
    after = params_after_edit(world, samples.params, samples.read0, read1, sc.t)
    _, truth1 = renders(world, after, image1.shape[-1], sc.config.batch)
    classes = small_classes(samples.truth0, truth1, sc.declared, sc.config.max_part_share)
    outside = ~strict_region(samples.truth0, truth1, classes, sc.dilation)
    psnr = masked_psnr(image1, samples.image0, outside)
    move = change[:, sc.t] * sc.direction  # in the vector's direction at strength +1
    sign = 1.0 if strength > 0 else -1.0
    return {"strength": strength, "samples": len(image1),
            "right_direction": float((move * sign > 0).float().mean()),
            "move": float(move.mean()), "move_per_unit": float(move.mean() / strength),
            "psnr_outside": float(psnr.mean()), "psnr_outside_p10": float(psnr.quantile(0.1)),
            "outside_share": float(outside.float().mean()),
            "visible_change": visible_change(samples.image0, image1),
            "region_classes": [world.classes[c].name for c in classes],
            **entanglement(change, sc.t, prior_std(world), sc.usable, world.param_names)}


@torch.no_grad()
def reader_floor(sc: Scoring, params: torch.Tensor, move: float, resolution: int) -> dict:
    """The instrument's floor: the renderer itself moves only the intended parameter by `move` (own
    unit) from each sample's parameters, the reader reads both renders. No edit of that size can
    measure less entangled than this."""
    world = sc.world
    low, high = world.bounds()
    after = params.clone()
    after[:, sc.t] = (params[:, sc.t] + move).clamp(low[sc.t], high[sc.t])
    img0, _ = renders(world, params, resolution, sc.config.batch)
    img1, _ = renders(world, after, resolution, sc.config.batch)
    change = sc.reader.read(img1) - sc.reader.read(img0)
    e = entanglement(change, sc.t, prior_std(world), sc.usable, world.param_names)
    return {"floor_entanglement": e["entanglement"], "floor_most_entangled": e["most_entangled"]}


def linearity(rows: list[dict]) -> dict:
    """A line through the origin fitted to the mean move at each strength: its slope (move per
    unit strength) and R^2 (1: the move is proportional to the strength, both directions)."""
    s = torch.tensor([r["strength"] for r in rows])
    m = torch.tensor([r["move"] for r in rows])
    slope = float((s * m).sum() / (s * s).sum())
    ss_tot = float(((m - m.mean()) ** 2).sum())
    ss_res = float(((m - slope * s) ** 2).sum())
    return {"slope": slope, "r2": 1 - ss_res / ss_tot if ss_tot > 0 else 0.0}


def verdict(row: dict, targets: Targets) -> dict:
    """Pass/fail of one strength's row; entanglement None (no usable other parameter) fails."""
    ent = row.get("entanglement")
    return {"right_direction": row["right_direction"] >= targets.right_direction,
            "psnr_outside": row["psnr_outside"] >= targets.psnr_outside,
            "entanglement": ent is not None and ent < targets.entanglement,
            "visible_change": row.get("visible_change", 0.0) >= targets.visible_change}


def evaluate_vector(model: EditModel, reader: ParameterReader, vec, config: StrictConfig,
                    quality: ReaderQuality, progress: Progress = None) -> dict:
    """The strict protocol for one vector: all strengths learning-free, refinement at
    `config.refine_strengths` on the first `config.refine_samples` seeds."""
    world, G = reader.world, model.G
    parameter = vec.method["parameter"]
    sc = Scoring(world, reader, world.index(parameter), float(vec.method.get("direction", 1.0)),
                 world_classes(world, vec.parts), quality.mask(world),
                 scaled_dilation(EditConfig(region_dilation=config.region_dilation), G.resolution), config)
    samples = held_out_samples(model, reader, held_out_seeds(vec, config.samples, config.first_seed), config.batch)
    k = min(config.refine_samples, len(samples.seeds))
    total = len(config.strengths) + len(config.refine_strengths) * len(config.refine_steps) * k
    done = 0
    rows = []
    for s in config.strengths:
        row = score_edits(sc, samples, images_of(G, samples.ws + s * vec.delta, config.batch), s)
        row.update(reader_floor(sc, samples.params, row["move"] * sc.direction, G.resolution))
        rows.append(row)
        done += 1
        if progress:
            progress(done, total)
    refined = []
    few = samples.subset(k)
    for s in config.refine_strengths if k else ():
        refined.append({"steps": 0, **score_edits(sc, few, images_of(G, few.ws + s * vec.delta, config.batch), s)})
        for steps in config.refine_steps:
            images = []
            for w in few.ws:
                images.append(refine(G, model.segmenter, w, s * vec.delta, vec.parts, steps=steps).image)
                done += 1
                if progress:
                    progress(done, total)
            refined.append({"steps": steps, **score_edits(sc, few, torch.stack(images), s)})
    by_strength = {r["strength"]: r for r in rows}
    return {"vector": vec.name, "parameter": parameter, "parts": list(vec.parts),
            "parameter_r2": quality.r2[parameter], "measurable": quality.r2[parameter] >= quality.min_r2,
            "samples": len(samples.seeds), "seeds": [samples.seeds[0], samples.seeds[-1]],
            "strengths": rows, "linearity": linearity(rows), "refined": refined,
            "pass": {str(s): verdict(by_strength[s], config.targets) for s in PASS_STRENGTHS if s in by_strength}}


# ----- the editing core against ground truth ------------------------------------------------------
def paint_move(world: World, params: torch.Tensor, t: int, shift: float) -> tuple[torch.Tensor, float]:
    """p -> p': the intended parameter moved `shift` of its range toward the end farther from it."""
    spec = world.parameters[t]
    span = spec.high - spec.low
    sign = 1.0 if float(params[0, t]) < spec.mid else -1.0
    after = params.clone()
    after[0, t] = params[0, t] + sign * shift * span
    return after, sign


def paint_benchmark(model: EditModel, reader: ParameterReader, parameter: str, config: StrictConfig,
                    quality: ReaderQuality, progress: Progress = None) -> dict:
    """For held-out samples: paint the renderer's part-map change p -> p' onto the branch's map, run
    the part-map editor on the sample's W+, score the image against render(p')."""
    world, G = reader.world, model.G
    t, res = world.index(parameter), G.resolution
    dilation = scaled_dilation(EditConfig(region_dilation=config.region_dilation), res)
    seeds = list(range(config.paint_first_seed, config.paint_first_seed + config.paint_samples))
    keep = {k: [] for k in ("image0", "image1", "render0", "render1", "inside", "region", "sign")}
    skipped = 0
    for i, seed in enumerate(seeds):
        p0 = seed_params(model, world, seed)
        p1, sign = paint_move(world, p0, t, config.paint_shift)
        r0, g0 = world.render(p0, res)
        r1, g1 = world.render(p1, res)
        w = model.w_from_seed(seed)
        image0, current = model.render(w)
        target = painted_target(current, g0[0], g1[0])
        if torch.equal(target, current):
            skipped += 1
            continue
        diff = g0 != g1
        painted = sorted(set(g0[diff].tolist()) | set(g1[diff].tolist()))
        inside = strict_region(g0, g1, small_classes(g0, g1, painted, config.max_part_share), 0, changed=diff)
        result = edit(G, model.segmenter, w, target, EditConfig(steps=config.paint_steps))
        for key, value in (("image0", image0), ("image1", result.image), ("render0", r0[0]), ("render1", r1[0]),
                           ("inside", inside[0]), ("region", dilate(inside[0], dilation)), ("sign", torch.tensor(sign))):
            keep[key].append(value)
        if progress:
            progress(i + 1, len(seeds))
    out = {"edit": f"paint {parameter}", "parameter": parameter, "parameter_r2": quality.r2[parameter],
           "samples": len(keep["sign"]), "skipped_no_change": skipped, "shift": config.paint_shift}
    if not keep["sign"]:
        return out
    k = {key: torch.stack(v) for key, v in keep.items()}
    spec = world.parameters[t]
    true_move = config.paint_shift * (spec.high - spec.low)
    change = reader.read(k["image1"]) - reader.read(k["image0"])
    render_change = reader.read(k["render1"]) - reader.read(k["render0"])
    move, render_move = change[:, t] * k["sign"], render_change[:, t] * k["sign"]
    std = prior_std(world)
    ent = entanglement(change, t, std, quality.mask(world), world.param_names)
    floor = entanglement(render_change, t, std, quality.mask(world), world.param_names)
    mean = lambda x: float(x.mean())
    out.update({
        "psnr_inside": mean(masked_psnr(k["image1"], k["render1"], k["inside"])),
        "psnr_inside_unedited": mean(masked_psnr(k["image0"], k["render1"], k["inside"])),
        "psnr_inside_reconstruction": mean(masked_psnr(k["image0"], k["render0"], k["inside"])),
        "correlation": mean(correlation(k["image1"] - k["image0"], k["render1"] - k["render0"])),
        "psnr_outside": mean(masked_psnr(k["image1"], k["image0"], ~k["region"])),
        "true_move": true_move, "read_move": mean(move), "read_move_renders": mean(render_move),
        "read_over_true": mean(move) / true_move, "right_direction": mean((move > 0).float()),
        **ent, "floor_entanglement": floor["entanglement"], "floor_most_entangled": floor["most_entangled"],
    })
    return out


def evaluate_model(model: EditModel, reader: ParameterReader, vectors, config: StrictConfig,
                   progress: Callable[[str, int, int], None] | None = None,
                   partial: Callable[[dict], None] | None = None) -> dict:
    """Every vector that names a world parameter, then the paint benchmark for each such parameter.
    `partial` gets the result so far after each vector and each painted parameter."""
    quality = reader_quality(reader, config)
    vectors = [v for v in vectors if "parameter" in v.method]
    result = {"world": reader.world.name, "reader": {**asdict(quality), "usable": quality.usable},
              "config": {k: v for k, v in asdict(config).items() if k != "targets"}, "targets": asdict(config.targets),
              "vectors": [], "paint": []}
    for v in vectors:
        result["vectors"].append(evaluate_vector(model, reader, v, config, quality,
                                                 (lambda d, n, v=v: progress(v.name, d, n)) if progress else None))
        if partial:
            partial(result)
    if config.paint_samples:
        for parameter in dict.fromkeys(v.method["parameter"] for v in vectors):
            result["paint"].append(paint_benchmark(model, reader, parameter, config, quality,
                                                   (lambda d, n, p=parameter: progress(f"paint {p}", d, n)) if progress else None))
            if partial:
                partial(result)
    return result


# ----- tables -------------------------------------------------------------------------------------
def fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def markdown_table(rows: list[dict], keys: list[str]) -> str:
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(fmt(r.get(k)) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


STRENGTH_KEYS = ["vector", "strength", "samples", "right_direction", "move_per_unit", "psnr_outside", "psnr_outside_p10",
                 "entanglement", "most_entangled", "floor_entanglement", "entanglement_mean"]
REFINED_KEYS = ["vector", "strength", "steps", "samples", "right_direction", "move_per_unit", "psnr_outside",
                "entanglement", "most_entangled"]
PAINT_KEYS = ["edit", "samples", "psnr_inside", "psnr_inside_unedited", "psnr_inside_reconstruction", "correlation",
              "psnr_outside", "true_move", "read_move", "read_move_renders", "right_direction", "entanglement",
              "most_entangled", "floor_entanglement"]


def markdown_report(result: dict) -> str:
    """The strict evaluation of one model as markdown tables (what `editgan evaluate` prints)."""
    vec = result["vectors"]
    strengths = [{"vector": v["vector"], **r} for v in vec for r in v["strengths"]]
    refined = [{"vector": v["vector"], **r} for v in vec for r in v["refined"]]
    lin = [{"vector": v["vector"], "parameter": v["parameter"], "parameter_r2": v["parameter_r2"],
            "slope": v["linearity"]["slope"], "linearity_r2": v["linearity"]["r2"],
            **{f"pass {s}: {k}": ok for s, checks in v["pass"].items() for k, ok in checks.items()}} for v in vec]
    r2 = [{"parameter": k, "r2": x, "usable": x >= result["reader"]["min_r2"]} for k, x in result["reader"]["r2"].items()]
    parts = [f"## {result['world']}: every strength, learning-free", markdown_table(strengths, STRENGTH_KEYS),
             "## linearity and pass/fail at strength -1 and +1", markdown_table(lin, list(lin[0]) if lin else ["vector"])]
    if refined:
        parts += ["## refinement (steps 0: learning-free on the same samples)", markdown_table(refined, REFINED_KEYS)]
    if result["paint"]:
        parts += ["## paint-to-ground-truth benchmark", markdown_table(result["paint"], PAINT_KEYS)]
    parts += ["## reader R^2 on fresh renders", markdown_table(r2, ["parameter", "r2", "usable"])]
    return "\n\n".join(parts)
