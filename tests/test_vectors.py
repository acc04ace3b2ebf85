"""Edit vector files and maths: bit-exact round trips, clear errors, compatibility, strengths."""

import json
import os
import struct

import pytest
import torch
from safetensors.torch import save_file

from conftest import tiny_G
from editgan.vectors import (
    EditVector,
    IncompatibleVectorError,
    VectorError,
    apply_vectors,
    check_compatible,
    combine,
    is_compatible,
    list_local_vectors,
    load_vector,
    save_vector,
)




def make_vec(G, name="smile", seed=1, scale=1.0, **kw) -> EditVector:
    delta = scale * torch.randn(G.num_ws, G.w_dim, generator=torch.Generator().manual_seed(seed))
    kw.setdefault("model_fingerprint", G.fingerprint())
    return EditVector(delta=delta, name=name, **kw)


def test_round_trip_is_bit_exact(G, tmp_path):
    delta = torch.randn(G.num_ws, G.w_dim, generator=torch.Generator().manual_seed(0))
    delta[0, :4] = torch.tensor([-0.0, 1e-45, 3.4e38, -1.1754944e-38])  # signed zero, subnormal, extremes
    vec = EditVector(delta=delta, name="smile", description="wider smile | with 'quotes'\nand a newline",
                     model_fingerprint=G.fingerprint(), model_repo="alice/faces", parts=["mouth", "teeth"],
                     default_strength=0.1 + 0.2, method={"kind": "segmentation-edit", "steps": 100, "seed": 3,
                                                         "lr": 0.02, "nested": {"a": [1, 2.5, None]}},
                     created="2024-05-01T12:00:00+00:00")
    path = save_vector(vec, tmp_path / "smile.safetensors")
    back = load_vector(path)
    assert torch.equal(back.delta.view(torch.int32), vec.delta.view(torch.int32))  # bit for bit, -0.0 included
    assert back.delta.dtype == torch.float32 and (back.num_ws, back.w_dim) == (G.num_ws, G.w_dim)
    for f in ("name", "description", "model_fingerprint", "model_repo", "parts", "default_strength", "method", "created"):
        assert getattr(back, f) == getattr(vec, f), f
    # the header is plain strings, readable without torch
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    assert meta["format"] == "editgan-vector" and meta["version"] == "1"
    assert json.loads(meta["parts"]) == ["mouth", "teeth"] and all(isinstance(v, str) for v in meta.values())


def test_failed_save_keeps_the_old_file(G, tmp_path, monkeypatch):
    path = tmp_path / "smile.safetensors"
    save_vector(make_vec(G, seed=1), path)
    before = path.read_bytes()

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        save_vector(make_vec(G, seed=2), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["smile.safetensors"]  # no temp file left
    with pytest.raises(VectorError, match="JSON"):
        save_vector(make_vec(G, method={"bad": object()}), path)
    assert path.read_bytes() == before


def test_unreadable_files_say_which_and_why(G, tmp_path):
    good = save_vector(make_vec(G), tmp_path / "good.safetensors").read_bytes()
    cases = {
        "text.safetensors": (b"hello, I am not a tensor file at all", "not a safetensors file"),
        "empty.safetensors": (b"", "not a safetensors file"),
        "cut.safetensors": (good[: len(good) - 10], "truncated"),
        "cuthead.safetensors": (good[:20], "truncated"),
        "garbage.safetensors": (bytes(range(256)) * 4, "not a safetensors file"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(VectorError, match=message) as e:
            load_vector(tmp_path / name)
        assert name in str(e.value)
    with pytest.raises(VectorError, match="no edit vector file"):
        load_vector(tmp_path / "missing.safetensors")


def test_safetensors_that_are_not_vectors(G, tmp_path):
    save_file({"w_plus": torch.zeros(1, 4, 16)}, str(tmp_path / "latent.safetensors"))
    with pytest.raises(VectorError, match="not an editgan edit vector.*w_plus"):
        load_vector(tmp_path / "latent.safetensors")
    meta = make_vec(G).metadata()
    save_file({"offset": torch.zeros(4, 16)}, str(tmp_path / "nodelta.safetensors"), metadata=meta)
    with pytest.raises(VectorError, match="no 'delta' tensor"):
        load_vector(tmp_path / "nodelta.safetensors")
    save_file({"delta": torch.zeros(1, 4, 16)}, str(tmp_path / "rank3.safetensors"), metadata=meta)
    with pytest.raises(VectorError, match="rank 3"):
        load_vector(tmp_path / "rank3.safetensors")
    nan = torch.zeros(4, 16)
    nan[1, 2] = float("nan")
    save_file({"delta": nan}, str(tmp_path / "nan.safetensors"), metadata=meta)
    with pytest.raises(VectorError, match="NaN"):
        load_vector(tmp_path / "nan.safetensors")
    save_file({"delta": torch.zeros(4, 16)}, str(tmp_path / "v2.safetensors"), metadata={**meta, "version": "2"})
    with pytest.raises(VectorError, match="upgrade editgan"):
        load_vector(tmp_path / "v2.safetensors")
    with pytest.raises(VectorError, match="NaN"):
        EditVector(delta=torch.full((4, 16), float("inf")), name="x")
    with pytest.raises(VectorError, match=r"delta\[0\]"):
        EditVector(delta=torch.zeros(1, 4, 16), name="x")


def test_list_local_vectors_reports_bad_files(G, tmp_path):
    save_vector(make_vec(G, "b"), tmp_path / "b.safetensors")
    save_vector(make_vec(G, "a"), tmp_path / "a.safetensors")
    (tmp_path / "broken.safetensors").write_bytes(b"\x00" * 5)
    (tmp_path / "notes.txt").write_text("ignored")
    vectors, errors = list_local_vectors(tmp_path)
    assert [v.name for v in vectors] == ["a", "b"]
    assert [(p.name, type(e)) for p, e in errors] == [("broken.safetensors", VectorError)]
    with pytest.raises(VectorError, match="no vectors folder"):
        list_local_vectors(tmp_path / "nope")


def test_strength_zero_gives_back_the_input_exactly(G):
    w = torch.randn(3, G.num_ws, G.w_dim)
    v1, v2 = make_vec(G, "a", 1), make_vec(G, "b", 2)
    out = apply_vectors(w, [(v1, 0.0), (v2, 0)], G)
    assert torch.equal(out, w) and out is not w
    assert torch.equal(apply_vectors(w[0], [(v1, 0.0)]), w[0])
    assert torch.equal(apply_vectors(w, []), w)


def test_combine_and_apply(G):
    v1, v2 = make_vec(G, "a", 1), make_vec(G, "b", 2)
    d = combine([(v1, 0.5), (v2, -2.0)])
    torch.testing.assert_close(d, 0.5 * v1.delta - 2.0 * v2.delta)
    w = torch.randn(4, G.num_ws, G.w_dim)
    out = apply_vectors(w, [(v1, 0.5), (v2, -2.0)], G)
    torch.testing.assert_close(out, w + d.unsqueeze(0))  # broadcast over the batch
    torch.testing.assert_close(apply_vectors(w[1], [(v1.delta, 1.0)], G), w[1] + v1.delta)  # raw tensors too
    with pytest.raises(VectorError, match="finite"):
        apply_vectors(w, [(v1, float("nan"))])
    other = EditVector(delta=torch.zeros(5, 7), name="other")
    with pytest.raises(VectorError, match="different models"):
        combine([(v1, 1.0), (other, 1.0)])


def test_incompatible_vectors_are_refused_naming_both_models(G):
    G2 = tiny_G(1)
    vec = make_vec(G2, "from-g2", model_repo="bob/other-faces")
    assert not is_compatible(vec, G) and is_compatible(vec, G2)
    with pytest.raises(IncompatibleVectorError) as e:
        apply_vectors(torch.zeros(1, G.num_ws, G.w_dim), [(vec, 1.0)], G)
    assert G.fingerprint() in str(e.value) and G2.fingerprint() in str(e.value) and "bob/other-faces" in str(e.value)
    wrong_shape = EditVector(delta=torch.zeros(G.num_ws + 2, G.w_dim), name="big", model_fingerprint="feedfacefeedface")
    with pytest.raises(IncompatibleVectorError, match=rf"\({G.num_ws + 2}, {G.w_dim}\).*\({G.num_ws}, {G.w_dim}\)"):
        check_compatible(wrong_shape, G)
    unnamed = EditVector(delta=torch.zeros(G.num_ws, G.w_dim), name="unnamed")  # no fingerprint: shape only
    assert is_compatible(unnamed, G)


def test_compatibility_follows_weight_changes(G):
    G3 = tiny_G(2)
    vec = make_vec(G3, "v")
    assert is_compatible(vec, G3)
    with torch.no_grad():
        next(G3.parameters()).add_(1.0)  # in place: the cached fingerprint must not be trusted
    assert not is_compatible(vec, G3)


def test_header_size_prefix_lies(tmp_path):
    data = struct.pack("<Q", 10**12) + b"{}"
    (tmp_path / "liar.safetensors").write_bytes(data)
    with pytest.raises(VectorError, match="not a safetensors file"):
        load_vector(tmp_path / "liar.safetensors")


# ----- combining: sum and orthogonal ------------------------------------------------------------
def test_sum_mode_is_the_plain_sum_in_every_call_form(G):
    v1, v2 = make_vec(G, "a", 1), make_vec(G, "b", 2)
    expected = combine([(v1, 0.5), (v2, -2.0)])
    assert torch.equal(combine([v1, v2], [0.5, -2.0]), expected)
    assert torch.equal(combine([v1, v2], [0.5, -2.0], mode="sum"), expected)
    assert torch.equal(combine([v1, v2]), v1.delta + v2.delta)  # strengths default to 1
    with pytest.raises(VectorError, match="one strength per vector"):
        combine([v1, v2], [1.0])
    with pytest.raises(VectorError, match="unknown combination mode"):
        combine([v1], mode="gram")
    with pytest.raises(VectorError, match="unknown combination mode"):
        apply_vectors(torch.zeros(G.num_ws, G.w_dim), [(v1, 1.0)], mode="project")


def test_orthogonal_leaves_a_single_vector_unchanged(G):
    v = make_vec(G, "a", 1)
    for s in (1.0, -1.7, 0.3):
        assert torch.equal(combine([(v, s)], mode="orthogonal"), combine([(v, s)]))  # bit for bit
    w = torch.randn(2, G.num_ws, G.w_dim)
    assert torch.equal(apply_vectors(w, [(v, 1.3)], G, mode="orthogonal"), apply_vectors(w, [(v, 1.3)], G))


def test_orthogonal_is_order_aware_and_orthogonal_per_layer(G):
    a, b = make_vec(G, "a", 1), make_vec(G, "b", 2)
    b.delta[:2] += 3 * a.delta[:2]  # share a lot with a in two layers
    b.delta[2] = 0  # b leaves layer 2 alone
    ab = combine([a, b], [1.0, 1.0], mode="orthogonal")
    ba = combine([b, a], [1.0, 1.0], mode="orthogonal")
    assert not torch.allclose(ab, ba, atol=1e-3)
    b_part = combine([(a, 1.0), (b, 1.0)], mode="orthogonal") - a.delta  # a itself is kept as it is
    # the later vector's rows are orthogonal to the earlier one's, layer by layer
    cos = torch.nn.functional.cosine_similarity(b_part, a.delta, dim=-1)
    assert cos[torch.arange(G.num_ws) != 2].abs().max() < 1e-5
    assert torch.equal(b_part[2], torch.zeros(G.w_dim))  # b did not touch layer 2: still nothing there
    # a layer where the earlier vector is zero removes nothing from the later one
    a0 = EditVector(delta=a.delta.clone(), name="a0")
    a0.delta[3] = 0
    torch.testing.assert_close((combine([a0, b], mode="orthogonal") - a0.delta)[3], b.delta[3])
    # strengths scale after orthogonalising: the later vector's delta is the same at any strength
    torch.testing.assert_close(combine([a, b], [2.0, -0.5], mode="orthogonal"), 2.0 * a.delta - 0.5 * b_part)


def test_zero_strength_vectors_shape_nobody(G):
    a, b, c = make_vec(G, "a", 1), make_vec(G, "b", 2), make_vec(G, "c", 3)
    only_b = combine([(a, 0.0), (b, 1.5), (c, 0)], mode="orthogonal")
    assert torch.equal(only_b, combine([(b, 1.5)]))  # moving only slider B gives exactly B
    w = torch.randn(G.num_ws, G.w_dim)
    assert torch.equal(apply_vectors(w, [(a, 0.0), (c, 0.0)], G, mode="orthogonal"), w)


def test_a_vector_inside_the_span_before_it_adds_nothing(G):
    from editgan.vectors import gram_schmidt_rows

    a = make_vec(G, "a", 1).delta
    u = gram_schmidt_rows([a, -2.0 * a, a + 1.0])
    assert u[0] is a and torch.equal(u[1], torch.zeros_like(a))
    assert ((u[2] * a).sum(-1).abs() < 1e-4).all()
