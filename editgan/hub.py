"""Sharing edit vectors and models on the Hugging Face Hub, through the `huggingface_hub` client.

A vector repository is a model repo holding `vectors/<name>.safetensors` files (see
`editgan.vectors` for the format) and a README model card that lists every vector in it,
tagged `editgan`, `edit-vectors` and `editgan-model-<fingerprint>` for each model its
vectors were made for, so `search_vector_repos(fingerprint=...)` finds vectors for a model.

- `push_vectors`: create the repo if needed, upload vectors and the regenerated card in one
  commit (other files are kept; the commit is made on top of the state the card was made
  from, so a concurrent push cannot be silently dropped from the card).
- `list_vectors`: reads the safetensors headers only (ranged requests), never whole files.
- `pull_vector`: `hf_hub_download` into the client's standard cache (so it works offline
  afterwards with `HF_HUB_OFFLINE=1`), checked against the Hub's checksum, loaded, and checked
  against a generator when one is given.
- `push_model` / `download_model`: a model folder (config.json + model.safetensors, optional
  segmenter files and README) up and down (`snapshot_download`).

The token comes from the `token` argument, else `HF_TOKEN`, else the login cache (the client
resolves it); it is never printed. Failures are `HubError` with a message that says what to do.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .vectors import (
    SUFFIX,
    EditVector,
    VectorError,
    check_compatible,
    check_delta_entry,
    compatibility_problem,
    fields_from_metadata,
    load_vector,
)

LIBRARY_NAME = "editgan"
VECTORS_TAG = "edit-vectors"
MODEL_TAG_PREFIX = "editgan-model-"
GENERATOR_TAG = "editgan-generator"
VECTORS_DIR = "vectors"
PUSH_ATTEMPTS = 3  # a push that races another one is retried on the new state
CARD_BEGIN = "<!-- editgan-vectors:begin -->"
CARD_END = "<!-- editgan-vectors:end -->"
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
_HEX40, _HEX64 = re.compile(r"^[0-9a-f]{40}$"), re.compile(r"^[0-9a-f]{64}$")


class HubError(RuntimeError):
    """A Hub operation that failed; the message says why and what to do."""


class RemoteVectorError(HubError, VectorError):
    """A file pulled from the Hub that is corrupt or not an edit vector (both a HubError and a VectorError)."""


@dataclass
class VectorInfo:
    """A vector in a Hub repo, as read from its safetensors header (no tensor data downloaded)."""

    name: str
    filename: str  # path in the repo, e.g. vectors/smile.safetensors
    repo_id: str
    revision: str  # the commit the header was read at
    shape: tuple[int, int]
    description: str = ""
    parts: list[str] = field(default_factory=list)
    default_strength: float = 1.0
    model_fingerprint: str = ""
    model_repo: str | None = None
    method: dict = field(default_factory=dict)
    created: str = ""
    size: int | None = None  # bytes
    compatible: bool | None = None  # None unless a generator was given
    incompatibility: str | None = None  # why not, when compatible is False

    @property
    def num_ws(self) -> int:
        return self.shape[0]

    @property
    def w_dim(self) -> int:
        return self.shape[1]


# ----- client plumbing -------------------------------------------------------------------------
def _hf():
    import huggingface_hub

    return huggingface_hub


def _endpoint(endpoint: str | None) -> str:
    from huggingface_hub import constants

    return (endpoint or constants.ENDPOINT).rstrip("/")


def _api(endpoint: str | None, token: str | None):
    from huggingface_hub import HfApi

    return HfApi(endpoint=endpoint, token=token, library_name=LIBRARY_NAME)


def _known_token(token: str | None) -> str | None:
    if token:
        return token
    try:
        return _hf().get_token()
    except Exception:  # noqa: BLE001 - a broken login cache is the same as none here
        return None


def _scrub(text: str, token: str | None) -> str:
    for t in {token, _known_token(None)}:
        if t and len(t) >= 4:
            text = text.replace(t, "***")
    return text


def _check_repo_id(repo_id: str) -> None:
    if not isinstance(repo_id, str) or not _REPO_ID.match(repo_id):
        raise HubError(f"{repo_id!r} is not a Hub repo id: expected owner/name (letters, digits, '-', '_', '.')")


def _check_revision(revision) -> None:
    if revision is not None and not isinstance(revision, str):
        raise TypeError(f"revision must be a branch, tag or commit (str), got {type(revision).__name__}; "
                        "pass the generator by keyword: G=...")


def _check_vector_name(name: str) -> None:
    if not name or "/" in name or "\\" in name or name.startswith(".") or any(ord(c) < 32 for c in name):
        raise VectorError(f"edit vector name {name!r} cannot name a file in a repo: use letters, digits, '-', '_' "
                          "(no '/', no leading '.')")


def _first_line(e: BaseException) -> str:
    server = getattr(e, "server_message", None)
    if server:
        return server.strip()
    s = str(e).strip()
    return s.splitlines()[0].strip() if s else type(e).__name__


@contextmanager
def _translate(action: str, repo_id: str | None, *, endpoint: str | None, token: str | None,
               revision: str | None = None):
    """Turn the client's exceptions into a HubError that says what failed and what to do."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = _endpoint(endpoint)
    what = f"{repo_id}" if repo_id else "the Hub"
    try:
        yield
    except (HubError, VectorError):
        raise
    except RevisionNotFoundError:
        raise HubError(f"cannot {action} {what}: it has no revision {revision!r} (a branch, tag or commit)") from None
    except GatedRepoError:
        raise HubError(f"cannot {action} {what}: the repo is gated; request access on {where}/{repo_id}") from None
    except RepositoryNotFoundError:
        hint = ("or it is private and this token cannot see it" if _known_token(token) else
                "or it is private: log in (`hf auth login`), set HF_TOKEN or pass --token")
        raise HubError(f"cannot {action} {what}: no such repository on {where} ({hint})") from None
    except RemoteEntryNotFoundError as e:
        raise HubError(f"cannot {action} {what}: {_scrub(_first_line(e), token)}") from None
    except LocalEntryNotFoundError as e:
        offline = _hf().constants.is_offline_mode()
        why = ("offline mode is on (HF_HUB_OFFLINE=1)" if offline else
               f"the Hub at {where} cannot be reached ({_scrub(_first_line(e.__cause__ or e), token)})")
        raise HubError(f"cannot {action} {what}: {why} and it is not in the local cache; "
                       f"{'unset HF_HUB_OFFLINE' if offline else 'check the network'} and try again") from None
    except OfflineModeIsEnabled:
        raise HubError(f"cannot {action} {what}: offline mode is on (HF_HUB_OFFLINE=1); unset it to reach "
                       f"{where}") from None
    except HfHubHTTPError as e:
        status = e.response.status_code if e.response is not None else None
        msg = _scrub(_first_line(e), token)
        if status == 401:
            if "invalid credentials" in str(e).lower() or "invalid credentials" in msg.lower():
                raise HubError(f"cannot {action} {what}: the Hub refused the token (invalid or expired). Log in "
                               "again (`hf auth login`), or fix HF_TOKEN / --token") from None
            raise HubError(f"cannot {action} {what}: not logged in ({msg}). Log in (`hf auth login`), set HF_TOKEN "
                           "or pass --token") from None
        if status == 403:
            raise HubError(f"cannot {action} {what}: permission denied ({msg}). Use a token with write access to "
                           f"{repo_id.split('/')[0] if repo_id else 'it'}") from None
        if status == 412:
            raise HubError(f"cannot {action} {what}: the repo changed while pushing (another push?); push again") from None
        raise HubError(f"cannot {action} {what}: the Hub at {where} answered {status}: {msg}") from None
    except (ConnectionError, TimeoutError) as e:
        raise HubError(f"cannot {action} {what}: the Hub at {where} cannot be reached "
                       f"({type(e).__name__}: {_scrub(str(e), token)}); check the network and try again") from None
    except Exception as e:
        transport = _transport_errors()
        if transport and isinstance(e, transport):
            raise HubError(f"cannot {action} {what}: the Hub at {where} cannot be reached "
                           f"({type(e).__name__}: {_scrub(str(e), token)}); check the network and try again") from None
        raise


def _transport_errors() -> tuple:
    out = []
    for mod in ("httpx2", "httpx", "requests"):
        m = sys.modules.get(mod)
        if m is None:
            continue
        cls = getattr(m, "TransportError", None) or getattr(getattr(m, "exceptions", None), "ConnectionError", None)
        if isinstance(cls, type):
            out.append(cls)
    return tuple(out)


def _ensure_repo(api, repo_id: str, private: bool, endpoint: str | None):
    """(repo URL, model info), creating the repo when it does not exist yet."""
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        info = api.model_info(repo_id)
    except RepositoryNotFoundError:
        # exist_ok: a repo created meanwhile (or one we cannot see) is handled by the client / the commit
        api.create_repo(repo_id, private=private, exist_ok=True)
        info = api.model_info(repo_id)
    return f"{_endpoint(endpoint)}/{repo_id}", info


# ----- reading vectors' headers on the Hub -----------------------------------------------------
def _info_from_header(repo_id: str, filename: str, sha: str, metadata: dict, tensors: dict, size=None) -> VectorInfo:
    source = f"{repo_id}/{filename}"
    fields = fields_from_metadata(metadata, source, tensors)
    shape = check_delta_entry(tensors, source)
    return VectorInfo(filename=filename, repo_id=repo_id, revision=sha, shape=shape, size=size, **fields)


def _remote_vectors(api, repo_id: str, sha: str) -> tuple[list[VectorInfo], list[tuple[str, str]]]:
    """(vectors, [(filename, why not)]) under vectors/ at commit sha, from headers only."""
    from huggingface_hub.errors import RemoteEntryNotFoundError, SafetensorsParsingError
    from huggingface_hub.hf_api import RepoFile

    try:
        files = [f for f in api.list_repo_tree(repo_id, path_in_repo=VECTORS_DIR, revision=sha)
                 if isinstance(f, RepoFile) and f.path.endswith(SUFFIX)]
    except RemoteEntryNotFoundError:
        return [], []

    def one(f):
        try:
            meta = api.parse_safetensors_file_metadata(repo_id, f.path, revision=sha)
        except (SafetensorsParsingError, ValueError, KeyError) as e:
            return f.path, f"not a safetensors file ({_first_line(e)})"
        tensors = {k: {"dtype": t.dtype, "shape": list(t.shape)} for k, t in meta.tensors.items()}
        try:
            return _info_from_header(repo_id, f.path, sha, meta.metadata, tensors, f.size), None
        except VectorError as e:
            return f.path, str(e)

    if not files:
        return [], []
    with ThreadPoolExecutor(max_workers=min(8, len(files))) as pool:
        results = list(pool.map(one, files))
    infos = [r for r, err in results if err is None]
    problems = [(r, err) for r, err in results if err is not None]
    return infos, problems


def list_vectors(repo_id: str, revision: str | None = None, G=None, endpoint: str | None = None,
                 token: str | None = None) -> list[VectorInfo]:
    """The edit vectors in a Hub repo (sorted by name), read from their headers only.

    With G, each VectorInfo says whether it can be applied to G (`compatible`, and why not in
    `incompatibility`). Files under vectors/ that are not edit vectors are skipped with a warning.
    """
    _check_repo_id(repo_id)
    _check_revision(revision)
    api = _api(endpoint, token)
    with _translate("list the vectors of", repo_id, endpoint=endpoint, token=token, revision=revision):
        sha = api.model_info(repo_id, revision=revision).sha
        infos, problems = _remote_vectors(api, repo_id, sha)
    for filename, why in problems:
        warnings.warn(f"skipping {repo_id}/{filename}: {why}", stacklevel=2)
    if G is not None:
        for info in infos:
            info.incompatibility = compatibility_problem(info.model_fingerprint, info.shape, G, info.name,
                                                         info.model_repo)
            info.compatible = info.incompatibility is None
    return sorted(infos, key=lambda i: (i.name, i.filename))


def search_vector_repos(tag: str | None = None, fingerprint: str | None = None, endpoint: str | None = None,
                        token: str | None = None, G=None) -> list[str]:
    """Ids of vector repos (tag `edit-vectors`), optionally with another tag and/or vectors for a
    model fingerprint (or for generator G)."""
    if G is not None and fingerprint is None:
        fingerprint = G.fingerprint()
    filters = [VECTORS_TAG] + ([tag] if tag else []) + ([MODEL_TAG_PREFIX + fingerprint] if fingerprint else [])
    api = _api(endpoint, token)
    with _translate("search", None, endpoint=endpoint, token=token):
        return [m.id for m in api.list_models(filter=filters)]


# ----- pushing vectors -----------------------------------------------------------------------
def _vector_paths(paths_or_folder) -> list[Path]:
    items = [paths_or_folder] if isinstance(paths_or_folder, (str, os.PathLike)) else list(paths_or_folder)
    paths = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.glob(f"*{SUFFIX}") if not q.name.startswith("."))
            if not found:
                raise VectorError(f"no edit vectors ({SUFFIX} files) in {p}")
            paths.extend(found)
        elif p.is_file():
            paths.append(p)
        else:
            raise VectorError(f"no edit vector file or folder at {p}")
    if not paths:
        raise VectorError("no edit vectors given to push")
    return paths


def _md(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def _vectors_section(repo_id: str, infos: list[VectorInfo], endpoint: str) -> str:
    rows = ["| name | description | parts | default strength | shape (num_ws, w_dim) | model fingerprint | model repo |",
            "|---|---|---|---|---|---|---|"]
    for i in sorted(infos, key=lambda i: i.name):
        repo = f"[{i.model_repo}]({endpoint}/{i.model_repo})" if i.model_repo else "-"
        rows.append(f"| `{_md(i.name)}` | {_md(i.description) or '-'} | {_md(', '.join(i.parts)) or '-'} | "
                    f"{i.default_strength:g} | {i.num_ws} x {i.w_dim} | `{i.model_fingerprint or '-'}` | {repo} |")
    example = infos[0].name if infos else "NAME"
    return "\n".join([
        CARD_BEGIN,
        f"{len(infos)} edit vector{'s' if len(infos) != 1 else ''} (W+ offsets) for editgan generators. Each is a "
        f"safetensors file under `{VECTORS_DIR}/` with its metadata in the header; apply it with a strength: "
        "`w_plus + strength * delta`. A vector only fits the model whose fingerprint it names.",
        "",
        *rows,
        "",
        "## Use",
        "",
        "```bash",
        f"python -m editgan vectors list {repo_id} --model MODEL   # which vectors fit your model",
        f"python -m editgan vectors pull {repo_id} {example}",
        "```",
        "",
        "```python",
        "from editgan.hub import pull_vector",
        "from editgan.vectors import apply_vectors",
        "",
        f"vec = pull_vector({repo_id!r}, {example!r}, G=G)  # refuses a vector made for another model",
        "w_edited = apply_vectors(w_plus, [(vec, vec.default_strength)], G)",
        "```",
        CARD_END,
    ])


def vectors_card(repo_id: str, infos: list[VectorInfo], old_card: str | None = None, endpoint: str | None = None,
                 tags: list[str] | None = None) -> str:
    """The README of a vector repo: metadata (library_name, tags) and a table of every vector.

    Metadata and prose of an existing card are kept; the generated part (between the
    editgan-vectors markers) and the editgan tags are replaced.
    """
    from huggingface_hub import ModelCard, ModelCardData

    data, text = {}, ""
    if old_card:
        try:
            old = ModelCard(old_card, ignore_metadata_errors=True)
            data, text = old.data.to_dict(), old.text
        except (ValueError, TypeError):  # unreadable YAML: start again
            data, text = {}, ""
    fingerprints = sorted({i.model_fingerprint for i in infos if i.model_fingerprint})
    old_tags = [t for t in (data.get("tags") or []) if not str(t).startswith(MODEL_TAG_PREFIX)]
    data["tags"] = list(dict.fromkeys([*old_tags, *(tags or []), LIBRARY_NAME, VECTORS_TAG,
                                        *(MODEL_TAG_PREFIX + f for f in fingerprints)]))
    data["library_name"] = LIBRARY_NAME
    section = _vectors_section(repo_id, infos, _endpoint(endpoint))
    if CARD_BEGIN in text and CARD_END in text:
        head, rest = text.split(CARD_BEGIN, 1)
        body = head + section + rest.split(CARD_END, 1)[1]
    else:
        body = f"\n# Edit vectors: {repo_id.split('/')[-1]}\n\n{section}\n"
    card_data = ModelCardData(ignore_metadata_errors=True, **data)
    return str(ModelCard(f"---\n{card_data.to_yaml()}\n---\n{body}"))


def push_vectors(paths_or_folder, repo_id: str, token: str | None = None, private: bool = False,
                 endpoint: str | None = None, commit_message: str | None = None, tags: list[str] | None = None) -> str:
    """Upload vectors to `vectors/<name>.safetensors` in a model repo (created if missing) and
    regenerate its README card over every vector there. Returns the repo's URL.

    `paths_or_folder`: a vector file, a folder of them, or a list of either. Each file is
    checked (load_vector) before anything is sent. `tags`: extra card tags (e.g. the domain),
    kept by later pushes, so `search_vector_repos(tag=...)` finds the repo.
    """
    from huggingface_hub import CommitOperationAdd, hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError

    _check_repo_id(repo_id)
    paths = _vector_paths(paths_or_folder)
    local: dict[str, tuple[Path, EditVector]] = {}
    for p in paths:
        vec = load_vector(p)
        _check_vector_name(vec.name)
        if vec.name in local:
            raise VectorError(f"two vectors named {vec.name!r}: {local[vec.name][0]} and {p}; rename one")
        local[vec.name] = (p, vec)
    if not _known_token(token):
        raise HubError(f"pushing to {repo_id} needs a Hugging Face token with write access: log in (`hf auth login`), "
                       "set HF_TOKEN or pass --token")
    api = _api(endpoint, token)
    with _translate("push vectors to", repo_id, endpoint=endpoint, token=token):
        for attempt in range(PUSH_ATTEMPTS):
            url, info = _ensure_repo(api, repo_id, private, endpoint)
            remote, _ = _remote_vectors(api, repo_id, info.sha)
            old_card = None
            if any(s.rfilename == "README.md" for s in info.siblings or []):
                readme = hf_hub_download(repo_id, "README.md", revision=info.sha, endpoint=endpoint, token=token)
                old_card = Path(readme).read_text(encoding="utf-8")
            merged = {i.filename: i for i in remote}
            ops = []
            for name, (p, vec) in local.items():
                filename = f"{VECTORS_DIR}/{name}{SUFFIX}"
                merged[filename] = VectorInfo(
                    name=vec.name, filename=filename, repo_id=repo_id, revision="", shape=vec.shape,
                    description=vec.description, parts=list(vec.parts), default_strength=vec.default_strength,
                    model_fingerprint=vec.model_fingerprint, model_repo=vec.model_repo, method=dict(vec.method),
                    created=vec.created, size=p.stat().st_size)
                ops.append(CommitOperationAdd(path_in_repo=filename, path_or_fileobj=str(p)))
            card = vectors_card(repo_id, list(merged.values()), old_card, endpoint, tags)
            ops.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=card.encode("utf-8")))
            try:
                # on top of the commit the card was made from: a push in between fails (412) instead of
                # being dropped from the card; then read the repo again and retry
                api.create_commit(repo_id, ops, commit_message=commit_message or f"Add edit vectors: {', '.join(local)}",
                                  parent_commit=info.sha)
                break
            except HfHubHTTPError as e:
                if e.response is None or e.response.status_code != 412 or attempt == PUSH_ATTEMPTS - 1:
                    raise
    return url


# ----- pulling vectors -----------------------------------------------------------------------
def _verify_download(path: str, source: str) -> None:
    """Check a cached file against the Hub's checksum (the blob's name is its ETag: git sha1 or
    sha256); remove a corrupt one from the cache so the next pull downloads it again."""
    blob = os.path.realpath(path)
    etag = os.path.basename(blob)
    if not (_HEX40.match(etag) or _HEX64.match(etag)):
        return  # no symlinked cache (e.g. Windows without symlinks): nothing to compare with
    data = Path(blob).read_bytes()
    actual = (hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() if len(etag) == 40
              else hashlib.sha256(data).hexdigest())
    if actual != etag:
        for p in {path, blob}:
            try:
                os.unlink(p)
            except OSError:
                pass
        raise RemoteVectorError(f"the download of {source} is corrupt (its checksum is not the Hub's {etag[:12]}...); it was "
                          "removed from the cache: pull it again")


def pull_vector(repo_id: str, name: str, revision: str | None = None, G=None, endpoint: str | None = None,
                token: str | None = None, cache_dir: str | None = None, force_download: bool = False) -> EditVector:
    """Download `vectors/<name>.safetensors` (the client's cache; offline afterwards), load it and,
    with G, refuse it (IncompatibleVectorError) unless it was made for G."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import RemoteEntryNotFoundError

    _check_repo_id(repo_id)
    _check_revision(revision)
    _check_vector_name(name)
    filename = f"{VECTORS_DIR}/{name}{SUFFIX}"
    kw = dict(revision=revision, endpoint=endpoint, token=token, cache_dir=cache_dir, force_download=force_download)
    with _translate("pull a vector from", repo_id, endpoint=endpoint, token=token, revision=revision):
        try:
            path = hf_hub_download(repo_id, filename, **kw)
        except RemoteEntryNotFoundError:
            # Not at the usual path: a file named otherwise whose header names it? Else say what is there.
            api = _api(endpoint, token)
            sha = api.model_info(repo_id, revision=revision).sha
            infos, _ = _remote_vectors(api, repo_id, sha)
            match = [i for i in infos if i.name == name]
            if not match:
                there = ", ".join(sorted(i.name for i in infos)) or "none"
                raise HubError(f"{repo_id} has no edit vector named {name!r}; vectors there: {there}") from None
            filename = match[0].filename
            path = hf_hub_download(repo_id, filename, **{**kw, "revision": sha})
    source = f"{repo_id}/{filename}"
    _verify_download(path, source)
    try:
        vec = load_vector(path)
    except VectorError as e:
        raise RemoteVectorError(f"{source} (downloaded to {path}): {e}") from None
    if G is not None:
        check_compatible(vec, G)
    return vec


# ----- models --------------------------------------------------------------------------------
def _model_card(repo_id: str, fingerprint: str, G) -> str:
    from huggingface_hub import ModelCard, ModelCardData

    data = ModelCardData(library_name=LIBRARY_NAME, tags=[LIBRARY_NAME, GENERATOR_TAG, MODEL_TAG_PREFIX + fingerprint])
    body = "\n".join([
        f"# {repo_id.split('/')[-1]}",
        "",
        "An editgan StyleGAN2 generator (`config.json` + `model.safetensors`), with its segmentation branch when "
        "`segmenter.json` is here.",
        "",
        f"- fingerprint: `{fingerprint}` (edit vectors made for this model name it)",
        f"- W+: {G.num_ws} x {G.w_dim}",
        "",
        "```python",
        "import editgan",
        f"model = editgan.load_model({repo_id!r})  # generator + segmentation branch",
        "```",
        "",
        f"Vectors for it: `python -m editgan vectors search --fingerprint {fingerprint}`",
        "",
    ])
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}"))


def push_model(folder, repo_id: str, token: str | None = None, private: bool = False, endpoint: str | None = None,
               commit_message: str | None = None) -> str:
    """Upload a model folder (config.json + model.safetensors, optional segmenter files, README;
    every non-hidden file in it) to a model repo, created if missing. A README card is written
    when the folder has none. Returns the repo's URL."""
    from huggingface_hub import CommitOperationAdd

    from .generator import Generator

    _check_repo_id(repo_id)
    folder = Path(folder)
    if not folder.is_dir():
        raise HubError(f"no model folder at {folder}")
    try:
        G = Generator.from_pretrained(folder)
    except (ValueError, OSError) as e:
        raise HubError(f"{folder} is not a loadable editgan model folder: {e}") from None
    files = sorted(p for p in folder.rglob("*") if p.is_file()
                   and not any(part.startswith(".") or part == "__pycache__" for part in p.relative_to(folder).parts))
    ops = [CommitOperationAdd(path_in_repo=p.relative_to(folder).as_posix(), path_or_fileobj=str(p)) for p in files]
    if not (folder / "README.md").is_file():
        ops.append(CommitOperationAdd(path_in_repo="README.md",
                                      path_or_fileobj=_model_card(repo_id, G.fingerprint(), G).encode("utf-8")))
    if not _known_token(token):
        raise HubError(f"pushing to {repo_id} needs a Hugging Face token with write access: log in (`hf auth login`), "
                       "set HF_TOKEN or pass --token")
    api = _api(endpoint, token)
    with _translate("push a model to", repo_id, endpoint=endpoint, token=token):
        url, _ = _ensure_repo(api, repo_id, private, endpoint)
        api.create_commit(repo_id, ops, commit_message=commit_message or f"Upload editgan model ({len(ops)} files)")
    return url


def download_model(repo_id: str, revision: str | None = None, endpoint: str | None = None, token: str | None = None,
                   cache_dir: str | None = None) -> str:
    """A model repo's files in the client's cache (snapshot_download); returns the local folder."""
    from huggingface_hub import snapshot_download

    _check_repo_id(repo_id)
    _check_revision(revision)
    with _translate("download the model", repo_id, endpoint=endpoint, token=token, revision=revision):
        return snapshot_download(repo_id, revision=revision, endpoint=endpoint, token=token, cache_dir=cache_dir)
