"""The benches keep running: `bench/run.py --quick --json` gives sane numbers for every key.

Slow (about a minute on a quiet 2-core machine, a few under load); CI runs it.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
POSITIVE = ("matmul_gflops", "conv_gflops", "ceiling_gflops", "ceiling_fp32_gflops", "ceiling_bf16_gflops",
            "theoretical_peak_fp32_gflops", "generator_ratio_b1", "generator_ms_b1_256",
            "slider_ms_256", "segmenter_peak_mb_512")
NEEDS_DEFAULT_MODEL = ("generator_ratio_b16", "batch16_speedup", "slider_ms", "edit_overhead_ratio", "app_peak_rss_mb",
                       "embed_psnr_db", "train_images_per_s")


@pytest.fixture(scope="module")
def quick():
    # every bench but real_scale (tests/test_real_scale.py runs it at 256 px: its 1024 px take minutes)
    only = "ceiling,generator,slider,edit,embedding,memory,training,profile"
    out = subprocess.run([sys.executable, "bench/run.py", "--quick", "--json", "--threads", "1", "--only", only], cwd=ROOT,
                         capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_quick_json_has_positive_finite_numbers(quick):
    keys = POSITIVE + (NEEDS_DEFAULT_MODEL if (ROOT / "weights" / "faces" / "config.json").is_file() else ())
    for key in keys:
        assert key in quick, f"{key} missing from bench/run.py --quick --json"
        assert isinstance(quick[key], (int, float)) and math.isfinite(quick[key]) and quick[key] > 0, (key, quick[key])
    assert quick["quick"] is True and quick["machine"]["nproc"] >= 1


def test_memory_ratio_is_a_fraction_and_logits_agree(quick):
    assert 0 < quick["segmenter_memory_ratio_512"] <= 1
    assert quick["segmenter_logits_max_abs_diff"] < 1e-4  # same logits as concatenating


def test_generator_ratios_are_at_most_one(quick):
    # the ceiling is the best kernel of the run (measured at its start and end): a ratio above 1 is a bug in it
    for key in ("generator_ratio_b1", "generator_ratio_b16"):
        if key in quick:
            assert quick[key] <= 1, (key, quick[key])


def test_flop_bound_of_an_edit_step(quick):
    # FLOP counts are exact (timings are not: no timing bounds here, CI machines are shared)
    if "edit_flop_bound_ratio" in quick:
        assert quick["edit_flop_bound_ratio"] >= 1
