"""Strength sweeps: frame count, the unedited middle frame, GIF/MP4 files with their disclosure, the CLI."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from editgan.disclosure import png_info, provenance
from editgan.embedding import to_pil
from editgan.generator import Generator, GeneratorConfig
from editgan.sweep import (SweepError, VideoEncoderMissing, even_size, read_gif, read_mp4, save_gif, save_mp4,
                           sweep_frames, sweep_latents, sweep_strengths)
from editgan.vectors import EditVector, apply_vectors, save_vector

ROOT = Path(__file__).resolve().parent.parent

try:
    import imageio_ffmpeg  # noqa: F401

    HAVE_VIDEO = True
except ImportError:
    HAVE_VIDEO = False


@pytest.fixture(scope="module")
def G16() -> Generator:
    torch.manual_seed(0)
    return Generator(GeneratorConfig(resolution=16, z_dim=8, w_dim=16, mapping_layers=1, channels=(16, 16, 8))).eval()


def vec(G, name, seed, scale=1.0) -> EditVector:
    delta = scale * torch.randn(G.num_ws, G.w_dim, generator=torch.Generator().manual_seed(seed))
    return EditVector(delta=delta, name=name, model_fingerprint=G.fingerprint(), parts=["mouth"])


def pixels(im: Image.Image) -> np.ndarray:
    return np.asarray(im.convert("RGB"))


def test_sweep_strengths():
    assert sweep_strengths(-2, 2, 9) == [-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0]
    assert sweep_strengths(-0.3, 0.3, 7)[3] == 0.0  # exactly, not 5e-17
    assert sweep_strengths(0, 1, 2) == [0.0, 1.0]
    for bad in (1, 0, 2.5, 10_000):
        with pytest.raises(SweepError, match="frames"):
            sweep_strengths(-1, 1, bad)
    with pytest.raises(SweepError, match="finite"):
        sweep_strengths(float("nan"), 1, 5)


def test_a_sweep_of_n_frames_has_an_unedited_middle_frame(G16):
    a, b = vec(G16, "a", 1), vec(G16, "b", 2, 0.5)
    w = G16.w_plus_from_seed(3)
    seen = []
    frames = sweep_frames(G16, w, [(a, 1.5), (b, -1.0)], -2, 2, 9, batch_size=3, progress=lambda d, n: seen.append((d, n)))
    assert len(frames) == 9 and seen[-1] == (9, 9) and all(f.size == (16, 16) for f in frames)
    with torch.no_grad():
        unedited = to_pil(G16.synthesis(w[None])[0])
        edited = to_pil(G16.synthesis(apply_vectors(w, [(a, 1.5), (b, -1.0)])[None])[0])
    assert np.array_equal(pixels(frames[4]), pixels(unedited))  # strength 0: the image itself, pixel for pixel
    assert not np.array_equal(pixels(frames[3]), pixels(unedited))
    # t = 1 is the image at the vectors' own strengths (batched: within one level of a lone render)
    assert np.abs(pixels(frames[6]).astype(int) - pixels(edited).astype(int)).max() <= 1
    # frame k applies vector i at t_k * s_i
    ws = sweep_latents(w, [(a, 1.5), (b, -1.0)], [-2.0, 0.5])
    torch.testing.assert_close(ws[0], w - 3.0 * a.delta + 2.0 * b.delta)
    torch.testing.assert_close(ws[1], w + 0.75 * a.delta - 0.5 * b.delta)


def test_orthogonal_sweep_keeps_the_first_vector(G16):
    a, b = vec(G16, "a", 1), vec(G16, "b", 2)
    w = G16.w_plus_from_seed(5)
    ortho = sweep_latents(w, [a, b], [1.0], mode="orthogonal")[0]
    plain = sweep_latents(w, [a, b], [1.0])[0]
    assert not torch.allclose(ortho, plain)
    b_part = ortho - w - a.delta
    assert torch.nn.functional.cosine_similarity(b_part, a.delta, dim=-1).abs().max() < 1e-4


def meta_of(G, pairs):
    return provenance("tiny", G.fingerprint(), {"kind": "seed", "seed": 3}, [{"kind": "edit", "parts": ["mouth"], "delta": 1}],
                      pairs, {"sweep": {"values": [-1.0, 0.0, 1.0]}})


def test_provenance_and_png_info(G16):
    a = vec(G16, "a", 1)
    meta = meta_of(G16, [(a, 1.5)])
    assert meta["vectors"] == [{"name": "a", "strength": 1.5, "parts": ["mouth"], "model_fingerprint": G16.fingerprint()}]
    assert meta["part_map_edits"] == [{"kind": "edit", "parts": ["mouth"]}] and meta["sweep"]["values"] == [-1.0, 0.0, 1.0]



def test_png_info_writes_the_chunks_of_the_app_export(tmp_path, tiny_model):
    """png_info gives the text chunks app_logic.export_png writes (Software, Description, editgan)."""
    from editgan import app_logic as L

    (tmp_path / "no-vectors").mkdir()
    key = L.register_model(tiny_model, "tiny-disclosure", vectors_dir=tmp_path / "no-vectors")
    session = L.new_session(key, seed=3)
    vec = vec_for(tiny_model.G)
    session = L.add_vector(session, vec, "local")
    session = L.set_strengths(session, [1.25])
    app_text = L.read_png_metadata(L.export_png(session, tmp_path / "app.png"))["text"]
    model = L.model_of(session)
    meta = provenance(model.name, model.fingerprint, session.source, session.edits, session.active_vectors(),
                      {"combination": session.combine_mode})
    Image.new("RGB", (4, 4)).save(tmp_path / "mine.png", pnginfo=png_info(meta))
    mine = L.read_png_metadata(tmp_path / "mine.png")["text"]
    assert set(mine) == set(app_text) == {"Software", "Description", "editgan"}
    assert mine["Software"] == app_text["Software"] and mine["Description"] == app_text["Description"]
    drop = lambda d: {k: v for k, v in json.loads(d).items() if k != "created"}
    assert drop(mine["editgan"]) == drop(app_text["editgan"])


def vec_for(G) -> EditVector:
    return EditVector(delta=0.3 * torch.randn(G.num_ws, G.w_dim, generator=torch.Generator().manual_seed(4)),
                      name="more", model_fingerprint=G.fingerprint(), parts=["high"])


def test_gif_has_n_frames_and_the_disclosure(G16, tmp_path):
    a = vec(G16, "a", 1)
    frames = sweep_frames(G16, G16.w_plus_from_seed(3), [a], -2, 2, 7)
    meta = meta_of(G16, [(a, 1.0)])
    path = save_gif(frames, tmp_path / "s.gif", fps=10, metadata=meta)
    n, back = read_gif(path)
    assert n == 7 and back == meta
    with Image.open(path) as im:
        assert im.info["loop"] == 0 and im.info["duration"] == 100
        assert im.info["comment"].decode().startswith("Generated with editgan from tiny")
    with pytest.raises(SweepError, match="fps"):
        save_gif(frames, tmp_path / "x.gif", fps=0)


@pytest.mark.skipif(not HAVE_VIDEO, reason="MP4 export needs the optional imageio-ffmpeg (requirements-video.txt)")
def test_mp4_has_n_frames_and_the_disclosure(G16, tmp_path):
    a = vec(G16, "a", 1)
    frames = sweep_frames(G16, G16.w_plus_from_seed(3), [a], -2, 2, 9)
    meta = meta_of(G16, [(a, 1.0)])
    n, tags = read_mp4(save_mp4(frames, tmp_path / "s.mp4", fps=8, metadata=meta))
    assert n == 9 and json.loads(tags["comment"]) == meta and "edit vectors: a x +1.00" in tags["description"]
    odd = [f.crop((0, 0, 15, 13)) for f in frames[:3]]  # yuv420p needs even sizes: padded, not refused
    assert even_size(odd[0]).size == (16, 14)
    assert read_mp4(save_mp4(odd, tmp_path / "odd.mp4", fps=8))[0] == 3


def test_mp4_without_the_encoder_names_the_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # import fails as if not installed
    with pytest.raises(VideoEncoderMissing, match="requirements-video.txt"):
        save_mp4([Image.new("RGB", (8, 8))] * 2, tmp_path / "x.mp4")


def test_cli_sweep_end_to_end(G16, tmp_path):
    folder = tmp_path / "model"
    G16.save_pretrained(folder)
    a = save_vector(vec(G16, "a", 1), tmp_path / "a.safetensors")
    b = save_vector(vec(G16, "b", 2), tmp_path / "b.safetensors")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "editgan", *map(str, args)], capture_output=True, text=True,
                              env=env, cwd=ROOT)

    p = run("sweep", "--model", folder, "--seed", 3, "--vector", f"{a}=1.5", "--vector", b, "--range", -1, 1,
            "--frames", 5, "--orthogonal", "--fps", 5, "--out", tmp_path / "s.gif")
    assert p.returncode == 0, p.stderr
    n, meta = read_gif(tmp_path / "s.gif")
    assert n == 5 and meta["sweep"]["combination"] == "orthogonal" and meta["sweep"]["values"] == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert [(v["name"], v["strength"]) for v in meta["vectors"]] == [("a", 1.5), ("b", 1.0)]
    with Image.open(tmp_path / "s.gif") as im:
        im.seek(2)
        middle = im.convert("RGB")
    with torch.no_grad():
        unedited = to_pil(G16.synthesis(G16.w_plus_from_seed(3)[None])[0])
    # the GIF's palette holds all of a 16-px frame's colours: the middle frame is still the unedited image
    assert np.array_equal(pixels(middle), pixels(unedited))
    bad = run("sweep", "--model", folder, "--vector", a, "--frames", 1, "--out", tmp_path / "x.gif")
    assert bad.returncode == 2 and "2 to 1000 frames" in bad.stderr
    # apply --orthogonal: a then b is a plus b less what b shares with a
    p = run("apply", "--model", folder, "--seed", 3, "--vector", a, "--vector", b, "--orthogonal", "--out", tmp_path / "o.png")
    assert p.returncode == 0, p.stderr
    from editgan.vectors import load_vector

    w = apply_vectors(G16.w_plus_from_seed(3), [(load_vector(a), 1.0), (load_vector(b), 1.0)], mode="orthogonal")
    with torch.no_grad():
        expected = to_pil(G16.synthesis(w[None])[0])
    assert np.array_equal(pixels(Image.open(tmp_path / "o.png")), pixels(expected))


def test_middle_frame_is_the_unedited_image_on_the_shipped_faces_model():
    """On this model a batched convolution moves some pixel of seeds 1 and 10 by one level
    against a lone render: the unedited frame must still be the image the app shows."""
    import editgan

    m = editgan.load_model("faces")
    smile = editgan.load_vector(ROOT / "vectors" / "faces" / "smile.safetensors")
    for seed in (1, 10):
        w = m.w_from_seed(seed)
        frames = sweep_frames(m.G, w, [smile], -2, 2, 9, batch_size=8)
        assert len(frames) == 9
        assert np.array_equal(pixels(frames[4]), pixels(to_pil(m.render(w)[0])))
