"""editgan.hub through the real huggingface_hub client, against a local Hub-protocol server."""

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from editgan import hub
from conftest import tiny_G
from editgan.generator import Generator
from editgan.hub import HubError, RemoteVectorError
from editgan.vectors import EditVector, IncompatibleVectorError, VectorError, save_vector
from hub_server import HubServer

ROOT = Path(__file__).resolve().parent.parent
TOKENS = {
    "tok-alice": {"user": "alice", "orgs": ["lab"]},
    "tok-bob": {"user": "bob"},
    "tok-alice-read": {"user": "alice", "write": False},
}
ALICE = "tok-alice"




@pytest.fixture(scope="module")
def G2():
    return tiny_G(1)


@pytest.fixture(autouse=True)
def hf_env(tmp_path, monkeypatch):
    """A private Hub cache and no ambient token, for the client in this process and subprocesses."""
    import huggingface_hub.constants as C

    cache = tmp_path / "hf-cache"
    monkeypatch.setattr(C, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(C, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(C, "HF_HUB_OFFLINE", False)
    for k in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_ENDPOINT"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    return cache


@pytest.fixture
def server():
    with HubServer(TOKENS, page_size=2) as s:  # small pages: the client must follow the Link headers
        yield s
    assert not [r for r in s.requests if r.status >= 500], "the test server failed on a request"


def make_vec(G, name, seed=1, shape=None, **kw) -> EditVector:
    shape = shape or (G.num_ws, G.w_dim)
    kw.setdefault("model_fingerprint", G.fingerprint())
    kw.setdefault("parts", ["mouth"])
    return EditVector(delta=torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), name=name,
                      description=f"the {name} edit", **kw)


def write_vecs(folder: Path, *vecs) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for v in vecs:
        save_vector(v, folder / f"{v.name}.safetensors")
    return folder


def resolves(server, since=0):
    return [r for r in server.requests[since:] if "/resolve/" in r.path and r.method == "GET"]


# ----- push / list / pull ----------------------------------------------------------------------
def test_push_list_headers_only_pull_bit_exact(G, G2, server, tmp_path):
    big = make_vec(G2, "big", seed=9, shape=(16, 2048), model_repo="bob/cars")  # 128 KiB: past the client's first read
    vecs = [make_vec(G, n, seed=i, model_repo="alice/faces") for i, n in enumerate(["smile", "age", "hair", "glasses"])]
    folder = write_vecs(tmp_path / "vecs", *vecs, big)
    url = hub.push_vectors(folder, "alice/vecs", token=ALICE, endpoint=server.url)
    assert url == f"{server.url}/alice/vecs"
    files = server.files("alice/vecs")
    assert {f"vectors/{v.name}.safetensors" for v in [*vecs, big]} <= set(files)
    card = files["README.md"].decode()
    for v in [*vecs, big]:
        assert f"`{v.name}`" in card and v.model_fingerprint in card
    assert "library_name: editgan" in card and "- edit-vectors" in card
    assert f"- editgan-model-{G.fingerprint()}" in card and f"- editgan-model-{G2.fingerprint()}" in card
    assert "bob/cars" in card and "the smile edit" in card

    n0 = len(server.requests)
    infos = hub.list_vectors("alice/vecs", G=G, endpoint=server.url)
    assert [i.name for i in infos] == sorted(v.name for v in [*vecs, big])
    by_name = {i.name: i for i in infos}
    assert by_name["smile"].compatible and by_name["smile"].parts == ["mouth"]
    assert by_name["smile"].model_repo == "alice/faces" and by_name["smile"].shape == (G.num_ws, G.w_dim)
    assert by_name["big"].compatible is False and G2.fingerprint() in by_name["big"].incompatibility
    # headers only: every file read was a ranged GET, and the big one was not read whole
    reads = resolves(server, n0)
    assert len(reads) == 5 and all(r.range for r in reads)
    big_read = [r for r in reads if r.path.endswith("big.safetensors")]
    assert big_read[0].sent < len(files["vectors/big.safetensors"]) / 1.2
    assert any("cursor=" in r.query for r in server.requests[n0:])  # pagination followed

    for v in vecs:
        back = hub.pull_vector("alice/vecs", v.name, G=G, endpoint=server.url)
        assert torch.equal(back.delta.view(torch.int32), v.delta.view(torch.int32))
        assert (back.name, back.parts, back.model_fingerprint, back.method) == (v.name, v.parts, v.model_fingerprint, v.method)


def test_push_again_updates_the_card_and_keeps_other_files(G, server, tmp_path):
    smile = make_vec(G, "smile")
    hub.push_vectors(write_vecs(tmp_path / "one", smile), "alice/vecs", token=ALICE, endpoint=server.url,
                     tags=["faces"])
    first = server.repo("alice/vecs").branches["main"]
    card = server.files("alice/vecs")["README.md"].decode()
    head, tail = card.split("<!-- editgan-vectors:end -->")
    server.put_file("alice/vecs", "README.md", (head.replace("library_name", "license: mit\nlibrary_name")
                                                + "<!-- editgan-vectors:end -->\n\nMade by Alice.\n").encode())
    server.put_file("alice/vecs", "notes/howto.txt", b"keep me")
    hub.push_vectors([tmp_path / "one" / "smile.safetensors",
                      write_vecs(tmp_path / "two", make_vec(G, "age")) / "age.safetensors"],
                     "alice/vecs", token=ALICE, endpoint=server.url)
    files = server.files("alice/vecs")
    assert files["notes/howto.txt"] == b"keep me"
    assert {"vectors/smile.safetensors", "vectors/age.safetensors"} <= set(files)
    card = files["README.md"].decode()
    assert "`smile`" in card and "`age`" in card and "2 edit vectors" in card
    assert "Made by Alice." in card and "license: mit" in card and "- faces" in card  # the owner's parts are kept
    assert card.count("<!-- editgan-vectors:begin -->") == 1
    # revisions: the first push is still there as it was
    assert [i.name for i in hub.list_vectors("alice/vecs", revision=first, endpoint=server.url)] == ["smile"]
    assert [i.name for i in hub.list_vectors("alice/vecs", endpoint=server.url)] == ["age", "smile"]
    with pytest.raises(HubError, match="no edit vector named 'age'; vectors there: smile"):
        hub.pull_vector("alice/vecs", "age", revision=first, endpoint=server.url)
    assert torch.equal(hub.pull_vector("alice/vecs", "smile", revision=first, endpoint=server.url).delta, smile.delta)


def test_server_speaks_the_hub_protocol_to_the_client(server):
    """A few client calls straight at the server, beyond what editgan.hub needs."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(endpoint=server.url, token=ALICE)
    url = api.create_repo("alice/r")
    assert url == f"{server.url}/alice/r" and url.repo_id == "alice/r"
    assert api.create_repo("alice/r", exist_ok=True) == url  # 409 carries the url
    with pytest.raises(HfHubHTTPError) as e:
        api.create_repo("alice/r")
    assert e.value.response.status_code == 409
    info = api.upload_file(path_or_fileobj=b"hello", path_in_repo="a/b.txt", repo_id="alice/r")
    api.upload_file(path_or_fileobj=b"hello", path_in_repo="a/b.txt", repo_id="alice/r")  # unchanged: no commit
    assert api.model_info("alice/r").sha == info.oid
    assert sorted(api.list_repo_files("alice/r")) == [".gitattributes", "a/b.txt"]
    api.delete_file("a/b.txt", repo_id="alice/r")
    assert api.list_repo_files("alice/r") == [".gitattributes"]
    assert api.list_repo_files("alice/r", revision=info.oid) == [".gitattributes", "a/b.txt"]
    assert api.file_exists("alice/r", "a/b.txt", revision=info.oid) and not api.file_exists("alice/r", "a/b.txt")


def test_a_push_racing_another_is_retried_not_lost(G, server, tmp_path, monkeypatch):
    hub.push_vectors(write_vecs(tmp_path / "a", make_vec(G, "smile")), "alice/vecs", token=ALICE, endpoint=server.url)
    real, races = hub._remote_vectors, []

    def meanwhile(api, repo_id, sha):  # someone else pushes between our read of the repo and our commit
        out = real(api, repo_id, sha)
        if len(races) < races_wanted:
            races.append(sha)
            server.put_file("alice/vecs", f"vectors/other{len(races)}.safetensors",
                            (tmp_path / "a" / "smile.safetensors").read_bytes().replace(b'"smile"', b'"other"'))
        return out

    monkeypatch.setattr(hub, "_remote_vectors", meanwhile)
    races_wanted = 1
    hub.push_vectors(write_vecs(tmp_path / "b", make_vec(G, "age")), "alice/vecs", token=ALICE, endpoint=server.url)
    files = server.files("alice/vecs")
    assert {"vectors/smile.safetensors", "vectors/age.safetensors", "vectors/other1.safetensors"} <= set(files)
    card = files["README.md"].decode()
    assert "`age`" in card and "`smile`" in card and "`other`" in card  # the racing push is in the card too
    races_wanted = 1 + hub.PUSH_ATTEMPTS  # it keeps happening: give up with a clear message
    with pytest.raises(HubError, match="changed while pushing"):
        hub.push_vectors(write_vecs(tmp_path / "c", make_vec(G, "hair")), "alice/vecs", token=ALICE, endpoint=server.url)


def test_offline_pull_from_the_cache_in_a_fresh_process(G, server, tmp_path, hf_env):
    vec = make_vec(G, "smile")
    hub.push_vectors(write_vecs(tmp_path / "v", vec), "alice/vecs", token=ALICE, endpoint=server.url)
    hub.pull_vector("alice/vecs", "smile", endpoint=server.url)  # fills the cache
    url = server.url
    server.stop()  # no Hub at all from here on
    script = textwrap.dedent(f"""
        import hashlib
        from editgan.hub import pull_vector, HubError
        v = pull_vector("alice/vecs", "smile")
        print("OK", hashlib.sha256(v.delta.numpy().tobytes()).hexdigest())
        try:
            pull_vector("alice/vecs", "age")
        except HubError as e:
            print("ERR", e)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": url, "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert f"OK {hashlib.sha256(vec.delta.numpy().tobytes()).hexdigest()}" in p.stdout
    assert "ERR" in p.stdout and "offline mode is on (HF_HUB_OFFLINE=1)" in p.stdout and "not in the local cache" in p.stdout


# ----- refusals and errors -------------------------------------------------------------------------
def test_incompatible_vector_is_refused_naming_both_fingerprints(G, G2, server, tmp_path):
    hub.push_vectors(write_vecs(tmp_path / "v", make_vec(G2, "cars", model_repo="bob/cars")), "alice/vecs",
                     token=ALICE, endpoint=server.url)
    with pytest.raises(IncompatibleVectorError) as e:
        hub.pull_vector("alice/vecs", "cars", G=G, endpoint=server.url)
    assert G.fingerprint() in str(e.value) and G2.fingerprint() in str(e.value) and "bob/cars" in str(e.value)
    assert hub.pull_vector("alice/vecs", "cars", G=G2, endpoint=server.url).name == "cars"


def test_missing_repo_missing_vector_private_repo(G, server, tmp_path):
    with pytest.raises(HubError, match="no such repository"):
        hub.list_vectors("alice/nothing", endpoint=server.url)
    with pytest.raises(HubError, match="no such repository"):
        hub.pull_vector("alice/nothing", "smile", endpoint=server.url)
    hub.push_vectors(write_vecs(tmp_path / "v", make_vec(G, "smile"), make_vec(G, "age")), "alice/secret",
                     token=ALICE, private=True, endpoint=server.url)
    with pytest.raises(HubError, match="no edit vector named 'frown'; vectors there: age, smile"):
        hub.pull_vector("alice/secret", "frown", token=ALICE, endpoint=server.url)
    for token in (None, "tok-bob"):  # private: invisible to others, as if it did not exist
        with pytest.raises(HubError, match="no such repository"):
            hub.list_vectors("alice/secret", token=token, endpoint=server.url)
    assert [i.name for i in hub.list_vectors("alice/secret", token=ALICE, endpoint=server.url)] == ["age", "smile"]
    with pytest.raises(HubError, match="no revision 'v9'"):
        hub.list_vectors("alice/secret", revision="v9", token=ALICE, endpoint=server.url)


def test_no_network(server):
    url = server.url
    server.stop()
    with pytest.raises(HubError, match="cannot be reached"):
        hub.list_vectors("alice/vecs", endpoint=url)


def test_corrupt_downloads_and_files_that_are_not_vectors(G, server, tmp_path, hf_env):
    vec = make_vec(G, "smile")
    hub.push_vectors(write_vecs(tmp_path / "v", vec), "alice/vecs", token=ALICE, endpoint=server.url)
    server.corrupt_downloads = True  # right length, right ETag, wrong bytes
    with pytest.raises(RemoteVectorError, match="corrupt.*pull it again") as e:
        hub.pull_vector("alice/vecs", "smile", endpoint=server.url)
    assert isinstance(e.value, VectorError) and isinstance(e.value, HubError)
    server.corrupt_downloads = False
    back = hub.pull_vector("alice/vecs", "smile", endpoint=server.url)  # the bad copy was dropped from the cache
    assert torch.equal(back.delta, vec.delta)

    server.put_file("alice/vecs", "vectors/junk.safetensors", b"<html>not a tensor file</html>")
    save_vector(make_vec(G, "other"), tmp_path / "other.safetensors")
    from safetensors.torch import save_file

    save_file({"w_plus": torch.zeros(4, 16)}, str(tmp_path / "latent.safetensors"))
    server.put_file("alice/vecs", "vectors/latent.safetensors", (tmp_path / "latent.safetensors").read_bytes())
    with pytest.raises(VectorError, match="junk.safetensors.*not a safetensors file"):
        hub.pull_vector("alice/vecs", "junk", endpoint=server.url)
    with pytest.raises(VectorError, match="not an editgan edit vector"):
        hub.pull_vector("alice/vecs", "latent", endpoint=server.url)
    with pytest.warns(UserWarning) as caught:
        infos = hub.list_vectors("alice/vecs", endpoint=server.url)
    messages = sorted(str(w.message) for w in caught)
    assert "junk.safetensors: not a safetensors file" in messages[0]
    assert "latent.safetensors" in messages[1] and "not an editgan edit vector" in messages[1]
    assert [i.name for i in infos] == ["smile"]


def test_tokens_refused_missing_or_without_write_access(G, server, tmp_path):
    folder = write_vecs(tmp_path / "v", make_vec(G, "smile"))
    n0 = len(server.requests)
    with pytest.raises(HubError, match="needs a Hugging Face token"):
        hub.push_vectors(folder, "alice/vecs", endpoint=server.url)
    assert len(server.requests) == n0  # refused before any request
    with pytest.raises(HubError, match="refused the token") as e:
        hub.push_vectors(folder, "alice/vecs", token="hf_not_a_real_token", endpoint=server.url)
    assert "hf_not_a_real_token" not in str(e.value)
    with pytest.raises(HubError, match="refused the token"):
        hub.list_vectors("alice/vecs", token="hf_not_a_real_token", endpoint=server.url)
    with pytest.raises(HubError, match="permission denied"):
        hub.push_vectors(folder, "alice/vecs", token="tok-bob", endpoint=server.url)  # bob cannot create under alice
    hub.push_vectors(folder, "alice/vecs", token=ALICE, endpoint=server.url)
    for token in ("tok-bob", "tok-alice-read"):
        with pytest.raises(HubError, match="permission denied"):
            hub.push_vectors(folder, "alice/vecs", token=token, endpoint=server.url)
    hub.push_vectors(folder, "lab/vecs", token=ALICE, endpoint=server.url)  # an org of alice's


def test_search_by_tag_and_fingerprint(G, G2, server, tmp_path):
    hub.push_vectors(write_vecs(tmp_path / "a", make_vec(G, "smile")), "alice/face-vecs", token=ALICE,
                     endpoint=server.url, tags=["faces"])
    hub.push_vectors(write_vecs(tmp_path / "b", make_vec(G2, "wheels")), "bob/car-vecs", token="tok-bob",
                     endpoint=server.url, tags=["cars"])
    hub.push_vectors(write_vecs(tmp_path / "c", make_vec(G, "hidden")), "alice/private-vecs", token=ALICE,
                     endpoint=server.url, private=True)
    folder = G.save_pretrained(tmp_path / "model")
    hub.push_model(folder, "alice/faces", token=ALICE, endpoint=server.url)  # a model repo, not a vector repo
    assert hub.list_vectors("alice/faces", endpoint=server.url) == []
    assert hub.search_vector_repos(endpoint=server.url) == ["alice/face-vecs", "bob/car-vecs"]
    assert hub.search_vector_repos(fingerprint=G.fingerprint(), endpoint=server.url) == ["alice/face-vecs"]
    assert hub.search_vector_repos(fingerprint=G.fingerprint(), endpoint=server.url, token=ALICE) == \
        ["alice/face-vecs", "alice/private-vecs"]
    assert hub.search_vector_repos(G=G2, endpoint=server.url) == ["bob/car-vecs"]
    assert hub.search_vector_repos(tag="cars", endpoint=server.url) == ["bob/car-vecs"]
    assert hub.search_vector_repos(tag="cars", fingerprint=G.fingerprint(), endpoint=server.url) == []


def test_model_push_and_download_round_trip(G, server, tmp_path):
    folder = G.save_pretrained(tmp_path / "model")
    (folder / "segmenter.json").write_text('{"classes": ["a"]}')
    (folder / "reader").mkdir()
    (folder / "reader" / "reader.json").write_text("{}")
    url = hub.push_model(folder, "alice/faces", token=ALICE, endpoint=server.url)
    assert url.endswith("/alice/faces")
    local = Path(hub.download_model("alice/faces", endpoint=server.url))
    for p in folder.rglob("*"):
        if p.is_file():
            assert (local / p.relative_to(folder)).read_bytes() == p.read_bytes(), p
    card = (local / "README.md").read_text()
    assert G.fingerprint() in card and "library_name: editgan" in card
    assert Generator.from_pretrained(local).fingerprint() == G.fingerprint()
    with pytest.raises(HubError, match="not a loadable editgan model folder"):
        hub.push_model(tmp_path, "alice/x", token=ALICE, endpoint=server.url)


# ----- the command line ------------------------------------------------------------------------
def test_cli_list_pull_and_errors(G, server, tmp_path):
    hub.push_vectors(write_vecs(tmp_path / "v", make_vec(G, "smile"), make_vec(G, "age")), "alice/vecs", token=ALICE,
                     endpoint=server.url)
    env = {"HF_ENDPOINT": server.url, "HF_TOKEN": ALICE}
    script = textwrap.dedent("""
        import sys
        from editgan.cli import main
        for argv in (["vectors", "list", "alice/vecs"], ["vectors", "pull", "alice/vecs", "smile", "--out", sys.argv[1]],
                     ["vectors", "search"], ["vectors", "pull", "alice/nothing", "x"],
                     ["vectors", "list", "alice/vecs", "--token", "hf_secret_do_not_print"]):
            try:
                code = main(argv)
            except SystemExit as e:
                code = e.code
            print("EXIT", code, flush=True)
    """)
    env_all = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **env}
    p = subprocess.run([sys.executable, "-c", script, str(tmp_path / "out")], capture_output=True, text=True,
                       env=env_all, timeout=120)
    out, err = p.stdout, p.stderr
    assert out.count("EXIT 0") == 3 and out.count("EXIT 2") == 2, out + err
    assert "name" in out and "smile" in out and "age" in out
    assert f"{G.num_ws}x{G.w_dim}" in out
    assert (tmp_path / "out" / "smile.safetensors").is_file()
    assert "alice/vecs" in out
    assert "error: cannot pull a vector from alice/nothing: no such repository" in err
    assert "error: cannot list the vectors of alice/vecs: the Hub refused the token" in err
    assert "Traceback" not in err and "hf_secret_do_not_print" not in out + err and ALICE not in out + err
