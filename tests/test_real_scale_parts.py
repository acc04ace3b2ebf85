"""bench/real_scale.py's small pure functions (fast; the bench itself runs in tests/test_real_scale.py)."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import common, real_scale  # noqa: E402
from editgan.generator import Generator, GeneratorConfig  # noqa: E402
from editgan.released import ARCHS  # noqa: E402


def test_flops_on_the_meta_device_equal_a_real_count():
    config = GeneratorConfig(resolution=32, z_dim=16, w_dim=32, mapping_layers=2, channels=(32, 32, 16, 16))
    G = Generator(config).eval()
    w = torch.zeros(1, config.num_ws, config.w_dim)
    assert real_scale.flops_per_image(config) == common.count_flops(lambda: G.synthesis(w)) > 0


def test_config_f_1024_costs_five_times_paper256():
    big, small = (real_scale.flops_per_image(ARCHS[n].generator_config()) for n in ("nvlabs-config-f-1024", "nvlabs-paper256"))
    assert 4.5 < big / small < 5.5


def test_brightness_bands_are_terciles():
    image = torch.linspace(-1, 1, 3 * 30 * 30).reshape(1, 3, 30, 30)
    labels = real_scale.brightness_bands(image)
    counts = torch.bincount(labels.flatten(), minlength=3)
    assert labels.shape == (30, 30) and (counts - 300).abs().max() <= 30


def test_painted_target_paints_a_central_disc_of_the_rarest_class():
    labels = torch.zeros(64, 64, dtype=torch.long)
    labels[:, 32:] = 1  # the disc holds classes 0 and 1: class 2 is the rarest there
    target = real_scale.painted_target(labels)
    changed = target != labels
    assert changed[32, 32] and not changed[0, 0] and set(target[changed].tolist()) == {2}
    assert changed.sum() <= 3.2 * (64 // 16) ** 2 + 4 * 64 // 16
