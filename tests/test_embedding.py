"""Embedding images into W+, and reading images of any size and mode."""

import numpy as np
import pytest
import torch
from PIL import Image

from editgan.embedding import EmbedConfig, ImageError, embed, load_image, psnr


def test_embedding_reconstructs_a_reachable_image(tiny_model):
    G = tiny_model.G
    target_w = tiny_model.w_from_seed(42)
    with torch.no_grad():
        target = G.synthesis(target_w[None])[0]
        start = G.synthesis(G.w_plus(G.mean_w()[None]))[0]
    steps = []
    res = embed(G, target, EmbedConfig(steps=120), progress=lambda s, t, info: steps.append(s))
    assert steps == list(range(1, 121))
    assert res.w_plus.shape == (G.num_ws, G.w_dim)
    assert res.psnr == pytest.approx(psnr(res.image, target))
    assert res.psnr > psnr(start, target) + 6.0  # far better than the mean latent it started from
    assert res.psnr > 24.0


def test_embedding_refuses_a_wrong_size(tiny_model):
    with pytest.raises(ImageError, match="32, 32"):
        embed(tiny_model.G, torch.zeros(3, 64, 64))


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P", "I;16", "CMYK", "LA"])
def test_any_mode_and_size_is_read(tmp_path, mode):
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 255, (50, 80, 3), dtype=np.uint8))
    image = rgb.convert(mode) if mode not in ("I;16",) else Image.fromarray((rng.integers(0, 65535, (50, 80))).astype(np.uint16))
    path = tmp_path / f"x.{'tiff' if mode in ('I;16', 'CMYK') else 'png'}"
    image.save(path)
    x = load_image(path, 32)
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1


def test_transparency_is_composited_on_white():
    image = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    x = load_image(image, 8)
    assert torch.allclose(x, torch.ones_like(x))


def test_unreadable_files_get_a_clear_error(tmp_path):
    bad = tmp_path / "photo.jpg"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(ImageError, match="cannot read"):
        load_image(bad, 32)
    with pytest.raises(ImageError, match="shape"):
        load_image(np.zeros((0,), dtype=np.uint8), 32)
