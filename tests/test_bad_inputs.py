"""Bad input through the API: each case gets a clear message, and nothing the user made is lost.

After every refused call the session is checked: the same history (every step), the same
image, the same vectors. The app runs on the tiny model; the Hub is the loopback server.
"""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import edit_a_square, launch_app, write_files
from editgan import app_logic as L
from editgan.vectors import EditVector, save_vector

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402

OFF = 0.6


@pytest.fixture(scope="module")
def app_url(tiny_model, tmp_path_factory):
    url, demo = launch_app(tiny_model, tmp_path_factory.mktemp("vectors"), seed=2)
    yield url
    demo.close()


@pytest.fixture(scope="module")
def user(app_url, tiny_model, tmp_path_factory):
    """A user with work to lose: a sample, an edit and a loaded vector at strength 1."""
    tmp = tmp_path_factory.mktemp("user")
    c = Client(app_url, verbose=False, download_files=str(tmp))
    edit_a_square(c, tiny_model, tmp, seed=4, rows=slice(8, 16))
    vec = EditVector(delta=0.3 * torch.randn(tiny_model.G.num_ws, tiny_model.G.w_dim, generator=torch.Generator().manual_seed(0)),
                     name="mine", model_fingerprint=tiny_model.fingerprint)
    c.predict(handle_file(str(save_vector(vec, tmp / "mine.safetensors"))), api_name="/load_vector")
    c.predict(*([1.0] + [0.0] * (L.MAX_SLOTS - 1)), api_name="/apply_vectors")
    return c, tmp


def state_of(c) -> tuple:
    return json.dumps(c.predict(api_name="/history")), json.dumps(c.predict(api_name="/vectors"))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height but carries no pixels: its size is known before decoding."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def image_files(tmp) -> dict:
    good = tmp / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(good)
    data = good.read_bytes()
    files = {"zero-byte": b"", "truncated": data[: len(data) // 2], "not an image": b"hello, world\n",
             "huge": png_header_only(9000, 9000), "20000 x 20000": png_header_only(20000, 20000),
             "decompression bomb": png_header_only(100000, 100000)}
    return write_files(tmp, files, ".png")


IMAGE_ERRORS = {"zero-byte": "cannot", "truncated": "cannot|truncated", "not an image": "cannot",
                "huge": "9000 x 9000 pixels.*limit is 50 MP", "20000 x 20000": "too large.*limit is 50 MP",
                "decompression bomb": "too large.*limit is 50 MP"}


@pytest.mark.parametrize("case", list(IMAGE_ERRORS))
def test_bad_images_for_embed_and_part_maps(user, case):
    c, tmp = user
    path = image_files(tmp)[case]
    before = state_of(c)
    with pytest.raises(Exception, match=IMAGE_ERRORS[case]):
        c.predict(handle_file(str(path)), 10, OFF, api_name="/embed")
    with pytest.raises(Exception, match=IMAGE_ERRORS[case] + "|part map"):
        c.predict(handle_file(str(path)), 10, OFF, api_name="/edit_parts")
    assert state_of(c) == before


@pytest.mark.parametrize("mode", ["CMYK", "I;16", "RGBA", "L", "P-animated"])
def test_any_image_mode_embeds(user, mode):
    c, tmp = user
    path = tmp / f"mode-{mode.replace(';', '')}.{'gif' if mode == 'P-animated' else 'png' if mode != 'CMYK' else 'jpg'}"
    rng = np.random.default_rng(1)
    if mode == "P-animated":
        frames = [Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).convert("P") for _ in range(3)]
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    elif mode == "I;16":
        Image.fromarray(rng.integers(0, 65535, (40, 50), dtype=np.uint16)).save(path)
    else:
        Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).convert(mode).save(path)
    out = c.predict(handle_file(str(path)), 10, OFF, api_name="/embed")
    assert "PSNR" in out[4]
    c.predict(OFF, api_name="/undo")  # back to the edited image for the next cases


def vector_cases(tmp, tiny_model) -> dict:
    G = tiny_model.G
    good = EditVector(delta=torch.randn(G.num_ws, G.w_dim), name="v", model_fingerprint=tiny_model.fingerprint)
    path = save_vector(good, tmp / "good.safetensors")
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header["delta"]["shape"] = [G.num_ws, G.w_dim * 4]  # the header lies about the data it carries
    lying = json.dumps(header).encode()
    nan = bytearray(data)
    nan[8 + n: 8 + n + 4] = struct.pack("<f", float("nan"))
    shape = EditVector(delta=torch.randn(G.num_ws + 1, G.w_dim), name="s", model_fingerprint=tiny_model.fingerprint)
    cases = {"lying header": struct.pack("<Q", len(lying)) + lying + data[8 + n:], "NaN delta": bytes(nan),
             "other latent shape": save_vector(shape, tmp / "shape.safetensors").read_bytes(),
             "truncated": data[:-16], "zero-byte": b""}
    return write_files(tmp, cases, ".safetensors")


VECTOR_ERRORS = {"lying header": "truncated|corrupt", "NaN delta": "NaN", "other latent shape": "shape|made for",
                 "truncated": "truncated", "zero-byte": "empty or truncated"}


@pytest.mark.parametrize("case", list(VECTOR_ERRORS))
def test_bad_vector_files(user, tiny_model, case):
    c, tmp = user
    path = vector_cases(tmp, tiny_model)[case]
    before = state_of(c)
    with pytest.raises(Exception, match=VECTOR_ERRORS[case]):
        c.predict(handle_file(str(path)), api_name="/load_vector")
    assert state_of(c) == before


@pytest.mark.parametrize("args, api, match", [
    ([5.0] + [0.0] * (L.MAX_SLOTS - 1), "/apply_vectors", "(?i)maximum"),
    ([1000, OFF], "/refine", "(?i)maximum|steps"),
    ([None, 5000, OFF], "/edit_parts", "(?i)maximum|steps|part map"),
    ([-1, OFF], "/goto_step", "no step"),
    ([-5, 0.7, OFF], "/sample", "(?i)minimum|seed"),
    (["", "", False, "", "", False], "/save_vector", "vector name"),
    (["../../etc/x", "", False, "", "", False], "/save_vector", "vector name"),
])
def test_out_of_range_numbers_and_names(user, args, api, match):
    c, _ = user
    before = state_of(c)
    with pytest.raises(Exception, match=match):
        c.predict(*args, api_name=api)
    assert state_of(c) == before


def test_infinite_strengths_sent_raw_are_refused(user, app_url):
    """JSON has no NaN, but 1e999 parses as infinity: a raw caller gets an error, not a broken image."""
    import httpx

    c, _ = user
    before = state_of(c)
    body = '{"data": [1e999' + ", 0" * (L.MAX_SLOTS - 1) + '], "session_hash": "%s"}' % c.session_hash
    event_id = httpx.post(f"{app_url}gradio_api/call/apply_vectors", content=body,
                          headers={"content-type": "application/json"}, timeout=30).json()["event_id"]
    with httpx.stream("GET", f"{app_url}gradio_api/call/apply_vectors/{event_id}", timeout=60) as r:
        events = [line for line in r.iter_lines() if line.startswith("event:")]
    assert events and events[-1] == "event: error", events
    assert state_of(c) == before


def test_an_unchanged_or_empty_painted_mask(user, tiny_model):
    c, tmp = user
    before = state_of(c)
    shown = next(r["step"] for r in json.loads(before[0]) if r["current"])
    # the part map exactly as it is: an all-unchanged mask
    _, _, parts, editor, _ = c.predict(shown, OFF, api_name="/goto_step")
    with pytest.raises(Exception, match="paint a change first"):
        c.predict(handle_file(parts), 10, OFF, api_name="/edit_parts")
    empty = {"background": handle_file(editor["background"]), "layers": [], "composite": handle_file(editor["composite"]),
             "id": None}
    with pytest.raises(Exception, match="paint a change first"):
        c.predict(empty, 10, OFF, api_name="/edit")
    assert state_of(c) == before


def test_hub_repos_that_do_not_exist_offline_or_forbidden(user, tiny_model, hub_server, monkeypatch):
    import huggingface_hub.constants as C

    c, tmp = user
    before = state_of(c)
    with pytest.raises(Exception, match="(?i)not found|does not exist|no such"):
        c.predict("alice/no-such-repo", api_name="/list_hub")
    with pytest.raises(Exception, match="(?i)not found|does not exist|no such"):
        c.predict("alice/no-such-repo", "v", api_name="/pull_vector")
    with pytest.raises(Exception, match="(?i)permission|forbidden|403|not allowed|authoriz") as e:
        c.predict("to-bob", "", True, "bob/vectors", "tok-alice", False, api_name="/save_vector")
    assert "saved 'to-bob' here" in str(e.value)  # the vector was made: only the push failed
    monkeypatch.setattr(C, "HF_HUB_OFFLINE", True)
    with pytest.raises(Exception, match="(?i)offline"):
        c.predict("alice/vectors", "v", api_name="/pull_vector")
    monkeypatch.setattr(C, "HF_HUB_OFFLINE", False)
    assert state_of(c) == before
    assert "to-bob" in [r["name"] for r in c.predict(api_name="/refresh_vectors")]
