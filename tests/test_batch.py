"""Batch editing (editgan/batch.py) on a small real generator: every engine, every input, resume, errors, push."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from editgan import batch as B  # noqa: E402
from editgan.disclosure import read_png_metadata  # noqa: E402
from editgan.embedding import to_pil  # noqa: E402
from editgan.generator import Generator, GeneratorConfig  # noqa: E402
from editgan.vectors import EditVector, save_vector  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A 16-px random generator saved as a model folder, and one edit vector for it."""
    folder = tmp_path_factory.mktemp("batch-model")
    torch.manual_seed(0)
    G = Generator(GeneratorConfig(resolution=16, z_dim=16, w_dim=32, mapping_layers=2, channels=(16, 16, 16))).eval()
    G.save_pretrained(folder / "model")
    vec = EditVector(delta=torch.randn(G.num_ws, G.w_dim, generator=torch.Generator().manual_seed(1)), name="wobble",
                     model_fingerprint=G.fingerprint(), parts=["mid"])
    save_vector(vec, folder / "wobble.safetensors")
    return G, str(folder / "model"), str(folder / "wobble.safetensors")


def config(setup, strengths=(0.0, 1.5), **kw) -> B.BatchConfig:
    _, model, vec = setup
    return B.BatchConfig(model=model, vectors=[(vec, list(strengths))], batch_size=4, embed_steps=3, **kw)


def results(out) -> pa.Table:
    return pq.read_table(Path(out) / "dataset" / "data" / "results.parquet")


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def assert_same_images(a: pa.Table, b: pa.Table):
    """Same rows, grid points and images (within one grey level: batch composition may change float rounding)."""
    assert a["row_id"].to_pylist() == b["row_id"].to_pylist()
    assert a["strengths"].to_pylist() == b["strengths"].to_pylist()
    for x, y in zip(a["image"].to_pylist(), b["image"].to_pylist()):
        assert np.abs(pixels(x) - pixels(y)).max() <= 1


def png_of(G, w) -> np.ndarray:
    with torch.no_grad():
        return np.asarray(to_pil(G.synthesis(w[None])[0]), dtype=np.int16)


def test_seeds_with_a_grid_of_strengths(setup, tmp_path):
    G, _, _ = setup
    cfg = config(setup, strengths=(0.0, 1.5, -1.5), save_w_plus=True)
    summary = B.run_local(cfg, B.rows_from_seeds([3, 4, 5]), tmp_path, progress=False)
    assert (summary.rows, summary.images, summary.failed) == (3, 9, 0)
    t = results(tmp_path)
    assert t["strengths"].to_pylist() == [[0.0], [1.5], [-1.5]] * 3
    assert t["seed"].to_pylist() == [3, 3, 3, 4, 4, 4, 5, 5, 5]
    assert len(list((tmp_path / "images").glob("*.png"))) == 9
    for j, seed in enumerate([3, 4, 5]):
        plain = png_of(G, G.w_plus_from_seed(seed))
        rows = t.slice(3 * j, 3)
        at0, at15 = pixels(rows["image"][0].as_py()), pixels(rows["image"][1].as_py())
        assert np.abs(at0 - plain).max() <= 1  # strength 0 = the plain generator output
        assert np.abs(at15 - plain).mean() > 2  # the vector changes the image
        w = np.frombuffer(rows["w_plus"][1].as_py(), dtype="<f4").reshape(G.num_ws, G.w_dim)
        vec = B.load_resources(cfg)[1][0]
        assert np.allclose(w, (G.w_plus_from_seed(seed) + 1.5 * vec.delta).numpy(), atol=1e-6)
        meta = read_png_metadata(rows["image"][1].as_py())
        record = meta["editgan"]
        assert meta["text"]["Software"] == "editgan" and "wobble x +1.50" in meta["text"]["Description"]
        assert record["model_fingerprint"] == G.fingerprint() and record["source"] == {"kind": "seed", "seed": seed, "truncation": 1.0}
        assert record["vectors"] == [{"name": "wobble", "strength": 1.5, "parts": ["mid"], "model_fingerprint": G.fingerprint()}]
        assert set(record) == {"edited_with", "notice", "model", "model_fingerprint", "source", "part_map_edits", "vectors", "created"}
        assert read_png_metadata(rows["image"][0].as_py())["editgan"]["vectors"] == []  # strength 0: no edit disclosed


def write_images(G, folder: Path, seeds) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for s in seeds:
        with torch.no_grad():
            to_pil(G.synthesis(G.w_plus_from_seed(s)[None])[0]).resize((24, 24)).save(folder / f"img{s}.png")
    return folder


def test_folder_with_a_corrupt_image_reports_it_and_goes_on(setup, tmp_path):
    G, _, _ = setup
    folder = write_images(G, tmp_path / "in", [1, 2])
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 4)
    summary = B.run_local(config(setup), B.rows_from_folder(folder), tmp_path / "out", progress=False)
    assert (summary.rows, summary.images, summary.failed) == (3, 4, 1)
    assert "1 rows failed" in summary.line()
    errors = pq.read_table(tmp_path / "out" / "dataset" / "errors" / "errors.parquet").to_pylist()
    assert [e["row_id"] for e in errors] == ["broken"] and "cannot read the image bytes" in errors[0]["error"]
    t = results(tmp_path / "out")
    assert sorted(set(t["row_id"].to_pylist())) == ["img1", "img2"]
    record = read_png_metadata(t["image"][0].as_py())["editgan"]
    assert record["source"]["kind"] == "photo" and record["source"]["name"] == "img1.png" and record["source"]["steps"] == 3


def test_parquet_and_hf_dataset_inputs(setup, tmp_path):
    G, _, _ = setup
    folder = write_images(G, tmp_path / "in", [7, 8])
    rows = [{"id": p.stem, "image": p.read_bytes()} for p in sorted(folder.iterdir())]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "in.parquet")
    table = B.rows_from_parquet(tmp_path / "in.parquet")
    assert table["row_id"].to_pylist() == ["img7", "img8"]
    summary = B.run_local(config(setup, strengths=(1.0,)), table, tmp_path / "out", progress=False)
    assert (summary.images, summary.failed) == (2, 0)
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"image": [str(p) for p in sorted(folder.iterdir())]}).cast_column("image", datasets.Image())
    ds.save_to_disk(str(tmp_path / "hf"))
    hf = B.rows_from_hf(str(tmp_path / "hf"))
    assert hf["image"].to_pylist() == table["image"].to_pylist()
    with pytest.raises(B.BatchError, match="neither"):
        pq.write_table(pa.Table.from_pylist([{"x": 1}]), tmp_path / "bad.parquet")
        B.rows_from_parquet(tmp_path / "bad.parquet")


def test_datasets_two_processes_equal_local_and_resume_after_a_kill(setup, tmp_path):
    pytest.importorskip("datasets")
    cfg = config(setup)
    table = B.rows_from_seeds(range(8))
    B.run_local(cfg, table, tmp_path / "local", shard_size=3, progress=False)
    out = tmp_path / "ds"
    first = B.run_datasets(cfg, table, out, num_proc=2, shard_size=3, progress=False)
    assert first.shards_computed == [0, 1, 2] and first.images == 16
    assert_same_images(results(out), results(tmp_path / "local"))
    shards = sorted((out / "shards").glob("*.parquet"))
    mtimes = {p.name: p.stat().st_mtime_ns for p in shards}
    shards[1].unlink()  # a run killed before shard 1 was written
    again = B.run_datasets(cfg, table, out, num_proc=2, shard_size=3, progress=False)
    assert again.shards_computed == [1] and again.shards_skipped == [0, 2]
    assert {p.name: p.stat().st_mtime_ns for p in shards if p.name != shards[1].name} == \
        {k: v for k, v in mtimes.items() if k != shards[1].name}
    assert_same_images(results(out), results(tmp_path / "local"))
    with pytest.raises(B.BatchError, match="different batch job"):  # other strengths into the same folder
        B.run_datasets(config(setup, strengths=(2.0,)), table, out, num_proc=2, shard_size=3, progress=False)


@pytest.mark.slow
def test_ray_engine_on_a_local_cluster_equals_local(setup, tmp_path):
    ray = pytest.importorskip("ray")
    cfg = config(setup)
    table = B.rows_from_seeds(range(5))
    B.run_local(cfg, table, tmp_path / "local", progress=False)
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 1024**2, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}})
    try:
        summary = B.run_ray(cfg, table, tmp_path / "ray", actors=2, progress=False)
    finally:
        ray.shutdown()
    assert (summary.images, summary.failed) == (10, 0)
    assert list((tmp_path / "ray" / "ray-output").glob("*.parquet"))  # Ray wrote Parquet
    assert_same_images(results(tmp_path / "ray"), results(tmp_path / "local"))


def test_cli_batch_and_push_to_the_hub(setup, tmp_path, hub_server, monkeypatch, capsys):
    from editgan.cli import main

    _, model, vec = setup
    monkeypatch.setenv("HF_TOKEN", "tok-alice")
    out = tmp_path / "out"
    rc = main(["batch", "--model", model, "--seeds", "1", "2", "--vector", f"{vec}=0,2", "--batch-size", "2",
               "--out", str(out), "--push-to-hub", "alice/edited"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "2 rows: 4 images written, 0 rows failed" in printed and "pushed" in printed
    files = hub_server.files("alice/edited", repo_type="dataset")
    assert files["data/results.parquet"] == (out / "dataset" / "data" / "results.parquet").read_bytes()
    assert "errors/errors.parquet" in files and b"editgan batch edit" in files["README.md"]
    assert pq.read_table(io.BytesIO(files["data/results.parquet"])).num_rows == 4
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "ds-cache")
    monkeypatch.setattr(datasets.config, "HF_ENDPOINT", hub_server.url)  # datasets keeps its own copy
    again = B.rows_from_hf("alice/edited")  # a Hub repo id as input: the pushed table's seeds, through datasets
    assert again["seed"].to_pylist() == [1, 1, 2, 2]
