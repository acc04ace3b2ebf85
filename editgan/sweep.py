"""Strength sweeps: an edit shown as an animation (GIF, MP4) from strength lo to hi.

Frame k sits at the sweep value t_k (`sweep_strengths`: n values evenly from lo to hi); in
it, vector i is applied at strength t_k * s_i, where s_i is its own strength (the slider's
value; 1 when only vectors are given). So t = 1 is the image the user sees, t = 0 the image
without the vectors, t = -1 the opposite edit. Frames are drawn through `G.synthesis` in
batches. The frame at which every strength is 0 is the input W+ unchanged and is drawn on
its own, as the app draws an image: a batched convolution differs from a batch of one in
the last bits, which can move a pixel by one level, and that frame must be the unedited
image pixel for pixel.

GIF is written with Pillow (always there), MP4 with imageio-ffmpeg, an optional extra
(`pip install -r requirements-video.txt`, which brings its own ffmpeg binary). Both carry the
disclosure record (`editgan.disclosure`): the GIF in its comment, the MP4 in its tags.
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from .disclosure import gif_comment, parse_gif_comment, video_metadata
from .vectors import _delta_of, _strength, apply_vectors

VIDEO_INSTALL = "pip install -r requirements-video.txt  (or: pip install imageio-ffmpeg)"
MAX_FRAMES = 1000


class SweepError(ValueError):
    """A sweep that cannot be made or saved (bad range, frame count, format); the message says the fix."""


class VideoEncoderMissing(SweepError):
    """MP4 export needs the optional encoder (imageio-ffmpeg)."""


def sweep_strengths(lo: float = -2.0, hi: float = 2.0, n: int = 9) -> list[float]:
    """n sweep values evenly from lo to hi (both included); for an odd n and lo = -hi the
    middle one is exactly 0."""
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise SweepError(f"the sweep range must be finite, got {lo}..{hi}")
    if isinstance(n, bool) or int(n) != n or not 2 <= int(n) <= MAX_FRAMES:
        raise SweepError(f"a sweep needs 2 to {MAX_FRAMES} frames, got {n!r}")
    n = int(n)
    values = [lo + (hi - lo) * k / (n - 1) for k in range(n)]
    if n % 2 == 1 and lo == -hi:
        values[n // 2] = 0.0  # exactly, not a rounding error away from it
    return values


def _vector_pairs(vectors) -> list[tuple]:
    """[(vector, base strength)] from vectors or (vector, strength) pairs (base strength 1)."""
    pairs = []
    for item in vectors:
        v, s = item if isinstance(item, (tuple, list)) else (item, 1.0)
        _delta_of(v)  # a clear error for what is not a vector
        pairs.append((v, _strength(s)))
    if not pairs:
        raise SweepError("a sweep needs at least one vector")
    return pairs


def sweep_latents(w_plus: torch.Tensor, vectors, values: Sequence[float], mode: str = "sum", G=None) -> torch.Tensor:
    """(n, num_ws, w_dim): w_plus with every vector i at strength t * s_i, for each t in values."""
    pairs = _vector_pairs(vectors)
    w = w_plus.reshape(-1, *w_plus.shape[-2:])
    if w.shape[0] != 1:
        raise SweepError(f"a sweep starts from one W+ (num_ws, w_dim), got {tuple(w_plus.shape)}")
    return torch.stack([apply_vectors(w[0], [(v, t * s) for v, s in pairs], G, mode=mode) for t in values])


def to_pil_batch(images: torch.Tensor) -> list[Image.Image]:
    """(N, 3, H, W) in [-1, 1] -> PIL RGB images (the rounding of `editgan.embedding.to_pil`)."""
    from .embedding import to_pil

    return [to_pil(im) for im in images]


@torch.no_grad()
def sweep_frames(G, w_plus: torch.Tensor, vectors, lo: float = -2.0, hi: float = 2.0, n: int = 9, mode: str = "sum",
                 batch_size: int = 8, progress: Callable[[int, int], None] | None = None) -> list[Image.Image]:
    """The n frames of a strength sweep (see the module docstring) as PIL images.

    `vectors`: EditVectors / raw deltas, or (vector, strength) pairs; `mode`: "sum" or
    "orthogonal" (editgan.vectors.combine). progress(done, n) after each batch.
    """
    if int(batch_size) < 1:
        raise SweepError(f"batch_size must be at least 1, got {batch_size}")
    values = sweep_strengths(lo, hi, n)
    pairs = _vector_pairs(vectors)
    ws = sweep_latents(w_plus, pairs, values, mode, G)
    device = next(G.parameters()).device
    unedited = [k for k, t in enumerate(values) if all(t * s == 0.0 for _, s in pairs)]
    edited = [k for k in range(len(values)) if k not in unedited]
    frames: list[Image.Image | None] = [None] * len(values)
    groups = [[k] for k in unedited] + [edited[i : i + int(batch_size)] for i in range(0, len(edited), int(batch_size))]
    done = 0
    for ks in groups:
        images = G.synthesis(ws[ks].to(device))
        for k, im in zip(ks, to_pil_batch(images.cpu())):
            frames[k] = im
        done += len(ks)
        if progress:
            progress(done, len(values))
    return frames


# ----- files ----------------------------------------------------------------------------------
def _check_frames(frames: Sequence[Image.Image], fps: float) -> tuple[int, int]:
    if not frames:
        raise SweepError("no frames to save")
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and 0 < fps <= 120):
        raise SweepError(f"fps must be a number in (0, 120], got {fps!r}")
    sizes = {f.size for f in frames}
    if len(sizes) != 1:
        raise SweepError(f"all frames must have one size, got {sorted(sizes)}")
    return sizes.pop()


def save_gif(frames: Sequence[Image.Image], path: str | Path, fps: float = 8, metadata: dict | None = None) -> Path:
    """An animated GIF that loops forever, the disclosure record in its comment extension."""
    _check_frames(frames, fps)
    path = Path(path)
    extra = {"comment": gif_comment(metadata)} if metadata else {}
    frames = [f.convert("RGB") for f in frames]
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:], duration=round(1000 / fps),
                   loop=0, optimize=False, **extra)
    return path


def read_gif(path: str | Path) -> tuple[int, dict | None]:
    """(frame count, disclosure record or None) of a GIF."""
    with Image.open(path) as im:
        return int(getattr(im, "n_frames", 1)), parse_gif_comment(im.info["comment"]) if "comment" in im.info else None


def _imageio_ffmpeg():
    try:
        import imageio_ffmpeg
    except ImportError:
        raise VideoEncoderMissing(f"MP4 export needs the optional video encoder: {VIDEO_INSTALL}. "
                                  "GIF export works without it.") from None
    return imageio_ffmpeg


def even_size(frame: Image.Image) -> Image.Image:
    """The frame padded by one edge row / column where its size is odd (H.264 in yuv420p
    needs even sizes); pixels are repeated, none scaled."""
    w, h = frame.size
    if w % 2 == 0 and h % 2 == 0:
        return frame
    arr = np.asarray(frame.convert("RGB"))
    arr = np.pad(arr, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return Image.fromarray(arr)


def save_mp4(frames: Sequence[Image.Image], path: str | Path, fps: float = 8, metadata: dict | None = None) -> Path:
    """An H.264 MP4 (yuv420p, plays everywhere) through imageio-ffmpeg, the disclosure record
    in its comment / description / title tags. VideoEncoderMissing if imageio-ffmpeg is not
    installed. Odd frame sizes are padded by one pixel (`even_size`)."""
    iio = _imageio_ffmpeg()
    _check_frames(frames, fps)
    frames = [even_size(f.convert("RGB")) for f in frames]
    size = frames[0].size
    params = []
    for key, value in (video_metadata(metadata) if metadata else {}).items():
        params += ["-metadata", f"{key}={value}"]
    path = Path(path)
    writer = iio.write_frames(str(path), size, fps=fps, codec="libx264", pix_fmt_out="yuv420p", macro_block_size=2,
                              output_params=params, ffmpeg_log_level="error")
    writer.send(None)
    try:
        for f in frames:
            writer.send(np.ascontiguousarray(np.asarray(f)))
    finally:
        writer.close()
    return path


def read_mp4(path: str | Path) -> tuple[int, dict[str, str]]:
    """(frame count, container tags) of a video, read with imageio-ffmpeg's ffmpeg."""
    iio = _imageio_ffmpeg()
    count, _ = iio.count_frames_and_secs(str(path))
    out = subprocess.run([iio.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "ffmetadata", "-"],
                         capture_output=True, text=True, check=True).stdout
    tags, key = {}, None
    for line in out.splitlines():  # ffmetadata: key=value, newlines inside a value escaped by "\"
        if key is not None and tags[key].endswith("\\"):
            tags[key] = tags[key][:-1] + "\n" + line
        elif "=" in line and not line.startswith(";"):
            key, _, value = line.partition("=")
            tags[key] = value
    return int(count), {k: v.replace("\\=", "=").replace("\\;", ";").replace("\\#", "#").replace("\\\\", "\\")
                        for k, v in tags.items()}


def save_sweep(frames: Sequence[Image.Image], path: str | Path, fps: float = 8, metadata: dict | None = None) -> Path:
    """save_gif or save_mp4, by the file's suffix (.gif, .mp4)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".gif":
        return save_gif(frames, path, fps, metadata)
    if suffix == ".mp4":
        return save_mp4(frames, path, fps, metadata)
    raise SweepError(f"{path}: a sweep is saved as .gif or .mp4, not {suffix or 'a file without suffix'!r}")


def sweep_record(values: Sequence[float], pairs, mode: str, fps: float) -> dict:
    """The sweep's own part of the disclosure record (`provenance(..., extra=...)`)."""
    return {"sweep": {"values": [float(t) for t in values], "fps": float(fps), "combination": mode,
                      "strength_rule": "vector i at t * s_i in the frame at t",
                      "base_strengths": {getattr(v, "name", f"vector {i}"): float(s) for i, (v, s) in enumerate(pairs)}}}


__all__ = ["SweepError", "VideoEncoderMissing", "sweep_strengths", "sweep_latents", "sweep_frames", "save_gif",
           "save_mp4", "save_sweep", "read_gif", "read_mp4", "even_size", "sweep_record", "VIDEO_INSTALL"]
