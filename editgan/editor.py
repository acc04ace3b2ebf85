"""Editing by segmentation: find dW+ so that the part map follows an edit and nothing else moves.

Given W+, the part map the segmentation branch reads from G(W+) and an edited part map,
the editor optimises an offset dW+ with

    loss = inside_weight * CE(branch(G(W+ + dW+)), edited map)  over the edit region
                                                                 and over the changed pixels
         + outside_weight * |G(W+ + dW+) - G(W+)|               outside it (L1, at full and half scale)
         + delta_weight * mean(dW+ ** 2)
         + colour_weight * part colour change            (optional; see part_colour_loss)

as in the EditGAN paper (Adam, lr 0.02, 15 x outside + 1 x inside). The cross-entropy is
averaged over the region and, separately, over the pixels the edit changed: in a region
that holds a whole part, the painted pixels are few, and a plain region average lets the
optimiser stop with most of them unchanged. Early stopping looks at the changed pixels. The region is made
from the edit itself: the pixels the edit changed, plus every pixel whose label before
or after the edit is one of the painted classes, widened by a few pixels.

The same optimiser refines an edit vector (EditGAN's self-supervised refinement): the
target part map is the one the vector produced, the region the parts it edits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from .segmenter import sampling_matrices


class EditError(ValueError):
    """An edit that cannot be run (empty edit, wrong sizes, unknown classes)."""


@dataclass
class EditConfig:
    steps: int = 100
    lr: float = 0.02
    inside_weight: float = 1.0
    outside_weight: float = 15.0
    delta_weight: float = 0.0
    colour_weight: float = 0.0  # keep each edited part's mean colour (0: off, as in the paper)
    region_dilation: int = 2  # pixels at 64 px; scaled with the resolution
    max_part_share: float = 0.15  # larger painted classes join the region only where painted
    stop_accuracy: float = 0.97  # early stop when this share of region pixels has its target label
    min_steps: int = 10
    seed: int = 0


@dataclass
class EditResult:
    image: torch.Tensor  # (3, R, R) in [-1, 1]
    labels: torch.Tensor  # (R, R) part map of the edited image
    delta: torch.Tensor  # (num_ws, w_dim)
    w_plus: torch.Tensor  # (num_ws, w_dim), edited
    region: torch.Tensor  # (R, R) bool
    steps: int
    reached: bool  # the early-stop accuracy was reached
    history: list[dict] = field(default_factory=list)


# ----- small pure functions ---------------------------------------------------------------
def dilate(mask: torch.Tensor, pixels: int) -> torch.Tensor:
    """Grow a boolean mask (..., H, W) by `pixels` in every direction (square neighbourhood)."""
    if pixels <= 0:
        return mask
    m = mask.float().reshape(-1, 1, *mask.shape[-2:])
    m = F.max_pool2d(m, 2 * pixels + 1, stride=1, padding=pixels)
    return m.reshape(mask.shape) > 0.5


def painted_classes(before: torch.Tensor, after: torch.Tensor) -> list[int]:
    """The classes the user painted: target labels at the pixels the edit changed."""
    return sorted(int(c) for c in after[before != after].unique())


def edit_region(before: torch.Tensor, after: torch.Tensor, dilation: int, max_part_share: float = 0.15) -> torch.Tensor:
    """Pixels the edit changed, plus every pixel of a painted class before or after, widened.

    A painted class that covers more than `max_part_share` of the image (skin, sky, the
    car body: usually painted to erase a part) joins the region only where it was painted;
    taking all of it would free the whole face for the optimiser.
    """
    changed = before != after
    if not changed.any():
        raise EditError("the edited part map is identical to the current one: paint a change first")
    n = before.numel()
    classes = [c for c in painted_classes(before, after)
               if max((before == c).sum().item(), (after == c).sum().item()) <= max_part_share * n]
    region = changed
    if classes:
        c = torch.tensor(classes)
        region = region | torch.isin(before, c) | torch.isin(after, c)
    return dilate(region, dilation)


def parts_region(before: torch.Tensor, after: torch.Tensor, classes: Sequence[int], dilation: int) -> torch.Tensor:
    """Pixels whose label before or after is one of `classes`, widened (used by refinement)."""
    c = torch.tensor(list(classes))
    return dilate(torch.isin(before, c) | torch.isin(after, c) | (before != after), dilation)


def masked_l1(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean |a - b| over the pixels of mask (H, W), at full and half scale."""
    m = mask.float()[None, None]
    full = ((a - b).abs() * m).sum() / (m.sum() * a.shape[1]).clamp(min=1)
    a2, b2, m2 = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2), (F.avg_pool2d(m, 2) > 0.999).float()
    half = ((a2 - b2).abs() * m2).sum() / (m2.sum() * a.shape[1]).clamp(min=1)
    return full + half


def part_colour_loss(image: torch.Tensor, original: torch.Tensor, before: torch.Tensor, target: torch.Tensor,
                     region: torch.Tensor, min_pixels: int = 4) -> torch.Tensor:
    """Mean |change| of each part's mean colour: a part's pixels in the target part map on the edited
    image against its pixels in the original part map on the original image.

    The cross-entropy inside the region says where each part must be, not what colour it keeps, so
    an edit that enlarges the eyes may also recolour the irises; this term asks for the shape change
    alone. Only parts inside the region that exist before and after (at least `min_pixels`) count:
    a part the edit creates (teeth in an opened mouth) has no colour to keep."""
    losses = []
    for c in target[region].unique():
        now, was = target == c, before == c
        if now.sum() < min_pixels or was.sum() < min_pixels:
            continue
        losses.append((image[0][:, now].mean(1) - original[0][:, was].mean(1)).abs().mean())
    return torch.stack(losses).mean() if losses else image.sum() * 0


def region_accuracy(logits: torch.Tensor, target: torch.Tensor, region: torch.Tensor) -> float:
    return float((logits.argmax(1)[0] == target)[region].float().mean())


def pixel_accuracy(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> float:
    """Share of the pixels in mask (P,) whose logits (P, K) pick their target label (P,)."""
    return float((logits.argmax(-1) == target)[mask].float().mean())


def region_logits(segmenter, features: list[torch.Tensor], coords: torch.Tensor, matrices: dict | None = None) -> torch.Tensor:
    """The segmentation branch's mean logits (P, K) at pixel coords (P, 2), (row, col), of one image.

    Only the pixels the loss reads: equal to `segmenter(features)[0, :, rows, cols].T`.
    `matrices`: `editgan.segmenter.sampling_matrices` of coords, built once per edit (same numbers, faster).
    """
    return segmenter.logits_at(features, coords[None], matrices)[0]


def psnr_outside(a: torch.Tensor, b: torch.Tensor, region: torch.Tensor) -> float:
    """PSNR (dB, 0-1 scale) between images in [-1, 1] over the pixels outside `region`."""
    keep = ~region
    mse = (((a - b) / 2) ** 2).mean(-3)[..., keep].mean().clamp(min=1e-12)
    return float(-10 * torch.log10(mse))


# ----- the optimiser ---------------------------------------------------------------------------
def optimise_delta(
    G,
    segmenter,
    w_plus: torch.Tensor,
    target: torch.Tensor,
    region: torch.Tensor,
    changed: torch.Tensor,
    config: EditConfig,
    init_delta: torch.Tensor | None = None,
    progress: Callable[[int, int, dict], None] | None = None,
    before: torch.Tensor | None = None,
) -> EditResult:
    """The core loop: optimise dW+ for the target part map inside `region` (and at `changed`).
    `before`, the part map of w_plus, is needed by the colour term (`config.colour_weight`)."""
    if config.colour_weight and before is None:
        raise EditError("the colour term needs the part map before the edit")
    torch.manual_seed(config.seed)
    w_plus = w_plus.detach().reshape(1, G.num_ws, G.w_dim)
    with torch.no_grad():
        original = G.synthesis(w_plus)
    delta = (init_delta.clone() if init_delta is not None else torch.zeros(G.num_ws, G.w_dim, device=w_plus.device)).reshape(1, G.num_ws, G.w_dim)
    delta.requires_grad_(True)
    opt = torch.optim.Adam([delta], lr=config.lr)
    outside = ~region
    # the loss reads the branch at the region's pixels (and the changed ones) only
    needed = region | changed
    coords = needed.nonzero()  # (P, 2), row-major: the order of boolean indexing
    target_p, region_p, changed_p = target[needed], region[needed], changed[needed]
    # the pixels stay fixed for the whole edit: their bilinear sampling is built once, as sparse matrices
    matrices = sampling_matrices(coords, G.resolution, G.synthesis.feature_resolutions)
    any_changed = bool(changed.any())
    history, reached, step = [], False, 0
    for step in range(1, config.steps + 1):
        image, features = G.synthesis(w_plus + delta, return_features=True)
        logits = region_logits(segmenter, features, coords, matrices)
        ce = F.cross_entropy(logits, target_p, reduction="none")
        inside_loss = 0.5 * ce[region_p].mean() + 0.5 * (ce[changed_p].mean() if any_changed else 0.0)
        outside_loss = masked_l1(image, original, outside)
        loss = config.inside_weight * inside_loss + config.outside_weight * outside_loss
        if config.delta_weight:
            loss = loss + config.delta_weight * delta.pow(2).mean()
        if config.colour_weight:
            loss = loss + config.colour_weight * part_colour_loss(image, original, before, target, region)
        acc = pixel_accuracy(logits.detach(), target_p, region_p)
        acc_changed = pixel_accuracy(logits.detach(), target_p, changed_p) if any_changed else acc
        record = {"step": step, "loss": float(loss.detach()), "inside": float(inside_loss.detach()),
                  "outside": float(outside_loss.detach()), "accuracy": acc, "accuracy_changed": acc_changed}
        history.append(record)
        if progress:
            progress(step, config.steps, record)
        if min(acc, acc_changed) >= config.stop_accuracy and step >= config.min_steps:
            reached = True
            break
        opt.zero_grad(set_to_none=True)
        loss.backward(inputs=[delta])  # no gradients into the models' weights
        opt.step()
    delta = delta.detach()
    with torch.no_grad():
        image, features = G.synthesis(w_plus + delta, return_features=True)
        labels = segmenter(features).argmax(1)[0]
    return EditResult(
        image=image[0], labels=labels, delta=delta[0], w_plus=(w_plus + delta)[0], region=region,
        steps=step, reached=reached, history=history,
    )


def scaled_dilation(config: EditConfig, resolution: int) -> int:
    return max(1, round(config.region_dilation * resolution / 64))


def segment(G, segmenter, w_plus: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Image (N, 3, R, R) and part map (N, R, R) of W+ codes (N, num_ws, w_dim)."""
    with torch.no_grad():
        image, features = G.synthesis(w_plus.reshape(-1, G.num_ws, G.w_dim), return_features=True)
        return image, segmenter(features).argmax(1)


def edit(
    G,
    segmenter,
    w_plus: torch.Tensor,
    edited_labels: torch.Tensor,
    config: EditConfig | None = None,
    progress: Callable[[int, int, dict], None] | None = None,
) -> EditResult:
    """Edit the image of `w_plus` (num_ws, w_dim) so that its part map becomes `edited_labels` (R, R)."""
    config = config or EditConfig()
    r = G.resolution
    if w_plus.shape[-2:] != (G.num_ws, G.w_dim) or w_plus.numel() != G.num_ws * G.w_dim:
        raise EditError(f"w_plus must be ({G.num_ws}, {G.w_dim}) for this generator, got {tuple(w_plus.shape)}")
    if edited_labels.shape != (r, r):
        raise EditError(f"the edited part map must be {r}x{r} for this generator, got {tuple(edited_labels.shape)}")
    k = segmenter.config.num_classes
    if edited_labels.min() < 0 or edited_labels.max() >= k:
        raise EditError(f"the edited part map has labels outside the model's {k} classes")
    _, before = segment(G, segmenter, w_plus)
    region = edit_region(before[0], edited_labels, scaled_dilation(config, r), config.max_part_share)
    changed = before[0] != edited_labels
    return optimise_delta(G, segmenter, w_plus, edited_labels.long(), region, changed, config, progress=progress,
                          before=before[0])


def refine(
    G,
    segmenter,
    w_plus: torch.Tensor,
    delta: torch.Tensor,
    parts: Sequence[str],
    steps: int = 30,
    config: EditConfig | None = None,
    progress: Callable[[int, int, dict], None] | None = None,
) -> EditResult:
    """EditGAN's self-supervised refinement of a learning-free edit w + delta.

    The target part map is the one w + delta produces; inside the edited parts it is kept,
    outside them the image of w is restored. Never returns a worse edit than it started
    from: the outside error can only go down from the start, the target is matched inside.
    """
    base = config or EditConfig()
    config = EditConfig(**{**base.__dict__, "steps": steps, "min_steps": steps, "stop_accuracy": 2.0, "lr": base.lr / 2})
    names = segmenter.class_names
    unknown = [p for p in parts if p not in names]
    if unknown:
        raise EditError(f"unknown parts {unknown}: this model's classes are {names}")
    classes = [names.index(p) for p in parts]
    _, before = segment(G, segmenter, w_plus)
    _, after = segment(G, segmenter, w_plus.reshape(G.num_ws, G.w_dim) + delta)
    region = parts_region(before[0], after[0], classes, scaled_dilation(config, G.resolution))
    changed = before[0] != after[0]
    return optimise_delta(G, segmenter, w_plus, after[0], region, changed, config, init_delta=delta, progress=progress,
                          before=before[0])
