"""The shipped default model and vectors do what they say, judged by the image.

The judge is the parameter reader (trained on renders only), never the segmentation
branch that edits optimise: the branch can be fooled (shared notes).
"""

from pathlib import Path

import pytest
import torch

import editgan
from editgan.editor import EditConfig, edit, psnr_outside
from editgan.evaluation import painted_edit
from editgan.model import ROOT
from editgan.reader import ParameterReader
from editgan.world import get_world

FACES = ROOT / "weights" / "faces"
pytestmark = pytest.mark.skipif(not (FACES / "reader" / "reader.json").is_file(), reason="default faces model not built")


@pytest.fixture(scope="module")
def faces():
    return editgan.load_model("faces"), ParameterReader.from_pretrained(FACES / "reader")


# (share of 12 new samples where the parameter must move the right way, least mean move in its unit).
# Measured when shipped: smile 10/12, +0.66; raise_eyebrows 9/12, +0.09 (the weak one: issue 8's
# 95% target is not met); bigger_eyes 12/12, +0.59.
@pytest.mark.parametrize("name,parameter,share,move", [
    ("smile", "smile", 0.75, 0.3), ("raise_eyebrows", "eyebrow_height", 0.6, 0.03), ("bigger_eyes", "eye_size", 0.9, 0.3)])
def test_shipped_vector_moves_its_parameter_on_new_samples(faces, name, parameter, share, move):
    model, reader = faces
    path = ROOT / "vectors" / "faces" / f"{name}.safetensors"
    if not path.is_file():
        pytest.skip(f"{path} not made")
    vec = editgan.load_vector(path)
    editgan.vectors.check_compatible(vec, model.G)
    i = reader.world.index(parameter)
    w = torch.stack([model.w_from_seed(s) for s in range(5000, 5012)])
    before = reader.read(model.G.synthesis(w).detach())[:, i]
    after = reader.read(model.G.synthesis(editgan.apply_vectors(w, [(vec, 1.0)], model.G)).detach())[:, i]
    assert ((after - before) > 0).float().mean() >= share
    assert (after - before).mean() >= move


def test_painting_a_smile_changes_the_image_there_and_not_elsewhere(faces):
    model, reader = faces
    world = get_world("faces")
    seed = 5020
    w = model.w_from_seed(seed)
    image, labels = model.render(w)
    target = painted_edit(model, world, seed, "smile", 0.95)
    res = edit(model.G, model.segmenter, w, target, EditConfig(steps=100))
    changed = target != labels
    change = (res.image - image).abs().mean(0)
    assert change[changed].mean() > 0.15  # visibly redrawn where painted (on a [-1, 1] scale)
    assert psnr_outside(res.image, image, res.region) > 28
    smile = reader.world.index("smile")
    assert reader.read(res.image[None])[0, smile] > reader.read(image[None])[0, smile] + 0.2


@pytest.mark.parametrize("domain", ["faces", "cars"])
def test_shipped_encoder_guesses_held_out_samples(domain):
    """The shipped encoder loads with its model and its one-pass guess of new samples is close
    (issue 16's target: >= 22 dB) and far better than the mean latent."""
    from editgan.embedding import psnr

    model = editgan.load_model(domain)
    assert model.encoder is not None, f"weights/{domain} has no encoder"
    G = model.G
    ws = G.w_plus_from_seeds(range(300_000, 300_006))
    with torch.no_grad():
        images = G.synthesis(ws)
        guesses = G.synthesis(model.encoder(images))
        mean = G.synthesis(G.w_plus(G.mean_w()[None]).expand(len(ws), -1, -1))
    enc = sum(psnr(a, b) for a, b in zip(guesses, images)) / len(ws)
    base = sum(psnr(a, b) for a, b in zip(mean, images)) / len(ws)
    assert enc >= 22.0 and enc > base + 5.0, (enc, base)
