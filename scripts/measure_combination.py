"""How much moving one vector drags another's parameter, in "sum" and "orthogonal" combination.

    python scripts/measure_combination.py                  # both shipped domains, 50 seeds, markdown
    python scripts/measure_combination.py faces --seeds 20 --json out.json

For each shipped domain (weights/<domain>, vectors/<domain>/*.safetensors, the parameter
reader weights/<domain>/reader) and each ordered pair (A, B) of its vectors, on held-out
seeds 100000.. (the vectors were made from seeds below 50): B sits at strength 1 and A is
moved from 0 to 1. The reader (trained on renders only) reads B's own world parameter
(the vector's `method["parameter"]`) before and after; the change is reported relative to
B's own move (B at 1 against the unedited image, the mean over seeds):

- sum: w + B + A against w + B;
- orthogonal: w + B + A' against w + B, with A' = A less, per W+ layer, its projection on
  B (`combine([B, A], mode="orthogonal")`: B first, so B is kept and A is orthogonalised);
- A kept: A' moves A's own parameter by this share of what A moves it (on top of B);
- reader floor: what the reader shows on B's parameter when the renderer itself moves
  only A's parameter by A's mean move (a perfectly disentangled A): no drag measures below it.

Each cell is the mean over seeds of |change| / |B's move|, and in brackets the signed mean
(negative: A undoes B). Renders are 64 px; the reader is the shipped one (the evaluation's
instrument, `python -m editgan evaluate`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from editgan.evaluation import seed_params
from editgan.model import load_model, shipped_domains
from editgan.reader import ParameterReader
from editgan.vectors import combine, list_local_vectors

FIRST_SEED = 100_000


@torch.no_grad()
def read_latents(model, reader, ws: torch.Tensor, batch: int = 32) -> torch.Tensor:
    """Reader parameters (N, P) of the images of W+ codes (N, num_ws, w_dim)."""
    return torch.cat([reader.read(model.G.synthesis(ws[i : i + batch])) for i in range(0, len(ws), batch)])


@torch.no_grad()
def renderer_floor(reader, model, seeds, param_a: str, move_a: float, param_b: str) -> torch.Tensor:
    """Per seed: the reader's change of `param_b` when the renderer moves only `param_a` by `move_a`
    from the seed's own world parameters (kept inside the parameter's range)."""
    world = reader.world
    a, b = world.index(param_a), world.index(param_b)
    spec = world.parameters[a]
    params = torch.cat([seed_params(model, world, s) for s in seeds])
    after = params.clone()
    after[:, a] = (params[:, a] + move_a).clamp(spec.low, spec.high)
    res = reader.config.resolution
    p0 = reader.read(world.render(params, res)[0])
    p1 = reader.read(world.render(after, res)[0])
    return p1[:, b] - p0[:, b]


def measure_domain(domain: str, n_seeds: int = 50) -> list[dict]:
    model = load_model(domain)
    reader = ParameterReader.from_pretrained(Path(model.folder) / "reader")
    world = reader.world
    vectors, errors = list_local_vectors(model.vectors_dir)
    for path, err in errors:
        print(f"skipping {path}: {err}", file=sys.stderr)
    vectors = [v for v in vectors if "parameter" in v.method]
    made_from = {s for v in vectors for s in [v.method.get("seed"), *v.method.get("seeds", [])] if s is not None}
    seeds = [s for s in range(FIRST_SEED, FIRST_SEED + n_seeds + len(made_from)) if s not in made_from][:n_seeds]
    w = torch.stack([model.w_from_seed(s) for s in seeds])  # (S, num_ws, w_dim)
    index = {v.name: world.index(v.method["parameter"]) for v in vectors}
    sign = {v.name: float(v.method.get("direction", 1.0)) for v in vectors}

    base = read_latents(model, reader, w)
    alone = {v.name: read_latents(model, reader, w + v.delta) for v in vectors}
    rows = []
    for a, b in itertools.permutations(vectors, 2):
        ia, ib = index[a.name], index[b.name]
        a_ortho = combine([b, a], [1.0, 1.0], mode="orthogonal") - b.delta
        with_b = alone[b.name]
        summed = read_latents(model, reader, w + b.delta + a.delta)
        ortho = read_latents(model, reader, w + b.delta + a_ortho)
        own_b = float(((with_b[:, ib] - base[:, ib]) * sign[b.name]).mean())
        move_a = float(((alone[a.name][:, ia] - base[:, ia]) * sign[a.name]).mean())
        drag_sum = (summed[:, ib] - with_b[:, ib]) * sign[b.name] / abs(own_b)
        drag_ortho = (ortho[:, ib] - with_b[:, ib]) * sign[b.name] / abs(own_b)
        a_sum = float(((summed[:, ia] - with_b[:, ia]) * sign[a.name]).mean())
        a_orth = float(((ortho[:, ia] - with_b[:, ia]) * sign[a.name]).mean())
        floor = renderer_floor(reader, model, seeds, a.method["parameter"], move_a * sign[a.name], b.method["parameter"]) / abs(own_b)
        cos = torch.nn.functional.cosine_similarity(a.delta, b.delta, dim=-1)
        rows.append({
            "domain": domain, "moved": a.name, "kept": b.name, "kept_parameter": b.method["parameter"], "seeds": len(seeds),
            "kept_move": own_b, "drag_sum": float(drag_sum.abs().mean()), "drag_sum_signed": float(drag_sum.mean()),
            "drag_orthogonal": float(drag_ortho.abs().mean()), "drag_orthogonal_signed": float(drag_ortho.mean()),
            "moved_kept_share": a_orth / a_sum if a_sum else float("nan"),
            "reader_floor": float(floor.abs().mean()), "reader_floor_signed": float(floor.mean()),
            "layer_cosine_mean": float(cos.mean()),
        })
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| A moved to 1 | B kept at 1 (parameter) | drag on B, sum | drag on B, orthogonal | A's own move kept | reader floor | mean layer cosine A·B |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['domain']}: {r['moved']} | {r['kept']} ({r['kept_parameter']}) | "
                     f"{r['drag_sum']:.2f} ({r['drag_sum_signed']:+.2f}) | {r['drag_orthogonal']:.2f} ({r['drag_orthogonal_signed']:+.2f}) | "
                     f"{100 * r['moved_kept_share']:.0f}% | {r['reader_floor']:.2f} ({r['reader_floor_signed']:+.2f}) | "
                     f"{r['layer_cosine_mean']:+.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("domains", nargs="*", help="shipped domains (default: all with a reader)")
    p.add_argument("--seeds", type=int, default=50)
    p.add_argument("--json", help="also write the rows here")
    a = p.parse_args(argv)
    domains = a.domains or [d for d in shipped_domains() if (Path("weights") / d / "reader").is_dir()]
    rows = [r for d in domains for r in measure_domain(d, a.seeds)]
    print(markdown(rows))
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
