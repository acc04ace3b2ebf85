"""What every tab shares: errors as gr.Error, the two queues, long work with progress."""

from __future__ import annotations

import functools
import inspect
import logging
import os
import queue
import tempfile
import threading
import time
import traceback
from pathlib import Path

import gradio as gr

from editgan import app_logic as L

log = logging.getLogger("editgan.app")

try:  # Hugging Face ZeroGPU Spaces: heavy handlers borrow a GPU; a no-op elsewhere
    import spaces

    GPU = spaces.GPU
except ImportError:
    def GPU(fn=None, **_kw):
        return fn if fn is not None else (lambda f: f)

HEAVY_LIMIT = int(os.environ.get("EDITGAN_HEAVY_CONCURRENCY", "2"))  # edits, embeddings, refinements at once
PREVIEW_EVERY_S = 0.5
MAX_UPLOAD = os.environ.get("EDITGAN_MAX_UPLOAD", "20mb")  # larger uploads are refused before they reach a handler
CSS = """
.editgan-pixelated img { image-rendering: pixelated; width: 100%; height: 100%; object-fit: contain; }
.editgan-legend-item { white-space: nowrap; font-size: 0.9em; }
"""

# Event settings: light handlers (one generator pass) run at once; heavy ones queue behind HEAVY_LIMIT.
LIGHT = dict(concurrency_limit=None, concurrency_id="light")
HEAVY = dict(concurrency_limit=HEAVY_LIMIT, concurrency_id="heavy")
HUB = dict(concurrency_limit=4, concurrency_id="hub")
PRIVATE = dict(api_visibility="private", **LIGHT)  # UI refreshers: not part of the API


def to_gr_error(e: Exception) -> gr.Error:
    if isinstance(e, gr.Error):
        return e
    if isinstance(e, L.AppError):
        return gr.Error(str(e))
    log.error("unexpected error: %s", "".join(traceback.format_exception(e)))
    return gr.Error(f"internal error ({type(e).__name__}: {e}); the app is fine, try again or report it")


def safe(fn):
    """Every handler: the core's errors and surprises become a gr.Error with the message."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as e:
                raise to_gr_error(e) from e

        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            raise to_gr_error(e) from e

    return wrapper


def pil(tensor):
    from editgan.embedding import to_pil

    return to_pil(tensor)


def temp_path(suffix: str, keep_s: float = 3600) -> Path:
    """A new file in the app's temp folder; files older than `keep_s` there are removed."""
    folder = Path(tempfile.gettempdir()) / "editgan-app"
    folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in folder.glob("*"):
        try:
            if now - old.stat().st_mtime > keep_s:
                old.unlink()
        except OSError:
            pass
    fd, name = tempfile.mkstemp(suffix=suffix, dir=folder)
    os.close(fd)
    return Path(name)


class ProgressImage:
    """A preview source for `stream_work` fed by progress callbacks: the last `info["image"]` reported."""

    def __init__(self):
        self.last_image = None

    def wrap(self, callback):
        def cb(step, total, info=None):
            if isinstance(info, dict) and info.get("image") is not None:
                self.last_image = info["image"]
            callback(step, total, {k: v for k, v in (info or {}).items() if k != "image"})
        return cb


def stream_work(work, progress, desc: str, recorder: L.RecordingGenerator | ProgressImage | None = None):
    """Run work(callback) in a thread; yield ("preview", image) while it runs, then ("done", result).

    The callback reports each step to gr.Progress; when the caller goes away (the
    generator is closed), the next callback raises Cancelled and the work stops.
    """
    events: queue.Queue = queue.Queue()
    cancel = threading.Event()
    result: dict = {}

    def callback(step, total, info=None):
        if cancel.is_set():
            raise L.Cancelled()
        events.put((step, total, info or {}))

    def run():
        try:
            result["value"] = work(callback)
        except BaseException as e:  # noqa: BLE001 - handed to the handler's thread
            result["error"] = e
        finally:
            events.put(None)

    thread = threading.Thread(target=run, name="editgan-work", daemon=True)
    thread.start()
    last = time.monotonic()
    shown = None  # the preview last sent: an image reported once (the encoder's guess) is sent once
    try:
        while True:
            ev = events.get()
            if ev is None:
                break
            step, total, info = ev
            acc, loss = info.get("accuracy"), info.get("loss")
            stage = f" ({info['stage']})" if info.get("stage") else ""
            progress((step, total), desc=f"{desc}{stage}: step {step}/{total}" + (f", region accuracy {acc:.2f}" if acc is not None else "")
                     + (f", loss {loss:.3f}" if loss is not None else ""))
            image = recorder.last_image if recorder is not None else None
            if image is not None and image is not shown and time.monotonic() - last > PREVIEW_EVERY_S:
                last, shown = time.monotonic(), image
                yield "preview", pil(image)
    finally:
        cancel.set()
    thread.join()
    if "error" in result:
        raise result["error"]
    yield "done", result["value"]


def run_with_progress(work, progress, desc: str):
    """stream_work without previews: the work's result once it is done (progress shown meanwhile)."""
    box = {}
    for kind, value in stream_work(work, progress, desc):
        box[kind] = value
    return box["done"]
