"""How well photos embed: encoder, encoder + optimisation, + pivotal tuning (PTI), per stage.

    python scripts/measure_embedding.py faces --samples 100 --pti-samples 10 --json docs/embedding-faces.json
    pip install matplotlib   # only for its bundled sample photo (grace_hopper.jpg), used if present

Three sets of images, for a shipped model (weights/<domain>, with its encoder):

1. Held-out samples of the generator (seeds 200000.., W+ known): PSNR of the encoder's guess,
   after `--steps` optimisation steps from it, and after PTI (on the first `--pti-samples`),
   with the W+ error of each (RMS of W+ - true W+ over RMS of true W+ - mean w: 0 exact,
   1 as far off as the mean latent) and the time per stage.
2. Images the generator never drew: renders of the other domain, the photo bundled with
   matplotlib (if installed), and a "phone photo" (a render of this domain, rotated 4
   degrees, on a wide white border, JPEG quality 70, 3:4): PSNR per stage and PTI's time.
3. Do vectors still work after PTI? Renders of this domain (the procedural world itself, never
   drawn by the generator) are embedded with PTI, each shipped vector is applied at +1 with the
   tuned generator, and the parameter reader (trained on renders only) reads the vector's
   parameter before and after: the share of renders moved the right way, with and without PTI.

Times are wall-clock on this machine with torch's threads as set (`--threads`), the load
average printed beside them.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
import time
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from editgan.embedding import InversionConfig, PTIConfig, invert, load_image, psnr
from editgan.model import load_model, shipped_domains
from editgan.reader import ParameterReader
from editgan.vectors import apply_vectors, list_local_vectors
from editgan.world import get_world

FIRST_SEED = 200_000


def w_error(w: torch.Tensor, w_true: torch.Tensor, w_mean: torch.Tensor) -> float:
    return float((w - w_true).pow(2).mean().sqrt() / (w_true - w_mean).pow(2).mean().sqrt())


def mean(xs) -> float:
    xs = list(xs)
    return sum(xs) / max(len(xs), 1)


def held_out_samples(m, n: int, n_pti: int, steps: int, pti_steps: int) -> dict:
    G, E = m.G, m.encoder
    w_mean = G.mean_w()
    rows = []
    for k in range(n):
        w_true = G.w_plus_from_seed(FIRST_SEED + k)
        with torch.no_grad():
            target = G.synthesis(w_true[None])[0]
        pti = pti_steps if k < n_pti else 0
        t = time.perf_counter()
        res = invert(G, target, E, InversionConfig(steps=steps, pti_steps=pti))
        wall = time.perf_counter() - t
        row = {"seed": FIRST_SEED + k, "stages": {s.stage: {"psnr": s.psnr, "seconds": s.seconds} for s in res.stages},
               "w_error_final": w_error(res.w_plus, w_true, w_mean), "seconds": wall}
        if E is not None:
            row["w_error_encoder"] = w_error(E.encode(target), w_true, w_mean)
        if res.generator is not None:  # locality: how the tuned copy draws 8 other samples
            far_ws = G.w_plus_from_seeds(range(FIRST_SEED + 10_000, FIRST_SEED + 10_008))
            with torch.no_grad():
                row["far_psnr"] = mean(psnr(a, b) for a, b in zip(res.generator.synthesis(far_ws), G.synthesis(far_ws)))
        rows.append(row)
        print(f"  sample {k + 1}/{n}: {res.summary()}", flush=True)
    out = {}
    for stage in ("encoder", "optimisation", "pivotal tuning"):
        got = [r["stages"][stage] for r in rows if stage in r["stages"]]
        if got:
            out[stage] = {"n": len(got), "psnr_db": mean(g["psnr"] for g in got),
                          "psnr_db_min": min(g["psnr"] for g in got), "seconds": mean(g["seconds"] for g in got)}
    if E is not None:
        out["encoder"]["w_error"] = mean(r["w_error_encoder"] for r in rows)
    if any("far_psnr" in r for r in rows):
        out["pivotal tuning"]["far_psnr_db"] = mean(r["far_psnr"] for r in rows if "far_psnr" in r)
    out["optimisation"]["w_error"] = mean(r["w_error_final"] for r in rows)
    return out


def phone_photo(image: Image.Image) -> Image.Image:
    """A render dressed as a phone photo: tilted, on a wide white border, 3:4, JPEG-compressed."""
    big = image.resize((image.width * 4, image.height * 4), Image.BICUBIC).rotate(4, resample=Image.BICUBIC,
                                                                                  fillcolor=(250, 250, 250))
    canvas = Image.new("RGB", (big.width + 60, int((big.width + 60) * 4 / 3)), (250, 250, 250))
    canvas.paste(big, (30, (canvas.height - big.height) // 2))
    buf = io.BytesIO()
    canvas.save(buf, format="JPEG", quality=70)
    return Image.open(io.BytesIO(buf.getvalue()))


def foreign_images(domain: str, resolution: int, n_other: int) -> dict[str, torch.Tensor]:
    from editgan.embedding import to_pil

    other = next(d for d in ("faces", "cars") if d != domain)
    images = {}
    ow = get_world(other)
    g = torch.Generator().manual_seed(7)
    params = ow.params_from_z(torch.randn(n_other, ow.num_params, generator=g))
    for i, img in enumerate(ow.render(params, resolution)[0]):
        images[f"{other} render {i}"] = img
    try:
        import matplotlib.cbook as cbook

        with cbook.get_sample_data("grace_hopper.jpg") as f:
            images["photo: matplotlib grace_hopper.jpg"] = load_image(Image.open(f), resolution)
    except Exception as e:  # matplotlib missing: say so, measure the rest
        print(f"  (no bundled photo: {e})")
    world = get_world(domain)
    p = world.params_from_z(torch.randn(1, world.num_params, generator=g))
    images[f"phone photo of a {domain} render"] = load_image(phone_photo(to_pil(world.render(p, resolution)[0][0])), resolution)
    return images


def foreign(m, domain: str, steps: int, pti_steps: int, n_other: int) -> list[dict]:
    rows = []
    for name, target in foreign_images(domain, m.G.resolution, n_other).items():
        res = invert(m.G, target, m.encoder, InversionConfig(steps=steps, pti_steps=pti_steps))
        stages = {s.stage: {"psnr": s.psnr, "seconds": s.seconds} for s in res.stages}
        rows.append({"image": name, **{k: v for k, v in stages.items()}})
        print(f"  {name}: {res.summary()}", flush=True)
    return rows


@torch.no_grad()
def vectors_after_pti(m, domain: str, n: int, steps: int, pti_steps: int) -> list[dict]:
    reader = ParameterReader.from_pretrained(m.folder / "reader")
    world = reader.world
    vectors, _ = list_local_vectors(m.vectors_dir)
    g = torch.Generator().manual_seed(11)
    params = world.params_from_z(torch.randn(n, world.num_params, generator=g))
    renders = world.render(params, m.G.resolution)[0]
    embedded = []
    for i, target in enumerate(renders):
        with torch.enable_grad():
            res = invert(m.G, target, m.encoder, InversionConfig(steps=steps, pti_steps=pti_steps))
        embedded.append(res)
        print(f"  render {i + 1}/{n}: {res.summary()}", flush=True)
    rows = []
    for vec in vectors:
        param = vec.method.get("parameter")
        if not param:
            continue
        j = world.index(param)
        sign = math.copysign(1.0, float(vec.method.get("direction", 1.0)))
        right = {"without PTI": 0, "with PTI": 0}
        for res in embedded:
            w1 = apply_vectors(res.w_plus, [(vec, 1.0)], m.G)
            for label, G in (("without PTI", m.G), ("with PTI", res.generator)):
                before = reader.read(G.synthesis(res.w_plus[None]))[0, j]
                after = reader.read(G.synthesis(w1[None]))[0, j]
                right[label] += int(sign * float(after - before) > 0)
        rows.append({"vector": vec.name, "parameter": param, "n": n,
                     **{f"right_way_{k.replace(' ', '_')}": v / n for k, v in right.items()}})
        print(f"  {vec.name} ({param}): right way {right['with PTI']}/{n} with PTI, {right['without PTI']}/{n} without")
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("domains", nargs="*", default=shipped_domains())
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--pti-samples", type=int, default=10)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--pti-steps", type=int, default=PTIConfig.steps)
    p.add_argument("--other", type=int, default=3, help="renders of the other domain")
    p.add_argument("--vector-renders", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json")
    p.add_argument("--only", nargs="+", choices=["foreign", "vectors"],
                   help="rerun only these parts (2: foreign images, 3: vectors after PTI) into the existing --json file")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.only:
        if not a.json:
            p.error("--only updates a --json file")
        report = json.loads(Path(a.json).read_text())
        for domain in a.domains:
            m = load_model(domain)
            if "foreign" in a.only:
                report[domain]["foreign"] = foreign(m, domain, a.steps, a.pti_steps, a.other)
            if "vectors" in a.only:
                report[domain]["vectors_after_pti"] = vectors_after_pti(m, domain, a.vector_renders, a.steps, a.pti_steps)
            Path(a.json).write_text(json.dumps(report, indent=1))
        return
    report = {"threads": a.threads, "steps": a.steps, "pti_steps": a.pti_steps}
    for domain in a.domains:
        m = load_model(domain)
        print(f"{domain}: encoder {'yes' if m.encoder is not None else 'no'}; load {os.getloadavg()}", flush=True)
        report[domain] = {"held_out": held_out_samples(m, a.samples, a.pti_samples, a.steps, a.pti_steps),
                          "load_after_held_out": os.getloadavg()[0]}
        report[domain]["foreign"] = foreign(m, domain, a.steps, a.pti_steps, a.other)
        report[domain]["vectors_after_pti"] = vectors_after_pti(m, domain, a.vector_renders, a.steps, a.pti_steps)
        report[domain]["load_at_end"] = os.getloadavg()[0]
        print(json.dumps(report[domain]["held_out"], indent=1))
        if a.json:
            Path(a.json).write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
