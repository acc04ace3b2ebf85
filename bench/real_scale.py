"""The whole edit flow on generators of the released architectures, in their real file formats.

    python bench/real_scale.py [--quick] [--json] [--threads N] [--arch nvlabs-paper256 ...]

For each size (--quick: 256 and 1024 px; full: 256, 512, the car model's 512 x 384 and
1024 px; `editgan.released.ARCHS`), random weights are written in the release's own file
format (an NVIDIA .pkl or a rosinality .pt) and loaded back by `editgan.load_generator`
(config inferred from the file), then:

- forward (`G.synthesis`, W+ -> image) at batch 1 (and 16: at 1024 px in the full run only,
  about 16 x 10 s on 2 busy cores), its FLOPs (counted on the meta device) and GFLOP/s as a
  ratio of the measured fp32 ceiling (bench/ceiling.py, same run); bf16 autocast at batch 1:
  speed-up and max |difference| of the image;
- the segmentation branch trained from 16 labelled samples (labels: three bands of each
  image's brightness, a rule the features carry) in a fresh process: peak RSS (VmHWM) and
  seconds, 100 steps in --quick (the memory does not grow with steps);
- one part-map edit step (`editor.optimise_delta`: generator forward with features, the
  branch at the region's pixels, losses, backward, Adam) against the generator's own
  forward+backward to dW+ (`edit_overhead_ratio`);
- one slider update (three vectors, one generator pass, WebP of the image the user sees:
  cropped for the car model);
- one embedding step (`embedding.embed`, ms per step).

Timings are the best of few repeats (one at 1024 px in --quick); each size reports the load
average before and after it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

try:
    from bench import ceiling as ceiling_bench, common
except ImportError:  # run as a script
    import ceiling as ceiling_bench
    import common

import torch

QUICK = ("nvlabs-paper256", "nvlabs-config-f-1024")
FULL = ("nvlabs-paper256", "nvlabs-paper512", "editgan-car-512x384", "nvlabs-config-f-1024")
LABELLED = 16
CLASS_NAMES = ("dark", "mid", "bright")
CLASS_COLORS = ((40, 40, 40), (128, 128, 128), (230, 230, 230))
BIG = 1024  # from this resolution on, --quick times one repeat and skips batch 16


# ----- small pure functions ------------------------------------------------------------------------
def brightness_bands(image: torch.Tensor) -> torch.Tensor:
    """Part map (R, R) of an image (1, 3, R, R): terciles of its brightness."""
    v = image.float().mean(1)[0]
    q = torch.quantile(v.flatten()[:: max(1, v.numel() // 100_000)], torch.tensor([1 / 3, 2 / 3]))
    return (v > q[0]).long() + (v > q[1]).long()


def painted_target(labels: torch.Tensor) -> torch.Tensor:
    """A user's edit: a disc (radius R/16) of the class least present there, painted at the centre (inside any crop)."""
    r = labels.shape[-1]
    yy, xx = torch.meshgrid(torch.arange(r), torch.arange(r), indexing="ij")
    disc = (yy - r // 2) ** 2 + (xx - r // 2) ** 2 <= (r // 16) ** 2
    counts = torch.bincount(labels[disc], minlength=len(CLASS_NAMES))
    target = labels.clone()
    target[disc] = int(counts.argmin())
    return target


def flops_per_image(config) -> float:
    """FLOPs of one synthesis pass at batch 1, counted on the meta device (no arithmetic runs)."""
    from editgan.generator import Generator

    with torch.device("meta"):
        G = Generator(config)
        w = torch.zeros(1, config.num_ws, config.w_dim)
    return float(common.count_flops(lambda: G.synthesis(w)))


def ratios(row: dict, ceiling_fp32: float) -> dict:
    """The row's GFLOP/s as ratios of the fp32 ceiling."""
    out = dict(row)
    for b in ("b1", "b16"):
        if row.get(f"gflops_{b}") is not None:
            out[f"ratio_of_ceiling_{b}"] = row[f"gflops_{b}"] / ceiling_fp32
    return out


# ----- the child: branch training in a fresh process (its own peak RSS) ------------------------------
def child_train(model: str, out: str, steps: int, members: int) -> dict:
    from editgan.model import load_generator
    from editgan.segmenter import SegmenterTrainConfig, feature_mb, train_segmenter

    G = load_generator(model)
    base = common.proc_status_mb("VmRSS")
    reset = common.reset_peak_rss()
    w = G.w_plus_from_seeds(range(LABELLED))
    config = SegmenterTrainConfig(steps=steps)
    t0 = time.perf_counter()
    res = train_segmenter(G, w, brightness_bands, CLASS_NAMES, CLASS_COLORS, config, num_members=members)
    seconds = time.perf_counter() - t0
    res.segmenter.save_pretrained(out)
    return {"peak_rss_mb": common.proc_status_mb("VmHWM"), "baseline_mb": base, "hwm_reset": reset, "seconds": seconds,
            "steps": steps, "members": members, "whole_maps_mb": feature_mb(G, LABELLED), "pool_pixels": config.pool_pixels,
            "final_loss": res.losses[-1]}


# ----- one size ---------------------------------------------------------------------------------------
def measure_size(name: str, quick: bool, workdir: Path) -> dict:
    from bench.edit import generator_fwd_bwd
    from bench.slider import NUM_VECTORS, encode
    from editgan.editor import EditConfig, edit_region, optimise_delta, scaled_dilation, segment
    from editgan.embedding import EmbedConfig, embed
    from editgan.model import load_generator
    from editgan.released import ARCHS, count_parameters, crop_image, random_generator, write_checkpoint
    from editgan.segmenter import Segmenter

    arch = ARCHS[name]
    big = arch.resolution >= BIG
    repeats = 1 if (quick and big) else (2 if big else 3)
    load0 = os.getloadavg()[0]
    row: dict = {"size": arch.resolution, "arch": name, "file_format": arch.file_format, "image_size": list(arch.image_size)}

    # the checkpoint in its real format, loaded back
    t0 = time.perf_counter()
    path = write_checkpoint(random_generator(arch), arch, workdir)
    row["write_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    G = load_generator(path)
    row["load_s"] = time.perf_counter() - t0
    row["file_mb"] = path.stat().st_size / 2**20
    row["config_inferred"] = G.config == arch.generator_config()
    row["params_m"] = count_parameters(G) / 1e6
    flops = flops_per_image(G.config)
    row["gflop_per_image"] = flops / 1e9

    # forward
    w1 = G.w_plus_from_seeds([0])
    with torch.no_grad():
        t = common.timeit(lambda: G.synthesis(w1), repeats=repeats, warmup=1)
        row["forward_ms_b1"] = t["best_ms"]
        row["gflops_b1"] = flops / (t["best_ms"] / 1e3) / 1e9
        ref = G.synthesis(w1)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            tb = common.timeit(lambda: G.synthesis(w1), repeats=repeats, warmup=1)
            low = G.synthesis(w1)
        row["forward_bf16_ms_b1"] = tb["best_ms"]
        row["bf16_speedup_b1"] = t["best_ms"] / tb["best_ms"]
        row["bf16_max_abs_diff"] = float((low.float() - ref).abs().max())
        if not (quick and big):
            w16 = G.w_plus_from_seeds(range(16))
            t16 = common.timeit(lambda: G.synthesis(w16), repeats=1, warmup=1 if not big else 0)
            row["forward_ms_b16_per_image"] = t16["best_ms"] / 16
            row["gflops_b16"] = flops / (row["forward_ms_b16_per_image"] / 1e3) / 1e9
            row["batch16_speedup"] = row["forward_ms_b1"] / row["forward_ms_b16_per_image"]
            del w16

    # the segmentation branch from 16 labelled samples, in its own process
    seg_dir = workdir / f"{name}-branch"
    steps, members = (100, 10) if quick else (300, 10)  # a branch good enough that the painted region stays the painted part
    train = common.run_child([str(Path(__file__).resolve()), "--child", "train", "--model", str(path), "--out", str(seg_dir),
                              "--steps", str(steps), "--members", str(members)], timeout=3600)
    row["branch_train_peak_rss_mb"] = train["peak_rss_mb"]
    row["branch_train_s"] = train["seconds"]
    row["branch_train_steps"] = steps
    row["branch_whole_maps_mb"] = train["whole_maps_mb"]
    seg = Segmenter.from_pretrained(seg_dir)

    # one edit step against the generator's forward + backward
    _, before = segment(G, seg, w1)
    target = painted_target(before[0])
    config = EditConfig()
    region = edit_region(before[0], target, scaled_dilation(config, G.resolution), config.max_part_share)
    stamps: list[float] = []
    edit_steps = repeats + 1
    optimise_delta(G, seg, w1, target, region, before[0] != target,
                   EditConfig(steps=edit_steps, min_steps=edit_steps, stop_accuracy=2.0),
                   progress=lambda i, n, rec: stamps.append(time.perf_counter()))
    row["edit_step_ms"] = min(b - a for a, b in zip(stamps, stamps[1:])) * 1e3
    row["edit_region_pixels"] = int(region.sum())
    g = generator_fwd_bwd(G, w1.reshape(1, G.num_ws, G.w_dim), repeats)
    row["generator_fwd_bwd_ms"] = g["best_ms"]
    row["edit_overhead_ratio"] = row["edit_step_ms"] / g["best_ms"]

    # a slider update: three vectors at new strengths, one pass, the shown image as WebP
    gen = torch.Generator().manual_seed(1)
    vectors = [0.1 * torch.randn(G.num_ws, G.w_dim, generator=gen) for _ in range(NUM_VECTORS)]
    step = [0]

    def update():
        step[0] += 1
        w = w1[0] + sum((0.5 + 0.1 * ((step[0] + i) % 7)) * v for i, v in enumerate(vectors))
        with torch.no_grad():
            image = G.synthesis(w[None])[0]
        return encode(crop_image(image, arch.crop), "WEBP")

    row["slider_ms"] = common.timeit(update, repeats=repeats, warmup=1)["best_ms"]

    # one embedding step
    with torch.no_grad():
        real = G.synthesis(G.w_plus_from_seeds([7]))[0]
    stamps = []
    embed(G, real, EmbedConfig(steps=repeats + 1), progress=lambda i, n, rec: stamps.append(time.perf_counter()))
    row["embed_step_ms"] = min(b - a for a, b in zip(stamps, stamps[1:])) * 1e3
    row["loadavg_1min"] = [load0, os.getloadavg()[0]]
    return row


def run(quick: bool, ceilings: dict | None = None, archs: tuple[str, ...] | None = None) -> dict:
    """archs: names in editgan.released.ARCHS (default: QUICK or FULL); ceilings: bench/ceiling.py's measure()."""
    ceilings = ceilings or ceiling_bench.measure(quick=True)
    names = archs or (QUICK if quick else FULL)
    rows = []
    with tempfile.TemporaryDirectory(prefix="editgan-real-scale-") as tmp:
        for name in names:
            t0 = time.perf_counter()
            rows.append(ratios(measure_size(name, quick, Path(tmp)), ceilings["ceiling_fp32_gflops"]))
            print(f"real_scale: {name} measured in {time.perf_counter() - t0:.0f} s, load average {os.getloadavg()[0]:.1f}",
                  file=sys.stderr, flush=True)
    return result(rows, ceilings)


COLUMNS = ("size", "arch", "params_m", "load_s", "forward_ms_b1", "ratio_of_ceiling_b1", "forward_ms_b16_per_image",
           "ratio_of_ceiling_b16", "forward_bf16_ms_b1", "bf16_max_abs_diff", "edit_step_ms", "generator_fwd_bwd_ms",
           "edit_overhead_ratio", "slider_ms", "embed_step_ms", "branch_train_peak_rss_mb", "branch_train_s", "loadavg_1min")


def result(rows: list[dict], ceilings: dict) -> dict:
    table = [[r.get(c) if c != "loadavg_1min" else "{:.1f}->{:.1f}".format(*r[c]) for c in COLUMNS] for r in rows]
    notes = [f"ratios: GFLOP/s over the fp32 ceiling {ceilings['ceiling_fp32_gflops']:.1f} GFLOP/s of this run"]
    over = [(r["arch"], k) for r in rows for k in ("ratio_of_ceiling_b1", "ratio_of_ceiling_b16") if r.get(k, 0) > 1]
    if over:
        notes.append(f"BUG: ratios above 1 {over}: the ceiling missed a faster kernel or ran while the machine was busier")
    return common.result("Real-scale generators: the whole flow per size", list(COLUMNS), table, {"real_scale": rows}, notes)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if "--child" in argv:
        p = argparse.ArgumentParser()
        p.add_argument("--child", choices=["train"], required=True)
        p.add_argument("--model", required=True)
        p.add_argument("--out", required=True)
        p.add_argument("--steps", type=int, default=10)
        p.add_argument("--members", type=int, default=10)
        a = p.parse_args(argv)
        print(json.dumps(child_train(a.model, a.out, a.steps, a.members)))
    else:
        p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--quick", action="store_true")
        p.add_argument("--json", action="store_true")
        p.add_argument("--threads", type=int, default=None)
        p.add_argument("--arch", action="append", help="an editgan.released.ARCHS name (repeat for several)")
        a = p.parse_args(argv)
        common.set_threads(a.threads)
        start = ceiling_bench.measure(a.quick)
        res = run(a.quick, start, tuple(a.arch) if a.arch else None)
        merged = ceiling_bench.merge(start, ceiling_bench.measure(a.quick))  # the ceiling again at the end
        rows = [ratios(r, merged["ceiling_fp32_gflops"]) for r in res["summary"]["real_scale"]]
        res = result(rows, merged)
        if a.json:
            print(json.dumps({"real_scale": rows, **{k: merged[k] for k in ceiling_bench.SUMMARY_KEYS},
                              "machine": common.machine()}, indent=2))
        else:
            common.print_result(ceiling_bench.result(merged))
            common.print_result(res)


if __name__ == "__main__":
    main()
