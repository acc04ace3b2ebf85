"""Part maps as pictures: colour PNGs <-> label arrays, and folders of labelled examples.

A part map PNG paints each class in its colour. Painted strokes come back anti-aliased
(and sometimes lossy), so every pixel is snapped to the nearest class colour.

A labels folder (for training a segmentation branch) holds `classes.json`, a list of
`{"name": ..., "color": [r, g, b]}`, and per example `<name>.safetensors` (tensor
`w_plus`, shape (num_ws, w_dim)) with `<name>.png` (the part map at the generator's
resolution).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file


class LabelsError(ValueError):
    """A part map or labels folder that cannot be used."""


def snap_to_palette(rgb: np.ndarray, palette: torch.Tensor) -> torch.Tensor:
    """(H, W, 3) uint8 colours -> (H, W) int64 index of the nearest palette colour."""
    pixels = torch.from_numpy(np.array(rgb[..., :3], dtype=np.float32)).reshape(-1, 1, 3)
    d = (pixels - palette.float()[None]).pow(2).sum(-1)
    return d.argmin(1).reshape(rgb.shape[:2])


def labels_from_png(source, palette: torch.Tensor, resolution: int) -> torch.Tensor:
    """A part-map picture (path, PIL image or array) -> (R, R) labels; resized with nearest neighbour."""
    if isinstance(source, (str, Path)):
        try:
            image = Image.open(source)
            image.load()
        except (UnidentifiedImageError, OSError) as e:
            raise LabelsError(f"cannot read the part map {source}: {e}") from e
    elif isinstance(source, np.ndarray):
        image = Image.fromarray(source)
    else:
        image = source
    image = image.convert("RGB")
    if image.size != (resolution, resolution):
        if image.width != image.height:
            raise LabelsError(f"the part map must be square (the model draws {resolution}x{resolution}), got {image.width}x{image.height}")
        image = image.resize((resolution, resolution), Image.NEAREST)
    return snap_to_palette(np.asarray(image), palette)


def labels_to_png(labels: torch.Tensor, palette: torch.Tensor) -> Image.Image:
    return Image.fromarray(palette[labels].numpy())


@dataclass
class LabelledExamples:
    names: list[str]
    w_plus: torch.Tensor  # (N, num_ws, w_dim)
    labels: torch.Tensor  # (N, R, R)
    class_names: list[str]
    class_colors: list[tuple[int, int, int]]


def read_classes(folder: Path) -> tuple[list[str], list[tuple[int, int, int]]]:
    path = folder / "classes.json"
    if not path.is_file():
        raise LabelsError(f"{folder} has no classes.json (a list of {{\"name\": ..., \"color\": [r, g, b]}})")
    try:
        classes = json.loads(path.read_text())
        names = [str(c["name"]) for c in classes]
        colors = [tuple(int(v) for v in c["color"]) for c in classes]
    except (ValueError, KeyError, TypeError) as e:
        raise LabelsError(f"cannot read {path}: {e}") from e
    if len(names) < 2 or len(set(names)) != len(names) or len(set(colors)) != len(colors):
        raise LabelsError(f"{path}: need at least two classes with distinct names and colours")
    return names, colors


def write_text_atomic(path: Path, text: str) -> None:
    """Write a file so that a reader never sees it half written (a temp file, then a rename).

    Each write has its own temp file: two writes at once (two events of the same project)
    each land whole, the later one last, instead of one renaming the other's temp file away."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_classes(folder: Path, names, colors) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / "classes.json",
                      json.dumps([{"name": n, "color": list(c)} for n, c in zip(names, colors)], indent=2))


def write_example(folder: Path, name: str, w_plus: torch.Tensor, labels: torch.Tensor, palette: torch.Tensor) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    save_file({"w_plus": w_plus.detach().float().contiguous()}, str(folder / f"{name}.safetensors"))
    labels_to_png(labels, palette).save(folder / f"{name}.png")


def read_labels_dir(folder: str | Path, G) -> LabelledExamples:
    """Every labelled example of a folder, checked against the generator's shapes."""
    folder = Path(folder)
    names_c, colors = read_classes(folder)
    palette = torch.tensor(colors, dtype=torch.uint8)
    names, ws, labels = [], [], []
    for latent in sorted(folder.glob("*.safetensors")):
        png = latent.with_suffix(".png")
        if not png.is_file():
            raise LabelsError(f"{latent.name} has no part map {png.name} next to it")
        try:
            w = load_file(str(latent))["w_plus"]
        except (SafetensorError, KeyError, OSError) as e:
            raise LabelsError(f"cannot read w_plus from {latent}: {e}") from e
        if tuple(w.shape) != (G.num_ws, G.w_dim):
            raise LabelsError(f"{latent.name}: w_plus is {tuple(w.shape)}, the generator needs ({G.num_ws}, {G.w_dim})")
        names.append(latent.stem)
        ws.append(w.float())
        labels.append(labels_from_png(png, palette, G.resolution))
    if not names:
        raise LabelsError(f"{folder} holds no labelled examples (<name>.safetensors + <name>.png)")
    return LabelledExamples(names, torch.stack(ws), torch.stack(labels), names_c, colors)
