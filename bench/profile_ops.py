"""Where the time goes: torch.profiler self-CPU time by kind of op, for the cases the targets name.

    python bench/profile_ops.py [--quick] [--json] [--threads N]

Cases: the generator forward of the 256-px configuration at batch 1 and of the default
model at batch 16 (auto modconv form), and the segmentation branch's forward + backward
(to the feature maps) on the default model, as in an edit step. Self time is grouped into
convolutions (oneDNN and the slow fallbacks, transposed ones included), matmuls,
bilinear up/down-sampling, copies and layout changes, and elementwise/reductions.
"""

from __future__ import annotations

from collections import defaultdict

try:
    from bench import common
except ImportError:  # run as a script
    import common

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

KINDS = {
    "convolution": ("conv", "mkldnn_convolution", "_convolution"),
    "matmul": ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::linear"),
    "bilinear resampling": ("upsample", "grid_sampler"),
    "copies / layout": ("aten::copy_", "aten::clone", "aten::contiguous", "aten::_to_copy", "aten::constant_pad_nd"),
}


VIEWS = {"empty", "empty_strided", "empty_like", "view", "reshape", "_reshape_alias", "as_strided", "expand", "select",
         "slice", "unsqueeze", "squeeze", "permute", "transpose", "detach", "t", "split", "split_with_sizes", "flatten",
         "alias", "resolve_conj", "resolve_neg", "lift_fresh", "unbind", "result_type", "to", "item", "_local_scalar_dense"}


def kind_of(name: str) -> str:
    for kind, keys in KINDS.items():
        if any(k in name for k in keys):
            return kind
    if name.startswith("aten::") and name[len("aten::"):] not in VIEWS:
        return "elementwise / reductions / other math"
    return "framework (views, allocation, autograd)"


def profile_self_times(fn, runs: int = 2) -> tuple[dict[str, float], list[tuple[str, float]]]:
    fn()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(runs):
            fn()
    by_kind: dict[str, float] = defaultdict(float)
    ops = []
    for e in prof.key_averages():
        ms = e.self_cpu_time_total / 1e3 / runs
        by_kind[kind_of(e.key)] += ms
        ops.append((e.key, ms))
    return dict(by_kind), sorted(ops, key=lambda o: -o[1])[:6]


def cases(quick: bool):
    from editgan.model import load_model

    G256 = common.random_generator(common.CONFIG_256)
    w256 = common.random_w_plus(G256, 1)
    out = [("generator 256 px, batch 1", "generator_256_b1", lambda: G256.synthesis(w256), True)]
    if "faces" in common.default_domains():
        m = load_model("faces")
        w16 = common.random_w_plus(m.G, 16)
        out.append(("generator default, batch 16", "generator_default_b16", lambda: m.G.synthesis(w16), True))
        with torch.no_grad():
            _, feats = m.G.synthesis(common.random_w_plus(m.G, 1), return_features=True)
        feats = [f.clone().requires_grad_(True) for f in feats]
        target = torch.zeros(1, m.G.resolution, m.G.resolution, dtype=torch.long)

        def seg_step():
            F.cross_entropy(m.segmenter(feats), target).backward(inputs=feats)

        out.append(("segmentation branch fwd+bwd, default", "segmenter_fwd_bwd_default", seg_step, False))
    return out


def run(quick: bool) -> dict:
    rows, summary, notes = [], {}, []
    for name, key, fn, no_grad in cases(quick):
        if no_grad:
            def call(fn=fn):
                with torch.no_grad():
                    fn()
        else:
            call = fn
        by_kind, top = profile_self_times(call, 1 if quick else 3)
        total = sum(by_kind.values())
        for kind, ms in sorted(by_kind.items(), key=lambda kv: -kv[1]):
            rows.append([name, kind, ms, ms / total])
        summary[f"profile_conv_share_{key}"] = by_kind.get("convolution", 0.0) / total
        notes.append(f"{name}: top ops " + ", ".join(f"{k} {ms:.1f} ms" for k, ms in top))
    return common.result("Profile: self CPU time by kind of op (torch.profiler)", ["case", "kind of op", "ms per call", "share"],
                         rows, summary, notes)


def main(argv=None):
    common.main_for(run, __doc__, argv)


if __name__ == "__main__":
    main()
