"""Train the parameter reader of a world (the instrument that measures edits).

    python scripts/train_reader.py faces --steps 3000 --out weights/faces/reader
"""

import argparse
import json
import sys
import time

from tqdm.auto import tqdm

from editgan.reader import r_squared, train_reader

p = argparse.ArgumentParser()
p.add_argument("world", choices=["faces", "cars"])
p.add_argument("--steps", type=int, default=3000)
p.add_argument("--out", required=True)
a = p.parse_args()
t = time.time()
bar = tqdm(total=a.steps, desc=f"reader {a.world}", mininterval=30, file=sys.stdout)
reader = train_reader(a.world, a.steps, progress=lambda s, n, l: (bar.update(1), bar.set_postfix(loss=round(l, 4), refresh=False)))
bar.close()
reader.save_pretrained(a.out)
r2 = r_squared(reader)
print(json.dumps({"minutes": (time.time() - t) / 60, "r2": r2}, indent=1))
