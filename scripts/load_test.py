"""Load test of the app: N gradio_client users over a mix of actions, with a cross-session leak check.

    python scripts/load_test.py                            # 20 users, 60 s, the shipped faces model
    python scripts/load_test.py --users 3 --seconds 10 --json
    python scripts/load_test.py --url http://127.0.0.1:7860/ --model faces   # an app already running

The app (`app.build_demo(model)`, queued as `python app.py` queues it) runs in a child
process on a free loopback port, so its RSS is its own: /proc/<pid>/status VmRSS is sampled
every 0.5 s and VmHWM read at the end. Each user is a thread with its own `gradio_client.Client`
(its own session). It loads a vector file of its own (`mine<i>`), then loops for --seconds
over a weighted mix (MIX):

  slider   /apply_vectors with random strengths on every slot
  vector   one shipped vector at a strength (the others 0), then /export
  sample   /sample with a new random seed
  edit     /edit_parts, 10 steps, a square of one class painted on the user's part map; then /undo
  embed    /embed of a small PNG of the user's own, 10 steps; then /undo
  vectors  /vectors

Leak check: every user keeps the state it expects (seed, strengths, its own vector) and every
response is compared with it after the run: images and part maps with those rendered here from
the expected W+ (editgan.load_model, the same maths as the app), the info line must name the
user's seed (or photo) and strengths, /vectors must list the shipped vectors and this user's
vector only, the export's metadata must carry the user's seed and vector. Any mismatch is a leak.

Timing per API call, client side: `latency` is submit -> result downloaded; `queue wait` is
submit -> the first "process_starts" message received (gradio_client's Job status updates,
stamped when the client's stream reader sees them: resolution ~50 ms, it polls at 20 Hz);
it includes uploading files. Exit status 1 when a target is missed: any error, any leak,
peak RSS >= --max-rss-mb (2048), slider (apply_vectors) p95 >= --slider-p95-ms (300).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MIX = {"slider": 50, "vector": 12, "sample": 15, "edit": 10, "embed": 5, "vectors": 8}
STEPS = 10  # edit and embedding steps
OPACITY = 0.6
TRUNCATION = 0.7
STRENGTHS = (-1.0, -0.5, 0.0, 0.5, 1.0)
VECTOR_STRENGTHS = (-1.5, -1.0, -0.5, 0.5, 1.0, 1.5)
PIXEL_TOLERANCE = 2  # PNG round trip of the same render: identical up to rounding
CALL_TIMEOUT_S = 300


# ----- the server (child process) ----------------------------------------------------------------
def serve(model: str, vectors_dir: str, port: int) -> None:
    import app

    demo = app.build_demo(model, vectors_dir=vectors_dir)
    demo.queue(default_concurrency_limit=app.HEAVY_LIMIT).launch(server_name="127.0.0.1", server_port=port,
                                                                 quiet=True, css=app.CSS, max_file_size="20mb")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, proc: subprocess.Popen | None, timeout: float = 300) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the app exited with status {proc.returncode} before it was up:\n"
                             + (proc.stderr.read()[-3000:] if proc.stderr else ""))
        try:
            with urllib.request.urlopen(url + "config", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the app at {url} was not up after {timeout:.0f} s")


def proc_status_kb(pid: int, key: str) -> int | None:
    """A field of /proc/<pid>/status in kB (VmRSS, VmHWM), None when unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


class RssSampler(threading.Thread):
    """Samples a process's VmRSS every `every` seconds; keeps the peak and the samples."""

    def __init__(self, pid: int, every: float = 0.5):
        super().__init__(name="rss", daemon=True)
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def run(self):
        t0 = time.monotonic()
        while not self.stop.is_set():
            kb = proc_status_kb(self.pid, "VmRSS")
            if kb is not None:
                self.samples.append((time.monotonic() - t0, kb))
            self.stop.wait(self.every)


# ----- statistics ---------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    k = (len(v) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


@dataclass
class Call:
    """One API call as a user saw it."""

    endpoint: str
    latency_ms: float
    queue_ms: float | None
    error: str | None = None


# ----- what a user expects ------------------------------------------------------------------------
@dataclass(frozen=True)
class Expected:
    """The state a user's session must be in: the image is the seed's W+ plus the vectors at these strengths."""

    seed: int
    strengths: tuple[float, ...]  # one per slot of `slots`
    edits: int = 0
    photo: str | None = None  # the uploaded file's name, while the image is an embedding


@dataclass
class Check:
    """A response to compare with the user's expected state after the run."""

    user: int
    what: str  # "image", "image+parts", "export", "info", "vectors", "target", "before"
    expected: Expected
    paths: tuple = ()
    info: str | None = None
    data: object = None


def info_problem(info: str, exp: Expected, slots: list[str]) -> str | None:
    """Why an info markdown is not this user's (None when it is)."""
    if exp.photo is not None:
        if f"photo {exp.photo}," not in info:
            return f"info does not name the photo {exp.photo}: {info!r}"
    elif not re.search(rf"\bseed {exp.seed},", info):
        return f"info does not name seed {exp.seed}: {info!r}"
    if f"; {exp.edits} edit(s)" not in info:
        return f"info does not say {exp.edits} edit(s): {info!r}"
    shown = dict(re.findall(r"([\w.-]+) ([+-]\d+\.\d)", info.split("**Vectors:**", 1)[1].split("  \n")[0])) \
        if "**Vectors:**" in info else {}
    want = {n: f"{s:+.1f}" for n, s in zip(slots, exp.strengths) if s != 0}
    if shown != want:
        return f"info shows vectors {shown}, expected {want}"
    return None


# ----- one user ---------------------------------------------------------------------------------------
class User(threading.Thread):
    def __init__(self, index: int, url: str, seconds: float, work: Path, model, shipped: list[str],
                 barrier: threading.Barrier, seed: int):
        super().__init__(name=f"user{index}", daemon=True)
        self.index, self.url, self.seconds, self.work = index, url, seconds, work
        self.model, self.shipped, self.barrier = model, shipped, barrier
        self.rng = random.Random(1000 + index)
        self.calls: list[Call] = []
        self.checks: list[Check] = []
        self.own_vector = f"mine{index}"
        self.slots = shipped + [self.own_vector]
        self.exp = Expected(seed=seed, strengths=(0.0,) * len(self.slots))
        self.ops = {name: 0 for name in MIX}
        self.client = None
        self.fatal: str | None = None
        self.uploads = 0

    # -- calls --
    def call(self, endpoint: str, *args):
        """One timed call; returns the result or raises after recording the error."""
        t0, t0_wall = time.perf_counter(), time.time()
        job = self.client.submit(*args, api_name="/" + endpoint)
        try:
            result = job.result(timeout=CALL_TIMEOUT_S)
        except Exception as e:  # noqa: BLE001 - recorded, then the user resyncs
            self.calls.append(Call(endpoint, (time.perf_counter() - t0) * 1e3, None, f"{type(e).__name__}: {e}"))
            raise
        latency = (time.perf_counter() - t0) * 1e3
        self.calls.append(Call(endpoint, latency, queue_wait_ms(job, t0_wall)))
        return result

    def check(self, what, paths=(), info=None, data=None, exp=None):
        self.checks.append(Check(self.index, what, exp or self.exp, tuple(paths), info, data))

    # -- setup --
    def setup(self):
        import torch

        from editgan.vectors import EditVector, load_vector, save_vector
        from gradio_client import Client, handle_file

        self.client = Client(self.url, verbose=False, download_files=str(self.work))
        gen = torch.Generator().manual_seed(10_000 + self.index)
        delta = 0.3 * torch.randn(self.model.G.num_ws, self.model.G.w_dim, generator=gen)
        path = save_vector(EditVector(delta=delta, name=self.own_vector, description=f"user {self.index}'s own",
                                      model_fingerprint=self.model.fingerprint, parts=[]),
                           self.work / f"{self.own_vector}.safetensors")
        vec = load_vector(path)
        with _RENDER_LOCK:
            _VECTORS[self.own_vector] = vec
        self.call("load_vector", handle_file(str(path)))
        self.do_sample(self.exp.seed)
        self.do_vectors()

    # -- the mix --
    def do_slider(self):
        strengths = tuple(self.rng.choice(STRENGTHS) for _ in self.slots)
        self.apply(strengths)

    def apply(self, strengths):
        from editgan.app_logic import MAX_SLOTS

        values = list(strengths) + [0.0] * (MAX_SLOTS - len(strengths))
        image, info = self.call("apply_vectors", *values)
        self.exp = Expected(self.exp.seed, tuple(strengths))
        self.check("image", [image], info)

    def do_vector(self):
        k = self.rng.randrange(len(self.shipped))
        strengths = tuple(self.rng.choice(VECTOR_STRENGTHS) if i == k else 0.0 for i in range(len(self.slots)))
        self.apply(strengths)
        png = self.call("export")
        self.check("export", [png])

    def do_sample(self, seed=None):
        seed = self.rng.randrange(100_000) if seed is None else seed
        before, after, parts, editor, info = self.call("sample", seed, TRUNCATION, OPACITY)
        self.exp = Expected(seed, self.exp.strengths)
        self.check("image+parts", [after, parts], info)

    def do_edit(self):
        import numpy as np
        from PIL import Image

        from gradio_client import handle_file

        labels = expected_render(self.model, self.exp, self.slots)[1]
        painted = paint_square(labels, self.rng)
        path = self.work / f"parts-{self.uploads}.png"
        self.uploads += 1
        Image.fromarray(np.asarray(self.model.palette)[painted.numpy()].astype(np.uint8)).save(path)
        before, after, parts, editor, info = self.call("edit_parts", handle_file(str(path)), STEPS, OPACITY)
        self.check("before", [before])
        self.check("info", info=info, exp=Expected(self.exp.seed, self.exp.strengths, edits=1))
        self.undo()

    def do_embed(self):
        from gradio_client import handle_file

        name = f"u{self.index}-{self.uploads}.png"
        self.uploads += 1
        path = self.work / name
        photo(self.rng).save(path)
        out = self.call("embed", handle_file(str(path)), STEPS, OPACITY)
        self.check("info", info=out[4], exp=Expected(self.exp.seed, self.exp.strengths, photo=name))
        self.check("target", [out[5]], data=str(path))
        self.undo()

    def undo(self):
        before, after, parts, editor, info = self.call("undo", OPACITY)
        self.check("image+parts", [after, parts], info)

    def do_vectors(self):
        table = self.call("vectors")
        self.check("vectors", data=table)

    def run(self):
        try:
            self.setup()
        except Exception as e:  # noqa: BLE001
            self.fatal = f"setup: {type(e).__name__}: {e}"
            self.barrier.abort()
            return
        try:
            self.barrier.wait()
        except threading.BrokenBarrierError:
            return
        names, weights = list(MIX), list(MIX.values())
        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline:
            op = self.rng.choices(names, weights)[0]
            self.ops[op] += 1
            n = len(self.calls)
            try:
                getattr(self, "do_" + op)()
            except Exception as e:  # noqa: BLE001 - recorded; get back to a known state
                if len(self.calls) == n or self.calls[-1].error is None:  # failed here, not in a call
                    self.calls.append(Call(f"(client: {op})", 0.0, None, f"{type(e).__name__}: {e}"))
                try:
                    self.do_sample(self.exp.seed)
                    self.apply(self.exp.strengths)
                except Exception as e:  # noqa: BLE001
                    self.fatal = f"could not resync after an error: {type(e).__name__}: {e}"
                    return


def queue_wait_ms(job, t0_wall: float) -> float | None:
    """Submit -> the first PROCESSING status the client received, from the job's queued status updates."""
    from gradio_client.utils import Status

    comm = getattr(job, "communicator", None)
    if comm is None:
        return None
    first = None
    q = comm.updates
    while not q.empty():
        u = q.get_nowait()
        if getattr(u, "type", None) == "status" and u.code == Status.PROCESSING and first is None:
            first = u.time
    if first is None:
        return None
    return max(0.0, (first.timestamp() - t0_wall) * 1e3)  # status times are datetime.now()


def paint_square(labels, rng: random.Random, size: int = 8):
    """The part map with a size x size square of one class painted where it changes pixels."""
    import torch

    r = labels.shape[-1]
    classes = labels.unique().tolist()
    for _ in range(20):
        i, j = rng.randrange(r - size), rng.randrange(r - size)
        cls = rng.choice(classes)
        target = labels.clone()
        target[i:i + size, j:j + size] = cls
        if not torch.equal(target, labels):
            return target
    target = labels.clone()
    target[:size, :size] = (labels[0, 0] + 1) % int(labels.max() + 1)
    return target


def photo(rng: random.Random):
    """A small RGB photo of the user's own: a random two-colour gradient, not square."""
    import numpy as np
    from PIL import Image

    a, b = np.array([rng.randrange(256) for _ in range(3)]), np.array([rng.randrange(256) for _ in range(3)])
    t = np.linspace(0, 1, 48)[None, :, None]
    arr = (a * (1 - t) + b * t).repeat(40, 0)
    return Image.fromarray(arr.astype(np.uint8))


# ----- expected renders, here ---------------------------------------------------------------------
_RENDER_LOCK = threading.Lock()
_RENDERS: dict = {}
_VECTORS: dict = {}


def expected_render(model, exp: Expected, slots: list[str]):
    """(image uint8 (R, R, 3), labels (R, R)) of a user's expected state, rendered here."""
    import numpy as np
    import torch

    from editgan.embedding import to_pil
    from editgan.vectors import apply_vectors

    key = (exp.seed, tuple(zip(slots, exp.strengths)))
    with _RENDER_LOCK:
        if key not in _RENDERS:
            w = model.w_from_seed(exp.seed, TRUNCATION)
            pairs = [(_VECTORS[n], s) for n, s in zip(slots, exp.strengths) if s != 0]
            with torch.no_grad():
                image, labels = model.render(apply_vectors(w, pairs) if pairs else w)
            _RENDERS[key] = (np.asarray(to_pil(image), dtype=np.int16), labels.cpu())
        return _RENDERS[key]


def image_problem(path, want, what: str) -> str | None:
    import numpy as np
    from PIL import Image

    got = np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)
    if got.shape != want.shape:
        return f"{what}: shape {got.shape}, expected {want.shape}"
    diff = int(np.abs(got - want).max())
    return None if diff <= PIXEL_TOLERANCE else f"{what}: differs from the expected render by up to {diff}/255"


def parts_problem(path, labels, palette) -> str | None:
    import numpy as np
    from PIL import Image

    from editgan.labels import snap_to_palette

    im = Image.open(path).convert("RGB")
    if im.size != (labels.shape[1], labels.shape[0]):
        im = im.resize((labels.shape[1], labels.shape[0]), Image.NEAREST)
    got = snap_to_palette(np.asarray(im), palette)
    wrong = float((got != labels).float().mean())
    return None if wrong <= 0.002 else f"part map: {wrong:.1%} of pixels differ from the expected one"


def verify(user: User, check: Check, model) -> str | None:
    """Why a response is not this user's (None when it is)."""
    import numpy as np

    from editgan.app_logic import read_png_metadata
    from editgan.embedding import load_image, to_pil

    exp = check.expected
    if check.info is not None:
        p = info_problem(check.info, exp, user.slots)
        if p:
            return p
    if check.what in ("image", "image+parts", "before", "export"):
        image, labels = expected_render(model, exp, user.slots)
        p = image_problem(check.paths[0], image, check.what)
        if p:
            return p
        if check.what == "image+parts" and labels is not None:
            return parts_problem(check.paths[1], labels, model.palette)
        if check.what == "export":
            meta = read_png_metadata(check.paths[0])["editgan"] or {}
            src = meta.get("source", {})
            want = sorted((n, s) for n, s in zip(user.slots, exp.strengths) if s != 0)
            got = sorted((v["name"], v["strength"]) for v in meta.get("vectors", []))
            if src.get("seed") != exp.seed or got != want or meta.get("model_fingerprint") != model.fingerprint:
                return f"export metadata: source {src}, vectors {got}; expected seed {exp.seed}, vectors {want}"
    elif check.what == "target":
        want = np.asarray(to_pil(load_image(check.data, model.G.resolution)), dtype=np.int16)
        return image_problem(check.paths[0], want, "embedding target")
    elif check.what == "vectors":
        names = [row["name"] for row in check.data]
        strengths = tuple(float(row["strength"]) for row in check.data)
        if names != user.slots or strengths != exp.strengths:
            return f"/vectors lists {list(zip(names, strengths))}, expected {list(zip(user.slots, exp.strengths))}"
    return None


def swapped_control(pool: list[User], model, limit: int = 200) -> tuple[int, int]:
    """The leak check's own control: responses checked against the NEXT user's expected state.

    Returns (checked, flagged); every one should be flagged (users differ in seed and vector),
    else the leak check could not see a swap of that kind.
    """
    import dataclasses

    rng = random.Random(2)
    pairs = [(u, pool[(k + 1) % len(pool)], c) for k, u in enumerate(pool) for c in u.checks
             if c.what in ("image", "image+parts", "export", "vectors")]
    if len(pool) < 2 or not pairs:
        return 0, 0
    flagged = 0
    pairs = rng.sample(pairs, min(limit, len(pairs)))
    for u, other, c in pairs:
        if c.what == "vectors":
            wrong = dataclasses.replace(c, expected=other.exp)  # the other's slots: its own vector
            flagged += verify(other, wrong, model) is not None
        else:
            wrong = dataclasses.replace(c, expected=dataclasses.replace(c.expected, seed=other.exp.seed))
            flagged += c.expected.seed == other.exp.seed or verify(u, wrong, model) is not None
    return len(pairs), flagged


# ----- the run ----------------------------------------------------------------------------------------
def prepare(model_arg: str, work: Path, own_folder: bool):
    """(EditModel here, vectors folder for the app, shipped vector names) ; the vectors are cached for renders."""
    import torch

    from editgan.model import load_model
    from editgan.vectors import list_local_vectors

    torch.set_num_threads(1)  # the app gets the cores; renders here are small
    model = load_model(model_arg)
    model.G.requires_grad_(False)
    if model.segmenter is None:
        raise SystemExit(f"model {model_arg!r} has no segmentation branch: the mix needs edits")
    src = model.vectors_dir
    folder = src
    if own_folder:
        folder = work / "vectors"
        folder.mkdir(parents=True)
        for p in sorted(src.glob("*.safetensors")) if src.is_dir() else []:
            shutil.copy(p, folder / p.name)
    vectors, _ = list_local_vectors(folder) if folder.is_dir() else ([], [])
    vectors = [v for v in vectors if v.model_fingerprint == model.fingerprint]
    _VECTORS.update({v.name: v for v in vectors})
    return model, folder, [v.name for v in vectors]


def run(users: int, seconds: float, model_arg: str, url: str | None) -> dict:
    import torch

    work = Path(tempfile.mkdtemp(prefix="editgan-load-"))
    proc = sampler = None
    try:
        model, vectors_dir, shipped = prepare(model_arg, work, own_folder=url is None)
        if not shipped:
            raise SystemExit(f"model {model_arg!r} has no local vectors: the mix applies shipped vectors")
        if url is None:
            port = free_port()
            url = f"http://127.0.0.1:{port}/"
            cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", "--model", model_arg,
                   "--vectors-dir", str(vectors_dir), "--port", str(port)]
            proc = subprocess.Popen(cmd, cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        elif not url.endswith("/"):
            url += "/"
        t0 = time.monotonic()
        wait_up(url, proc)
        startup_s = time.monotonic() - t0
        if proc is not None:
            sampler = RssSampler(proc.pid)
            sampler.start()

        barrier = threading.Barrier(users + 1)
        seeds = random.Random(0).sample(range(100_000), users)
        pool = []
        for i in range(users):
            d = work / f"user{i}"
            d.mkdir()
            pool.append(User(i, url, seconds, d, model, shipped, barrier, seeds[i]))
        for u in pool:
            u.start()
        try:
            barrier.wait(timeout=600)
        except threading.BrokenBarrierError:
            pass
        start = time.monotonic()
        for u in pool:
            u.join(timeout=seconds + CALL_TIMEOUT_S + 60)
        elapsed = time.monotonic() - start
        rss_peak_kb = rss_end_kb = None
        if proc is not None:
            sampler.stop.set()
            rss_peak_kb = max([proc_status_kb(proc.pid, "VmHWM") or 0] + [kb for _, kb in sampler.samples])
            rss_end_kb = proc_status_kb(proc.pid, "VmRSS")

        leaks = []
        checked = 0
        with torch.no_grad():
            for u in pool:
                for c in u.checks:
                    checked += 1
                    p = verify(u, c, model)
                    if p:
                        leaks.append(f"user {u.index} ({c.what}): {p}")
            control = swapped_control(pool, model)
        s = summarise(pool, users, seconds, elapsed, model_arg, model, startup_s, rss_peak_kb, rss_end_kb,
                      sampler.samples if sampler else [], checked, leaks)
        s["control_checked"], s["control_flagged"] = control
        return s
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


def summarise(pool, users, seconds, elapsed, model_arg, model, startup_s, rss_peak_kb, rss_end_kb, samples,
              checked, leaks) -> dict:
    calls = [c for u in pool for c in u.calls]
    endpoints = {}
    for name in sorted({c.endpoint for c in calls}):
        cs = [c for c in calls if c.endpoint == name]
        ok = [c.latency_ms for c in cs if c.error is None]
        q = [c.queue_ms for c in cs if c.error is None and c.queue_ms is not None]
        endpoints[name] = {"calls": len(cs), "errors": sum(c.error is not None for c in cs),
                           "p50_ms": round(percentile(ok, 50), 1), "p95_ms": round(percentile(ok, 95), 1),
                           "max_ms": round(max(ok), 1) if ok else float("nan"),
                           "queue_wait_mean_ms": round(sum(q) / len(q), 1) if q else None,
                           "queue_wait_p95_ms": round(percentile(q, 95), 1) if q else None}
    errors = [f"{c.endpoint}: {c.error}" for c in calls if c.error] + [f"user {u.index}: {u.fatal}" for u in pool if u.fatal]
    ops = {name: sum(u.ops[name] for u in pool) for name in MIX}
    return {
        "users": users, "seconds": seconds, "elapsed_s": round(elapsed, 1), "model": model_arg,
        "resolution": model.G.resolution, "mix": MIX, "ops": ops, "steps": STEPS,
        "calls": len(calls), "errors": len(errors), "first_errors": sorted(set(errors))[:5],
        "calls_per_s": round(len(calls) / elapsed, 2) if elapsed > 0 else 0.0,
        "endpoints": endpoints, "app_startup_s": round(startup_s, 1),
        "rss_peak_mb": round(rss_peak_kb / 1024, 1) if rss_peak_kb else None,
        "rss_end_mb": round(rss_end_kb / 1024, 1) if rss_end_kb else None,
        "rss_first_mb": round(samples[0][1] / 1024, 1) if samples else None,
        "checked": checked, "leaks": len(leaks), "first_leaks": leaks[:5],
        "heavy_limit": int(os.environ.get("EDITGAN_HEAVY_CONCURRENCY", "2")),
    }


def targets(s: dict, max_rss_mb: float, slider_p95_ms: float) -> list[str]:
    """The targets this run missed (empty when all are met)."""
    missed = []
    if s["errors"]:
        missed.append(f"{s['errors']} error(s)")
    if s["leaks"]:
        missed.append(f"{s['leaks']} response(s) not the user's own (cross-session leak)")
    if s["control_checked"] and s["control_flagged"] < s["control_checked"]:
        missed.append(f"the leak check's control flagged only {s['control_flagged']}/{s['control_checked']} swapped responses")
    if not s["calls"]:
        missed.append("no calls")
    if s["rss_peak_mb"] is not None and s["rss_peak_mb"] >= max_rss_mb:
        missed.append(f"peak RSS {s['rss_peak_mb']} MB >= {max_rss_mb:g} MB")
    p95 = s["endpoints"].get("apply_vectors", {}).get("p95_ms", float("nan"))
    if not p95 < slider_p95_ms:
        missed.append(f"slider p95 {p95} ms >= {slider_p95_ms:g} ms")
    return missed


def table(s: dict) -> str:
    rows = ["| endpoint | calls | errors | p50 ms | p95 ms | max ms | mean queue wait ms | p95 queue wait ms |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, e in s["endpoints"].items():
        rows.append(f"| {name} | {e['calls']} | {e['errors']} | {e['p50_ms']} | {e['p95_ms']} | {e['max_ms']} | "
                    f"{e['queue_wait_mean_ms'] if e['queue_wait_mean_ms'] is not None else 'n/a'} | "
                    f"{e['queue_wait_p95_ms'] if e['queue_wait_p95_ms'] is not None else 'n/a'} |")
    rows.append(f"| **all** | {s['calls']} | {s['errors']} | | | | | |")
    return "\n".join(rows)


def parse_mix(text: str, parser) -> dict:
    """"slider=50,embed=5" -> weights for every action (the ones not named get 0)."""
    out = {name: 0 for name in MIX}
    for item in text.split(","):
        name, _, weight = item.partition("=")
        if name.strip() not in out or not weight.strip().isdigit():
            parser.error(f"--mix: expected name=weight with a name in {list(MIX)}, got {item!r}")
        out[name.strip()] = int(weight)
    if not any(out.values()):
        parser.error("--mix: give at least one action a weight above 0")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--users", type=int, default=20, help="concurrent users (default 20)")
    p.add_argument("--seconds", type=float, default=60.0, help="how long each user loops over the mix (default 60)")
    p.add_argument("--model", default=os.environ.get("EDITGAN_MODEL", "faces"),
                   help="model of the app: shipped domain or model folder with a segmentation branch (default faces)")
    p.add_argument("--url", default=None, help="an app already running with --model's weights and vectors "
                                               "(then no RSS figure)")
    p.add_argument("--max-rss-mb", type=float, default=2048.0, help="target: server peak RSS below this (2048)")
    p.add_argument("--slider-p95-ms", type=float, default=300.0, help="target: apply_vectors p95 below this (300)")
    p.add_argument("--mix", default=None, help="weights of the actions, e.g. slider=50,embed=5 (default: "
                                               + ",".join(f"{k}={v}" for k, v in MIX.items()) + ")")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--vectors-dir", default=None, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.serve:
        serve(a.model, a.vectors_dir, a.port)
        return 0
    if a.mix:
        MIX.update(parse_mix(a.mix, p))
    s = run(a.users, a.seconds, a.model, a.url)
    s["missed"] = targets(s, a.max_rss_mb, a.slider_p95_ms)
    if a.json:
        print(json.dumps(s, indent=2))
    else:
        print(f"## {s['users']} users, {s['seconds']:g} s, model {s['model']} ({s['resolution']} px), "
              f"{s['calls']} calls ({s['calls_per_s']}/s)\n")
        print(table(s))
        print(f"\nops: {s['ops']}")
        if s["rss_peak_mb"] is None:
            print("server RSS: n/a (the app runs elsewhere: --url)")
        else:
            print(f"server RSS: first {s['rss_first_mb']} MB, peak {s['rss_peak_mb']} MB, end {s['rss_end_mb']} MB")
        print(f"leak check: {s['checked']} responses checked, {s['leaks']} not the user's own; control: "
              f"{s['control_flagged']}/{s['control_checked']} responses checked against another user's state flagged")
        for line in s["first_errors"] + s["first_leaks"]:
            print("  " + line)
        print("targets: " + ("all met" if not s["missed"] else "MISSED: " + "; ".join(s["missed"])))
    return 1 if s["missed"] else 0


if __name__ == "__main__":
    sys.exit(main())
