"""Batch editing: apply edit vectors at a grid of strengths to many seeds or images.

The core is engine-independent: `BatchEditor(config)(batch)` takes a batch of input rows
(a dict of columns, as both Hugging Face `datasets` and Ray Data hand them) and returns
the output columns, one row per (input row, grid point). The model and the vectors are
loaded once per process (or Ray actor). Seeds are turned into W+ by the generator's
mapping; images are embedded one by one (optimisation, `editgan.embedding.embed`), then
every edited W+ of the batch goes through the generator in one pass.

Engines (thin adapters around the core):

* `run_local`: a plain loop in this process;
* `run_datasets`: `datasets.Dataset.map(batched=True, num_proc=...)`;
* `run_ray`: Ray Data `map_batches` with a pool of actors (one model per actor, a GPU per
  actor where there is one), reading and writing Parquet.

Local and datasets runs are resumable: the input is cut into shards of `shard_size` rows;
each finished shard is written atomically to `<out>/shards/shard-NNNNN.parquet`, and a
re-run skips the shards already there. `finalize` gathers the shards into the result:
`<out>/images/*.png` (with the app's disclosure PNG chunks) and a dataset folder
`<out>/dataset/` (`data/results.parquet`, `errors/errors.parquet`, README.md), which
`push_dataset` uploads to a Hub dataset repo. A row that cannot be read (corrupt image
bytes, no seed nor image) becomes an error row (which row, why); the run goes on.

Needs the optional extras in requirements-batch.txt (pyarrow; datasets, ray for their engines).
"""

from __future__ import annotations

import io
import itertools
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
SHARDS_DIR = "shards"
SHARD_NAME = "shard-{:05d}.parquet"


class BatchError(ValueError):
    """A batch job that cannot start (bad input, missing extra); the message says what to fix."""


def _pa():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise BatchError("batch editing needs pyarrow: pip install -r requirements-batch.txt") from None
    return pa, pq


def input_schema():
    pa, _ = _pa()
    return pa.schema([("row", pa.int64()), ("row_id", pa.string()), ("seed", pa.int64()),
                      ("image", pa.binary()), ("name", pa.string())])


def output_schema():
    pa, _ = _pa()
    return pa.schema([("row", pa.int64()), ("row_id", pa.string()), ("grid_index", pa.int32()),
                      ("seed", pa.int64()), ("source", pa.string()), ("vectors", pa.list_(pa.string())),
                      ("strengths", pa.list_(pa.float64())), ("image", pa.binary()), ("w_plus", pa.binary()),
                      ("metadata", pa.string()), ("error", pa.string())])


# ----- configuration ----------------------------------------------------------------------------
@dataclass
class BatchConfig:
    """What to do to every row. `vectors` = [(path, [strength, ...]), ...]; the grid is their product."""

    model: str = "faces"
    vectors: list[tuple[str, list[float]]] = field(default_factory=list)
    truncation: float = 1.0
    embed_steps: int = 100
    batch_size: int = 16
    save_w_plus: bool = False
    device: str | None = None  # None: cuda when present, else cpu

    def grid(self) -> list[tuple[float, ...]]:
        """Every combination of the vectors' strengths (one tuple per output image of a row)."""
        return list(itertools.product(*[list(map(float, s)) for _, s in self.vectors])) or [()]

    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def parse_vector_spec(spec: str) -> tuple[str, list[float]]:
    """"PATH=S1,S2,..." -> (PATH, [S1, S2, ...]); "PATH" alone -> strength 1."""
    path, sep, strengths = spec.rpartition("=") if "=" in spec else (spec, "", "")
    if not sep:
        return spec, [1.0]
    try:
        values = [float(s) for s in strengths.split(",") if s.strip()]
    except ValueError:
        raise BatchError(f"--vector takes PATH=S1,S2,... with numbers for strengths, got {spec!r}") from None
    if not values:
        raise BatchError(f"--vector {spec!r}: no strengths after '='")
    return path, values


# ----- the core: one batch of rows -> output columns --------------------------------------------
_LOADED: dict[str, tuple] = {}  # config key -> (EditModel, [EditVector]): loaded once per process


def load_resources(config: BatchConfig):
    """(model on its device, vectors, model fingerprint) of `config`, loaded once per process."""
    key = config.key()
    if key not in _LOADED:
        from .model import load_model
        from .vectors import check_compatible, load_vector

        m = load_model(config.model)
        device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
        m.G.to(device)
        vectors = [load_vector(p) for p, _ in config.vectors]
        for v in vectors:
            check_compatible(v, m.G)
        _LOADED[key] = (m, vectors, m.fingerprint)  # hashing the weights costs more than drawing an image
    return _LOADED[key]


def _column(batch, name: str, n: int) -> list:
    values = batch.get(name)
    if values is None:
        return [None] * n
    return [v.item() if isinstance(v, np.generic) else v for v in list(values)]


def _image_bytes(value) -> bytes | None:
    """Image cell -> bytes: raw bytes, or a `datasets` Image struct {bytes, path}."""
    if value is None:
        return None
    if isinstance(value, dict):
        if value.get("bytes") is not None:
            return bytes(value["bytes"])
        return Path(value["path"]).read_bytes() if value.get("path") else None
    return bytes(value)


@torch.no_grad()
def seeds_w_plus(G, seeds: Sequence[int], truncation: float = 1.0) -> torch.Tensor:
    """`G.w_plus_from_seeds` on the CPU: (N, num_ws, w_dim)."""
    return G.w_plus_from_seeds(list(seeds), truncation).cpu()


class BatchEditor:
    """`BatchEditor(config)(batch) -> output columns`; picklable (the model is reloaded by key)."""

    def __init__(self, config: BatchConfig):
        self.config = config

    def __getstate__(self):
        return {"config": self.config}

    def __setstate__(self, state):
        self.config = state["config"]

    def w_plus_of_row(self, m, seed, image, name, seed_w=None) -> tuple[torch.Tensor, dict]:
        """The W+ of one input row (seed_w: its seed's, computed in a batch) and its source record.

        Raises ValueError for an unusable row.
        """
        from PIL import Image, UnidentifiedImageError

        from .embedding import EmbedConfig, ImageError, embed, load_image

        G = m.G
        if seed is not None:
            w = seed_w if seed_w is not None else G.w_plus_from_seed(int(seed), self.config.truncation).cpu()
            return w, \
                {"kind": "seed", "seed": int(seed), "truncation": self.config.truncation}
        if image is None:
            raise ImageError("the row has neither a seed nor an image")
        try:
            pil = Image.open(io.BytesIO(image))
            pil.load()
        except (UnidentifiedImageError, OSError) as e:
            raise ImageError(f"cannot read the image bytes ({len(image)} bytes): {e}") from None
        device = next(G.parameters()).device
        res = embed(G, load_image(pil, G.resolution).to(device), EmbedConfig(steps=self.config.embed_steps))
        return res.w_plus.cpu(), {"kind": "photo", "name": name, "steps": self.config.embed_steps,
                                  "psnr": round(res.psnr, 2)}

    def __call__(self, batch) -> dict[str, list]:
        from .disclosure import png_bytes, provenance
        from .embedding import to_pil
        from .vectors import apply_vectors

        m, vectors, fingerprint = load_resources(self.config)
        G = m.G
        n = len(batch["row"])
        rows, row_ids = _column(batch, "row", n), _column(batch, "row_id", n)
        seeds, images, names = _column(batch, "seed", n), _column(batch, "image", n), _column(batch, "name", n)
        grid = self.config.grid()
        names_of_vectors = [v.name for v in vectors]
        out = {k: [] for k in output_schema().names}

        def emit(i, k, seed, source, strengths, image, w_plus, meta, error):
            for key, value in (("row", rows[i]), ("row_id", row_ids[i]), ("grid_index", k), ("seed", seed),
                               ("source", json.dumps(source)), ("vectors", names_of_vectors),
                               ("strengths", list(strengths)), ("image", image), ("w_plus", w_plus),
                               ("metadata", json.dumps(meta) if meta else ""), ("error", error)):
                out[key].append(value)

        seed_rows = [i for i in range(n) if seeds[i] is not None]
        seed_w = dict(zip(seed_rows, seeds_w_plus(G, [seeds[i] for i in seed_rows], self.config.truncation))) \
            if seed_rows else {}
        ok, codes, sources = [], [], []
        for i in range(n):
            try:
                w, source = self.w_plus_of_row(m, seeds[i], _image_bytes(images[i]), names[i], seed_w.get(i))
            except (ValueError, OSError) as e:  # ImageError is a ValueError
                emit(i, 0, seeds[i], {"kind": "error", "name": names[i]}, [], None, None, None,
                     f"{type(e).__name__}: {e}")
                continue
            ok.append(i)
            codes.append(w)
            sources.append(source)
        if not ok:
            return out
        base = torch.stack(codes)  # (N, num_ws, w_dim)
        edited = torch.stack([apply_vectors(base, list(zip(vectors, point)), G) for point in grid], 1)
        flat = edited.reshape(-1, G.num_ws, G.w_dim)  # row-major: row j, grid point k at j * K + k
        device = next(G.parameters()).device
        with torch.no_grad():
            pictures = torch.cat([G.synthesis(chunk.to(device)).cpu() for chunk in flat.split(64)])
        for j, i in enumerate(ok):
            for k, point in enumerate(grid):
                used = [(v, s) for v, s in zip(vectors, point) if s != 0.0]
                meta = provenance(m.name, fingerprint, sources[j], (), used)
                w = flat[j * len(grid) + k]
                emit(i, k, seeds[i], sources[j], point, png_bytes(to_pil(pictures[j * len(grid) + k]), meta),
                     w.numpy().astype("<f4").tobytes() if self.config.save_w_plus else None, meta, "")
        return out


class ArrowBatchEditor(BatchEditor):
    """The core for Ray Data: a pyarrow batch in, a pyarrow table of the output schema out."""

    def __init__(self, config: BatchConfig):
        super().__init__(config)
        load_resources(config)  # once per actor, before the first batch

    def __call__(self, batch):
        pa, _ = _pa()
        columns = batch.to_pydict() if hasattr(batch, "to_pydict") else batch
        return pa.Table.from_pydict(super().__call__(columns), schema=output_schema())


# ----- inputs: every source -> one table of the input schema ------------------------------------
def _table(rows: list[dict]):
    pa, _ = _pa()
    for i, r in enumerate(rows):
        r["row"] = i
    return pa.Table.from_pylist(rows, schema=input_schema())


def rows_from_seeds(seeds: Sequence[int]):
    return _table([{"row_id": f"seed{int(s):06d}", "seed": int(s), "image": None, "name": f"seed {int(s)}"} for s in seeds])


def rows_from_folder(folder: str | Path):
    folder = Path(folder)
    if not folder.is_dir():
        raise BatchError(f"no folder of images at {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    if not files:
        raise BatchError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return _table([{"row_id": p.stem, "seed": None, "image": p.read_bytes(), "name": p.name} for p in files])


def _rows_from_records(records, image_column: str, source: str):
    rows = []
    for i, r in enumerate(records):
        if image_column not in r and "seed" not in r:
            raise BatchError(f"{source} has neither an {image_column!r} nor a 'seed' column (columns: {', '.join(r)}); "
                             "name the image column with --image-column")
        try:
            image = _image_bytes(r.get(image_column))
        except OSError as e:
            image = b""  # reported as an unreadable row by the editor
            r = {**r, "name": f"{r.get('name') or i}: {e}"}
        seed = r.get("seed")
        name = r.get("name") or r.get("file_name") or (r[image_column].get("path") if isinstance(r.get(image_column), dict) else None)
        rows.append({"row_id": str(r.get("row_id") or r.get("id") or f"row{i:06d}"), "seed": None if seed is None else int(seed),
                     "image": image, "name": str(name or f"row {i}")})
    if not rows:
        raise BatchError(f"{source} has no rows")
    return _table(rows)


def rows_from_parquet(path: str | Path, image_column: str = "image"):
    _, pq = _pa()
    if not Path(path).exists():
        raise BatchError(f"no Parquet file at {path}")
    return _rows_from_records(pq.read_table(path).to_pylist(), image_column, str(path))


def rows_from_hf(source: str, split: str = "train", image_column: str = "image"):
    """A Hugging Face dataset: a `save_to_disk` folder, a local data folder or a Hub repo id."""
    try:
        import datasets
    except ImportError:
        raise BatchError("Hugging Face datasets input needs `pip install -r requirements-batch.txt`") from None
    path = Path(source)
    if path.is_dir() and ((path / "state.json").is_file() or (path / "dataset_dict.json").is_file()):
        ds = datasets.load_from_disk(str(path))
    else:
        ds = datasets.load_dataset(source, split=split)
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise BatchError(f"{source} has no split {split!r} (splits: {', '.join(ds)})")
        ds = ds[split]
    if image_column in ds.column_names and isinstance(ds.features[image_column], datasets.Image):
        ds = ds.cast_column(image_column, datasets.Image(decode=False))
    return _rows_from_records(ds, image_column, source)


# ----- shards and the result ----------------------------------------------------------------------
@dataclass
class BatchSummary:
    rows: int
    images: int
    failed: int
    errors: list[tuple[str, str]]  # (row_id, reason)
    out: Path
    shards_computed: list[int] = field(default_factory=list)
    shards_skipped: list[int] = field(default_factory=list)

    def line(self) -> str:
        return (f"{self.rows} rows: {self.images} images written, {self.failed} rows failed"
                + (f" (see {self.out / 'dataset' / 'errors' / 'errors.parquet'})" if self.failed else ""))


def _write_atomic(table, path: Path, row_group_size: int | None = None) -> None:
    _, pq = _pa()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp, row_group_size=row_group_size)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def shard_ranges(n: int, shard_size: int) -> list[tuple[int, int]]:
    return [(a, min(a + shard_size, n)) for a in range(0, n, shard_size)]


def _check_resume(config: BatchConfig, table, out: Path, shard_size: int) -> None:
    """Record what out/shards/ holds; refuse to resume a different job into the same folder."""
    import hashlib

    _, pq = _pa()
    job = {"config": json.loads(config.key()), "shard_size": shard_size, "rows": table.num_rows,
           "input": hashlib.sha256(b"".join(str(v).encode() for v in table.column("row_id").to_pylist())).hexdigest()}
    job["config"].pop("batch_size")  # batching does not change the results
    path = out / SHARDS_DIR / "job.json"
    if path.is_file() and json.loads(path.read_text()) != job:
        raise BatchError(f"{out} holds shards of a different batch job (other input, vectors or settings): "
                         "use a new --out folder, or delete its shards/ to start over")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(job, indent=1))


def _pending(table, out: Path, shard_size: int, skipped: list[int]):
    """(index, rows) of each shard of `table` not yet written under out/shards/."""
    for idx, (a, b) in enumerate(shard_ranges(table.num_rows, shard_size)):
        if (out / SHARDS_DIR / SHARD_NAME.format(idx)).is_file():
            skipped.append(idx)
            continue
        yield idx, table.slice(a, b - a)


def _bar(total, desc, show):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="row", disable=not show)


def run_local(config: BatchConfig, table, out: str | Path, shard_size: int = 256, progress: bool = True) -> BatchSummary:
    """The plain loop: batches of `config.batch_size` rows through the core, in this process."""
    pa, _ = _pa()
    out = Path(out)
    _check_resume(config, table, out, shard_size)
    editor, computed, skipped = BatchEditor(config), [], []
    with _bar(table.num_rows, "batch (local)", progress) as bar:
        for idx, shard in _pending(table, out, shard_size, skipped):
            parts = []
            for a in range(0, shard.num_rows, config.batch_size):
                chunk = shard.slice(a, config.batch_size)
                parts.append(pa.Table.from_pydict(editor(chunk.to_pydict()), schema=output_schema()))
                bar.update(chunk.num_rows)
            _write_atomic(pa.concat_tables(parts), out / SHARDS_DIR / SHARD_NAME.format(idx))
            computed.append(idx)
    return finalize(config, out, table.num_rows, computed, skipped)


def run_datasets(config: BatchConfig, table, out: str | Path, num_proc: int = 1, shard_size: int = 256,
                 progress: bool = True) -> BatchSummary:
    """`datasets.Dataset.map(batched=True, num_proc=...)` over each unfinished shard."""
    try:
        import datasets
    except ImportError:
        raise BatchError("--engine datasets needs `pip install -r requirements-batch.txt`") from None
    pa, _ = _pa()
    out = Path(out)
    load_resources(config)  # in the parent: forked workers inherit the loaded model
    if not progress:
        datasets.disable_progress_bars()
    _check_resume(config, table, out, shard_size)
    editor, computed, skipped = BatchEditor(config), [], []
    with _bar(table.num_rows, f"batch (datasets, {num_proc} proc)", progress) as bar:
        for idx, shard in _pending(table, out, shard_size, skipped):
            ds = datasets.Dataset(datasets.table.InMemoryTable(shard))
            mapped = ds.map(editor, batched=True, batch_size=config.batch_size, remove_columns=ds.column_names,
                            num_proc=min(num_proc, shard.num_rows) if num_proc > 1 else None,
                            features=datasets.Features.from_arrow_schema(output_schema()),
                            load_from_cache_file=False, desc=f"shard {idx}")
            _write_atomic(mapped.data.table.cast(output_schema()), out / SHARDS_DIR / SHARD_NAME.format(idx))
            computed.append(idx)
            bar.update(shard.num_rows)
    return finalize(config, out, table.num_rows, computed, skipped)


def run_ray(config: BatchConfig, table, out: str | Path, actors: int = 1, address: str | None = None,
            progress: bool = True) -> BatchSummary:
    """Ray Data: read Parquet, `map_batches` on a pool of `actors` actors (model loaded once each), write Parquet.

    `address`: an existing cluster ("auto", "ray://host:10001"); without it, and with no Ray
    already initialised, a local cluster is started. Every node needs editgan importable and
    the model reachable (a Hub repo id or a shared path).
    """
    try:
        import ray
    except ImportError:
        raise BatchError("--engine ray needs `pip install -r requirements-batch.txt`") from None
    _, pq = _pa()
    out = Path(out).resolve()
    if not ray.is_initialized():
        if address:
            ray.init(address=address)
        else:
            root = str(Path(__file__).resolve().parent.parent)
            ray.init(include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": root}})
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = progress
    src = out / "ray-input.parquet"
    _write_atomic(table, src, row_group_size=config.batch_size)  # a row group per batch: blocks for every actor
    result_dir = out / "ray-output"
    if result_dir.exists():
        for f in result_dir.iterdir():
            f.unlink()
    gpus = 1 if (config.device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda") else None
    # leave one CPU for the read and write tasks (1 CPU each): actors that hold it starve them (a hang)
    cpus = max(0.1, min(1.0, (float(ray.cluster_resources().get("CPU", 1)) - 1) / actors))
    blocks = max(1, min(-(-table.num_rows // config.batch_size), 4 * actors))
    ds = ray.data.read_parquet(str(src)).repartition(blocks)  # one file is one read block otherwise
    ds = ds.map_batches(ArrowBatchEditor, fn_constructor_kwargs={"config": config}, batch_size=config.batch_size,
                        batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=cpus,
                        num_gpus=gpus, udf_modifying_row_count=True)
    ds.write_parquet(str(result_dir))
    return finalize(config, out, table.num_rows, [], [], files=sorted(result_dir.glob("*.parquet")))


def finalize(config: BatchConfig, out: Path, n_rows: int, computed: list[int], skipped: list[int],
             files: list[Path] | None = None) -> BatchSummary:
    """Gather the shards: images/*.png, dataset/data/results.parquet, dataset/errors/errors.parquet, a card."""
    pa, pq = _pa()
    import pyarrow.compute as pc

    out = Path(out)
    files = files if files is not None else sorted((out / SHARDS_DIR).glob("shard-*.parquet"))
    table = pa.concat_tables([pq.read_table(f).cast(output_schema()) for f in files]) if files else \
        output_schema().empty_table()
    table = table.sort_by([("row", "ascending"), ("grid_index", "ascending")])
    failed_mask = pc.not_equal(table["error"], "")
    results, errors = table.filter(pc.invert(failed_mask)), table.filter(failed_mask)
    if not config.save_w_plus:
        results = results.drop_columns(["w_plus"])
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    for row_id, k, data in zip(results["row_id"].to_pylist(), results["grid_index"].to_pylist(), results["image"].to_pylist()):
        (images / f"{row_id}-{k:03d}.png").write_bytes(data)
    dataset = out / "dataset"
    _write_atomic(results.drop_columns(["error"]), dataset / "data" / "results.parquet")
    _write_atomic(errors.select(["row", "row_id", "source", "error"]), dataset / "errors" / "errors.parquet")
    summary = BatchSummary(rows=n_rows, images=results.num_rows, failed=errors.num_rows,
                           errors=list(zip(errors["row_id"].to_pylist(), errors["error"].to_pylist())), out=out,
                           shards_computed=computed, shards_skipped=skipped)
    (dataset / "README.md").write_text(dataset_card(config, summary))
    return summary


def dataset_card(config: BatchConfig, summary: BatchSummary) -> str:
    vectors = ", ".join(f"`{Path(p).stem}` at {', '.join(f'{s:g}' for s in ss)}" for p, ss in config.vectors) or "none"
    return f"""---
tags:
- editgan
- generated
configs:
- config_name: default
  data_files:
  - split: train
    path: data/*.parquet
- config_name: errors
  data_files:
  - split: train
    path: errors/*.parquet
---

# editgan batch edit

Images generated and edited with a generative model (editgan, StyleGAN2 + EditGAN), with
`python -m editgan batch`. Every image's PNG carries the disclosure metadata (text chunks
`Software`, `Description`, `editgan`); the `metadata` column holds the same JSON record.

- model: `{config.model}`
- vectors and strengths (grid = their product): {vectors}
- {summary.rows} input rows, {summary.images} images, {summary.failed} rows failed (config `errors`)

Columns: `row_id`, `seed` (null for images), `source` (JSON: seed and truncation, or the
photo's name and embedding PSNR), `vectors`, `strengths`, `image` (PNG bytes),
{'`w_plus` (float32 little-endian, num_ws x w_dim), ' if config.save_w_plus else ''}`metadata`.
"""


def push_dataset(out: str | Path, repo_id: str, token: str | None = None, private: bool = False) -> str:
    """Upload `<out>/dataset` to a Hub dataset repo (created if needed); returns the commit URL."""
    from huggingface_hub import HfApi

    folder = Path(out) / "dataset"
    if not (folder / "README.md").is_file():
        raise BatchError(f"{folder} is not a finished batch result (no README.md); run the batch first")
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="dataset",
                             commit_message="editgan batch edit")
    return str(getattr(info, "commit_url", info))


def run(config: BatchConfig, table, out: str | Path, engine: str = "local", num_proc: int = 1, actors: int = 1,
        address: str | None = None, shard_size: int = 256, progress: bool = True) -> BatchSummary:
    """Dispatch to an engine: "local", "datasets" or "ray"."""
    if engine == "local":
        return run_local(config, table, out, shard_size, progress)
    if engine == "datasets":
        return run_datasets(config, table, out, num_proc, shard_size, progress)
    if engine == "ray":
        return run_ray(config, table, out, actors, address, progress)
    raise BatchError(f"unknown engine {engine!r}: use local, datasets or ray")
