"""The default-model recipe: distillation, adversarial sharpening, resuming, the quality figures."""

import json

import pytest
import torch

from editgan.discriminator import Discriminator, discriminator_loss, minibatch_std, r1_penalty
from editgan.generator import Generator
from editgan.training import TrainConfig, box_blur, evaluate_quality, high_frequency_energy, load_run, train
from editgan.world import get_world


def tiny(**kw) -> TrainConfig:
    return TrainConfig(world="faces", resolution=16, channels=(16, 16, 8), w_dim=32, mapping_layers=2, batch=4,
                       log_every=2, checkpoint_every=1e9, grid_every=1e9, minutes=1e6, bf16=False, **kw)


def test_discriminator_scores_each_image_and_refuses_a_wrong_size():
    D = Discriminator(16)
    x = torch.randn(6, 3, 16, 16)
    assert D(x).shape == (6,)
    assert minibatch_std(torch.randn(8, 5, 4, 4)).shape == (8, 6, 4, 4)
    with pytest.raises(ValueError, match="16 x 16"):
        D(torch.randn(2, 3, 32, 32))
    assert float(r1_penalty(D, x).detach()) > 0


def test_the_discriminator_learns_to_tell_renders_from_blurred_renders():
    """What sharpening needs of it: blur is what it must see."""
    torch.manual_seed(0)
    world = get_world("faces")
    D = Discriminator(16)
    opt = torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.0, 0.99))
    for _ in range(60):
        real, _ = world.render(world.params_from_z(torch.randn(8, world.num_params)), 16, 2)
        fake = box_blur(real)
        loss = discriminator_loss(D(real), D(fake))
        opt.zero_grad()
        loss.backward()
        opt.step()
    real, _ = world.render(world.params_from_z(torch.randn(32, world.num_params)), 16, 2)
    fake = box_blur(real)
    with torch.no_grad():
        assert (D(real) > D(fake)).float().mean() > 0.8


def test_adversarial_training_starts_from_a_model_and_resumes(tmp_path):
    world = get_world("faces")
    first = train(tiny(max_steps=4), tmp_path / "distilled")
    first.save_pretrained(tmp_path / "model")

    run = tmp_path / "sharpen"
    cfg = tiny(max_steps=4, init=str(tmp_path / "model"), adversarial=0.1, r1_every=2)
    G = train(cfg, run)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert {"d_loss", "r1", "adversarial", "l1"} <= set(log[-1])
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert state["step"] == 4 and "D" in state and "d_opt" in state
    # It started from the model: after 4 small steps it is close to it, not to a random generator.
    z = torch.randn(8, world.num_params)
    with torch.no_grad():
        near = (G(z) - first(z)).abs().mean()
        random = (Generator(cfg.generator_config(world))(z) - first(z)).abs().mean()
    assert near < 0.2 * random

    cfg.max_steps = 6  # the same command, a larger budget: resumes at step 4
    train(cfg, run)
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == 6
    assert load_run(run).config == first.config


def test_init_refuses_a_model_of_another_world(tmp_path):
    train(tiny(max_steps=1), tmp_path / "faces").save_pretrained(tmp_path / "model")
    cfg = tiny(max_steps=1, init=str(tmp_path / "model"))
    cfg.world = "cars"
    with pytest.raises(ValueError, match="parameters"):
        train(cfg, tmp_path / "cars")


class Renderer(torch.nn.Module):
    """A stand-in generator that draws render(params(z)), then blurs it or adds noise."""

    def __init__(self, world, change):
        super().__init__()
        self.world, self.change, self.z_dim, self.resolution = world, change, world.num_params, 32
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, z):
        img, _ = self.world.render(self.world.params_from_z(z), 32, 2)
        return self.change(img)


def test_sharpness_is_high_frequency_energy_against_the_renders():
    world = get_world("faces")
    blurred = evaluate_quality(Renderer(world, box_blur), world, n=32)
    noisy = evaluate_quality(Renderer(world, lambda x: x + 0.1 * torch.randn_like(x)), world, n=32)
    assert blurred.sharpness < 0.6 < 1.2 < noisy.sharpness
    assert 20 < blurred.psnr_db < 40 and 20 < noisy.psnr_db < 30
    x = torch.rand(2, 3, 8, 8)
    assert torch.all(high_frequency_energy(x) > high_frequency_energy(torch.ones_like(x)))
