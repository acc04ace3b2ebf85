"""Edit vectors: W+ offsets (num_ws, w_dim) that users make, share and apply with a strength.

A vector is one safetensors file: the tensor `delta` (float32) and, in the header's
`__metadata__` (string values only), what it is and how it was made:

    format="editgan-vector", version="1", name, description, model_fingerprint,
    model_repo ("" for none), parts (JSON list of class names), default_strength,
    method (JSON object), created (ISO 8601).

Because the metadata lives in the header, the Hub code can list a repository's vectors by
reading headers only (`editgan.hub.list_vectors`). Applying is `w + sum_i s_i * delta_i`, or,
in "orthogonal" mode, each vector first made orthogonal per W+ layer to the ones before it
(`combine`).
"""

from __future__ import annotations

import json
import math
import os
import struct
import tempfile
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch

FORMAT = "editgan-vector"
VERSION = "1"
SUFFIX = ".safetensors"
# Keys of the safetensors header's __metadata__ that a vector carries.
METADATA_KEYS = ("format", "version", "name", "description", "model_fingerprint", "model_repo", "parts",
                 "default_strength", "method", "created")
_FLOAT_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}
_MAX_HEADER = 100_000_000  # safetensors' own limit on the JSON header


class VectorError(ValueError):
    """An edit vector that cannot be read, saved or used; the message names the file and the fix."""


class IncompatibleVectorError(VectorError):
    """A vector made for another model (fingerprint) or another W+ shape (num_ws, w_dim)."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class EditVector:
    """A W+ offset and what it is: apply as `w_plus + strength * delta`."""

    delta: torch.Tensor  # float32 (num_ws, w_dim)
    name: str
    description: str = ""
    model_fingerprint: str = ""
    model_repo: str | None = None
    parts: list[str] = field(default_factory=list)
    default_strength: float = 1.0
    method: dict = field(default_factory=dict)
    created: str = field(default_factory=_now)

    def __post_init__(self):
        if not isinstance(self.delta, torch.Tensor):
            self.delta = torch.as_tensor(self.delta)
        if not self.delta.is_floating_point():
            raise VectorError(f"edit vector {self.name!r}: delta must be a float tensor, got {self.delta.dtype}")
        if self.delta.ndim != 2:
            hint = " (a batch of one? pass delta[0])" if self.delta.ndim == 3 and self.delta.shape[0] == 1 else ""
            raise VectorError(f"edit vector {self.name!r}: delta must have shape (num_ws, w_dim), "
                              f"got {tuple(self.delta.shape)}{hint}")
        self.delta = self.delta.detach().to(torch.float32)
        if not bool(torch.isfinite(self.delta).all()):
            raise VectorError(f"edit vector {self.name!r}: delta has NaN or infinite values "
                              "(the edit that made it diverged; make it again, e.g. with a lower learning rate)")
        if not isinstance(self.name, str) or not self.name.strip():
            raise VectorError("an edit vector needs a non-empty name")
        self.parts = [str(p) for p in (self.parts or [])]
        self.default_strength = float(self.default_strength)
        if not math.isfinite(self.default_strength):
            raise VectorError(f"edit vector {self.name!r}: default_strength must be finite, got {self.default_strength}")
        self.method = dict(self.method or {})
        self.model_fingerprint = self.model_fingerprint or ""
        self.model_repo = self.model_repo or None

    @property
    def num_ws(self) -> int:
        return int(self.delta.shape[0])

    @property
    def w_dim(self) -> int:
        return int(self.delta.shape[1])

    @property
    def shape(self) -> tuple[int, int]:
        return (self.num_ws, self.w_dim)

    def metadata(self) -> dict[str, str]:
        """The safetensors header metadata (all strings) this vector is saved with."""
        try:
            method = json.dumps(self.method, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise VectorError(f"edit vector {self.name!r}: method must be JSON-serialisable (str, numbers, lists, "
                              f"dicts; no NaN): {e}") from None
        return {
            "format": FORMAT,
            "version": VERSION,
            "name": self.name,
            "description": self.description or "",
            "model_fingerprint": self.model_fingerprint or "",
            "model_repo": self.model_repo or "",
            "parts": json.dumps(list(self.parts)),
            "default_strength": repr(float(self.default_strength)),
            "method": method,
            "created": self.created or "",
        }


# ----- metadata <-> fields (shared with editgan.hub, which reads headers only) ----------------
def fields_from_metadata(metadata: dict[str, str] | None, source: str, tensor_names: Iterable[str] = ()) -> dict[str, Any]:
    """Validated EditVector fields (all but delta) from a safetensors header's metadata.

    `source` names the file in error messages. Raises VectorError for a file that is not an
    edit vector or whose metadata is malformed.
    """
    metadata = metadata or {}
    if metadata.get("format") != FORMAT:
        names = sorted(tensor_names)
        found = f"format={metadata['format']!r}" if "format" in metadata else "no 'format' metadata"
        raise VectorError(f"{source} is a safetensors file but not an editgan edit vector ({found}; tensors: "
                          f"{', '.join(names[:8]) or 'none'}{', ...' if len(names) > 8 else ''}). Edit vectors are "
                          f"saved by editgan.vectors.save_vector / `python -m editgan edit --save-vector`.")
    version = metadata.get("version", "")
    if version != VERSION:
        if version.isdigit() and int(version) > int(VERSION):
            raise VectorError(f"{source} is an edit vector of format version {version}, newer than this editgan "
                              f"reads ({VERSION}): upgrade editgan")
        raise VectorError(f"{source}: unknown edit vector format version {version!r} (expected {VERSION!r})")

    def json_field(key, kind, default):
        raw = metadata.get(key)
        if raw in (None, ""):
            return default
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as e:
            raise VectorError(f"{source}: metadata {key!r} is not valid JSON ({e}); the file is damaged") from None
        if not isinstance(value, kind):
            raise VectorError(f"{source}: metadata {key!r} must be a JSON {kind.__name__}, got {type(value).__name__}")
        return value

    parts = json_field("parts", list, [])
    if not all(isinstance(p, str) for p in parts):
        raise VectorError(f"{source}: metadata 'parts' must be a list of class names (strings)")
    try:
        strength = float(metadata.get("default_strength") or 1.0)
    except ValueError:
        raise VectorError(f"{source}: metadata 'default_strength' is not a number: "
                          f"{metadata.get('default_strength')!r}") from None
    if not math.isfinite(strength):
        raise VectorError(f"{source}: metadata 'default_strength' must be finite, got {strength}")
    name = metadata.get("name") or ""
    if not name.strip():
        raise VectorError(f"{source}: the edit vector has no name in its metadata")
    return {
        "name": name,
        "description": metadata.get("description", ""),
        "model_fingerprint": metadata.get("model_fingerprint", ""),
        "model_repo": metadata.get("model_repo") or None,
        "parts": parts,
        "default_strength": strength,
        "method": json_field("method", dict, {}),
        "created": metadata.get("created", ""),
    }


def check_delta_entry(tensors: dict[str, dict], source: str) -> tuple[int, int]:
    """The (num_ws, w_dim) of the `delta` entry of a parsed header; VectorError if unusable."""
    entry = tensors.get("delta")
    if entry is None:
        raise VectorError(f"{source} has editgan-vector metadata but no 'delta' tensor "
                          f"(tensors: {', '.join(sorted(tensors)) or 'none'}); the file is damaged or was not "
                          "written by editgan")
    dtype, shape = entry.get("dtype"), list(entry.get("shape", []))
    if dtype not in _FLOAT_DTYPES:
        raise VectorError(f"{source}: 'delta' has dtype {dtype}, expected a float (F32)")
    if len(shape) != 2:
        raise VectorError(f"{source}: 'delta' has shape {tuple(shape)} (rank {len(shape)}), expected rank 2 "
                          "(num_ws, w_dim)")
    return int(shape[0]), int(shape[1])


# ----- files ----------------------------------------------------------------------------------
def save_vector(vec: EditVector, path: str | os.PathLike) -> Path:
    """Write `vec` to one safetensors file, atomically (a failed save leaves any old file intact)."""
    from safetensors.torch import save

    path = Path(path)
    if path.suffix != SUFFIX:
        raise VectorError(f"{path}: edit vectors are saved as {SUFFIX} files; name it {path.with_suffix(SUFFIX).name}")
    if not isinstance(vec, EditVector):
        raise VectorError(f"save_vector takes an EditVector, got {type(vec).__name__}")
    delta = vec.delta.detach().to("cpu", torch.float32).contiguous()
    if delta.ndim != 2 or not bool(torch.isfinite(delta).all()):
        raise VectorError(f"{path}: not saved: the delta of {vec.name!r} must be finite with shape (num_ws, w_dim)")
    data = save({"delta": delta}, metadata=vec.metadata())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def read_header(data: bytes, source: str) -> tuple[dict, int]:
    """(header dict, data start) of safetensors bytes, with a clear VectorError when they are not."""
    not_st = f"{source} is not a safetensors file"
    if len(data) < 8:
        raise VectorError(f"{not_st} ({len(data)} bytes: empty or truncated). Download or save it again.")
    (n,) = struct.unpack("<Q", data[:8])
    if n == 0 or n > _MAX_HEADER or not data[8:9] == b"{":
        raise VectorError(f"{not_st} (its first bytes are not a safetensors header). Edit vectors are .safetensors "
                          "files written by editgan; download or save it again.")
    if 8 + n > len(data):
        raise VectorError(f"{source} is truncated: its header needs {n} bytes, the file has {len(data) - 8} after "
                          "the size prefix. Download or save it again.")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise VectorError(f"{not_st} or it is corrupt (header is not valid JSON: {e}). Download or save it again.") from None
    if not isinstance(header, dict):
        raise VectorError(f"{not_st} or it is corrupt (header is not a JSON object)")
    return header, 8 + n


def vector_from_bytes(data: bytes, source: str) -> EditVector:
    """An EditVector from the bytes of a vector file; `source` names it in errors."""
    from safetensors.torch import load

    header, start = read_header(data, source)
    metadata = header.get("__metadata__") or {}
    tensors = {k: v for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)}
    fields = fields_from_metadata(metadata, source, tensors)
    check_delta_entry(tensors, source)
    end = max((int(v.get("data_offsets", [0, 0])[1]) for v in tensors.values()), default=0)
    if start + end > len(data):
        raise VectorError(f"{source} is truncated: {len(data)} bytes, the header describes {start + end}. "
                          "Download or save it again.")
    try:
        delta = load(data)["delta"]
    except Exception as e:  # safetensors raises its own error type for inconsistent files
        raise VectorError(f"{source} is corrupt ({e}). Download or save it again.") from None
    if not bool(torch.isfinite(delta).all()):
        raise VectorError(f"{source}: delta has NaN or infinite values; the vector is unusable (make it again)")
    try:
        return EditVector(delta=delta.to(torch.float32), **fields)
    except VectorError as e:
        raise VectorError(f"{source}: {e}") from None


def load_vector(path: str | os.PathLike) -> EditVector:
    """Read an edit vector file; VectorError (naming the file and the fix) when it is not one."""
    path = Path(path)
    if path.is_dir():
        raise VectorError(f"{path} is a folder; an edit vector is one {SUFFIX} file (list a folder with "
                          "list_local_vectors)")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise VectorError(f"no edit vector file at {path}") from None
    except OSError as e:
        raise VectorError(f"cannot read {path}: {e}") from None
    return vector_from_bytes(data, str(path))


def list_local_vectors(folder: str | os.PathLike) -> tuple[list[EditVector], list[tuple[Path, VectorError]]]:
    """The vectors in a folder (*.safetensors, sorted by file name) and the files that could not be read.

    Returns (vectors, errors); errors is a list of (path, VectorError), so one bad file does
    not hide the others.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise VectorError(f"no vectors folder at {folder}")
    vectors, errors = [], []
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        if path.name.startswith("."):
            continue  # our own temporary files, editors' swap files
        try:
            vectors.append(load_vector(path))
        except VectorError as e:
            errors.append((path, e))
    return vectors, errors


# ----- compatibility --------------------------------------------------------------------------
_FINGERPRINTS: "weakref.WeakKeyDictionary[Any, tuple[tuple, str]]" = weakref.WeakKeyDictionary()


def _state_key(G) -> tuple | None:
    """A cheap key that changes whenever a weight of G is replaced or changed in place."""
    try:
        tensors = list(G.parameters()) + list(G.buffers())
    except AttributeError:
        return None
    return tuple((t.data_ptr(), t._version) for t in tensors)


def model_fingerprint_of(G) -> str:
    """G.fingerprint(), cached per model until one of its weights changes (hashing is not free).

    A photo's pivotally tuned copy of a generator (`tuned_from` set) answers with the fingerprint
    of the model it was tuned from: vectors made for that model apply to it."""
    if getattr(G, "tuned_from", None):
        return G.tuned_from
    key = _state_key(G)
    if key is not None:
        try:
            cached = _FINGERPRINTS.get(G)
        except TypeError:
            cached = None
        if cached is not None and cached[0] == key:
            return cached[1]
    fp = G.fingerprint()
    if key is not None:
        try:
            _FINGERPRINTS[G] = (key, fp)
        except TypeError:
            pass
    return fp


def compatibility_problem(fingerprint: str, shape: Sequence[int], G, name: str = "vector",
                          model_repo: str | None = None) -> str | None:
    """Why a vector (its fingerprint, repo and shape) cannot be applied to G, or None if it can."""
    shape = tuple(int(s) for s in shape)
    model_shape = (int(G.num_ws), int(G.w_dim))
    made_for = f"model {fingerprint}" if fingerprint else "an unnamed model"
    if model_repo:
        made_for += f" ({model_repo})"
    if shape != model_shape:
        return (f"edit vector {name!r} has shape (num_ws, w_dim) = {shape}, made for {made_for}, but this model's "
                f"W+ is {model_shape} (model {model_fingerprint_of(G)}): it belongs to a different architecture; "
                f"use the model it was made for{' (' + model_repo + ')' if model_repo else ''}")
    if fingerprint:
        mine = model_fingerprint_of(G)
        if fingerprint != mine:
            return (f"edit vector {name!r} was made for {made_for}, but this model is {mine}: a vector only "
                    f"means something for the weights it was made with; load "
                    f"{model_repo or 'the model with fingerprint ' + fingerprint} or make the vector again on this model")
    return None


def check_compatible(vec: EditVector | torch.Tensor, G) -> None:
    """Raise IncompatibleVectorError (naming both models) unless `vec` can be applied to G.

    A vector with no model fingerprint (or a raw tensor) is checked for shape only.
    """
    if isinstance(vec, EditVector):
        problem = compatibility_problem(vec.model_fingerprint, vec.shape, G, vec.name, vec.model_repo)
    else:
        problem = compatibility_problem("", tuple(vec.shape), G, "raw delta") if vec.ndim == 2 else \
            f"a raw delta must have shape (num_ws, w_dim) = {(G.num_ws, G.w_dim)}, got {tuple(vec.shape)}"
    if problem:
        raise IncompatibleVectorError(problem)


def is_compatible(vec: EditVector | torch.Tensor, G) -> bool:
    try:
        check_compatible(vec, G)
    except IncompatibleVectorError:
        return False
    return True


# ----- applying -------------------------------------------------------------------------------
def _delta_of(v) -> torch.Tensor:
    if isinstance(v, EditVector):
        return v.delta
    if isinstance(v, torch.Tensor):
        if v.ndim != 2:
            raise VectorError(f"a raw delta must have shape (num_ws, w_dim), got {tuple(v.shape)}")
        return v
    raise VectorError(f"expected an EditVector or a (num_ws, w_dim) tensor, got {type(v).__name__}")


def _strength(s) -> float:
    try:
        s = float(s)
    except (TypeError, ValueError):
        raise VectorError(f"a strength must be a number, got {s!r}") from None
    if not math.isfinite(s):
        raise VectorError(f"a strength must be finite, got {s}")
    return s


MODES = ("sum", "orthogonal")


def gram_schmidt_rows(deltas: Sequence[torch.Tensor], rtol: float = 1e-6) -> list[torch.Tensor]:
    """Each (num_ws, w_dim) delta with, per W+ layer (row), its projection on the span of the
    earlier deltas' (already orthogonalised) rows of that layer removed. Order matters: the
    first delta is returned as it is (the same tensor), the second loses what it shares with
    the first, and so on. An earlier row that is zero (a vector that does not touch that
    layer, or one wholly inside the span before it) removes nothing. A row left with less
    than `rtol` of its own norm lay in that span and becomes exactly zero. Maths in float64."""
    out: list[torch.Tensor] = []
    basis: list[torch.Tensor] = []  # orthogonal rows so far, float64, (num_ws, w_dim) each
    for j, d in enumerate(deltas):
        if j == 0:
            out.append(d)
            basis.append(d.to(torch.float64))
            continue
        r = d.to(torch.float64).clone()
        for u in basis:  # modified Gram-Schmidt: project the running residual
            uu = (u * u).sum(-1)
            coef = torch.where(uu > 0, (r * u).sum(-1) / uu.clamp(min=torch.finfo(torch.float64).tiny), 0.0)
            r -= coef[:, None] * u
        own = d.to(torch.float64).norm(dim=-1)
        r[r.norm(dim=-1) <= rtol * own] = 0.0
        basis.append(r)
        out.append(r.to(d.dtype))
    return out


def _pairs(vectors, strengths) -> list[tuple[torch.Tensor, float]]:
    """[(delta, strength)] from [(vec, s), ...] (strengths None) or vectors plus strengths."""
    vectors = list(vectors)
    if strengths is None:
        if all(isinstance(v, (tuple, list)) for v in vectors):
            return [(_delta_of(v), _strength(s)) for v, s in vectors]
        strengths = [1.0] * len(vectors)
    strengths = list(strengths)
    if len(strengths) != len(vectors):
        raise VectorError(f"{len(vectors)} vectors but {len(strengths)} strengths: give one strength per vector")
    return [(_delta_of(v), _strength(s)) for v, s in zip(vectors, strengths)]


def effective_deltas(vectors, strengths=None, mode: str = "sum") -> list[torch.Tensor]:
    """The strength-1 delta each vector contributes under `mode`, in the given order.

    "sum": the deltas as they are. "orthogonal": `gram_schmidt_rows` of the deltas of the
    vectors whose strength is not 0 (in the given order); a vector at strength 0 contributes
    a zero delta and shapes nobody else's. See `combine`.
    """
    if mode not in MODES:
        raise VectorError(f"unknown combination mode {mode!r}; use one of {', '.join(MODES)}")
    pairs = _pairs(vectors, strengths)
    if not pairs:
        return []
    shape = tuple(pairs[0][0].shape)
    for d, _ in pairs[1:]:
        if tuple(d.shape) != shape:
            raise VectorError(f"cannot combine vectors of shapes {shape} and {tuple(d.shape)}: they were made for "
                              "different models")
    deltas = [d for d, _ in pairs]
    if mode == "sum":
        return deltas
    active = [i for i, (_, s) in enumerate(pairs) if s != 0.0]
    ortho = dict(zip(active, gram_schmidt_rows([deltas[i] for i in active])))
    return [ortho.get(i, torch.zeros_like(d)) for i, d in enumerate(deltas)]


def combine(vectors, strengths: Sequence[float] | None = None, mode: str = "sum") -> torch.Tensor:
    """The W+ offset of several vectors at their strengths, float32 (num_ws, w_dim).

    Call as `combine([(vec, s), ...])` or `combine([vec, ...], [s, ...])` (strengths default
    to 1); vectors are EditVectors or raw (num_ws, w_dim) tensors of one shape.

    mode="sum": sum_i s_i * delta_i (order does not matter).
    mode="orthogonal": sum_i s_i * u_i, where u_i is delta_i with, in each W+ layer, its
    projection on the earlier vectors' (orthogonalised) rows removed (`gram_schmidt_rows`):
    the strength-1 deltas are orthogonalised first, then scaled, so moving a later slider
    never pushes along an earlier vector's direction, while the earlier vectors stay as they
    are. Order matters: put the vector whose effect must be kept first. Vectors at strength
    0 are left out before orthogonalising, so a user who moves only slider B gets exactly
    B (bit for bit the sum mode), and one vector alone is always unchanged. An earlier
    vector shapes the later ones from any non-zero strength on (a span does not depend on
    the strength), so the image jumps when it leaves 0.
    """
    pairs = _pairs(vectors, strengths)
    if not pairs:
        raise VectorError("combine needs at least one (vector, strength) pair")
    deltas = effective_deltas([d for d, _ in pairs], [s for _, s in pairs], mode)
    total = torch.zeros(tuple(deltas[0].shape), dtype=torch.float32, device=deltas[0].device)
    for d, (_, s) in zip(deltas, pairs):
        if s != 0.0:
            total.add_(d.to(device=total.device, dtype=torch.float32), alpha=s)
    return total


def apply_vectors(w_plus: torch.Tensor, vectors_and_strengths: Iterable[tuple[EditVector | torch.Tensor, float]],
                  G=None, mode: str = "sum") -> torch.Tensor:
    """w_plus + combine(vectors_and_strengths, mode=mode), for w_plus (num_ws, w_dim) or (N, num_ws, w_dim).

    With G, every vector is checked against G first (IncompatibleVectorError). Vectors at
    strength 0 are skipped, so all-zero strengths give back exactly the input values.
    Returns a new tensor in w_plus's dtype and device. `mode`: "sum" or "orthogonal" (see combine).
    """
    if mode not in MODES:
        raise VectorError(f"unknown combination mode {mode!r}; use one of {', '.join(MODES)}")
    pairs = [(v, _strength(s)) for v, s in vectors_and_strengths]
    if w_plus.ndim not in (2, 3):
        raise VectorError(f"w_plus must be (num_ws, w_dim) or (N, num_ws, w_dim), got {tuple(w_plus.shape)}")
    if G is not None:
        for v, _ in pairs:
            check_compatible(v, G)
    for v, _ in pairs:
        d = _delta_of(v)
        if tuple(d.shape) != tuple(w_plus.shape[-2:]):
            raise IncompatibleVectorError(f"edit vector {getattr(v, 'name', 'raw delta')!r} has shape "
                                          f"{tuple(d.shape)}, but w_plus is {tuple(w_plus.shape)}")
    active = [(v, s) for v, s in pairs if s != 0.0]
    if not active:
        return w_plus.clone()
    delta = combine(active, mode=mode).to(device=w_plus.device, dtype=w_plus.dtype)
    return w_plus + delta
