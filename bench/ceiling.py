"""Machine ceiling: the float32 GFLOP/s this process reaches (its practical peak).

    python bench/ceiling.py [--quick] [--json] [--threads N]

Two ways to reach it, best of several runs each:
- `torch.mm` on n x n float32 matrices (MKL's sgemm): `matmul_gflops`;
- a large 3x3 convolution (256 -> 256 channels at 64 x 64 px, oneDNN's direct kernels):
  `conv_gflops`. On AMD CPUs MKL's sgemm takes its AVX2 code path while oneDNN uses
  AVX-512, so the convolution can beat the matmul by 2x; the generator's convolutions
  run on oneDNN, and a ceiling they can exceed would not be a ceiling.

The ceiling the other benches divide by is the larger of the two (`ceiling_gflops`),
measured in the same run; the matmul-only ratios are reported too.
"""

from __future__ import annotations

try:
    from bench import common
except ImportError:  # run as a script
    import common

import torch
import torch.nn.functional as F


def conv_gflops(channels: int = 256, size: int = 64, repeats: int = 5) -> float:
    x = torch.randn(1, channels, size, size)
    w = torch.randn(channels, channels, 3, 3)
    t = common.timeit(lambda: F.conv2d(x, w, padding=1), repeats=repeats, warmup=1)
    return 2 * size * size * channels * channels * 9 / (t["best_ms"] / 1e3) / 1e9


def measure(quick: bool) -> dict:
    sizes = (2048,) if quick else (1024, 2048, 4096)
    repeats = 5 if quick else 10
    rows = []
    for n in sizes:
        rows.append([f"torch.mm {n}x{n} (MKL sgemm)", torch.get_num_threads(), common.matmul_gflops(n, repeats)])
    convs = ((256, 64),) if quick else ((256, 64), (512, 32))
    for c, s in convs:
        rows.append([f"conv2d 3x3 {c}->{c} ch, {s}x{s} px (oneDNN)", torch.get_num_threads(), conv_gflops(c, s, repeats)])
    matmul = max(r[2] for r in rows if r[0].startswith("torch.mm"))
    conv = max(r[2] for r in rows if r[0].startswith("conv2d"))
    return {"rows": rows, "matmul_gflops": matmul, "conv_gflops": conv, "ceiling_gflops": max(matmul, conv), "repeats": repeats}


def run(quick: bool) -> dict:
    return result(measure(quick))


def result(m: dict) -> dict:
    """measure()'s output as a bench result (table + summary)."""
    return common.result(
        "Machine ceiling: float32 GFLOP/s", ["kernel", "threads", f"GFLOP/s (best of {m['repeats']})"], m["rows"],
        {k: m[k] for k in ("matmul_gflops", "conv_gflops", "ceiling_gflops")},
        [f"ceiling = {m['ceiling_gflops']:.1f} GFLOP/s (the larger of matmul {m['matmul_gflops']:.1f} and conv {m['conv_gflops']:.1f})"],
    )


def main(argv=None):
    common.main_for(run, __doc__, argv)


if __name__ == "__main__":
    main()
