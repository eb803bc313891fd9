"""engram_import: tiny random checkpoints in the Hugging Face layout (make_checkpoints.py), imported, their ONNX
graphs run by onnx_eval with full causal attention in between (RoPE from the manifest, applied as the Java attention
does), against reference.py, an independent implementation of each architecture (float64), to 1e-4; refusals name
what they refuse and leave nothing behind; every weight is stored once."""
import json
import os

import numpy as np
import onnx
import pytest
import torch

from engram_import import make_checkpoints, reference
from engram_import.checkpoint import ImportError_
from engram_import.importer import import_checkpoint
from engram_model.onnx_eval import OnnxPieces


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    out = tmp_path_factory.mktemp("imported")
    return str(out), make_checkpoints.make(str(out))


def run_package(pkg, ids):
    """The package's own graphs, with plain full causal attention between pre and post (positions from 0)."""
    with open(os.path.join(pkg, "engram.json")) as f:
        man = json.load(f)
    a = man["architecture"]
    pos = a["positional"]
    pieces = OnnxPieces(pkg, man)
    t = torch.tensor([ids])
    T = len(ids)
    positions = torch.arange(T).reshape(1, T)
    x = pieces.embed(t, positions if pos["type"] == "learned" else None)
    inv = None
    if pos["type"] == "rope":
        sc = pos.get("scaling")
        scaling = None if sc is None else {"factor": sc["factor"], "low_freq_factor": sc["lowFreqFactor"],
                                           "high_freq_factor": sc["highFreqFactor"],
                                           "original_max_position_embeddings": sc["originalMaxPositions"]}
        inv = reference._rope_frequencies(a["keyDim"], pos["theta"], scaling)
    for i in range(a["layers"]):
        q, k, v, h = pieces.pre(i, x)
        q, k, v = q[0].double(), k[0].double(), v[0].double()
        if inv is not None:
            q, k = reference._rotate(q, inv), reference._rotate(k, inv)
        att = man["memory"]["layers"]["default"]["attention"]
        o = reference._attention(q, k, v, att["window"] if att.get("sliding") else None).float().unsqueeze(0)
        x = pieces.post(i, x, o, torch.zeros_like(x))
    return pieces.head(x)[0]


@pytest.mark.parametrize("name", list(make_checkpoints.CHECKPOINTS))
def test_imported_graphs_match_the_reference(made, name):
    out, results = made
    cfg, sd, ids, expected = results[name]
    got = run_package(os.path.join(out, name), ids)
    diff = (got - expected).abs().max().item()
    assert diff <= 1e-4, f"{name}: max |package - reference| = {diff}"
    # the comparison can fail: logits vary across positions by far more than the tolerance
    assert (expected[1:] - expected[:-1]).abs().max().item() > 0.1


def test_reference_rope_is_rotate_half_and_scaled(made):
    """The reference's rotation by hand: dim 4, pair 0 (dims 0 and 2) turns by position * 1, pair 1 (dims 1, 3) by
    position * theta^(-1/2); llama3 scaling divides a long wavelength by the factor."""
    x = torch.tensor([[[1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]], dtype=torch.float64)
    r = reference._rotate(x, reference._rope_frequencies(4, 100.0, None))
    assert torch.allclose(r[0, 1], torch.tensor([np.cos(1.0), 0, np.sin(1.0), 0], dtype=torch.float64))
    f = reference._rope_frequencies(4, 1e6, {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                             "original_max_position_embeddings": 100})
    assert f[0].item() == 1.0 and abs(f[1].item() - 1e-3 / 8) < 1e-15  # 2 pi / 1e-3 = 6283 > 100: divided


def test_every_weight_is_stored_once_and_the_tied_embedding_is_shared(made):
    out, results = made
    for name in ("gpt2", "qwen2", "llama"):
        cfg, sd, _, _ = results[name]
        pkg = os.path.join(out, name)
        refs = {}
        for f in sorted(os.listdir(pkg)):
            if f.endswith(".onnx"):
                m = onnx.load(os.path.join(pkg, f), load_external_data=False)
                for t in m.graph.initializer:
                    if t.data_location == onnx.TensorProto.EXTERNAL:
                        d = {e.key: e.value for e in t.external_data}
                        refs.setdefault(t.name, set()).add((d["location"], int(d["offset"]), int(d["length"])))
        assert all(len(v) == 1 for v in refs.values()), refs
        stored = sum(next(iter(v))[2] for v in refs.values())
        params = sum(v.numel() for k, v in sd.items() if not k.endswith(".attn.bias"))
        assert stored == 4 * params, f"{name}: {stored} bytes stored for {params} parameters"
        if cfg.get("tie_word_embeddings"):
            emb = onnx.load(os.path.join(pkg, "embed.onnx"), load_external_data=False)
            head = onnx.load(os.path.join(pkg, "head.onnx"), load_external_data=False)
            assert {t.name for t in emb.graph.initializer} & {t.name for t in head.graph.initializer} == {"embedding.transposed"}


def _broken(tmp_path, name, change):
    """A copy of checkpoint ``name`` with config.json / tensors changed by ``change(cfg, sd)``."""
    cfg, opt = make_checkpoints.CHECKPOINTS[name]
    cfg = json.loads(json.dumps(cfg))
    sd = make_checkpoints.random_state_dict(cfg, 1)
    change(cfg, sd)
    hf = str(tmp_path / "hf")
    make_checkpoints.write_checkpoint(hf, cfg, sd, "F32", 1)
    return hf


@pytest.mark.parametrize("name, change, message", [
    ("llama", lambda c, s: c.update(model_type="falcon"), "'model_type' is 'falcon'; supported: gpt2, llama, mistral, qwen2"),
    ("llama", lambda c, s: c.update(hidden_act="gelu"), "'hidden_act' is 'gelu'"),
    ("llama", lambda c, s: c.update(rope_scaling={"rope_type": "yarn", "factor": 4.0}), "'rope_scaling.rope_type' is 'yarn'"),
    ("llama", lambda c, s: s.pop("model.layers.1.mlp.up_proj.weight"), "tensor 'model.layers.1.mlp.up_proj.weight' is missing"),
    ("llama", lambda c, s: s.update({"model.layers.0.extra.weight": torch.zeros(2)}), "'model.layers.0.extra.weight'"),
    ("llama", lambda c, s: s.update({"model.norm.weight": torch.zeros(3)}), "tensor 'model.norm.weight' has shape [3]; expected [64]"),
    ("qwen2", lambda c, s: c.update(use_sliding_window=True), "'use_sliding_window' is True"),
    ("gpt2", lambda c, s: c.update(scale_attn_by_inverse_layer_idx=True), "'scale_attn_by_inverse_layer_idx' is True"),
    ("gpt2", lambda c, s: c.update(n_embd="64"), "'n_embd' is '64'; valid: an integer >= 1"),
])
def test_refusals_name_the_field_and_leave_nothing(tmp_path, name, change, message):
    hf = _broken(tmp_path, name, change)
    out = tmp_path / "pkgs" / "model"
    with pytest.raises(ImportError_) as e:
        import_checkpoint(hf, str(out))
    assert message in str(e.value)
    assert not out.exists()
    assert not (tmp_path / "pkgs").exists() or os.listdir(tmp_path / "pkgs") == []


def test_an_existing_output_is_refused(made, tmp_path):
    out, _ = made
    with pytest.raises(ImportError_, match="already exists"):
        import_checkpoint(os.path.join(out, "hf", "llama"), os.path.join(out, "llama"))


def test_memory_import_closes_the_gates(made, tmp_path):
    from engram_model import safetensors_io
    out, _ = made
    for memory in ("infini", "lsh-knn", "continuous"):
        pkg = str(tmp_path / memory)
        m = import_checkpoint(os.path.join(out, "hf", "llama"), pkg, memory=memory, layers="1", segment=8)
        assert m["memory"]["layers"]["default"]["memory"] == "none"
        assert m["memory"]["layers"]["1"]["memory"]["provider"] == memory
        w = safetensors_io.read(os.path.join(pkg, "memory.safetensors"))
        assert all(k.startswith(f"layers.1.{memory}.") for k in w)
        if memory == "continuous":
            assert torch.count_nonzero(w["layers.1.continuous.out"]) == 0
        else:
            gate = w["layers.1." + memory + (".beta" if memory == "infini" else ".gate")]
            assert torch.sigmoid(gate).max().item() == 0.0  # exactly zero in float32


@pytest.mark.parametrize("name", ["gpt2", "llama", "qwen2", "mistral"])
def test_the_trainable_torch_model_equals_the_package(made, name):
    from engram_import.torch_model import ImportedModel
    out, results = made
    _, _, ids, expected = results[name]
    model = ImportedModel(os.path.join(out, name))
    with torch.no_grad():
        got = model(torch.tensor([ids]), segment=8)[0]
    assert (got - expected).abs().max().item() <= 1e-4


def test_finetune_trains_the_memory_and_exports_a_package(made, tmp_path):
    """A few steps on random tokens: the gates open and move, the dense weights stay (or move with train_all), the
    result is a package whose torch model runs, with window-0 attention as asked."""
    from engram_import.finetune import finetune
    from engram_import.torch_model import ImportedModel, read_weights
    from engram_model import safetensors_io
    out, _ = made
    src = os.path.join(out, "llama+infini")
    ids = np.random.default_rng(0).integers(0, make_checkpoints.VOCAB, size=400)
    dst = str(tmp_path / "tuned")
    finetune(src, dst, ids, window=0, segment=8, segments=4, batch=2, lr=1e-2, steps=3, log=lambda m: None)
    with open(os.path.join(dst, "engram.json")) as f:
        man = json.load(f)
    assert man["memory"]["layers"]["default"]["attention"] == {"provider": "window", "window": 0}
    assert man["training"]["finetune"]["steps"] == 3
    beta = safetensors_io.read(os.path.join(dst, "memory.safetensors"))["layers.0.infini.beta"]
    assert torch.all(beta > -10) and not torch.all(beta == -3.0), beta  # opened to -3, then trained
    before, after = read_weights(src, man), read_weights(dst, man)
    assert all(np.array_equal(before[k][0], after[k][0]) for k in before)
    model = ImportedModel(dst)
    with torch.no_grad():
        assert torch.isfinite(model(torch.tensor([ids[:20].tolist()]))).all()
    dst_all = str(tmp_path / "tuned-all")
    finetune(src, dst_all, ids, window=0, segment=8, segments=4, batch=2, lr=1e-2, steps=2, train_all=True, log=lambda m: None)
    changed = read_weights(dst_all, man)
    assert not np.array_equal(before["layers.0.q.weight"][0], changed["layers.0.q.weight"][0])
    with pytest.raises(ImportError_, match="has no memory"):
        finetune(os.path.join(out, "llama"), str(tmp_path / "x"), ids, steps=1)
    assert not (tmp_path / "x").exists()
