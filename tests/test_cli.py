"""The command line, run as a user runs it (a subprocess), on a tiny model saved as a folder."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from editgan.generator import Generator
from editgan.labels import labels_to_png, read_labels_dir, write_classes, write_example

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def run(*args, ok=True):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "editgan", *map(str, args)], capture_output=True, text=True, env=env, cwd=ROOT)
    if ok:
        assert p.returncode == 0, p.stderr
    return p


@pytest.fixture(scope="module")
def model_dir(tiny_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    tiny_model.G.save_pretrained(folder)
    tiny_model.segmenter.save_pretrained(folder)
    return folder


def test_sample_writes_images_part_maps_and_latents(model_dir, tmp_path):
    run("sample", "--model", model_dir, "--seeds", 1, 2, "--save-latent", "--out", tmp_path)
    assert Image.open(tmp_path / "seed0001.png").size == (32, 32)
    assert Image.open(tmp_path / "seed0002-parts.png").size == (32, 32)
    assert (tmp_path / "seed0001.safetensors").is_file()


def test_edit_from_a_part_map_png_and_save_a_vector(model_dir, tiny_model, tmp_path):
    w = tiny_model.w_from_seed(4)
    _, labels = tiny_model.render(w)
    target = labels.clone()
    target[4:14, 4:14] = 2
    labels_to_png(target, tiny_model.palette).save(tmp_path / "edit.png")
    run("edit", "--model", model_dir, "--seed", 4, "--parts", tmp_path / "edit.png", "--steps", 40,
        "--out", tmp_path / "out", "--save-vector", tmp_path / "high.safetensors", "--description", "more high")
    edited = torch.from_numpy(__import__("numpy").asarray(Image.open(tmp_path / "out" / "edited.png"))).float()
    before = ((tiny_model.render(w)[0].permute(1, 2, 0) + 1) * 127.5).round()
    assert (edited - before).abs().mean() > 0.5  # the image changed
    p = run("apply", "--model", model_dir, "--seed", 9, "--vector", f"{tmp_path / 'high.safetensors'}=0", "--out", tmp_path / "zero.png")
    run("sample", "--model", model_dir, "--seeds", 9, "--out", tmp_path / "s9")
    assert (Image.open(tmp_path / "zero.png").tobytes() == Image.open(tmp_path / "s9" / "seed0009.png").tobytes())


def test_bad_input_gives_one_clear_line(model_dir, tmp_path):
    (tmp_path / "bad.png").write_bytes(b"garbage")
    p = run("edit", "--model", model_dir, "--parts", tmp_path / "bad.png", ok=False)
    assert p.returncode == 2 and "cannot read the part map" in p.stderr and "Traceback" not in p.stderr
    p = run("sample", "--model", tmp_path / "nowhere.pt", ok=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr


def test_convert_a_rosinality_checkpoint(tmp_path):
    run("convert", FIXTURES / "rosinality-32px.pt", tmp_path / "ros")
    assert (tmp_path / "ros" / "config.json").is_file() and (tmp_path / "ros" / "model.safetensors").is_file()


def test_segmenter_train_and_evaluate_from_a_labels_folder(tiny, tmp_path):
    from conftest import band_labels, band_values
    from editgan.segmenter import generator_features

    model, thresholds = tiny
    G = model.G
    G.save_pretrained(tmp_path / "gen")
    names, colors = ["low", "mid", "high"], [(0, 0, 255), (0, 200, 0), (255, 255, 0)]
    palette = torch.tensor(colors, dtype=torch.uint8)
    for split, seeds in (("train", range(100, 116)), ("test", range(200, 208))):
        write_classes(tmp_path / split, names, colors)
        for s in seeds:
            w = model.w_from_seed(s)
            labels = band_labels(band_values(G, generator_features(G, w[None])), thresholds)[0]
            write_example(tmp_path / split, f"s{s}", w, labels, palette)
    assert len(read_labels_dir(tmp_path / "train", G).names) == 16
    run("segmenter", "train", tmp_path / "gen", tmp_path / "train", "--out", tmp_path / "seg", "--steps", 150, "--members", 3)
    p = run("segmenter", "evaluate", tmp_path / "gen", tmp_path / "seg", tmp_path / "test", "--json")
    result = json.loads(p.stdout)
    assert set(result["per_class_iou"]) == set(names)
    assert result["miou"] > 0.6


def test_label_propose_writes_proposals_to_correct_then_train(model_dir, tmp_path):
    from editgan import labelling as lab

    classes = tmp_path / "classes.txt"
    classes.write_text("low #0000ff\nmid #00c800\nhigh #ffff00\n")
    labels = tmp_path / "labels"
    p = run("label", "propose", model_dir, labels, "--classes", classes, "--n", 2, "--k", 4, "--clusters-only")
    assert "--assign" in p.stdout and not list(labels.glob("*.png"))
    assert (labels / "labelling" / "clusters" / "seed-00001-clusters.png").is_file()
    p = run("label", "propose", model_dir, labels, "--n", 3, "--assign", "0=high", "2=mid")
    assert "segmenter train" in p.stdout
    project = lab.load_project(labels)
    assert project.mapping == [2, 0, 1, 0] and project.labelled() == ["seed-00000", "seed-00001", "seed-00002"]
    G = Generator.from_pretrained(model_dir)
    data = read_labels_dir(labels, G)
    clusters = lab.clusters_of(project, G, data.w_plus[1])
    assert torch.equal(data.labels[1], torch.tensor([2, 0, 1, 0])[clusters])  # the proposal through the mapping
    assert (labels / "labelling" / "clusters" / "seed-00001-clusters.png").is_file()
    run("label", "propose", model_dir, labels, "--n", 1)  # the project resumes: the next seed
    assert lab.load_project(labels).labelled()[-1] == "seed-00003"
    bad = run("label", "propose", model_dir, labels, "--assign", "9=high", ok=False)
    assert bad.returncode != 0 and "CLUSTER=CLASS" in bad.stderr
    run("segmenter", "train", model_dir, labels, "--out", tmp_path / "branch", "--steps", 20, "--members", 2)
    assert (tmp_path / "branch" / "segmenter.json").is_file()
