"""What every bench shares: arguments, timing, FLOP counting, memory readings and tables.

Every bench module has `run(quick: bool) -> dict` with
    {"title": str, "columns": [...], "rows": [[...], ...], "summary": {key: number}, "notes": [str]}
and `main()`, so that it runs alone (`python bench/<name>.py [--quick] [--json] [--threads N]`)
or from `bench/run.py`, which runs them all in one process.

Timings are the best of a few repeats (the least disturbed by other processes) and are
reported next to the medians; results worth comparing are ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # scripts run as `python bench/x.py` from anywhere
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

# The 256-px configuration with random weights (StyleGAN2 widths, halved at the top).
CONFIG_256 = dict(resolution=256, z_dim=512, w_dim=512, mapping_layers=8, channels=(256, 256, 256, 256, 128, 64, 32))
# StyleGAN2 at 512 px (config-f widths: 512 up to 64 px, then 256, 128, 64).
CONFIG_512 = dict(resolution=512, z_dim=512, w_dim=512, mapping_layers=8, channels=(512, 512, 512, 512, 512, 256, 128, 64))


# ----- arguments ------------------------------------------------------------------------------
def parse_args(description: str, argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="fewer repeats and smaller sizes (about a minute in all)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    args = p.parse_args(argv)
    set_threads(args.threads)
    return args


def set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)
        os.environ["OMP_NUM_THREADS"] = str(threads)  # for the subprocesses the benches start


def main_for(run: Callable[[bool], dict], description: str, argv=None) -> None:
    args = parse_args(description, argv)
    result = run(args.quick)
    if args.json:
        print(json.dumps({**result["summary"], "machine": machine()}, indent=2))
    else:
        print_result(result)


# ----- timing -----------------------------------------------------------------------------------
def timeit(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> dict:
    """Run fn `warmup` times, then `repeats` times: best and median milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return {"best_ms": min(times), "median_ms": statistics.median(times), "times_ms": times}


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Practical float32 peak of this process: best GFLOP/s of n x n matmuls."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    out = torch.empty(n, n)
    t = timeit(lambda: torch.mm(a, b, out=out), repeats=repeats, warmup=1)
    return 2 * n**3 / (t["best_ms"] / 1e3) / 1e9


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call (matmuls and convolutions), by torch.utils.flop_counter.

    Runs with autograd on: FlopCounterMode's module tracker fails on modules whose
    parameters require grad under no_grad. Nothing is backpropagated.
    """
    from torch.utils.flop_counter import FlopCounterMode

    with torch.enable_grad(), FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


# ----- memory -----------------------------------------------------------------------------------
def proc_status_mb(key: str) -> float:
    """VmRSS, VmHWM, ... of this process in MiB (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(key)


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def run_child(args: list[str], timeout: float = 600) -> dict:
    """Run a bench script in a fresh interpreter (args after `python`) and parse the last line of its output as JSON."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"child {args} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----- models -----------------------------------------------------------------------------------
def default_domains() -> list[str]:
    from editgan.model import shipped_domains

    return [d for d in ("faces", "cars") if d in shipped_domains()]


def random_generator(config: dict, seed: int = 0):
    from editgan.generator import Generator, GeneratorConfig

    torch.manual_seed(seed)
    return Generator(GeneratorConfig(**config)).eval()


def random_w_plus(G, n: int, seed: int = 0) -> torch.Tensor:
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return G.w_plus(G.mapping(z)).detach()


# ----- output -----------------------------------------------------------------------------------
def result(title: str, columns: list, rows: list, summary: dict, notes=()) -> dict:
    """A bench's result: one table (title, columns, rows), its summary numbers and notes."""
    return {"title": title, "columns": columns, "rows": rows, "summary": summary, "notes": list(notes)}


def skipped(title: str, why: str) -> dict:
    """The result of a bench that cannot run here (a missing model)."""
    return result(title, ["note"], [[why]], {})


def machine() -> dict:
    model = ""
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "cpu": model or platform.processor(),
        "nproc": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "loadavg_1min": os.getloadavg()[0],
    }


def fmt(v) -> str:
    if isinstance(v, float):
        if v == 0:
            return "0"
        if abs(v) >= 100:
            return f"{v:.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        if abs(v) >= 1:
            return f"{v:.2f}"
        return f"{v:.3g}"
    return "-" if v is None else str(v)


def print_result(result: dict) -> None:
    cols = result["columns"]
    rows = [[fmt(v) for v in r] for r in result["rows"]]
    widths = [max(len(str(c)), *(len(r[i]) for r in rows)) if rows else len(str(c)) for i, c in enumerate(cols)]
    print(f"\n## {result['title']}\n")
    print("| " + " | ".join(str(c).ljust(w) for c, w in zip(cols, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(v.ljust(w) for v, w in zip(r, widths)) + " |")
    for note in result.get("notes", []):
        print(f"\n- {note}", end="")
    print()
