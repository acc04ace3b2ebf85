"""The Hub commands of the CLI: `vectors push|pull|list|search` and `model push|download`.

Thin argparse wrappers over `editgan.hub`; `editgan.cli` registers them with `add_cli`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from .hub import (
    HubError,
    VectorInfo,
    _vector_paths,
    download_model,
    list_vectors,
    pull_vector,
    push_model,
    push_vectors,
    search_vector_repos,
)
from .vectors import SUFFIX


def _table(rows: list[list[str]], header: list[str]) -> str:
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _load_G(source: str | None):
    if not source:
        return None
    from .model import load_model

    return load_model(source).G


def _cmd(fn):
    def run(a):
        try:
            fn(a)
        except HubError as e:
            print(f"error: {e}", file=sys.stderr)
            raise SystemExit(2) from None
    return run


def _cmd_vectors_push(a):
    url = push_vectors(a.paths, a.repo_id, token=a.token, private=a.private, endpoint=a.endpoint,
                       commit_message=a.message, tags=a.tag)
    print(f"pushed {len(_vector_paths(a.paths))} vector file(s) to {url}")


def _cmd_vectors_pull(a):
    vec = pull_vector(a.repo_id, a.name, revision=a.revision, G=_load_G(a.model), endpoint=a.endpoint, token=a.token)
    if a.out:
        from .vectors import save_vector

        out = Path(a.out)
        if out.is_dir() or not out.suffix:
            out = out / f"{vec.name}{SUFFIX}"
        save_vector(vec, out)
        print(f"pulled {vec.name!r} ({vec.num_ws} x {vec.w_dim}, model {vec.model_fingerprint or '-'}) to {out}")
    else:
        print(f"pulled {vec.name!r} ({vec.num_ws} x {vec.w_dim}, model {vec.model_fingerprint or '-'}) into the Hub cache")


def _cmd_vectors_list(a):
    G = _load_G(a.model)
    infos = list_vectors(a.repo_id, revision=a.revision, G=G, endpoint=a.endpoint, token=a.token)
    if a.json:
        print(json.dumps([asdict(i) for i in infos], indent=1))
        return
    if not infos:
        print(f"{a.repo_id} has no edit vectors")
        return
    header = ["name", "parts", "strength", "shape", "model", "description"] + (["fits"] if G is not None else [])
    rows = [[i.name, ",".join(i.parts) or "-", f"{i.default_strength:g}", f"{i.num_ws}x{i.w_dim}",
             i.model_fingerprint or "-", (i.description[:50] + "...") if len(i.description) > 53 else i.description or "-"]
            + ([_fits(i, G)] if G is not None else []) for i in infos]
    print(_table(rows, header))


def _fits(info: VectorInfo, G) -> str:
    if info.compatible:
        return "yes"
    return "no (shape)" if info.shape != (G.num_ws, G.w_dim) else "no (other model)"


def _cmd_vectors_search(a):
    fingerprint = a.fingerprint or (_load_G(a.model).fingerprint() if a.model else None)
    repos = search_vector_repos(tag=a.tag, fingerprint=fingerprint, endpoint=a.endpoint, token=a.token)
    if not repos:
        print("no vector repos found", file=sys.stderr)
    for r in repos:
        print(r)


def _cmd_model_push(a):
    url = push_model(a.folder, a.repo_id, token=a.token, private=a.private, endpoint=a.endpoint, commit_message=a.message)
    print(f"pushed {a.folder} to {url}")


def _cmd_model_download(a):
    print(download_model(a.repo_id, revision=a.revision, endpoint=a.endpoint, token=a.token))


def add_cli(subparsers) -> None:
    """Register `vectors push|pull|list|search` and `model push|download` on an argparse subparsers object."""
    def common(q):
        q.add_argument("--token", help="Hugging Face token (default: HF_TOKEN or the login cache)")
        q.add_argument("--endpoint", help="Hub URL (default: HF_ENDPOINT or https://huggingface.co)")

    v = subparsers.add_parser("vectors", help="share edit vectors on the Hugging Face Hub")
    vs = v.add_subparsers(dest="vectors_command", required=True)
    q = vs.add_parser("push", help="upload vectors to a Hub repo and regenerate its card")
    q.add_argument("repo_id")
    q.add_argument("paths", nargs="+", help="vector files or folders of them")
    q.add_argument("--private", action="store_true", help="create the repo private (if it does not exist)")
    q.add_argument("--message", help="commit message")
    q.add_argument("--tag", action="append", help="extra card tag for search (repeatable), e.g. faces")
    common(q)
    q.set_defaults(fn=_cmd(_cmd_vectors_push))
    q = vs.add_parser("pull", help="download a vector (checked against --model)")
    q.add_argument("repo_id")
    q.add_argument("name")
    q.add_argument("--revision")
    q.add_argument("--model", help="refuse the vector unless it was made for this model")
    q.add_argument("--out", help="also save it here (file or folder)")
    common(q)
    q.set_defaults(fn=_cmd(_cmd_vectors_pull))
    q = vs.add_parser("list", help="the vectors in a Hub repo (headers only)")
    q.add_argument("repo_id")
    q.add_argument("--revision")
    q.add_argument("--model", help="also say which vectors fit this model")
    q.add_argument("--json", action="store_true")
    common(q)
    q.set_defaults(fn=_cmd(_cmd_vectors_list))
    q = vs.add_parser("search", help="find vector repos by tag or model fingerprint")
    q.add_argument("--tag")
    q.add_argument("--fingerprint")
    q.add_argument("--model", help="search for vectors made for this model")
    common(q)
    q.set_defaults(fn=_cmd(_cmd_vectors_search))

    m = subparsers.add_parser("model", help="share models on the Hugging Face Hub")
    ms = m.add_subparsers(dest="model_command", required=True)
    q = ms.add_parser("push", help="upload a model folder")
    q.add_argument("folder")
    q.add_argument("repo_id")
    q.add_argument("--private", action="store_true")
    q.add_argument("--message", help="commit message")
    common(q)
    q.set_defaults(fn=_cmd(_cmd_model_push))
    q = ms.add_parser("download", help="download a model repo into the Hub cache; prints the folder")
    q.add_argument("repo_id")
    q.add_argument("--revision")
    common(q)
    q.set_defaults(fn=_cmd(_cmd_model_download))
