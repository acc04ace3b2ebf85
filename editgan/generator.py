"""The StyleGAN2 generator: a mapping network (z -> w) and a synthesis network (W+ -> image).

Same maths as StyleGAN2 (Karras et al., CVPR 2020) in its "skip" form, written from the
paper and checked against the outputs of rosinality's and NVIDIA's code (tests/fixtures):

- equalised learning rate: weights are stored raw and scaled by their gain in forward;
- modulated convolution: styles scale the input channels, demodulation rescales each
  output channel to unit expected norm (`modulated_conv2d`, two exact forms);
- upsampling: a stride-2 transposed convolution, then a [1, 3, 3, 1] blur;
- constant noise per layer (`noise_const` times a learned `noise_strength`): an image is
  a pure function of its W+, which is what editing in W+ needs.

A model is a folder: `config.json` (`GeneratorConfig`) + `model.safetensors`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

MODEL_TYPE = "editgan-stylegan2"
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
MODCONV_MODES = ("auto", "weights", "activations")
SQRT2 = math.sqrt(2.0)


# ----- config ----------------------------------------------------------------------------
@dataclass
class GeneratorConfig:
    resolution: int = 64
    z_dim: int = 256
    w_dim: int = 256
    mapping_layers: int = 4
    channels: tuple[int, ...] = (128, 128, 128, 64, 32)  # one width per resolution 4, 8, ..., resolution
    mapping_lr_mul: float = 0.01
    normalize_z: bool = True  # pixel-norm of z before the mapping layers
    conv_clamp: float | None = None  # clamp of conv/ToRGB outputs (NVIDIA's configs use 256)

    def __post_init__(self):
        self.channels = tuple(int(c) for c in self.channels)
        r = self.resolution
        if not isinstance(r, int) or r < 4 or r & (r - 1):
            raise ValueError(f"resolution must be a power of two >= 4, got {r!r}")
        if len(self.channels) != len(self.resolutions) or min(self.channels) < 1:
            raise ValueError(
                f"channels must give one positive width per resolution {list(self.resolutions)}, got {list(self.channels)}"
            )
        if self.z_dim < 1 or self.w_dim < 1 or self.mapping_layers < 1:
            raise ValueError("z_dim, w_dim and mapping_layers must be positive")
        if self.mapping_lr_mul <= 0 or (self.conv_clamp is not None and self.conv_clamp <= 0):
            raise ValueError("mapping_lr_mul and conv_clamp (when set) must be positive")

    @property
    def log2_resolution(self) -> int:
        return int(self.resolution).bit_length() - 1

    @property
    def num_ws(self) -> int:
        return 2 * self.log2_resolution - 2

    @property
    def resolutions(self) -> tuple[int, ...]:
        return tuple(2**i for i in range(2, self.log2_resolution + 1))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "GeneratorConfig":
        d = {k: v for k, v in d.items() if k != "model_type"}
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown generator config keys {unknown}")
        return cls(**d)


# ----- the maths -------------------------------------------------------------------------
def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Pixel norm: each row scaled to unit mean square."""
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + eps)


def bias_lrelu(x: torch.Tensor, bias: torch.Tensor | None = None, clamp: float | None = None) -> torch.Tensor:
    """(x + bias) -> leaky ReLU 0.2 -> times sqrt(2) -> optional clamp; bias is per channel (dim 1)."""
    if bias is not None:
        x = x + bias.reshape(1, -1, *([1] * (x.ndim - 2)))
    x = F.leaky_relu(x, 0.2) * SQRT2
    return x.clamp(-clamp, clamp) if clamp is not None else x


def blur_filter(channels: int, gain: float, like: torch.Tensor) -> torch.Tensor:
    """The separable [1, 3, 3, 1] filter (sum = gain) as a depthwise kernel (channels, 1, 4, 4), of like's dtype and device.

    Built once per (channels, gain, dtype, device) in eager mode: five small ops less per upsampling.
    """
    if torch.compiler.is_compiling():  # a constant of the compiled graph
        return make_blur_filter(channels, gain, like.dtype, like.device)
    return cached_blur_filter(channels, float(gain), like.dtype, like.device)


def make_blur_filter(channels: int, gain: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    f = torch.tensor([1.0, 3.0, 3.0, 1.0], device=device)
    f = torch.outer(f, f)
    f = f * (gain / f.sum())
    return f.to(dtype).expand(channels, 1, 4, 4)


@functools.lru_cache(maxsize=256)
def cached_blur_filter(channels: int, gain: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    with torch.inference_mode(False), torch.no_grad():  # a normal tensor, usable with autograd later
        return make_blur_filter(channels, gain, dtype, device)


def blur(x: torch.Tensor, pad: int, gain: float = 1.0) -> torch.Tensor:
    """Depthwise [1, 3, 3, 1] blur with `pad` zeros on every side (the filter is symmetric: no flip question).

    The zeros are the convolution's own padding: the same numbers as padding first, without the padded copy.
    """
    c = x.shape[1]
    return F.conv2d(x, blur_filter(c, gain, x), padding=pad, groups=c)


def upsample2d(x: torch.Tensor) -> torch.Tensor:
    """2x upsampling: zero insertion then the [1, 3, 3, 1] blur with gain 4, as one transposed conv.

    Equal to zero-stuffing, padding (2, 1) and a 4-tap filter: the transposed conv's full
    output is that result with one extra sample at each end, cropped by padding=1.
    """
    c = x.shape[1]
    return F.conv_transpose2d(x, blur_filter(c, 4.0, x), stride=2, padding=1, groups=c)


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    demodulate: bool = True,
    up: bool = False,
    mode: str = "auto",
) -> torch.Tensor:
    """StyleGAN2's modulated convolution.

    x (N, I, H, W), weight (O, I, k, k) with its gain already applied, styles (N, I) ->
    (N, O, H, W), or (N, O, 2H, 2W) with `up` (transposed conv stride 2, kernel not
    flipped, then the [1, 3, 3, 1] blur with gain 4 and one pixel of padding).

    Two exact forms of the same function:
    - "weights": each sample's kernel is modulated (and demodulated) and the batch runs as
      one grouped convolution (a plain convolution at batch 1);
    - "activations": x is scaled by the styles, one convolution is shared by the batch and
      its output is scaled by the demodulation coefficients
      rsqrt((weight**2 summed over the kernel) @ styles**2 + 1e-8).
    "auto" takes the weights form at batch 1 and the activations form above.
    """
    n, i = styles.shape
    o, wi, kh, kw = weight.shape
    if x.ndim != 4 or x.shape[:2] != (n, i) or wi != i:
        raise ValueError(f"modulated_conv2d: x {tuple(x.shape)}, weight {tuple(weight.shape)}, styles {tuple(styles.shape)} do not match")
    if mode == "auto":
        mode = "weights" if n == 1 else "activations"
    if mode == "weights":
        w = weight.unsqueeze(0) * styles.reshape(n, 1, i, 1, 1)  # (N, O, I, k, k)
        if demodulate:
            w = w * torch.rsqrt(w.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8)
        xg = x.reshape(1, n * i, *x.shape[2:])
        if up:
            y = F.conv_transpose2d(xg, w.transpose(1, 2).reshape(n * i, o, kh, kw), stride=2, groups=n)
        else:
            y = F.conv2d(xg, w.reshape(n * o, i, kh, kw), padding=kh // 2, groups=n)
        y = y.reshape(n, o, *y.shape[2:])
    elif mode == "activations":
        xs = x * styles.reshape(n, i, 1, 1)
        if up:
            y = F.conv_transpose2d(xs, weight.transpose(0, 1), stride=2)
        else:
            y = F.conv2d(xs, weight, padding=kh // 2)
        if demodulate:
            d = torch.rsqrt(styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8)  # (N, O)
            y = y * d.reshape(n, o, 1, 1)
    else:
        raise ValueError(f"modconv mode must be one of {MODCONV_MODES}, got {mode!r}")
    return blur(y, pad=1, gain=4.0) if up else y


# ----- layers ----------------------------------------------------------------------------
class FullyConnected(nn.Module):
    """Linear layer with equalised learning rate (and an optional lr multiplier)."""

    def __init__(self, in_features: int, out_features: int, bias_init: float = 0.0, lr_mul: float = 1.0, activation: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.weight_gain = lr_mul / math.sqrt(in_features)
        self.bias_gain = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activation:
            return bias_lrelu(F.linear(x, self.weight * self.weight_gain), self.bias * self.bias_gain)
        return F.linear(x, self.weight * self.weight_gain, self.bias * self.bias_gain)


class MappingNetwork(nn.Module):
    """z -> w: optional pixel norm, then `num_layers` leaky-ReLU FC layers; tracks w_avg in training."""

    w_avg_beta = 0.995

    def __init__(self, z_dim: int, w_dim: int, num_layers: int, lr_mul: float = 0.01, normalize_z: bool = True):
        super().__init__()
        self.num_layers, self.normalize_z = num_layers, normalize_z
        dims = [z_dim] + [w_dim] * num_layers
        for k in range(num_layers):
            self.add_module(f"fc{k}", FullyConnected(dims[k], dims[k + 1], lr_mul=lr_mul, activation=True))
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = normalize_2nd_moment(z) if self.normalize_z else z
        for k in range(self.num_layers):
            x = getattr(self, f"fc{k}")(x)
        if self.training:
            with torch.no_grad():
                self.w_avg.copy_(x.detach().float().mean(0).lerp(self.w_avg, self.w_avg_beta))
        return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally 2x up), constant noise, bias, leaky ReLU, optional clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, up: bool = False,
                 conv_clamp: float | None = None, kernel_size: int = 3):
        super().__init__()
        self.up, self.conv_clamp, self.modconv_mode = up, conv_clamp, "auto"
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = modulated_conv2d(x, self.weight * self.weight_gain, self.affine(w), up=self.up, mode=self.modconv_mode)
        x = x + self.noise_const * self.noise_strength
        return bias_lrelu(x, self.bias, self.conv_clamp)


class ToRGB(nn.Module):
    """Modulated 1x1 conv to RGB, no demodulation, bias, optional clamp."""

    def __init__(self, in_channels: int, w_dim: int, conv_clamp: float | None = None, out_channels: int = 3):
        super().__init__()
        self.conv_clamp, self.modconv_mode = conv_clamp, "auto"
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.weight_gain = 1.0 / math.sqrt(in_channels)
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = modulated_conv2d(x, self.weight * self.weight_gain, self.affine(w), demodulate=False, mode=self.modconv_mode)
        x = x + self.bias.reshape(1, -1, 1, 1)
        return x.clamp(-self.conv_clamp, self.conv_clamp) if self.conv_clamp is not None else x


class SynthesisBlock(nn.Module):
    """One resolution. The 4x4 block: learned const, conv1, torgb (ws[0], ws[1]); the others:
    conv0 (2x up), conv1, torgb (their 3 ws), the image upsampled and summed (skip architecture)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, conv_clamp: float | None = None):
        super().__init__()
        self.resolution = resolution
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, 4, 4))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=True, conv_clamp=conv_clamp)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp)
        self.torgb = ToRGB(out_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2

    def forward(self, x, img, ws: torch.Tensor, features: list | None = None):
        """ws: (N, num_conv + 1, w_dim) -> (x, img); appends each conv output to `features`."""
        convs = [self.conv1] if self.num_conv == 1 else [self.conv0, self.conv1]
        if self.num_conv == 1:
            x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        for k, conv in enumerate(convs):
            x = conv(x, ws[:, k])
            if features is not None:
                features.append(x)
        y = self.torgb(x, ws[:, self.num_conv])
        img = y if img is None else upsample2d(img) + y
        return x, img


class SynthesisNetwork(nn.Module):
    """W+ (N, num_ws, w_dim) -> image (N, 3, resolution, resolution)."""

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.num_ws, self.w_dim = config.num_ws, config.w_dim
        self.block_resolutions = config.resolutions
        for k, (res, ch) in enumerate(zip(config.resolutions, config.channels)):
            in_ch = 0 if k == 0 else config.channels[k - 1]
            self.add_module(f"b{res}", SynthesisBlock(in_ch, ch, config.w_dim, res, config.conv_clamp))

    def blocks(self) -> list[SynthesisBlock]:
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    @property
    def feature_channels(self) -> list[int]:
        """Channels of each conv output that `return_features` gives, low to high resolution."""
        return [b.conv1.weight.shape[0] for b in self.blocks() for _ in range(b.num_conv)]

    @property
    def feature_resolutions(self) -> list[int]:
        return [b.resolution for b in self.blocks() for _ in range(b.num_conv)]

    def forward(self, ws: torch.Tensor, return_features: bool = False):
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"synthesis takes W+ of shape (N, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}")
        x = img = None
        features: list[torch.Tensor] | None = [] if return_features else None
        start = 0
        for block in self.blocks():
            x, img = block(x, img, ws[:, start : start + block.num_conv + 1], features)
            start += block.num_conv
        img = img.float()
        return (img, features) if return_features else img


# ----- the generator ---------------------------------------------------------------------
class Generator(nn.Module):
    """z -> mapping -> w (-> truncation) -> W+ -> synthesis -> image in about [-1, 1]."""

    def __init__(self, config: GeneratorConfig | None = None):
        super().__init__()
        self.config = config = config or GeneratorConfig()
        self.mapping = MappingNetwork(config.z_dim, config.w_dim, config.mapping_layers, config.mapping_lr_mul, config.normalize_z)
        self.synthesis = SynthesisNetwork(config)

    @property
    def z_dim(self) -> int:
        return self.config.z_dim

    @property
    def w_dim(self) -> int:
        return self.config.w_dim

    @property
    def num_ws(self) -> int:
        return self.config.num_ws

    @property
    def resolution(self) -> int:
        return self.config.resolution

    def mean_w(self) -> torch.Tensor:
        return self.mapping.w_avg

    def truncate(self, w: torch.Tensor, psi: float) -> torch.Tensor:
        """w_avg + psi * (w - w_avg): psi=1 leaves w alone, psi=0 gives the mean."""
        if psi == 1:
            return w
        w_avg = self.mapping.w_avg.to(w.dtype)
        return w_avg + psi * (w - w_avg)

    def w_plus(self, w: torch.Tensor) -> torch.Tensor:
        """(N, w_dim) -> (N, num_ws, w_dim), the same w for every layer."""
        return w.unsqueeze(1).repeat(1, self.num_ws, 1)

    @torch.no_grad()
    def w_plus_from_seeds(self, seeds, truncation: float = 1.0) -> torch.Tensor:
        """W+ codes (N, num_ws, w_dim) of seeds, mapped in one batch: each z drawn on the CPU from its own
        seed (the same on every device), truncated."""
        z = torch.cat([torch.randn(1, self.z_dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds])
        z = z.to(self.mapping.w_avg.device)
        return self.w_plus(self.truncate(self.mapping(z), float(truncation)))

    def w_plus_from_seed(self, seed: int, truncation: float = 1.0) -> torch.Tensor:
        """The W+ code (num_ws, w_dim) of one seed (`w_plus_from_seeds` of a batch of one)."""
        return self.w_plus_from_seeds([seed], truncation)[0]

    def forward(self, z: torch.Tensor, truncation: float = 1.0, return_features: bool = False):
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be (N, {self.z_dim}), got {tuple(z.shape)}")
        w = self.truncate(self.mapping(z), truncation)
        return self.synthesis(self.w_plus(w), return_features=return_features)

    def set_modconv_mode(self, mode: str) -> "Generator":
        """Force one form of the modulated convolution ("weights", "activations") or "auto"."""
        if mode not in MODCONV_MODES:
            raise ValueError(f"modconv mode must be one of {MODCONV_MODES}, got {mode!r}")
        for m in self.modules():
            if isinstance(m, (SynthesisLayer, ToRGB)):
                m.modconv_mode = mode
        return self

    def fingerprint(self) -> str:
        return model_fingerprint(self)

    # ----- folders -------------------------------------------------------------------
    def save_pretrained(self, folder: str | Path) -> Path:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        config = {"model_type": MODEL_TYPE, **self.config.to_dict()}
        (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(folder / WEIGHTS_NAME), metadata={"format": "pt", "fingerprint": model_fingerprint(self)})
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "Generator":
        """A local editgan folder (config.json + model.safetensors).

        For a Hugging Face Hub repo id (or any other source) use `editgan.load_generator`,
        which downloads the folder first: this class never talks to the Hub.
        """
        folder = Path(folder).expanduser()
        if not folder.exists():
            raise FileNotFoundError(f"no generator folder at {folder} (for a Hub repo id use editgan.load_generator)")
        if not folder.is_dir():
            raise NotADirectoryError(f"{folder} is a file; a generator is a folder with {CONFIG_NAME} and {WEIGHTS_NAME}")
        config_path, weights_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
        if not config_path.is_file():
            raise FileNotFoundError(f"no {CONFIG_NAME} in {folder}: not an editgan generator folder ({CONFIG_NAME} + {WEIGHTS_NAME})")
        if not weights_path.is_file():
            raise FileNotFoundError(f"no {WEIGHTS_NAME} in {folder} (it has {CONFIG_NAME}): the generator's weights are missing")
        try:
            d = json.loads(config_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{config_path} is not valid JSON: {e}") from None
        if not isinstance(d, dict) or d.get("model_type") != MODEL_TYPE:
            found = d.get("model_type") if isinstance(d, dict) else type(d).__name__
            raise ValueError(f"{config_path} is not an editgan generator config (model_type {found!r}, expected {MODEL_TYPE!r})")
        try:
            config = GeneratorConfig.from_dict(d)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{config_path}: {e}") from None
        from safetensors.torch import load_file

        try:
            state = load_file(str(weights_path))
        except Exception as e:  # safetensors raises its own error types for corrupt files
            raise ValueError(f"{weights_path} could not be read (corrupt or not safetensors): {e}") from None
        G = cls(config)
        try:
            G.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise ValueError(f"{weights_path} does not match {config_path}: {e}") from None
        return G.eval()


def model_fingerprint(module: nn.Module) -> str:
    """16 hex chars of sha256 over the state dict (sorted by name; name, shape, float32 bytes).

    Stable across save/load, conversion and memory format; changes when any weight does.
    """
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().to("cpu", torch.float32).contiguous()
        h.update(name.encode())
        h.update(repr(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:16]
