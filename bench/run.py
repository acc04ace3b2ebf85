"""Run every bench in one process and print their tables, or one JSON object.

    python bench/run.py [--quick] [--json] [--threads N] [--only ceiling,generator,...]

--quick: fewer repeats and smaller sizes (about a minute on a quiet 2-core machine).
--json: one JSON object: every bench's summary numbers (matmul_gflops, generator_ratio_b1,
generator_ratio_b16, batch16_speedup, slider_ms, edit_overhead_ratio, app_peak_rss_mb,
segmenter_memory_ratio_512, real_scale: [one object per size], ...), plus "machine", "quick" and
"seconds" per bench. The ceiling is measured first; when the generator or real_scale bench ran, it is
measured again at the end, the larger figure of each kernel kept, and every ratio recomputed against it.
"""

from __future__ import annotations

import json
import sys
import time

try:
    from bench import ceiling, common, edit, embedding, generator_forward, memory, profile_ops, real_scale, slider, training
except ImportError:  # run as a script
    import ceiling
    import common
    import edit
    import embedding
    import generator_forward
    import memory
    import profile_ops
    import real_scale
    import slider
    import training

BENCHES = {
    "ceiling": None,  # run first, below
    "generator": generator_forward,
    "slider": slider,
    "edit": edit,
    "embedding": embedding,
    "memory": memory,
    "training": training,
    "profile": profile_ops,
    "real_scale": real_scale,
}
NEEDS_CEILING = ("generator", "real_scale")


def main(argv=None) -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", action="store_true")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--only", default=",".join(BENCHES), help="comma-separated: " + ",".join(BENCHES))
    args = p.parse_args(argv)
    common.set_threads(args.threads)
    only = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = sorted(set(only) - set(BENCHES))
    if unknown:
        p.error(f"unknown benches {unknown}; choose from {list(BENCHES)}")

    out: dict = {"quick": args.quick, "machine": common.machine(), "seconds": {}}
    t0 = time.perf_counter()
    ceilings = ceiling.measure(args.quick)
    out.update({k: ceilings[k] for k in ceiling.SUMMARY_KEYS})
    out["seconds"]["ceiling"] = time.perf_counter() - t0
    if not args.json:
        print_header(out, args)
        common.print_result(ceiling.result(ceilings))
    for name in only:
        if name == "ceiling":
            continue
        t0 = time.perf_counter()
        module = BENCHES[name]
        result = module.run(args.quick, ceilings) if name in NEEDS_CEILING else module.run(args.quick)
        out["seconds"][name] = time.perf_counter() - t0
        out.update(result["summary"])
        if not args.json:
            common.print_result(result)
            sys.stdout.flush()
    if any(name in NEEDS_CEILING for name in only):  # the ceiling again at the end: the larger of each kernel
        t0 = time.perf_counter()
        merged = ceiling.merge(ceilings, ceiling.measure(args.quick))
        out["seconds"]["ceiling_end"] = time.perf_counter() - t0
        out.update(with_ceiling(out, ceilings, merged))
        if not args.json:
            print("\nceiling measured again at the end; the larger of each kernel:")
            common.print_result(ceiling.result(merged))
    out["machine"]["loadavg_1min_end"] = common.machine()["loadavg_1min"]
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"\n{sum(out['seconds'].values()):.0f} s in all; load average {out['machine']['loadavg_1min']:.2f} "
              f"at the start, {out['machine']['loadavg_1min_end']:.2f} at the end")


def with_ceiling(out: dict, start: dict, merged: dict) -> dict:
    """The ceiling keys and every ratio of `out` against the merged ceiling (start and end of the run) instead of the start's."""
    new = {k: merged[k] for k in ceiling.SUMMARY_KEYS}
    for key, value in out.items():
        if key.startswith("generator_ratio_"):
            base = "matmul_gflops" if key.endswith("_vs_matmul") else "ceiling_gflops"
            new[key] = value * start[base] / merged[base]
    if "real_scale" in out:
        new["real_scale"] = [real_scale.ratios(row, merged["ceiling_fp32_gflops"]) for row in out["real_scale"]]
    return new


def print_header(out: dict, args) -> None:
    m = out["machine"]
    print(f"# editgan benches{' (--quick)' if args.quick else ''}\n")
    print(f"{m['cpu']}, {m['nproc']} CPUs, torch {m['torch']} with {m['torch_threads']} threads; "
          f"load average {m['loadavg_1min']:.2f} at the start")


if __name__ == "__main__":
    main()
