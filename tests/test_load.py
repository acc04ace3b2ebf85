"""scripts/load_test.py: a short real run on the shipped faces model, and its leak check's parts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import load_test  # noqa: E402

pytest.importorskip("gradio_client")


def test_info_check_names_the_users_own_seed_and_vectors():
    exp = load_test.Expected(seed=12, strengths=(0.5, 0.0))
    good = "**Image:** seed 12, truncation 0.7; 0 edit(s)  \n**Vectors:** smile +0.5"
    assert load_test.info_problem(good, exp, ["smile", "mine0"]) is None
    assert "seed 12" in load_test.info_problem(good.replace("seed 12,", "seed 121,"), exp, ["smile", "mine0"])
    assert "vectors" in load_test.info_problem(good.replace("+0.5", "+1.0"), exp, ["smile", "mine0"])
    assert "edit(s)" in load_test.info_problem(good, load_test.Expected(12, (0.5, 0.0), edits=1), ["smile", "mine0"])
    photo = load_test.Expected(12, (0.0, 0.0), photo="u1-0.png")
    assert "photo" in load_test.info_problem(good, photo, ["smile", "mine0"])


@pytest.mark.slow
def test_three_users_for_ten_seconds_see_only_their_own_state():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "load_test.py"), "--users", "3", "--seconds", "8",
                          "--model", "faces", "--json", "--slider-p95-ms", "1e9"],
                         cwd=ROOT, capture_output=True, text=True, timeout=240)
    s = json.loads(out.stdout[out.stdout.index("{"):])
    assert out.returncode == 0, (s["missed"], s["first_errors"], s["first_leaks"], out.stderr[-2000:])
    assert s["errors"] == 0 and s["leaks"] == 0 and s["calls"] > 10
    assert s["checked"] >= s["calls"] - s["endpoints"]["load_vector"]["calls"]  # every response but the uploads'
    assert s["control_checked"] > 0 and s["control_flagged"] == s["control_checked"]  # the check sees a swap
    assert s["endpoints"]["apply_vectors"]["calls"] > 0 and s["endpoints"]["apply_vectors"]["p95_ms"] > 0
    assert 100 < s["rss_peak_mb"] < 2048
