"""Editing by segmentation on a tiny real model: labels follow the edit, the image follows the labels."""

import pytest
import torch

from conftest import band_labels, band_values
from editgan import editor
from editgan.editor import EditConfig, EditError, edit, edit_region, psnr_outside, refine
from editgan.segmenter import generator_features

SQUARE = (slice(8, 20), slice(8, 20))


def square_edit(model, seed: int, label: int | None = None):
    """W+ of a seed and its part map with SQUARE painted `label` (default: each pixel's next class)."""
    w = model.w_from_seed(seed)
    _, labels = model.render(w)
    target = labels.clone()
    target[SQUARE] = (labels[SQUARE] + 1) % 3 if label is None else label
    return w, target


@pytest.fixture(scope="module")
def edited(tiny):
    model, thresholds = tiny
    w = model.w_from_seed(3)
    image, labels = model.render(w)
    target = labels.clone()
    target[SQUARE] = 2  # paint "high" over a square
    # the tiny model's three classes each cover a third of the image: take them whole (the paper's region)
    result = edit(model.G, model.segmenter, w, target, EditConfig(steps=100, max_part_share=1.0))
    return model, thresholds, w, image, labels, target, result


def test_edit_changes_the_part_map_inside_the_region(edited):
    model, _, _, _, labels, target, result = edited
    painted = torch.zeros_like(labels, dtype=torch.bool)
    painted[SQUARE] = True
    changed = painted & (labels != target)
    assert changed.sum() > 20
    assert (result.labels == target)[result.region].float().mean() > 0.85
    assert (result.labels[changed] == 2).float().mean() > 0.8


def test_edit_is_real_not_a_fooled_branch(edited):
    """The labelling rule itself (the feature bands), read from the edited generator, moved too."""
    model, thresholds, w, _, labels, target, result = edited
    truth = band_labels(band_values(model.G, generator_features(model.G, result.w_plus[None])), thresholds)[0]
    changed = (labels != target)
    assert (truth[changed] == 2).float().mean() > 0.6


def test_edit_keeps_the_image_outside_and_changes_it_inside(edited):
    _, _, _, image, _, _, result = edited
    assert psnr_outside(result.image, image, result.region) > 35.0
    change = (result.image - image).abs().mean(0)
    assert change[result.region].mean() > 3 * change[~result.region].mean()


def test_edit_is_deterministic(tiny):
    model, _ = tiny
    w, target = square_edit(model, 5, label=0)
    a = edit(model.G, model.segmenter, w, target, EditConfig(steps=5))
    b = edit(model.G, model.segmenter, w, target, EditConfig(steps=5))
    assert torch.equal(a.delta, b.delta)


def test_early_stop_when_the_edit_is_reached(tiny):
    model, _ = tiny
    w = model.w_from_seed(5)
    _, labels = model.render(w)
    target = labels.clone()
    target[10:13, 10:13] = (labels[10:13, 10:13] + 1) % 3
    res = edit(model.G, model.segmenter, w, target, EditConfig(steps=200, stop_accuracy=0.5, min_steps=1))
    assert res.reached and res.steps < 200


def test_bad_edits_are_refused(tiny):
    model, _ = tiny
    w = model.w_from_seed(1)
    _, labels = model.render(w)
    with pytest.raises(EditError, match="identical"):
        edit(model.G, model.segmenter, w, labels.clone())
    with pytest.raises(EditError, match="32x32"):
        edit(model.G, model.segmenter, w, labels[:16, :16].clone())
    bad = labels.clone()
    bad[0, 0] = 7
    with pytest.raises(EditError, match="classes"):
        edit(model.G, model.segmenter, w, bad)
    with pytest.raises(EditError, match="w_plus"):
        edit(model.G, model.segmenter, w[:3], labels)


def test_large_painted_classes_join_the_region_only_where_painted():
    before = torch.zeros(16, 16, dtype=torch.long)
    before[:, 8:] = 1  # class 1 covers half the image
    before[2:4, 2:4] = 2
    after = before.clone()
    after[2:4, 2:4] = 1  # erase the small part by painting the big class over it
    region = edit_region(before, after, dilation=1)
    assert region[2:4, 2:4].all() and region[1, 1]
    assert not region[:, 10:].any()  # the rest of class 1 stays outside
    assert edit_region(before, after, dilation=1, max_part_share=1.0)[:, 10:].all()


def test_region_holds_the_painted_classes_before_and_after():
    before = torch.zeros(16, 16, dtype=torch.long)
    before[2:4, 2:4] = 1  # an existing part of class 1 far from the stroke
    after = before.clone()
    after[10:12, 10:12] = 1  # paint more of class 1
    region = edit_region(before, after, dilation=1)
    assert region[2:4, 2:4].all() and region[10:12, 10:12].all()
    assert region[9, 9] and not region[15, 0]


def test_refinement_does_not_make_the_outside_worse(edited, tiny):
    model, _, _, _, _, _, result = edited
    w = model.w_from_seed(11)
    image, _ = model.render(w)
    free_image, _ = model.render(w + result.delta)
    refined = refine(model.G, model.segmenter, w, result.delta, ["high"], steps=15)
    assert psnr_outside(refined.image, image, refined.region) >= psnr_outside(free_image, image, refined.region) - 0.1


def full_resolution_logits(segmenter, features, coords, matrices=None):
    """The editor's old way: every pixel's logits, read at the pixels the loss needs."""
    return segmenter(features)[0, :, coords[:, 0], coords[:, 1]].T


def test_logits_at_the_region_give_the_full_resolution_edit(tiny, monkeypatch):
    model, _ = tiny
    w, target = square_edit(model, 5)
    config = EditConfig(steps=6, min_steps=6, stop_accuracy=2.0, max_part_share=0.3)
    fast = edit(model.G, model.segmenter, w, target, config)
    monkeypatch.setattr(editor, "region_logits", full_resolution_logits)
    slow = edit(model.G, model.segmenter, w, target, config)
    assert 0 < fast.region.sum() < fast.region.numel()
    for a, b in zip(fast.history, slow.history):
        assert abs(a["loss"] - b["loss"]) < 1e-5 and abs(a["inside"] - b["inside"]) < 1e-5
        assert a["accuracy"] == b["accuracy"] and a["accuracy_changed"] == b["accuracy_changed"]
    assert torch.allclose(fast.delta, slow.delta, atol=1e-5)
    assert torch.equal(fast.labels, slow.labels)


def test_an_edit_puts_no_gradients_into_the_models(tiny):
    model, _ = tiny
    w, target = square_edit(model, 5, label=0)
    weights = [*model.G.parameters(), *model.segmenter.parameters()]
    for p in weights:
        p.grad = None  # training left the branch's last gradients
    edit(model.G, model.segmenter, w, target, EditConfig(steps=3))
    assert all(p.grad is None for p in weights)


def test_part_colour_loss_sees_a_recoloured_part_not_a_reshaped_one():
    from editgan.editor import part_colour_loss

    before = torch.zeros(8, 8, dtype=torch.long)
    before[2:4, 2:4] = 1  # a small eye
    after = torch.zeros(8, 8, dtype=torch.long)
    after[1:5, 1:5] = 1  # a bigger eye
    after[6, 6:8] = 2  # a part that did not exist (teeth in an opened mouth)
    original = torch.full((1, 3, 8, 8), -0.5)
    original[0, :, before == 1] = 0.7
    reshaped = torch.full((1, 3, 8, 8), -0.5)
    reshaped[0, :, after == 1] = 0.7
    reshaped[0, :, after == 2] = 0.9
    region = torch.ones(8, 8, dtype=torch.bool)
    assert float(part_colour_loss(reshaped, original, before, after, region)) == pytest.approx(0.0, abs=1e-6)
    recoloured = reshaped.clone()
    recoloured[0, 2, after == 1] = -0.8  # the eye turns yellow
    assert float(part_colour_loss(recoloured, original, before, after, region)) > 0.2


def test_the_colour_term_runs_in_an_edit_and_needs_the_map_before(tiny):
    model, _ = tiny
    w, target = square_edit(model, 5)
    cfg = EditConfig(steps=5, min_steps=5, max_part_share=1.0)
    plain = edit(model.G, model.segmenter, w, target, cfg)
    coloured = edit(model.G, model.segmenter, w, target, EditConfig(**{**cfg.__dict__, "colour_weight": 50.0}))
    assert not torch.equal(plain.delta, coloured.delta)  # the term has a gradient
    with pytest.raises(EditError, match="part map before"):
        editor.optimise_delta(model.G, model.segmenter, w, target, plain.region, plain.region, EditConfig(colour_weight=1.0))
