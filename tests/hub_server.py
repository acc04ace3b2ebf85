"""A small Hugging Face Hub-protocol server for tests: the real `huggingface_hub` client talks to it.

In memory: repos (model/dataset), each a chain of commits (every commit a full file map),
branches, blobs addressed by their git sha1. It answers what `editgan.hub` makes the client
call, in the shapes the client (huggingface_hub 2.x) parses:

    POST /api/repos/create                                  200 {url} | 409 {error, url} | 401 | 403
    POST /api/validate-yaml                                 200 {errors: [], warnings: []} | 400
    GET  /api/whoami-v2
    GET  /api/{type}s                                       list (filter=tag&filter=tag, search, author, limit; Link pages)
    GET  /api/{type}s/{ns}/{name}[/revision/{rev}]          info: sha, siblings, tags, cardData, private
    GET  /api/{type}s/{ns}/{name}/tree/{rev}[/{path}]       listing (recursive, Link-header cursor pages)
    POST /api/{type}s/{ns}/{name}/preupload/{rev}           every file "regular", with the oid of the file there
    POST /api/{type}s/{ns}/{name}/commit/{rev}              NDJSON: header, file (base64), deletedFile, deletedFolder
    HEAD/GET /[{type}s/]{ns}/{name}/resolve/{rev}/{path}    ETag (git sha1), X-Repo-Commit, Content-Length, Range

Auth: `Authorization: Bearer <token>` against `tokens` ({token: {"user", "orgs", "write"}}):
an unknown token gets 401 "Invalid credentials in Authorization header" anywhere (as the Hub);
writes need a token whose user or org owns the namespace (401 without a token, 403 with a
read-only or foreign one); private repos are 404 RepoNotFound to everyone else (401 without a
token), with `X-Error-Code` headers as the Hub sends them.

Every request is logged in `server.requests` (method, path, range, status, bytes of body sent)
so tests can check what the client did (e.g. that listing read headers only). Faults for
tests: `corrupt_downloads` (GETs without Range get garbage of the right length), `page_size`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import yaml

GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.pt filter=lfs diff=lfs merge=lfs -text\n"
TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
HEX40 = re.compile(r"^[0-9a-f]{40}$")


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class Commit:
    sha: str
    parent: str | None
    title: str
    date: str
    files: dict[str, str]  # path -> blob sha1


@dataclass
class Repo:
    type: str
    id: str
    private: bool
    created: str
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return self.id.split("/")[0]


@dataclass
class Logged:
    method: str
    path: str  # unquoted path without the query
    query: str
    range: str | None
    user: str | None
    status: int = 0
    sent: int = 0  # body bytes sent


class HttpFail(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None, body: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.headers, self.body = headers or {}, body


def split_front_matter(text: str) -> tuple[dict, str]:
    """(YAML metadata, body) of a model card."""
    m = re.match(r"^---\s*\n(.*?)\n---\s*(?:\n|$)", text, re.S)
    if not m:
        return {}, text
    data = yaml.safe_load(m.group(1)) or {}
    if not isinstance(data, dict):
        raise ValueError("the YAML metadata of README.md must be a mapping")
    return data, text[m.end():]


class HubServer:
    """`with HubServer(tokens) as hub: HfApi(endpoint=hub.url)...` (127.0.0.1, a free port)."""

    def __init__(self, tokens: dict[str, dict] | None = None, page_size: int = 1000):
        self.tokens = tokens or {}
        self.page_size = page_size
        self.repos: dict[tuple[str, str], Repo] = {}
        self.blobs: dict[str, bytes] = {}
        self.requests: list[Logged] = []
        self.corrupt_downloads = False
        self.lock = threading.RLock()
        self._n = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----- lifecycle ----------------------------------------------------------------------
    def start(self) -> "HubServer":
        server = self

        class Handler(_Handler):
            hub = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # ----- direct access for tests --------------------------------------------------------
    def repo(self, repo_id: str, repo_type: str = "model") -> Repo | None:
        return self.repos.get((repo_type, repo_id))

    def files(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> dict[str, bytes]:
        repo = self.repos[(repo_type, repo_id)]
        commit = repo.commits[repo.branches.get(revision, revision)]
        return {p: self.blobs[b] for p, b in commit.files.items()}

    def put_file(self, repo_id: str, path: str, data: bytes, message: str = "test upload", repo_type: str = "model") -> str:
        """Commit one file directly (a test's way to plant a file the client would refuse to make)."""
        with self.lock:
            return self._commit(self.repos[(repo_type, repo_id)], "main", {path: data}, [], message)

    # ----- model -------------------------------------------------------------------------------
    def _sha(self, *parts) -> str:
        self._n += 1
        return hashlib.sha1(json.dumps([self._n, *parts], default=str).encode()).hexdigest()

    def _commit(self, repo: Repo, branch: str, added: dict[str, bytes], deleted: list[tuple[str, bool]], title: str,
                parent: str | None = None) -> str:
        head = repo.branches.get(branch)
        files = dict(repo.commits[head].files) if head else {}
        for path, is_folder in deleted:
            if is_folder:
                prefix = path.rstrip("/") + "/"
                gone = [p for p in files if p.startswith(prefix)]
                if not gone:
                    raise HttpFail(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
                for p in gone:
                    del files[p]
            else:
                if path not in files:
                    raise HttpFail(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                del files[path]
        for path, data in added.items():
            oid = git_blob_sha1(data)
            self.blobs[oid] = data
            files[path] = oid
        sha = self._sha(repo.id, head, title, sorted(files.items()))
        repo.commits[sha] = Commit(sha, head, title, _now(), files)
        repo.branches[branch] = sha
        return sha

    def _card(self, repo: Repo, commit: Commit) -> dict:
        oid = commit.files.get("README.md")
        if oid is None:
            return {}
        try:
            return split_front_matter(self.blobs[oid].decode("utf-8"))[0]
        except (ValueError, yaml.YAMLError, UnicodeDecodeError):
            return {}

    def _tags(self, card: dict) -> list[str]:
        tags = card.get("tags") or []
        tags = [tags] if isinstance(tags, str) else [str(t) for t in tags]
        if card.get("library_name"):
            tags.append(str(card["library_name"]))
        if card.get("license"):
            tags.append(f"license:{card['license']}")
        return list(dict.fromkeys(tags))

    def _info(self, repo: Repo, commit: Commit, blobs: bool = False, full: bool = True) -> dict:
        card = self._card(repo, commit)
        info = {
            "_id": hashlib.sha1(repo.id.encode()).hexdigest()[:24],
            "id": repo.id,
            "modelId": repo.id,
            "author": repo.namespace,
            "sha": commit.sha,
            "lastModified": commit.date,
            "createdAt": repo.created,
            "private": repo.private,
            "disabled": False,
            "gated": False,
            "downloads": 0,
            "likes": 0,
            "tags": self._tags(card),
            "library_name": card.get("library_name"),
        }
        if full:
            info["cardData"] = card or None
            info["siblings"] = [
                {"rfilename": p, **({"size": len(self.blobs[b]), "blobId": b} if blobs else {})}
                for p, b in sorted(commit.files.items())
            ]
        return info


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: HubServer  # set by HubServer.start
    server_version = "TestHub/1.0"

    def setup(self):
        super().setup()
        # headers and body go out in two writes: without this, Nagle + delayed ACKs add ~40 ms a request
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format, *args):  # keep test output quiet
        pass

    # ----- plumbing ------------------------------------------------------------------------
    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        self.raw_path, self.query = parts.path, parse_qs(parts.query)
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        self.entry = Logged(method, unquote(parts.path), parts.query, self.headers.get("Range"), None)
        with self.hub.lock:
            self.hub.requests.append(self.entry)
        try:
            self.user = self._auth()
            self.entry.user = self.user and self.user["user"]
            self._route(method)
        except HttpFail as e:
            body = e.body if e.body is not None else {"error": e.message}
            headers = {"X-Error-Message": e.message, **e.headers}
            if e.code:
                headers["X-Error-Code"] = e.code
            self._json(e.status, body, headers, head=(method == "HEAD"))
        except Exception as e:  # a bug in the server: say so, as a 500
            self._json(500, {"error": f"test hub server error: {type(e).__name__}: {e}"})

    def _send(self, status: int, body: bytes, headers: dict | None = None, head: bool = False, length: int | None = None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.entry.status = status
        if not head and body:
            self.wfile.write(body)
            self.entry.sent = len(body)

    def _json(self, status: int, data, headers: dict | None = None, head: bool = False):
        self._send(status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})}, head=head)

    def _auth(self) -> dict | None:
        auth = self.headers.get("Authorization") or ""
        if not auth:
            return None
        token = auth[7:] if auth.lower().startswith("bearer ") else auth
        user = self.hub.tokens.get(token)
        if user is None:
            raise HttpFail(401, "Invalid credentials in Authorization header")
        return user

    def _param(self, name: str, default=None):
        v = self.query.get(name)
        return v[0] if v else default

    def _flag(self, name: str) -> bool:
        return str(self._param(name, "")).lower() in ("1", "true", "yes")

    # ----- access ------------------------------------------------------------------------------
    def _may_write(self, namespace: str) -> bool:
        u = self.user
        return bool(u and u.get("write", True) and (u["user"] == namespace or namespace in u.get("orgs", ())))

    def _may_read(self, repo: Repo) -> bool:
        u = self.user
        return not repo.private or bool(u and (u["user"] == repo.namespace or repo.namespace in u.get("orgs", ())))

    def _repo(self, type_: str, ns: str, name: str, write: bool = False) -> Repo:
        repo_id = f"{unquote(ns)}/{unquote(name)}"
        repo = self.hub.repos.get((type_, repo_id))
        if repo is None or not self._may_read(repo):
            # The Hub answers 401 to anonymous requests and 404 to authenticated ones, both RepoNotFound.
            raise HttpFail(401 if self.user is None else 404, "Repository not found", "RepoNotFound")
        if write and not self._may_write(repo.namespace):
            if self.user is None:
                raise HttpFail(401, "You must be authenticated to write to this repository")
            raise HttpFail(403, f"You don't have the rights to write to {repo_id} with this token")
        return repo

    def _commit_of(self, repo: Repo, rev: str) -> Commit:
        rev = unquote(rev)
        sha = repo.branches.get(rev) or (rev if rev in repo.commits else None)
        if sha is None:
            raise HttpFail(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return repo.commits[sha]

    # ----- routes --------------------------------------------------------------------------------
    ROUTES = [
        ("POST", r"^/api/repos/create$", "create_repo"),
        ("POST", r"^/api/validate-yaml$", "validate_yaml"),
        ("GET", r"^/api/whoami-v2$", "whoami"),
        ("GET", r"^/api/(models|datasets|spaces)$", "list_repos"),
        ("GET", r"^/api/(models|datasets|spaces)/([^/]+)/([^/]+)(?:/revision/([^/]+))?$", "repo_info"),
        ("GET", r"^/api/(models|datasets|spaces)/([^/]+)/([^/]+)/tree/([^/]+)(?:/(.+))?$", "tree"),
        ("POST", r"^/api/(models|datasets|spaces)/([^/]+)/([^/]+)/preupload/([^/]+)$", "preupload"),
        ("POST", r"^/api/(models|datasets|spaces)/([^/]+)/([^/]+)/commit/([^/]+)$", "commit"),
        ("GET", r"^/(?:(datasets|spaces)/)?([^/]+)/([^/]+)/resolve/([^/]+)/(.+)$", "resolve"),
        ("HEAD", r"^/(?:(datasets|spaces)/)?([^/]+)/([^/]+)/resolve/([^/]+)/(.+)$", "resolve"),
    ]

    def _route(self, method: str) -> None:
        for m, pattern, name in self.ROUTES:
            if m == method and (match := re.match(pattern, self.raw_path)):
                with self.hub.lock:
                    return getattr(self, "h_" + name)(method, *match.groups())
        raise HttpFail(404, f"Sorry, we can't find the page you are looking for ({method} {self.raw_path})")

    def h_create_repo(self, method):
        payload = json.loads(self.body or b"{}")
        type_ = payload.get("type") or "model"
        name, ns = payload.get("name"), payload.get("organization") or (self.user and self.user["user"])
        if self.user is None:
            raise HttpFail(401, "You must be authenticated to create a repository")
        if not name or not re.match(r"^[\w.-]+$", name):
            raise HttpFail(400, f"Invalid repo name {name!r}")
        repo_id = f"{ns}/{name}"
        url = f"{self.hub.url}/{PREFIX[type_]}{repo_id}"
        if not self._may_write(ns):
            raise HttpFail(403, f"You don't have the rights to create a {type_} under the namespace \"{ns}\"")
        if (type_, repo_id) in self.hub.repos:
            raise HttpFail(409, "You already created this model repo", body={"error": "You already created this model repo", "url": url})
        repo = Repo(type_, repo_id, payload.get("visibility", "public") == "private" or bool(payload.get("private")), _now())
        self.hub.repos[(type_, repo_id)] = repo
        self.hub._commit(repo, "main", {".gitattributes": GITATTRIBUTES}, [], "initial commit")
        self._json(200, {"url": url, "name": repo_id, "id": hashlib.sha1(repo_id.encode()).hexdigest()[:24]})

    def h_validate_yaml(self, method):
        payload = json.loads(self.body or b"{}")
        try:
            split_front_matter(payload.get("content", ""))
        except (ValueError, yaml.YAMLError) as e:
            raise HttpFail(400, "Invalid metadata in README.md", body={"errors": [{"message": str(e)}], "warnings": []})
        self._json(200, {"errors": [], "warnings": []})

    def h_whoami(self, method):
        if self.user is None:
            raise HttpFail(401, "Unauthorized")
        u = self.user
        self._json(200, {"type": "user", "name": u["user"], "orgs": [{"name": o} for o in u.get("orgs", ())],
                         "auth": {"type": "access_token", "accessToken": {"role": "write" if u.get("write", True) else "read"}}})

    def h_list_repos(self, method, kind):
        type_ = TYPES[kind]
        filters = self.query.get("filter", [])
        search = (self._param("search") or "").lower()
        author = self._param("author")
        out = []
        for (t, repo_id), repo in sorted(self.hub.repos.items()):
            if t != type_ or not self._may_read(repo):
                continue
            info = self.hub._info(repo, repo.commits[repo.branches["main"]], full=False)
            if all(f in info["tags"] for f in filters) and search in repo_id.lower() and (not author or repo.namespace == author):
                out.append(info)
        self._paged(out)

    def _paged(self, items: list) -> None:
        cursor = int(self._param("cursor", 0))
        limit = int(self._param("limit", 0)) or self.hub.page_size
        size = min(limit, self.hub.page_size)
        page = items[cursor:cursor + size]
        headers = {}
        if cursor + size < len(items):
            query = {k: v for k, v in self.query.items() if k != "cursor"}
            query["cursor"] = [str(cursor + size)]
            headers["Link"] = f'<{self.hub.url}{self.raw_path}?{urlencode(query, doseq=True)}>; rel="next"'
        self._json(200, page, headers)

    def h_repo_info(self, method, kind, ns, name, rev):
        repo = self._repo(TYPES[kind], ns, name)
        commit = self._commit_of(repo, rev or "main")
        self._json(200, self.hub._info(repo, commit, blobs=self._flag("blobs")))

    def h_tree(self, method, kind, ns, name, rev, path):
        repo = self._repo(TYPES[kind], ns, name)
        commit = self._commit_of(repo, rev)
        path = unquote(path or "").strip("/")
        prefix = path + "/" if path else ""
        below = {p: b for p, b in commit.files.items() if p.startswith(prefix)}
        if path and not below:  # no such folder (a file's path included), as the Hub answers
            raise HttpFail(404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": commit.sha})
        recursive = self._flag("recursive")
        entries, dirs = [], set()
        for p, oid in sorted(below.items()):
            rest = p[len(prefix):].split("/")
            for i in range(1, len(rest)):
                d = prefix + "/".join(rest[:i])
                if d not in dirs and (recursive or i == 1):
                    dirs.add(d)
                    entries.append({"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(), "size": 0, "path": d})
            if recursive or len(rest) == 1:
                entries.append({"type": "file", "oid": oid, "size": len(self.hub.blobs[oid]), "path": p})
        self._paged(entries)

    def h_preupload(self, method, kind, ns, name, rev):
        repo = self._repo(TYPES[kind], ns, name, write=True)
        commit = self._commit_of(repo, rev)
        payload = json.loads(self.body or b"{}")
        files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                  **({"oid": commit.files[f["path"]]} if f["path"] in commit.files else {})}
                 for f in payload.get("files", [])]
        self._json(200, {"files": files, "commitOid": commit.sha})

    def h_commit(self, method, kind, ns, name, rev):
        repo = self._repo(TYPES[kind], ns, name, write=True)
        branch = unquote(rev)
        if self._flag("create_pr"):
            raise HttpFail(400, "pull requests are not supported by this test server")
        if branch not in repo.branches:
            raise HttpFail(404, f"Invalid rev id: {branch} (commits go to a branch)", "RevisionNotFound")
        header, added, deleted = {}, {}, []
        for line in self.body.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                header = value
            elif key == "file":
                if value.get("encoding") != "base64":
                    raise HttpFail(400, f"unsupported encoding {value.get('encoding')!r}")
                added[value["path"]] = base64.b64decode(value["content"])
            elif key in ("deletedFile", "deletedFolder"):
                deleted.append((value["path"], key == "deletedFolder"))
            elif key == "lfsFile":
                raise HttpFail(400, "LFS files are not supported by this test server (preupload answers 'regular')")
            else:
                raise HttpFail(400, f"unknown commit operation {key!r}")
        if not header.get("summary"):
            raise HttpFail(400, "a commit needs a summary")
        parent = header.get("parentCommit")
        if parent and parent != repo.branches[branch]:
            raise HttpFail(412, "A commit has happened since. Please refresh and try again.")
        sha = self.hub._commit(repo, branch, added, deleted, header["summary"])
        self._json(200, {"success": True, "commitOid": sha, "hookOutput": "",
                         "commitUrl": f"{self.hub.url}/{PREFIX[repo.type]}{repo.id}/commit/{sha}"})

    def h_resolve(self, method, kind, ns, name, rev, path):
        repo = self._repo(TYPES[kind] if kind else "model", ns, name)  # kind: "datasets", "spaces" or None
        commit = self._commit_of(repo, rev)
        path = unquote(path)
        oid = commit.files.get(path)
        if oid is None:
            raise HttpFail(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit.sha})
        data = self.hub.blobs[oid]
        headers = {"ETag": f'"{oid}"', "X-Repo-Commit": commit.sha, "Accept-Ranges": "bytes",
                   "Content-Type": "application/octet-stream",
                   "Content-Disposition": f"inline; filename*=UTF-8''{quote(path.split('/')[-1])}"}
        rng = self.headers.get("Range")
        if rng:
            m = re.match(r"^bytes=(\d*)-(\d*)$", rng.strip())
            if not m or (not m.group(1) and not m.group(2)):
                raise HttpFail(416, "Invalid range", headers={"Content-Range": f"bytes */{len(data)}"})
            if m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)), len(data) - 1) if m.group(2) else len(data) - 1
            else:  # suffix range: the last n bytes
                start, end = max(len(data) - int(m.group(2)), 0), len(data) - 1
            if start >= len(data) or start > end:
                raise HttpFail(416, "Requested range not satisfiable", headers={"Content-Range": f"bytes */{len(data)}"})
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return self._send(206, data[start:end + 1], headers, head=(method == "HEAD"))
        if method == "GET" and self.hub.corrupt_downloads:
            data = bytes((i * 37 + 11) % 256 for i in range(len(data)))
        self._send(200, data, headers, head=(method == "HEAD"), length=len(data))
