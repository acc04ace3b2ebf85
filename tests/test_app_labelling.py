"""The app's "Label & train" tab through gradio_client, on the tiny model.

A user opens a project for the tiny generator, assigns the clusters, paints a
correction, saves labels (on disk at once), comes back in a new session and finds them,
trains the branch, looks at previews, saves the model and edits with it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import band_labels, band_values, serve
from editgan import labelling as lab
from editgan.labels import read_labels_dir
from editgan.segmenter import generator_features, mean_iou

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402

CLASSES = "low #0000ff\nmid #00c800\nhigh #ffff00"
PALETTE = torch.tensor([(0, 0, 255), (0, 200, 0), (255, 255, 0)], dtype=torch.uint8)
K = 4
CANVAS = 256  # the paint layer's size; the app resamples it to the model's 32 px


@pytest.fixture(scope="module")
def app_url(tiny_model, tmp_path_factory, labels_root):
    import app

    demo = app.build_demo(tiny_model, vectors_dir=tmp_path_factory.mktemp("vectors"), seed=1)
    yield serve(demo), labels_root
    demo.close()


def client_of(app_url, tmp_path) -> Client:
    return Client(app_url[0], verbose=False, download_files=str(tmp_path))


def layer_file(labels: torch.Tensor, painted: torch.Tensor, path) -> str:
    """An RGBA paint layer (CANVAS px) painting `labels` where `painted`, transparent elsewhere."""
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., :3] = PALETTE[labels].numpy()
    rgba[..., 3] = painted.numpy().astype(np.uint8) * 255
    Image.fromarray(rgba, "RGBA").resize((CANVAS, CANVAS), Image.NEAREST).save(path)
    return str(path)


# gradio_client leaves gr.State out: a view is (status, canvas, cluster picture, legend, *cluster dropdowns, classes)
def editor_value(view, layer_path=None) -> dict:
    canvas = view[1].get("value", view[1])  # the canvas comes as a component update (new brush colours)
    return {"background": handle_file(canvas["background"]), "composite": handle_file(canvas["composite"]),
            "layers": [handle_file(layer_path)] if layer_path else [], "id": None}


def status_of(view) -> str:
    return view[0]


def test_label_train_save_push_and_edit(app_url, tiny, tmp_path, hub_server):
    model, thresholds = tiny
    G = model.G
    c = client_of(app_url, tmp_path)
    with pytest.raises(Exception, match="open a labelling project first"):
        c.predict(None, api_name="/label_save")
    with pytest.raises(Exception, match="colour"):
        c.predict("p1", "a #000000\nb #000000", K, 0.7, 16, api_name="/label_open")
    with pytest.raises(Exception, match="project name"):
        c.predict("../outside", CLASSES, K, 0.7, 16, api_name="/label_open")

    view = c.predict("p1", CLASSES, K, 0.7, 16, api_name="/label_open")
    assert "0 / 16 labelled" in status_of(view) and "seed 0" in status_of(view)
    folder = app_url[1] / "p1"
    assert (folder / "classes.json").is_file() and (folder / lab.PROJECT_FILE).is_file()
    dropdowns = view[4:-1]
    assert [d["visible"] for d in dropdowns] == [True] * K + [False] * (lab.MAX_CLUSTERS - K)

    # assign the clusters: the proposal (the canvas) follows, the mapping is on disk
    view = c.predict("high", "low", "mid", "low", *[None] * (lab.MAX_CLUSTERS - K), api_name="/label_assign")
    assert json.loads((folder / lab.PROJECT_FILE).read_text())["mapping"] == [2, 0, 1, 0]
    project = lab.load_project(folder)
    clusters = lab.clusters_of(project, G, lab.w_from_seed(G, 0, 0.7))
    proposal = lab.propose_labels(project, clusters)

    # paint a correction (a "mid" square) and save: the label is the proposal with the square
    square = torch.zeros(32, 32, dtype=torch.bool)
    square[4:12, 20:28] = True
    view = c.predict(editor_value(view, layer_file(torch.ones(32, 32, dtype=torch.long), square, tmp_path / "l0.png")),
                     api_name="/label_save")
    saved = read_labels_dir(folder, G)
    expected = proposal.clone()
    expected[square] = 1
    assert saved.names == ["seed-00000"] and torch.equal(saved.labels[0], expected)
    assert "1 / 16 labelled" in status_of(view) and "seed 1" in status_of(view)

    # label 11 more samples by the rule the features carry (the whole map painted)
    for seed in range(1, 12):
        truth = band_labels(band_values(G, generator_features(G, lab.w_from_seed(G, seed, 0.7)[None])), thresholds)[0]
        layer = layer_file(truth, torch.ones(32, 32, dtype=torch.bool), tmp_path / f"l{seed}.png")
        view = c.predict(editor_value(view, layer), api_name="/label_save")
    # relabel seed 0 properly too (going back to a seed; saving replaces its label)
    view = c.predict(0, api_name="/label_seed")
    truth0 = band_labels(band_values(G, generator_features(G, lab.w_from_seed(G, 0, 0.7)[None])), thresholds)[0]
    view = c.predict(editor_value(view, layer_file(truth0, torch.ones(32, 32, dtype=torch.bool), tmp_path / "r0.png")),
                     api_name="/label_save")
    assert "12 / 16 labelled" in status_of(view)

    # a new session (closed browser): the project comes back from disk as it was, whatever the classes box says
    c2 = client_of(app_url, tmp_path)
    view = c2.predict("p1", "other #123456\nnames #654321", K, 0.7, 16, api_name="/label_open")
    assert "12 / 16 labelled" in status_of(view) and "seed 12" in status_of(view)
    assert view[-1].splitlines() == CLASSES.splitlines()
    # classes change only when asked: a rename, and one removed is refused
    view = c2.predict(CLASSES.replace("mid", "middle"), api_name="/label_classes")
    assert "middle" in view[-1] and lab.load_project(folder).class_names == ["low", "middle", "high"]
    with pytest.raises(Exception, match="not removed"):
        c2.predict("low #0000ff\nhigh #ffff00", api_name="/label_classes")
    c2.predict(CLASSES, api_name="/label_classes")

    # train: the view's status reports it, previews of new samples come back
    *view, previews = c2.predict(150, 3, api_name="/label_train")
    assert "Branch" in status_of(view) and len(previews) == 4
    first = np.asarray(Image.open(previews[0]["image"]))
    assert first.shape[1] == 2 * first.shape[0]  # sample | part map
    assert len(c2.predict(api_name="/label_previews")) == 8

    status, message, saved_folder = c2.predict(api_name="/label_save_model")
    assert saved_folder == str(folder / lab.MODEL_SUBDIR)
    from editgan.model import load_model

    mine = load_model(saved_folder)
    assert mine.class_names == ["low", "mid", "high"] and mine.fingerprint == model.fingerprint
    ws = torch.stack([lab.w_from_seed(G, s, 0.7) for s in lab.preview_seeds(8)])
    features = generator_features(G, ws)
    miou, _ = mean_iou(mine.segmenter.predict(features), band_labels(band_values(G, features), thresholds), 3)
    assert miou > 0.6  # the branch labels samples nobody labelled

    # edit with it: load it in the Edit tab and paint a part-map file
    loaded = c2.predict(saved_folder, 2, 0.7, 0.6, api_name="/load_model")
    assert "3 parts" in loaded[-1]
    before, _, parts_path, _, _ = c2.predict(2, 0.7, 0.6, api_name="/sample")
    parts = torch.from_numpy(np.asarray(Image.open(parts_path).convert("RGB"))).reshape(-1, 1, 3).int()
    parts = (parts - PALETTE.int()[None]).abs().sum(-1).argmin(1).reshape(32, 32)
    counts = torch.nn.functional.avg_pool2d((parts != 2).float()[None, None], 8, stride=1)[0, 0]
    i, j = divmod(int(counts.argmax()), counts.shape[1])
    sq = (slice(i, i + 8), slice(j, j + 8))
    far = torch.ones(32, 32, dtype=torch.bool)
    far[max(0, i - 8): i + 16, max(0, j - 8): j + 16] = False
    target = parts.clone()
    target[sq] = 2
    painted = tmp_path / "target.png"
    Image.fromarray(PALETTE[target].numpy()).save(painted)
    _, after, new_parts, _, info = c2.predict(handle_file(str(painted)), 60, 0.6, api_name="/edit_parts")
    assert "high" in info
    diff = np.abs(np.asarray(Image.open(after), np.float32) - np.asarray(Image.open(before), np.float32)).mean(-1)
    assert diff[sq].mean() > 3 * diff[far.numpy()].mean()  # the image changed where the part map was painted

    # share it: push to the Hub (a loopback Hub-protocol server), load it back by repo id
    with pytest.raises(Exception, match="save the model first"):
        c.predict("alice/mine", "tok-alice", False, api_name="/label_push")  # the first session saved nothing
    with pytest.raises(Exception, match="user/name"):
        c2.predict("bad id", "tok-alice", False, api_name="/label_push")
    assert "Pushed" in c2.predict("alice/tiny-branch", "tok-alice", False, api_name="/label_push")
    hub = load_model("alice/tiny-branch")
    assert hub.class_names == ["low", "mid", "high"] and hub.fingerprint == model.fingerprint


def test_a_project_of_another_generator_is_refused(app_url, tmp_path):
    from conftest import tiny_G

    folder = app_url[1] / "other"
    lab.open_project(folder, tiny_G(), "eight-px", ["a", "b"], [(0, 0, 0), (9, 9, 9)], k=2)
    c = client_of(app_url, tmp_path)
    with pytest.raises(Exception, match="another generator"):
        c.predict("other", "", K, 0.7, 16, api_name="/label_open")
