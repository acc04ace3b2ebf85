"""Item 4 probe: does keeping an edit vector to some W+ layers lower its entanglement?

    PYTHONPATH=. python scripts/probe_vector_layers.py faces

Learning-free, strengths -1 and +1, the strict protocol (editgan.evaluation) on 30 tuning seeds
from 300000 (disjoint from the evaluation's 100000.. and the paint benchmark's 200000..), with
the reader R^2 of docs/evaluation/strict-<domain>.json. Nothing is shipped from it.
"""
import json, sys, torch
torch.set_num_threads(1)
from pathlib import Path
from editgan.evaluation import StrictConfig, ReaderQuality, evaluate_vector
from editgan.model import load_model
from editgan.reader import ParameterReader
from editgan.vectors import list_local_vectors, EditVector
dom = sys.argv[1]
m = load_model(dom)
reader = ParameterReader.from_pretrained(Path(m.folder) / "reader")
r2 = json.load(open(f"docs/evaluation/strict-{dom}.json"))["reader"]["r2"]
q = ReaderQuality(r2, 0.8, 512, 20261207)
cfg = StrictConfig(samples=30, first_seed=300_000, strengths=(-1.0, 1.0), refine_samples=0)
vecs, _ = list_local_vectors(m.vectors_dir)
L = m.G.num_ws
for v in vecs:
    for name, keep in [("all", range(L)), ("layers 0-3", range(0, 4)), ("layers 0-5", range(0, 6)), ("layers 2-7", range(2, 8)), ("layers 4-9", range(4, 10))]:
        mask = torch.zeros(L, 1); mask[list(keep)] = 1
        vv = EditVector(delta=v.delta * mask, name=v.name, parts=v.parts, method=v.method)
        r = evaluate_vector(m, reader, vv, cfg, q)
        s = {x["strength"]: x for x in r["strengths"]}
        print(dom, v.name, name, " | ".join(f"s={k:+.0f} right {x['right_direction']:.2f} move/u {x['move_per_unit']:.3f} psnr {x['psnr_outside']:.1f} ent {x['entanglement']:.2f} ({x['most_entangled']}) floor {x['floor_entanglement']:.2f}" for k, x in s.items()), flush=True)
