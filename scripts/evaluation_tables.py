"""README and docs tables from the JSON of `python -m editgan evaluate --json` (one file per domain).

    python -m editgan evaluate faces --samples 100 --refine-samples 10 --paint 20 --json > docs/evaluation/strict-faces.json
    python scripts/evaluation_tables.py docs/evaluation/strict-faces.json docs/evaluation/strict-cars.json

Prints the summary table (strength -1 and +1, learning-free and refined 30 steps) and the
paint-to-ground-truth table; nothing here is measured, every figure comes from the files.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PASS = (-1.0, 1.0)


def pct(x) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def num(x, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def at(rows: list[dict], strength: float, steps: int | None = None) -> dict:
    for r in rows:
        if r["strength"] == strength and (steps is None or r.get("steps") == steps):
            return r
    return {}


def both(rows, key, fmt, steps=None) -> str:
    return " / ".join(fmt(at(rows, s, steps).get(key)) for s in PASS)


def summary_table(results: list[dict]) -> str:
    head = ("| vector (parameter, reader R²) | right way -1 / +1 (≥ 95%) | move per unit strength -1 / +1 | "
            "PSNR outside, strict, -1 / +1 (≥ 30 dB) | entanglement -1 / +1 (< 0.1), worst parameter at +1 | "
            "reader's floor -1 / +1 | visible change -1 / +1 (≥ 0.15) | linearity R² (6 strengths) | refined 30 steps, -1 / +1: right way; PSNR; entanglement | passes |")
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for res in results:
        for v in res["vectors"]:
            s, r = v["strengths"], v["refined"]
            passed = all(all(c.values()) for c in v["pass"].values())
            lines.append(
                f"| {res['world']}: {v['vector']} ({v['parameter']}, {v['parameter_r2']:.2f}) | {both(s, 'right_direction', pct)} | "
                f"{both(s, 'move_per_unit', num)} | {both(s, 'psnr_outside', lambda x: num(x, 1))} dB | "
                f"{both(s, 'entanglement', num)} ({at(s, 1.0).get('most_entangled')}) | {both(s, 'floor_entanglement', num)} | "
                f"{both(s, 'visible_change', num)} | {v['linearity']['r2']:.2f} | {both(r, 'right_direction', pct, 30)}; {both(r, 'psnr_outside', lambda x: num(x, 1), 30)} dB; "
                f"{both(r, 'entanglement', num, 30)} | {'yes' if passed else 'no'} |")
    return "\n".join(lines)


def paint_table(results: list[dict]) -> str:
    head = ("| painted change (p -> p', half the range) | samples | PSNR inside vs render(p'): edited / unedited / "
            "reconstruction of p | correlation of G(w+d)-G(w) with render(p')-render(p) | PSNR outside, strict | "
            "reader's change / true change (renders) | right way | entanglement (reader's floor) |")
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for res in results:
        for p in res["paint"]:
            if not p["samples"]:
                continue
            lines.append(
                f"| {res['world']}: {p['parameter']} | {p['samples']} | {p['psnr_inside']:.1f} / {p['psnr_inside_unedited']:.1f} / "
                f"{p['psnr_inside_reconstruction']:.1f} dB | {p['correlation']:.2f} | {p['psnr_outside']:.1f} dB | "
                f"{p['read_move'] / p['true_move']:.2f} ({p['read_move_renders'] / p['true_move']:.2f}) | {pct(p['right_direction'])} | "
                f"{num(p['entanglement'])} ({num(p['floor_entanglement'])}) |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="+")
    p.add_argument("--full", action="store_true", help="also every table of each file (docs/evaluation.md's Results)")
    a = p.parse_args(argv)
    results = [json.loads(Path(f).read_text()) for f in a.files]
    print(summary_table(results))
    if any(r["paint"] for r in results):
        print()
        print(paint_table(results))
    if a.full:
        from editgan.evaluation import markdown_report

        for r in results:
            print()
            print(markdown_report(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
