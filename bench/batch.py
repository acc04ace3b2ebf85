"""Batch editing throughput (editgan/batch.py): images/s of every engine at batch 1 and 16.

    python bench/batch.py [--quick] [--json] [--threads N]

Seeds -> W+ -> one shipped vector at strength 1 -> generator -> PNG with the disclosure
metadata, on the faces default model, for the plain loop (`run_local`), `datasets` with 1
and 2 processes and Ray Data with 1 and 2 actors (a local cluster with 2 CPUs), at batch
sizes 1 and 16. Times are whole runs (wall clock, output files included; for Ray the
actors' start-up, which loads torch and the model, is inside). The generator's own batch-16
speed-up (ms/image at batch 1 over batch 16, `G.synthesis` alone, as bench/generator_forward.py
measures it) is measured in the same run for comparison.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

try:
    from bench import common
except ImportError:  # run as a script
    import common

import torch

ROOT = common.ROOT


def generator_speedup(G, repeats: int) -> float:
    w1, w16 = common.random_w_plus(G, 1), common.random_w_plus(G, 16)
    with torch.no_grad():
        b1 = common.timeit(lambda: G.synthesis(w1), repeats=repeats)["best_ms"]
        b16 = common.timeit(lambda: G.synthesis(w16), repeats=max(2, repeats - 2))["best_ms"] / 16
    return b1 / b16


def run(quick: bool) -> dict:
    if "faces" not in common.default_domains():
        return common.skipped("Batch editing", "no weights/faces/")
    try:
        import ray
        from editgan import batch as B
    except ImportError as e:
        return common.skipped("Batch editing", f"needs requirements-batch.txt ({e})")
    from editgan.model import load_model

    n = 64 if quick else 256
    vector = str(ROOT / "vectors" / "faces" / "smile.safetensors")
    table = B.rows_from_seeds(range(n))
    speedup = generator_speedup(load_model("faces").G, 3 if quick else 7)
    threads = str(torch.get_num_threads())
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 1024**2, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": threads}})
    engines = [("plain loop", "local", {}), ("datasets, 1 proc", "datasets", {"num_proc": 1}),
               ("datasets, 2 proc", "datasets", {"num_proc": 2}), ("Ray, 1 actor", "ray", {"actors": 1}),
               ("Ray, 2 actors", "ray", {"actors": 2})]
    rows, rate = [], {}
    try:
        for name, engine, kw in engines:
            for bs in (1, 16):
                cfg = B.BatchConfig(model="faces", vectors=[(vector, [1.0])], batch_size=bs)
                out = Path(tempfile.mkdtemp(prefix="editgan-bench-batch-"))
                try:
                    t = time.perf_counter()
                    summary = B.run(cfg, table, out, engine=engine, progress=False, **kw)
                    seconds = time.perf_counter() - t
                finally:
                    shutil.rmtree(out, ignore_errors=True)
                rate[(engine, kw.get("num_proc", kw.get("actors", 1)), bs)] = summary.images / seconds
                rows.append([name, bs, summary.images, seconds, summary.images / seconds])
    finally:
        ray.shutdown()
    for r in rows:
        r.append(r[4] / rate[next(k for k in rate if k[0] == "local" and k[2] == 1)])
    batched = rate[("local", 1, 16)] / rate[("local", 1, 1)]
    summary = {"batch_local_b16_speedup": batched, "batch_generator_b16_speedup": speedup,
               "batch_images_per_s_local_b16": rate[("local", 1, 16)],
               "batch_images_per_s_datasets2_b16": rate[("datasets", 2, 16)],
               "batch_images_per_s_ray2_b16": rate[("ray", 2, 16)]}
    notes = [f"{n} seeds, faces default model (64 px), smile vector at strength 1; torch threads {threads}; "
             f"load average {os.getloadavg()[0]:.2f} at the end",
             f"plain loop batch 16 vs batch 1: {batched:.2f}x; the generator alone, same run: {speedup:.2f}x"]
    return common.result("Batch editing (python -m editgan batch)",
                         ["engine", "batch", "images", "seconds", "images/s", "vs plain loop batch 1"], rows, summary, notes)


def main(argv=None):
    common.main_for(run, __doc__, argv)


if __name__ == "__main__":
    main()
