"""The cars world: deterministic, labelled, and each parameter changes only what its name says."""

import torch
import torch.nn.functional as F

from editgan.world import get_world
from editgan.world.base import Canvas, box, convex

WORLD = get_world("cars")
NAMES = [c.name for c in WORLD.classes]


def render_pair(name, lo, hi, n=6, size=64, seed=0, supersample=2):
    """Two renders that differ only in `name`. With supersample=1 every pixel is one part,
    so a change can be pinned exactly on a part (supersampling only averages such pixels)."""
    p = WORLD.sample_params(n, seed)
    a, b = p.clone(), p.clone()
    a[:, WORLD.index(name)] = lo
    b[:, WORLD.index(name)] = hi
    return WORLD.render(a, size, supersample), WORLD.render(b, size, supersample)


def is_class(labels, *names):
    return torch.isin(labels, torch.tensor([NAMES.index(n) for n in names]))


def dilate(mask, px):
    return F.max_pool2d(mask.float()[:, None], 2 * px + 1, 1, px)[:, 0] > 0


def changed(img_a, img_b):
    return (img_a - img_b).abs().amax(1) > 1e-6


def test_render_is_deterministic_and_well_formed():
    assert NAMES == ["sky", "road", "body", "windows", "tyres", "rims", "lights"]
    assert 16 <= WORLD.num_params <= 24 and all(p.doc for p in WORLD.parameters)
    p = WORLD.sample_params(6, 1)
    a, la = WORLD.render(p, 64)
    b, lb = WORLD.render(p.clone(), 64)
    assert torch.equal(a, b) and torch.equal(la, lb)
    assert a.shape == (6, 3, 64, 64) and a.dtype == torch.float32
    assert la.shape == (6, 64, 64) and la.dtype == torch.long
    assert a.min() >= -1 and a.max() <= 1
    assert len({c.color for c in WORLD.classes}) == len(WORLD.classes)


def test_every_class_appears_in_every_image():
    _, labels = WORLD.render(WORLD.sample_params(16, 2), 64)
    for i in range(len(labels)):
        assert set(labels[i].unique().tolist()) == set(range(len(NAMES))), i


def test_every_parameter_changes_the_image():
    for prm in WORLD.parameters:
        (a, _), (b, _) = render_pair(prm.name, prm.low, prm.mid, n=2, size=32)  # body_hue is periodic
        assert (a - b).abs().mean() > 1e-4, prm.name


# the parts whose pixels each parameter may change (drawn at supersample 1, where every
# pixel is exactly one part, so a change is pinned on the parts before and after it)
ONLY_CHANGES = {
    "body_height": {"sky", "road", "body", "windows", "lights"},
    "roof_height": {"sky", "road", "body", "windows"},
    "roof_start": {"sky", "road", "body", "windows"},
    "roof_end": {"sky", "road", "body", "windows"},
    "body_hue": {"body"},
    "body_saturation": {"body"},
    "body_lightness": {"body"},
    "window_tint": {"windows"},
    "wheel_size": {"road", "body", "tyres", "rims"},
    "rim_size": {"tyres", "rims"},
    "rim_style": {"rims"},
    "wheelbase": {"road", "body", "tyres", "rims"},
    "light_size": {"body", "lights"},
    "sky_hue": {"sky"},
    "sky_brightness": {"sky"},
    "horizon": {"sky", "road"},
    "road_lightness": {"road"},
    "light_x": {"body", "windows", "rims"},
}


def test_each_parameter_changes_only_its_parts():
    for name, allowed in ONLY_CHANGES.items():
        prm = WORLD.parameters[WORLD.index(name)]
        (img_a, lab_a), (img_b, lab_b) = render_pair(name, prm.low, prm.mid, n=4, supersample=1)
        diff = changed(img_a, img_b)
        touched = {NAMES[i] for i in torch.cat([lab_a[diff], lab_b[diff]]).unique().tolist()}
        assert touched and touched <= allowed, (name, touched - allowed)


def test_wheel_size_grows_the_wheels_and_changes_nothing_far_from_them():
    (img_lo, lab_lo), (img_hi, lab_hi) = render_pair("wheel_size", 0.15, 0.19)
    wheel_lo, wheel_hi = is_class(lab_lo, "tyres", "rims"), is_class(lab_hi, "tyres", "rims")
    assert (wheel_hi.sum((1, 2)) > wheel_lo.sum((1, 2)) * 1.3).all()
    near = dilate(wheel_lo | wheel_hi, 2)  # the arches are cut 1 px (0.03) around the tyres
    assert not changed(img_lo, img_hi)[~near].any()  # nothing moves far from the wheels
    assert not (lab_lo != lab_hi)[~near].any()
    assert changed(img_lo, img_hi)[wheel_hi & ~wheel_lo].float().mean() > 0.9
    # the lights, windows and sky never change, even next to the wheels
    for name in ("lights", "windows", "sky"):
        assert torch.equal(is_class(lab_lo, name), is_class(lab_hi, name)), name


def test_wheelbase_moves_the_wheels_but_not_the_lights():
    (_, lab_a), (_, lab_b) = render_pair("wheelbase", 0.90, 1.02)
    assert torch.equal(is_class(lab_a, "lights"), is_class(lab_b, "lights"))
    cols = torch.arange(64).float()
    def spread(lab):  # mean |column - 31.5| of tyre pixels
        m = is_class(lab, "tyres").float()
        return (m * (cols - 31.5).abs()).sum() / m.sum()
    assert spread(lab_b) > spread(lab_a) + 1.5


def test_body_hue_changes_the_body_only():
    (img_a, lab_a), (img_b, lab_b) = render_pair("body_hue", 0.05, 0.55, size=128, supersample=1)
    assert torch.equal(lab_a, lab_b)
    body = is_class(lab_a, "body")
    diff = changed(img_a, img_b)
    assert not diff[~body].any()
    assert diff[body].float().mean() > 0.9  # all but the dark bumpers


def test_horizon_changes_only_the_rows_between_the_two_horizons():
    (img_a, lab_a), (img_b, lab_b) = render_pair("horizon", -0.2, 0.1)
    rows = changed(img_a, img_b).any(2) | (lab_a != lab_b).any(2)  # (N, H)
    y = (torch.arange(64) + 0.5) / 64 * 2 - 1
    assert not rows[:, (y < -0.23) | (y > 0.13)].any()
    assert rows[:, (y > -0.1) & (y < 0.0)].any(1).all()
    assert torch.equal(is_class(lab_a, "body", "windows", "tyres", "rims", "lights"),
                       is_class(lab_b, "body", "windows", "tyres", "rims", "lights"))


def test_light_size_grows_the_lights_only():
    (img_a, lab_a), (img_b, lab_b) = render_pair("light_size", 0.0, 1.0, size=128, supersample=1)
    lights_a, lights_b = is_class(lab_a, "lights"), is_class(lab_b, "lights")
    assert (lights_b.sum((1, 2)) > lights_a.sum((1, 2)) * 1.3).all()
    assert not changed(img_a, img_b)[~(lights_a | lights_b)].any()
    assert torch.equal(lab_a[~(lights_a | lights_b)], lab_b[~(lights_a | lights_b)])
    # and at 64 px, where it is drawn at 2x and averaged, the lights are several pixels across
    _, lab64 = WORLD.render(WORLD.sample_params(16, 3), 64)
    assert (is_class(lab64, "lights").sum((1, 2)) >= 12).all()


def test_convex_matches_box_either_winding():
    c = Canvas(3, 48, 2)
    x0, y0, x1, y1 = torch.tensor([-0.5, -0.2, 0.1]), torch.tensor([-0.4, 0.0, -0.8]), torch.tensor([0.3, 0.6, 0.9]), 0.5
    square = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    for pts in (square, square[::-1]):
        assert torch.equal(convex(c, pts), box(c, x0, y0, x1, y1))
        rounded = convex(c, pts, radius=0.1) ^ box(c, x0, y0, x1, y1, 0.1)
        assert rounded.float().mean() < 0.002  # same shape up to rounding at the edge


def test_params_z_round_trip():
    z = torch.randn(16, WORLD.num_params)
    assert torch.allclose(WORLD.z_from_params(WORLD.params_from_z(z)), z, atol=1e-3)
