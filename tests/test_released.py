"""Released architectures at full size, in their real file formats, through our loaders.

The writers are checked against the real-format fixtures (same key names, shapes, pickled
module tree; the reloaded generator reproduces the original code's images), then every
released architecture is built at full size, written and loaded back: the config is
inferred from the file alone and every weight survives (fingerprint). No heavy forward
passes: a 1024-px file is written and read in a few seconds.
"""

import sys

import pytest
import torch
from safetensors.torch import load_file

from editgan.checkpoints import PersistentObject, read_generator, read_network_pickle
from editgan.released import ARCHS, NVLABS, ROSINALITY, channel_widths, count_parameters, crop_image, random_generator, write_checkpoint, write_nvlabs, write_rosinality
from test_checkpoints import NVLABS as NVLABS_FIXTURE, ROSINALITY as ROSINALITY_FIXTURE, check_nvlabs, check_rosinality

torch.set_num_threads(1)


def tree(obj, name="G_ema") -> dict:
    """A pickled network's structure: class, attribute names, tensor names and shapes, per module path."""
    out = {name: (obj.class_name, sorted(k for k in obj.state if not k.startswith("_")),
                  {k: tuple(v.shape) for k, v in obj.tensors().items()})}
    for child, sub in (obj.state.get("_modules") or {}).items():
        out.update(tree(sub, f"{name}.{child}"))
    return out


# ----- the writers against the real-format fixtures ------------------------------------------------
def test_rosinality_writer_matches_the_real_format(tmp_path):
    G = read_generator(ROSINALITY_FIXTURE)
    path = write_rosinality(G, tmp_path / "g.pt")
    ours, real = torch.load(path, weights_only=True), torch.load(ROSINALITY_FIXTURE, weights_only=True)
    assert sorted(ours) == sorted(real)
    assert {k: v.shape for k, v in ours["g_ema"].items()} == {k: v.shape for k, v in real["g_ema"].items()}
    for k, v in real["g_ema"].items():
        if k.endswith("kernel"):
            assert torch.equal(ours["g_ema"][k], v), k
    assert ours["latent_avg"].shape == real["latent_avg"].shape
    again = read_generator(path)
    assert again.fingerprint() == G.fingerprint()
    check_rosinality(again, load_file(str(ROSINALITY_FIXTURE.with_name("rosinality-32px-reference.safetensors"))))


def test_nvlabs_writer_matches_the_real_format(tmp_path):
    G = read_generator(NVLABS_FIXTURE)
    path = write_nvlabs(G, tmp_path / "g.pkl")
    ours, real = read_network_pickle(path), read_network_pickle(NVLABS_FIXTURE)
    assert sorted(ours) == sorted(real)
    assert isinstance(ours["G_ema"], PersistentObject)
    assert tree(ours["G_ema"]) == tree(real["G_ema"])
    assert path.read_bytes()[:2] == NVLABS_FIXTURE.read_bytes()[:2]  # same pickle protocol
    again = read_generator(path)
    assert again.fingerprint() == G.fingerprint() and "torch_utils" not in sys.modules
    check_nvlabs(again, load_file(str(NVLABS_FIXTURE.with_name("stylegan2ada-32px-reference.safetensors"))))


# ----- the released architectures -------------------------------------------------------------------
def test_widths_follow_both_codebases_rule():
    # rosinality's table for channel_multiplier 2 and NVIDIA's config-f are the same widths
    assert ARCHS["rosinality-1024"].generator_config().channels == ARCHS["nvlabs-config-f-1024"].generator_config().channels
    assert channel_widths([4, 64, 128, 1024], 32768, 512) == (512, 512, 256, 32)
    assert ARCHS["nvlabs-paper256"].generator_config().channels[-1] == 16384 // 256


def test_config_f_1024_has_the_released_size():
    config = ARCHS["nvlabs-config-f-1024"].generator_config()
    G = random_generator(config)
    assert (config.num_ws, config.w_dim) == (18, 512)
    assert count_parameters(G) == 30_370_060  # NVIDIA's G_ema of StyleGAN2 config-f 1024


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ARCHS))
def test_full_size_checkpoint_loads_with_inferred_config(tmp_path, name):
    arch = ARCHS[name]
    G = random_generator(arch)
    path = write_checkpoint(G, arch, tmp_path)
    assert path.suffix == (".pt" if arch.file_format == ROSINALITY else ".pkl")
    loaded = read_generator(path)
    assert loaded.config == arch.generator_config()  # everything inferred from the file
    assert loaded.fingerprint() == G.fingerprint()
    if arch.file_format == NVLABS:
        assert "torch_utils" not in sys.modules
    with torch.no_grad():  # the mapping network at full size, and W+ of the right shape
        z = torch.randn(2, loaded.z_dim, generator=torch.Generator().manual_seed(0))
        assert torch.allclose(loaded.mapping(z), G.mapping(z))
        assert loaded.w_plus_from_seeds([0, 1]).shape == (2, arch.generator_config().num_ws, arch.w_dim)


def test_crop_keeps_the_centre():
    arch = ARCHS["editgan-car-512x384"]
    r = arch.resolution
    image = torch.arange(r, dtype=torch.float32).reshape(1, r, 1).expand(3, r, r)
    out = crop_image(image, arch.crop)
    assert out.shape[-2:] == arch.image_size
    assert out[0, 0, 0] == (r - arch.image_size[0]) // 2
    assert crop_image(image, None) is image
