"""Loading models from anywhere, and the editable model the app and CLI use.

This is the one place that turns a *source* into local files: a shipped domain name
("faces"), a folder, a checkpoint file, or a Hugging Face Hub repo id (downloaded through
`editgan.hub`). `editgan.checkpoints` then reads local files only, and the generator
never imports the Hub.

A model folder holds the generator (`config.json`, `model.safetensors`), optionally its
segmentation branch (`segmenter.json`, `segmenter.safetensors`) and a model card. The
shipped default models live in `weights/<domain>/`, their edit vectors in `vectors/<domain>/`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoints import EXPECTED, CheckpointError, looks_like_repo_id, read_generator
from .encoder import Encoder, EncoderError, has_encoder
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


def local_path(source: str | Path, revision: str | None = None) -> Path:
    """Where a source's files are on disk: shipped name -> weights/<name>, a path as is,
    a Hub repo id -> its snapshot in the Hub cache (downloaded if needed)."""
    s = resolve(str(source))
    path = Path(s).expanduser()
    if path.exists():
        return path
    if looks_like_repo_id(s):
        from .hub import download_model

        return Path(download_model(s, revision=revision))
    raise CheckpointError(f"{s}: no such file or folder, and not a Hub repo id; expected {EXPECTED}")


def load_generator(source: str | Path, revision: str | None = None) -> Generator:
    """Any source (shipped name, editgan folder, .pt/.pth, .pkl, Hub repo id) -> our Generator, in eval mode."""
    return read_generator(local_path(source, revision))


def convert_checkpoint(src: str | Path, dst_folder: str | Path, revision: str | None = None) -> Path:
    """Any source -> an editgan folder (config.json + model.safetensors)."""
    return load_generator(src, revision=revision).save_pretrained(dst_folder)



@dataclass
class EditModel:
    G: Generator
    segmenter: Segmenter | None
    source: str
    folder: Path | None = None  # local folder the model came from, if any
    encoder: Encoder | None = None  # image -> W+ (embedding starts from its guess), when the folder has one

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
    def render(self, w_plus: torch.Tensor, G: Generator | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Image (3, R, R) and part map (R, R) (None without a branch) of one W+ code.

        `G`: another generator of the same shape to draw with (a photo's pivotally tuned copy)."""
        G = G or self.G
        image, features = G.synthesis(w_plus.reshape(1, G.num_ws, G.w_dim), return_features=True)
        labels = self.segmenter(features).argmax(1)[0] if self.segmenter else None
        return image[0], labels


def load_model(source: str, revision: str | None = None) -> EditModel:
    """A shipped domain name, a model folder, a checkpoint file or a Hub repo id -> EditModel."""
    path = local_path(source, revision)
    G = read_generator(path)
    folder = path.resolve() if path.is_dir() else None
    segmenter = Segmenter.from_pretrained(folder) if folder and (folder / SEGMENTER_CONFIG).is_file() else None
    if segmenter is not None:
        features = G.synthesis.feature_channels
        if list(features) != list(segmenter.config.feature_channels):
            segmenter.check_features([torch.zeros(1, c, 1, 1) for c in features])
    encoder = None
    if has_encoder(folder):  # an encoder that does not fit is left out: embedding then starts from the mean
        try:
            encoder = Encoder.from_pretrained(folder)
            encoder.check_generator(G)
        except EncoderError as e:
            warnings.warn(f"{folder}: encoder not used: {e}")
            encoder = None
    return EditModel(G=G.eval(), segmenter=segmenter, source=source, folder=folder, encoder=encoder)
