"""Memory: the app process's peak resident memory, and the segmentation branch's at 512 px.

    python bench/memory.py [--quick] [--json] [--threads N]

Every measurement runs in a fresh subprocess (peak RSS = VmHWM from /proc/self/status,
reset with /proc/self/clear_refs where allowed), so one cannot inherit another's peak.

1. The app: `import gradio` (as app.py does), the default model loaded and one image
   rendered, then an edit (10 steps in --quick, 100 otherwise); the peak after each stage.
2. The segmentation branch on the feature maps of a 512-px StyleGAN2 as in EditGAN's
   release: 512 channels x 2 maps at 4, 8, ..., 64 px, then 256, 128, 64 channels x 2 maps
   at 128, 256, 512 px (6016 channels in all), 11 classes, 10 members. "Ours" is
   `Segmenter.forward` (project each map, upsample the projections); "the release's way"
   upsamples every map to 512 px and concatenates them: 6016 x 512 x 512 float32 =
   5.9 GiB for that tensor alone (computed), and `Segmenter.logits_concatenated`, which
   does the same, is measured at 128 px and scaled by (512/128)^2. Peaks are the increase
   over the process's RSS with the feature maps already in memory, inference (no_grad).
   Both ways' logits are compared at 128 px, where the release's way fits.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

try:
    from bench import common
except ImportError:  # run as a script
    import common

import torch

# (channels, resolution at 512 px) of each feature map: EditGAN's 512-px StyleGAN2, 6016 channels
RELEASE_MAPS = [(512, r) for r in (4, 4, 8, 8, 16, 16, 32, 32, 64, 64)] + [(256, 128)] * 2 + [(128, 256)] * 2 + [(64, 512)] * 2
NUM_CLASSES, MEMBERS = 11, 10
GIB = 1024**3


def release_concat_bytes(resolution: int = 512) -> int:
    return sum(c for c, _ in RELEASE_MAPS) * resolution * resolution * 4


# ----- children ------------------------------------------------------------------------------------
def segmenter_and_features(resolution: int, members: int, seed: int = 0):
    from editgan.segmenter import Segmenter, SegmenterConfig

    scale = resolution / 512
    torch.manual_seed(seed)
    features = [torch.randn(1, c, max(1, int(r * scale)), max(1, int(r * scale))) for c, r in RELEASE_MAPS]
    seg = Segmenter(SegmenterConfig(
        feature_channels=tuple(c for c, _ in RELEASE_MAPS), resolution=resolution,
        class_names=tuple(f"c{k}" for k in range(NUM_CLASSES)), class_colors=tuple((k, k, k) for k in range(NUM_CLASSES)),
        num_members=members,
    )).eval()
    return seg, features


def child_segmenter(way: str, resolution: int, members: int) -> dict:
    seg, features = segmenter_and_features(resolution, members)
    fn = seg.forward if way == "ours" else seg.logits_concatenated
    base = common.proc_status_mb("VmRSS")
    reset = common.reset_peak_rss()
    t0 = time.perf_counter()
    with torch.no_grad():
        logits = fn(features)
    seconds = time.perf_counter() - t0
    peak = common.proc_status_mb("VmHWM")
    return {"baseline_mb": base, "peak_mb": peak, "increase_mb": peak - base, "hwm_reset": reset, "seconds": seconds,
            "features_mb": sum(f.numel() for f in features) * 4 / 2**20, "logits_shape": list(logits.shape)}


def child_check(resolution: int, members: int) -> dict:
    seg, features = segmenter_and_features(resolution, members)
    with torch.no_grad():
        ours, release = seg(features), seg.logits_concatenated(features)
    return {"max_abs_diff": float((ours - release).abs().max()), "max_abs": float(release.abs().max()),
            "argmax_equal": float((ours.argmax(1) == release.argmax(1)).float().mean())}


def child_app(steps: int, with_gradio: bool) -> dict:
    stages = {"python + torch": common.proc_status_mb("VmRSS")}
    if with_gradio:
        try:
            import gradio  # noqa: F401  (the app imports it)

            stages["+ gradio"] = common.proc_status_mb("VmRSS")
        except ImportError:
            with_gradio = False
    from bench.edit import smile_edit
    from editgan.editor import EditConfig, edit
    from editgan.model import load_model

    m = load_model("faces")
    w = m.w_from_seed(0)
    _, labels = m.render(w)
    stages["+ model loaded, one image"] = common.proc_status_mb("VmHWM")
    edit(m.G, m.segmenter, w, smile_edit(labels, m.class_names), EditConfig(steps=steps, min_steps=steps, stop_accuracy=2.0))
    stages[f"+ one edit ({steps} steps)"] = common.proc_status_mb("VmHWM")
    return {"stages": stages, "peak_mb": common.proc_status_mb("VmHWM"), "gradio": with_gradio}


def child_main(argv) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--child", choices=["segmenter", "check", "app"], required=True)
    p.add_argument("--way", choices=["ours", "release"], default="ours")
    p.add_argument("--res", type=int, default=512)
    p.add_argument("--members", type=int, default=MEMBERS)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--no-gradio", action="store_true")
    a = p.parse_args(argv)
    if a.child == "segmenter":
        out = child_segmenter(a.way, a.res, a.members)
    elif a.child == "check":
        out = child_check(a.res, a.members)
    else:
        out = child_app(a.steps, not a.no_gradio)
    print(json.dumps(out))


# ----- the bench ---------------------------------------------------------------------------------------
def child(*args) -> dict:
    return common.run_child([str(common.ROOT / "bench" / "memory.py"), *map(str, args)])


def run(quick: bool) -> dict:
    rows, summary, notes = [], {}, []
    if "faces" in common.default_domains():
        steps = 10 if quick else 100
        variants = [(True,)] if quick else [(True,), (False,)]
        for (with_gradio,) in variants:
            app = child("--child", "app", "--steps", steps, *([] if with_gradio else ["--no-gradio"]))
            label = "app process" + ("" if app["gradio"] else " (without gradio)")
            for stage, mb in app["stages"].items():
                rows.append([label, stage, mb, None])
            if with_gradio:
                summary["app_peak_rss_mb"] = app["peak_mb"]
                if not app["gradio"]:
                    notes.append("gradio is not installed: the app figure lacks it")
        notes.append("app stages: RSS after the imports, then the peak (VmHWM) after each later stage; target < 1.5 GB")
    else:
        notes.append("no weights/faces/: app memory skipped")

    members = 2 if quick else MEMBERS
    ours = child("--child", "segmenter", "--way", "ours", "--res", 512, "--members", members)
    rel_small = child("--child", "segmenter", "--way", "release", "--res", 128, "--members", members)
    check = child("--child", "check", "--res", 128, "--members", members)
    release_mb = release_concat_bytes(512) / 2**20
    scaled = rel_small["increase_mb"] * (512 / 128) ** 2
    rows += [
        ["segmentation branch, 512 px", "ours (Segmenter.forward), measured", ours["increase_mb"], ours["seconds"]],
        ["segmentation branch, 512 px", "release's way: the concatenated tensor alone (computed)", release_mb, None],
        ["segmentation branch, 512 px", "logits_concatenated, measured at 128 px x 16", scaled, None],
        ["segmentation branch, 128 px", "logits_concatenated, measured", rel_small["increase_mb"], rel_small["seconds"]],
    ]
    summary["segmenter_peak_mb_512"] = ours["increase_mb"]
    summary["segmenter_release_mb_512"] = release_mb
    summary["segmenter_memory_ratio_512"] = ours["increase_mb"] / release_mb
    summary["segmenter_logits_max_abs_diff"] = check["max_abs_diff"]
    notes += [
        f"{members} ensemble members (the peak holds one member's maps at a time plus the running sum); "
        f"feature maps in memory before the call: {ours['features_mb']:.0f} MB (not counted)",
        f"ours / release's way at 512 px: {ours['increase_mb'] / release_mb:.3f} (target < 0.10); "
        f"vs logits_concatenated scaled: {ours['increase_mb'] / scaled:.3f}",
        f"logits at 128 px: max |ours - release's way| = {check['max_abs_diff']:.2e} (max |logit| {check['max_abs']:.1f}), "
        f"argmax equal on {check['argmax_equal'] * 100:.2f}% of pixels",
    ]
    if not ours["hwm_reset"]:
        notes.append("/proc/self/clear_refs not writable: peaks include the process's earlier peak")
    return common.result("Memory: app process and segmentation branch", ["what", "stage / way", "MB", "seconds"],
                         rows, summary, notes)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if "--child" in argv:
        child_main(argv)
    else:
        common.main_for(run, __doc__, argv)


if __name__ == "__main__":
    main()
