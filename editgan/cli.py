"""The command line: `python -m editgan <command> ...` (also the `editgan` console script).

Every command calls the same library functions as the app and the tests; long work shows
a tqdm progress bar. Errors the user can fix are printed as one line, exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch


def _bar(total: int, desc: str):
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, leave=False)

    def update(step, total_steps, info=None):
        bar.total = total_steps
        bar.n = step
        if isinstance(info, dict):
            bar.set_postfix({k: round(v, 4) for k, v in info.items() if isinstance(v, float)}, refresh=False)
        bar.refresh()

    return bar, update


class _StageBars:
    """A tqdm bar per named stage, made on the stage's first report: `update(name, done, total, info)`."""

    def __init__(self, prefix: str = ""):
        self.prefix, self.bars = prefix, {}

    def update(self, name, done, total, info=None):
        if name not in self.bars:
            self.bars[name] = _bar(total, f"{self.prefix}{name}")
        self.bars[name][1](done, total, info)

    def close(self) -> None:
        for bar, _ in self.bars.values():
            bar.close()


def _save_image(tensor, path: str | Path) -> None:
    from .embedding import to_pil

    to_pil(tensor).save(path)


def _save_labels(labels, palette, path: str | Path) -> None:
    from PIL import Image

    Image.fromarray(palette[labels].numpy()).save(path)


# ----- commands -------------------------------------------------------------------------------
def cmd_sample(a) -> None:
    from .model import load_model

    m = load_model(a.model)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for seed in a.seeds:
        w = m.w_from_seed(seed, a.truncation)
        image, labels = m.render(w)
        _save_image(image, out / f"seed{seed:04d}.png")
        if labels is not None:
            _save_labels(labels, m.palette, out / f"seed{seed:04d}-parts.png")
        if a.save_latent:
            from safetensors.torch import save_file

            save_file({"w_plus": w.contiguous()}, str(out / f"seed{seed:04d}.safetensors"))
    print(f"wrote {len(a.seeds)} samples to {out}")


def cmd_convert(a) -> None:
    from .model import convert_checkpoint

    convert_checkpoint(a.src, a.dst)
    print(f"converted {a.src} -> {a.dst}")


def _load_w(m, a):
    """(W+ to work on, the generator that draws it): --seed, --latent (safetensors with w_plus) or
    --image (embedded: the model's encoder if it has one, --embed-steps of optimisation, and with
    --pti-steps a pivotally tuned copy of the generator, which then draws every image)."""
    if getattr(a, "latent", None):
        from safetensors.torch import load_file

        return load_file(a.latent)["w_plus"].reshape(m.G.num_ws, m.G.w_dim), m.G
    if getattr(a, "image", None):
        from .embedding import InversionConfig, invert, load_image

        encoder = None if a.no_encoder else m.encoder
        bars = _StageBars()
        res = invert(m.G, load_image(a.image, m.G.resolution), encoder,
                     InversionConfig(steps=a.embed_steps, pti_steps=a.pti_steps), progress=bars.update)
        bars.close()
        print(f"embedded {a.image}: {res.summary()}")
        return res.w_plus, (res.generator or m.G)
    return m.w_from_seed(a.seed, a.truncation), m.G


def cmd_embed(a) -> None:
    from safetensors.torch import save_file

    from .model import load_model

    m = load_model(a.model)
    w, G = _load_w(m, a)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    save_file({"w_plus": w.contiguous()}, str(out / "latent.safetensors"))
    image, _ = m.render(w, G)
    _save_image(image, out / "reconstruction.png")
    print(f"wrote {out / 'latent.safetensors'} and {out / 'reconstruction.png'}")
    if G is not m.G:
        print("note: the reconstruction is drawn by the photo's pivotally tuned generator, which is not saved: "
              "pass --image (and --pti-steps) to edit/apply/sweep to edit the photo with it")


def _require_segmenter(m):
    if m.segmenter is None:
        raise SystemExit(f"error: {m.source} has no segmentation branch; train one with `python -m editgan segmenter train`")


def cmd_edit(a) -> None:
    from .editor import EditConfig, edit
    from .labels import labels_from_png
    from .model import load_model
    from .vectors import EditVector, save_vector

    m = load_model(a.model)
    _require_segmenter(m)
    w, G = _load_w(m, a)
    target = labels_from_png(a.parts, m.palette, m.G.resolution)
    bar, upd = _bar(a.steps, "editing")
    res = edit(G, m.segmenter, w, target, EditConfig(steps=a.steps, lr=a.lr), progress=upd)
    bar.close()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    _save_image(res.image, out / "edited.png")
    _save_labels(res.labels, m.palette, out / "edited-parts.png")
    print(f"edit: {res.steps} steps, region accuracy {res.history[-1]['accuracy']:.3f}; wrote {out}/edited.png")
    if a.save_vector:
        from .editor import painted_classes

        _, before = m.render(w, G)
        parts = [m.class_names[c] for c in painted_classes(before, target)]
        vec = EditVector(delta=res.delta, name=Path(a.save_vector).stem, description=a.description,
                         model_fingerprint=m.fingerprint, parts=parts,
                         method={"kind": "segmentation-edit", "steps": res.steps, "lr": a.lr})
        save_vector(vec, a.save_vector)
        print(f"saved edit vector {a.save_vector}")


def _vector_specs(specs) -> list[tuple]:
    """[(EditVector, strength)] from PATH[=STRENGTH] arguments (the vector's default strength if none)."""
    from .vectors import VectorError, load_vector

    pairs = []
    for spec in specs:
        path, _, strength = spec.partition("=")
        vec = load_vector(path)
        try:
            pairs.append((vec, float(strength) if strength else vec.default_strength))
        except ValueError:
            raise VectorError(f"--vector {spec!r}: the strength after '=' must be a number, e.g. {path}=1.5") from None
    return pairs


def cmd_apply(a) -> None:
    from .editor import refine
    from .model import load_model
    from .vectors import apply_vectors

    m = load_model(a.model)
    pairs = _vector_specs(a.vector)
    w, G = _load_w(m, a)
    w2 = apply_vectors(w[None], pairs, m.G, mode="orthogonal" if a.orthogonal else "sum")[0]  # checked against the model
    if a.refine:
        _require_segmenter(m)
        parts = sorted({p for v, _ in pairs for p in v.parts})
        bar, upd = _bar(a.refine, "refining")
        w2 = refine(G, m.segmenter, w, w2 - w, parts, steps=a.refine, progress=upd).w_plus
        bar.close()
    image, _ = m.render(w2, G)
    _save_image(image, a.out)
    print(f"wrote {a.out}")


def cmd_sweep(a) -> None:
    from .disclosure import provenance
    from .sweep import save_sweep, sweep_frames, sweep_record, sweep_strengths

    from .model import load_model

    if Path(a.out).suffix.lower() not in (".gif", ".mp4"):
        raise SystemExit(f"error: --out {a.out}: a sweep is saved as .gif or .mp4")
    m = load_model(a.model)
    pairs = _vector_specs(a.vector)
    w, G = _load_w(m, a)
    mode = "orthogonal" if a.orthogonal else "sum"
    lo, hi = a.range
    values = sweep_strengths(lo, hi, a.frames)
    bar, upd = _bar(a.frames, "sweep frames")
    frames = sweep_frames(G, w, pairs, lo, hi, a.frames, mode=mode, batch_size=a.batch_size, progress=upd)
    bar.close()
    if a.scale > 1:
        from PIL import Image

        frames = [f.resize((f.width * a.scale, f.height * a.scale), Image.NEAREST) for f in frames]
    source = {"kind": "latent", "path": a.latent} if a.latent else (
        {"kind": "photo", "name": Path(a.image).name} if a.image else {"kind": "seed", "seed": a.seed, "truncation": a.truncation})
    meta = provenance(m.name, m.fingerprint, source, [], pairs, sweep_record(values, pairs, mode, a.fps))
    save_sweep(frames, a.out, a.fps, meta)
    print(f"wrote {a.out}: {len(frames)} frames, strengths x {values[0]:g}..{values[-1]:g}, {mode}")


def cmd_train_default(a) -> None:
    from .training import TrainConfig, train

    cfg = TrainConfig(world=a.world, minutes=a.minutes, max_steps=a.max_steps, batch=a.batch,
                      init=a.init, adversarial=a.adversarial)
    if a.lr is not None:
        cfg.lr = a.lr
    if a.tiny:
        cfg.channels, cfg.w_dim, cfg.resolution, cfg.mapping_layers = (16, 16, 8), 32, 16, 2
    from tqdm.auto import tqdm

    bar = tqdm(desc=f"training {a.world}", unit="step")

    def progress(step, info):
        bar.update(step - bar.n)
        bar.set_postfix(loss=round(info["total"], 4), img_s=round(info["img_per_s"], 1), eta_min=round(info["eta_minutes"], 1))

    G = train(cfg, a.run, progress)
    bar.close()
    G.save_pretrained(a.out)
    print(f"saved generator to {a.out}")


def cmd_encoder_train(a) -> None:
    """Train an image -> W+ encoder on the generator's own samples; resumable from --run."""
    import time

    from .encoder import EncoderTrainConfig, train_encoder
    from .model import load_generator, local_path

    G = load_generator(a.model)
    out = Path(a.out) if a.out else local_path(a.model)
    if not a.out and not out.is_dir():
        raise SystemExit(f"error: --out is needed: {a.model} is not a model folder")
    cfg = EncoderTrainConfig(steps=a.steps, batch=a.batch)
    bar, upd = _bar(a.steps, "training encoder")
    t = time.time()
    init = None
    if a.init:
        from .encoder import Encoder

        init = Encoder.from_pretrained(a.init)
    E = train_encoder(G, cfg, run_dir=a.run, progress=upd, init=init)
    bar.close()
    E.save_pretrained(out)
    print(f"trained the encoder ({a.steps} steps, {(time.time() - t) / 60:.1f} min this run); saved to {out}")


def cmd_segmenter_train(a) -> None:
    from .model import load_generator
    from .labelling import few_shot_config
    from .labels import read_labels_dir
    from .segmenter import train_segmenter

    G = load_generator(a.generator)  # a shipped name (faces), folder, checkpoint or Hub id
    data = read_labels_dir(a.labels, G)
    bar, upd = _bar(a.steps, "training segmenter")
    res = train_segmenter(G, data.w_plus, data.labels, data.class_names, data.class_colors,
                          few_shot_config(len(data.labels), a.steps), num_members=a.members,
                          progress=lambda s, t, l: upd(s, t, {"loss": l}))
    bar.close()
    res.segmenter.save_pretrained(a.out)
    print(f"trained on {len(data.labels)} examples; final loss {res.losses[-1]:.4f}; saved to {a.out}")


def cmd_label_propose(a) -> None:
    """Proposed part maps for the next seeds of a labelling project, to correct in any paint program."""
    from . import labelling as lab
    from .labels import write_example
    from .model import load_generator

    G = load_generator(a.generator)  # a shipped name (faces), folder, checkpoint or Hub id
    names, colors = lab.parse_classes(Path(a.classes).read_text()) if a.classes else (None, None)
    project = lab.open_project(a.labels, G, a.generator, names, colors, k=a.k, truncation=a.truncation)
    if a.assign:
        mapping = list(project.mapping)
        for item in a.assign:
            cluster, _, name = item.partition("=")
            if name not in project.class_names or not cluster.isdigit() or int(cluster) >= project.k:
                raise SystemExit(f"error: --assign takes CLUSTER=CLASS with CLUSTER < {project.k} and a class of "
                                 f"{project.class_names}, got {item!r}")
            mapping[int(cluster)] = project.class_names.index(name)
        lab.set_mapping(project, mapping)
    branch = None
    if a.branch:
        from .segmenter import Segmenter

        branch = Segmenter.from_pretrained(a.branch)
    clusters_dir = project.folder / lab.STATE_DIR / "clusters"
    clusters_dir.mkdir(parents=True, exist_ok=True)
    seed = -1
    for _ in range(a.n):
        seed = project.next_seed(seed + 1)
        w = lab.w_from_seed(G, seed, project.truncation)
        with torch.no_grad():
            image, features = G.synthesis(w[None], return_features=True)
        clusters = lab.clusters_of(project, G, w, features)
        proposal = lab.propose_labels(project, clusters, branch, features if branch is not None else None)
        name = lab.example_name(seed)
        _save_image(image[0], clusters_dir / f"{name}-image.png")
        lab.cluster_picture(clusters).save(clusters_dir / f"{name}-clusters.png")
        if a.clusters_only:
            print(f"{name}: clusters {clusters_dir / (name + '-clusters.png')}")
            continue
        write_example(project.folder, name, w, proposal, project.palette)
        print(f"{name}: proposal {project.folder / (name + '.png')}")
    if a.clusters_only:
        print("give clusters a class with --assign CLUSTER=CLASS ..., then propose part maps")
        return
    print(f"correct the part maps in the class colours ({lab.classes_text(project.class_names, project.class_colors)!r}), "
          f"then: python -m editgan segmenter train {a.generator} {a.labels} --out MODEL_DIR")


def cmd_segmenter_evaluate(a) -> None:
    from .model import load_generator
    from .labels import read_labels_dir
    from .segmenter import Segmenter, generator_features, mean_iou

    G = load_generator(a.generator)  # a shipped name (faces), folder, checkpoint or Hub id
    seg = Segmenter.from_pretrained(a.segmenter)
    data = read_labels_dir(a.labels, G)
    feats = generator_features(G, data.w_plus)
    with torch.no_grad():
        pred = torch.cat([seg(feats_i).argmax(1) for feats_i in _chunks(feats, len(data.labels))])
    miou, per = mean_iou(pred, data.labels, len(seg.class_names))
    result = {"miou": miou, "per_class_iou": dict(zip(seg.class_names, per))}
    print(json.dumps(result, indent=None if a.json else 2))


def cmd_evaluate(a) -> None:
    """The strict evaluation (docs/evaluation.md): every vector of a procedural world's model."""
    from .evaluation import StrictConfig, evaluate_model, markdown_report
    from .model import load_model
    from .reader import ParameterReader
    from .vectors import list_local_vectors

    m = load_model(a.model)
    _require_segmenter(m)
    reader_dir = Path(m.folder or a.model) / "reader"
    if not (reader_dir / "reader.json").is_file():
        raise SystemExit(f"error: {a.model} has no parameter reader ({reader_dir}): evaluation needs a procedural world's model")
    reader = ParameterReader.from_pretrained(reader_dir)
    vectors, errors = list_local_vectors(a.vectors or m.vectors_dir)
    for path, err in errors:
        print(f"skipping {path}: {err}", file=sys.stderr)
    for vec in vectors:
        if "parameter" not in vec.method:
            print(f"skipping {vec.name}: it names no world parameter to measure", file=sys.stderr)
    config = StrictConfig(samples=a.samples, refine_samples=a.refine_samples, paint_samples=a.paint, min_r2=a.min_r2,
                          r2_samples=a.r2_samples)
    bars = _StageBars("evaluating ")

    def partial(result):  # what is done so far survives an interrupted run
        Path(a.out).write_text(json.dumps(result, indent=1))

    result = evaluate_model(m, reader, vectors, config, progress=bars.update, partial=partial if a.out else None)
    bars.close()
    print(json.dumps(result, indent=1) if a.json else markdown_report(result))


def cmd_batch(a) -> None:
    """Apply vectors at a grid of strengths to seeds, a folder, a Parquet file or a HF dataset (editgan.batch)."""
    from . import batch as B

    try:
        if a.images:
            table = B.rows_from_folder(a.images)
        elif a.parquet:
            table = B.rows_from_parquet(a.parquet, a.image_column)
        elif a.hf_dataset:
            table = B.rows_from_hf(a.hf_dataset, a.split, a.image_column)
        else:
            table = B.rows_from_seeds(a.seeds if a.seeds else range(a.seed_start, a.seed_start + a.num_seeds))
        config = B.BatchConfig(model=a.model, vectors=[B.parse_vector_spec(v) for v in a.vector or []],
                               truncation=a.truncation, embed_steps=a.embed_steps, batch_size=a.batch_size,
                               save_w_plus=a.save_w_plus)
        summary = B.run(config, table, a.out, engine=a.engine, num_proc=a.num_proc, actors=a.actors,
                        address=a.ray_address, shard_size=a.shard_size)
        for row_id, reason in summary.errors:
            print(f"row {row_id} failed: {reason}", file=sys.stderr)
        print(summary.line() + f"; images in {Path(a.out) / 'images'}, table in {Path(a.out) / 'dataset'}")
        if a.push_to_hub:
            print(f"pushed: {B.push_dataset(a.out, a.push_to_hub, private=a.private)}")
    except B.BatchError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2)


def _chunks(features, n, size=8):
    for i in range(0, n, size):
        yield [f[i : i + size] for f in features]


# ----- the parser -------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="editgan", description="Semantic image editing with StyleGAN2 (EditGAN).")
    sub = p.add_subparsers(dest="command", required=True)

    def model_arg(q):
        q.add_argument("--model", default="faces", help="shipped domain (faces, cars), model folder, .pt/.pkl checkpoint or Hub repo id")

    def source_args(q):
        q.add_argument("--seed", type=int, default=0)
        q.add_argument("--truncation", type=float, default=1.0)
        q.add_argument("--latent", help="a .safetensors file holding w_plus")
        q.add_argument("--image", help="a photo to embed first")
        q.add_argument("--embed-steps", type=int, default=100, help="optimisation steps (after the encoder's guess)")
        q.add_argument("--pti-steps", type=int, default=0, help="pivotal tuning steps (faithful to the photo; 0: none)")
        q.add_argument("--no-encoder", action="store_true", help="start from the mean latent even if the model has an encoder")

    q = sub.add_parser("sample", help="images and part maps from seeds")
    model_arg(q)
    q.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    q.add_argument("--truncation", type=float, default=1.0)
    q.add_argument("--save-latent", action="store_true")
    q.add_argument("--out", default="samples")
    q.set_defaults(fn=cmd_sample)

    q = sub.add_parser("convert", help="convert a rosinality .pt or NVlabs .pkl checkpoint to an editgan folder")
    q.add_argument("src")
    q.add_argument("dst")
    q.set_defaults(fn=cmd_convert)

    q = sub.add_parser("embed", help="embed a photo into W+")
    model_arg(q)
    source_args(q)
    q.add_argument("--out", default="embedded")
    q.set_defaults(fn=cmd_embed)

    q = sub.add_parser("edit", help="edit an image from an edited part-map PNG")
    model_arg(q)
    source_args(q)
    q.add_argument("--parts", required=True, help="the edited part map (PNG in the model's class colours)")
    q.add_argument("--steps", type=int, default=100)
    q.add_argument("--lr", type=float, default=0.02)
    q.add_argument("--out", default="edited")
    q.add_argument("--save-vector", help="save the edit as a vector (.safetensors)")
    q.add_argument("--description", default="")
    q.set_defaults(fn=cmd_edit)

    q = sub.add_parser("apply", help="apply edit vectors (path=strength) to a seed, latent or photo")
    model_arg(q)
    source_args(q)
    q.add_argument("--vector", action="append", required=True, help="PATH[=STRENGTH], repeatable")
    q.add_argument("--refine", type=int, default=0, help="refinement steps (EditGAN's 10-30)")
    q.add_argument("--orthogonal", action="store_true",
                   help="combine the vectors orthogonally, in the order given (each one less what it shares with the ones before)")
    q.add_argument("--out", default="applied.png")
    q.set_defaults(fn=cmd_apply)

    q = sub.add_parser("sweep", help="an animation (GIF or MP4) of vectors swept over a range of strengths")
    model_arg(q)
    source_args(q)
    q.add_argument("--vector", action="append", required=True,
                   help="PATH[=STRENGTH], repeatable: in the frame at sweep value t the vector is at t * STRENGTH")
    q.add_argument("--range", type=float, nargs=2, default=[-2.0, 2.0], metavar=("LO", "HI"))
    q.add_argument("--frames", type=int, default=9, help="frame count (odd: the middle frame is the unedited image)")
    q.add_argument("--fps", type=float, default=8)
    q.add_argument("--scale", type=int, default=1, help="enlarge the frames by this whole factor (nearest pixel)")
    q.add_argument("--batch-size", type=int, default=8)
    q.add_argument("--orthogonal", action="store_true", help="combine the vectors orthogonally, in the order given")
    q.add_argument("--out", required=True, help="sweep.gif or sweep.mp4 (MP4 needs: pip install -r requirements-video.txt)")
    q.set_defaults(fn=cmd_sweep)

    q = sub.add_parser("train-default", help="train a default model by distillation from a procedural world")
    q.add_argument("--world", default="faces", choices=["faces", "cars"])
    q.add_argument("--minutes", type=float, default=60)
    q.add_argument("--max-steps", type=int)
    q.add_argument("--batch", type=int, default=8)
    q.add_argument("--lr", type=float, help="generator learning rate (default 2e-3)")
    q.add_argument("--init", help="start from this model folder (e.g. weights/faces) instead of random weights")
    q.add_argument("--adversarial", type=float, default=0.0,
                   help="weight of a StyleGAN2 discriminator's loss next to distillation (sharpening; e.g. 0.05 with --init)")
    q.add_argument("--tiny", action="store_true", help="a tiny 16-px config (smoke tests)")
    q.add_argument("--run", default="runs/faces", help="run folder (checkpoints, logs, grids); resumed if present")
    q.add_argument("--out", default="runs/faces/generator")
    q.set_defaults(fn=cmd_train_default)

    q = sub.add_parser("evaluate", help="measure every shipped vector of a default model against the world's ground truth")
    q.add_argument("model", help="a default model folder (weights/faces) or domain name")
    q.add_argument("--vectors", help="folder of vectors (default: the model's)")
    q.add_argument("--samples", type=int, default=100, help="held-out seeds per vector (100000 on)")
    q.add_argument("--refine-samples", type=int, default=10, help="of them, refined with 10 and 30 steps at strength -1 and +1")
    q.add_argument("--paint", type=int, default=0, help="also the paint-to-ground-truth benchmark on this many seeds per parameter")
    q.add_argument("--min-r2", type=float, default=0.8, help="reader R^2 a parameter needs to count for pass/fail")
    q.add_argument("--r2-samples", type=int, default=512, help="fresh renders the reader's R^2 is measured on")
    q.add_argument("--out", help="also write the JSON here, after every vector and painted parameter")
    q.add_argument("--json", action="store_true")
    q.set_defaults(fn=cmd_evaluate)

    enc = sub.add_parser("encoder", help="train an image -> W+ encoder for a model").add_subparsers(dest="encoder_command", required=True)
    q = enc.add_parser("train", help="train on the generator's own samples (resumable with --run)")
    q.add_argument("model", help="a shipped name, model folder, checkpoint or Hub repo id")
    q.add_argument("--steps", type=int, default=4000)
    q.add_argument("--batch", type=int, default=8)
    q.add_argument("--run", help="checkpoint folder; a rerun of the same command resumes from it")
    q.add_argument("--init", help="start from the encoder in this folder (one made for the model this one was fine-tuned from)")
    q.add_argument("--out", help="folder to write encoder.json/.safetensors into (default: the model's folder)")
    q.set_defaults(fn=cmd_encoder_train)

    seg = sub.add_parser("segmenter", help="train or evaluate a segmentation branch").add_subparsers(dest="segmenter_command", required=True)
    q = seg.add_parser("train", help="train a branch from a labels folder")
    q.add_argument("generator")
    q.add_argument("labels")
    q.add_argument("--out", required=True)
    q.add_argument("--steps", type=int, default=600)
    q.add_argument("--members", type=int, default=10)
    q.set_defaults(fn=cmd_segmenter_train)
    q = seg.add_parser("evaluate", help="mIoU of a branch on a labels folder")
    q.add_argument("generator")
    q.add_argument("segmenter")
    q.add_argument("labels")
    q.add_argument("--json", action="store_true")
    q.set_defaults(fn=cmd_segmenter_evaluate)

    lab = sub.add_parser("label", help="labelling projects (the app's Label tab, from the command line)"
                         ).add_subparsers(dest="label_command", required=True)
    q = lab.add_parser("propose", help="write proposed part maps of the next seeds into a labels folder")
    q.add_argument("generator", help="model folder, .pt/.pkl checkpoint or Hub repo id")
    q.add_argument("labels", help="the labels folder (a project: created on first use)")
    q.add_argument("--classes", help="a text file, one class per line: name #rrggbb (needed to start a project)")
    q.add_argument("--n", type=int, default=16, help="how many seeds to propose")
    q.add_argument("--k", type=int, default=8, help="clusters of the generator's features")
    q.add_argument("--truncation", type=float, default=0.7)
    q.add_argument("--assign", nargs="*", help="CLUSTER=CLASS: the class of a cluster (see labelling/clusters/)")
    q.add_argument("--branch", help="a trained branch folder: propose its prediction instead of the clusters")
    q.add_argument("--clusters-only", action="store_true", help="only draw the samples' numbered clusters")
    q.set_defaults(fn=cmd_label_propose)

    q = sub.add_parser("batch", help="apply vectors at a grid of strengths to many seeds or images (datasets / Ray)")
    model_arg(q)
    src = q.add_mutually_exclusive_group()
    src.add_argument("--seeds", type=int, nargs="+", help="these seeds")
    src.add_argument("--num-seeds", type=int, default=16, help="N seeds from --seed-start (the default input)")
    src.add_argument("--images", help="a folder of images (each embedded)")
    src.add_argument("--parquet", help="a Parquet file with an image column (bytes) or a seed column")
    src.add_argument("--hf-dataset", help="a Hugging Face dataset: save_to_disk folder, data folder or Hub repo id")
    q.add_argument("--seed-start", type=int, default=0)
    q.add_argument("--split", default="train")
    q.add_argument("--image-column", default="image")
    q.add_argument("--vector", action="append", help="PATH=S1,S2,... (repeatable; the grid is the product of the strengths)")
    q.add_argument("--truncation", type=float, default=1.0)
    q.add_argument("--embed-steps", type=int, default=100, help="optimisation steps per embedded image")
    q.add_argument("--batch-size", type=int, default=16, help="rows per batch through the generator")
    q.add_argument("--save-w-plus", action="store_true", help="store each image's W+ in the table")
    q.add_argument("--engine", default="local", choices=["local", "datasets", "ray"])
    q.add_argument("--num-proc", type=int, default=1, help="datasets engine: processes")
    q.add_argument("--actors", type=int, default=1, help="ray engine: actors (one model each, a GPU each where present)")
    q.add_argument("--ray-address", help="ray engine: an existing cluster (auto, ray://host:10001); default: start a local one")
    q.add_argument("--shard-size", type=int, default=256, help="rows per resumable shard (local, datasets)")
    q.add_argument("--out", default="batch-out")
    q.add_argument("--push-to-hub", metavar="REPO", help="upload the result dataset to this Hub dataset repo")
    q.add_argument("--private", action="store_true")
    q.set_defaults(fn=cmd_batch)

    try:
        from .hub_cli import add_cli
    except ImportError:  # pragma: no cover - hub support is part of the package
        add_cli = None
    if add_cli:
        add_cli(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .checkpoints import CheckpointError
    from .editor import EditError
    from .embedding import ImageError
    from .labels import LabelsError
    from .segmenter import SegmenterError
    from .sweep import SweepError
    from .vectors import VectorError

    try:
        args.fn(args)
    except (CheckpointError, EditError, ImageError, LabelsError, SegmenterError, SweepError, VectorError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
