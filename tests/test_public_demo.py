"""A public demo (a Space): callers name no server paths, visitors never share files, tokens never show.

The app runs with EDITGAN_PUBLIC=1 on the tiny model, launched as app.main launches it
(queue, upload limit); everything is driven through gradio_client as any caller could.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

from conftest import edit_a_square, serve
from editgan.ui import common

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402

OFF = 0.6
CLASSES = "low #0000ff\nmid #00c800\nhigh #ffff00"


@pytest.fixture(scope="module")
def public(tiny_model, tmp_path_factory):
    """(app URL, labels root, shared vectors folder) of a public demo."""
    import app

    mp = pytest.MonkeyPatch()
    mp.setenv("EDITGAN_PUBLIC", "1")
    labels = tmp_path_factory.mktemp("labels")
    mp.setenv("EDITGAN_LABELS_DIR", str(labels))
    shared = tmp_path_factory.mktemp("shared-vectors")
    demo = app.build_demo(tiny_model, vectors_dir=shared, seed=2)
    url = serve(demo)
    yield url, labels, shared, demo
    demo.close()
    mp.undo()


def raw_call(url: str, api: str, data: list) -> tuple[str, str]:
    """One call of an endpoint over Gradio's HTTP API, with no client-side upload: (last event, its data)."""
    import httpx

    event_id = httpx.post(f"{url}gradio_api/call/{api}", json={"data": data}, timeout=30).json()["event_id"]
    event, payload = "", ""
    with httpx.stream("GET", f"{url}gradio_api/call/{api}/{event_id}", timeout=60) as r:
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                payload = line.split(":", 1)[1].strip()
                if event in ("complete", "error"):
                    break
    return event, payload


def client_of(public, tmp_path, name="a") -> Client:
    return Client(public[0], verbose=False, download_files=str(tmp_path / name))


def test_callers_cannot_name_server_paths(public, tmp_path, tiny_model):
    c = client_of(public, tmp_path)
    model_dir = tmp_path / "model"
    tiny_model.G.save_pretrained(model_dir)
    for source in ["/etc", str(model_dir), "../weights/faces", str(model_dir / "config.json")]:
        with pytest.raises(Exception, match="public demo loads only"):
            c.predict(source, 1, 0.7, OFF, api_name="/load_model")
    # a file argument must be an upload: a server path sent as one (raw HTTP, no upload) is refused
    secret = tmp_path / "secret.png"
    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(secret)
    raw = {"path": str(secret), "meta": {"_type": "gradio.FileData"}}
    assert raw_call(public[0], "sample", [3, 0.7, OFF])[0] == "complete"  # the raw route itself works
    for api, args in (("embed", [raw, 10, OFF]), ("edit_parts", [raw, 10, OFF]), ("load_vector", [raw])):
        event, data = raw_call(public[0], api, args)
        assert event == "error", (api, data)
    # project names are names, never paths
    for name in ["../../x", "/tmp/x", "a/b", "..", ".hidden", ""]:
        with pytest.raises(Exception, match="project name"):
            c.predict(name, CLASSES, 4, 0.7, 4, api_name="/label_open")


def test_a_symlinked_project_is_not_followed(public, tmp_path):
    c = client_of(public, tmp_path)
    c.predict("first", CLASSES, 4, 0.7, 4, api_name="/label_open")  # makes this visitor's folder
    mine = public[1] / "users" / c.session_hash
    assert (mine / "first").is_dir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (mine / "evil").symlink_to(outside)
    with pytest.raises(Exception, match="link out of the labels folder"):
        c.predict("evil", CLASSES, 4, 0.7, 4, api_name="/label_open")
    assert list(outside.iterdir()) == []  # nothing was written through the link


def test_visitors_projects_and_vectors_never_collide(public, tmp_path, tiny_model):
    a, b = client_of(public, tmp_path, "a"), client_of(public, tmp_path, "b")
    for c in (a, b):
        c.predict("same-name", CLASSES, 4, 0.7, 4, api_name="/label_open")
    users = public[1] / "users"
    assert (users / a.session_hash / "same-name" / "labelling").is_dir()
    assert (users / b.session_hash / "same-name" / "labelling").is_dir()
    assert a.session_hash != b.session_hash
    # a vector saved by a lands in a's own folder: not in the shared one, not in b's list
    edit_a_square(a, tiny_model, tmp_path, seed=3)
    assert "Saved **mine**" in a.predict("mine", "", False, "", "", False, api_name="/save_vector")
    assert list(public[2].iterdir()) == []
    assert (users / a.session_hash / "vectors").is_dir()
    assert "mine" in [r["name"] for r in a.predict(api_name="/vectors")]
    assert "mine" in [r["name"] for r in a.predict(api_name="/refresh_vectors")]  # kept on reload
    assert "mine" not in [r["name"] for r in b.predict(api_name="/refresh_vectors")]


def test_uploads_are_size_limited(public, tmp_path):
    c = client_of(public, tmp_path)
    big = tmp_path / "big.png"
    limit = common.MAX_UPLOAD
    assert limit.endswith("mb")
    big.write_bytes(b"\x89PNG" + b"\0" * (int(limit[:-2]) * 1024 * 1024 + 1024))
    with pytest.raises(Exception, match="(?i)maximum|size|too large|413"):
        c.predict(handle_file(str(big)), 10, OFF, api_name="/embed")


def test_long_jobs_are_queued_behind_a_concurrency_limit(public):
    demo = public[3]
    limits = {fn.api_name: (fn.concurrency_limit, fn.concurrency_id) for fn in demo.fns.values() if fn.api_name}
    for api in ("edit", "edit_parts", "embed", "refine", "load_model", "label_open", "label_train", "label_save"):
        assert limits[api] == (common.HEAVY_LIMIT, "heavy"), api
    for api in ("save_vector", "list_hub", "pull_vector", "label_push"):
        assert limits[api][0] is not None and limits[api][0] <= 4, api


def test_tokens_never_show_in_errors_or_logs(public, tmp_path, tiny_model, hub_server, caplog):
    token = "hf_this_is_a_secret_token_1234"
    c = client_of(public, tmp_path)
    edit_a_square(c, tiny_model, tmp_path, seed=5, rows=slice(0, 8))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(Exception) as e:
        c.predict("tok", "", True, "alice/vectors", token, False, api_name="/save_vector")
    assert token not in str(e.value) and "alice/vectors" in str(e.value)
    c.predict("main", CLASSES, 4, 0.7, 4, api_name="/label_open")
    with pytest.raises(Exception) as e:
        c.predict("alice/model", token, False, api_name="/label_push")
    assert token not in str(e.value)
    assert token not in caplog.text
