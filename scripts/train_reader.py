"""Train the parameter reader of a world (the instrument that measures edits).

    python scripts/train_reader.py faces --steps 3000 --out weights/faces/reader \
        --emphasis smile=3 eye_size=3 eyebrow_height=3

R^2 is measured on 512 held-out renders (a seed training never draws), softened as in training.
"""

import argparse
import json
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from editgan.reader import r_squared, train_reader

p = argparse.ArgumentParser()
p.add_argument("world", choices=["faces", "cars"])
p.add_argument("--steps", type=int, default=3000)
p.add_argument("--out", required=True)
p.add_argument("--emphasis", nargs="*", default=[], metavar="PARAM=WEIGHT",
               help="weigh these parameters' loss (e.g. those the shipped vectors target)")
a = p.parse_args()
emphasis = {k: float(v) for k, v in (e.split("=") for e in a.emphasis)}
t = time.time()
bar = tqdm(total=a.steps, desc=f"reader {a.world}", mininterval=30, file=sys.stdout)
reader = train_reader(a.world, a.steps, emphasis=emphasis,
                      progress=lambda s, n, l: (bar.update(1), bar.set_postfix(loss=round(l, 4), refresh=False)))
bar.close()
reader.save_pretrained(a.out)
r2 = r_squared(reader)
print(json.dumps({"minutes": (time.time() - t) / 60, "steps": a.steps, "emphasis": emphasis, "r2": r2}, indent=1))
