"""What the app does, without the UI: pure functions on a per-user `Session`.

`app.py` wires these to Gradio components; the tests call them directly. Nothing here
holds user data at module level: a `Session` (kept in `gr.State`) carries the latent of
the user's image, the edits made, the vectors loaded and their strengths. The only
module-level store is the cache of loaded models, shared by every user (read-only).

Every function raises `AppError` (a ValueError with a message a user can act on) for bad
input; the core's own errors (`EditError`, `ImageError`, `VectorError`, `HubError`, ...)
are turned into `AppError` by `user_errors()`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .editor import EditConfig, edit, painted_classes, refine
from .embedding import InversionConfig, crop_note, invert, load_image, open_image, to_pil
from . import disclosure
from .labels import labels_from_png, snap_to_palette
from .model import EditModel, load_model, shipped_domains

MAX_SLOTS = 8  # strength sliders the UI pre-creates
MAX_HISTORY = 50  # steps kept in a session's history (the oldest go first)
MAX_TUNED_GENERATORS = 2  # pivotally tuned photos a session's history keeps (older ones' steps go)
THUMB_SIZE = 96
COMBINE_MODES = ("sum", "orthogonal")
DISPLAY_SIZE = 512  # the paint canvas is the part map upscaled to about this many pixels
STRENGTH_RANGE = (-2.0, 2.0)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class AppError(ValueError):
    """A request the app cannot serve; the message says why and what to do."""


class Cancelled(Exception):
    """Raised from a progress callback to stop long work whose caller went away."""


# ----- the shared model cache (models only; no user data) -------------------------------------
_MODELS: dict[str, EditModel] = {}
_VECTOR_DIRS: dict[str, Path] = {}
_TRUSTED: set[str] = set()  # model keys the app's operator chose (public callers may use them)
_MODELS_LOCK = threading.Lock()
MAX_CACHED_MODELS = 4


def register_model(model: EditModel, key: str | None = None, vectors_dir: str | Path | None = None) -> str:
    """Put an already loaded model in the cache (tests, `build_demo(EditModel)`); returns its key."""
    key = key or model.source or model.fingerprint
    with _MODELS_LOCK:
        _MODELS[key] = model
        _TRUSTED.add(key)
        if vectors_dir is not None:
            _VECTOR_DIRS[key] = Path(vectors_dir)
    return key


def set_vectors_dir(key: str, folder: str | Path) -> None:
    """Where the model under `key` keeps its local vectors (instead of `EditModel.vectors_dir`)."""
    with _MODELS_LOCK:
        _VECTOR_DIRS[key] = Path(folder)


def get_model(source: str, namespace: str | None = None, check: bool = False) -> EditModel:
    """A model from the cache, loading it (shipped name, folder, checkpoint, Hub repo id) if needed.

    `check`: the source comes from a caller (the model picker). On a public demo it must pass
    `check_source_allowed`, even when another visitor loaded it before; the model the app
    started on (its operator's choice) is always allowed.
    """
    source = (source or "").strip()
    if not source:
        raise AppError("give a model: a shipped domain (" + ", ".join(shipped_domains()) + "), a model folder or a Hub repo id")
    if check and source not in _TRUSTED:
        check_source_allowed(source, namespace)
    with _MODELS_LOCK:
        if source in _MODELS:
            return _MODELS[source]
    with user_errors(f"cannot load the model {source!r}"):
        model = load_model(source)
    device = "cuda" if torch.cuda.is_available() and os.environ.get("EDITGAN_DEVICE", "auto") != "cpu" else "cpu"
    for module in (model.G, model.segmenter):
        if module is not None:
            module.eval().requires_grad_(False).to(device)  # edits need gradients to dW+ only
    with _MODELS_LOCK:
        while len(_MODELS) >= MAX_CACHED_MODELS:
            _MODELS.pop(next(k for k in _MODELS if k != source))
        _MODELS[source] = model
    return model


def trust_model(key: str) -> EditModel:
    """Load the app's own model (the operator's choice); public callers may then pick it too."""
    model = get_model(key)
    _TRUSTED.add(key)
    return model


def is_public() -> bool:
    """A public demo (a Hugging Face Space sets SPACE_ID; EDITGAN_PUBLIC=1 forces it, =0 turns it off)."""
    flag = os.environ.get("EDITGAN_PUBLIC")
    return flag == "1" if flag in ("0", "1") else bool(os.environ.get("SPACE_ID"))


def labels_root() -> Path:
    """Where labelling projects live: $EDITGAN_LABELS_DIR or ./labels."""
    return Path(os.environ.get("EDITGAN_LABELS_DIR", "labels"))


def user_root(namespace: str | None) -> Path:
    """On a public demo, one visitor's own folder for what they make (labelling projects, vectors).

    `namespace` is the visitor's Gradio session hash: two visitors never share a folder.
    """
    if not namespace or not re.match(r"^[A-Za-z0-9_-]{1,128}$", str(namespace)):
        raise AppError("this public demo keeps each visitor's files apart, but this request has no session")
    return labels_root() / "users" / str(namespace)


def inside(folder: Path, root: Path) -> bool:
    """`folder` lies under `root` once every symlink on the way is followed."""
    return folder.resolve().is_relative_to(root.resolve())


def check_source_allowed(source: str, namespace: str | None = None) -> None:
    """On a public demo, models come only from the shipped ones, Hub repo ids and the visitor's own labelling folders."""
    if not is_public() or source in shipped_domains():
        return
    path = Path(source)
    if path.exists():
        if namespace and inside(path, user_root(namespace)):
            return
    elif re.match(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$", source) and ".." not in source:
        return
    raise AppError("this public demo loads only its shipped models (" + ", ".join(shipped_domains()) +
                   "), Hub repo ids (user/name) and models saved by your own labelling tab")


def vectors_dir(key: str) -> Path:
    return _VECTOR_DIRS.get(key) or get_model(key).vectors_dir


@contextlib.contextmanager
def user_errors(prefix: str = ""):
    """Turn the core's errors about bad input into AppError."""
    try:
        yield
    except AppError:
        raise
    except Cancelled:
        raise
    except (ValueError, OSError, KeyError, RuntimeError, Image.DecompressionBombError) as e:
        msg = str(e) or type(e).__name__
        raise AppError(f"{prefix}: {msg}" if prefix else msg) from e


# ----- the session --------------------------------------------------------------------------------
@dataclass
class Session:
    """One user's work: the source latent, the edits on it, the vector strengths and the history.

    `history` lists every step the user took (a sample, an embedding, an edit, a refinement,
    a slider change): each step is a snapshot of the state after it, and `position` is the
    step shown now. Undo, redo and "go to step" move `position`; a new action drops the
    steps after it. The vectors themselves (the slider library) are not part of a step.
    """

    model: str  # key in the model cache
    fingerprint: str
    source: dict  # {"kind": "seed", "seed", "truncation"} or {"kind": "photo", "name", "psnr", "steps"}
    w_src: torch.Tensor  # (num_ws, w_dim) of the sampled or embedded image
    edits: list[dict] = field(default_factory=list)  # {"delta", "kind", "parts", ...}, applied in order
    vectors: list[dict] = field(default_factory=list)  # {"name", "vector", "origin"}
    strengths: list[float] = field(default_factory=list)  # one per vector
    combine_mode: str = "sum"  # how the vectors add up: "sum" or "orthogonal" (editgan.vectors.combine)
    history: list[dict] = field(default_factory=list)  # steps: {"label", "source", "w_src", "edits", "strengths"}
    position: int = -1  # the step shown now
    # An embedded photo's pivotally tuned copy of the generator (None: the model's own). It is
    # this session's alone, never shared or cached, and goes with the session.
    generator: object | None = None

    def replace(self, **kw) -> "Session":
        return dataclasses.replace(self, **kw)

    def w_edited(self) -> torch.Tensor:
        """W+ of the source with every edit added (no vectors)."""
        w = self.w_src.clone()
        for e in self.edits:
            w = w + e["delta"]
        return w

    def active_vectors(self) -> list[tuple]:
        return [(v["vector"], float(s)) for v, s in zip(self.vectors, self.strengths) if s != 0]

    def w_current(self, G) -> torch.Tensor:
        """W+ of the image the user sees: the edits, then the vectors at their strengths."""
        w = self.w_edited()
        pairs = self.active_vectors()
        if not pairs:
            return w
        from .vectors import apply_vectors

        with user_errors("cannot apply the vectors"):
            return apply_vectors(w, pairs, G, mode=self.combine_mode)

    def strength_of(self) -> dict[str, float]:
        return {v["name"]: float(s) for v, s in zip(self.vectors, self.strengths)}


# ----- history ------------------------------------------------------------------------------------
def snapshot(session: Session, label: str, kind: str) -> dict:
    """The state a step returns to (strengths by vector name, so a later vector list still fits)."""
    return {"label": label, "kind": kind, "source": session.source, "w_src": session.w_src,
            "generator": session.generator, "edits": list(session.edits), "strengths": session.strength_of()}


def commit(session: Session, label: str, kind: str, key=None) -> Session:
    """`session` (the state after an action) as a new step after the one shown; later steps are dropped.

    A step with the same `key` as the one shown replaces it instead: dragging one slider is
    one step, not one per move of the drag.
    """
    kept = session.history[: session.position + 1]
    if key is not None and kept and kept[-1].get("key") == key:
        kept = kept[:-1]
    step = {**snapshot(session, label, kind), "key": key}
    history = drop_old_tuned((kept + [step])[-MAX_HISTORY:])
    return session.replace(history=history, position=len(history) - 1)


def drop_old_tuned(history: list[dict]) -> list[dict]:
    """The history with at most MAX_TUNED_GENERATORS pivotally tuned generators in it: the steps
    up to the last use of the oldest one go (a tuned copy is a whole generator's weights)."""
    while True:
        tuned = list(dict.fromkeys(id(s["generator"]) for s in history if s.get("generator") is not None))
        if len(tuned) <= MAX_TUNED_GENERATORS:
            return history
        last = max(i for i, s in enumerate(history) if id(s.get("generator")) == tuned[0])
        history = history[last + 1:]


def goto_step(session: Session, index) -> Session:
    """The state of step `index` of the history (0 = the first); the history itself is kept (redo)."""
    try:
        index = int(index)
    except (TypeError, ValueError):
        raise AppError(f"a history step is a whole number, got {index!r}") from None
    if not 0 <= index < len(session.history):
        raise AppError(f"there is no step {index}: the history has steps 0 to {len(session.history) - 1}")
    step = session.history[index]
    strengths = [step["strengths"].get(v["name"], 0.0) for v in session.vectors]
    return session.replace(source=step["source"], w_src=step["w_src"], generator=step.get("generator"),
                           edits=list(step["edits"]), strengths=strengths, position=index)


def undo(session: Session) -> Session:
    if session.position <= 0:
        raise AppError("nothing to undo")
    return goto_step(session, session.position - 1)


def redo(session: Session) -> Session:
    if session.position >= len(session.history) - 1:
        raise AppError("nothing to redo")
    return goto_step(session, session.position + 1)


def history_table(session: Session) -> list[dict]:
    """The steps: index, what was done, and which one is shown now."""
    return [{"step": i, "label": s["label"], "kind": s["kind"], "current": i == session.position}
            for i, s in enumerate(session.history)]


@torch.no_grad()
def history_thumbnails(session: Session, size: int = THUMB_SIZE) -> list[tuple[Image.Image, str]]:
    """(thumbnail, caption) per step; each step's picture is drawn once and kept with the step."""
    model = model_of(session)
    out = []
    for i, step in enumerate(session.history):
        if "thumb" not in step:
            state = goto_step(session, i)
            step["thumb"] = to_pil(render_image(state)).resize((size, size), Image.BILINEAR)
        mark = "▶ " if i == session.position else ""
        out.append((step["thumb"], f"{mark}{i}: {step['label']}"))
    del model
    return out


def fingerprint(model: EditModel) -> str:
    """The model's fingerprint, cached until its weights change (hashing every request is not free)."""
    from .vectors import model_fingerprint_of

    return model_fingerprint_of(model.G)


def model_of(session: Session) -> EditModel:
    model = get_model(session.model)
    if fingerprint(model) != session.fingerprint:
        raise AppError("the model changed under this session: load the model again")
    return model


def generator_of(session: Session, model: EditModel):
    """The generator that draws this session's images: its photo's tuned copy, or the model's."""
    return session.generator if session.generator is not None else model.G


def device_of(model: EditModel) -> torch.device:
    try:
        return next(model.G.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def w_from_seed(model: EditModel, seed: int, truncation: float) -> torch.Tensor:
    """The W+ code (on the CPU) of a seed; the same maths as the CLI's, so seeds match."""
    return model.G.w_plus_from_seed(seed, truncation).cpu()


def render_w(model: EditModel, w: torch.Tensor, G=None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """`model.render` (with generator `G`, default the model's) on the model's device; results on the CPU."""
    image, labels = model.render(w.to(device_of(model)), G)
    return image.cpu(), (labels.cpu() if labels is not None else None)


def check_seed(seed, truncation) -> tuple[int, float]:
    try:
        seed, truncation = int(seed), float(truncation)
    except (TypeError, ValueError):
        raise AppError(f"the seed must be a whole number and the truncation a number, got {seed!r}, {truncation!r}") from None
    if not 0 <= seed < 2**32:
        raise AppError(f"the seed must lie in [0, 2^32), got {seed}")
    if not 0.0 <= truncation <= 2.0:
        raise AppError(f"the truncation must lie in [0, 2], got {truncation}")
    return seed, truncation


def new_session(model_key: str, seed: int = 0, truncation: float = 0.7, namespace: str | None = None,
                check: bool = False) -> Session:
    """A fresh session on a model: seed's image, the model's local compatible vectors at strength 0.

    `check` and `namespace`: the model was named by a caller (see `get_model`).
    """
    seed, truncation = check_seed(seed, truncation)
    model = get_model(model_key, namespace, check=check)
    vectors, _ = local_vectors(model_key)
    session = Session(
        model=model_key, fingerprint=fingerprint(model),
        source={"kind": "seed", "seed": seed, "truncation": truncation},
        w_src=w_from_seed(model, seed, truncation),
        vectors=vectors, strengths=[0.0] * len(vectors),
    )
    return commit(session, f"seed {seed} (truncation {truncation:g})", "sample")


def sample(session: Session, seed, truncation) -> Session:
    """A new image from a seed; the edits are dropped (Undo brings them back), vectors and strengths kept."""
    seed, truncation = check_seed(seed, truncation)
    model = model_of(session)
    new = session.replace(source={"kind": "seed", "seed": seed, "truncation": truncation},
                          w_src=w_from_seed(model, seed, truncation), edits=[], generator=None)
    return commit(new, f"seed {seed} (truncation {truncation:g})", "sample")


@torch.no_grad()
def render_image(session: Session) -> torch.Tensor:
    """Only the image (3, R, R) of what the user sees: one generator pass, no part map (sliders)."""
    model = model_of(session)
    w = session.w_current(model.G).to(device_of(model))
    return generator_of(session, model).synthesis(w.reshape(1, model.G.num_ws, model.G.w_dim))[0].cpu()


def render(session: Session) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Image (3, R, R) and part map (R, R) (None without a segmentation branch) of what the user sees."""
    model = model_of(session)
    return render_w(model, session.w_current(model.G), generator_of(session, model))


# ----- pictures ----------------------------------------------------------------------------------
def parts_picture(labels: torch.Tensor | None, palette: torch.Tensor, resolution: int) -> Image.Image:
    """The part map in the class colours (grey when the model has no segmentation branch)."""
    if labels is None:
        return Image.new("RGB", (resolution, resolution), (128, 128, 128))
    return Image.fromarray(palette[labels.cpu()].numpy())


def display_scale(resolution: int, target: int = DISPLAY_SIZE) -> int:
    return max(1, target // resolution)


def blend_picture(image: torch.Tensor, labels: torch.Tensor | None, palette: torch.Tensor, opacity: float,
                  size: int | None = None) -> Image.Image:
    """The paint canvas' background: the part map over the image at `opacity`, upscaled (nearest)."""
    r = image.shape[-1]
    size = size or r * display_scale(r)
    img = np.asarray(to_pil(image), dtype=np.float32)
    if labels is not None:
        a = float(min(max(opacity, 0.0), 1.0))
        img = (1 - a) * img + a * palette[labels.cpu()].numpy().astype(np.float32)
    out = Image.fromarray(np.clip(img + 0.5, 0, 255).astype(np.uint8))
    return out.resize((size, size), Image.NEAREST)


def hex_color(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(v) for v in rgb))


def brush_colors(palette: torch.Tensor) -> list[str]:
    return [hex_color(c) for c in palette.tolist()]


def legend_html(names: Sequence[str], palette: torch.Tensor) -> str:
    if not names:
        return "<p>This model has no segmentation branch: no painting or editing, only edit vectors.</p>"
    items = "".join(
        f'<span class="editgan-legend-item" title="{hex_color(c)}">'
        f'<span class="editgan-swatch" style="display:inline-block;width:14px;height:14px;border:1px solid #888;'
        f'vertical-align:middle;margin-right:4px;background:{hex_color(c)}"></span>{_escape(n)}</span> '
        for n, c in zip(names, palette.tolist())
    )
    return f'<div class="editgan-legend" style="display:flex;flex-wrap:wrap;gap:4px 12px">{items}</div>'


def _escape(s: str) -> str:
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


# ----- painted part maps -----------------------------------------------------------------------------
def _rgba(layer) -> np.ndarray | None:
    """An editor layer (array, PIL image or path) -> (H, W, 4) uint8; None for an empty slot."""
    if layer is None:
        return None
    if isinstance(layer, (str, Path)):
        layer = Image.open(layer)
    if isinstance(layer, Image.Image):
        layer = np.asarray(layer.convert("RGBA"))
    arr = np.asarray(layer)
    if arr.ndim != 3 or arr.shape[2] != 4:
        raise AppError(f"a paint layer must be an RGBA image (its alpha says what was painted), got shape {arr.shape}")
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return arr


def paint_from_layer(layer: np.ndarray, palette: torch.Tensor, resolution: int, alpha_threshold: float = 0.5,
                     coverage: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """One RGBA paint layer -> (painted (R, R) bool, class (R, R) long) at the model's resolution.

    A canvas pixel counts as painted when its alpha is above `alpha_threshold` (the faint
    anti-aliased rim of a stroke is dropped) and takes the nearest class colour (the rim's
    colour can be off). A model pixel is painted when at least `coverage` of the canvas
    pixels over it are; it takes the class painted most there.
    """
    k = len(palette)
    painted = torch.from_numpy(layer[..., 3].astype(np.float32) / 255.0 > alpha_threshold)
    cls = snap_to_palette(layer[..., :3], palette)
    onehot = F.one_hot(cls, k).permute(2, 0, 1).float() * painted[None].float()  # (K, H, W)
    share = F.adaptive_avg_pool2d(onehot[None], (resolution, resolution))[0]  # (K, R, R)
    total = share.sum(0)
    return total >= coverage - 1e-6, share.argmax(0)


def labels_from_editor(value, current: torch.Tensor, palette: torch.Tensor, alpha_threshold: float = 0.5) -> torch.Tensor:
    """The edited part map: the editor's paint layers (by their alpha) over the current part map.

    `value` is the ImageEditor's dict (`background`, `layers`, `composite`). Only the
    layers are read: the background is the image blended with the part map, never labels.
    Later layers paint over earlier ones.
    """
    if not isinstance(value, dict):
        raise AppError("no painted part map: paint on the part map first")
    r = current.shape[-1]
    out = current.clone().long()
    for layer in value.get("layers") or []:
        arr = _rgba(layer)
        if arr is None:
            continue
        painted, cls = paint_from_layer(arr, palette, r, alpha_threshold)
        out[painted] = cls[painted]
    return out


def labels_from_file(path, palette: torch.Tensor, resolution: int) -> torch.Tensor:
    """A part map picture in the model's class colours (any square size) -> (R, R) labels."""
    if path is None:
        raise AppError("give a part-map picture (a PNG in the model's class colours)")
    with user_errors("cannot read the part map as an image"):
        im = open_image(path, "a part map").convert("RGBA")
    arr = np.asarray(im)
    if (arr[..., 3] < 128).any():  # transparent pixels: no label there
        raise AppError("the part map has transparent pixels: give a complete part map in the class colours")
    with user_errors("bad part map"):
        return labels_from_png(Image.fromarray(arr[..., :3]), palette, resolution)


# ----- edits -----------------------------------------------------------------------------------------
def require_segmenter(model: EditModel) -> None:
    if model.segmenter is None:
        raise AppError(f"the model {model.name} has no segmentation branch: it can apply edit vectors but not edit part maps")


class RecordingGenerator:
    """A generator wrapper that keeps the last image it drew (for live previews of an edit).

    `synthesis` stays the synthesis network for everything but calls (its attributes, such as
    `feature_resolutions`, are the network's); a call also records the image."""

    def __init__(self, G):
        self._G = G
        self.last_image: torch.Tensor | None = None
        self.synthesis = _RecordingSynthesis(G.synthesis, self)

    def __getattr__(self, name):
        return getattr(self._G, name)


class _RecordingSynthesis:
    def __init__(self, synthesis, recorder: RecordingGenerator):
        self._synthesis, self._recorder = synthesis, recorder

    def __getattr__(self, name):
        return getattr(self._synthesis, name)

    def __call__(self, *args, **kwargs):
        out = self._synthesis(*args, **kwargs)
        image = out[0] if isinstance(out, tuple) else out
        self._recorder.last_image = image.detach()[0].clone()
        return out


def _step_cap(steps, low: int, high: int, what: str) -> int:
    try:
        steps = int(steps)
    except (TypeError, ValueError):
        raise AppError(f"{what} steps must be a whole number, got {steps!r}") from None
    if not low <= steps <= high:
        raise AppError(f"{what} steps must lie in [{low}, {high}], got {steps}")
    return steps


MAX_EDIT_STEPS = 300


def run_edit(session: Session, target: torch.Tensor, steps: int = 100, progress: Callable | None = None,
             G=None) -> tuple[Session, dict]:
    """Edit the image the user sees so its part map becomes `target`; the edit joins the session.

    Returns the new session and a report (steps, accuracy, parts, pixels changed). `G`
    may be a `RecordingGenerator` around the model's generator (previews).
    """
    steps = _step_cap(steps, 1, MAX_EDIT_STEPS, "edit")
    model = model_of(session)
    require_segmenter(model)
    dev = device_of(model)
    w = session.w_current(model.G).to(dev)
    _, before = model.render(w, generator_of(session, model))
    target = target.to(dev).long()
    if target.shape != before.shape:
        raise AppError(f"the part map must be {before.shape[0]}x{before.shape[1]}, got {tuple(target.shape)}")
    if torch.equal(target, before):
        raise AppError("the painted part map is the same as the current one: paint a change first")
    with user_errors("cannot edit"):
        res = edit(G or generator_of(session, model), model.segmenter, w, target, EditConfig(steps=steps), progress=progress)
    before, target = before.cpu(), target.cpu()
    parts = [model.class_names[c] for c in painted_classes(before, target)]
    last = res.history[-1] if res.history else {}
    entry = {"kind": "part-map edit", "delta": res.delta.detach().cpu(), "parts": parts,
             "pixels": int((before != target).sum()), "steps": res.steps, "reached": bool(res.reached),
             "accuracy": round(float(last.get("accuracy", 0.0)), 4)}
    new = commit(session.replace(edits=session.edits + [entry]), f"edit: {', '.join(parts) or 'parts'}", "edit")
    return new, {k: v for k, v in entry.items() if k != "delta"}


def set_strengths(session: Session, values: Sequence) -> Session:
    """Strengths of the session's vectors from the slider slots (extra slots ignored)."""
    out = []
    for i in range(len(session.vectors)):
        v = values[i] if i < len(values) else 0.0
        try:
            v = float(v if v is not None else 0.0)
        except (TypeError, ValueError):
            raise AppError(f"a strength must be a number, got {v!r}") from None
        if not np.isfinite(v):
            raise AppError(f"a strength must be finite, got {v}")
        out.append(min(max(v, STRENGTH_RANGE[0]), STRENGTH_RANGE[1]))
    changed = tuple(v["name"] for v, old, s in zip(session.vectors, session.strengths, out) if old != s)
    if not changed:
        return session
    new = session.replace(strengths=out)
    label = ", ".join(f"{v['name']} {s:+.1f}" for v, s in zip(session.vectors, out) if s != 0) or "all at 0"
    return commit(new, f"vectors: {label}", "strengths", key=("strengths", changed))


def set_combine_mode(session: Session, mode) -> Session:
    """How the vectors combine: "sum" (each adds its offset) or "orthogonal" (each keeps off the ones before it)."""
    mode = (mode or "sum").strip().lower() if isinstance(mode, str) else mode
    if mode not in COMBINE_MODES:
        raise AppError(f"the combination mode is one of {', '.join(COMBINE_MODES)}, got {mode!r}")
    return session.replace(combine_mode=mode)


def refine_vectors(session: Session, steps: int = 20, progress: Callable | None = None) -> tuple[Session, dict]:
    """EditGAN's self-supervised refinement of the vectors at their strengths; bakes the result as an edit.

    The sliders go back to 0: the refined offset (vectors + correction) becomes one edit, undoable.
    """
    steps = _step_cap(steps, 1, 100, "refine")
    model = model_of(session)
    require_segmenter(model)
    pairs = session.active_vectors()
    if not pairs:
        raise AppError("move a vector slider first: refinement improves the vectors at their strengths")
    dev = device_of(model)
    w = session.w_edited().to(dev)
    w_vec = session.w_current(model.G).to(dev)
    parts = sorted({p for vec, _ in pairs for p in (vec.parts or [])})
    if not parts:
        raise AppError("these vectors name no edited parts, so there is nothing to refine against")
    with user_errors("cannot refine"):
        res = refine(generator_of(session, model), model.segmenter, w, w_vec - w, parts, steps=steps, progress=progress)
    entry = {"kind": "refined vectors", "delta": (res.w_plus.detach() - w).cpu(), "parts": parts, "steps": res.steps,
             "vectors": [{"name": v.name, "strength": s} for v, s in pairs]}
    new = commit(session.replace(edits=session.edits + [entry], strengths=[0.0] * len(session.vectors)),
                 "refine: " + ", ".join(f"{v.name} {s:+.1f}" for v, s in pairs), "refine")
    return new, {k: v for k, v in entry.items() if k != "delta"}


# ----- embedding --------------------------------------------------------------------------------------
MAX_EMBED_STEPS = 1000
MAX_PTI_STEPS = 1000


def embed_photo(session: Session, path, steps: int = 100, pti_steps: int = 0,
                progress: Callable | None = None) -> tuple[Session, dict, torch.Tensor]:
    """Embed an uploaded photo; the session's image becomes its reconstruction (edits dropped).

    The model's encoder (when it has one) gives a first guess, `steps` optimisation steps
    refine it, and `pti_steps` of pivotal tuning (0: none) fit a copy of the generator to
    the photo; that copy is this session's alone and draws its images from then on.
    `progress(step, total, info)`: info has the "stage" and, after the encoder, its "image".
    Returns the session, a report (PSNR and time per stage, the crop) and the photo as the
    generator sees it (3, R, R).
    """
    model = model_of(session)
    steps = _step_cap(steps, 0 if model.encoder is not None else 10, MAX_EMBED_STEPS, "embedding")
    pti_steps = _step_cap(pti_steps, 0, MAX_PTI_STEPS, "pivotal tuning")
    if path is None or (isinstance(path, str) and not path):
        raise AppError("upload a photo first")
    with user_errors("cannot use this upload as an image"):
        photo = open_image(str(path))
        note = crop_note(photo.size, model.G.resolution)
        target = load_image(photo, model.G.resolution)
    staged = (lambda stage, step, total, info: progress(step, total, {**info, "stage": stage})) if progress else None
    with user_errors("cannot embed"):
        res = invert(model.G, target.to(device_of(model)), model.encoder,
                     InversionConfig(steps=steps, pti_steps=pti_steps), progress=staged)
    report = {"name": Path(str(path)).name, "psnr": round(res.psnr, 2), "steps": steps, "pti_steps": pti_steps,
              "stages": [{"stage": st.stage, "psnr": round(st.psnr, 2), "seconds": round(st.seconds, 2)} for st in res.stages],
              "crop": note}
    tuned = res.generator  # on the model's device, where the session's latents are drawn
    new = commit(session.replace(source={"kind": "photo", **report}, w_src=res.w_plus.detach().cpu(), edits=[],
                                 generator=tuned),
                 f"embed {report['name']}" + (" (tuned)" if tuned is not None else ""), "embed")
    return new, report, target


# ----- vectors -------------------------------------------------------------------------------------------
def local_vectors(model_key: str) -> tuple[list[dict], list[str]]:
    """The model's compatible local vectors as session entries, and notes about the others."""
    folder = vectors_dir(model_key)
    if not folder.is_dir():
        return [], []
    from .vectors import is_compatible, list_local_vectors

    model = get_model(model_key)
    with user_errors("cannot list the local vectors"):
        vectors, errors = list_local_vectors(folder)
    notes = [f"{Path(p).name}: {e}" for p, e in errors]
    out = []
    for vec in vectors:
        if is_compatible(vec, model.G):
            out.append({"name": vec.name, "vector": vec, "origin": "local"})
        else:
            notes.append(f"{vec.name}: made for another model")
    return out, notes


def refresh_vectors(session: Session) -> Session:
    """Re-read the local vectors (others may have saved some); pulled ones and strengths are kept."""
    old = {v["name"]: s for v, s in zip(session.vectors, session.strengths)}
    local, _ = local_vectors(session.model)
    names = {v["name"] for v in local}
    pulled = [v for v in session.vectors if v["origin"] != "local" and v["name"] not in names]
    vectors = local + pulled
    return session.replace(vectors=vectors, strengths=[old.get(v["name"], 0.0) for v in vectors])


def add_vector(session: Session, vec, origin: str) -> Session:
    """Add (or replace, by name) a vector; it must fit the session's model."""
    from .vectors import check_compatible

    model = model_of(session)
    with user_errors(f"cannot use the vector {getattr(vec, 'name', '?')!r}"):
        check_compatible(vec, model.G)
    vectors, strengths = list(session.vectors), list(session.strengths)
    names = [v["name"] for v in vectors]
    entry = {"name": vec.name, "vector": vec, "origin": origin}
    if vec.name in names:
        vectors[names.index(vec.name)] = entry
    else:
        vectors.append(entry)
        strengths.append(0.0)
    return session.replace(vectors=vectors, strengths=strengths)


def load_vector_file(session: Session, path) -> Session:
    if not path:
        raise AppError("give an edit vector file (.safetensors)")
    from .vectors import load_vector

    with user_errors("cannot read the edit vector"):
        vec = load_vector(str(path))
    return add_vector(session, vec, f"file:{Path(str(path)).name}")


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not NAME_RE.match(name):
        raise AppError("a vector name is 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit")
    return name


def make_vector(session: Session, name: str, description: str = ""):
    """The last edit of the session as an EditVector (parts = the painted classes)."""
    from .vectors import EditVector

    name = check_name(name)
    if not session.edits:
        raise AppError("make an edit first: a vector is saved from the last edit")
    model = model_of(session)
    last = session.edits[-1]
    method = {k: v for k, v in last.items() if k not in ("delta", "parts")}
    method["kind"] = "segmentation-edit" if last["kind"] == "part-map edit" else "refined-vectors"
    src = str(model.source)
    from_hub = src not in shipped_domains() and not Path(src).exists() and re.match(r"^[\w.-]+/[\w.-]+$", src)
    repo = src if from_hub else None  # a Hub repo id: where others can get the model the vector is for
    with user_errors("cannot make the vector"):
        return EditVector(delta=last["delta"].clone(), name=name, description=(description or "").strip(),
                          model_fingerprint=model.fingerprint, model_repo=repo, parts=list(last["parts"]),
                          default_strength=1.0, method=method)


def save_session_vector(session: Session, name: str, description: str = "", overwrite: bool = False,
                        namespace: str | None = None) -> tuple[Session, Path]:
    """Save the last edit as a vector in the model's vectors folder; it gets a slider at strength 0.

    On a public demo the vector goes to the visitor's own folder instead (`user_root`): the
    model's shared folder stays as shipped, and visitors never see each other's vectors.
    """
    from .vectors import save_vector

    vec = make_vector(session, name, description)
    public = is_public()
    folder = user_root(namespace) / "vectors" / session.fingerprint if public else vectors_dir(session.model)
    path = folder / f"{vec.name}.safetensors"
    if path.exists() and not overwrite:
        raise AppError(f"a vector named {vec.name!r} exists already: choose another name")
    with user_errors("cannot save the vector"):
        folder.mkdir(parents=True, exist_ok=True)
        save_vector(vec, path)
    return add_vector(session, vec, "yours" if public else "local"), path


def push_vector(path: Path, repo_id: str, token: str | None, private: bool = False) -> str:
    repo_id = check_repo_id(repo_id)
    from .hub import push_vectors

    with user_errors(f"cannot push to {repo_id}"):
        out = push_vectors([str(path)], repo_id, token=(token or None), private=bool(private))
    return str(out) if out else repo_id


def check_repo_id(repo_id: str) -> str:
    repo_id = (repo_id or "").strip()
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$", repo_id):
        raise AppError(f"a Hub repo id looks like 'user/name', got {repo_id!r}")
    return repo_id


def hub_list(session: Session, repo_id: str) -> list[dict]:
    """The vectors in a Hub repo: name, description, parts, compatible with the session's model."""
    repo_id = check_repo_id(repo_id)
    from .hub import list_vectors

    model = model_of(session)
    with user_errors(f"cannot list vectors in {repo_id}"):
        infos = list_vectors(repo_id, G=model.G)
    rows = []
    for info in infos:
        d = dataclasses.asdict(info) if dataclasses.is_dataclass(info) else dict(vars(info))
        d = {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}
        rows.append({k: v for k, v in d.items() if isinstance(v, (str, int, float, bool, list, type(None)))})
    return rows


def hub_pull(session: Session, repo_id: str, name: str) -> Session:
    repo_id = check_repo_id(repo_id)
    if not (name or "").strip():
        raise AppError("choose a vector to pull (list the repo first)")
    from .hub import pull_vector

    model = model_of(session)
    with user_errors(f"cannot pull {name!r} from {repo_id}"):
        vec = pull_vector(repo_id, name.strip(), G=model.G)
    return add_vector(session, vec, f"hub:{repo_id}")


def vector_table(session: Session) -> list[dict]:
    return [{"slot": i, "name": v["name"], "strength": s, "parts": list(v["vector"].parts or []),
             "description": v["vector"].description or "", "origin": v["origin"]}
            for i, (v, s) in enumerate(zip(session.vectors, session.strengths))]


def slot_specs(session: Session, slots: int = MAX_SLOTS) -> list[dict]:
    """What each pre-created slider shows: visible, label, value, info."""
    out = []
    for i in range(slots):
        if i < len(session.vectors):
            v, s = session.vectors[i], session.strengths[i]
            parts = ", ".join(v["vector"].parts or [])
            label = v["name"] + (f" ({parts})" if parts else "")
            info = (v["vector"].description or "") + ("" if v["origin"] == "local" else f" [{v['origin']}]")
            out.append({"visible": True, "label": label, "value": float(s), "info": info.strip() or None})
        else:
            out.append({"visible": False, "label": f"slot {i}", "value": 0.0, "info": None})
    return out


# ----- export -------------------------------------------------------------------------------------------
def provenance(session: Session, extra: dict | None = None) -> dict:
    """What was done to the image: written into exported files (edited images are disclosed)."""
    model = model_of(session)
    extra = {"combination": session.combine_mode, **(extra or {})}
    return disclosure.provenance(model.name, model.fingerprint, session.source, session.edits,
                                 session.active_vectors(), extra)


def export_png(session: Session, path: str | Path) -> Path:
    """The image the user sees as a PNG whose text chunks say it was made and edited with editgan."""
    image, _ = render(session)
    path = Path(path)
    to_pil(image).save(path, format="PNG", pnginfo=disclosure.png_info(provenance(session)))
    return path


MAX_SWEEP_FRAMES = 61


def export_sweep(session: Session, path: str | Path, lo=-2.0, hi=2.0, frames=9, fps=8.0,
                 progress: Callable | None = None) -> Path:
    """The current vectors swept from strength lo to hi (x their slider values) as a GIF or MP4.

    Frame k applies vector i at t_k * s_i (editgan.sweep); the file carries the disclosure record.
    """
    from . import sweep

    pairs = session.active_vectors()
    if not pairs:
        raise AppError("move a vector slider first: the sweep animates the vectors at their strengths")
    try:
        lo, hi, fps = float(lo), float(hi), float(fps)
        frames = int(frames)
    except (TypeError, ValueError):
        raise AppError("the sweep's range, frames and fps must be numbers") from None
    if not all(np.isfinite([lo, hi, fps])) or not -4.0 <= lo < hi <= 4.0:
        raise AppError(f"the sweep range must lie in [-4, 4] with lo < hi, got {lo:g}..{hi:g}")
    if not 2 <= frames <= MAX_SWEEP_FRAMES or not 1.0 <= fps <= 60.0:
        raise AppError(f"a sweep has 2 to {MAX_SWEEP_FRAMES} frames at 1 to 60 fps, got {frames} frames at {fps:g} fps")
    model = model_of(session)
    with user_errors("cannot make the sweep"):
        images = sweep.sweep_frames(generator_of(session, model), session.w_edited().to(device_of(model)), pairs, lo, hi, frames,
                                    mode=session.combine_mode, progress=progress)
        record = sweep.sweep_record(sweep.sweep_strengths(lo, hi, frames), pairs, session.combine_mode, fps)
        return sweep.save_sweep(images, path, fps, provenance(session, record))


def read_png_metadata(path) -> dict:
    with Image.open(path) as im:
        text = dict(getattr(im, "text", {}) or {})
    return {"text": text, "editgan": json.loads(text["editgan"]) if "editgan" in text else None}


def info_markdown(session: Session, report: dict | None = None) -> str:
    src = session.source
    if src["kind"] == "seed":
        line = f"seed {src['seed']}, truncation {src['truncation']:g}"
    else:
        stages = "; ".join(f"{st['stage']} {st['psnr']} dB in {st['seconds']} s" for st in src.get("stages", []))
        line = f"photo {src.get('name')}, embedded (PSNR {stages or str(src.get('psnr')) + ' dB'})" + (
            f" ({src['crop']})" if src.get("crop") else "")
    parts = [f"**Image:** {line}; {len(session.edits)} edit(s)"]
    act = session.active_vectors()
    if act:
        parts.append("**Vectors:** " + ", ".join(f"{v.name} {s:+.1f}" for v, s in act))
    if report:
        if "pixels" in report:
            parts.append(f"**Last edit:** {', '.join(report['parts'])}: {report['pixels']} pixels repainted, "
                         f"{report['steps']} steps, region accuracy {report['accuracy']:.2f}"
                         + ("" if report.get("reached") else " (stopped at the step limit)"))
        elif "psnr" in report:
            parts.append(f"**Embedded:** PSNR {report['psnr']} dB")
    return "  \n".join(parts)
