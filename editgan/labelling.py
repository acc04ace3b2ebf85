"""Label a few samples of any generator and train its segmentation branch: a labelling project.

EditGAN needs a segmentation branch, and most generators come without one. The EditGAN way
is to label a handful (16-32) of generated samples and train the branch on the
generator's features. A project makes that quick and safe:

* **classes** (names and colours) are editable: rename, recolour or add; existing labels
  are rewritten in the new colours;
* each sample starts from a **proposal**: k-means clusters of the generator's own features
  (shared by every sample, so cluster 3 means the same part everywhere) mapped to classes.
  Assign each cluster a class once; after each saved label the mapping is re-learnt from
  what was saved, so the next proposals need fewer corrections. Once a branch is trained,
  its predictions can be the proposal instead;
* every label is written to disk when it is saved, with the project's state
  (`labelling/project.json`, `labelling/clusters.safetensors`): closing the browser loses nothing.

The folder is a labels folder as `python -m editgan segmenter train GENERATOR LABELS_DIR`
reads it (`classes.json`; per example `<name>.safetensors` with `w_plus` and `<name>.png`).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
from PIL import Image, ImageDraw
from safetensors.torch import load_file, save_file

from .labels import (LabelsError, labels_from_png, labels_to_png, read_classes, read_labels_dir, write_classes, write_example,
                     write_text_atomic)
from .proposal import assign_clusters, cluster_maps, fit_clusters
from .segmenter import Segmenter, SegmenterTrainConfig, generator_features, mean_iou, train_segmenter

STATE_DIR = "labelling"  # the flow's own state, in a subfolder: the labels folder stays as the CLI reads it
PROJECT_FILE = f"{STATE_DIR}/project.json"
CLUSTERS_FILE = f"{STATE_DIR}/clusters.safetensors"
MODEL_SUBDIR = "model"
PREVIEW_SEED_BASE = 1_000_000  # previews use seeds far from the labelling queue
MAX_CLUSTERS = 16
# Distinct colours for new classes and for drawing clusters (Kelly's colours of maximum contrast).
DISTINCT_COLORS = [
    (0, 0, 0), (255, 179, 0), (128, 62, 117), (255, 104, 0), (166, 189, 215), (193, 0, 32), (206, 162, 98),
    (129, 112, 102), (0, 125, 52), (246, 118, 142), (0, 83, 138), (255, 122, 92), (83, 55, 122), (255, 142, 0),
    (179, 40, 81), (244, 200, 0), (127, 24, 13), (147, 170, 0), (89, 51, 21), (241, 58, 19), (35, 44, 22),
]
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


# ----- classes as text ---------------------------------------------------------------------------
def parse_classes(text: str) -> tuple[list[str], list[tuple[int, int, int]]]:
    """One class per line, `name` or `name #rrggbb` (or `name r,g,b`); missing colours are picked.

    The first class is what unassigned clusters become (usually the background).
    """
    names, colors = [], []
    for n, line in enumerate((text or "").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^(\S+)\s*(?:(#[0-9a-fA-F]{6})|(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3}))?\s*$", line)
        if not m:
            raise LabelsError(f"line {n} ({line!r}): write a class as `name` or `name #rrggbb`")
        names.append(m.group(1))
        if m.group(2):
            colors.append(tuple(int(m.group(2)[i : i + 2], 16) for i in (1, 3, 5)))
        elif m.group(3):
            rgb = tuple(int(m.group(i)) for i in (3, 4, 5))
            if max(rgb) > 255:
                raise LabelsError(f"line {n}: colour values lie in 0..255, got {rgb}")
            colors.append(rgb)
        else:
            colors.append(None)
    free = [c for c in DISTINCT_COLORS if c not in colors]
    colors = [c if c is not None else free.pop(0) for c in colors]
    check_classes(names, colors)
    return names, colors


def check_classes(names: Sequence[str], colors: Sequence[Sequence[int]]) -> None:
    if len(names) < 2:
        raise LabelsError("give at least two classes (for example `background` and the part you want to edit)")
    if len(names) > 64:
        raise LabelsError(f"at most 64 classes, got {len(names)}")
    bad = [n for n in names if not NAME_RE.match(n)]
    if bad:
        raise LabelsError(f"class names are letters, digits, '_', '-' or '.': {bad}")
    if len(set(names)) != len(names):
        raise LabelsError("two classes have the same name")
    if len({tuple(c) for c in colors}) != len(colors):
        raise LabelsError("two classes have the same colour: each class needs its own")


def classes_text(names: Sequence[str], colors: Sequence[Sequence[int]]) -> str:
    return "\n".join(f"{n} #{c[0]:02x}{c[1]:02x}{c[2]:02x}" for n, c in zip(names, colors))


# ----- the project --------------------------------------------------------------------------------
@dataclass
class Project:
    """What the labelling flow keeps on disk besides the labels themselves."""

    folder: Path
    generator: str  # where the generator comes from (model folder, checkpoint, Hub id, shipped name)
    fingerprint: str  # the generator's; labels of another generator are refused
    class_names: list[str]
    class_colors: list[tuple[int, int, int]]
    k: int = 8
    truncation: float = 0.7
    target: int = 16  # how many labels the user means to make
    mapping: list[int] = field(default_factory=list)  # cluster -> class
    skipped: list[int] = field(default_factory=list)
    centres: torch.Tensor | None = None  # (k, C) cluster centres

    @property
    def palette(self) -> torch.Tensor:
        return torch.tensor(self.class_colors, dtype=torch.uint8)

    def labelled(self) -> list[str]:
        """Names of the labelled examples on disk (`seed-00007`, ...), sorted."""
        return sorted(p.stem for p in self.folder.glob("*.safetensors") if p.with_suffix(".png").is_file())

    def labelled_seeds(self) -> list[int]:
        return [int(n[5:]) for n in self.labelled() if re.fullmatch(r"seed-\d+", n)]

    def next_seed(self, start: int = 0) -> int:
        """The first seed from `start` on that is neither labelled nor skipped."""
        done = set(self.labelled_seeds()) | set(self.skipped)
        seed = int(start)
        while seed in done:
            seed += 1
        return seed

    def progress_text(self) -> str:
        n = len(self.labelled())
        return f"{n} / {self.target} labelled" + (" (enough to train; more labels, better branch)" if n >= self.target else "")

    def save(self) -> None:
        """Write project.json, classes.json and the cluster centres (every change is saved at once)."""
        (self.folder / STATE_DIR).mkdir(parents=True, exist_ok=True)
        write_classes(self.folder, self.class_names, self.class_colors)
        state = {k: v for k, v in asdict(self).items() if k not in ("folder", "centres", "class_names", "class_colors")}
        write_text_atomic(self.folder / PROJECT_FILE, json.dumps(state, indent=2))
        if self.centres is not None and not (self.folder / CLUSTERS_FILE).is_file():  # fitted once, never changed
            save_file({"centres": self.centres.contiguous()}, str(self.folder / CLUSTERS_FILE))


def example_name(seed: int) -> str:
    return f"seed-{int(seed):05d}"


def w_from_seed(G, seed: int, truncation: float) -> torch.Tensor:
    """The W+ code (num_ws, w_dim, on the CPU) of a seed, as the app and the CLI draw it."""
    return G.w_plus_from_seed(seed, truncation).cpu()


def open_project(folder: str | Path, G, generator: str, class_names: Sequence[str] | None = None,
                 class_colors: Sequence[Sequence[int]] | None = None, k: int = 8, truncation: float = 0.7,
                 target: int = 16, fit_samples: int = 8) -> Project:
    """Open the project in `folder`, or start one (classes needed; clusters fitted on `fit_samples` seeds).

    An existing project keeps its clusters, mapping and labels; classes given here replace
    its classes (see `set_classes`). A project made for another generator is refused.
    """
    folder = Path(folder)
    if (folder / PROJECT_FILE).is_file():
        project = load_project(folder)
        if project.fingerprint != G.fingerprint():
            raise LabelsError(f"{folder} holds labels for another generator (fingerprint {project.fingerprint}, "
                              f"this one is {G.fingerprint()}): choose another project name")
        if class_names is not None:
            set_classes(project, class_names, class_colors or project.class_colors)
        project.target = int(target)
        project.save()
        return project
    if class_names is None:
        if (folder / "classes.json").is_file():
            class_names, class_colors = read_classes(folder)
        else:
            raise LabelsError("a new project needs its classes: one per line, `name #rrggbb`")
    check_classes(class_names, class_colors)
    if not 2 <= int(k) <= MAX_CLUSTERS:
        raise LabelsError(f"the number of clusters must lie in [2, {MAX_CLUSTERS}], got {k}")
    if not 0.0 <= float(truncation) <= 1.0:
        raise LabelsError(f"the truncation must lie in [0, 1], got {truncation}")
    ws = torch.stack([w_from_seed(G, PREVIEW_SEED_BASE // 2 + i, truncation) for i in range(fit_samples)])
    project = Project(folder=folder, generator=str(generator), fingerprint=G.fingerprint(),
                      class_names=list(class_names), class_colors=[tuple(int(v) for v in c) for c in class_colors],
                      k=int(k), truncation=float(truncation), target=int(target), mapping=[0] * int(k),
                      centres=fit_clusters(G, ws, int(k)))
    project.save()
    return project


def load_project(folder: str | Path) -> Project:
    folder = Path(folder)
    try:
        state = json.loads((folder / PROJECT_FILE).read_text())
        names, colors = read_classes(folder)
        centres = load_file(str(folder / CLUSTERS_FILE))["centres"] if (folder / CLUSTERS_FILE).is_file() else None
        return Project(folder=folder, class_names=names, class_colors=colors, centres=centres, **state)
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise LabelsError(f"cannot open the labelling project in {folder}: {e}") from e


def set_classes(project: Project, names: Sequence[str], colors: Sequence[Sequence[int]]) -> None:
    """Rename, recolour or add classes. Labels on disk are rewritten in the new colours.

    Classes cannot be removed or reordered once labels exist (class i of every saved label
    stays class i): that would change what was labelled.
    """
    colors = [tuple(int(v) for v in c) for c in colors]
    check_classes(names, colors)
    if project.labelled() and len(names) < len(project.class_names):
        raise LabelsError(f"{len(project.labelled())} labels use {len(project.class_names)} classes: classes can be "
                          "renamed, recoloured or added, not removed (start a new project instead)")
    if project.labelled() and list(colors[: len(project.class_colors)]) != list(project.class_colors):
        old = project.palette
        new = torch.tensor(colors, dtype=torch.uint8)
        for name in project.labelled():
            png = project.folder / f"{name}.png"
            labels = labels_from_png(png, old, Image.open(png).width)
            labels_to_png(labels, new).save(png)
    project.class_names, project.class_colors = list(names), colors
    project.mapping = [c if c < len(names) else 0 for c in project.mapping]
    project.save()


# ----- proposals, labels -------------------------------------------------------------------------
def clusters_of(project: Project, G, w_plus: torch.Tensor, features: list[torch.Tensor] | None = None) -> torch.Tensor:
    """The (R, R) cluster map of one sample (`features`: its feature maps, if already drawn)."""
    if project.centres is None:
        raise LabelsError("this project has no clusters: open it again with a number of clusters")
    with torch.no_grad():
        return cluster_maps(G, w_plus.reshape(1, G.num_ws, G.w_dim), project.centres, features)[0]


def propose_labels(project: Project, clusters: torch.Tensor, segmenter: Segmenter | None = None,
                   features: list[torch.Tensor] | None = None) -> torch.Tensor:
    """The proposed part map: the trained branch's prediction when given, else the clusters through the mapping."""
    if segmenter is not None and features is not None:
        with torch.no_grad():
            return segmenter.predict(features)[0]
    return assign_clusters(clusters, dict(enumerate(project.mapping)), unassigned=0)


def set_mapping(project: Project, mapping: Sequence[int]) -> None:
    if len(mapping) != project.k:
        raise LabelsError(f"give a class for each of the {project.k} clusters, got {len(mapping)}")
    bad = [c for c in mapping if not 0 <= int(c) < len(project.class_names)]
    if bad:
        raise LabelsError(f"class indices lie in [0, {len(project.class_names) - 1}], got {bad}")
    project.mapping = [int(c) for c in mapping]
    project.save()


def learn_mapping(project: Project, G) -> list[int]:
    """Map each cluster to the class it mostly got in the saved labels (clusters never seen keep theirs)."""
    data = read_labels_dir(project.folder, G)
    votes = torch.zeros(project.k, len(project.class_names))
    for w, labels in zip(data.w_plus, data.labels):
        clusters = clusters_of(project, G, w)
        votes.index_put_((clusters.flatten(), labels.flatten()), torch.ones(labels.numel()), accumulate=True)
    seen = votes.sum(1) > 0
    project.mapping = [int(votes[c].argmax()) if seen[c] else project.mapping[c] for c in range(project.k)]
    project.save()
    return project.mapping


def save_label(project: Project, G, seed: int, labels: torch.Tensor, learn: bool = True) -> str:
    """Write the label of a seed to disk (W+ and part map); re-learn the cluster mapping from all labels."""
    r = G.resolution
    if tuple(labels.shape) != (r, r):
        raise LabelsError(f"a label must be {r}x{r}, got {tuple(labels.shape)}")
    if labels.min() < 0 or labels.max() >= len(project.class_names):
        raise LabelsError(f"labels must lie in [0, {len(project.class_names) - 1}]")
    name = example_name(seed)
    write_example(project.folder, name, w_from_seed(G, seed, project.truncation), labels.long().cpu(), project.palette)
    if int(seed) in project.skipped:
        project.skipped.remove(int(seed))
    if learn:
        learn_mapping(project, G)
    project.save()
    return name


def skip_seed(project: Project, seed: int) -> None:
    if int(seed) not in project.skipped:
        project.skipped.append(int(seed))
    project.save()


# ----- training, previews, saving ----------------------------------------------------------------
@dataclass
class TrainReport:
    examples: int
    steps: int
    final_loss: float
    train_miou: float  # on the labels it was trained on: a sanity check, not a held-out score


def few_shot_config(examples: int, steps: int = 500) -> SegmenterTrainConfig:
    """The recipe for a branch from a few labels (app, CLI and the model cards' few-shot numbers):
    about 2048 sampled pixels per step over all examples."""
    return SegmenterTrainConfig(steps=int(steps), pixels_per_example=max(64, 2048 // max(1, examples)), lr=2e-3)


def train_branch(project: Project, G, steps: int = 500, members: int = 10,
                 progress: Callable[[int, int, float], None] | None = None) -> tuple[Segmenter, TrainReport]:
    """Train the segmentation branch on every saved label of the project."""
    if len(project.labelled()) < 2:
        raise LabelsError(f"label at least 2 samples before training (this project has {len(project.labelled())})")
    data = read_labels_dir(project.folder, G)
    config = few_shot_config(len(data.names), steps)
    result = train_segmenter(G, data.w_plus, data.labels, data.class_names, data.class_colors, config,
                             num_members=int(members), progress=progress)
    with torch.no_grad():
        pred = result.segmenter.predict(generator_features(G, data.w_plus))
    miou, _ = mean_iou(pred, data.labels, len(data.class_names))
    return result.segmenter, TrainReport(len(data.names), int(steps), result.losses[-1], miou)


def preview_seeds(n: int, start: int = 0) -> list[int]:
    return [PREVIEW_SEED_BASE + start + i for i in range(n)]


def save_model(project: Project, G, segmenter: Segmenter, folder: str | Path | None = None) -> Path:
    """A model folder with the generator and the trained branch (default: `<project>/model`), loadable by load_model."""
    folder = Path(folder) if folder is not None else project.folder / MODEL_SUBDIR
    G.save_pretrained(folder)
    segmenter.save_pretrained(folder)
    return folder


# ----- pictures -------------------------------------------------------------------------------------
def cluster_colors(k: int) -> torch.Tensor:
    return torch.tensor(DISTINCT_COLORS[1 : k + 1], dtype=torch.uint8)


def cluster_picture(clusters: torch.Tensor, size: int = 384) -> Image.Image:
    """The cluster map in distinct colours, upscaled, each cluster's number written on it."""
    k = int(clusters.max()) + 1
    picture = labels_to_png(clusters, cluster_colors(max(k, 1))).resize((size, size), Image.NEAREST)
    draw = ImageDraw.Draw(picture)
    scale = size / clusters.shape[-1]
    for c in clusters.unique().tolist():
        ys, xs = torch.nonzero(clusters == c, as_tuple=True)
        centre = torch.stack([ys.float().mean(), xs.float().mean()])
        i = ((ys.float() - centre[0]) ** 2 + (xs.float() - centre[1]) ** 2).argmin()  # a pixel of the cluster
        x, y = (xs[i].item() + 0.5) * scale, (ys[i].item() + 0.5) * scale
        draw.rectangle([x - 9, y - 8, x + 9, y + 8], fill=(255, 255, 255))
        draw.text((x - 6 if c > 9 else x - 3, y - 6), str(c), fill=(0, 0, 0))
    return picture
