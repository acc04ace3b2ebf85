"""The edit evaluation (`python -m editgan evaluate`), end to end on a tiny model, so that it cannot rot.

The tiny model is the conftest one (a random 32-px generator, a 3-class branch) with a tiny
parameter reader of the faces world trained for a few steps. Three vectors are measured:
one that really moves the reader's `smile` (the mean gradient of the reader's smile through
the generator, on seeds the evaluation does not use), the same negated, and a zero vector.
The measurements have to tell them apart.
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

from editgan.evaluation import iou_outside, ssim_map, summarise
from editgan.reader import ParameterReader, ReaderConfig, r_squared, train_reader
from editgan.vectors import EditVector, save_vector
from editgan.world import get_world

ROOT = Path(__file__).resolve().parent.parent
PARAMETER = "smile"
REQUIRED = ["vector", "parameter", "samples", "mean_move", "right_direction", "entanglement", "most_entangled",
            "psnr_outside", "ssim_outside", "iou_outside", "right_direction_refined", "psnr_outside_refined",
            "right_direction_refined10", "psnr_outside_refined10", "right_direction_refined30", "psnr_outside_refined30",
            "right_direction_base", "psnr_outside_base", "floor_entanglement", "floor_move"]


def reader_direction(G, reader: ParameterReader, parameter: str, seeds) -> torch.Tensor:
    """The mean (per-sample normalised) gradient of the reader's `parameter` with respect to W+."""
    t = reader.world.index(parameter)
    grads = []
    for seed in seeds:
        z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            w = G.w_plus(G.mapping(z))
        w.requires_grad_(True)
        reader(G.synthesis(w))[0, t].backward()
        grads.append(w.grad[0] / w.grad.norm())
    return torch.stack(grads).mean(0)


@pytest.fixture(scope="module")
def tiny_folder(tiny_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-eval")
    G = tiny_model.G
    G.save_pretrained(folder)
    tiny_model.segmenter.save_pretrained(folder)
    reader = train_reader("faces", steps=25, batch=8, resolution=G.resolution, width=4)
    reader.save_pretrained(folder / "reader")
    direction = reader_direction(G, reader, PARAMETER, seeds=range(16))
    with torch.no_grad():
        w_norm = G.w_plus(G.mapping(torch.randn(64, G.z_dim))).flatten(1).norm(dim=1).mean()
    delta = direction / direction.norm() * 0.08 * w_norm  # a small step: the reader is close to linear there
    for name, d in (("toward", delta), ("away", -delta), ("none", torch.zeros_like(delta))):
        save_vector(EditVector(delta=d, name=name, model_fingerprint=G.fingerprint(), parts=["high"],
                               method={"kind": "test", "parameter": PARAMETER, "direction": 1.0}),
                    folder / "vectors" / f"{name}.safetensors")
    return folder


def run_evaluate(folder: Path, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "editgan", "evaluate", str(folder), *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=ROOT)


@pytest.mark.slow
def test_evaluate_json_tells_a_real_edit_from_none(tiny_folder):
    n = 16
    p = run_evaluate(tiny_folder, "--json", "--samples", n, "--refine-samples", 2)
    assert p.returncode == 0, p.stderr
    rows = {r["vector"]: r for r in json.loads(p.stdout)}
    assert set(rows) == {"toward", "away", "none"}
    for name, r in rows.items():
        missing = [k for k in REQUIRED if k not in r]
        assert not missing, (name, missing)
        assert r["parameter"] == PARAMETER and r["samples"] == n
        for k, v in r.items():
            if isinstance(v, float):
                assert math.isfinite(v), (name, k, v)
        for k in ("right_direction", "right_direction_refined", "iou_outside"):
            assert 0.0 <= r[k] <= 1.0, (name, k, r[k])
        assert -1.0 <= r["ssim_outside"] <= 1.0
        assert r["psnr_outside"] > 0 and r["psnr_outside_refined"] > 0
        assert r["entanglement"] >= 0
        assert r["most_entangled"] in get_world("faces").param_names and r["most_entangled"] != PARAMETER

    none, toward, away = rows["none"], rows["toward"], rows["away"]
    # no edit: nothing moves, the image outside is the same
    assert none["mean_move"] == 0.0 and none["right_direction"] == 0.0
    assert none["psnr_outside"] > 60 and none["ssim_outside"] > 0.999 and none["iou_outside"] == 1.0
    assert none["floor_move"] == 0.0  # the instrument's floor is taken at the vector's own move
    # an edit along the reader's gradient moves the parameter the right way on held-out seeds;
    # the opposite edit the wrong way; both change the image more than no edit
    assert toward["mean_move"] > 0 and toward["right_direction"] >= 0.75
    assert away["mean_move"] < 0 and away["right_direction"] <= 0.25
    assert toward["psnr_outside"] < none["psnr_outside"] and away["psnr_outside"] < none["psnr_outside"]
    assert toward["ssim_outside"] < 1.0


@pytest.mark.slow
def test_evaluate_markdown_table(tiny_folder):
    p = run_evaluate(tiny_folder, "--samples", 3, "--refine-samples", 0)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert lines[0].startswith("| vector | parameter |") and len(lines) == 2 + 3


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


def test_summarise_entanglement_is_relative_to_the_target_move():
    from editgan.evaluation import EditMeasure

    world = get_world("faces")
    std = torch.tensor([p.prior_std for p in world.parameters])
    t, o = world.index("smile"), world.index("nose_length")
    measures = []
    for move in (0.2, -0.1):
        others = torch.zeros(world.num_params)
        others[t] = abs(move) / std[t]
        others[o] = 0.5 * abs(move) / std[t]  # half the target's move, in prior-std units
        measures.append(EditMeasure(move=move, right=move > 0, others=others, psnr=30.0, ssim=0.9, iou=1.0))
    s = summarise(measures, world, t)
    assert s["right_direction"] == 0.5
    assert s["mean_move"] == pytest.approx(0.05)
    assert s["most_entangled"] == "nose_length"
    assert s["entanglement"] == pytest.approx(0.5)


def test_reader_reads_renders_it_was_trained_on():
    """A few steps at 16 px already read a large, plain parameter better than the mean does."""
    reader = train_reader("cars", steps=60, batch=16, resolution=16, width=4)
    assert isinstance(reader.config, ReaderConfig) and reader.config.width == 4
    r2 = r_squared(reader, n=128, soft=False)
    assert set(r2) == set(reader.world.param_names)
    assert r2["sky_brightness"] > 0.2 or r2["body_lightness"] > 0.2, r2
