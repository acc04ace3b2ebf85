"""Disclosure metadata of generated images: the record and the PNG text chunks.

The same fields and chunks as the app's export (`editgan.app_logic.provenance` /
`export_png`): `Software`, a human-readable `Description` and `editgan` (the JSON record).
Pure functions, so the app, the CLI and batch jobs write identical metadata.
"""

from __future__ import annotations

import datetime as _dt
import io
import json

from PIL import Image
from PIL.PngImagePlugin import PngInfo

SOFTWARE = "editgan"
NOTICE = "This image was generated and edited with a generative model (editgan, StyleGAN2 + EditGAN)."


def provenance_record(model: str, model_fingerprint: str, source: dict, vectors: list[dict],
                      part_map_edits: list[dict] | None = None, created: str | None = None) -> dict:
    """The disclosure record; `vectors` = [{"name", "strength", "parts", "model_fingerprint"}, ...]."""
    return {
        "edited_with": SOFTWARE,
        "notice": NOTICE,
        "model": model,
        "model_fingerprint": model_fingerprint,
        "source": source,
        "part_map_edits": list(part_map_edits or []),
        "vectors": vectors,
        "created": created or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def description(meta: dict) -> str:
    """The one-line human-readable summary written to the PNG's Description chunk."""
    summary = [f"Generated with editgan from {meta['model']} (fingerprint {meta['model_fingerprint']})"]
    if meta["part_map_edits"]:
        summary.append("part-map edits: " + "; ".join(f"{e['kind']} of {', '.join(e.get('parts') or []) or 'parts'}"
                                                       for e in meta["part_map_edits"]))
    if meta["vectors"]:
        summary.append("edit vectors: " + ", ".join(f"{v['name']} x {v['strength']:+.2f}" for v in meta["vectors"]))
    return ". ".join(summary) + "."


def png_info(meta: dict) -> PngInfo:
    """PNG text chunks (Software, Description, editgan) for a disclosure record."""
    info = PngInfo()
    info.add_text("Software", SOFTWARE)
    info.add_text("Description", description(meta))
    info.add_text("editgan", json.dumps(meta))
    return info


def png_bytes(image: Image.Image, meta: dict) -> bytes:
    """The image encoded as PNG with its disclosure chunks."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=png_info(meta))
    return buf.getvalue()


def read_png_metadata(data: bytes) -> dict:
    """{"text": the PNG's text chunks, "editgan": the parsed record or None} of PNG bytes."""
    with Image.open(io.BytesIO(data)) as im:
        text = dict(getattr(im, "text", {}) or {})
    return {"text": text, "editgan": json.loads(text["editgan"]) if "editgan" in text else None}
