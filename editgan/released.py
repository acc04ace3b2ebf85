"""The architectures of the released StyleGAN2 generators, with random weights, written in their own file formats.

What users bring to an EditGAN tool is NVIDIA's FFHQ 1024 (config-f), StyleGAN2-ADA's
paper256 / paper512 models, or a rosinality `stylegan2-pytorch` checkpoint (EditGAN's own
car model: 512 px, its images cropped to 512 x 384). This module builds generators with
exactly those shapes (random weights, nothing downloaded) and writes them as

- a rosinality checkpoint: `torch.save({"g_ema": state_dict, "latent_avg": ...})` with
  rosinality's key names (`style.N`, `input.input`, `conv1`, `convs.N`, `to_rgbs.N`,
  `noises.noise_N`, the blur kernels);
- an NVIDIA network pickle: `{"G_ema": ..., "G": None, ...}` where every network is a
  `torch_utils.persistence._reconstruct_persistent_obj` call on its pickled state
  (`_parameters`, `_buffers`, `_modules`, its attributes), as the fixtures in
  `tests/fixtures/` were made by NVIDIA's code; the class source is a one-line stub.

so that the loaders, their config inference and the restricted unpickler run at full size.
The widths follow both codebases' rule, `min(channel_max, channel_base // resolution)`
(rosinality's table is that rule with `channel_base = 16384 * channel_multiplier`).
"""

from __future__ import annotations

import math
import pickle
import types
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .generator import Generator, GeneratorConfig

ROSINALITY, NVLABS = "rosinality", "nvlabs"
ROSINALITY_CHANNEL_BASE = 16384  # times rosinality's channel_multiplier
STUB_SOURCE = "# editgan: random weights in the stylegan2-ada-pytorch pickle format; no source code included.\n"
BLUR_TAPS = (1.0, 3.0, 3.0, 1.0)


@dataclass(frozen=True)
class ReleasedArch:
    """One released generator's architecture (shapes and the settings shapes do not show)."""

    name: str
    file_format: str  # ROSINALITY (.pt) or NVLABS (.pkl)
    resolution: int
    channel_base: int = 32768
    channel_max: int = 512
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    conv_clamp: float | None = None  # NVIDIA's ADA-trained configs clamp at 256
    num_fp16_res: int = 0  # NVIDIA's top blocks in fp16 on a GPU (a pickled flag; fp32 on a CPU)
    crop: tuple[int, int] | None = None  # (height, width) shown to the user, centred (the car model)
    about: str = ""

    @property
    def suffix(self) -> str:
        return ".pt" if self.file_format == ROSINALITY else ".pkl"

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) of the image the user sees."""
        return self.crop or (self.resolution, self.resolution)

    def generator_config(self) -> GeneratorConfig:
        resolutions = [2**i for i in range(2, int(self.resolution).bit_length())]
        return GeneratorConfig(resolution=self.resolution, z_dim=self.z_dim, w_dim=self.w_dim, mapping_layers=self.mapping_layers,
                               channels=channel_widths(resolutions, self.channel_base, self.channel_max),
                               mapping_lr_mul=0.01, normalize_z=True, conv_clamp=self.conv_clamp)


def channel_widths(resolutions, channel_base: int, channel_max: int) -> tuple[int, ...]:
    """StyleGAN2's width rule: min(channel_max, channel_base // resolution) at each resolution."""
    return tuple(min(channel_max, channel_base // r) for r in resolutions)


def _rosinality(size: int, multiplier: int = 2, **kw) -> ReleasedArch:
    return ReleasedArch(name=kw.pop("name", f"rosinality-{size}"), file_format=ROSINALITY, resolution=size,
                        channel_base=ROSINALITY_CHANNEL_BASE * multiplier, **kw)


ARCHS: dict[str, ReleasedArch] = {a.name: a for a in (
    ReleasedArch("nvlabs-config-f-1024", NVLABS, 1024, about="NVIDIA's StyleGAN2 FFHQ 1024 (config-f), as stylegan2-ada-pytorch pickles it"),
    ReleasedArch("nvlabs-paper256", NVLABS, 256, channel_base=16384, conv_clamp=256, num_fp16_res=4,
                 about="StyleGAN2-ADA paper256 (e.g. FFHQ 256)"),
    ReleasedArch("nvlabs-paper512", NVLABS, 512, conv_clamp=256, num_fp16_res=4, about="StyleGAN2-ADA paper512 (e.g. AFHQ 512)"),
    _rosinality(256, about="rosinality stylegan2-pytorch, size 256, channel_multiplier 2"),
    _rosinality(512, about="rosinality stylegan2-pytorch, size 512, channel_multiplier 2"),
    _rosinality(1024, about="rosinality stylegan2-pytorch, size 1024, channel_multiplier 2 (FFHQ config-f converted)"),
    _rosinality(512, name="editgan-car-512x384", crop=(384, 512),
                about="EditGAN's car model: rosinality format, 512 px, images cropped to 512 x 384 (LSUN cars)"),
)}


def crop_image(image: torch.Tensor, crop: tuple[int, int] | None) -> torch.Tensor:
    """The centred (height, width) crop of images (..., R, R) that a model like the car model shows; None: unchanged."""
    if crop is None:
        return image
    h, w = crop
    top, left = (image.shape[-2] - h) // 2, (image.shape[-1] - w) // 2
    return image[..., top : top + h, left : left + w]


# ----- random weights ------------------------------------------------------------------------
@torch.no_grad()
def random_generator(arch: ReleasedArch | GeneratorConfig, seed: int = 0) -> Generator:
    """Our Generator with the architecture's shapes and random weights in which every parameter matters
    (biases, noise strengths, modulation biases and w_avg perturbed away from their initial values)."""
    config = arch.generator_config() if isinstance(arch, ReleasedArch) else arch
    torch.manual_seed(seed)
    G = Generator(config)
    for name, p in G.named_parameters():
        if name.endswith(("bias", "noise_strength")):
            p.add_(0.1 * torch.randn_like(p))
    G.mapping.w_avg.normal_()
    return G.eval()


def count_parameters(G: nn.Module) -> int:
    return sum(p.numel() for p in G.parameters())


# ----- rosinality stylegan2-pytorch --------------------------------------------------------------
def blur_kernel(gain: float) -> torch.Tensor:
    """rosinality's stored [1, 3, 3, 1] kernel: normalised to sum 1, times `gain` (factor ** 2 when upsampling)."""
    f = torch.tensor(BLUR_TAPS)
    f = torch.outer(f, f)
    return f / f.sum() * gain


def rosinality_state(G: Generator) -> dict[str, torch.Tensor]:
    """Our generator's weights under rosinality's `g_ema` names and shapes (the inverse of the loader's renaming)."""
    s = {k: v.detach().clone() for k, v in G.state_dict().items()}
    out: dict[str, torch.Tensor] = {}
    for k in range(G.config.mapping_layers):
        out[f"style.{k + 1}.weight"], out[f"style.{k + 1}.bias"] = s[f"mapping.fc{k}.weight"], s[f"mapping.fc{k}.bias"]
    out["input.input"] = s["synthesis.b4.const"][None]

    def conv(dst: str, src: str, noise_index: int, blur: bool):
        out[f"{dst}.conv.weight"] = s[f"{src}.weight"][None]
        if blur:
            out[f"{dst}.conv.blur.kernel"] = blur_kernel(4.0)
        out[f"{dst}.conv.modulation.weight"] = s[f"{src}.affine.weight"]
        out[f"{dst}.conv.modulation.bias"] = s[f"{src}.affine.bias"]
        out[f"{dst}.noise.weight"] = s[f"{src}.noise_strength"].reshape(1)
        out[f"{dst}.activate.bias"] = s[f"{src}.bias"]
        out[f"noises.noise_{noise_index}"] = s[f"{src}.noise_const"]

    def torgb(dst: str, src: str, upsample: bool):
        out[f"{dst}.bias"] = s[f"{src}.bias"].reshape(1, -1, 1, 1)
        if upsample:
            out[f"{dst}.upsample.kernel"] = blur_kernel(4.0)
        out[f"{dst}.conv.weight"] = s[f"{src}.weight"][None]
        out[f"{dst}.conv.modulation.weight"] = s[f"{src}.affine.weight"]
        out[f"{dst}.conv.modulation.bias"] = s[f"{src}.affine.bias"]

    conv("conv1", "synthesis.b4.conv1", 0, blur=False)
    torgb("to_rgb1", "synthesis.b4.torgb", upsample=False)
    for k, res in enumerate(G.config.resolutions[1:]):
        conv(f"convs.{2 * k}", f"synthesis.b{res}.conv0", 2 * k + 1, blur=True)
        conv(f"convs.{2 * k + 1}", f"synthesis.b{res}.conv1", 2 * k + 2, blur=False)
        torgb(f"to_rgbs.{k}", f"synthesis.b{res}.torgb", upsample=True)
    return out


def write_rosinality(G: Generator, path: str | Path) -> Path:
    """A rosinality checkpoint of G: `torch.save({"g_ema": ..., "latent_avg": (1, w_dim)})`."""
    path = Path(path)
    torch.save({"g_ema": rosinality_state(G), "latent_avg": G.mapping.w_avg.detach().clone()[None]}, path)
    return path


# ----- NVIDIA stylegan2-ada-pytorch network pickles ---------------------------------------------------
def _reconstruct_persistent_obj(meta):  # pragma: no cover - written under NVIDIA's name, never called here
    raise RuntimeError("a stand-in: pickled as torch_utils.persistence._reconstruct_persistent_obj")


class _Persistent:
    """A network as `torch_utils.persistence` pickles it: a call of _reconstruct_persistent_obj on its meta."""

    def __init__(self, class_name: str, params: dict, buffers: dict, modules: dict, attrs: dict):
        state = {"training": False, "_parameters": {k: nn.Parameter(v, requires_grad=False) for k, v in params.items()},
                 "_buffers": dict(buffers), "_non_persistent_buffers_set": set(), "_backward_hooks": OrderedDict(),
                 "_forward_hooks": OrderedDict(), "_forward_pre_hooks": OrderedDict(), "_modules": dict(modules), **attrs}
        self.meta = {"type": "class", "version": 6, "module_src": STUB_SOURCE, "class_name": class_name, "state": state}

    def __reduce__(self):
        return (_reconstruct_persistent_obj, (self.meta,))


class _NetworkPickler(pickle._Pickler):
    """The pure-Python pickler (its dispatch table can be steered), saving the stand-in under NVIDIA's name."""

    def save_function(self, obj, name=None):
        if obj is _reconstruct_persistent_obj:
            self.save("torch_utils.persistence")
            self.save("_reconstruct_persistent_obj")
            self.write(pickle.STACK_GLOBAL)
            self.memoize(obj)
            return
        self.save_global(obj, name)

    dispatch = {**pickle._Pickler.dispatch, types.FunctionType: save_function}


def _gain(fan_in: int, lr_mul: float = 1.0):
    import numpy as np

    return np.float64(lr_mul / math.sqrt(fan_in))  # NVIDIA's pickles hold numpy scalars here


def nvlabs_network(G: Generator, num_fp16_res: int = 0) -> _Persistent:
    """Our generator as NVIDIA's pickled `Generator` (mapping + synthesis, their attribute and tensor names)."""
    import numpy as np

    c = G.config
    s = {k: v.detach().clone() for k, v in G.state_dict().items()}
    filt = blur_kernel(1.0)

    def affine(prefix: str, out_features: int) -> _Persistent:
        return _Persistent("FullyConnectedLayer", {"weight": s[f"{prefix}.weight"], "bias": s[f"{prefix}.bias"]}, {}, {},
                           {"activation": "linear", "weight_gain": _gain(c.w_dim), "bias_gain": 1})

    def layer(prefix: str, res: int, up: bool) -> _Persistent:
        w = s[f"{prefix}.weight"]
        return _Persistent(
            "SynthesisLayer", {"weight": w, "noise_strength": s[f"{prefix}.noise_strength"], "bias": s[f"{prefix}.bias"]},
            {"resample_filter": filt.clone(), "noise_const": s[f"{prefix}.noise_const"].reshape(res, res)},
            {"affine": affine(f"{prefix}.affine", w.shape[1])},
            {"resolution": res, "up": 2 if up else 1, "use_noise": True, "activation": "lrelu", "conv_clamp": c.conv_clamp,
             "padding": 1, "act_gain": np.float64(math.sqrt(2))})

    def torgb(prefix: str) -> _Persistent:
        w = s[f"{prefix}.weight"]
        return _Persistent("ToRGBLayer", {"weight": w, "bias": s[f"{prefix}.bias"]}, {},
                           {"affine": affine(f"{prefix}.affine", w.shape[1])},
                           {"conv_clamp": c.conv_clamp, "weight_gain": _gain(w.shape[1])})

    blocks = {}
    for k, (res, ch) in enumerate(zip(c.resolutions, c.channels)):
        p = f"synthesis.b{res}"
        convs = {"conv1": layer(f"{p}.conv1", res, False)} if k == 0 else {
            "conv0": layer(f"{p}.conv0", res, True), "conv1": layer(f"{p}.conv1", res, False)}
        blocks[f"b{res}"] = _Persistent(
            "SynthesisBlock", {"const": s[f"{p}.const"]} if k == 0 else {}, {"resample_filter": filt.clone()},
            {**convs, "torgb": torgb(f"{p}.torgb")},
            {"in_channels": 0 if k == 0 else c.channels[k - 1], "w_dim": c.w_dim, "resolution": res, "img_channels": 3,
             "is_last": res == c.resolution, "architecture": "skip",
             "use_fp16": k >= len(c.resolutions) - num_fp16_res, "channels_last": False, "num_conv": len(convs), "num_torgb": 1})
    synthesis = _Persistent("SynthesisNetwork", {}, {}, blocks,
                            {"w_dim": c.w_dim, "img_resolution": c.resolution, "img_resolution_log2": c.log2_resolution,
                             "img_channels": 3, "block_resolutions": list(c.resolutions), "num_ws": c.num_ws})
    fcs = {f"fc{k}": _Persistent("FullyConnectedLayer", {"weight": s[f"mapping.fc{k}.weight"], "bias": s[f"mapping.fc{k}.bias"]}, {}, {},
                                 {"activation": "lrelu", "weight_gain": _gain(s[f"mapping.fc{k}.weight"].shape[1], c.mapping_lr_mul),
                                  "bias_gain": c.mapping_lr_mul})
           for k in range(c.mapping_layers)}
    mapping = _Persistent("MappingNetwork", {}, {"w_avg": s["mapping.w_avg"]}, fcs,
                          {"z_dim": c.z_dim, "c_dim": 0, "w_dim": c.w_dim, "num_ws": c.num_ws, "num_layers": c.mapping_layers,
                           "w_avg_beta": 0.995})
    return _Persistent("Generator", {}, {}, {"synthesis": synthesis, "mapping": mapping},
                       {"z_dim": c.z_dim, "c_dim": 0, "w_dim": c.w_dim, "img_resolution": c.resolution, "img_channels": 3,
                        "num_ws": c.num_ws})


def write_nvlabs(G: Generator, path: str | Path, num_fp16_res: int = 0) -> Path:
    """An NVIDIA stylegan2-ada-pytorch network pickle of G (`G_ema`; G, D, augment_pipe None), protocol 4."""
    path = Path(path)
    data = {"G": None, "D": None, "G_ema": nvlabs_network(G, num_fp16_res), "augment_pipe": None, "training_set_kwargs": None}
    with open(path, "wb") as f:
        _NetworkPickler(f, protocol=4).dump(data)
    return path


def write_checkpoint(G: Generator, arch: ReleasedArch, folder: str | Path) -> Path:
    """G written in `arch`'s file format as folder/<arch.name><suffix>."""
    path = Path(folder) / f"{arch.name}{arch.suffix}"
    if arch.file_format == ROSINALITY:
        return write_rosinality(G, path)
    return write_nvlabs(G, path, arch.num_fp16_res)
