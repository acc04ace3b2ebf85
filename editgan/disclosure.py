"""What exported images and animations say about themselves: made and edited with editgan.

`provenance` builds the record (model, source, edits, vectors at their strengths); the other
functions put it where each format allows: PNG text chunks (`png_info`), the GIF comment
extension (`gif_comment`), MP4 container tags (`video_metadata`). Pure functions: the app,
the CLI and the sweep export call the same ones.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any, Iterable, Sequence

from PIL.PngImagePlugin import PngInfo

SOFTWARE = "editgan"
NOTICE = "This image was generated and edited with a generative model (editgan, StyleGAN2 + EditGAN)."


def provenance(model_name: str, model_fingerprint: str, source: dict, edits: Sequence[dict] = (),
               vectors_with_strengths: Iterable[tuple[Any, float]] = (), extra: dict | None = None) -> dict:
    """The disclosure record of an export (JSON-serialisable).

    `edits`: the part-map edits in order (a "delta" key, if present, is left out);
    `vectors_with_strengths`: (EditVector, strength) pairs; `extra`: more keys (e.g. a sweep's
    range and combination mode), added last.
    """
    meta = {
        "edited_with": SOFTWARE,
        "notice": NOTICE,
        "model": model_name,
        "model_fingerprint": model_fingerprint,
        "source": source,
        "part_map_edits": [{k: v for k, v in e.items() if k != "delta"} for e in edits],
        "vectors": [{"name": v.name, "strength": float(s), "parts": list(v.parts or []),
                     "model_fingerprint": v.model_fingerprint} for v, s in vectors_with_strengths],
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    meta.update(extra or {})
    return meta


def description(meta: dict) -> str:
    """One readable sentence or three: the model, the part-map edits, the vectors."""
    summary = [f"Generated with editgan from {meta['model']} (fingerprint {meta['model_fingerprint']})"]
    if meta.get("part_map_edits"):
        summary.append("part-map edits: " + "; ".join(f"{e.get('kind', 'edit')} of {', '.join(e.get('parts') or []) or 'parts'}"
                                                       for e in meta["part_map_edits"]))
    if meta.get("vectors"):
        summary.append("edit vectors: " + ", ".join(f"{v['name']} x {v['strength']:+.2f}" for v in meta["vectors"]))
    return ". ".join(summary) + "."


def png_info(meta: dict) -> PngInfo:
    """PNG text chunks: Software, Description (readable) and editgan (the record as JSON)."""
    info = PngInfo()
    info.add_text("Software", SOFTWARE)
    info.add_text("Description", description(meta))
    info.add_text("editgan", json.dumps(meta))
    return info


def gif_comment(meta: dict) -> bytes:
    """The GIF comment extension's bytes: the readable description, a newline, the JSON record."""
    return (description(meta) + "\n" + json.dumps(meta)).encode("utf-8")


def parse_gif_comment(comment: bytes | str) -> dict | None:
    """The record from a comment written by `gif_comment` (None if it holds none)."""
    text = comment.decode("utf-8", "replace") if isinstance(comment, bytes) else comment
    _, _, record = text.partition("\n")
    try:
        return json.loads(record)
    except json.JSONDecodeError:
        return None


def video_metadata(meta: dict) -> dict[str, str]:
    """MP4 container tags (ffmpeg `-metadata key=value`): the mp4 muxer keeps these keys."""
    return {"comment": json.dumps(meta), "description": description(meta),
            "title": f"{SOFTWARE} edit of {meta['model']}"}


def png_bytes(image, meta: dict) -> bytes:
    """A PIL image encoded as PNG bytes with its disclosure chunks (batch outputs, datasets)."""
    import io

    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=png_info(meta))
    return buf.getvalue()


def read_png_metadata(data: bytes) -> dict:
    """{"text": the PNG's text chunks, "editgan": the parsed record or None} of PNG bytes."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        text = dict(getattr(im, "text", {}) or {})
    return {"text": text, "editgan": json.loads(text["editgan"]) if "editgan" in text else None}
