"""Read generator checkpoints on disk: editgan folders, rosinality `.pt`, NVIDIA `.pkl`.

Local files only; `editgan.model.load_generator` resolves shipped names and Hub repo ids
to a local path first, then calls `read_generator` here.

- editgan folder (`config.json` + `model.safetensors`): `Generator.from_pretrained`.
- rosinality `stylegan2-pytorch` checkpoint (`.pt`/`.pth`, as in the EditGAN release): read
  with `torch.load(weights_only=True)`, the `g_ema` state dict renamed to ours.
- NVIDIA `stylegan2-ada-pytorch` network pickle (`.pkl`, as in StyleGAN2-ADA and DragGAN):
  these pickles carry their classes' source code (`torch_utils.persistence`) and a plain
  `pickle.load` runs it. `SafeNetworkUnpickler` rebuilds tensors and plain containers
  only: every persistent object comes back as its pickled state (`PersistentObject`),
  its source is dropped unread, and any other global is refused.

Every architecture setting is inferred from tensor shapes (resolution, widths, z/w dims,
mapping depth); settings that no shape shows (lr multiplier, clamp) come from the pickled
attributes or the reference code's defaults.
"""

from __future__ import annotations

import io
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .generator import CONFIG_NAME, WEIGHTS_NAME, Generator, GeneratorConfig

ROSINALITY_SUFFIXES = (".pt", ".pth")
NVLABS_SUFFIXES = (".pkl",)
EXPECTED = (
    "an editgan folder (config.json + model.safetensors), a rosinality stylegan2-pytorch .pt/.pth, "
    "an NVIDIA stylegan2-ada-pytorch .pkl, or a Hugging Face Hub repo id (owner/name)"
)
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded: missing, corrupt, unsafe or of an unsupported kind."""


# ----- dispatch --------------------------------------------------------------------------
def read_generator(path: str | Path) -> Generator:
    """A checkpoint on disk (editgan folder or its config.json, .pt/.pth, .pkl) -> our Generator, in eval mode."""
    path = Path(path).expanduser()
    if path.is_dir():
        if not (path / CONFIG_NAME).is_file():
            raise CheckpointError(f"{path} is a folder without {CONFIG_NAME}; expected {EXPECTED}")
        return _from_folder(path)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in ROSINALITY_SUFFIXES:
            return load_rosinality(path)
        if suffix in NVLABS_SUFFIXES:
            return load_stylegan2ada(path)
        if path.name in (CONFIG_NAME, WEIGHTS_NAME):
            return _from_folder(path.parent)
        raise CheckpointError(f"{path}: unknown checkpoint kind {suffix or '(no suffix)'!r}; expected {EXPECTED}")
    raise CheckpointError(f"{path}: no such file or folder; expected {EXPECTED}")


def looks_like_repo_id(source: str) -> bool:
    """owner/name that is not a path to a checkpoint file: what a Hub repo id looks like."""
    return (bool(_REPO_ID.match(source)) and not source.startswith((".", "~"))
            and Path(source).suffix.lower() not in ROSINALITY_SUFFIXES + NVLABS_SUFFIXES)


def _from_folder(folder: Path) -> Generator:
    try:
        return Generator.from_pretrained(folder).eval()
    except (OSError, ValueError) as e:
        raise CheckpointError(str(e)) from None


def _build(config: GeneratorConfig, state: dict[str, torch.Tensor], source: Path) -> Generator:
    G = Generator(config)
    try:
        G.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{source}: tensors do not fit the inferred architecture: {e}") from None
    return G.eval()


def _guarded(path: Path, kind: str, convert):
    """Run a conversion; anything but a CheckpointError means an unexpected layout."""
    try:
        return convert()
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(f"{path}: unexpected {kind} generator layout ({type(e).__name__}: {e})") from None


def _shape(state: dict, key: str, source: Path) -> tuple[int, ...]:
    if key not in state:
        raise CheckpointError(f"{source}: missing tensor {key!r}")
    return tuple(state[key].shape)


# ----- rosinality stylegan2-pytorch --------------------------------------------------------
def load_rosinality(path: str | Path, mapping_lr_mul: float = 0.01) -> Generator:
    """A rosinality `stylegan2-pytorch` checkpoint (`g_ema`, `latent_avg`) -> Generator.

    `mapping_lr_mul` is not stored in the checkpoint: 0.01 is rosinality's default (`lr_mlp`).
    """
    import argparse

    path = Path(path)
    try:
        # train.py checkpoints also hold their argparse.Namespace: data only, so allowed.
        with torch.serialization.safe_globals([argparse.Namespace]):
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"{path}: refused or unreadable torch checkpoint (only tensors and plain containers are loaded): {e}") from None
    except Exception as e:
        raise CheckpointError(f"{path}: not a readable torch checkpoint (corrupt or truncated?): {type(e).__name__}: {e}") from None
    if isinstance(ckpt, dict) and "g_ema" in ckpt:
        state, latent_avg = ckpt["g_ema"], ckpt.get("latent_avg")
    elif isinstance(ckpt, dict) and "style.1.weight" in ckpt:
        state, latent_avg = ckpt, None  # a bare generator state dict
    else:
        keys = sorted(ckpt)[:8] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{path}: not a rosinality stylegan2-pytorch checkpoint: expected a 'g_ema' state dict, found {keys}")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: 'g_ema' is not a state dict of tensors")
    G = _guarded(path, "rosinality", lambda: _build(*rosinality_to_editgan(state, latent_avg, path, mapping_lr_mul), path))
    if latent_avg is None:
        _estimate_w_avg(G)
    return G


def rosinality_to_editgan(state: dict, latent_avg, source: Path, mapping_lr_mul: float = 0.01) -> tuple[GeneratorConfig, dict]:
    """rosinality's `g_ema` names and shapes -> (our config, our state dict)."""
    n_mlp = 0
    while f"style.{n_mlp + 1}.weight" in state:
        n_mlp += 1
    n_convs = 0
    while f"convs.{n_convs}.conv.weight" in state:
        n_convs += 1
    if n_mlp == 0 or "input.input" not in state or n_convs % 2:
        raise CheckpointError(f"{source}: not a rosinality StyleGAN2 generator (style.N, input.input, convs.N expected)")
    z_dim = _shape(state, "style.1.weight", source)[1]
    w_dim = _shape(state, f"style.{n_mlp}.weight", source)[0]
    blocks = n_convs // 2
    resolution = 4 * 2**blocks
    channels = [_shape(state, "input.input", source)[1]] + [_shape(state, f"convs.{2 * k + 1}.conv.weight", source)[1] for k in range(blocks)]
    for name, t in state.items():
        if name.endswith("blur.kernel") or name.endswith("upsample.kernel"):
            _check_blur(t, source, name)
    config = GeneratorConfig(resolution=resolution, z_dim=z_dim, w_dim=w_dim, mapping_layers=n_mlp, channels=tuple(channels),
                             mapping_lr_mul=mapping_lr_mul, normalize_z=True, conv_clamp=None)

    def get(key):
        if key not in state:
            raise CheckpointError(f"{source}: missing tensor {key!r}")
        return state[key]

    out = {}
    for k in range(n_mlp):
        out[f"mapping.fc{k}.weight"] = get(f"style.{k + 1}.weight")
        out[f"mapping.fc{k}.bias"] = get(f"style.{k + 1}.bias")
    out["mapping.w_avg"] = latent_avg.reshape(-1) if latent_avg is not None else torch.zeros(w_dim)
    out["synthesis.b4.const"] = get("input.input")[0]

    def conv(dst, src, noise_index, res):
        out[f"{dst}.weight"] = get(f"{src}.conv.weight")[0]
        out[f"{dst}.affine.weight"] = get(f"{src}.conv.modulation.weight")
        out[f"{dst}.affine.bias"] = get(f"{src}.conv.modulation.bias")
        out[f"{dst}.noise_strength"] = get(f"{src}.noise.weight").reshape([])
        out[f"{dst}.bias"] = get(f"{src}.activate.bias")
        noise = state.get(f"noises.noise_{noise_index}")
        if noise is None:  # very old checkpoints: rosinality drew fresh noise; fix one draw
            noise = torch.randn(1, 1, res, res, generator=torch.Generator().manual_seed(noise_index))
        out[f"{dst}.noise_const"] = noise.reshape(1, 1, res, res)

    def torgb(dst, src):
        out[f"{dst}.weight"] = get(f"{src}.conv.weight")[0]
        out[f"{dst}.affine.weight"] = get(f"{src}.conv.modulation.weight")
        out[f"{dst}.affine.bias"] = get(f"{src}.conv.modulation.bias")
        out[f"{dst}.bias"] = get(f"{src}.bias").reshape(-1)

    conv("synthesis.b4.conv1", "conv1", 0, 4)
    torgb("synthesis.b4.torgb", "to_rgb1")
    for k in range(blocks):
        res = 8 * 2**k
        conv(f"synthesis.b{res}.conv0", f"convs.{2 * k}", 2 * k + 1, res)
        conv(f"synthesis.b{res}.conv1", f"convs.{2 * k + 1}", 2 * k + 2, res)
        torgb(f"synthesis.b{res}.torgb", f"to_rgbs.{k}")
    return config, out


@torch.no_grad()
def _estimate_w_avg(G: Generator, n: int = 10000) -> None:
    """No stored mean latent: the mean of w over fixed random z (as rosinality's mean_latent)."""
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(0))
    G.mapping.w_avg.copy_(G.mapping(z).mean(0))


def _check_blur(t: torch.Tensor, source: Path, name: str) -> None:
    f = torch.tensor([1.0, 3.0, 3.0, 1.0])
    f = torch.outer(f, f)
    if t.shape != (4, 4) or not torch.allclose(t.float() / t.float().sum(), f / f.sum(), atol=1e-6):
        raise CheckpointError(f"{source}: unsupported resampling filter {name} (only [1, 3, 3, 1] is supported)")


# ----- NVIDIA stylegan2-ada-pytorch: the restricted unpickler --------------------------------
@dataclass
class PersistentObject:
    """What `torch_utils.persistence` pickled for one object: its class name and its state.

    Its `module_src` (the class's source code) is never kept, let alone run."""

    class_name: str
    state: dict = field(default_factory=dict)

    def module(self, name: str) -> "PersistentObject | None":
        return (self.state.get("_modules") or {}).get(name)

    def tensors(self) -> dict[str, torch.Tensor]:
        out = {}
        for group in ("_parameters", "_buffers"):
            out.update({k: v for k, v in (self.state.get(group) or {}).items() if isinstance(v, torch.Tensor)})
        return out


def _reconstruct_persistent_obj(meta):
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("state"), dict):
        raise CheckpointError("unsupported persistent object in the network pickle (expected a pickled class instance)")
    return PersistentObject(str(meta.get("class_name")), meta["state"])


def _load_storage_from_bytes(data: bytes):
    # torch pickles each storage as a nested torch.save; read it tensors-only.
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _rebuild_tensor(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    return torch._utils._rebuild_tensor(storage, storage_offset, size, stride)  # hooks and metadata dropped


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    return data  # a parameter's data is all a generator needs


class _EasyDict(dict):
    """dnnlib.EasyDict, as the plain dict it is."""

    def __setstate__(self, state):
        if isinstance(state, dict):
            self.update(state)


def _numpy_global(module: str, name: str):
    try:
        import numpy as np
    except ImportError:
        raise CheckpointError("this pickle holds numpy values; install numpy to read it") from None
    core = getattr(np, "_core", None) or np.core
    allowed = {
        "dtype": np.dtype,
        "ndarray": np.ndarray,
        "scalar": core.multiarray.scalar,
        "_reconstruct": core.multiarray._reconstruct,
    }
    if name not in allowed:
        raise CheckpointError(f"refusing to load: the pickle asks for {module}.{name}")
    return allowed[name]


_ALLOWED = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("collections", "OrderedDict"): __import__("collections").OrderedDict,
    ("dnnlib.util", "EasyDict"): _EasyDict,
    ("dnnlib", "EasyDict"): _EasyDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
    ("builtins", "complex"): complex,
    ("builtins", "bytearray"): bytearray,
    ("_codecs", "encode"): __import__("codecs").encode,  # protocol-2 pickles of bytes
}
_NUMPY_MODULES = ("numpy", "numpy.core.multiarray", "numpy._core.multiarray")


class SafeNetworkUnpickler(pickle.Unpickler):
    """Unpickles an NVIDIA network pickle into tensors, plain containers and PersistentObjects.

    No code from the file runs: persistent classes come back as their pickled state, and
    any global outside a short list of tensor/container builders raises CheckpointError.
    """

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module in _NUMPY_MODULES:
            return _numpy_global(module, name)
        if module.startswith("dnnlib.tflib"):
            raise CheckpointError(
                "this is a TensorFlow StyleGAN pickle; convert it to a stylegan2-ada-pytorch pickle first "
                f"(it asks for {module}.{name})"
            )
        raise CheckpointError(
            f"refusing to load: the pickle asks for {module}.{name}, which is not a tensor or a plain container "
            "(editgan never runs code from a checkpoint)"
        )

    def persistent_load(self, pid):
        raise CheckpointError("refusing to load: unexpected persistent id in the network pickle")


def read_network_pickle(path: str | Path) -> dict:
    """The top-level dict of an NVIDIA network pickle (G, D, G_ema, ...), read safely."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = SafeNetworkUnpickler(f).load()
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read: {e}") from None
    except Exception as e:  # pickle reports corruption with many exception types
        raise CheckpointError(f"{path}: not a readable network pickle (corrupt or truncated?): {type(e).__name__}: {e}") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a dict with 'G_ema', found {type(data).__name__}")
    return data


def load_stylegan2ada(path: str | Path) -> Generator:
    """An NVIDIA stylegan2-ada-pytorch network pickle (`G_ema`) -> Generator (noise_mode const)."""
    path = Path(path)
    data = read_network_pickle(path)
    G = data.get("G_ema")
    if not isinstance(G, PersistentObject):
        raise CheckpointError(f"{path}: no 'G_ema' generator in the pickle (keys: {sorted(map(str, data))})")
    return _guarded(path, "stylegan2-ada", lambda: _build(*stylegan2ada_to_editgan(G, path), path))


def stylegan2ada_to_editgan(G: PersistentObject, source: Path) -> tuple[GeneratorConfig, dict]:
    """NVIDIA's pickled Generator state -> (our config, our state dict)."""
    mapping, synthesis = G.module("mapping"), G.module("synthesis")
    if not isinstance(mapping, PersistentObject) or not isinstance(synthesis, PersistentObject):
        raise CheckpointError(f"{source}: G_ema has no mapping/synthesis networks: not a StyleGAN2 generator")
    if G.state.get("c_dim", 0) or mapping.module("embed") is not None:
        raise CheckpointError(f"{source}: conditional generators (c_dim > 0) are not supported")
    if int(G.state.get("img_channels", 3)) != 3:
        raise CheckpointError(f"{source}: only RGB generators are supported (img_channels={G.state.get('img_channels')})")

    out: dict[str, torch.Tensor] = {}
    # mapping: fc0..fcN-1 and w_avg
    fcs = sorted((int(m.group(1)), name) for name in (mapping.state.get("_modules") or {}) if (m := re.fullmatch(r"fc(\d+)", name)))
    if not fcs or [i for i, _ in fcs] != list(range(len(fcs))):
        raise CheckpointError(f"{source}: mapping network has no fc0..fcN layers")
    for i, name in fcs:
        for k, t in mapping.module(name).tensors().items():
            out[f"mapping.{name}.{k}"] = t
    if "w_avg" not in mapping.tensors():
        raise CheckpointError(f"{source}: mapping network has no w_avg")
    out["mapping.w_avg"] = mapping.tensors()["w_avg"]
    z_dim = out["mapping.fc0.weight"].shape[1]
    w_dim = out[f"mapping.fc{len(fcs) - 1}.weight"].shape[0]
    if any(out[f"mapping.fc{i}.weight"].shape[0] != w_dim for i, _ in fcs):
        raise CheckpointError(f"{source}: mapping layers narrower or wider than w_dim are not supported")
    lr_mul = float(mapping.module("fc0").state.get("bias_gain", 0.01))

    # synthesis: b4, b8, ...
    blocks = sorted(int(m.group(1)) for name in (synthesis.state.get("_modules") or {}) if (m := re.fullmatch(r"b(\d+)", name)))
    if not blocks or blocks != [4 * 2**k for k in range(len(blocks))]:
        raise CheckpointError(f"{source}: synthesis network has no b4, b8, ... blocks: not a StyleGAN2 generator (StyleGAN3?)")
    channels, clamps = [], set()
    for res in blocks:
        block = synthesis.module(f"b{res}")
        arch = block.state.get("architecture", "skip")
        if arch != "skip":
            raise CheckpointError(f"{source}: synthesis architecture {arch!r} is not supported (only 'skip', StyleGAN2's default)")
        names = ["conv1", "torgb"] if res == 4 else ["conv0", "conv1", "torgb"]
        if res == 4:
            out["synthesis.b4.const"] = block.tensors()["const"]
        for name in names:
            layer = block.module(name)
            if not isinstance(layer, PersistentObject):
                raise CheckpointError(f"{source}: block b{res} has no {name}")
            clamps.add(layer.state.get("conv_clamp"))
            if name != "torgb" and layer.state.get("activation", "lrelu") != "lrelu":
                raise CheckpointError(f"{source}: b{res}.{name} uses activation {layer.state.get('activation')!r}; only lrelu is supported")
            t = layer.tensors()
            for k in ("weight", "bias"):
                out[f"synthesis.b{res}.{name}.{k}"] = t[k]
            for k, v in layer.module("affine").tensors().items():
                out[f"synthesis.b{res}.{name}.affine.{k}"] = v
            if name != "torgb":
                if t["weight"].shape[-1] != 3:
                    raise CheckpointError(f"{source}: b{res}.{name} has a {t['weight'].shape[-1]}x{t['weight'].shape[-1]} kernel; only 3x3 is supported")
                if "resample_filter" in t:
                    _check_blur(t["resample_filter"], source, f"b{res}.{name}.resample_filter")
                if "noise_const" in t:  # use_noise=False layers have none: no noise at all
                    out[f"synthesis.b{res}.{name}.noise_const"] = t["noise_const"].reshape(1, 1, res, res)
                    out[f"synthesis.b{res}.{name}.noise_strength"] = t["noise_strength"].reshape([])
                else:
                    out[f"synthesis.b{res}.{name}.noise_const"] = torch.zeros(1, 1, res, res)
                    out[f"synthesis.b{res}.{name}.noise_strength"] = torch.zeros([])
        channels.append(out[f"synthesis.b{res}.conv1.weight"].shape[0])
    clamps.discard(None)
    if len(clamps) > 1:
        raise CheckpointError(f"{source}: layers with different conv_clamp values {sorted(clamps)} are not supported")
    config = GeneratorConfig(resolution=blocks[-1], z_dim=z_dim, w_dim=w_dim, mapping_layers=len(fcs), channels=tuple(channels),
                             mapping_lr_mul=lr_mul, normalize_z=True, conv_clamp=float(clamps.pop()) if clamps else None)
    return config, out
