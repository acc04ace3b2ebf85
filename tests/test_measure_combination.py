"""scripts/measure_combination.py on the shipped faces model, a few seeds (a smoke test of the README table)."""

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import measure_combination as mc  # noqa: E402


def test_measure_combination_on_faces():
    rows = mc.measure_domain("faces", n_seeds=4)
    pairs = {(r["moved"], r["kept"]) for r in rows}
    assert len(rows) == 6 and pairs == {(a, b) for a in ("smile", "raise_eyebrows", "bigger_eyes")
                                        for b in ("smile", "raise_eyebrows", "bigger_eyes") if a != b}
    for r in rows:
        assert r["seeds"] == 4 and r["kept_move"] > 0  # each shipped vector moves its own parameter the right way
        assert all(math.isfinite(r[k]) for k in ("drag_sum", "drag_orthogonal", "moved_kept_share", "reader_floor"))
    table = mc.markdown(rows)
    assert table.count("\n") == 7 and "faces: smile" in table
