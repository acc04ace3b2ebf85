"""Slider update: from new strengths to a finished, encoded image, as the app does it.

    python bench/slider.py [--quick] [--json] [--threads N]

One update = combine the edit vectors at their strengths (w + sum_i s_i * d_i), one
generator pass at batch 1, the image to uint8 and encoded for the browser (WebP, what
Gradio's Image sends by default, and PNG). Three vectors; new strengths every update.
Uses `editgan.vectors.apply_vectors` when that module exists, else the same maths on raw
delta tensors (the note says which).
"""

from __future__ import annotations

import io

try:
    from bench import common
except ImportError:  # run as a script
    import common

import torch
from PIL import Image

NUM_VECTORS = 3


def combiner():
    """(function(w_plus, [(vector, strength)], G) -> w_plus, description)."""
    try:
        from editgan.vectors import apply_vectors  # noqa: F401
    except ImportError:
        return combine_raw, "editgan.vectors is not there yet: raw deltas combined as w + sum s_i * d_i"

    def combine(w_plus, pairs, G):
        return apply_vectors(w_plus, pairs, G)

    return combine, "editgan.vectors.apply_vectors"


def combine_raw(w_plus: torch.Tensor, pairs, G) -> torch.Tensor:
    out = w_plus.clone()
    for delta, strength in pairs:
        out += strength * delta
    return out


def encode(image: torch.Tensor, fmt: str) -> bytes:
    """(3, R, R) in [-1, 1] -> encoded bytes, as the app sends them."""
    arr = ((image.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)  # Pillow defaults: WebP quality 80, PNG compress level 6
    return buf.getvalue()


def models(quick: bool):
    from editgan.model import load_model

    out = [(f"{d} (default)", load_model(d).G) for d in common.default_domains()]
    out.append(("256 px random", common.random_generator(common.CONFIG_256)))
    return out


def run(quick: bool) -> dict:
    combine, how = combiner()
    repeats = 5 if quick else 20
    rows, summary = [], {}
    for name, G in models(quick):
        w = common.random_w_plus(G, 1)[0]
        gen = torch.Generator().manual_seed(1)
        vectors = [0.1 * torch.randn(G.num_ws, G.w_dim, generator=gen) for _ in range(NUM_VECTORS)]
        if how.startswith("editgan.vectors"):
            try:
                combine(w, [(vectors[0], 1.0)], G)
            except Exception as e:  # noqa: BLE001 - the module's vector type may not be a raw tensor
                combine, how = combine_raw, f"apply_vectors did not take raw deltas ({type(e).__name__}): raw maths used"
        for fmt in ("WEBP", "PNG"):
            step = [0]

            def update():
                step[0] += 1
                strengths = [0.5 + 0.1 * ((step[0] + i) % 7) for i in range(NUM_VECTORS)]
                with torch.no_grad():
                    w_new = combine(w, list(zip(vectors, strengths)), G)
                    image = G.synthesis(w_new.reshape(1, G.num_ws, G.w_dim))[0]
                return encode(image, fmt)

            with torch.no_grad():
                gen_t = common.timeit(lambda: G.synthesis(w.reshape(1, G.num_ws, G.w_dim)), repeats=repeats, warmup=1)
            t = common.timeit(update, repeats=repeats, warmup=2)
            with torch.no_grad():
                image = G.synthesis(w.reshape(1, G.num_ws, G.w_dim))[0]
            enc = common.timeit(lambda: encode(image, fmt), repeats=repeats, warmup=1)
            rows.append([name, fmt, t["best_ms"], t["median_ms"], gen_t["best_ms"], enc["best_ms"], len(encode(image, fmt))])
    by = {(r[0], r[1]): r for r in rows}
    if "faces" in common.default_domains():
        summary["slider_ms"] = by[("faces (default)", "WEBP")][2]
        summary["slider_ms_png"] = by[("faces (default)", "PNG")][2]
    summary["slider_ms_256"] = by[("256 px random", "WEBP")][2]
    return {
        "title": "Slider update: strengths -> combined W+ -> image -> encoded",
        "columns": ["model", "format", "update ms (best)", "update ms (median)", "of which generator ms", "of which encode ms", "bytes"],
        "rows": rows,
        "summary": summary,
        "notes": [f"{NUM_VECTORS} vectors; {how}", "targets: < 20 ms (default model), < 100 ms (256 px)"],
    }


def main(argv=None):
    common.main_for(run, __doc__, argv)


if __name__ == "__main__":
    main()
