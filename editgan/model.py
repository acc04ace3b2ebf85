"""An editable model: a generator with its segmentation branch, as the app and CLI use it.

A model folder holds the generator (`config.json`, `model.safetensors`), optionally its
segmentation branch (`segmenter.json`, `segmenter.safetensors`) and a model card. The
shipped default models live in `weights/<domain>/`, their edit vectors in `vectors/<domain>/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoints import load_generator
from .generator import Generator
from .segmenter import CONFIG_NAME as SEGMENTER_CONFIG, Segmenter

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS_DIR = ROOT / "weights"
VECTORS_DIR = ROOT / "vectors"


def shipped_domains() -> list[str]:
    """Names of the default models shipped in weights/ (those with a generator config)."""
    if not WEIGHTS_DIR.is_dir():
        return []
    return sorted(p.name for p in WEIGHTS_DIR.iterdir() if (p / "config.json").is_file())


def resolve(source: str) -> str:
    """A shipped domain name ("faces") -> its folder; anything else unchanged."""
    return str(WEIGHTS_DIR / source) if source in shipped_domains() else source


@dataclass
class EditModel:
    G: Generator
    segmenter: Segmenter | None
    source: str
    folder: Path | None = None  # local folder the model came from, if any

    @property
    def fingerprint(self) -> str:
        return self.G.fingerprint()

    @property
    def name(self) -> str:
        return Path(self.source).name if self.folder else self.source

    @property
    def class_names(self) -> list[str]:
        return self.segmenter.class_names if self.segmenter else []

    @property
    def palette(self) -> torch.Tensor:
        return self.segmenter.palette if self.segmenter else torch.zeros(0, 3, dtype=torch.uint8)

    @property
    def vectors_dir(self) -> Path:
        """Where this model's local vectors live: vectors/<domain>/ for shipped models."""
        if self.folder is not None and self.folder.parent == WEIGHTS_DIR:
            return VECTORS_DIR / self.folder.name
        base = self.folder if self.folder is not None else Path.cwd()
        return base / "vectors"

    def w_from_seed(self, seed: int, truncation: float = 1.0) -> torch.Tensor:
        """The W+ code (num_ws, w_dim) of a seed."""
        return self.G.w_plus_from_seed(seed, truncation)

    @torch.no_grad()
    def render(self, w_plus: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Image (3, R, R) and part map (R, R) (None without a branch) of one W+ code."""
        image, features = self.G.synthesis(w_plus.reshape(1, self.G.num_ws, self.G.w_dim), return_features=True)
        labels = self.segmenter(features).argmax(1)[0] if self.segmenter else None
        return image[0], labels


def load_model(source: str, revision: str | None = None) -> EditModel:
    """A shipped domain name, a model folder, a checkpoint file or a Hub repo id -> EditModel."""
    path = resolve(source)
    G = load_generator(path, revision=revision)
    folder = Path(path).resolve() if Path(path).is_dir() else None
    if folder is None and not Path(path).exists():
        from .hub import download_model

        folder = Path(download_model(path, revision=revision))
    segmenter = Segmenter.from_pretrained(folder) if folder and (folder / SEGMENTER_CONFIG).is_file() else None
    if segmenter is not None:
        features = G.synthesis.feature_channels
        if list(features) != list(segmenter.config.feature_channels):
            segmenter.check_features([torch.zeros(1, c, 1, 1) for c in features])
    return EditModel(G=G.eval(), segmenter=segmenter, source=source, folder=folder)
