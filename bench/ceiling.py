"""Machine ceiling: the best dense GFLOP/s this process reaches, fp32 and bf16, beside the CPU's theoretical peak.

    python bench/ceiling.py [--quick] [--json] [--threads N]

Measured (best of several runs each, in this process, with its threads):
- `torch.mm` on several square sizes (MKL / oneDNN), float32 and bfloat16;
- 3x3 convolutions at the generator's own shapes (512 ch at 32 px ... 64 ch at 256 px, oneDNN),
  float32 and bfloat16. On AMD CPUs MKL's sgemm takes an AVX2 path while oneDNN's
  convolutions use AVX-512, so a convolution can beat every matmul by 2x.

`ceiling_fp32_gflops` is the max over every fp32 kernel, `ceiling_bf16_gflops` over every
bf16 kernel: what the benches divide by. A figure above its ceiling means the ceiling
missed a faster kernel (or the machine was busier while it ran), never a result; run.py
measures it again at the end of a run and keeps the larger.

The theoretical peak: cores x clock x FLOPs per cycle, from `lscpu` (cores, "CPU max MHz",
else the clock in the model name or /proc/cpuinfo's "cpu MHz", which under a hypervisor is
often the base clock, not the boost) and the widest vector unit in the flags, assuming
two FMA units per core at that width (AVX-512: 2 x 16 lanes x 2 = 64 fp32 FLOP/cycle;
AVX2+FMA: 32; SSE: 8). Zen 4 runs AVX-512 on 256-bit units (32, not 64), so on such CPUs
the figure is an upper bound; bf16: 2x fp32 with avx512_bf16 (VDPBF16PS), 16x with AMX.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import asdict, dataclass

try:
    from bench import common
except ImportError:  # run as a script
    import common

import torch
import torch.nn.functional as F

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
# 3x3 convs at the shapes of a StyleGAN2 generator's layers: (channels, pixels)
CONV_SHAPES_QUICK = ((512, 32), (256, 64), (128, 128))
CONV_SHAPES_FULL = ((512, 16), (512, 32), (512, 64), (256, 128), (128, 256), (64, 256))
MATMUL_SIZES_QUICK = (1024, 2048, 3072)
MATMUL_SIZES_FULL = (1024, 2048, 3072, 4096)


# ----- the theoretical peak ------------------------------------------------------------------------
@dataclass
class TheoreticalPeak:
    cores: int
    mhz: float
    clock_source: str
    vector: str
    fp32_flops_per_cycle: int
    bf16_flops_per_cycle: int

    @property
    def fp32_gflops(self) -> float:
        return self.cores * self.mhz / 1e3 * self.fp32_flops_per_cycle

    @property
    def bf16_gflops(self) -> float:
        return self.cores * self.mhz / 1e3 * self.bf16_flops_per_cycle


def lscpu_fields(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def flops_per_cycle(flags: set[str]) -> tuple[str, int, int]:
    """(widest vector unit, fp32 FLOPs/cycle/core, bf16 FLOPs/cycle/core), two FMA units assumed."""
    if "avx512f" in flags:
        vector, lanes = "AVX-512", 16
    elif "avx2" in flags and "fma" in flags:
        vector, lanes = "AVX2+FMA", 8
    elif "avx" in flags:
        return "AVX (no FMA)", 16, 16  # 8 lanes, one add + one mul unit
    else:
        return "SSE", 8, 8
    fp32 = 2 * lanes * 2  # two FMA units, 2 FLOPs per lane each
    if "amx_bf16" in flags:
        return vector + " + AMX-BF16", fp32, 1024
    return (vector + " + BF16", fp32, 2 * fp32) if "avx512_bf16" in flags else (vector, fp32, fp32)


def theoretical_peak(lscpu_text: str, cpuinfo_mhz: float | None = None) -> TheoreticalPeak:
    f = lscpu_fields(lscpu_text)
    cores = int(f.get("CPU(s)", "1"))
    if f.get("CPU max MHz"):
        mhz, source = float(f["CPU max MHz"]), "lscpu CPU max MHz"
    elif m := re.search(r"@\s*([\d.]+)\s*GHz", f.get("Model name", "")):
        mhz, source = float(m.group(1)) * 1e3, "model name"
    elif cpuinfo_mhz:
        mhz, source = float(cpuinfo_mhz), "/proc/cpuinfo cpu MHz (may be the base clock)"
    else:
        mhz, source = float("nan"), "unknown"
    vector, fp32, bf16 = flops_per_cycle(set(f.get("Flags", "").split()))
    return TheoreticalPeak(cores, mhz, source, vector, fp32, bf16)


def this_machine_peak() -> TheoreticalPeak:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        text = ""
    mhz = None
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("cpu MHz"):
                    mhz = float(line.split(":")[1])
                    break
    except OSError:
        pass
    return theoretical_peak(text, mhz)


# ----- measured ---------------------------------------------------------------------------------------
def matmul_gflops(n: int, dtype: torch.dtype, repeats: int) -> float:
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    out = torch.empty(n, n, dtype=dtype)
    t = common.timeit(lambda: torch.mm(a, b, out=out), repeats=repeats, warmup=1)
    return 2 * n**3 / (t["best_ms"] / 1e3) / 1e9


def conv_gflops(channels: int, size: int, dtype: torch.dtype, repeats: int) -> float:
    x = torch.randn(1, channels, size, size).to(dtype)
    w = torch.randn(channels, channels, 3, 3).to(dtype)
    with torch.no_grad():
        t = common.timeit(lambda: F.conv2d(x, w, padding=1), repeats=repeats, warmup=1)
    return 2 * size * size * channels * channels * 9 / (t["best_ms"] / 1e3) / 1e9


def measure(quick: bool) -> dict:
    sizes = MATMUL_SIZES_QUICK if quick else MATMUL_SIZES_FULL
    convs = CONV_SHAPES_QUICK if quick else CONV_SHAPES_FULL
    repeats = 4 if quick else 8
    rows = []
    for label, dtype in DTYPES.items():
        for n in sizes:
            rows.append([f"torch.mm {n}x{n}", label, torch.get_num_threads(), matmul_gflops(n, dtype, repeats)])
        for c, s in convs:
            rows.append([f"conv2d 3x3 {c}->{c} ch, {s}x{s} px", label, torch.get_num_threads(), conv_gflops(c, s, dtype, repeats)])
    return summarise(rows, repeats, this_machine_peak())


def summarise(rows: list, repeats: int, peak: TheoreticalPeak) -> dict:
    def best(kind: str, dtype: str) -> float:
        return max(r[3] for r in rows if r[0].startswith(kind) and r[1] == dtype)

    fp32 = max(best("torch.mm", "fp32"), best("conv2d", "fp32"))
    return {
        "rows": rows, "repeats": repeats, "peak": asdict(peak),
        "matmul_gflops": best("torch.mm", "fp32"), "conv_gflops": best("conv2d", "fp32"),
        "ceiling_gflops": fp32, "ceiling_fp32_gflops": fp32,
        "ceiling_bf16_gflops": max(best("torch.mm", "bf16"), best("conv2d", "bf16")),
        "theoretical_peak_fp32_gflops": peak.fp32_gflops, "theoretical_peak_bf16_gflops": peak.bf16_gflops,
    }


def merge(a: dict, b: dict) -> dict:
    """Two measurements of the same run (start and end): the larger figure of each kernel, and the ceilings again."""
    rows = [[*ra[:3], max(ra[3], rb[3])] for ra, rb in zip(a["rows"], b["rows"])]
    return summarise(rows, a["repeats"], TheoreticalPeak(**a["peak"]))


SUMMARY_KEYS = ("matmul_gflops", "conv_gflops", "ceiling_gflops", "ceiling_fp32_gflops", "ceiling_bf16_gflops",
                "theoretical_peak_fp32_gflops", "theoretical_peak_bf16_gflops")


def run(quick: bool) -> dict:
    return result(measure(quick))


def result(m: dict) -> dict:
    """measure()'s output as a bench result (table + summary)."""
    p = TheoreticalPeak(**m["peak"])
    notes = [
        f"ceiling fp32 = {m['ceiling_fp32_gflops']:.1f} GFLOP/s (best matmul {m['matmul_gflops']:.1f}, best conv "
        f"{m['conv_gflops']:.1f}); bf16 = {m['ceiling_bf16_gflops']:.1f}",
        f"theoretical peak: {p.cores} cores x {p.mhz:.0f} MHz ({p.clock_source}) x {p.fp32_flops_per_cycle} fp32 / "
        f"{p.bf16_flops_per_cycle} bf16 FLOP/cycle ({p.vector}, 2 FMA units assumed) = {p.fp32_gflops:.0f} fp32 / "
        f"{p.bf16_gflops:.0f} bf16 GFLOP/s; measured fp32 ceiling = {m['ceiling_fp32_gflops'] / p.fp32_gflops:.2f} of it",
    ]
    if m["ceiling_fp32_gflops"] > p.fp32_gflops:
        notes.append("the measured fp32 ceiling exceeds the theoretical peak: the clock read is below the boost clock")
    return common.result("Machine ceiling: GFLOP/s, fp32 and bf16", ["kernel", "dtype", "threads", f"GFLOP/s (best of {m['repeats']})"],
                         m["rows"], {k: m[k] for k in SUMMARY_KEYS}, notes)


def main(argv=None):
    common.main_for(run, __doc__, argv)


if __name__ == "__main__":
    main()
