"""External checkpoints: parity with the outputs of the original code, safe unpickling, errors."""

import os
import pickle
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from editgan.checkpoints import CheckpointError, PersistentObject, read_network_pickle
from editgan.model import convert_checkpoint, load_generator
from editgan.generator import Generator

torch.set_num_threads(1)
FIXTURES = Path(__file__).parent / "fixtures"
ROSINALITY = FIXTURES / "rosinality-32px.pt"
NVLABS = FIXTURES / "stylegan2ada-32px.pkl"
TOL = 1e-4


def rel(a, b):
    return ((a - b).norm() / b.norm()).item()


@pytest.fixture(scope="module")
def rosinality():
    return load_generator(ROSINALITY), load_file(str(FIXTURES / "rosinality-32px-reference.safetensors"))


@pytest.fixture(scope="module")
def nvlabs():
    return load_generator(NVLABS), load_file(str(FIXTURES / "stylegan2ada-32px-reference.safetensors"))


def check_rosinality(G, ref):
    with torch.no_grad():
        assert rel(G.mapping(ref["z"]), ref["w"]) < TOL
        assert rel(G(ref["z"]), ref["image"]) < TOL
        assert rel(G(ref["z"], truncation=0.7), ref["image_truncation_0.7"]) < TOL
        assert rel(G.synthesis(ref["w_plus"]), ref["image_from_w_plus"]) < TOL


def check_nvlabs(G, ref):
    with torch.no_grad():
        assert rel(G(ref["z"]), ref["image"]) < TOL
        assert rel(G(ref["z"], truncation=0.7), ref["image_truncation_0.7"]) < TOL
        assert rel(G.synthesis(ref["ws"]), ref["image_from_ws"]) < TOL


# ----- parity --------------------------------------------------------------------------
def test_rosinality_config_is_inferred_from_shapes(rosinality):
    G, _ = rosinality
    c = G.config
    assert (c.resolution, c.z_dim, c.w_dim, c.mapping_layers, c.channels) == (32, 64, 64, 4, (32, 32, 32, 32))
    assert c.normalize_z and not G.training


@pytest.mark.parametrize("mode", ["auto", "weights", "activations"])
def test_rosinality_reproduces_reference(rosinality, mode):
    G, ref = rosinality
    check_rosinality(G.set_modconv_mode(mode), ref)
    G.set_modconv_mode("auto")
    with torch.no_grad():  # batch 1 takes the plain-conv path
        assert rel(G(ref["z"][:1]), ref["image"][:1]) < TOL


def test_nvlabs_config_is_inferred_from_shapes(nvlabs):
    G, _ = nvlabs
    c = G.config
    assert (c.resolution, c.z_dim, c.w_dim, c.mapping_layers, c.channels) == (32, 64, 64, 4, (64, 64, 64, 32))
    assert c.mapping_lr_mul == pytest.approx(0.01) and c.conv_clamp is None and not G.training


@pytest.mark.parametrize("mode", ["auto", "weights", "activations"])
def test_nvlabs_reproduces_reference(nvlabs, mode):
    G, ref = nvlabs
    check_nvlabs(G.set_modconv_mode(mode), ref)
    G.set_modconv_mode("auto")
    with torch.no_grad():
        assert rel(G.synthesis(ref["ws"][1:2]), ref["image_from_ws"][1:2]) < TOL


@pytest.mark.parametrize("src,check", [(ROSINALITY, check_rosinality), (NVLABS, check_nvlabs)])
def test_conversion_then_reload_reproduces_reference(tmp_path, src, check):
    ref = load_file(str(src.with_name(src.stem + "-reference.safetensors")))
    out = convert_checkpoint(src, tmp_path / "converted")
    G = load_generator(out)
    check(G, ref)
    assert G.fingerprint() == load_generator(src).fingerprint()
    assert load_generator(out / "config.json").fingerprint() == G.fingerprint()


# ----- the restricted unpickler --------------------------------------------------------
class RunsCode:
    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return (self.fn, (self.arg,))


@pytest.mark.parametrize("fn,name", [(os.system, "system"), (eval, "builtins.eval"), (exec, "builtins.exec")])
def test_pickle_that_runs_code_is_refused(tmp_path, fn, name):
    marker = tmp_path / "pwned"
    payload = f"touch {marker}" if fn is os.system else f"open({str(marker)!r}, 'w').close()"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": RunsCode(fn, payload)}))
    with pytest.raises(CheckpointError, match=name):
        load_generator(path)
    assert not marker.exists()


def _reconstruct_persistent_obj(meta):  # stand-in, renamed to torch_utils.persistence in the bytes
    raise AssertionError("never called")


def test_persistent_class_source_is_never_run(tmp_path):
    marker = tmp_path / "ran"
    meta = {"type": "class", "version": 6, "class_name": "Generator",
            "module_src": f"open({str(marker)!r}, 'w').close()\nclass Generator: pass\n",
            "state": {"training": False, "_parameters": {"w": torch.ones(2)}, "_modules": {}}}
    data = pickle.dumps({"G_ema": RunsCode(_reconstruct_persistent_obj, meta)}, protocol=2)
    here = _reconstruct_persistent_obj.__module__.encode()
    data = data.replace(b"c" + here + b"\n_reconstruct_persistent_obj\n", b"ctorch_utils.persistence\n_reconstruct_persistent_obj\n")
    path = tmp_path / "net.pkl"
    path.write_bytes(data)
    G = read_network_pickle(path)["G_ema"]
    assert isinstance(G, PersistentObject) and G.class_name == "Generator"
    assert torch.equal(G.tensors()["w"], torch.ones(2))
    with pytest.raises(CheckpointError, match="mapping/synthesis"):
        load_generator(path)
    assert not marker.exists() and "torch_utils" not in sys.modules


def test_tensorflow_pickles_get_a_clear_message(tmp_path):
    path = tmp_path / "tf.pkl"
    path.write_bytes(b"\x80\x02cdnnlib.tflib.network\nNetwork\n)\x81.")
    with pytest.raises(CheckpointError, match="TensorFlow"):
        load_generator(path)


# ----- corrupt, truncated and wrong files ----------------------------------------------
@pytest.mark.parametrize("suffix", [".pkl", ".pt"])
def test_random_and_truncated_files_raise_checkpoint_error(tmp_path, suffix):
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(CheckpointError, match="bad"):
        load_generator(path)
    good = (NVLABS if suffix == ".pkl" else ROSINALITY).read_bytes()
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="bad"):
        load_generator(path)


def test_wrong_contents_raise_checkpoint_error(tmp_path):
    torch.save({"state_dict": {"w": torch.ones(1)}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="g_ema"):
        load_generator(tmp_path / "other.pt")
    (tmp_path / "other.pkl").write_bytes(pickle.dumps({"G": 1}))
    with pytest.raises(CheckpointError, match="G_ema"):
        load_generator(tmp_path / "other.pkl")
    ckpt = torch.load(ROSINALITY, weights_only=True)
    del ckpt["g_ema"]["convs.1.conv.weight"]
    torch.save(ckpt, tmp_path / "broken.pt")
    with pytest.raises(CheckpointError, match="broken.pt"):
        load_generator(tmp_path / "broken.pt")


def test_dispatch_errors_name_the_path_and_what_was_expected(tmp_path):
    (tmp_path / "weights.npz").write_bytes(b"x")
    for bad in [tmp_path / "weights.npz", tmp_path / "missing.pkl", tmp_path]:
        with pytest.raises(CheckpointError, match="expected an editgan folder") as e:
            load_generator(bad)
        assert str(bad) in str(e.value)
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="config.json"):
        load_generator(tmp_path / "g")


def test_repo_ids_go_to_the_hub(tmp_path, hub_server):
    """A converted checkpoint pushed to the loopback Hub loads back by its repo id (real huggingface_hub client)."""
    from editgan.hub import push_model

    folder = convert_checkpoint(ROSINALITY, tmp_path / "g")
    push_model(folder, "alice/stylegan2-32px", token="tok-alice")
    G = load_generator("alice/stylegan2-32px", revision="main")
    assert isinstance(G, Generator) and not G.training and G.resolution == 32
    assert G.fingerprint() == load_generator(folder).fingerprint()
    with pytest.raises(CheckpointError, match="no such file or folder, and not a Hub repo id"):
        load_generator("./missing/stylegan2.pkl")


def test_unsupported_or_damaged_nvlabs_layouts_raise_checkpoint_error(monkeypatch):
    import editgan.checkpoints as ck

    def damaged(edit):
        data = read_network_pickle(NVLABS)
        edit(data["G_ema"].module("synthesis"))
        monkeypatch.setattr(ck, "read_network_pickle", lambda path: data)

    damaged(lambda s: s.module("b16").state.update(architecture="resnet"))
    with pytest.raises(CheckpointError, match="'resnet' is not supported"):
        ck.load_stylegan2ada(NVLABS)
    damaged(lambda s: s.module("b8").module("conv0").state["_modules"].pop("affine"))
    with pytest.raises(CheckpointError, match="unexpected stylegan2-ada generator layout"):
        ck.load_stylegan2ada(NVLABS)


def test_rosinality_without_latent_avg_estimates_it(tmp_path):
    ckpt = torch.load(ROSINALITY, weights_only=True)
    del ckpt["latent_avg"]
    torch.save(ckpt, tmp_path / "no-avg.pt")
    G = load_generator(tmp_path / "no-avg.pt")
    with torch.no_grad():
        expected = G.mapping(torch.randn(10000, G.z_dim, generator=torch.Generator().manual_seed(0))).mean(0)
    assert torch.allclose(G.mean_w(), expected) and G.mean_w().abs().sum() > 0
