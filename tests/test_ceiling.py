"""The ceiling's arithmetic: theoretical peak from lscpu, the max over kernels, ratios (no timings)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import ceiling, real_scale  # noqa: E402
from bench.run import with_ceiling  # noqa: E402

ZEN4_KVM = """CPU(s):                                  2
Model name:                              AMD EPYC
BogoMIPS:                                5192.25
Flags:                                   fpu sse sse2 avx fma avx2 avx512f avx512dq avx512bw avx512vl avx512_bf16
"""
XEON = """CPU(s): 4
Model name: Intel(R) Xeon(R) Platinum 8480+ CPU @ 2.00GHz
CPU max MHz: 3800.0000
Flags: sse avx avx2 fma avx512f avx512_bf16 amx_bf16 amx_tile
"""
OLD = """CPU(s): 8
Model name: Intel(R) Core(TM) i7-4770 CPU @ 3.40GHz
Flags: sse sse2 avx avx2 fma
"""


def test_theoretical_peak_from_lscpu():
    p = ceiling.theoretical_peak(ZEN4_KVM, cpuinfo_mhz=2596.0)
    assert (p.cores, p.mhz, p.fp32_flops_per_cycle, p.bf16_flops_per_cycle) == (2, 2596.0, 64, 128)
    assert p.fp32_gflops == pytest.approx(2 * 2.596 * 64) and "cpuinfo" in p.clock_source
    x = ceiling.theoretical_peak(XEON)
    assert x.mhz == 3800.0 and x.bf16_flops_per_cycle == 1024 and x.fp32_gflops == pytest.approx(4 * 3.8 * 64)
    o = ceiling.theoretical_peak(OLD)
    assert o.mhz == 3400.0 and o.fp32_flops_per_cycle == 32 and o.bf16_flops_per_cycle == 32


def rows(mm32, conv32, mm16, conv16):
    return [["torch.mm 1024x1024", "fp32", 2, mm32], ["conv2d 3x3 a", "fp32", 2, conv32],
            ["torch.mm 1024x1024", "bf16", 2, mm16], ["conv2d 3x3 a", "bf16", 2, conv16]]


def test_ceiling_is_the_best_kernel_of_each_dtype_and_the_max_of_start_and_end():
    peak = ceiling.theoretical_peak(ZEN4_KVM, 2596.0)
    start = ceiling.summarise(rows(100, 200, 300, 150), 3, peak)
    assert (start["ceiling_fp32_gflops"], start["ceiling_bf16_gflops"]) == (200, 300)
    assert start["ceiling_gflops"] == start["ceiling_fp32_gflops"] and start["matmul_gflops"] == 100
    end = ceiling.summarise(rows(120, 150, 250, 400), 3, peak)
    merged = ceiling.merge(start, end)
    assert (merged["ceiling_fp32_gflops"], merged["ceiling_bf16_gflops"], merged["matmul_gflops"]) == (200, 400, 120)


def test_ratios_follow_the_merged_ceiling():
    peak = ceiling.theoretical_peak(ZEN4_KVM, 2596.0)
    start = ceiling.summarise(rows(100, 100, 100, 100), 3, peak)
    merged = ceiling.summarise(rows(100, 200, 100, 100), 3, peak)
    out = {"generator_ratio_b1": 0.8, "generator_ratio_b1_vs_matmul": 0.8,
           "real_scale": [{"arch": "x", "gflops_b1": 150.0, "gflops_b16": None}]}
    new = with_ceiling(out, start, merged)
    assert new["generator_ratio_b1"] == pytest.approx(0.4) and new["generator_ratio_b1_vs_matmul"] == pytest.approx(0.8)
    assert new["real_scale"][0]["ratio_of_ceiling_b1"] == pytest.approx(0.75) and "ratio_of_ceiling_b16" not in new["real_scale"][0]
    assert new["ceiling_fp32_gflops"] == 200


def test_a_ratio_above_one_is_reported_as_a_bug():
    res = real_scale.result([{**{c: 1.0 for c in real_scale.COLUMNS}, "arch": "x", "ratio_of_ceiling_b1": 1.2,
                              "loadavg_1min": [1.0, 1.0]}], {"ceiling_fp32_gflops": 10.0})
    assert any(n.startswith("BUG") for n in res["notes"])
