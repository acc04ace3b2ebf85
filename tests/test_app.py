"""The app: its pure logic (editgan.app_logic) and every API endpoint through gradio_client.

The app runs in-process on 127.0.0.1 on the tiny model (conftest's `tiny_model`: a random
32-px generator whose segmentation branch reads three classes "low", "mid", "high"; the
"high" class is the brightest part of most samples). Vectors are saved under a temp folder.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import serve
from editgan import app_logic as L

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402

HIGH = 2  # class index of "high"
SEED = 4  # a sample whose "high" parts are its brightest
OFF = 0.6  # part-map opacity argument of the endpoints


# ----- pure logic ---------------------------------------------------------------------------------
PALETTE = torch.tensor([(0, 0, 255), (0, 200, 0), (255, 255, 0)], dtype=torch.uint8)


def disc_layer(size, centre, radius, rgb, rim=3, rim_rgb=None, rim_alpha=90):
    """An RGBA paint layer with an opaque disc and an anti-aliased rim of low alpha (off colour)."""
    yy, xx = np.mgrid[:size, :size]
    d = np.hypot(yy - centre[0], xx - centre[1])
    layer = np.zeros((size, size, 4), np.uint8)
    layer[d <= radius, :3] = rgb
    layer[d <= radius, 3] = 255
    ring = (d > radius) & (d <= radius + rim)
    layer[ring, :3] = rim_rgb if rim_rgb is not None else rgb
    layer[ring, 3] = rim_alpha
    return layer


def test_anti_aliased_strokes_snap_to_the_class_and_drop_the_faint_rim():
    # 256-px canvas over a 32-px model: 8 canvas pixels per model pixel
    layer = disc_layer(256, (128, 128), 40, (250, 250, 10), rim=12, rim_rgb=(128, 128, 128), rim_alpha=100)
    painted, cls = L.paint_from_layer(layer, PALETTE, 32)
    assert painted[16, 16] and cls[16, 16] == HIGH  # off-palette (250, 250, 10) -> (255, 255, 0)
    assert not painted[16, 16 + 7]  # the rim (alpha 100/255 < 0.5) is not paint
    assert not painted[0, 0]
    area = painted.sum().item()
    assert abs(area - np.pi * (40 / 8) ** 2) < 20  # the disc's area in model pixels, not the rim's


def test_editor_value_paints_over_the_current_part_map_and_ignores_the_background():
    current = torch.zeros(32, 32, dtype=torch.long)
    current[:, 16:] = 1
    bright_bg = np.full((256, 256, 4), 255, np.uint8)  # a background all in a class colour must not count
    bright_bg[..., :3] = (255, 255, 0)
    value = {"background": bright_bg, "layers": [], "composite": bright_bg}
    assert torch.equal(L.labels_from_editor(value, current, PALETTE), current)
    value["layers"] = [disc_layer(256, (64, 64), 30, (255, 255, 0)), disc_layer(256, (64, 64), 10, (0, 0, 255))]
    out = L.labels_from_editor(value, current, PALETTE)
    assert out[8, 8] == 0  # the later layer paints over the earlier one
    assert out[8, 10] == HIGH and out[20, 20] == 1 and out[31, 0] == 0
    changed = (out != current)
    assert changed.any() and not changed[:, 24:].any()
    with pytest.raises(L.AppError, match="RGBA"):
        L.labels_from_editor({"layers": [np.zeros((256, 256, 3), np.uint8)]}, current, PALETTE)
    with pytest.raises(L.AppError, match="paint"):
        L.labels_from_editor(None, current, PALETTE)


def test_layers_of_any_canvas_size_are_resampled_to_the_model():
    layer = np.zeros((100, 100, 4), np.uint8)
    layer[:50, :50] = (0, 200, 0, 255)
    painted, cls = L.paint_from_layer(layer, PALETTE, 32)
    assert painted[:15, :15].all() and not painted[17:, :].any() and (cls[:15, :15] == 1).all()


def test_strengths_are_clamped_and_checked(tiny_model, tmp_path):
    key = L.register_model(tiny_model, "tiny-logic", vectors_dir=tmp_path)
    s = L.new_session(key, 1)
    vec = make_vector(tiny_model, "v", 0.1)
    s = L.add_vector(s, vec, "test")
    assert L.set_strengths(s, [5.0, 1.0]).strengths == [2.0]
    with pytest.raises(L.AppError, match="number"):
        L.set_strengths(s, ["x"])
    with pytest.raises(L.AppError, match="undo"):
        L.undo(s)
    with pytest.raises(L.AppError, match="seed"):
        L.sample(s, -1, 0.7)
    with pytest.raises(L.AppError, match="name"):
        L.check_name("../etc/passwd")


@pytest.mark.parametrize("mode,fmt,size", [("I;16", "PNG", (40, 30)), ("CMYK", "JPEG", (64, 64)), ("P", "GIF", (20, 50)),
                                           ("1", "BMP", (33, 33)), ("LA", "PNG", (1, 1)), ("RGB", "WEBP", (500, 90))])
def test_uploads_of_any_mode_and_size_embed(tiny_model, tmp_path, mode, fmt, size, monkeypatch):
    from editgan.embedding import InversionResult, StageReport

    def quick_invert(G, target, encoder=None, config=None, progress=None):  # the reading is under test, not the optimiser
        assert target.shape == (3, G.resolution, G.resolution) and target.abs().max() <= 1
        w = G.w_plus(G.mean_w()[None])[0]
        return InversionResult(w_plus=w, image=target, psnr=99.0, stages=[StageReport("optimisation", 99.0, 0.1, 10)])

    monkeypatch.setattr(L, "invert", quick_invert)
    key = L.register_model(tiny_model, "tiny-logic", vectors_dir=tmp_path)
    path = tmp_path / f"photo.{fmt.lower()}"
    Image.new(mode, size, 1).save(path, format=fmt)
    session, report, target = L.embed_photo(L.new_session(key, 1), str(path), steps=10)
    assert target.shape == (3, 32, 32) and report["steps"] == 10 and session.source["kind"] == "photo"
    assert report["crop"].endswith("resized to 32 x 32") and f"{size[0]} x {size[1]}" in report["crop"]
    assert L.undo(session).source["kind"] == "seed"


def make_vector(model, name, scale, seed=0):
    from editgan.vectors import EditVector

    g = torch.Generator().manual_seed(seed)
    delta = scale * torch.randn(model.G.num_ws, model.G.w_dim, generator=g)
    return EditVector(delta=delta, name=name, description="random", model_fingerprint=model.fingerprint, parts=["high"])


# ----- the app through gradio_client ----------------------------------------------------------------
@pytest.fixture(scope="module")
def app_url(tiny_model, tmp_path_factory):
    import app

    demo = app.build_demo(tiny_model, vectors_dir=tmp_path_factory.mktemp("vectors"), seed=SEED)
    yield serve(demo)
    demo.close()


@pytest.fixture
def client(app_url, tmp_path):
    return Client(app_url, verbose=False, download_files=str(tmp_path))


def rgb(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0


def pixels(image: torch.Tensor) -> np.ndarray:
    """(3, R, R) in [-1, 1] -> (R, R, 3) in [0, 1], as the app draws it."""
    return (image.clamp(-1, 1).permute(1, 2, 0).numpy() + 1) / 2


def labels_of(path) -> torch.Tensor:
    return L.snap_to_palette(np.asarray(Image.open(path).convert("RGB")), PALETTE)


def paint_square(parts: torch.Tensor, cls: int, size: int = 8) -> tuple[torch.Tensor, tuple[slice, slice]]:
    """Paint `cls` over the size x size square that changes the most pixels."""
    other = (parts != cls).float()[None, None]
    counts = torch.nn.functional.avg_pool2d(other, size, stride=1)[0, 0]
    i, j = divmod(int(counts.argmax()), counts.shape[1])
    sq = (slice(i, i + size), slice(j, j + size))
    target = parts.clone()
    target[sq] = cls
    return target, sq


def far_mask(sq, r: int, margin: int) -> torch.Tensor:
    m = torch.ones(r, r, dtype=torch.bool)
    m[max(sq[0].start - margin, 0):sq[0].stop + margin, max(sq[1].start - margin, 0):sq[1].stop + margin] = False
    return m


def sample(client, seed=SEED):
    before, after, parts, editor, info = client.predict(seed, 0.7, OFF, api_name="/sample")
    return after, parts, editor, info


def test_sample_gives_the_seed_image_and_its_part_map(client, tiny_model):
    image, parts, editor, info = sample(client, SEED)
    assert f"seed {SEED}" in info
    w = tiny_model.w_from_seed(SEED, 0.7)
    expected, labels = tiny_model.render(w)
    got = rgb(image)
    assert got.shape == (32, 32, 3)
    assert np.abs(got - pixels(expected)).max() < 1.5 / 255  # PNG, exact up to rounding
    assert torch.equal(labels_of(parts), labels)
    assert set(editor) >= {"background", "layers", "composite"} and editor["layers"] == []
    other, *_ = sample(client, SEED + 1)
    assert np.abs(rgb(other) - got).mean() > 0.01


def check_edit(result, before_image, before_parts, target, sq, r=32):
    _, after, parts, _, info = result
    a, b = rgb(after), rgb(before_image)
    new_parts = labels_of(parts)
    changed = before_parts != target
    assert (new_parts[changed] == HIGH).float().mean() > 0.6, info
    diff = np.abs(a - b).mean(-1)
    inside = diff[sq].mean()
    far = diff[far_mask(sq, r, 6).numpy()].mean()
    assert inside > 3 * far and far < 0.03, (inside, far)  # changed where painted, nearly unchanged far away
    lum_gain = (a.mean(-1) - b.mean(-1))[changed.numpy()].mean()
    assert lum_gain > 0.01, lum_gain  # "high" is the bright class of this sample: it got brighter there
    return a


def test_edit_with_a_part_map_file(client, tmp_path):
    image, parts_path, _, _ = sample(client)
    parts = labels_of(parts_path)
    target, sq = paint_square(parts, HIGH)
    painted = tmp_path / "painted.png"
    Image.fromarray(PALETTE[target].numpy()).resize((256, 256), Image.NEAREST).save(painted)  # any square size
    result = client.predict(handle_file(str(painted)), 60, OFF, api_name="/edit_parts")
    check_edit(result, image, parts, target, sq)
    assert "1 edit" in result[4]
    # Undo gives the image back
    _, after, *_ = client.predict(OFF, api_name="/undo")
    assert np.abs(rgb(after) - rgb(image)).max() < 1.5 / 255


def test_edit_with_a_painted_editor_value(client, tmp_path):
    """What the browser sends: background (image + part map blended) and an RGBA paint layer."""
    image, parts_path, editor, _ = sample(client)
    parts = labels_of(parts_path)
    target, sq = paint_square(parts, HIGH)
    scale = 8
    layer = np.zeros((32 * scale, 32 * scale, 4), np.uint8)
    mask = torch.zeros(32, 32, dtype=torch.bool)
    mask[sq] = True
    big = mask.repeat_interleave(scale, 0).repeat_interleave(scale, 1).numpy()
    layer[big] = (255, 255, 0, 255)
    layer_path = tmp_path / "layer.png"
    Image.fromarray(layer).save(layer_path)
    value = {"background": handle_file(editor["background"]), "layers": [handle_file(str(layer_path))],
             "composite": handle_file(editor["composite"]), "id": None}
    result = client.predict(value, 60, OFF, api_name="/edit")
    check_edit(result, image, parts, target, sq)


def test_empty_edit_and_bad_files_give_clear_errors(client, tmp_path):
    _, parts_path, editor, _ = sample(client)
    with pytest.raises(Exception, match="paint a change first"):
        client.predict(handle_file(parts_path), 20, OFF, api_name="/edit_parts")
    empty = {"background": handle_file(editor["background"]), "layers": [],
             "composite": handle_file(editor["composite"]), "id": None}
    with pytest.raises(Exception, match="paint a change first"):
        client.predict(empty, 20, OFF, api_name="/edit")
    fake = tmp_path / "photo.png"
    fake.write_text("this is not an image")
    with pytest.raises(Exception, match="cannot use this upload as an image"):
        client.predict(handle_file(str(fake)), 10, OFF, api_name="/embed")
    with pytest.raises(Exception, match="(?i)part map"):
        client.predict(handle_file(str(fake)), 20, OFF, api_name="/edit_parts")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(Exception, match="(?i)invalid file type|image"):
        client.predict(handle_file(str(text)), 10, OFF, api_name="/embed")
    with pytest.raises(Exception, match="minimum"):
        client.predict(-5, 0.7, OFF, api_name="/sample")
    with pytest.raises(Exception, match="make an edit first"):
        client.predict("v", "", False, "", "", False, api_name="/save_vector")


def test_embed_any_size_and_mode(client, tmp_path):
    photo = tmp_path / "photo.png"
    arr = np.zeros((45, 70, 4), np.uint8)  # not square, RGBA, not the model's size
    arr[..., 0] = np.linspace(0, 255, 70)[None]
    arr[..., 3] = 255
    Image.fromarray(arr).save(photo)
    out = client.predict(handle_file(str(photo)), 20, OFF, api_name="/embed")
    assert "PSNR" in out[4] and "photo.png" in out[4]
    assert rgb(out[5]).shape == (32, 32, 3)
    grey = tmp_path / "grey.jpg"
    Image.fromarray(np.full((300, 200), 90, np.uint8)).save(grey)  # mode L, JPEG
    client.predict(handle_file(str(grey)), 10, OFF, api_name="/embed")


def test_vectors_save_apply_combine_export(client, tmp_path, tiny_model):
    image, parts_path, _, _ = sample(client)
    parts = labels_of(parts_path)
    target, _ = paint_square(parts, HIGH)
    painted = tmp_path / "painted.png"
    Image.fromarray(PALETTE[target].numpy()).save(painted)
    client.predict(handle_file(str(painted)), 40, OFF, api_name="/edit_parts")
    msg = client.predict("brighter", "paint high", False, "", "", False, api_name="/save_vector")
    assert "brighter" in msg
    with pytest.raises(Exception, match="exists already"):
        client.predict("brighter", "", False, "", "", False, api_name="/save_vector")
    table = client.predict(api_name="/vectors")
    names = [row["name"] for row in table]
    assert "brighter" in names and table[names.index("brighter")]["parts"] == ["high"]
    # a second vector from a file made for this model
    other = tmp_path / "noise.safetensors"
    from editgan.vectors import load_vector, save_vector

    save_vector(make_vector(tiny_model, "noise", 0.5, seed=1), other)
    client.predict(handle_file(str(other)), api_name="/load_vector")
    table = client.predict(api_name="/vectors")
    names = [row["name"] for row in table]
    i, j = names.index("brighter"), names.index("noise")

    def apply(strengths: dict):
        values = [0.0] * L.MAX_SLOTS
        for k, v in strengths.items():
            values[k] = v
        img, info = client.predict(*values, api_name="/apply_vectors")
        return rgb(img), info

    _, current, *_ = client.predict(OFF, api_name="/undo")  # back to the sample, vectors kept
    base = rgb(current)
    zero, _ = apply({})
    assert np.abs(zero - base).max() < 1.5 / 255  # strength 0 = the image itself
    one, info = apply({i: 1.0})
    assert np.abs(one - base).mean() > 0.005 and "brighter +1.0" in info
    minus, _ = apply({i: -1.0})
    assert np.abs(minus - one).mean() > 0.005
    both, info = apply({i: 1.0, j: 1.0})
    noise_only, _ = apply({j: 1.0})
    assert np.abs(both - one).mean() > 0.005 and np.abs(both - noise_only).mean() > 0.005
    # the image of w + d1 + d2, computed here
    vec_b = load_vector(L.vectors_dir(tiny_model.source) / "brighter.safetensors")
    w = tiny_model.w_from_seed(SEED, 0.7)
    both_ref, _ = tiny_model.render(w + vec_b.delta + make_vector(tiny_model, "noise", 0.5, seed=1).delta)
    assert np.abs(both - pixels(both_ref)).max() < 1.5 / 255
    # export at the combined strengths: the PNG says what was done
    apply({i: 1.0, j: -0.5})
    png = client.predict(api_name="/export")
    meta = L.read_png_metadata(png)
    assert meta["text"]["Software"] == "editgan"
    assert "editgan" in meta["text"]["Description"]
    data = meta["editgan"]
    assert data["model_fingerprint"] == tiny_model.fingerprint
    assert {(v["name"], v["strength"]) for v in data["vectors"]} == {("brighter", 1.0), ("noise", -0.5)}
    assert data["source"] == {"kind": "seed", "seed": SEED, "truncation": 0.7}


def test_export_lists_the_part_map_edits(client, tmp_path):
    _, parts_path, _, _ = sample(client)
    target, _ = paint_square(labels_of(parts_path), HIGH)
    painted = tmp_path / "painted.png"
    Image.fromarray(PALETTE[target].numpy()).save(painted)
    client.predict(handle_file(str(painted)), 20, OFF, api_name="/edit_parts")
    meta = L.read_png_metadata(client.predict(api_name="/export"))["editgan"]
    (e,) = meta["part_map_edits"]
    assert e["kind"] == "part-map edit" and e["parts"] == ["high"] and e["pixels"] > 0


def test_a_vector_from_another_model_is_refused(client, tmp_path):
    from editgan.generator import Generator, GeneratorConfig
    from editgan.vectors import EditVector, save_vector

    torch.manual_seed(123)
    other = Generator(GeneratorConfig(resolution=32, z_dim=16, w_dim=32, mapping_layers=2, channels=(32, 32, 16, 16)))
    vec = EditVector(delta=torch.randn(other.num_ws, other.w_dim), name="alien", model_fingerprint=other.fingerprint())
    path = save_vector(vec, tmp_path / "alien.safetensors")
    with pytest.raises(Exception, match="made for model"):
        client.predict(handle_file(str(path)), api_name="/load_vector")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a vector")
    with pytest.raises(Exception, match="not a safetensors file"):
        client.predict(handle_file(str(junk)), api_name="/load_vector")


def test_refine_bakes_the_vectors_and_undo_restores_them(client, tiny_model, tmp_path):
    from editgan.vectors import save_vector

    sample(client)
    vec = make_vector(tiny_model, "r", 0.3, seed=7)
    vec.parts = ["high"]
    client.predict(handle_file(str(save_vector(vec, tmp_path / "r.safetensors"))), api_name="/load_vector")
    assert [row["name"] for row in client.predict(api_name="/vectors")] == ["r"]
    values = [0.0] * L.MAX_SLOTS
    values[0] = 1.0
    client.predict(*values, api_name="/apply_vectors")
    _, after, _, _, info = client.predict(10, OFF, api_name="/refine")
    assert "1 edit" in info
    assert all(row["strength"] == 0.0 for row in client.predict(api_name="/vectors"))
    client.predict(OFF, api_name="/undo")
    assert client.predict(api_name="/vectors")[0]["strength"] == 1.0
    client.predict(api_name="/refresh_vectors")  # the local vectors join; the loaded one stays
    assert "r" in [row["name"] for row in client.predict(api_name="/vectors")]


def test_push_list_and_pull_through_the_hub(client, app_url, tiny_model, tmp_path, hub_server):
    _, parts_path, _, _ = sample(client)
    target, _ = paint_square(labels_of(parts_path), HIGH)
    painted = tmp_path / "painted.png"
    Image.fromarray(PALETTE[target].numpy()).save(painted)
    client.predict(handle_file(str(painted)), 20, OFF, api_name="/edit_parts")
    with pytest.raises(Exception, match="(?i)push|token|401|credentials"):
        client.predict("shared", "", True, "alice/vectors", "", False, api_name="/save_vector")
    msg = client.predict("shared2", "to share", True, "alice/vectors", "tok-alice", False, api_name="/save_vector")
    assert "Pushed" in msg
    other = Client(app_url, verbose=False, download_files=str(tmp_path / "other"))  # another user
    rows, dropdown = other.predict("alice/vectors", api_name="/list_hub")
    assert [r["name"] for r in rows] == ["shared2"] and rows[0]["compatible"] is True
    assert "shared2" in other.predict("alice/vectors", "shared2", api_name="/pull_vector")
    table = other.predict(api_name="/vectors")
    assert "shared2" in [r["name"] for r in table] and table[-1]["origin"] == "hub:alice/vectors"
    with pytest.raises(Exception, match="nope"):
        other.predict("alice/vectors", "nope", api_name="/pull_vector")
    with pytest.raises(Exception, match="user/name"):
        other.predict("not a repo", api_name="/list_hub")


def test_a_hub_vector_for_another_model_is_refused(client, tmp_path, hub_server):
    """A vector on the (loopback) Hub made for another model: listed as not compatible, refused on pull."""
    from editgan.generator import Generator, GeneratorConfig
    from editgan.hub import push_vectors
    from editgan.vectors import EditVector, save_vector

    torch.manual_seed(321)
    other = Generator(GeneratorConfig(resolution=32, z_dim=16, w_dim=32, mapping_layers=2, channels=(32, 32, 16, 16)))
    vec = EditVector(delta=torch.randn(other.num_ws, other.w_dim), name="alien", model_fingerprint=other.fingerprint())
    push_vectors([str(save_vector(vec, tmp_path / "alien.safetensors"))], "alice/alien-vectors", token="tok-alice")
    rows, _ = client.predict("alice/alien-vectors", api_name="/list_hub")
    assert [(r["name"], r["compatible"]) for r in rows] == [("alien", False)]
    with pytest.raises(Exception, match=f"made for model {other.fingerprint()}"):
        client.predict("alice/alien-vectors", "alien", api_name="/pull_vector")


def test_model_picker(client, tiny_model, tmp_path):
    folder = tmp_path / "model"
    tiny_model.G.save_pretrained(folder)
    tiny_model.segmenter.save_pretrained(folder)
    out = client.predict(str(folder), 2, 0.7, OFF, api_name="/load_model")
    image, legend, model_md = out[1], out[5], out[6]
    assert "high" in legend and tiny_model.fingerprint in model_md and "3 parts" in model_md
    assert rgb(image).shape == (32, 32, 3)
    with pytest.raises(Exception, match="cannot load the model"):
        client.predict(str(tmp_path / "missing"), 2, 0.7, OFF, api_name="/load_model")
    with pytest.raises(Exception, match="give a model"):
        client.predict("  ", 2, 0.7, OFF, api_name="/load_model")


def test_sessions_do_not_share_state(app_url, tmp_path):
    a = Client(app_url, verbose=False, download_files=str(tmp_path / "a"))
    b = Client(app_url, verbose=False, download_files=str(tmp_path / "b"))
    img_a, *_ = sample(a, 1)
    img_b, *_ = sample(b, 2)
    again_a, _ = a.predict(*[0.0] * L.MAX_SLOTS, api_name="/apply_vectors")
    assert np.abs(rgb(again_a) - rgb(img_a)).max() < 1.5 / 255
    assert np.abs(rgb(img_a) - rgb(img_b)).mean() > 0.01


def test_load_bench_quick():
    """bench/load_app.py --quick: 3 users sliding for 5 s, no errors, no response for the wrong user."""
    import json
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, str(root / "bench" / "load_app.py"), "--quick", "--json"], cwd=root,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    result = json.loads(out.stdout[out.stdout.index("{"):])
    assert result["requests"] > 0 and result["errors"] == 0
    assert result["wrong_info"] == 0 and result["wrong_images"] == 0 and result["images_checked"] == result["requests"]
    assert result["latency_p50_ms"] > 0


def test_a_public_demo_loads_no_local_paths(monkeypatch, tmp_path):
    monkeypatch.setenv("EDITGAN_PUBLIC", "1")
    monkeypatch.setenv("EDITGAN_LABELS_DIR", str(tmp_path / "labels"))
    for source in ["/etc", "../weights/faces", str(tmp_path), "weights/faces/model.safetensors"]:
        with pytest.raises(L.AppError, match="public demo"):
            L.get_model(source, "alice", check=True)
    L.check_source_allowed("faces")
    L.check_source_allowed("someone/editgan-cars")  # a Hub repo id is fine
    mine = tmp_path / "labels" / "users" / "alice" / "p" / "model"
    mine.mkdir(parents=True)
    L.check_source_allowed(str(mine), "alice")  # saved by alice's own labelling tab
    with pytest.raises(L.AppError, match="public demo"):
        L.check_source_allowed(str(mine), "bob")  # not bob's
    monkeypatch.setenv("EDITGAN_PUBLIC", "0")
    L.check_source_allowed("/etc")  # locally, any folder or checkpoint
