"""Generator forward (W+ -> image, `G.synthesis`): ms per image, FLOPs, GFLOP/s, share of the ceiling.

    python bench/generator_forward.py [--quick] [--json] [--threads N]

Models: the shipped default models (weights/<domain>/), a 256-px configuration with
random weights (common.CONFIG_256) and, in the full run, StyleGAN2 at 512 px (batch 1).
Batches 1 and 16 (the 256-px configuration at batch 1 only in --quick); both exact forms
of the modulated convolution ("weights": per-sample kernels as one grouped conv;
"activations": styles scale the input, one shared conv); "auto", the code's default, is
weights at batch 1 and activations above. The full run also times `torch.compile`
(compile time counted separately) on the default model and the 256-px configuration.
FLOPs are the matmul/conv FLOPs FlopCounterMode counts; the ceiling is bench/ceiling.py's.
"""

from __future__ import annotations

import time

try:
    from bench import ceiling as ceiling_bench, common
except ImportError:  # run as a script
    import ceiling as ceiling_bench
    import common

import torch

RANDOM_256 = "256 px random"


def auto_mode(batch: int) -> str:
    return "weights" if batch == 1 else "activations"


def default_name(domain: str) -> str:
    return f"{domain} (default)"


def models(quick: bool) -> list[tuple[str, object, tuple[int, ...]]]:
    from editgan.model import load_model

    out = [(default_name(d), load_model(d).G, (1, 16)) for d in common.default_domains()]
    out.append((RANDOM_256, common.random_generator(common.CONFIG_256), (1,) if quick else (1, 16)))
    if not quick:
        out.append(("512 px random", common.random_generator(common.CONFIG_512), (1,)))
    return out


def run(quick: bool, ceilings: dict | None = None) -> dict:
    """ceilings: bench/ceiling.py's measure() of this run (measured here when not given)."""
    ceilings = ceilings or ceiling_bench.measure(quick=True)
    peak, matmul = ceilings["ceiling_gflops"], ceilings["matmul_gflops"]
    repeats = 3 if quick else 7
    rows, summary, notes = [], {}, []
    missing = [d for d in ("faces", "cars") if d not in common.default_domains()]
    if missing:
        notes.append("no " + ", ".join(f"weights/{d}/" for d in missing) + " yet: skipped")
    ms_per_image: dict[tuple[str, int, str], float] = {}
    gflops_at: dict[tuple[str, int, str], float] = {}
    for name, G, batches in models(quick):
        for n in batches:
            w = common.random_w_plus(G, n)
            flops = None
            for mode in ("weights", "activations"):
                G.set_modconv_mode(mode)
                if flops is None:
                    flops = common.count_flops(lambda: G.synthesis(w)) / n
                with torch.no_grad():
                    t = common.timeit(lambda: G.synthesis(w), repeats=repeats if n == 1 else max(2, repeats - 2), warmup=1)
                ms = t["best_ms"] / n
                gflops = flops / (ms / 1e3) / 1e9
                ms_per_image[(name, n, mode)], gflops_at[(name, n, mode)] = ms, gflops
                auto = " (auto)" if mode == auto_mode(n) else ""
                rows.append([name, n, mode + auto, "eager", ms, t["median_ms"] / n, flops / 1e9, gflops, gflops / peak, gflops / matmul, None])
            G.set_modconv_mode("auto")
        if not quick and not name.startswith("512"):
            rows.extend(compiled_rows(name, G, batches, peak, matmul, repeats))

    def auto(name, n):
        return (name, n, auto_mode(n))

    summary["generator_ratio_b1"] = gflops_at[auto(RANDOM_256, 1)] / peak
    summary["generator_ratio_b1_vs_matmul"] = gflops_at[auto(RANDOM_256, 1)] / matmul
    summary["generator_ms_b1_256"] = ms_per_image[auto(RANDOM_256, 1)]
    if "faces" in common.default_domains():
        d = default_name("faces")
        summary["generator_ratio_b16"] = gflops_at[auto(d, 16)] / peak
        summary["generator_ratio_b16_vs_matmul"] = gflops_at[auto(d, 16)] / matmul
        b1, b16 = ms_per_image[auto(d, 1)], ms_per_image[auto(d, 16)]
        summary["batch16_speedup"] = b1 / b16
        summary["generator_ms_b1_default"] = b1
        summary["generator_ms_b16_per_image_default"] = b16
        best1 = min(ms_per_image[(d, 1, m)] for m in ("weights", "activations"))
        best16 = min(ms_per_image[(d, 16, m)] for m in ("weights", "activations"))
        notes.append(f"{d}: batch 16 is {b1 / b16:.2f}x faster per image than 16 one-by-one (auto forms; "
                     f"{best1 / best16:.2f}x with the faster form at each batch)")
    notes.append(f"ratio = achieved GFLOP/s / ceiling {peak:.1f} GFLOP/s (vs matmul: / {matmul:.1f}), same run; "
                 "ms = best of the repeats, per image")
    return {
        "title": "Generator forward (synthesis, W+ -> image)",
        "columns": ["model", "batch", "modconv form", "mode", "ms/img (best)", "ms/img (median)", "GFLOP/img",
                    "GFLOP/s", "ratio to ceiling", "ratio to matmul", "compile s"],
        "rows": rows,
        "summary": summary,
        "notes": notes,
    }


def compiled_rows(name: str, G, batches, peak: float, matmul: float, repeats: int) -> list:
    """torch.compile of the synthesis network in the auto form; compile time = the first call."""
    rows = []
    compiled = torch.compile(G.synthesis, dynamic=False)
    for n in batches:
        w = common.random_w_plus(G, n)
        flops = common.count_flops(lambda: G.synthesis(w)) / n
        try:
            with torch.no_grad():
                t0 = time.perf_counter()
                compiled(w)
                compile_s = time.perf_counter() - t0
                t = common.timeit(lambda: compiled(w), repeats=repeats if n == 1 else max(2, repeats - 2), warmup=1)
        except Exception as e:  # noqa: BLE001 - a failed compile is a result, not a crash
            rows.append([name, n, "auto", f"compile failed: {type(e).__name__}", None, None, None, None, None, None, None])
            continue
        ms = t["best_ms"] / n
        gflops = flops / (ms / 1e3) / 1e9
        rows.append([name, n, auto_mode(n) + " (auto)", "compiled", ms, t["median_ms"] / n, flops / 1e9, gflops,
                     gflops / peak, gflops / matmul, compile_s])
    return rows


def main(argv=None):
    common.main_for(run, __doc__, argv)


if __name__ == "__main__":
    main()
