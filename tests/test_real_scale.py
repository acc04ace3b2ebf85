"""bench/real_scale.py at 256 px: a released architecture written as an NVIDIA pickle, loaded, and the whole flow timed.

Slow (a minute or two on a quiet 2-core machine); checks the JSON keys of issue 14 and that no
ratio exceeds the measured ceiling. No timing bounds: CI machines are shared.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
KEYS = ("size", "params_m", "forward_ms_b1", "ratio_of_ceiling_b1", "edit_step_ms", "edit_overhead_ratio", "slider_ms",
        "branch_train_peak_rss_mb", "embed_step_ms", "forward_bf16_ms_b1")


@pytest.fixture(scope="module")
def out():
    res = subprocess.run([sys.executable, "bench/real_scale.py", "--quick", "--json", "--threads", "1", "--arch", "nvlabs-paper256"],
                         cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout)


def test_real_scale_json(out):
    for key in ("ceiling_fp32_gflops", "ceiling_bf16_gflops", "theoretical_peak_fp32_gflops"):
        assert out[key] > 0 and math.isfinite(out[key])
    (row,) = out["real_scale"]
    for key in KEYS:
        assert isinstance(row[key], (int, float)) and math.isfinite(row[key]) and row[key] > 0, (key, row.get(key))
    assert row["size"] == 256 and row["config_inferred"] is True and 20 < row["params_m"] < 30


def test_no_ratio_exceeds_the_ceiling(out):
    for row in out["real_scale"]:
        for key in ("ratio_of_ceiling_b1", "ratio_of_ceiling_b16"):
            if key in row:
                assert 0 < row[key] <= 1, (row["arch"], key, row[key])
