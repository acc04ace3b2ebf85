"""The edit history: every action is a step; undo, redo and go-to-step return the exact earlier image.

Pure logic on a session, then the same through gradio_client on the tiny model's app.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import launch_app
from editgan import app_logic as L
from editgan.vectors import EditVector

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402

OFF = 0.6


@pytest.fixture(scope="module")
def key(tiny_model, tmp_path_factory):
    return L.register_model(tiny_model, key="tiny-history", vectors_dir=tmp_path_factory.mktemp("vectors"))


def with_vector(session, tiny_model, name="v", seed=1):
    g = torch.Generator().manual_seed(seed)
    delta = 0.5 * torch.randn(tiny_model.G.num_ws, tiny_model.G.w_dim, generator=g)
    vec = EditVector(delta=delta, name=name, model_fingerprint=tiny_model.fingerprint)
    return L.add_vector(session, vec, "test")


def test_every_action_is_a_step_and_goto_returns_its_exact_state(key, tiny_model):
    s = with_vector(L.new_session(key, 1, 0.7), tiny_model)
    images = [L.render_image(s)]
    s = L.sample(s, 2, 0.7)
    images.append(L.render_image(s))
    s = L.set_strengths(s, [1.0])
    images.append(L.render_image(s))
    s = L.set_strengths(s, [1.5])  # the same slider again: one step, not two
    images[-1] = L.render_image(s)
    assert [r["kind"] for r in L.history_table(s)] == ["sample", "sample", "strengths"]
    assert L.history_table(s)[-1]["current"] and "v +1.5" in L.history_table(s)[-1]["label"]
    for i, expected in enumerate(images):
        assert torch.equal(L.render_image(L.goto_step(s, i)), expected)
    back = L.undo(L.undo(s))
    assert torch.equal(L.render_image(back), images[0]) and back.position == 0
    assert torch.equal(L.render_image(L.redo(L.redo(back))), images[2])
    with pytest.raises(L.AppError, match="nothing to undo"):
        L.undo(back)
    with pytest.raises(L.AppError, match="nothing to redo"):
        L.redo(s)
    with pytest.raises(L.AppError, match="no step 7"):
        L.goto_step(s, 7)
    # a new action after going back drops the steps after it
    branched = L.sample(L.goto_step(s, 0), 9, 0.7)
    assert [r["label"].split(" (")[0] for r in L.history_table(branched)] == ["seed 1", "seed 9"]


def test_history_is_bounded_and_thumbnails_are_drawn_once(key):
    s = L.new_session(key, 0, 0.7)
    for seed in range(1, L.MAX_HISTORY + 5):
        s = L.sample(s, seed, 0.7)
    assert len(s.history) == L.MAX_HISTORY and s.position == L.MAX_HISTORY - 1
    assert s.history[0]["label"].startswith("seed 5 ")  # the oldest went first
    thumbs = L.history_thumbnails(s)
    assert len(thumbs) == L.MAX_HISTORY and thumbs[-1][1].startswith("▶")
    first = thumbs[0][0]
    assert L.history_thumbnails(s)[0][0] is first  # kept with the step


@pytest.fixture(scope="module")
def app_url(tiny_model, tmp_path_factory):
    url, demo = launch_app(tiny_model, tmp_path_factory.mktemp("vectors"), seed=3)
    yield url
    demo.close()


def rgb(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_history_goto_undo_redo_through_the_api_return_the_exact_earlier_image(app_url, tmp_path, tiny_model):
    client = Client(app_url, verbose=False, download_files=str(tmp_path))
    shown = []
    _, after, *_ = client.predict(5, 0.7, OFF, api_name="/sample")
    shown.append(rgb(after))
    # an edit: a part map with a square of "high" painted in
    _, _, parts, *_ = client.predict(6, 0.7, OFF, api_name="/sample")
    shown.append(rgb(client.predict(OFF, api_name="/undo")[1]))  # undo lands on seed 5 again
    assert np.array_equal(shown[-1], shown[0])
    _, after, parts, *_ = client.predict(OFF, api_name="/redo")  # forward to seed 6
    seed6 = rgb(after)
    labels = L.snap_to_palette(np.asarray(Image.open(parts).convert("RGB")), tiny_model.palette)
    labels[8:16, 8:16] = 2
    painted = tmp_path / "painted.png"
    Image.fromarray(tiny_model.palette[labels].numpy()).save(painted)
    _, edited, *_ = client.predict(handle_file(str(painted)), 20, OFF, api_name="/edit_parts")
    edited = rgb(edited)
    assert not np.array_equal(edited, seed6)
    table = client.predict(api_name="/history")
    assert [r["kind"] for r in table] == ["sample", "sample", "sample", "edit"] and table[-1]["current"]
    for step, expected in [(1, shown[0]), (2, seed6), (3, edited), (0, None)]:
        _, after, *_ = client.predict(step, OFF, api_name="/goto_step")
        if expected is not None:
            assert np.array_equal(rgb(after), expected), step
    # a failed action leaves the history as it was
    before = client.predict(api_name="/history")
    junk = tmp_path / "photo.png"
    junk.write_bytes(b"not an image")
    with pytest.raises(Exception, match="cannot use this upload"):
        client.predict(handle_file(str(junk)), 10, OFF, api_name="/embed")
    with pytest.raises(Exception, match="no step 40"):
        client.predict(40, OFF, api_name="/goto_step")
    assert client.predict(api_name="/history") == before
    _, after, *_ = client.predict(OFF, api_name="/redo")
    assert np.array_equal(rgb(after), shown[0])


def test_combine_mode_and_sweep_export_through_the_api(app_url, tmp_path, tiny_model):
    """Two overlapping vectors: orthogonal mode draws what editgan.vectors computes; a sweep GIF of N frames."""
    from editgan.embedding import to_pil
    from editgan.sweep import read_gif
    from editgan.vectors import apply_vectors, save_vector

    client = Client(app_url, verbose=False, download_files=str(tmp_path))
    G = tiny_model.G
    g = torch.Generator().manual_seed(5)
    a = 0.4 * torch.randn(G.num_ws, G.w_dim, generator=g)
    b = a + 0.4 * torch.randn(G.num_ws, G.w_dim, generator=g)  # overlaps a: orthogonal mode differs from sum
    for name, d in (("a", a), ("b", b)):
        vec = EditVector(delta=d, name=name, model_fingerprint=tiny_model.fingerprint)
        client.predict(handle_file(str(save_vector(vec, tmp_path / f"{name}.safetensors"))), api_name="/load_vector")
    names = [r["name"] for r in client.predict(api_name="/vectors")]
    values = [0.0] * L.MAX_SLOTS
    values[names.index("a")], values[names.index("b")] = 1.0, 1.0
    client.predict(*values, api_name="/apply_vectors")
    vecs = [L.load_vector_file(L.new_session("tiny-history"), tmp_path / f"{n}.safetensors").vectors[-1]["vector"]
            for n in names]
    w = G.w_plus_from_seed(3, 0.7)
    for mode in ("orthogonal", "sum"):
        _, after, *_ = client.predict(mode, OFF, api_name="/set_combine_mode")
        expected = to_pil(G.synthesis(apply_vectors(w, list(zip(vecs, [1.0, 1.0])), G, mode=mode)[None])[0])
        assert np.abs(rgb(after).astype(int) - np.asarray(expected).astype(int)).max() <= 1, mode
    with pytest.raises(Exception, match="list of choices|combination mode"):
        client.predict("product", OFF, api_name="/set_combine_mode")
    gif = client.predict(-1, 1, 5, 8, "gif", api_name="/sweep")
    n, meta = read_gif(gif)
    assert n == 5 and meta["edited_with"] == "editgan" and meta["sweep"]["values"] == [-1.0, -0.5, 0.0, 0.5, 1.0]
    def frame(k):
        with Image.open(gif) as im:
            im.seek(k)
            return np.asarray(im.convert("RGB")).astype(int)

    unedited = np.asarray(to_pil(G.synthesis(w[None])[0])).astype(int)
    err = [np.abs(frame(k) - unedited).mean() for k in range(5)]
    assert err[2] < 8 and err[2] < min(err[1], err[3]) / 4, err  # the middle frame is the unedited image (GIF palette)
    with pytest.raises(Exception, match="maximum|frames"):
        client.predict(-1, 1, 500, 8, "gif", api_name="/sweep")
    with pytest.raises(Exception, match="sweep range"):
        client.predict(1, -1, 5, 8, "gif", api_name="/sweep")
