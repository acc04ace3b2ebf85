"""What every procedural world shares: named parameters, part classes, and the drawing kit.

A world draws an RGB image and its exact part map from a vector of named, continuous
parameters. Rendering is batched in torch: every shape is a signed distance field over
a pixel grid, painted back to front; images are drawn `supersample` times larger and
box-downsampled (anti-aliasing), labels are downsampled by majority vote.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Parameter:
    """One named parameter of a world, uniform on [low, high] under the prior."""

    name: str
    low: float
    high: float
    doc: str

    @property
    def prior_std(self) -> float:
        return (self.high - self.low) / math.sqrt(12.0)

    @property
    def mid(self) -> float:
        return 0.5 * (self.low + self.high)


@dataclass(frozen=True)
class PartClass:
    """One class of the part map: its name and its colour in part-map PNGs."""

    name: str
    color: tuple[int, int, int]


class World:
    """Base class of a procedural world. Subclasses set the class attributes and `draw`."""

    name: str = ""
    parameters: tuple[Parameter, ...] = ()
    classes: tuple[PartClass, ...] = ()

    # ----- parameters -------------------------------------------------------------
    @property
    def num_params(self) -> int:
        return len(self.parameters)

    @property
    def param_names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def index(self, name: str) -> int:
        return self.param_names.index(name)

    def bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        low = torch.tensor([p.low for p in self.parameters])
        high = torch.tensor([p.high for p in self.parameters])
        return low, high

    def params_from_z(self, z: torch.Tensor) -> torch.Tensor:
        """Map z ~ N(0, I) to parameters through their uniform prior (inverse CDF).

        z has at least `num_params` columns; the first `num_params` are used.
        """
        if z.shape[-1] < self.num_params:
            raise ValueError(f"{self.name}: z needs at least {self.num_params} dims, got {z.shape[-1]}")
        u = 0.5 * (1.0 + torch.erf(z[:, : self.num_params].float() / math.sqrt(2.0)))
        low, high = self.bounds()
        return low + (high - low) * u

    def z_from_params(self, params: torch.Tensor) -> torch.Tensor:
        """Inverse of `params_from_z` (CDF then inverse normal CDF)."""
        low, high = self.bounds()
        u = ((params - low) / (high - low)).clamp(1e-6, 1 - 1e-6)
        return math.sqrt(2.0) * torch.erfinv(2.0 * u - 1.0)

    def sample_params(self, n: int, seed: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return self.params_from_z(torch.randn(n, self.num_params, generator=g))

    def default_params(self, n: int = 1) -> torch.Tensor:
        return torch.tensor([[p.mid for p in self.parameters]]).repeat(n, 1)

    # ----- rendering --------------------------------------------------------------
    def render(self, params: torch.Tensor, size: int, supersample: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw a batch: images (N, 3, size, size) in [-1, 1] and labels (N, size, size) int64."""
        if params.ndim != 2 or params.shape[1] != self.num_params:
            raise ValueError(f"{self.name}: params must be (N, {self.num_params}), got {tuple(params.shape)}")
        hi = size * supersample
        canvas = Canvas(params.shape[0], hi, len(self.classes))
        p = {name: params[:, i].float() for i, name in enumerate(self.param_names)}
        self.draw(canvas, p)
        rgb = canvas.rgb.clamp(0, 1)
        if supersample > 1:
            rgb = F.avg_pool2d(rgb, supersample)
            labels = _majority(canvas.labels, len(self.classes), supersample)
        else:
            labels = canvas.labels
        return rgb * 2 - 1, labels

    def draw(self, canvas: "Canvas", p: dict[str, torch.Tensor]) -> None:  # pragma: no cover
        raise NotImplementedError

    def palette(self) -> torch.Tensor:
        return torch.tensor([c.color for c in self.classes], dtype=torch.uint8)


# ----- the drawing kit ------------------------------------------------------------------
class Canvas:
    """RGB (N, 3, H, W) in [0, 1] and labels (N, H, W); coordinates x, y in [-1, 1], y down."""

    def __init__(self, n: int, size: int, num_classes: int):
        self.n, self.size = n, size
        c = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
        self.y, self.x = torch.meshgrid(c, c, indexing="ij")  # (H, W)
        self.row, self.column = c[None, :], c[:, None]  # x as (1, W), y as (H, 1): cheaper to broadcast
        self.pixel = 2.0 / size
        self.rgb = torch.zeros(n, 3, size, size)
        self.labels = torch.zeros(n, size, size, dtype=torch.long)

    def paint(self, mask: torch.Tensor, color: torch.Tensor, label: int | None) -> None:
        """Paint `color` ((N, 3) or (N, 3, H, W)) where `mask` (N, H, W, bool or [0, 1]) is set."""
        if color.ndim == 2:
            color = color[:, :, None, None]
        if mask.dtype == torch.bool:  # the blend below for a hard mask, in place and faster
            torch.where(mask.unsqueeze(1), color, self.rgb, out=self.rgb)
        else:
            m = mask.float().unsqueeze(1)
            self.rgb = self.rgb * (1 - m) + color * m
        if label is not None:
            self.labels.masked_fill_(mask if mask.dtype == torch.bool else mask > 0.5, label)


def col(v: torch.Tensor) -> torch.Tensor:
    """(N,) -> (N, 1, 1) so that a per-sample value broadcasts over the pixel grid."""
    return v[:, None, None]


def ellipse(canvas: Canvas, cx, cy, rx, ry, angle=None) -> torch.Tensor:
    """Inside-test of an ellipse per sample; all arguments (N,) tensors or floats."""
    x, y = canvas.row[None] - col(_t(cx, canvas)), canvas.column[None] - col(_t(cy, canvas))
    if angle is not None:
        a = col(_t(angle, canvas))
        x, y = x * torch.cos(a) + y * torch.sin(a), -x * torch.sin(a) + y * torch.cos(a)
    return (x / col(_t(rx, canvas))) ** 2 + (y / col(_t(ry, canvas))) ** 2 <= 1.0


def box(canvas: Canvas, x0, y0, x1, y1, radius=None) -> torch.Tensor:
    """Axis-aligned (optionally rounded) rectangle from (x0, y0) to (x1, y1)."""
    x0, y0, x1, y1 = (col(_t(v, canvas)) for v in (x0, y0, x1, y1))
    cx, cy, hx, hy = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0).abs() / 2, (y1 - y0).abs() / 2
    r = col(_t(radius, canvas)) if radius is not None else torch.zeros_like(hx)
    qx = (canvas.row[None] - cx).abs() - hx + r
    qy = (canvas.column[None] - cy).abs() - hy + r
    d = torch.sqrt(qx.clamp(min=0) ** 2 + qy.clamp(min=0) ** 2) + torch.minimum(torch.maximum(qx, qy), torch.zeros_like(qx)) - r
    return d <= 0


def convex(canvas: Canvas, points, radius=None) -> torch.Tensor:
    """Inside-test of a convex polygon through `points`, (x, y) pairs in order (either winding).

    Coordinates are (N,) tensors or floats. `radius` rounds the corners while the edges stay
    in place (as in `box`); corners much sharper than a right angle round only approximately.
    """
    pts = [(col(_t(px, canvas)), col(_t(py, canvas))) for px, py in points]
    edges = list(zip(pts, pts[1:] + pts[:1]))
    area = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in edges)
    sign = torch.where(area < 0, -1.0, 1.0)
    r = col(_t(radius, canvas)) if radius is not None else None
    x, y = canvas.row[None], canvas.column[None]
    outside, far = None, None
    for (x0, y0), (x1, y1) in edges:
        ex, ey = x1 - x0, y1 - y0
        norm = sign / torch.sqrt(ex**2 + ey**2).clamp(min=1e-9)
        d = (ey * norm) * (x - x0) - (ex * norm) * (y - y0)  # signed distance, > 0 outside
        if r is None:
            outside = d > 0 if outside is None else outside | (d > 0)
            continue
        d = d + r
        far = d if far is None else torch.maximum(far, d)
        sq = d.clamp(min=0) ** 2
        outside = sq if outside is None else outside + sq
    if r is None:
        return ~outside
    return torch.sqrt(outside) + far.clamp(max=0) - r <= 0


def shade(canvas: Canvas, base: torch.Tensor, light_x: torch.Tensor, strength: float = 0.25) -> torch.Tensor:
    """Per-pixel colour (N, 3, H, W): `base` (N, 3) lit from the side given by light_x in [-1, 1]."""
    ramp = 1.0 + strength * col(light_x) * canvas.row[None] - 0.1 * strength * canvas.column[None]
    return base[:, :, None, None] * ramp[:, None]


def mix(a, b, t: torch.Tensor) -> torch.Tensor:
    """Linear interpolation of colours a, b ((3,) or (N, 3)) by t (N,)."""
    a, b = torch.as_tensor(a, dtype=torch.float32), torch.as_tensor(b, dtype=torch.float32)
    return a + (b - a) * t[:, None]


def palette_lerp(stops, t: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear colour ramp through `stops` (K colours, 0-255) at t in [0, 1]: (N, 3) in [0, 1]."""
    stops = torch.tensor(stops, dtype=torch.float32) / 255.0
    k = stops.shape[0] - 1
    s = (t.clamp(0, 1) * k).clamp(max=k - 1e-6)
    i = s.floor().long()
    f = (s - i)[:, None]
    return stops[i] * (1 - f) + stops[i + 1] * f


def _majority(labels: torch.Tensor, num_classes: int, k: int) -> torch.Tensor:
    """Majority vote over k x k blocks (ties go to the lowest class), one class at a time
    (a one-hot tensor of the supersampled labels would be large and slow to allocate)."""
    best = torch.zeros(labels.shape[0], labels.shape[1] // k, labels.shape[2] // k, dtype=torch.long)
    best_votes = torch.full(best.shape, -1.0)
    for c in range(num_classes):
        votes = F.avg_pool2d((labels == c).float()[:, None], k)[:, 0]
        better = votes > best_votes
        best.masked_fill_(better, c)
        best_votes = torch.where(better, votes, best_votes)
    return best


def _t(v, canvas: Canvas) -> torch.Tensor:
    if isinstance(v, torch.Tensor):
        return v.float()
    return torch.full((canvas.n,), float(v))
