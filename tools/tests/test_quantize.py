"""engram_import.quantize: int8 and int4 packages.

(a) A quantized package, run through its own graphs (onnx_eval: MatMulInteger and MatMulNBits as their specs say),
    equals the float package run with every weight product replaced by this file's own statement of the scheme
    (fake_int8 / fake_int4: dequantized weights times the activations, the per-row activation quantization emulated),
    to float rounding: that checks the packing (nibble order, block layout, scales, zero points) and the rewrite.
(b) The quantized package stays close to the float one (stated tolerances, measured on trained and random weights).
Also: a hand-packed MatMulNBits and a MatMulInteger with a zero point, worked by hand; what is replaced and what is
kept; packages with external data (engram_import) stay one weights.bin; refusals name the field and leave nothing."""
import json
import os
import shutil

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from engram_import import make_checkpoints
from engram_import.checkpoint import ImportError_
from engram_import.quantize import DEFAULT_BLOCK, quantize_package
from engram_model import make_test_packages, onnx_eval, passkey
from engram_model.export import PackageRunner
from test_import import run_package

MODELS = os.path.join(os.path.dirname(__file__), "..", "..", "models")


# ---- the scheme, restated (independent of quantize.py's code) ----

def fake_int8(x, w):
    """x [.., K] @ W [K, N] as the int8 package computes it: W per column to 7-bit codes (+-63), x per row to +-127."""
    w = w.to(torch.float32)
    ws = w.abs().amax(dim=0) / 63
    ws = torch.where(ws == 0, torch.ones_like(ws), ws)
    wq = torch.clamp(torch.round(w / ws), -63, 63)
    s = torch.clamp(x.abs().amax(dim=-1, keepdim=True), min=1e-30) / 127
    xq = torch.round(x / s)
    acc = torch.matmul(xq.double(), wq.double()).float()  # integer sums, exact in float64
    return acc * (s * ws)


def fake_int4(x, w, block, int8_activations=False):
    """x @ W' where W' is W rounded per column and block of K rows to 16 levels spanning f [min(w, 0), max(w, 0)], the
    f of 1, 0.95, ..., 0.5 with the least squared error (the first of equals)."""
    K, N = w.shape
    nb = -(-K // block)
    padded = torch.zeros(nb * block, N)
    padded[:K] = w
    b = padded.reshape(nb, block, N)
    lo = torch.clamp(b.amin(dim=1, keepdim=True), max=0)
    hi = torch.clamp(b.amax(dim=1, keepdim=True), min=0)
    best_err, best = None, None
    for i in range(11):
        f = torch.tensor(1.0 - 0.05 * i, dtype=torch.float64).float()
        scale = (hi - lo) * f / 15
        scale = torch.where(scale == 0, torch.ones_like(scale), scale)
        zp = torch.clamp(torch.round(-lo * f / scale), 0, 15)
        q = torch.clamp(torch.round(b / scale) + zp, 0, 15)
        deq = (q - zp) * scale
        err = ((deq - b) ** 2).sum(dim=1, keepdim=True)
        if best is None:
            best_err, best = err, deq
        else:
            better = err < best_err
            best_err, best = torch.where(better, err, best_err), torch.where(better, deq, best)
    if not int8_activations:
        return torch.matmul(x, best.reshape(nb * block, N)[:K])
    # accuracy_level 4: x per row and block to int8 codes (max|x| / 127); each block's products summed, then scaled
    xp = torch.zeros(x.shape[:-1] + (nb * block,))
    xp[..., :K] = x
    xb = xp.reshape(x.shape[:-1] + (nb, block))
    xs = xb.abs().amax(dim=-1, keepdim=True) / 127
    xq = torch.round(xb * torch.where(xs == 0, torch.zeros_like(xs), 1 / xs))
    per_block = torch.einsum("...bj,bjn->...bn", (xq * xs).double(), best.double())
    return per_block.sum(dim=-2).float()


@pytest.fixture
def emulated(monkeypatch):
    """Runs float packages with each weight product (a MatMul by a 2-D matrix: the dense blocks have no other)
    replaced by ``fake``; returns a setter."""
    original = onnx_eval.OnnxGraph._run
    state = {"fake": None}

    def run(op, a, attrs):
        if state["fake"] is not None and op == "MatMul" and a[1].dim() == 2:
            return [state["fake"](a[0], a[1])]
        return original(op, a, attrs)

    monkeypatch.setattr(onnx_eval.OnnxGraph, "_run", staticmethod(run))
    return lambda fake: state.__setitem__("fake", fake)


def quantized(src, out, qtype, **kw):
    quantize_package(src, out, qtype, **kw)
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Random torch-exported packages (O(1) weights, e = 16, MLP 32): one per memory kind."""
    out = str(tmp_path_factory.mktemp("tiny"))
    for name in ("infini", "lsh-knn", "full-learned"):
        make_test_packages.write_case(name, out, seed=7, segments=3)
    return out


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """Imported checkpoints (graphs.py: weights.bin external data): gpt2 (learned positions, biases) and llama-tied
    (the head multiplies by the embedding the embed graph gathers from)."""
    out = str(tmp_path_factory.mktemp("imported"))
    return out, make_checkpoints.make(out, names=["gpt2", "llama-tied"])


def tiny_ids():
    return make_test_packages.fixed_input(8, 3 * make_test_packages.SEGMENT)


@pytest.mark.parametrize("qtype,block,level", [("int8", None, None), ("int4", 16, 0), ("int4", 32, 0), ("int4", 16, 4),
                                              ("int4", 32, None)])
@pytest.mark.parametrize("name", ["infini", "lsh-knn", "full-learned"])
def test_quantized_package_equals_the_scheme_applied_to_the_float_weights(tiny, tmp_path, emulated, name, qtype, block,
                                                                          level):
    src = os.path.join(tiny, name)
    pkg = quantized(src, str(tmp_path / "q"), qtype, block=block, accuracy_level=level)
    ids = tiny_ids()
    got = PackageRunner(pkg).run(ids)
    emulated(fake_int8 if qtype == "int8" else (lambda x, w: fake_int4(x, w, block, int8_activations=level != 0)))
    want = PackageRunner(src).run(ids)
    diff = (got - want).abs().max().item()
    assert diff <= 1e-4 * max(1.0, want.abs().max().item()), f"{name} {qtype}: max |package - scheme| = {diff}"


@pytest.mark.parametrize("qtype", ["int8", "int4"])
@pytest.mark.parametrize("name", ["gpt2", "llama-tied"])
def test_imported_quantized_package_equals_the_scheme(imported, tmp_path, emulated, name, qtype):
    out, results = imported
    src = os.path.join(out, name)
    pkg = quantized(src, str(tmp_path / "q"), qtype)
    ids = results[name][2]
    got = run_package(pkg, ids)
    emulated(fake_int8 if qtype == "int8" else (lambda x, w: fake_int4(x, w, 32, int8_activations=True)))
    want = run_package(src, ids)
    diff = (got - want).abs().max().item()
    assert diff <= 1e-4 * max(1.0, want.abs().max().item()), f"{name} {qtype}: max |package - scheme| = {diff}"


def test_external_data_stays_one_weights_file_and_the_embedding_stays_float(imported, tmp_path):
    out, _ = imported
    src = os.path.join(out, "llama-tied")
    pkg = quantized(src, str(tmp_path / "q"), "int8")
    assert sorted(f for f in os.listdir(pkg) if not f.endswith(".onnx")) == sorted(
        f for f in os.listdir(src) if not f.endswith(".onnx"))  # weights.bin, tokenizer files, engram.json
    refs = {}
    for f in sorted(os.listdir(pkg)):
        if f.endswith(".onnx"):
            m = onnx.load(os.path.join(pkg, f), load_external_data=False)
            for t in m.graph.initializer:
                if t.data_location == TensorProto.EXTERNAL:
                    d = {e.key: e.value for e in t.external_data}
                    assert d["location"] == "weights.bin", f"{f}: {t.name} in {d['location']}"
                    refs.setdefault((d["offset"], d["length"]), set()).add(t.name)
            if f == "embed.onnx":
                gather = [n for n in m.graph.node if n.op_type == "Gather"][0]
                table = [t for t in m.graph.initializer if t.name == gather.input[0]][0]
                assert table.data_type == TensorProto.FLOAT
    # every stored tensor is referenced under one name, and the file holds nothing else (page-aligned gaps aside)
    assert all(len(names) == 1 for names in refs.values())
    stored = sum(int(length) for _, length in refs)
    assert os.path.getsize(os.path.join(pkg, "weights.bin")) - stored < 4096 * len(refs)
    man = json.load(open(os.path.join(pkg, "engram.json")))
    q = man["quantization"]
    assert q["type"] == "int8" and q["matmuls"] == 1 + 2 * 7 and q["floatMatmulsKept"] == 0
    # int8: a byte per weight and a float scale per column
    shapes = {}
    for f in os.listdir(src):
        if f.endswith(".onnx"):
            m = onnx.load(os.path.join(src, f), load_external_data=False)
            dims = {t.name: list(t.dims) for t in m.graph.initializer}
            shapes.update({n.input[1]: dims[n.input[1]] for n in m.graph.node if n.op_type == "MatMul" and n.input[1] in dims})
    assert len(shapes) == q["matmuls"]
    assert q["weightBytes"]["float32"] == sum(4 * k * n for k, n in shapes.values())
    assert q["weightBytes"]["quantized"] == sum(k * n + 4 * n for k, n in shapes.values())


@pytest.mark.parametrize("qtype", ["int8", "int4"])
def test_no_float_weight_product_is_left(tiny, tmp_path, qtype):
    pkg = quantized(os.path.join(tiny, "infini"), str(tmp_path / "q"), qtype)
    for f in os.listdir(pkg):
        if f.endswith(".onnx"):
            m = onnx.load(os.path.join(pkg, f))
            onnx.checker.check_model(m)
            inits = {t.name for t in m.graph.initializer}
            left = [n.name or n.output[0] for n in m.graph.node if n.op_type in ("MatMul", "Gemm") and n.input[1] in inits]
            assert not left, f"{f}: float weight products left: {left}"
            assert [i.name for i in m.graph.input] == [i.name for i in onnx.load(os.path.join(tiny, "infini", f)).graph.input]


def test_matmulnbits_unpacks_a_hand_packed_block():
    """K = 16, N = 1, one block: codes 0..15 (byte j holds codes 2j and 2j + 1, the first in the low nibble), zero point
    8, scale 0.5: w_k = (k - 8) / 2; x = 1 everywhere gives sum_k (k - 8) / 2 = (120 - 128) / 2 = -4; x = e_15 gives
    w_15 = 3.5; with the zero point byte 0x03 (zero point 3, the high nibble unused), e_0 gives (0 - 3) / 2 = -1.5."""
    b = np.array([[[0x10, 0x32, 0x54, 0x76, 0x98, 0xBA, 0xDC, 0xFE]]], dtype=np.uint8)
    scales = np.array([[0.5]], dtype=np.float32)
    x = np.stack([np.ones(16, np.float32), np.eye(16, dtype=np.float32)[15], np.eye(16, dtype=np.float32)[0]])

    def run(zero_points):
        inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 16])]
        inits = [numpy_helper.from_array(b, "b"), numpy_helper.from_array(scales, "s")]
        names = ["x", "b", "s"]
        if zero_points is not None:
            inits.append(numpy_helper.from_array(np.array([[zero_points]], np.uint8), "z"))
            names.append("z")
        node = helper.make_node("MatMulNBits", names, ["y"], domain="com.microsoft", K=16, N=1, bits=4, block_size=16)
        g = helper.make_graph([node], "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 1])], inits)
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"nbits-{os.getpid()}.onnx")
        onnx.save(helper.make_model(g), path)
        try:
            return onnx_eval.OnnxGraph(path)(x=torch.from_numpy(x))[0].reshape(-1).tolist()
        finally:
            os.remove(path)

    assert run(None) == [-4.0, 3.5, -4.0]      # default zero point 2^(4-1) = 8
    assert run(0x03) == [(120 - 48) / 2, 6.0, -1.5]


def test_matmulinteger_subtracts_the_zero_point():
    """(a - 128) @ b: a = [130, 126] (the codes +2 and -2), b = [[3], [-5]]: 2 * 3 + (-2) * (-5) = 16."""
    a = torch.tensor([[130, 126]], dtype=torch.uint8)
    b = torch.tensor([[3], [-5]], dtype=torch.int8)
    out = onnx_eval.OnnxGraph._run("MatMulInteger", [a, b, torch.tensor(128, dtype=torch.uint8)], {})[0]
    assert out.dtype == torch.int32 and out.tolist() == [[16]]


def _passkey_nll(pkg, length=200, trials=4):
    """Mean NLL of the answer digits over a few passkey sequences (the model's own task)."""
    rng = np.random.default_rng(3)
    runner = PackageRunner(pkg)
    total, n = 0.0, 0
    for _ in range(trials):
        ids, key, _ = passkey.sample(rng, length)
        logits = runner.run(torch.tensor([ids]))[0]
        logp = torch.log_softmax(logits.double(), dim=-1)
        for j in range(len(key)):
            t = length - len(key) + j
            total -= logp[t - 1, ids[t]].item()
            n += 1
    return total / n, logits


@pytest.mark.skipif(not os.path.isdir(os.path.join(MODELS, "passkey-infini")), reason="models/passkey-infini not present")
def test_quantized_trained_model_stays_close_to_float(tmp_path):
    """On the trained passkey-infini model (real weights, 64 dims): on the rows that predict the answer digits (what
    the model was trained for; the row after the last digit predicts nothing it learnt) the logits of the last sequence
    stay within 2% (int8) and 12% (int4) of the float logits' range, and the answer digits' NLL within 0.02 nats (int8)
    and 0.25 (int4, int8 activations), absolute, since the float model's is near 0. A broken quantizer moves logits by
    tens of percent. Seen, stage 29 (2026-12-07; confident digits, logits spanning 34): max |dlogit| 0.59 (int8) and
    3.6 (int4), answer NLL 0.0003 (int8) and 0.0007 (int4) against 0.0003; stage 25: 0.42 and 1.65 over all rows."""
    src = os.path.join(MODELS, "passkey-infini")
    nll_f, logits_f = _passkey_nll(src)
    span = (logits_f.max() - logits_f.min()).item()
    digit_rows = slice(-6, -1)  # rows length-6 .. length-2 predict the five answer digits
    for qtype, rel, nll_tol in (("int8", 0.02, 0.02), ("int4", 0.12, 0.25)):
        nll_q, logits_q = _passkey_nll(quantized(src, str(tmp_path / qtype), qtype))
        diff = (logits_q[digit_rows] - logits_f[digit_rows]).abs().max().item()
        print(f"passkey-infini {qtype}: max |dlogit| {diff:.4f} of range {span:.2f}; answer NLL {nll_q:.4f} vs {nll_f:.4f}")
        assert diff <= rel * span, f"{qtype}: max |quantized - float| logit {diff} > {rel} x {span}"
        assert abs(nll_q - nll_f) <= nll_tol, f"{qtype}: answer NLL {nll_q} vs float {nll_f}"


# ---- refusals ----

def _nothing_left(parent, before):
    assert sorted(os.listdir(parent)) == before, "a refused run left files behind"


@pytest.mark.parametrize("kwargs,message", [
    ({"qtype": "int3"}, "--type is 'int3'; valid: int8, int4"),
    ({"qtype": "int4", "block": 24}, "--block is 24; valid: a power of two >= 16"),
    ({"qtype": "int4", "block": 8}, "--block is 8; valid: a power of two >= 16"),
    ({"qtype": "int4", "block": 0}, "--block is 0; valid"),
    ({"qtype": "int8", "block": 32}, "--block is for --type int4"),
    ({"qtype": "int4", "accuracy_level": 2}, "--accuracy-level is 2; valid: 4"),
    ({"qtype": "int8", "accuracy_level": 4}, "--accuracy-level is for --type int4"),
])
def test_bad_options_are_refused_naming_the_field(tiny, tmp_path, kwargs, message):
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(ImportError_, match=message.replace("(", r"\(").replace("+", r"\+")):
        quantize_package(os.path.join(tiny, "infini"), str(tmp_path / "q"), **kwargs)
    _nothing_left(tmp_path, before)


def test_bad_packages_are_refused_naming_the_file(tiny, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(os.path.join(tiny, "infini"), src)
    (tmp_path / "exists").mkdir()
    with pytest.raises(ImportError_, match="already exists"):
        quantize_package(str(src), str(tmp_path / "exists"), "int8")
    with pytest.raises(ImportError_, match="no engram.json there"):
        quantize_package(str(tmp_path / "exists"), str(tmp_path / "q"), "int8")
    os.remove(src / "layer_1_post.onnx")
    with pytest.raises(ImportError_, match=r"layer_1_post.onnx \(engram.json 'files.layers\[1\].post'\) is missing"):
        quantize_package(str(src), str(tmp_path / "q"), "int8")
    q = quantized(os.path.join(tiny, "infini"), str(tmp_path / "q8"), "int8")
    with pytest.raises(ImportError_, match="is already quantized"):
        quantize_package(q, str(tmp_path / "q88"), "int8")
    assert sorted(os.listdir(tmp_path)) == ["exists", "q8", "src"]


def test_import_quantize_writes_a_quantized_package(imported, tmp_path):
    from engram_import.importer import main
    out, _ = imported
    assert main(["--hf", os.path.join(out, "hf", "gpt2"), "--out", str(tmp_path / "g"), "--quantize", "int4",
                 "--segment", "8"]) == 0
    man = json.load(open(tmp_path / "g" / "engram.json"))
    assert man["quantization"]["type"] == "int4" and man["name"] == "g" and man["segmentLength"] == 8
    assert sorted(os.listdir(tmp_path)) == ["g"]  # the float package it went through is gone
    assert main(["--hf", os.path.join(out, "hf", "gpt2"), "--out", str(tmp_path / "h"), "--quantize", "int2"]) == 2
    assert sorted(os.listdir(tmp_path)) == ["g"]
    # with calibration ids (GPTQ, tests/test_gptq.py): recorded under the name the ids came from; refused without --quantize
    ids = tmp_path / "ids.txt"
    ids.write_text(" ".join(str(i % 50) for i in range(40)))
    assert main(["--hf", os.path.join(out, "hf", "gpt2"), "--out", str(tmp_path / "c"), "--quantize", "int4", "--segment",
                 "8", "--calibration-ids", str(ids), "--calibration-source", "my-text.txt"]) == 0
    c = json.load(open(tmp_path / "c" / "engram.json"))["quantization"]["calibration"]
    assert c["source"] == "my-text.txt" and c["tokens"] == 40 and c["sequenceTokens"] == 32
    assert main(["--hf", os.path.join(out, "hf", "gpt2"), "--out", str(tmp_path / "d"), "--calibration-ids", str(ids)]) == 2
    assert sorted(os.listdir(tmp_path)) == ["c", "g", "ids.txt"]


@pytest.mark.parametrize("qtype", ["int8", "int4"])
def test_a_gemm_with_transposed_weight_and_bias_is_replaced(tmp_path, qtype):
    """Gemm(x, W^T, c) (torch's Linear on 2-D input, transB = 1): becomes the quantized product of x and W plus c."""
    from engram_import.quantize import _rewrite
    g = torch.Generator().manual_seed(4)
    w_t = torch.randn(24, 40, generator=g)           # [N, K], as transB stores it
    c = torch.randn(24, generator=g)
    x = torch.randn(3, 40, generator=g)
    node = helper.make_node("Gemm", ["x", "w", "c"], ["y"], transB=1)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 40])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 24])],
                              [numpy_helper.from_array(w_t.numpy(), "w"), numpy_helper.from_array(c.numpy(), "c")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    r = _rewrite(model, qtype, 16 if qtype == "int4" else None, 0 if qtype == "int4" else None)
    assert r.replaced == 1 and "Gemm" not in [n.op_type for n in model.graph.node]
    assert "w" not in [t.name for t in model.graph.initializer]  # the float weight is gone
    path = str(tmp_path / "g.onnx")
    onnx.save(model, path)
    got = onnx_eval.OnnxGraph(path)(x=x)[0]
    want = (fake_int8(x, w_t.T) if qtype == "int8" else fake_int4(x, w_t.T, 16)) + c
    assert (got - want).abs().max().item() <= 1e-5


def with_training(tiny, tmp_path, training):
    """A copy of the tiny infini package whose manifest's 'training' is ``training``."""
    src = tmp_path / "src"
    shutil.copytree(os.path.join(tiny, "infini"), src)
    with open(src / "engram.json") as f:
        manifest = json.load(f)
    manifest["training"] = training
    with open(src / "engram.json", "w") as f:
        json.dump(manifest, f)
    return str(src)


def test_int4_takes_the_block_the_package_was_trained_for_unless_block_is_given(tiny, tmp_path, emulated):
    src = with_training(tiny, tmp_path, {"qat": ["int4"], "qatBlock": 16})
    ids = tiny_ids()
    said = []
    trained = quantized(src, str(tmp_path / "trained"), "int4", log=said.append)
    assert "int4 blocks of 16 rows: the block the package was trained for (engram.json training, qatBlock)" in said
    given = quantized(src, str(tmp_path / "given"), "int4", block=32)
    blocks = [json.load(open(os.path.join(p, "engram.json")))["quantization"]["block"] for p in (trained, given)]
    assert blocks == [16, 32]
    got = PackageRunner(trained).run(ids)
    emulated(lambda x, w: fake_int4(x, w, 16, int8_activations=True))
    want = PackageRunner(src).run(ids)
    assert (got - want).abs().max().item() <= 1e-4 * max(1.0, want.abs().max().item())
    untrained = quantized(os.path.join(tiny, "infini"), str(tmp_path / "untrained"), "int4")
    assert json.load(open(os.path.join(untrained, "engram.json")))["quantization"]["block"] == DEFAULT_BLOCK == 32


@pytest.mark.parametrize("stages,block", [
    ([{"qat": ["int4"], "qatBlock": 16}, {"qat": ["float32", "int8"]}, {}], 16),  # later stages trained no int4
    ([{"qat": ["int4"], "qatBlock": 16}, {"qat": ["int4", "int8"]}], DEFAULT_BLOCK),  # the newest int4 stage: 32
    ([{"qat": ["int8"]}], DEFAULT_BLOCK),
])
def test_the_trained_block_is_the_newest_stage_that_trained_int4(tiny, tmp_path, stages, block):
    src = with_training(tiny, tmp_path, dict(stages[-1], stages=stages))  # the top level repeats the last stage
    q = quantized(src, str(tmp_path / "q"), "int4")
    assert json.load(open(os.path.join(q, "engram.json")))["quantization"]["block"] == block


def test_a_bad_trained_block_is_refused_naming_the_field(tiny, tmp_path):
    src = with_training(tiny, tmp_path, {"qatBlock": 24})
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(ImportError_, match=r"engram.json 'training.qatBlock' is 24; valid: a power of two >= 16"):
        quantize_package(src, str(tmp_path / "q"), "int4")
    _nothing_left(tmp_path, before)
    quantized(src, str(tmp_path / "q8"), "int8")  # int8 has no block: the field is not read
    src2 = with_training(tiny, tmp_path / "staged", {"stages": [{"qatBlock": "16"}, {"qat": ["float32"]}]})
    with pytest.raises(ImportError_, match=r"engram.json 'training.stages\[0\].qatBlock' is \"16\"; valid: a power"):
        quantize_package(src2, str(tmp_path / "q2"), "int4")
