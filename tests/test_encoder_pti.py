"""Real photos: the encoder, optimisation from its guess, pivotal tuning, and where each is used.

All on the tiny 32-px model: an encoder trained here for a few hundred steps on the
generator's own samples, held-out samples it never saw, and "photos" the generator never
drew (smooth random pictures).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from editgan import app_logic as L
from editgan.embedding import InversionConfig, PTIConfig, invert, pivotal_tuning, psnr
from editgan.encoder import Encoder, EncoderConfig, EncoderError, EncoderTrainConfig, train_encoder
from editgan.model import load_model
from editgan.vectors import EditVector, apply_vectors, check_compatible

HELD_OUT = range(5000, 5008)


@pytest.fixture(scope="module")
def encoder(tiny_model, tmp_path_factory):
    run = tmp_path_factory.mktemp("encoder-run")
    return train_encoder(tiny_model.G, EncoderTrainConfig(steps=300, batch=8, lr=2e-3), run_dir=run)


def held_out(G):
    ws = G.w_plus_from_seeds(list(HELD_OUT))
    with torch.no_grad():
        return ws, G.synthesis(ws)


def photo_like(resolution: int, seed: int = 0) -> torch.Tensor:
    """A smooth random picture in [-1, 1] that no generator here drew."""
    g = torch.Generator().manual_seed(seed)
    x = F.interpolate(torch.rand(1, 3, 6, 6, generator=g) * 2 - 1, size=resolution, mode="bicubic", align_corners=False)
    return x[0].clamp(-1, 1)


@pytest.mark.slow
def test_the_encoder_guesses_held_out_samples_far_better_than_the_mean(tiny_model, encoder):
    G = tiny_model.G
    ws, images = held_out(G)
    with torch.no_grad():
        guess = encoder(images)
        recon = G.synthesis(guess)
        mean = G.synthesis(G.w_plus(G.mean_w()[None]).expand(len(ws), -1, -1))
    enc = np.mean([psnr(a, b) for a, b in zip(recon, images)])
    base = np.mean([psnr(a, b) for a, b in zip(mean, images)])
    assert enc > base + 4.0, (enc, base)
    # in latent space too: nearer the true W+ than the mean latent is
    err = (guess - ws).pow(2).mean().sqrt() / (ws - G.mean_w()).pow(2).mean().sqrt()
    assert err < 0.8


def test_encoder_files_round_trip_and_belong_to_one_generator(tiny_model, encoder, tmp_path):
    folder = tmp_path / "model"
    tiny_model.G.save_pretrained(folder)
    tiny_model.segmenter.save_pretrained(folder)
    encoder.save_pretrained(folder)
    m = load_model(str(folder))
    assert m.encoder is not None
    x = held_out(tiny_model.G)[1][:2]
    assert torch.equal(m.encoder(x), encoder(x))
    # the same folder with another generator: the encoder is left out, with a warning, and the model still loads
    other = type(tiny_model.G)(tiny_model.G.config)
    other.save_pretrained(folder)
    with pytest.warns(UserWarning, match="encoder not used"):
        assert load_model(str(folder)).encoder is None
    with pytest.raises(EncoderError, match="trained for generator"):
        encoder.check_generator(other)
    (folder / "encoder.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(EncoderError, match="could not be read"):
        Encoder.from_pretrained(folder)
    with pytest.raises(EncoderError, match=r"images \(N, 3, 32, 32\)"):
        encoder(torch.zeros(1, 3, 16, 16))


def test_training_resumes_from_its_checkpoint(tiny_model, tmp_path):
    cfg = EncoderTrainConfig(steps=6, batch=2, checkpoint_every=0.0)
    straight = train_encoder(tiny_model.G, cfg)
    train_encoder(tiny_model.G, EncoderTrainConfig(steps=3, batch=2, checkpoint_every=0.0), run_dir=tmp_path)
    seen = []
    resumed = train_encoder(tiny_model.G, cfg, run_dir=tmp_path, progress=lambda s, t, info: seen.append(s))
    assert seen == [4, 5, 6]  # only the missing steps ran
    # 3 + 3 steps are not the same run as 6 (the cosine lr schedule depends on the total), but both learnt
    assert resumed.state_dict().keys() == straight.state_dict().keys()


def test_invert_reports_each_stage_and_optimisation_improves_on_the_guess(tiny_model, encoder):
    G = tiny_model.G
    _, images = held_out(G)
    seen = []
    res = invert(G, images[0], encoder, InversionConfig(steps=40), progress=lambda st, s, t, info: seen.append(st))
    assert [s.stage for s in res.stages] == ["encoder", "optimisation"]
    assert seen[0] == "encoder" and seen[-1] == "optimisation" and seen.count("optimisation") == 40
    assert res.stages[1].psnr > res.stages[0].psnr
    assert res.psnr == pytest.approx(psnr(res.image, images[0]))
    assert res.generator is None
    no_encoder = invert(G, images[0], None, InversionConfig(steps=40))
    assert [s.stage for s in no_encoder.stages] == ["optimisation"]


@pytest.mark.slow
def test_pivotal_tuning_fits_a_photo_and_keeps_the_generator_elsewhere(tiny_model, encoder):
    G = tiny_model.G
    before = G.fingerprint()
    photo = photo_like(G.resolution)
    res = invert(G, photo, encoder, InversionConfig(steps=50, pti_steps=150))
    assert [s.stage for s in res.stages] == ["encoder", "optimisation", "pivotal tuning"]
    opt, pti = res.stages[1].psnr, res.stages[2].psnr
    assert pti > opt + 3.0, (opt, pti)
    assert G.fingerprint() == before  # the model itself is never changed
    tuned = res.generator
    assert tuned is not G and tuned.fingerprint() != before and tuned.tuned_from == before
    # vectors made for the model apply to its tuned copy, and move its image
    vec = EditVector(delta=0.5 * torch.randn(G.num_ws, G.w_dim, generator=torch.Generator().manual_seed(1)),
                     name="v", model_fingerprint=before)
    check_compatible(vec, tuned)
    w2 = apply_vectors(res.w_plus, [(vec, 1.0)], tuned)
    with torch.no_grad():
        assert (tuned.synthesis(w2[None]) - tuned.synthesis(res.w_plus[None])).abs().mean() > 0.01


@pytest.mark.slow
def test_pivotal_tuning_keeps_what_edits_do_near_the_pivot(tiny_model):
    """A held-out sample with noise (close to what the generator draws, not exactly): after PTI,
    moving the latent changes the tuned image as it changed the model's. (How far-away samples
    drift is measured on the shipped models by scripts/measure_embedding.py: this random tiny
    model drifts far more than a trained one.)"""
    G = tiny_model.G
    ws, images = held_out(G)
    noisy = (images[0] + 0.1 * torch.randn(images[0].shape, generator=torch.Generator().manual_seed(2))).clamp(-1, 1)
    res = invert(G, noisy, None, InversionConfig(steps=60, pti_steps=150))
    tuned, w = res.generator, res.w_plus
    assert res.stages[-1].psnr > res.stages[-2].psnr + 1.0
    g = torch.Generator().manual_seed(3)
    corr = []
    with torch.no_grad():
        for _ in range(4):
            d = 0.5 * torch.randn(w.shape, generator=g) * (ws - G.mean_w()).std()
            moved_G = (G.synthesis((w + d)[None]) - G.synthesis(w[None])).flatten()
            moved_t = (tuned.synthesis((w + d)[None]) - tuned.synthesis(w[None])).flatten()
            corr.append(float(torch.corrcoef(torch.stack([moved_G, moved_t]))[0, 1]))
    assert min(corr) > 0.8, corr


def test_pivotal_tuning_refuses_a_wrong_size(tiny_model):
    with pytest.raises(ValueError, match="32, 32"):
        pivotal_tuning(tiny_model.G, tiny_model.G.w_plus(tiny_model.G.mean_w()[None])[0], torch.zeros(3, 8, 8),
                       PTIConfig(steps=1))


@pytest.mark.slow
def test_app_faithful_embedding_is_this_sessions_alone(tiny_model, encoder, tmp_path):
    from dataclasses import replace

    model = replace(tiny_model, encoder=encoder)
    key = L.register_model(model, "tiny-with-encoder", vectors_dir=tmp_path)
    path = tmp_path / "photo.png"
    Image.fromarray(((photo_like(48, seed=3).permute(1, 2, 0).numpy() + 1) * 127.5).astype(np.uint8)).save(path)
    events = []
    alice = L.new_session(key, 1)
    alice, report, target = L.embed_photo(alice, str(path), steps=20, pti_steps=60,
                                          progress=lambda s, t, info: events.append(info["stage"]))
    assert [s["stage"] for s in report["stages"]] == ["encoder", "optimisation", "pivotal tuning"]
    assert events[0] == "encoder" and events[-1] == "pivotal tuning"
    assert report["crop"] == "48 x 48, resized to 32 x 32"
    assert alice.generator is not None and alice.generator is not model.G
    shown = L.render_image(alice)
    assert psnr(shown, target) == pytest.approx(report["stages"][-1]["psnr"], abs=0.05)
    assert psnr(shown, target) > psnr(model.G.synthesis(alice.w_src[None])[0].detach(), target) + 1.0
    # another user on the same model draws with the model's own generator
    bob = L.new_session(key, 1)
    assert bob.generator is None
    assert torch.equal(L.render_image(bob), L.render_image(L.undo(alice)))
    # undo goes back to the sample (and its generator), redo to the tuned photo
    assert L.undo(alice).generator is None and L.redo(L.undo(alice)).generator is alice.generator
    # a part-map edit of the photo draws with the tuned copy
    _, labels = L.render(alice)
    new_target = labels.clone()
    new_target[10:20, 10:20] = (labels[10:20, 10:20] + 1) % len(model.class_names)
    edited, _ = L.run_edit(alice, new_target, steps=5)
    assert edited.generator is alice.generator
    with torch.no_grad():
        expected = alice.generator.synthesis(edited.w_current(model.G)[None])[0]
    assert torch.equal(L.render_image(edited), expected)


def test_cli_embeds_with_the_encoder_and_pivotal_tuning(tiny_model, encoder, tmp_path, capsys):
    from editgan.cli import main

    folder = tmp_path / "model"
    tiny_model.G.save_pretrained(folder)
    tiny_model.segmenter.save_pretrained(folder)
    encoder.save_pretrained(folder)
    photo = tmp_path / "photo.png"
    Image.fromarray(((photo_like(40, seed=5).permute(1, 2, 0).numpy() + 1) * 127.5).astype(np.uint8)).save(photo)
    assert main(["embed", "--model", str(folder), "--image", str(photo), "--embed-steps", "5", "--pti-steps", "5",
                 "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "encoder" in out and "optimisation" in out and "pivotal tuning" in out
    assert (tmp_path / "out" / "latent.safetensors").is_file() and (tmp_path / "out" / "reconstruction.png").is_file()
    assert main(["embed", "--model", str(folder), "--image", str(photo), "--embed-steps", "5", "--no-encoder",
                 "--out", str(tmp_path / "out2")]) == 0
    out = capsys.readouterr().out
    assert "encoder" not in out.split("embedded")[1].split("\n")[0] and "pivotal" not in out


def test_a_history_keeps_at_most_two_tuned_generators():
    gens = [object() for _ in range(3)]
    history = [{"generator": None}, {"generator": gens[0]}, {"generator": gens[0]}, {"generator": None},
               {"generator": gens[1]}, {"generator": gens[2]}]
    kept = L.drop_old_tuned(history)
    assert kept == history[3:]  # the steps up to the oldest copy's last use are gone, the rest kept in order
    assert L.drop_old_tuned(history[3:]) == history[3:]


@pytest.mark.slow
def test_faithful_embedding_through_the_api(tiny_model, encoder, tmp_path):
    """gradio_client: a photo embedded with the encoder and pivotal tuning; the shown image is the
    tuned copy's; a second client (another visitor) still sees the model's own images."""
    from dataclasses import replace

    from gradio_client import Client, handle_file

    from conftest import launch_app

    model = replace(tiny_model, encoder=encoder)
    url, demo = launch_app(model, tmp_path / "vectors", seed=2)
    try:
        alice, bob = (Client(url, verbose=False, download_files=str(tmp_path / n)) for n in ("a", "b"))
        photo = tmp_path / "photo.png"
        Image.fromarray(((photo_like(50, seed=4).permute(1, 2, 0).numpy() + 1) * 127.5).astype(np.uint8)).save(photo)
        out = alice.predict(handle_file(str(photo)), 10, 0.6, True, 50, api_name="/embed")
        info = out[4]  # the outputs without the state: before, after, parts, canvas, info, target
        assert "encoder" in info and "optimisation" in info and "pivotal tuning" in info and "resized to 32 x 32" in info
        shown = torch.from_numpy(np.asarray(Image.open(out[1]).convert("RGB"), dtype=np.float32)).permute(2, 0, 1) / 127.5 - 1
        target = torch.from_numpy(np.asarray(Image.open(out[5]).convert("RGB"), dtype=np.float32)).permute(2, 0, 1) / 127.5 - 1
        tuned_psnr = float(info.split("pivotal tuning ")[1].split(" dB")[0])
        assert psnr(shown, target) == pytest.approx(tuned_psnr, abs=0.3)  # PNG rounding
        plain = bob.predict(handle_file(str(photo)), 10, 0.6, api_name="/embed")[4]
        assert "pivotal tuning" not in plain
    finally:
        demo.close()


def test_an_encoder_warm_starts_from_one_made_for_the_model_a_generator_was_tuned_from(tiny_model, encoder):
    """A sharpened default model keeps its encoder's weights as the starting point."""
    import copy

    G2 = copy.deepcopy(tiny_model.G)
    with torch.no_grad():
        G2.synthesis.blocks()[-1].conv1.bias.add_(0.01)  # a fine-tuned copy: another fingerprint
    E2 = train_encoder(G2, EncoderTrainConfig(steps=0), init=encoder)
    assert E2.config.generator_fingerprint == G2.fingerprint() != encoder.config.generator_fingerprint
    for (name, a), b in zip(E2.state_dict().items(), encoder.state_dict().values()):
        if name not in ("w_mean", "w_std"):
            assert torch.equal(a, b), name
    _, images = held_out(G2)
    _, images1 = held_out(tiny_model.G)
    with torch.no_grad():
        warm = psnr(G2.synthesis(E2(images)), images)
        before = psnr(tiny_model.G.synthesis(encoder(images1)), images1)
        mean = psnr(G2.synthesis(G2.w_plus(G2.mean_w()[None]).expand(len(images), -1, -1)), images)
    assert warm > before - 1.0 and warm > mean + 3.0, (warm, before, mean)  # good guesses from step 0

    other = Encoder(EncoderConfig(resolution=encoder.config.resolution, num_ws=encoder.config.num_ws + 1,
                                  w_dim=encoder.config.w_dim))
    with pytest.raises(ValueError, match="does not fit"):
        train_encoder(G2, EncoderTrainConfig(steps=0), init=other)
