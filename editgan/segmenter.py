"""The segmentation branch: an ensemble of per-pixel MLPs on the generator's feature maps.

As in EditGAN / DatasetGAN, every synthesis conv output is upsampled to the image
resolution and concatenated, and each pixel's feature vector goes through small MLPs
(Linear-ReLU-BatchNorm, 128 then 32 hidden units); the ensemble's logits are averaged.

Done without the memory bill: the first layer is linear and per-pixel, and bilinear
upsampling is linear and per-channel, so they commute. Each feature map is projected to
128 channels at its own resolution and only the projections are upsampled and summed:
the same logits as concatenating (6016 x 512 x 512 floats, 5.9 GiB, for a 512-px
StyleGAN2) while holding 128 channels at a time. Training samples pixels (bilinear
sampling of the projections at the pixel centres) instead of materialising every pixel.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

CONFIG_NAME = "segmenter.json"
WEIGHTS_NAME = "segmenter.safetensors"


@dataclass
class SegmenterConfig:
    feature_channels: tuple[int, ...]
    resolution: int
    class_names: tuple[str, ...]
    class_colors: tuple[tuple[int, int, int], ...]
    num_members: int = 10
    hidden: tuple[int, int] = (128, 32)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "SegmenterConfig":
        return cls(
            feature_channels=tuple(d["feature_channels"]),
            resolution=int(d["resolution"]),
            class_names=tuple(d["class_names"]),
            class_colors=tuple(tuple(int(v) for v in c) for c in d["class_colors"]),
            num_members=int(d.get("num_members", 10)),
            hidden=tuple(d.get("hidden", (128, 32))),
        )


class SegmenterError(ValueError):
    """A segmentation branch that cannot be used (wrong files, wrong generator, bad labels)."""


# ----- the maths: sampling and upsampling of per-layer projections -------------------------
def pixel_grid(coords: torch.Tensor, resolution: int) -> torch.Tensor:
    """Integer pixel coords (N, P, 2) as (row, col) -> grid_sample grid (N, P, 1, 2) at pixel centres."""
    xy = (coords.flip(-1).float() + 0.5) / resolution * 2 - 1
    return xy.unsqueeze(2)


def sample_at(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Bilinear values of x (N, C, h, w) at grid (N, P, 1, 2) -> (N, P, C).

    Equal to F.interpolate(x, size=resolution, mode="bilinear") read at those pixels.
    """
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)[..., 0].transpose(1, 2)


def project(feature: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """A feature map (N, C, h, w) through a linear map weight (O, C), per pixel -> (N, O, h, w), channels_last."""
    n, _, h, w = feature.shape
    p = feature.flatten(2).transpose(1, 2) @ weight.t()  # (N, h*w, O): a matmul, not a 1x1 conv
    # a channels_last view: bilinear upsampling takes its fast path and a per-pixel
    # reshape is a view, not a copy (3-5x faster, same numbers)
    return p.reshape(n, h, w, -1).permute(0, 3, 1, 2)


def interpolation_matrix(coords: torch.Tensor, size: int, resolution: int) -> torch.Tensor:
    """Bilinear upsampling of a size x size map to `resolution`, read at integer pixel coords (P, 2) (row, col),
    as a sparse CSR matrix S (P, size * size) with four entries a row: S @ map (size * size, C) equals `sample_at`
    at those pixels (pixel centres, align_corners=False, border padding).

    For pixels that stay fixed while the maps change (an edit), S is built once; its product and the product's
    backward (S^T @ grad) are several times faster than `grid_sample` and its backward.
    """
    src = ((coords.double() + 0.5) * size / resolution - 0.5).clamp(0, size - 1)  # border: coordinates clamped
    lo = src.floor().long()
    hi = (lo + 1).clamp(max=size - 1)
    frac = (src - lo).float()
    rows, cols, vals = [], [], []
    p = torch.arange(len(coords), device=coords.device)
    for r_idx, r_w in ((lo[:, 0], 1 - frac[:, 0]), (hi[:, 0], frac[:, 0])):
        for c_idx, c_w in ((lo[:, 1], 1 - frac[:, 1]), (hi[:, 1], frac[:, 1])):
            rows.append(p)
            cols.append(r_idx * size + c_idx)
            vals.append(r_w * c_w)
    with warnings.catch_warnings():  # torch calls its sparse CSR support "beta"
        warnings.simplefilter("ignore", UserWarning)
        coo = torch.sparse_coo_tensor(torch.stack([torch.cat(rows), torch.cat(cols)]), torch.cat(vals), (len(coords), size * size))
        return coo.coalesce().to_sparse_csr()


def sampling_matrices(coords: torch.Tensor, resolution: int, sizes) -> dict[int, torch.Tensor]:
    """`interpolation_matrix` of fixed pixel coords (P, 2) for every map size: {size: S}."""
    return {int(size): interpolation_matrix(coords, int(size), resolution) for size in sorted(set(sizes))}


def upsample(x: torch.Tensor, resolution: int) -> torch.Tensor:
    if x.shape[-1] == resolution:
        return x
    return F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)


# ----- the model ---------------------------------------------------------------------------
class PixelMLP(nn.Module):
    """One ensemble member. The first layer is split into one projection per feature map."""

    def __init__(self, feature_channels: Sequence[int], hidden: tuple[int, int], num_classes: int):
        super().__init__()
        h1, h2 = hidden
        self.split = list(feature_channels)
        self.first = nn.Linear(sum(feature_channels), h1)
        self.rest = nn.Sequential(nn.ReLU(), nn.BatchNorm1d(h1), nn.Linear(h1, h2), nn.ReLU(), nn.BatchNorm1d(h2), nn.Linear(h2, num_classes))

    def project(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Each feature map (N, C_i, h, w) -> its share of the first layer (N, h1, h, w)."""
        return [project(f, w) for f, w in zip(features, self.first.weight.split(self.split, dim=1))]

    def hidden(self, features: Sequence[torch.Tensor], resolution: int) -> torch.Tensor:
        """The first layer's output at every pixel (N, h1, R, R), channels_last.

        One map is projected and upsampled at a time. Without autograd they are added in
        place: the peak holds the sum and one upsampled projection. With autograd, out of
        place (in-place adds would make the backward copy every slice of the gradient).
        Same additions in the same order either way.
        """
        maps = list(zip(features, self.first.weight.split(self.split, dim=1)))
        bias = self.first.bias[:, None, None]
        if torch.is_grad_enabled():
            return sum(upsample(project(f, w), resolution) for f, w in maps) + bias
        n, h1 = features[0].shape[0], self.first.out_features
        h = torch.zeros(n, resolution, resolution, h1, dtype=self.first.weight.dtype, device=features[0].device)
        h = h.permute(0, 3, 1, 2)
        for f, w in maps:
            h += upsample(project(f, w), resolution)  # the upsampled projection is freed at once
        return h.add_(bias)

    def rest_by_rows(self, hidden: torch.Tensor, rows: int = 32) -> torch.Tensor:
        """The layers after the first on a hidden map (N, h1, R, R) -> logits (N, R, R, K), `rows` image rows at a time.

        Each pixel's logits depend on its hidden vector alone (batch norm in eval mode),
        so the chunks give the same numbers while holding a chunk's activations, not the map's.
        In training mode batch norm reads the whole batch: one chunk.
        """
        n, c, r, _ = hidden.shape
        rows = n * r if self.training else rows
        flat = hidden.permute(0, 2, 3, 1).reshape(n * r, r * c)  # a view: channels_last
        out = [self.rest(part.reshape(-1, c)) for part in flat.split(rows, dim=0)]
        return torch.cat(out).reshape(n, r, r, -1)

    def logits_at(self, features: Sequence[torch.Tensor], grid: torch.Tensor) -> torch.Tensor:
        """Logits (N, P, K) at the pixels of `grid` (N, P, 1, 2), from the sampled feature maps (training)."""
        return self.logits_of(torch.cat([sample_at(f, grid) for f in features], -1))

    def logits_of(self, pixel_features: torch.Tensor) -> torch.Tensor:
        """Logits (N, P, K) of pixels' concatenated feature vectors (N, P, sum C_i)."""
        h = self.first(pixel_features)
        n, p, c = h.shape
        return self.rest(h.reshape(n * p, c)).reshape(n, p, -1)

    def logits(self, features: Sequence[torch.Tensor], resolution: int) -> torch.Tensor:
        """Logits (N, K, R, R) of every pixel, holding one member's hidden map at a time."""
        return self.rest_by_rows(self.hidden(features, resolution)).permute(0, 3, 1, 2)


class Segmenter(nn.Module):
    def __init__(self, config: SegmenterConfig):
        super().__init__()
        self.config = config
        self.members = nn.ModuleList(
            PixelMLP(config.feature_channels, config.hidden, config.num_classes) for _ in range(config.num_members)
        )

    @property
    def class_names(self) -> list[str]:
        return list(self.config.class_names)

    @property
    def palette(self) -> torch.Tensor:
        return torch.tensor(self.config.class_colors, dtype=torch.uint8)

    def check_features(self, features: Sequence[torch.Tensor]) -> None:
        got = [int(f.shape[1]) for f in features]
        if got != list(self.config.feature_channels):
            raise SegmenterError(
                f"this segmentation branch reads feature maps with channels {list(self.config.feature_channels)}, "
                f"but the generator gave {got}: it was trained for another generator"
            )

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """Mean logits of the ensemble (N, K, R, R), one member's hidden map at a time."""
        self.check_features(features)
        total = None
        for m in self.members:
            out = m.logits(features, self.config.resolution)
            total = out if total is None else total + out
        return total / len(self.members)

    def logits_at(self, features: Sequence[torch.Tensor], coords: torch.Tensor,
                  matrices: dict[int, torch.Tensor] | None = None) -> torch.Tensor:
        """Mean logits (N, P, K) of the ensemble at integer pixel coords (N, P, 2) as (row, col).

        Equal to `self(features)` read at those pixels, at the cost of P pixels of the MLPs
        (and of the projections of maps with fewer than P pixels) instead of every pixel.
        `matrices`: `sampling_matrices` of these coords (N = 1), built once for pixels that do
        not change (an edit's steps): the same numbers, sampled by sparse products.
        """
        self.check_features(features)
        if matrices is not None:
            hidden = self.first_layers_by_matrices(features, matrices, coords.shape[1])
        else:
            hidden = self.first_layers_at(features, pixel_grid(coords, self.config.resolution))
        n, p, _ = hidden.shape
        h1 = self.config.hidden[0]
        total = None
        for m, h in zip(self.members, hidden.split(h1, dim=-1)):
            out = m.rest(h.reshape(n * p, h1))
            total = out if total is None else total + out
        return (total / len(self.members)).reshape(n, p, -1)

    def first_layers_at(self, features: Sequence[torch.Tensor], grid: torch.Tensor) -> torch.Tensor:
        """Every member's first layer (N, P, members * h1) at the pixels of `grid` (N, P, 1, 2).

        Projection and bilinear sampling are both linear, so each map takes the cheaper
        order: projected at its own resolution then sampled when it has no more pixels
        than P, else sampled then projected. The members' first layers run as one matmul.
        """
        weight = torch.cat([m.first.weight for m in self.members])  # (members * h1, C)
        bias = torch.cat([m.first.bias for m in self.members])
        points = grid.shape[1]
        h = None
        for f, w in zip(features, weight.split(list(self.config.feature_channels), dim=1)):
            if f.shape[-2] * f.shape[-1] <= points:
                part = sample_at(project(f, w), grid)
            else:
                part = sample_at(f, grid) @ w.t()
            h = part if h is None else h + part
        return h + bias

    def first_layers_by_matrices(self, features: Sequence[torch.Tensor], matrices: dict[int, torch.Tensor], points: int) -> torch.Tensor:
        """`first_layers_at` of one example (N = 1) with each map's sampling as a sparse product S @ map."""
        if features[0].shape[0] != 1:
            raise SegmenterError("sampling matrices are for one example at a time (N = 1)")
        weight = torch.cat([m.first.weight for m in self.members])
        bias = torch.cat([m.first.bias for m in self.members])
        h = None
        for f, w in zip(features, weight.split(list(self.config.feature_channels), dim=1)):
            flat = f[0].flatten(1).t()  # (pixels of the map, C)
            s = matrices[f.shape[-1]]
            part = s @ (flat @ w.t()) if flat.shape[0] <= points else (s @ flat.contiguous()) @ w.t()
            h = part if h is None else h + part
        return (h + bias)[None]

    @torch.no_grad()
    def predict(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        return self(features).argmax(1)

    def logits_concatenated(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """The release's way (upsample every map, concatenate, MLP): for tests and benchmarks."""
        r = self.config.resolution
        x = torch.cat([upsample(f, r) for f in features], 1)
        n = x.shape[0]
        flat = x.permute(0, 2, 3, 1).reshape(-1, x.shape[1])
        outs = [m.rest(m.first(flat)) for m in self.members]
        return (sum(outs) / len(outs)).reshape(n, r, r, -1).permute(0, 3, 1, 2)

    # ----- files -----------------------------------------------------------------------
    def save_pretrained(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CONFIG_NAME).write_text(json.dumps(self.config.to_dict(), indent=2))
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(folder / WEIGHTS_NAME))

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "Segmenter":
        folder = Path(folder)
        for name in (CONFIG_NAME, WEIGHTS_NAME):
            if not (folder / name).is_file():
                raise SegmenterError(f"no segmentation branch in {folder}: {name} is missing")
        try:
            config = SegmenterConfig.from_dict(json.loads((folder / CONFIG_NAME).read_text()))
            model = cls(config)
            model.load_state_dict(load_file(str(folder / WEIGHTS_NAME)))
        except (KeyError, ValueError, RuntimeError, OSError) as e:
            raise SegmenterError(f"cannot read the segmentation branch in {folder}: {e}") from e
        return model.eval()


# ----- training -------------------------------------------------------------------------------
@dataclass
class SegmenterTrainConfig:
    steps: int = 600
    pixels_per_example: int = 256
    lr: float = 1e-3
    balance: float = 0.5  # sample pixels with probability ~ class_frequency ** -balance (0: uniform)
    seed: int = 0
    # every example's whole feature maps above this many MiB (16 examples of a 1024-px StyleGAN2: 8.2 GiB):
    # keep a pool of `pool_pixels` class-balanced pixels per example instead, drawn once, one example at a time
    max_feature_mb: float = 1024.0
    pool_pixels: int = 4096


@dataclass
class SegmenterTrainResult:
    segmenter: Segmenter
    losses: list[float] = field(default_factory=list)


def feature_mb(G, examples: int) -> float:
    """MiB of every example's whole feature maps in float32 (what training without a pixel pool holds)."""
    per = sum(c * r * r for c, r in zip(G.synthesis.feature_channels, G.synthesis.feature_resolutions))
    return per * examples * 4 / 2**20


@torch.no_grad()
def pixel_pool(G, w_plus: torch.Tensor, labels, num_classes: int, config: SegmenterTrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed pool of class-balanced pixels per example: their feature vectors (N, P, sum C_i) and labels (N, P).

    One example's feature maps at a time, so memory holds one example's maps plus the pool.
    `labels` is (N, R, R), or a function of one generated image (1, 3, R, R) -> its part map
    (R, R) (an automatic labeller), applied in the same pass. Pixels are drawn with each
    example's own class balance (`pixel_sampling_weights` of that example), with replacement.
    """
    r = G.resolution
    gen = torch.Generator().manual_seed(config.seed)
    feats, targets = [], []
    for i in range(len(w_plus)):
        image, maps = G.synthesis(w_plus[i : i + 1], return_features=True)
        lab = (labels(image) if callable(labels) else labels[i]).reshape(1, r, r).long()
        weights = pixel_sampling_weights(lab, num_classes, config.balance)
        idx = torch.multinomial(weights, config.pool_pixels, replacement=True, generator=gen)  # (1, P)
        grid = pixel_grid(torch.stack([idx // r, idx % r], -1), r)
        feats.append(torch.cat([sample_at(f, grid) for f in maps], -1))
        targets.append(lab.flatten(1).gather(1, idx))
        del image, maps
    return torch.cat(feats), torch.cat(targets)


@torch.no_grad()
def generator_features(G, w_plus: torch.Tensor, batch: int = 8) -> list[torch.Tensor]:
    """Feature maps for a batch of W+ codes, computed in chunks and written into their place (the peak holds
    the result and one chunk's maps, not every chunk and their concatenation)."""
    out: list[torch.Tensor] = []
    for i in range(0, len(w_plus), batch):
        maps = G.synthesis(w_plus[i : i + batch], return_features=True)[1]
        if not out:
            out = [torch.empty((len(w_plus), *f.shape[1:]), dtype=f.dtype, device=f.device) for f in maps]
        for o, f in zip(out, maps):
            o[i : i + len(f)] = f
        del maps
    return out


def pixel_sampling_weights(labels: torch.Tensor, num_classes: int, balance: float) -> torch.Tensor:
    """Per-pixel sampling weights (N, R*R) that favour rare classes."""
    counts = torch.bincount(labels.flatten(), minlength=num_classes).float().clamp(min=1)
    return (counts ** -balance)[labels].flatten(1)


def train_segmenter(
    G,
    w_plus: torch.Tensor,
    labels: torch.Tensor,
    class_names: Sequence[str],
    class_colors: Sequence[Sequence[int]],
    config: SegmenterTrainConfig | None = None,
    num_members: int = 10,
    progress: Callable[[int, int, float], None] | None = None,
) -> SegmenterTrainResult:
    """Train the ensemble from N labelled examples: w_plus (N, num_ws, w_dim), labels (N, R, R).

    `labels` may also be a function of a generated image (1, 3, R, R) -> part map (R, R).
    When every example's whole feature maps would take more than `config.max_feature_mb`
    (or labels is a function), training reads a pixel pool (`pixel_pool`) instead of the maps.
    """
    config = config or SegmenterTrainConfig()
    r = G.resolution
    if w_plus.ndim != 3 or w_plus.shape[1:] != (G.num_ws, G.w_dim):
        raise SegmenterError(f"w_plus must be (N, {G.num_ws}, {G.w_dim}), got {tuple(w_plus.shape)}")
    if not callable(labels):
        if labels.shape != (len(w_plus), r, r):
            raise SegmenterError(f"labels must be (N, {r}, {r}) to match the generator, got {tuple(labels.shape)}")
        if labels.min() < 0 or labels.max() >= len(class_names):
            raise SegmenterError(f"labels must lie in [0, {len(class_names) - 1}]")
    torch.manual_seed(config.seed)
    pooled = callable(labels) or feature_mb(G, len(w_plus)) > config.max_feature_mb
    if pooled:
        pool, pool_labels = pixel_pool(G, w_plus, labels, len(class_names), config)
        if pool_labels.min() < 0 or pool_labels.max() >= len(class_names):
            raise SegmenterError(f"labels must lie in [0, {len(class_names) - 1}]")
        features = None
    else:
        features = generator_features(G, w_plus)
    seg = Segmenter(
        SegmenterConfig(
            feature_channels=tuple(G.synthesis.feature_channels),
            resolution=r,
            class_names=tuple(class_names),
            class_colors=tuple(tuple(int(v) for v in c) for c in class_colors),
            num_members=num_members,
        )
    ).train()
    opt = torch.optim.Adam(seg.parameters(), lr=config.lr)
    if not pooled:
        weights = pixel_sampling_weights(labels, len(class_names), config.balance)
        flat_labels = labels.flatten(1)
    losses = []
    for step in range(config.steps):
        loss = 0.0
        for member in seg.members:
            if pooled:  # the pool is class-balanced already: uniform draws from it
                idx = torch.randint(pool.shape[1], (len(pool), config.pixels_per_example))
                target = pool_labels.gather(1, idx)
                logits = member.logits_of(pool.gather(1, idx[..., None].expand(-1, -1, pool.shape[-1])))
            else:
                idx = torch.multinomial(weights, config.pixels_per_example, replacement=True)  # (N, P)
                coords = torch.stack([idx // r, idx % r], -1)
                target = flat_labels.gather(1, idx)
                logits = member.logits_at(features, pixel_grid(coords, r))
            loss = loss + F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()) / len(seg.members))
        if progress:
            progress(step + 1, config.steps, losses[-1])
    return SegmenterTrainResult(seg.eval(), losses)


def mean_iou(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> tuple[float, list[float | None]]:
    """Mean IoU over the classes present in target or prediction; per-class IoU (None if absent)."""
    per = []
    for k in range(num_classes):
        p, t = pred == k, target == k
        union = (p | t).sum().item()
        per.append((p & t).sum().item() / union if union else None)
    present = [v for v in per if v is not None]
    return (sum(present) / len(present) if present else 0.0), per
