"""One edit on the default model: time per step against the generator's own cost, and quality against steps.

    python bench/edit.py [--quick] [--json] [--threads N]

The edit opens the mouth of seed 0 (closed: lips only): a band of "mouth" painted across
the middle of the lips with a row of "teeth" on top, as a user paints a smile.
Each step of `editor.edit` is a generator forward with features, the segmentation
branch, the losses, their backward and an Adam step. The overhead ratio is
seconds per step / seconds of the generator's forward + backward alone (to dW+, same
batch, same run): the part of a step spent outside the generator. Quality: share of the
region's pixels (and of the painted pixels) whose label matches the target, and the PSNR
outside the region against the original image, for a fixed number of steps (no early
stop); the full run adds the default config (early stop at 97% accuracy).
"""

from __future__ import annotations

import time

try:
    from bench import common
except ImportError:  # run as a script
    import common

import torch
import torch.nn.functional as F

SEED = 0


def smile_edit(labels: torch.Tensor, names: list[str]) -> torch.Tensor:
    """Paint an open mouth (a "mouth" band with "teeth" on top) across the middle of the lips."""
    lips = labels == names.index("lips")
    if lips.sum() < 10:
        raise ValueError("no lips to edit in this image")
    rows, cols = lips.nonzero(as_tuple=True)
    r = int(rows.float().mean().round())
    c0, c1 = int(cols.min()), int(cols.max())
    target = labels.clone()
    target[r - 1 : r + 2, c0 + 2 : c1 - 1] = names.index("mouth")
    target[r - 1, c0 + 3 : c1 - 2] = names.index("teeth")
    return target


def generator_fwd_bwd(G, w_plus: torch.Tensor, repeats: int) -> dict:
    """Forward with features + backward of an image loss to dW+: the generator's own cost of a step."""
    delta = torch.zeros_like(w_plus).requires_grad_(True)
    target = torch.zeros(1, 3, G.resolution, G.resolution)

    def step():
        image, _ = G.synthesis(w_plus + delta, return_features=True)
        (image - target).abs().mean().backward(inputs=[delta])
        delta.grad = None

    return {**common.timeit(step, repeats=repeats, warmup=1), "flops": common.count_flops(step)}


def segmenter_fwd_bwd(G, segmenter, w_plus: torch.Tensor, target: torch.Tensor, pixels: torch.Tensor | None, repeats: int) -> dict:
    """The segmentation branch's forward + backward (to the feature maps): at the pixels of a mask (R, R),
    as an edit step runs it (`editor.region_logits`), or at every pixel with `pixels=None`."""
    from editgan.editor import region_logits

    with torch.no_grad():
        _, features = G.synthesis(w_plus, return_features=True)
    features = [f.clone().requires_grad_(True) for f in features]

    def loss():
        if pixels is None:
            return F.cross_entropy(segmenter(features), target[None])
        return F.cross_entropy(region_logits(segmenter, features, pixels.nonzero()), target[pixels])

    def step():
        loss().backward(inputs=features)
        for f in features:
            f.grad = None

    return {**common.timeit(step, repeats=repeats, warmup=1), "flops": common.count_flops(step)}


def run(quick: bool) -> dict:
    from editgan.editor import EditConfig, edit, edit_region, psnr_outside, scaled_dilation
    from editgan.model import load_model

    if "faces" not in common.default_domains():
        return common.skipped("One edit", "no weights/faces/: skipped")
    m = load_model("faces")
    G, seg = m.G, m.segmenter
    w = m.w_from_seed(SEED)
    image, labels = m.render(w)
    target = smile_edit(labels, m.class_names)
    changed = labels != target
    config = EditConfig()
    region = edit_region(labels, target, scaled_dilation(config, G.resolution), config.max_part_share)
    repeats = 3 if quick else 7
    w1 = w.reshape(1, G.num_ws, G.w_dim)
    g = generator_fwd_bwd(G, w1, repeats)
    s = segmenter_fwd_bwd(G, seg, w1, target, region | changed, repeats)
    s_full = segmenter_fwd_bwd(G, seg, w1, target, None, repeats)

    rows, intervals = [], []
    for steps in ((10,) if quick else (10, 25, 50, 100)):
        stamps = []
        t0 = time.perf_counter()
        res = edit(G, seg, w, target, EditConfig(steps=steps, min_steps=steps, stop_accuracy=2.0),
                   progress=lambda i, n, rec: stamps.append(time.perf_counter()))
        seconds = time.perf_counter() - t0
        intervals += [b - a for a, b in zip(stamps, stamps[1:])]
        rows.append(quality_row(f"{steps} (fixed)", res, target, changed, image, seconds, psnr_outside))
    if not quick:
        t0 = time.perf_counter()
        res = edit(G, seg, w, target, EditConfig(steps=100))
        rows.append(quality_row("default (early stop, max 100)", res, target, changed, image, time.perf_counter() - t0, psnr_outside))
    step_ms = min(intervals) * 1e3
    summary = {
        "edit_step_ms": step_ms,
        "edit_generator_fwd_bwd_ms": g["best_ms"],
        "edit_segmenter_fwd_bwd_ms": s["best_ms"],
        "edit_segmenter_full_fwd_bwd_ms": s_full["best_ms"],
        "edit_overhead_ratio": step_ms / g["best_ms"],
        "edit_flop_bound_ratio": (g["flops"] + s["flops"]) / g["flops"],
    }
    notes = [
        f"seed {SEED}, {int(changed.sum())} painted pixels; region from editor.edit_region: {int(region.sum())} pixels",
        f"step {step_ms:.1f} ms (best; median {sorted(intervals)[len(intervals) // 2] * 1e3:.1f}) vs generator forward+backward "
        f"{g['best_ms']:.1f} ms: overhead ratio {step_ms / g['best_ms']:.2f} (target < 1.2); "
        f"segmentation branch forward+backward alone {s['best_ms']:.1f} ms at the region's pixels (as a step runs it), "
        f"{s_full['best_ms']:.1f} ms at every pixel",
        f"FLOPs of a step: generator forward+backward {g['flops'] / 1e9:.2f} G, segmentation branch forward+backward (region) "
        f"{s['flops'] / 1e9:.2f} G: at equal efficiency a step costs at least {(g['flops'] + s['flops']) / g['flops']:.2f}x "
        "the generator (edit_flop_bound_ratio)",
    ]
    columns = ["steps", "steps run", "seconds", "ms/step", "labels matched in region", "painted pixels matched", "PSNR outside dB"]
    return common.result("One edit (faces default model): cost and quality against steps", columns, rows, summary, notes)


def quality_row(name, res, target, changed, image, seconds, psnr_outside) -> list:
    matched = float((res.labels == target)[res.region].float().mean())
    painted = float((res.labels == target)[changed].float().mean())
    return [name, res.steps, seconds, seconds / res.steps * 1e3, matched, painted, psnr_outside(res.image, image, res.region)]


def main(argv=None):
    common.main_for(run, __doc__, argv)


if __name__ == "__main__":
    main()
