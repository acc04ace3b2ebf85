"""The generator: shapes, the two exact forms of the modulated conv, gradients, folders."""

import json

import pytest
import torch

from editgan.generator import (
    CONFIG_NAME,
    MODEL_TYPE,
    WEIGHTS_NAME,
    Generator,
    GeneratorConfig,
    model_fingerprint,
    modulated_conv2d,
    upsample2d,
)

torch.set_num_threads(1)


def tiny(resolution=16, channels=(16, 12, 8), seed=0) -> Generator:
    torch.manual_seed(seed)
    G = Generator(GeneratorConfig(resolution=resolution, z_dim=8, w_dim=16, mapping_layers=2, channels=channels))
    with torch.no_grad():  # every parameter matters: biases, noise strengths, w_avg
        for p in G.parameters():
            p.add_(0.2 * torch.randn_like(p))
        G.mapping.w_avg.normal_()
    return G.eval()


def rel(a, b):
    return ((a - b).norm() / b.norm()).item()


def test_num_ws_and_resolutions_are_derived():
    c32 = GeneratorConfig(resolution=32, channels=(8, 8, 8, 8))
    c64 = GeneratorConfig(resolution=64)
    assert (c32.num_ws, c32.log2_resolution, c32.resolutions) == (8, 5, (4, 8, 16, 32))
    assert (c64.num_ws, c64.log2_resolution, c64.resolutions) == (10, 6, (4, 8, 16, 32, 64))
    assert Generator(c32).num_ws == 8


def test_config_round_trips_through_json_and_rejects_bad_values():
    c = GeneratorConfig(resolution=16, channels=(4, 4, 4), conv_clamp=256.0, normalize_z=False)
    assert GeneratorConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    with pytest.raises(ValueError, match="one positive width per resolution"):
        GeneratorConfig(resolution=32, channels=(8, 8))
    with pytest.raises(ValueError, match="power of two"):
        GeneratorConfig(resolution=48)
    with pytest.raises(ValueError, match="unknown generator config keys"):
        GeneratorConfig.from_dict({**c.to_dict(), "img_channels": 3})


@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("up", [False, True])
@pytest.mark.parametrize("demodulate", [True, False])
def test_modconv_forms_agree(batch, up, demodulate):
    torch.manual_seed(batch)
    x, weight, styles = torch.randn(batch, 6, 5, 5), torch.randn(7, 6, 3, 3) / 4, torch.randn(batch, 6) + 1
    a = modulated_conv2d(x, weight, styles, demodulate=demodulate, up=up, mode="weights")
    b = modulated_conv2d(x, weight, styles, demodulate=demodulate, up=up, mode="activations")
    assert a.shape == (batch, 7, 10, 10) if up else (batch, 7, 5, 5)
    assert torch.allclose(a, b, atol=1e-5, rtol=1e-5)
    # each sample is its own modulated conv: batch 4 equals four batch-1 calls
    one = torch.cat([modulated_conv2d(x[i : i + 1], weight, styles[i : i + 1], demodulate=demodulate, up=up) for i in range(batch)])
    assert torch.allclose(a, one, atol=1e-5, rtol=1e-5)


def test_upsample2d_keeps_the_mean_and_doubles_the_size():
    x = torch.randn(2, 3, 5, 5)
    y = upsample2d(x)
    assert y.shape == (2, 3, 10, 10)
    assert torch.allclose(upsample2d(torch.ones(1, 1, 6, 6))[..., 2:-2, 2:-2], torch.ones(1, 1, 8, 8))


@pytest.mark.parametrize("batch", [1, 4])
def test_generator_modconv_modes_agree(batch):
    G = tiny()
    z = torch.randn(batch, G.z_dim)
    with torch.no_grad():
        a = G.set_modconv_mode("weights")(z)
        b = G.set_modconv_mode("activations")(z)
        c = G.set_modconv_mode("auto")(z)
    assert rel(a, b) < 1e-5 and rel(a, c) < 1e-5
    with pytest.raises(ValueError, match="modconv mode"):
        G.set_modconv_mode("fused")


@pytest.mark.parametrize("mode", ["weights", "activations"])
def test_gradients_reach_every_parameter_and_w_plus(mode):
    G = tiny().set_modconv_mode(mode)
    w_plus = G.w_plus(G.mapping(torch.randn(2, G.z_dim))).detach().requires_grad_(True)
    image, features = G.synthesis(w_plus, return_features=True)
    (image.square().mean() + sum(f.mean() for f in features)).backward()
    assert w_plus.grad is not None and w_plus.grad.abs().sum() > 0
    for name, p in G.synthesis.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_training_under_bf16_autocast_and_channels_last():
    G = tiny().train().to(memory_format=torch.channels_last)
    z = torch.randn(4, G.z_dim)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        image = G(z)
    assert image.dtype == torch.float32 and image.shape == (4, 3, 16, 16)
    image.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in G.parameters())
    with torch.no_grad():
        ref = G.eval()(z)
    assert rel(image.detach(), ref) < 0.05


def test_w_avg_is_tracked_in_training_only():
    G = tiny()
    before = G.mapping.w_avg.clone()
    G(torch.randn(3, G.z_dim))
    assert torch.equal(G.mapping.w_avg, before)
    G.train()(torch.randn(3, G.z_dim))
    assert not torch.equal(G.mapping.w_avg, before)


def test_features_match_feature_channels():
    G = tiny()
    with torch.no_grad():
        image, features = G(torch.randn(2, G.z_dim), return_features=True)
    assert image.shape == (2, 3, 16, 16)
    assert len(features) == G.num_ws - 1 == len(G.synthesis.feature_channels)
    assert G.synthesis.feature_channels == [16, 12, 12, 8, 8]
    assert G.synthesis.feature_resolutions == [4, 8, 8, 16, 16]
    for f, c, r in zip(features, G.synthesis.feature_channels, G.synthesis.feature_resolutions):
        assert f.shape == (2, c, r, r)


def test_wrong_shapes_raise_clear_errors():
    G = tiny()
    with pytest.raises(ValueError, match=r"\(N, 6, 16\)"):
        G.synthesis(torch.zeros(1, 5, 16))
    with pytest.raises(ValueError, match=r"\(N, 6, 16\)"):
        G.synthesis(torch.zeros(6, 16))
    with pytest.raises(ValueError, match=r"z must be \(N, 8\)"):
        G(torch.zeros(1, 7))


def test_truncation_w_plus_and_mean_w():
    G = tiny()
    z = torch.randn(3, G.z_dim)
    with torch.no_grad():
        w = G.mapping(z)
        assert torch.allclose(G.truncate(w, 0.7), G.mean_w() + 0.7 * (w - G.mean_w()))
        assert G.truncate(w, 1.0) is w
        w_plus = G.w_plus(w)
        assert w_plus.shape == (3, G.num_ws, G.w_dim) and torch.equal(w_plus[:, 3], w)
        assert torch.allclose(G(z, truncation=0.5), G.synthesis(G.w_plus(G.truncate(w, 0.5))))
        at_mean = G(z, truncation=0.0)
    assert torch.allclose(at_mean[0], at_mean[2], atol=1e-6)


def test_save_and_load_are_bit_exact(tmp_path):
    G = tiny()
    G.save_pretrained(tmp_path / "g")
    config = json.loads((tmp_path / "g" / CONFIG_NAME).read_text())
    assert config["model_type"] == MODEL_TYPE and config["channels"] == [16, 12, 8]
    H = Generator.from_pretrained(tmp_path / "g")
    assert not H.training and H.config == G.config
    for (k, a), (k2, b) in zip(G.state_dict().items(), H.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    assert model_fingerprint(H) == G.fingerprint() and len(G.fingerprint()) == 16
    with torch.no_grad():
        H.synthesis.b8.conv0.bias[0] += 1e-3
    assert H.fingerprint() != G.fingerprint()
    assert G.to(memory_format=torch.channels_last).fingerprint() == model_fingerprint(tiny())


def test_from_pretrained_names_missing_files(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=rf"{CONFIG_NAME}.*empty|empty.*{CONFIG_NAME}"):
        Generator.from_pretrained(tmp_path / "empty")
    tiny().save_pretrained(tmp_path / "g")
    (tmp_path / "g" / WEIGHTS_NAME).unlink()
    with pytest.raises(FileNotFoundError, match=WEIGHTS_NAME):
        Generator.from_pretrained(tmp_path / "g")
    tiny().save_pretrained(tmp_path / "h")
    (tmp_path / "h" / CONFIG_NAME).write_text(json.dumps({"model_type": "other"}))
    with pytest.raises(ValueError, match="not an editgan generator config"):
        Generator.from_pretrained(tmp_path / "h")


def test_from_pretrained_reads_folders_only_and_names_the_hub_loader(tmp_path):
    """The generator never talks to the Hub: a repo id gets a clear error naming editgan.load_generator."""
    tiny().save_pretrained(tmp_path / "g")
    assert Generator.from_pretrained(tmp_path / "g").fingerprint() == tiny().fingerprint()
    with pytest.raises(FileNotFoundError, match="editgan.load_generator"):
        Generator.from_pretrained("someone/faces")
