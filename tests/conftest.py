"""Shared fixtures: small real models that the tests can afford on a 2-core CPU."""

from __future__ import annotations

import socket

import numpy as np

import pytest
import torch
import torch.nn.functional as F

from editgan.generator import Generator, GeneratorConfig
from editgan.model import EditModel
from editgan.segmenter import SegmenterTrainConfig, generator_features, train_segmenter

BAND_CLASSES = ("low", "mid", "high")
BAND_COLORS = ((0, 0, 255), (0, 200, 0), (255, 255, 0))


def band_values(G, features) -> torch.Tensor:
    """The quantity the tiny model's classes band: the penultimate feature map's channel mean."""
    v = features[-2].mean(1, keepdim=True)
    return F.interpolate(v, size=G.resolution, mode="bilinear", align_corners=False)[:, 0]


def band_labels(values: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    return (values > thresholds[0]).long() + (values > thresholds[1]).long()


def make_tiny_model(seed: int = 0, n: int = 16):
    """A tiny random 32-px generator with a segmentation branch trained from n labelled samples.

    The labelling rule is one the features can carry (terciles of a feature map's mean), so
    the branch generalises to held-out samples. Returns the model and the band thresholds.
    """
    torch.manual_seed(seed)
    G = Generator(GeneratorConfig(resolution=32, z_dim=16, w_dim=32, mapping_layers=2, channels=(32, 32, 16, 16))).eval()
    with torch.no_grad():
        z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
        w_plus = G.w_plus(G.mapping(z))
        values = band_values(G, generator_features(G, w_plus))
    thresholds = values.flatten().quantile(torch.tensor([1 / 3, 2 / 3]))
    seg = train_segmenter(G, w_plus, band_labels(values, thresholds), BAND_CLASSES, BAND_COLORS,
                          SegmenterTrainConfig(steps=150, lr=3e-3, pixels_per_example=128), num_members=3).segmenter
    return EditModel(G=G, segmenter=seg, source="tiny"), thresholds


@pytest.fixture(scope="session")
def tiny():
    """(EditModel, band thresholds) of the tiny model."""
    return make_tiny_model()


@pytest.fixture(scope="session")
def tiny_model(tiny) -> EditModel:
    return tiny[0]


def tiny_G(seed: int = 0) -> Generator:
    """An 8-px random generator: enough for tests of vector shapes and fingerprints."""
    torch.manual_seed(seed)
    return Generator(GeneratorConfig(resolution=8, z_dim=8, w_dim=16, mapping_layers=1, channels=(8, 8))).eval()


@pytest.fixture(scope="module")
def G() -> Generator:
    return tiny_G(0)


@pytest.fixture
def hub_server(tmp_path, monkeypatch):
    """The local Hub-protocol server (tests/hub_server.py) as the app's default endpoint, a private cache."""
    import huggingface_hub.constants as C
    from hub_server import HubServer

    monkeypatch.setattr(C, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(C, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(C, "HF_HUB_OFFLINE", False)
    for k in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(k, raising=False)
    with HubServer({"tok-alice": {"user": "alice"}}) as server:
        monkeypatch.setattr(C, "ENDPOINT", server.url)  # what the app's Hub calls use: no endpoint argument
        monkeypatch.setattr(C, "HUGGINGFACE_CO_URL_TEMPLATE", server.url + "/{repo_id}/resolve/{revision}/{filename}")
        yield server


def serve(demo) -> str:
    """Launch a Gradio app in this process on a free loopback port (the app's CSS, queue and upload limit); returns its URL."""
    import app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo.queue(default_concurrency_limit=app.HEAVY_LIMIT).launch(  # as app.main launches it
        prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, css=app.CSS,
        max_file_size=app.MAX_UPLOAD)
    return f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def labels_root(tmp_path_factory):
    """A fresh labels root for the app's labelling projects ($EDITGAN_LABELS_DIR) for one test module."""
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("labels")
    mp.setenv("EDITGAN_LABELS_DIR", str(root))
    yield root
    mp.undo()


def launch_app(model, vectors_dir, seed: int):
    """The app (app.build_demo) on a model, served on loopback: (url, demo); close the demo after."""
    import app

    demo = app.build_demo(model, vectors_dir=vectors_dir, seed=seed)
    return serve(demo), demo


def edit_a_square(client, model, tmp_path, seed: int, rows=slice(4, 12), steps: int = 10, opacity: float = 0.6):
    """Through the API: sample `seed`, give a square of its part map another class, edit to it."""
    from gradio_client import handle_file
    from PIL import Image

    from editgan.labels import snap_to_palette

    _, _, parts, *_ = client.predict(seed, 0.7, opacity, api_name="/sample")
    labels = snap_to_palette(np.asarray(Image.open(parts).convert("RGB")), model.palette)
    labels[rows, rows] = (labels[rows, rows] + 1) % len(model.class_names)
    painted = tmp_path / f"painted-{seed}.png"
    Image.fromarray(model.palette[labels].numpy()).save(painted)
    return client.predict(handle_file(str(painted)), steps, opacity, api_name="/edit_parts")


def write_files(folder, payloads: dict, suffix: str) -> dict:
    """{case name: path} of files holding the given bytes (names made file-safe)."""
    out = {}
    for name, payload in payloads.items():
        path = folder / f"{name.replace(' ', '-')}{suffix}"
        path.write_bytes(payload)
        out[name] = path
    return out
