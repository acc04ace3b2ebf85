"""Labelling projects (editgan.labelling): classes, proposals, labels on disk, training, resuming."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import band_labels, band_values, tiny_G
from editgan import labelling as lab
from editgan.labels import LabelsError, read_labels_dir
from editgan.segmenter import generator_features, mean_iou

NAMES = ["low", "mid", "high"]
COLORS = [(0, 0, 255), (0, 200, 0), (255, 255, 0)]


def test_classes_are_parsed_from_text_with_colours_picked_where_missing():
    names, colors = lab.parse_classes("background #000000\n\nhair 10, 20, 30\neye\n")
    assert names == ["background", "hair", "eye"]
    assert colors[:2] == [(0, 0, 0), (10, 20, 30)] and colors[2] not in colors[:2]
    assert lab.parse_classes(lab.classes_text(names, colors)) == (names, colors)
    for bad, why in [("one", "two classes"), ("a #000000\nb #000000", "colour"), ("a\na", "same name"),
                     ("a #12345\nb", "name #rrggbb"), ("a 1,2,300\nb", "0..255"), ("a/b\nc", "letters")]:
        with pytest.raises(LabelsError, match=why):
            lab.parse_classes(bad)


@pytest.fixture
def project(tiny_model, tmp_path):
    return lab.open_project(tmp_path / "p", tiny_model.G, "tiny", NAMES, COLORS, k=4, truncation=0.7)


def test_a_project_proposes_labels_from_clusters_and_learns_the_mapping(tiny_model, project):
    G = tiny_model.G
    w = lab.w_from_seed(G, 0, project.truncation)
    clusters = lab.clusters_of(project, G, w)
    assert clusters.shape == (32, 32) and len(clusters.unique()) >= 2
    assert (lab.propose_labels(project, clusters) == 0).all()  # every cluster starts as the first class
    lab.set_mapping(project, [2, 0, 1, 0])
    proposal = lab.propose_labels(project, clusters)
    assert torch.equal(proposal, torch.tensor([2, 0, 1, 0])[clusters])
    # the user repaints cluster 1 as "high" everywhere: after saving, the mapping follows
    label = proposal.clone()
    label[clusters == 1] = 2
    assert lab.save_label(project, G, 0, label) == "seed-00000"
    seen = clusters.unique().tolist()
    assert lab.load_project(project.folder).mapping[1] == (2 if 1 in seen else 0)
    assert project.next_seed() == 1 and project.progress_text().startswith("1 / 16")
    data = read_labels_dir(project.folder, G)  # the CLI's reader: the flow's state folder is not an example
    assert data.names == ["seed-00000"] and torch.equal(data.labels[0], label)
    assert torch.allclose(data.w_plus[0], w)


def test_the_project_resumes_from_disk(tiny_model, project, tmp_path):
    G = tiny_model.G
    lab.set_mapping(project, [1, 2, 0, 1])
    lab.skip_seed(project, 0)
    lab.save_label(project, G, 1, torch.zeros(32, 32, dtype=torch.long), learn=False)
    again = lab.open_project(project.folder, G, "tiny")  # as after a closed browser
    assert again.mapping == [1, 2, 0, 1] and again.skipped == [0] and again.labelled() == ["seed-00001"]
    assert again.next_seed() == 2 and torch.equal(again.centres, project.centres)
    with pytest.raises(LabelsError, match="another generator"):
        lab.open_project(project.folder, tiny_G(), "other")
    with pytest.raises(LabelsError, match="classes"):
        lab.open_project(tmp_path / "new", G, "tiny")


def test_classes_can_be_renamed_recoloured_and_added_but_not_removed(tiny_model, project):
    G = tiny_model.G
    label = torch.zeros(32, 32, dtype=torch.long)
    label[:10] = 2
    lab.save_label(project, G, 0, label, learn=False)
    names, colors = ["LOW", "mid", "high", "extra"], [(10, 10, 10), (0, 200, 0), (200, 0, 200), (1, 2, 3)]
    lab.set_classes(project, names, colors)
    png = np.asarray(Image.open(project.folder / "seed-00000.png").convert("RGB"))
    assert tuple(png[0, 0]) == (200, 0, 200) and tuple(png[20, 0]) == (10, 10, 10)  # rewritten in the new colours
    assert json.loads((project.folder / "classes.json").read_text())[3] == {"name": "extra", "color": [1, 2, 3]}
    assert torch.equal(read_labels_dir(project.folder, G).labels[0], label)
    with pytest.raises(LabelsError, match="not removed"):
        lab.set_classes(project, ["a", "b"], [(0, 0, 0), (1, 1, 1)])


def test_bad_labels_are_refused(tiny_model, project):
    with pytest.raises(LabelsError, match="32x32"):
        lab.save_label(project, tiny_model.G, 0, torch.zeros(16, 16, dtype=torch.long))
    with pytest.raises(LabelsError, match=r"\[0, 2\]"):
        lab.save_label(project, tiny_model.G, 0, torch.full((32, 32), 3))
    with pytest.raises(LabelsError, match="4 clusters"):
        lab.set_mapping(project, [0, 1])
    with pytest.raises(LabelsError, match="at least 2"):
        lab.train_branch(project, tiny_model.G, steps=10)


def test_a_branch_trained_from_the_project_labels_new_samples(tiny, project):
    """16 labels by a rule the features carry -> the branch predicts held-out samples' labels."""
    model, thresholds = tiny
    G = model.G
    for seed in range(16):
        w = lab.w_from_seed(G, seed, project.truncation)
        lab.save_label(project, G, seed, band_labels(band_values(G, generator_features(G, w[None])), thresholds)[0],
                       learn=False)
    seg, report = lab.train_branch(project, G, steps=150, members=3)
    assert report.examples == 16 and report.train_miou > 0.6
    ws = torch.stack([lab.w_from_seed(G, s, project.truncation) for s in lab.preview_seeds(8)])
    features = generator_features(G, ws)
    truth = band_labels(band_values(G, features), thresholds)
    miou, _ = mean_iou(seg.predict(features), truth, 3)
    assert miou > 0.6
    folder = lab.save_model(project, G, seg)
    from editgan.model import load_model

    loaded = load_model(str(folder))
    assert loaded.class_names == NAMES and loaded.fingerprint == model.fingerprint


def test_the_cluster_picture_shows_every_cluster(project, tiny_model):
    clusters = lab.clusters_of(project, tiny_model.G, lab.w_from_seed(tiny_model.G, 0, 0.7))
    picture = lab.cluster_picture(clusters, size=256)
    assert picture.size == (256, 256)
    colours = {tuple(c) for c in np.asarray(picture).reshape(-1, 3).tolist()}
    for c in clusters.unique().tolist():
        assert tuple(lab.cluster_colors(4)[c].tolist()) in colours


@pytest.mark.parametrize("checkpoint", ["stylegan2ada-32px.pkl", "rosinality-32px.pt"])
def test_a_real_format_checkpoint_gets_a_branch_from_16_labels(checkpoint, tmp_path):
    """"I have a .pkl": label 16 samples of a real-format checkpoint in a project, train, predict new samples."""
    from pathlib import Path

    from editgan.model import load_model

    G = load_model(str(Path(__file__).parent / "fixtures" / checkpoint)).G
    project = lab.open_project(tmp_path / "p", G, checkpoint, NAMES, COLORS, k=4, truncation=1.0)
    ws = torch.stack([lab.w_from_seed(G, s, 1.0) for s in range(16)])
    values = band_values(G, generator_features(G, ws))
    thresholds = values.flatten().quantile(torch.tensor([1 / 3, 2 / 3]))  # a labelling rule the features carry
    for seed, v in zip(range(16), values):
        lab.save_label(project, G, seed, band_labels(v, thresholds), learn=False)
    seg, report = lab.train_branch(project, G, steps=200, members=3)
    held_out = torch.stack([lab.w_from_seed(G, s, 1.0) for s in lab.preview_seeds(16)])
    features = generator_features(G, held_out)
    miou, _ = mean_iou(seg.predict(features), band_labels(band_values(G, features), thresholds), 3)
    assert miou > 0.6, (report, miou)


def test_concurrent_atomic_writes_of_one_file_all_land(tmp_path):
    """Two events of one project writing the same file at once (the labelling tab's dropdowns can):
    every write lands whole and no temp file is left (a shared temp name once made one fail)."""
    import threading

    from editgan.labels import write_text_atomic

    path = tmp_path / "classes.json"
    errors = []

    def write(k):
        try:
            for i in range(200):
                write_text_atomic(path, f"{k}-{i}" * 50)
        except Exception as e:  # noqa: BLE001 - collected for the assert
            errors.append(e)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    text = path.read_text()
    assert text == text[: len(text) // 50] * 50  # one whole write, not a mix
    assert [p.name for p in tmp_path.iterdir()] == ["classes.json"]
