"""Load test of the app: many gradio_client users moving vector sliders at once.

    python bench/load_app.py                 # 20 users, 30 s, the shipped default model (faces)
    python bench/load_app.py --quick         # 3 users, 5 s, a tiny random model (CI)
    python bench/load_app.py --users 50 --seconds 60 --model cars --json
    python bench/load_app.py --url http://127.0.0.1:7860/ --model faces   # an app already running

The app runs in a child process (so the clients' Python threads do not share its GIL),
with three random edit vectors made for the model in a temporary vectors folder. Each
user samples its own seed, then calls `/apply_vectors` with new strengths as fast as it
can. Every response is checked against that user's state: the info line must name the
user's seed and strengths, and the image must equal the image of that seed at those
strengths rendered here (all responses with --quick, a random sample of --verify of them
otherwise). Wrong responses would mean state crossing between users.

Prints requests/s and latency p50/p90/p99 (ms, client side: request, queue, one generator
pass, PNG encoding, download) as a table, or one JSON object with --json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

NUM_VECTORS = 3
STRENGTHS = [round(-1.0 + 0.5 * i, 1) for i in range(5)]  # -1, -0.5, 0, 0.5, 1
TINY = dict(resolution=32, z_dim=16, w_dim=32, mapping_layers=2, channels=(32, 32, 16, 16))


# ----- the server (child process) ----------------------------------------------------------------
def serve(model: str, vectors_dir: str, port: int, threads: int | None) -> None:
    import torch

    if threads:
        torch.set_num_threads(threads)
    import app

    demo = app.build_demo(model, vectors_dir=vectors_dir)
    demo.queue(default_concurrency_limit=app.HEAVY_LIMIT).launch(server_name="127.0.0.1", server_port=port,
                                                                 quiet=True, css=app.CSS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, proc: subprocess.Popen | None, timeout: float = 300) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the app exited with status {proc.returncode} before it was up")
        try:
            with urllib.request.urlopen(url + "config", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the app at {url} was not up after {timeout:.0f} s")


# ----- the model and vectors, here ----------------------------------------------------------------
def prepare(model_arg: str, work: Path, own_vectors: bool = True):
    """(model source for the app, EditModel here, vectors folder) with NUM_VECTORS random vectors.

    Without own_vectors (an app already running), the folder is the model's own vectors folder.
    """
    from editgan.model import load_model
    from editgan.vectors import EditVector, save_vector

    if model_arg == "tiny":
        import torch

        from editgan.generator import Generator, GeneratorConfig

        torch.manual_seed(0)
        G = Generator(GeneratorConfig(**TINY)).eval()
        source = str(G.save_pretrained(work / "tiny-model") or (work / "tiny-model"))
    else:
        source = model_arg
    model = load_model(source)
    model.G.requires_grad_(False)
    import torch

    if not own_vectors:
        return source, model, model.vectors_dir
    folder = work / "vectors"
    folder.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(1)
    for i in range(NUM_VECTORS):
        delta = 0.3 * torch.randn(model.G.num_ws, model.G.w_dim, generator=gen)
        save_vector(EditVector(delta=delta, name=f"load{i}", description="random direction for the load test",
                               model_fingerprint=model.fingerprint, parts=[]), folder / f"load{i}.safetensors")
    return source, model, folder


# ----- one user ---------------------------------------------------------------------------------------
class User(threading.Thread):
    def __init__(self, index: int, url: str, seed: int, seconds: float, download: Path, start_barrier: threading.Barrier):
        super().__init__(name=f"user{index}", daemon=True)
        self.index, self.url, self.seed, self.seconds = index, url, seed, seconds
        self.download, self.barrier = download, start_barrier
        self.latencies: list[float] = []
        self.responses: list[tuple[tuple[float, ...], str, str]] = []  # (strengths, image path, info)
        self.errors: list[str] = []
        self.slots: list[str] = []

    def run(self):
        from gradio_client import Client

        rng = random.Random(self.index)
        try:
            client = Client(self.url, verbose=False, download_files=str(self.download))
            client.predict(self.seed, 0.7, 0.6, api_name="/sample")
            self.slots = [row["name"] for row in client.predict(api_name="/vectors")]
        except Exception as e:  # noqa: BLE001 - counted, the run goes on
            self.errors.append(f"setup: {type(e).__name__}: {e}")
            self.barrier.abort()
            return
        try:
            self.barrier.wait()
        except threading.BrokenBarrierError:
            return
        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline:
            strengths = tuple(rng.choice(STRENGTHS) for _ in self.slots)
            values = list(strengths) + [0.0] * (8 - len(strengths))
            t = time.perf_counter()
            try:
                image, info = client.predict(*values, api_name="/apply_vectors")
            except Exception as e:  # noqa: BLE001
                self.errors.append(f"{type(e).__name__}: {e}")
                continue
            self.latencies.append((time.perf_counter() - t) * 1e3)
            self.responses.append((strengths, image, info))


def info_matches(info: str, seed: int, slots: list[str], strengths: tuple[float, ...]) -> bool:
    if not re.search(rf"\bseed {seed},", info):
        return False
    shown = dict(re.findall(r"(\w+) ([+-]\d+\.\d)", info.split("**Vectors:**", 1)[1])) if "**Vectors:**" in info else {}
    want = {n: f"{s:+.1f}" for n, s in zip(slots, strengths) if s != 0}
    return shown == want


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    k = (len(v) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


# ----- the run ----------------------------------------------------------------------------------------
def run(users: int, seconds: float, model_arg: str, url: str | None, verify: int | None, threads: int | None) -> dict:
    import numpy as np
    from PIL import Image

    from editgan.embedding import to_pil
    from editgan.vectors import load_vector

    work = Path(tempfile.mkdtemp(prefix="editgan-load-"))
    proc = None
    try:
        source, model, vectors_dir = prepare(model_arg, work, own_vectors=url is None)
        if url is None:
            port = free_port()
            url = f"http://127.0.0.1:{port}/"
            cmd = [sys.executable, __file__, "--serve", "--model", source, "--vectors-dir", str(vectors_dir),
                   "--port", str(port)] + (["--threads", str(threads)] if threads else [])
            proc = subprocess.Popen(cmd, cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        elif not url.endswith("/"):
            url += "/"
        t0 = time.monotonic()
        wait_up(url, proc)
        startup_s = time.monotonic() - t0

        barrier = threading.Barrier(users + 1)
        seeds = random.Random(0).sample(range(10_000), users)
        pool = []
        for i in range(users):
            d = work / f"user{i}"
            d.mkdir()
            pool.append(User(i, url, seeds[i], seconds, d, barrier))
        for u in pool:
            u.start()
        try:
            barrier.wait(timeout=300)
        except threading.BrokenBarrierError:
            pass
        start = time.monotonic()
        for u in pool:
            u.join(timeout=seconds + 120)
        elapsed = time.monotonic() - start

        # check every response against its user's state
        vectors = {v.name: v for v in (load_vector(p) for p in sorted(vectors_dir.glob("*.safetensors")))}
        wrong_info, wrong_image, checked = 0, 0, 0
        cache: dict = {}
        rng = random.Random(1)
        all_resp = [(u, r) for u in pool for r in u.responses]
        to_check = set(range(len(all_resp))) if verify is None else set(rng.sample(range(len(all_resp)), min(verify, len(all_resp))))
        import torch

        for k, (u, (strengths, image_path, info)) in enumerate(all_resp):
            if not info_matches(info, u.seed, u.slots, strengths):
                wrong_info += 1
            if k not in to_check:
                continue
            key = (u.seed, strengths)
            if key not in cache:
                w = model.w_from_seed(u.seed, 0.7)
                for name, s in zip(u.slots, strengths):
                    w = w + s * vectors[name].delta
                with torch.no_grad():
                    cache[key] = np.asarray(to_pil(model.G.synthesis(w[None])[0]), dtype=np.int16)
            got = np.asarray(Image.open(image_path).convert("RGB"), dtype=np.int16)
            checked += 1
            if got.shape != cache[key].shape or np.abs(got - cache[key]).max() > 2:
                wrong_image += 1

        lat = [x for u in pool for x in u.latencies]
        errors = [e for u in pool for e in u.errors]
        n = len(lat)
        summary = {
            "users": users, "seconds": round(elapsed, 2), "requests": n, "errors": len(errors),
            "wrong_info": wrong_info, "wrong_images": wrong_image, "images_checked": checked,
            "requests_per_s": round(n / elapsed, 2) if elapsed > 0 else 0.0,
            "latency_p50_ms": round(percentile(lat, 50), 1), "latency_p90_ms": round(percentile(lat, 90), 1),
            "latency_p99_ms": round(percentile(lat, 99), 1),
            "latency_mean_ms": round(statistics.fmean(lat), 1) if lat else float("nan"),
            "app_startup_s": round(startup_s, 1), "model": model_arg,
            "resolution": model.G.resolution,
        }
        notes = [f"model {model_arg} ({model.G.resolution} px), {NUM_VECTORS} random vectors; strengths drawn from {STRENGTHS}",
                 "latency: client side, request -> image file downloaded"]
        if errors:
            notes.append("first errors: " + " | ".join(sorted(set(errors))[:3]))
        return {
            "title": f"App load: {users} users moving sliders for {seconds:g} s",
            "columns": ["users", "requests", "errors", "wrong (info/image)", "images checked", "req/s", "p50 ms",
                        "p90 ms", "p99 ms"],
            "rows": [[users, n, len(errors), f"{wrong_info}/{wrong_image}", checked, summary["requests_per_s"],
                      summary["latency_p50_ms"], summary["latency_p90_ms"], summary["latency_p99_ms"]]],
            "summary": summary,
            "notes": notes,
        }
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--users", type=int, default=None, help="concurrent users (20; 3 with --quick)")
    p.add_argument("--seconds", type=float, default=None, help="how long they slide (30; 5 with --quick)")
    p.add_argument("--model", default=None, help="model for the app (faces; 'tiny', a random 32-px one, with --quick)")
    p.add_argument("--url", default=None, help="an app already running with --model's weights; the responses are "
                                                "checked against the model's own vectors folder")
    p.add_argument("--verify", type=int, default=300, help="images to check against a local render (all with --quick)")
    p.add_argument("--threads", type=int, default=None, help="torch threads of the app")
    p.add_argument("--quick", action="store_true", help="3 users, 5 s, tiny model: for CI")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--vectors-dir", default=None, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.serve:
        serve(a.model, a.vectors_dir, a.port, a.threads)
        return 0
    if a.url and a.model in (None, "tiny"):
        p.error("--url needs --model naming the weights the app runs (faces, cars, a folder)")
    users = a.users or (3 if a.quick else 20)
    seconds = a.seconds or (5.0 if a.quick else 30.0)
    model = a.model or ("tiny" if a.quick else os.environ.get("EDITGAN_MODEL", "faces"))
    result = run(users, seconds, model, a.url, None if a.quick else a.verify, a.threads)
    s = result["summary"]
    if a.json:
        print(json.dumps(s, indent=2))
    else:
        from bench.common import print_result

        print_result(result)
    return 1 if (s["errors"] or s["wrong_info"] or s["wrong_images"] or not s["requests"]) else 0


if __name__ == "__main__":
    sys.exit(main())
