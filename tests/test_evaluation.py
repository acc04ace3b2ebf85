"""The strict edit evaluation (`python -m editgan evaluate`), end to end on a tiny model, so that it cannot rot.

The tiny model is a random 32-px generator whose z carries the cars world's parameters
(z_dim = 20), with a branch of the cars classes trained on the renderer's part maps of its
seeds and a tiny parameter reader trained for a few steps. Three vectors are measured:
one that really moves the reader's parameter (the mean gradient of the reader through the
generator, on seeds the evaluation does not use), the same negated, and a zero vector.
The measurements have to tell them apart, in both directions of the strength.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from editgan.evaluation import (STRENGTHS, StrictConfig, Targets, correlation, entanglement, iou_outside, linearity,
                                masked_psnr, paint_move, painted_target, params_after_edit, small_classes, ssim_map,
                                strict_region, verdict)
from editgan.generator import Generator, GeneratorConfig
from editgan.model import EditModel
from editgan.reader import ParameterReader, ReaderConfig, r_squared, train_reader
from editgan.segmenter import SegmenterTrainConfig, train_segmenter
from editgan.vectors import EditVector, save_vector
from editgan.world import get_world

ROOT = Path(__file__).resolve().parent.parent
WORLD = "cars"
PARAMETER = "horizon"  # large and plain: a few reader steps read it
PARTS = ["windows"]
RESOLUTION = 32
STRENGTH_KEYS = ["strength", "samples", "right_direction", "move", "move_per_unit", "psnr_outside", "psnr_outside_p10", "visible_change",
                 "entanglement", "most_entangled", "entanglement_mean", "floor_entanglement", "region_classes"]
PAINT_KEYS = ["psnr_inside", "psnr_inside_unedited", "psnr_inside_reconstruction", "correlation", "psnr_outside",
              "true_move", "read_move", "read_move_renders", "right_direction", "entanglement", "floor_entanglement"]


def reader_direction(G, reader: ParameterReader, parameter: str, seeds) -> torch.Tensor:
    """The mean (per-sample normalised) gradient of the reader's `parameter` with respect to W+."""
    t = reader.world.index(parameter)
    grads = []
    for seed in seeds:
        w = G.w_plus_from_seed(seed).detach()[None]
        w.requires_grad_(True)
        reader(G.synthesis(w))[0, t].backward()
        grads.append(w.grad[0] / w.grad.norm())
    return torch.stack(grads).mean(0)


def tiny_world_model(n: int = 16) -> EditModel:
    """A random generator whose seeds carry world parameters, and a branch of the world's classes
    trained on the renderer's part maps of its first n seeds."""
    world = get_world(WORLD)
    torch.manual_seed(0)
    G = Generator(GeneratorConfig(resolution=RESOLUTION, z_dim=world.num_params, w_dim=32, mapping_layers=2,
                                  channels=(32, 32, 16, 16))).eval()
    seeds = list(range(n))
    params = torch.cat([world.params_from_z(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(s))) for s in seeds])
    with torch.no_grad():
        w_plus = G.w_plus_from_seeds(seeds)
    _, labels = world.render(params, RESOLUTION)
    seg = train_segmenter(G, w_plus, labels, [c.name for c in world.classes], [c.color for c in world.classes],
                          SegmenterTrainConfig(steps=60, lr=3e-3, pixels_per_example=128), num_members=2).segmenter
    return EditModel(G=G, segmenter=seg, source="tiny-world")


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-eval")
    model = tiny_world_model()
    G = model.G
    G.save_pretrained(folder)
    model.segmenter.save_pretrained(folder)
    reader = train_reader(WORLD, steps=25, batch=8, resolution=RESOLUTION, width=4)
    reader.save_pretrained(folder / "reader")
    direction = reader_direction(G, reader, PARAMETER, seeds=range(16, 80))
    with torch.no_grad():
        w_norm = G.w_plus_from_seeds(range(16, 80)).flatten(1).norm(dim=1).mean()
    delta = direction / direction.norm() * 0.05 * w_norm  # small: the reader is close to linear there
    for name, d in (("toward", delta), ("away", -delta), ("none", torch.zeros_like(delta))):
        save_vector(EditVector(delta=d, name=name, model_fingerprint=G.fingerprint(), parts=PARTS,
                               method={"kind": "test", "parameter": PARAMETER, "direction": 1.0, "seeds": list(range(16))}),
                    folder / "vectors" / f"{name}.safetensors")
    return folder


def run_evaluate(folder: Path, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "editgan", "evaluate", str(folder), *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=ROOT)


@pytest.mark.slow
def test_strict_evaluate_tells_a_right_vector_from_its_negation(tiny_folder):
    n = 12
    # a tiny reader reads nothing with R^2 0.8: let every parameter count here
    p = run_evaluate(tiny_folder, "--json", "--samples", n, "--refine-samples", 2, "--paint", 2, "--min-r2", -1e9,
                     "--r2-samples", 64)
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout)
    assert result["world"] == WORLD and set(result["reader"]["r2"]) == set(get_world(WORLD).param_names)
    rows = {r["vector"]: r for r in result["vectors"]}
    assert set(rows) == {"toward", "away", "none"}
    for name, r in rows.items():
        assert r["parameter"] == PARAMETER and r["samples"] == n and r["seeds"][0] >= 100_000
        assert [s["strength"] for s in r["strengths"]] == list(STRENGTHS)
        for s in r["strengths"]:
            missing = [k for k in STRENGTH_KEYS if k not in s]
            assert not missing, (name, missing)
            assert 0.0 <= s["right_direction"] <= 1.0 and s["psnr_outside"] > 0 and s["entanglement"] >= 0
            assert s["most_entangled"] != PARAMETER and s["region_classes"] == PARTS
            assert all(math.isfinite(v) for v in s.values() if isinstance(v, float)), (name, s)
        assert {(x["strength"], x["steps"]) for x in r["refined"]} == {(s, k) for s in (-1.0, 1.0) for k in (0, 10, 30)}
        assert set(r["pass"]) == {"-1.0", "1.0"}

    def at(name, strength):
        return next(s for s in rows[name]["strengths"] if s["strength"] == strength)

    # no edit: nothing moves, nothing outside changes
    for s in STRENGTHS:
        assert at("none", s)["move"] == 0.0 and at("none", s)["right_direction"] == 0.0
        assert at("none", s)["psnr_outside"] >= 99
    # the edit along the reader's (mean) gradient moves the parameter the right way at every
    # strength, negative ones included; its negation the wrong way; both change the image.
    # (A random generator read by a 25-step reader: single samples disagree, the majority does not.)
    toward = [at("toward", s)["right_direction"] for s in STRENGTHS]
    away = [at("away", s)["right_direction"] for s in STRENGTHS]
    assert min(toward) >= 0.6 and max(away) <= 0.4, (toward, away)
    assert sum(toward) / len(toward) >= 0.75 and sum(away) / len(away) <= 0.25, (toward, away)
    for s in STRENGTHS:
        assert at("toward", s)["psnr_outside"] < 99 and at("away", s)["psnr_outside"] < 99
    assert rows["toward"]["linearity"]["slope"] > 0 > rows["away"]["linearity"]["slope"]
    assert not rows["away"]["pass"]["1.0"]["right_direction"] and not rows["none"]["pass"]["1.0"]["right_direction"]
    # the paint benchmark ran on the parameter, scored against the renders
    (paint,) = result["paint"]
    assert paint["parameter"] == PARAMETER and paint["samples"] + paint["skipped_no_change"] == 2
    if paint["samples"]:
        assert all(math.isfinite(paint[k]) for k in PAINT_KEYS if isinstance(paint[k], float))


@pytest.mark.slow
def test_evaluate_markdown_report(tiny_folder):
    p = run_evaluate(tiny_folder, "--samples", 3, "--refine-samples", 0, "--min-r2", -1e9, "--r2-samples", 32)
    assert p.returncode == 0, p.stderr
    assert "every strength, learning-free" in p.stdout and "reader R^2 on fresh renders" in p.stdout
    table = p.stdout.split("## ")[1].strip().splitlines()[2:]
    assert len(table) == 2 + 3 * len(STRENGTHS)


def test_evaluate_without_a_reader_says_so(tiny_model, tmp_path):
    tiny_model.G.save_pretrained(tmp_path)
    tiny_model.segmenter.save_pretrained(tmp_path)
    p = run_evaluate(tmp_path, "--samples", 2)
    assert p.returncode != 0 and "no parameter reader" in p.stderr


# ----- the pieces -------------------------------------------------------------------------------
def test_ssim_and_iou_on_known_inputs():
    a = torch.rand(3, 16, 16) * 2 - 1
    assert torch.allclose(ssim_map(a, a), torch.ones(16, 16), atol=1e-4)
    assert ssim_map(a, -a).mean() < 0.5
    x = torch.zeros(8, 8, dtype=torch.long)
    y = x.clone()
    y[:, :4] = 1
    everywhere = torch.ones(8, 8, dtype=torch.bool)
    assert iou_outside(x, x, everywhere) == 1.0
    assert iou_outside(x, y, everywhere) == pytest.approx(0.25)  # class 0: 32/64, class 1: 0/32
    assert iou_outside(x, y, ~(x != y)) == 1.0


def test_strict_region_counts_a_leak_that_changes_predicted_labels():
    """The old region excused every pixel whose predicted label changed: a leak into the hair
    that also changes the hair's labels scored as no leak. The strict region comes from the
    ground-truth maps of the declared parts only, so the leak counts."""
    r = 16
    truth = torch.zeros(1, r, r, dtype=torch.long)
    truth[0, 6:10, 6:10] = 3  # the declared part
    image0 = torch.zeros(1, 3, r, r)
    image1 = image0.clone()
    image1[0, :, 6:10, 6:10] = 0.5  # the edit itself
    image1[0, :, 0:3, 0:3] = 1.0  # a leak far away (where a branch's labels would change too)
    outside = ~strict_region(truth, truth, [3], dilation=2)
    assert outside[0, 0:3, 0:3].all() and not outside[0, 6:10, 6:10].any() and not outside[0, 4, 4]
    leaky = masked_psnr(image1, image0, outside)
    clean = image1.clone()
    clean[0, :, 0:3, 0:3] = 0.0
    assert float(leaky) < 20 and float(masked_psnr(clean, image0, outside)) == 100.0
    # a part grown by the edit (its map after) is inside, with no predicted labels involved
    after = truth.clone()
    after[0, 6:12, 6:12] = 3
    assert not (~strict_region(truth, after, [3], dilation=0))[0, 11, 11]


def test_small_classes_leave_out_classes_that_would_excuse_everything():
    truth = torch.zeros(2, 10, 10, dtype=torch.long)
    truth[:, :5] = 1  # half the image
    truth[1, 8, 8] = 2
    assert small_classes(truth, truth, [1, 2], max_part_share=0.15) == [2]
    assert small_classes(truth, truth, [1, 2], max_part_share=0.6) == [1, 2]


def test_params_after_edit_moves_the_intended_parameter_by_the_read_change_within_range():
    world = get_world("faces")
    t = world.index("smile")
    params = world.default_params(2)
    read0 = torch.zeros(2, world.num_params)
    read1 = read0.clone()
    read1[:, t] = torch.tensor([0.3, 5.0])
    read1[:, 0] = 1.0  # other parameters' reads never enter the ground truth
    after = params_after_edit(world, params, read0, read1, t)
    assert torch.equal(after[:, :t], params[:, :t]) and torch.equal(after[:, t + 1:], params[:, t + 1:])
    assert after[0, t] == pytest.approx(float(params[0, t]) + 0.3) and after[1, t] == world.parameters[t].high


def test_entanglement_is_the_worst_usable_other_parameter_relative_to_the_target():
    names = ["a", "b", "c", "d"]
    std = torch.tensor([1.0, 2.0, 1.0, 1.0])
    change = torch.tensor([[0.4, 0.2, 0.1, 3.0], [-0.4, -0.2, 0.0, -3.0]])
    usable = torch.tensor([True, True, True, False])  # d: a parameter the reader cannot read
    e = entanglement(change, 0, std, usable, names)
    assert e["most_entangled"] == "b" and e["entanglement"] == pytest.approx(0.25)  # (0.2 / 2) / 0.4
    assert e["entanglement_mean"] == pytest.approx((0.25 + 0.125) / 2)
    assert entanglement(change, 0, std, torch.tensor([True, False, False, False]), names)["entanglement"] is None


def test_visible_change_sees_a_small_strong_change_not_a_faint_wide_one():
    from editgan.evaluation import visible_change

    a = torch.zeros(4, 3, 64, 64)
    spot = a.clone()
    spot[:, :, 30:36, 30:36] = 0.8  # a wheel: 36 of 4096 pixels (0.9%), strongly changed
    assert visible_change(a, spot) == pytest.approx(0.8)
    assert visible_change(a, a + 0.05) == pytest.approx(0.05)  # everything, faintly
    dot = a.clone()
    dot[:, :, 0, 0] = 1.0  # one pixel: below the 99.5th percentile
    assert visible_change(a, dot) == 0.0


def test_linearity_and_verdict():
    rows = [{"strength": s, "move": 0.4 * s} for s in STRENGTHS]
    lin = linearity(rows)
    assert lin["slope"] == pytest.approx(0.4) and lin["r2"] == pytest.approx(1.0)
    saturating = [{"strength": s, "move": 0.4 * max(min(s, 0.5), -0.5)} for s in STRENGTHS]
    assert linearity(saturating)["r2"] < 0.95
    good = {"right_direction": 0.97, "psnr_outside": 31.0, "entanglement": 0.05, "visible_change": 0.3}
    assert all(verdict(good, Targets()).values())
    assert verdict({**good, "visible_change": 0.1}, Targets())["visible_change"] is False
    assert verdict({**good, "entanglement": None}, Targets())["entanglement"] is False
    assert verdict({**good, "psnr_outside": 29.0}, Targets())["psnr_outside"] is False


def test_paint_move_and_target_and_correlation():
    world = get_world("faces")
    t = world.index("smile")
    low = world.default_params()
    low[0, t] = -0.8
    after, sign = paint_move(world, low, t, 0.5)
    assert sign == 1.0 and after[0, t] == pytest.approx(0.2)
    high = low.clone()
    high[0, t] = 0.9
    after, sign = paint_move(world, high, t, 0.5)
    assert sign == -1.0 and after[0, t] == pytest.approx(-0.1)
    current = torch.zeros(4, 4, dtype=torch.long)
    t0, t1 = current.clone(), current.clone()
    t0[0, 0], t1[1, 1] = 2, 3
    target = painted_target(current, t0, t1)
    assert target[1, 1] == 3 and target[0, 0] == 0 and target.sum() == 3
    a = torch.randn(2, 3, 4, 4)
    assert torch.allclose(correlation(a, 2 * a), torch.ones(2)) and torch.allclose(correlation(a, -a), -torch.ones(2))
    assert correlation(a, torch.zeros_like(a)).abs().max() == 0


def test_reader_reads_renders_it_was_trained_on():
    """A few steps at 16 px already read a large, plain parameter better than the mean does."""
    reader = train_reader("cars", steps=60, batch=16, resolution=16, width=4)
    assert isinstance(reader.config, ReaderConfig) and reader.config.width == 4
    r2 = r_squared(reader, n=128, soft=False)
    assert set(r2) == set(reader.world.param_names)
    assert r2["sky_brightness"] > 0.2 or r2["body_lightness"] > 0.2, r2
