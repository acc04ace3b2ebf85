"""What the app's "Label & train" tab does, without the UI: label samples of any generator, train its branch.

(The labelling runs where the generator is; it is written and tested for the CPU.)

The tab labels the generator of the model loaded in the app (a converted `.pkl`, a
rosinality `.pt`, a Hub repo, or a shipped model). A `LabelState` (kept in `gr.State`)
names the project folder and holds what is not on disk yet: the sample on screen and the
branch trained in this browser session. Everything the user labels is written to the
project folder at once (`editgan.labelling`), so a closed browser loses nothing: open
the same project name again.

Projects live under the labels root, `$EDITGAN_LABELS_DIR` or `./labels`; a project is
named, never a path, so a public demo cannot be made to write elsewhere. On a public demo
each visitor's projects live in their own folder (`users/<session>/`): two visitors who pick
the same name never share a project, and a project lasts as long as the visitor's session.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from . import labelling as lab
from .app_logic import (AppError, Session, blend_picture, check_repo_id, get_model, inside, is_public, labels_from_editor,
                        labels_root, legend_html, user_errors, user_root)
from .embedding import to_pil
from .segmenter import Segmenter

MAX_CLUSTERS = lab.MAX_CLUSTERS
MAX_TRAIN_STEPS = 3000


def project_folder(name: str, namespace: str | None = None) -> Path:
    """The folder of a project name: under the labels root, or on a public demo under the visitor's own folder.

    Names are never paths; a folder that a symlink leads out of the root is refused.
    """
    name = (name or "").strip()
    if not lab.NAME_RE.match(name):
        raise AppError("a project name is 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit")
    root = user_root(namespace) if is_public() else labels_root()
    folder = root / name
    if folder.is_symlink() or (folder.exists() and not inside(folder, root)):
        raise AppError(f"the project {name!r} is a link out of the labels folder: it is not opened")
    return folder


@dataclass
class LabelState:
    """One user's labelling: the project (on disk), the sample on screen, the branch trained here."""

    folder: Path
    model: str  # the app's model key whose generator is labelled
    seed: int
    from_branch: bool = False  # proposals from the trained branch instead of the clusters
    segmenter: Segmenter | None = None
    report: dict | None = None
    saved_model: str | None = None  # the model folder written by save_model
    previews_shown: int = 4

    def replace(self, **kw) -> "LabelState":
        return dataclasses.replace(self, **kw)

    def project(self) -> lab.Project:
        with user_errors("cannot open the project"):
            return lab.load_project(self.folder)


def generator_of(state_or_key) -> torch.nn.Module:
    key = state_or_key.model if isinstance(state_or_key, LabelState) else state_or_key
    return get_model(key).G


def default_classes(session: Session) -> str:
    """The classes box's starting text: the model's own classes if it has a branch, else a template."""
    model = get_model(session.model)
    if model.segmenter is not None:
        return lab.classes_text(model.class_names, model.palette.tolist())
    return "background #000000\nobject #ffb300"


def open_project(session: Session, name: str, classes: str, k: int, truncation: float, target: int,
                 namespace: str | None = None) -> LabelState:
    """Start a project for the session's generator, or open it again as it was (`set_classes` changes classes).

    `namespace`: the visitor's session on a public demo, whose projects are their own.
    """
    folder = project_folder(name, namespace)
    G = get_model(session.model).G
    existing = (folder / lab.PROJECT_FILE).is_file()
    with user_errors("bad classes"):
        parsed = lab.parse_classes(classes) if (classes or "").strip() else None
    try:
        k, truncation, target = int(k), float(truncation), int(target)
    except (TypeError, ValueError):
        raise AppError("clusters, truncation and target must be numbers") from None
    if not 1 <= target <= 1000:
        raise AppError(f"the number of samples to label must lie in [1, 1000], got {target}")
    with user_errors(f"cannot open the project {name!r}"):
        names, colors = parsed if parsed and not existing else (None, None)
        if not existing and names is None:
            names, colors = lab.parse_classes(default_classes(session))
        project = lab.open_project(folder, G, session.model, names, colors, k=k, truncation=truncation, target=target)
    return LabelState(folder=folder, model=session.model, seed=project.next_seed())


def set_classes(state: LabelState, classes: str) -> LabelState:
    """Rename, recolour or add classes of the open project (saved labels are rewritten in the new colours)."""
    project = state.project()
    with user_errors("cannot change the classes"):
        names, colors = lab.parse_classes(classes)
        lab.set_classes(project, names, colors)
    return state


def classes_of(state: LabelState) -> str:
    project = state.project()
    return lab.classes_text(project.class_names, project.class_colors)


# ----- the sample on screen ----------------------------------------------------------------------------
@dataclass
class SampleView:
    image: torch.Tensor  # (3, R, R)
    clusters: torch.Tensor  # (R, R)
    proposal: torch.Tensor  # (R, R) class indices


@torch.no_grad()
def sample_view(state: LabelState) -> SampleView:
    project = state.project()
    G = generator_of(state)
    w = lab.w_from_seed(G, state.seed, project.truncation)
    image, features = G.synthesis(w[None], return_features=True)
    clusters = lab.clusters_of(project, G, w, features).cpu()
    branch = state.segmenter if state.from_branch else None
    proposal = lab.propose_labels(project, clusters, branch, features if branch is not None else None).cpu()
    return SampleView(image[0].cpu(), clusters, proposal)


def canvas(state: LabelState, view: SampleView, opacity: float) -> dict:
    """The paint canvas' value: the proposal over the sample, no paint yet."""
    bg = blend_picture(view.image, view.proposal, state.project().palette, opacity)
    return {"background": bg, "layers": [], "composite": bg}


def mapping_names(state: LabelState) -> list[str]:
    """The class name each cluster maps to (the cluster dropdowns' values)."""
    project = state.project()
    return [project.class_names[c] for c in project.mapping]


def status_markdown(state: LabelState) -> str:
    project = state.project()
    lines = [f"**Project** `{state.folder}`: {len(project.class_names)} classes, {project.k} clusters. "
             f"**{project.progress_text()}**. Now: seed {state.seed}"
             + (" (proposal from the trained branch)" if state.from_branch and state.segmenter is not None else "")]
    if state.report:
        r = state.report
        lines.append(f"**Branch** trained on {r['examples']} labels, {r['steps']} steps: final loss {r['final_loss']:.3f}, "
                     f"mIoU on its own labels {r['train_miou']:.3f} (look at the previews for new samples).")
    if state.saved_model:
        lines.append(f"**Saved** model (generator + branch) in `{state.saved_model}`.")
    return "  \n".join(lines)


def legend(state: LabelState) -> str:
    project = state.project()
    return legend_html(project.class_names, project.palette)


# ----- actions ------------------------------------------------------------------------------------------
def assign(state: LabelState, names: Sequence[str]) -> LabelState:
    """Set the class of each cluster (by class name); the first `k` values are used."""
    project = state.project()
    names = list(names)[: project.k]
    unknown = [n for n in names if n not in project.class_names]
    if unknown:
        raise AppError(f"unknown classes {unknown}: the classes are {project.class_names}")
    with user_errors("cannot assign the clusters"):
        lab.set_mapping(project, [project.class_names.index(n) for n in names])
    return state.replace(from_branch=False)


def save_label(state: LabelState, editor_value) -> tuple[LabelState, str]:
    """The proposal with the painted corrections becomes the seed's label, on disk; the next seed comes up."""
    project = state.project()
    view = sample_view(state)
    target = labels_from_editor(editor_value if isinstance(editor_value, dict) else {"layers": []}, view.proposal,
                                project.palette)
    G = generator_of(state)
    with user_errors("cannot save the label"):
        name = lab.save_label(project, G, state.seed, target)
    project = state.project()
    return state.replace(seed=project.next_seed()), name


def skip(state: LabelState) -> LabelState:
    project = state.project()
    lab.skip_seed(project, state.seed)
    return state.replace(seed=project.next_seed())


def go_to_seed(state: LabelState, seed) -> LabelState:
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        raise AppError(f"a seed is a whole number, got {seed!r}") from None
    if not 0 <= seed < lab.PREVIEW_SEED_BASE:
        raise AppError(f"label seeds lie in [0, {lab.PREVIEW_SEED_BASE})")
    return state.replace(seed=seed)


def train(state: LabelState, steps: int, members: int = 10, progress: Callable | None = None) -> LabelState:
    """Train the branch on every label of the project; proposals then come from it."""
    try:
        steps, members = int(steps), int(members)
    except (TypeError, ValueError):
        raise AppError("steps and members must be whole numbers") from None
    if not 10 <= steps <= MAX_TRAIN_STEPS or not 1 <= members <= 10:
        raise AppError(f"training steps lie in [10, {MAX_TRAIN_STEPS}] and members in [1, 10]")
    project = state.project()
    G = generator_of(state)
    cb = (lambda s, t, loss: progress(s, t, {"loss": loss})) if progress else None
    with user_errors("cannot train the branch"):
        seg, report = lab.train_branch(project, G, steps, members, progress=cb)
    return state.replace(segmenter=seg.eval().requires_grad_(False), previews_shown=4,
                         report=dataclasses.asdict(report), from_branch=True)


@torch.no_grad()
def previews(state: LabelState, n: int = 4) -> list[Image.Image]:
    """New samples (never labelled) with the trained branch's part maps beside them."""
    if state.segmenter is None:
        raise AppError("train the branch first")
    project = state.project()
    G = generator_of(state)
    out = []
    for seed in lab.preview_seeds(int(n)):
        w = lab.w_from_seed(G, seed, project.truncation)
        image, features = G.synthesis(w[None], return_features=True)
        parts = state.segmenter.predict(features)[0].cpu()
        left = np.asarray(to_pil(image[0].cpu()))
        right = project.palette[parts].numpy()
        pair = Image.fromarray(np.concatenate([left, right], 1))
        out.append(pair.resize((pair.width * max(1, 256 // G.resolution), pair.height * max(1, 256 // G.resolution)),
                               Image.NEAREST))
    return out


def save_model(state: LabelState) -> tuple[LabelState, Path]:
    """Write `<project>/model` (generator + branch); the app can load it and edit with it at once."""
    if state.segmenter is None:
        raise AppError("train the branch first")
    with user_errors("cannot save the model"):
        folder = lab.save_model(state.project(), generator_of(state), state.segmenter)
    return state.replace(saved_model=str(folder)), folder


def push_model(state: LabelState, repo_id: str, token: str | None, private: bool = False) -> str:
    from .hub import push_model as hub_push_model

    if not state.saved_model:
        raise AppError("save the model first")
    repo_id = check_repo_id(repo_id)
    with user_errors(f"cannot push to {repo_id}"):
        return str(hub_push_model(state.saved_model, repo_id, token=(token or None), private=bool(private)))


def require(state: LabelState | None) -> LabelState:
    if state is None:
        raise AppError("open a labelling project first")
    return state

