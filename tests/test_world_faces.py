"""The faces world: deterministic, labelled, and each parameter does what its name says."""

import torch

from editgan.world import get_world

WORLD = get_world("faces")


def render_with(name, value, n=4, size=64, seed=0):
    p = WORLD.sample_params(n, seed)
    p[:, WORLD.index(name)] = value
    return WORLD.render(p, size)


def class_share(labels, name):
    return (labels == [c.name for c in WORLD.classes].index(name)).float().mean().item()


def test_render_is_deterministic_and_well_formed():
    p = WORLD.sample_params(6, 1)
    a, la = WORLD.render(p, 64)
    b, lb = WORLD.render(p.clone(), 64)
    assert torch.equal(a, b) and torch.equal(la, lb)
    assert a.shape == (6, 3, 64, 64) and la.shape == (6, 64, 64) and la.dtype == torch.long
    assert a.min() >= -1 and a.max() <= 1


def test_every_class_appears_in_a_batch():
    _, labels = WORLD.render(WORLD.sample_params(32, 2), 64)
    assert set(labels.unique().tolist()) == set(range(len(WORLD.classes)))


def test_smile_opens_the_mouth_on_the_teeth_and_changes_only_the_mouth():
    img_lo, lab_lo = render_with("smile", -0.8)
    img_hi, lab_hi = render_with("smile", 0.9)
    assert class_share(lab_hi, "teeth") > class_share(lab_lo, "teeth") + 0.002
    assert class_share(lab_hi, "mouth") > class_share(lab_lo, "mouth")
    names = [c.name for c in WORLD.classes]
    parts = torch.tensor([names.index(n) for n in ("lips", "mouth", "teeth")])
    mouth_parts = torch.isin(lab_lo, parts) | torch.isin(lab_hi, parts)
    near = torch.nn.functional.max_pool2d(mouth_parts.float()[:, None], 9, 1, 4)[:, 0] > 0
    changed = (img_hi - img_lo).abs().amax(1) > 1e-4
    assert changed[~near].float().mean() < 0.002  # nothing moves far from the mouth
    assert changed[near].float().mean() > 0.2


def test_eyebrow_height_moves_the_eyebrows_up():
    names = [c.name for c in WORLD.classes]
    _, lo = render_with("eyebrow_height", 0.0)
    _, hi = render_with("eyebrow_height", 1.0)
    rows = torch.arange(64).float()[None, :, None]
    def mean_row(lab):
        m = (lab == names.index("eyebrows")).float()
        return (m * rows).sum() / m.sum()
    assert mean_row(hi) < mean_row(lo) - 1.0  # y grows downwards


def test_params_z_round_trip():
    z = torch.randn(16, WORLD.num_params)
    assert torch.allclose(WORLD.z_from_params(WORLD.params_from_z(z)), z, atol=1e-3)
