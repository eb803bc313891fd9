"""Quantization-aware training (engram_model/qat.py): the PyTorch model under fake_quantized computes what the
quantized package computes (engram quantize, run by onnx_eval), so training against it trains the quantized model;
gradients pass the rounding; the model is itself again after the block."""
import os

import numpy as np
import pytest
import torch

from engram_import.quantize import quantize_package
from engram_model import make_test_packages, qat
from engram_model.export import PackageRunner


@pytest.mark.parametrize("qtype", ["int8", "int4"])
@pytest.mark.parametrize("name", ["infini", "lsh-knn", "full-learned"])
def test_fake_quantized_model_equals_the_quantized_package(tmp_path, name, qtype):
    model, ids, _ = make_test_packages.write_case(name, str(tmp_path), seed=7, segments=3)
    pkg = str(tmp_path / f"{name}.{qtype}")
    quantize_package(os.path.join(str(tmp_path), name), pkg, qtype)
    want = PackageRunner(pkg).run(ids)
    with torch.no_grad(), qat.fake_quantized(model, qtype):
        got = model(ids)[0]
    float_diff = (PackageRunner(os.path.join(str(tmp_path), name)).run(ids) - want).abs().max().item()
    diff = (got - want).abs().max().item()
    # the quantization moves the logits by float_diff; the fake-quantized model must sit far closer to the package
    assert float_diff > 1e-3, f"{name} {qtype}: quantization changed nothing ({float_diff}); the test would prove nothing"
    assert diff <= 1e-4 * max(1.0, want.abs().max().item()), f"{name} {qtype}: max |model - package| = {diff}"


def test_int8_rounds_by_hand():
    # a row [1, -0.5, 0.25, 0]: scale 1/127, codes 127, -63.5 -> -64 (half to even, as ONNX Round), 31.75 -> 32, 0
    x = torch.tensor([[1.0, -0.5, 0.25, 0.0]])
    assert torch.equal(qat.fake_int8_rows(x) * 127, torch.tensor([[127.0, -64.0, 32.0, 0.0]]))
    # weights per output feature (a row of nn.Linear's [out, in]), 7-bit codes: max 63/64 -> scale 1/64; codes 63, -12,
    # 0.5 -> 0 and 1.5 -> 2 (half to even); the second feature's own scale: max 126 -> 2, 3 -> 1.5 -> 2, so 4
    w = torch.tensor([[63.0, -12.0, 0.5, 1.5], [126.0, 3.0, -2.0, 0.0]]) / torch.tensor([[64.0], [1.0]])
    want = torch.tensor([[63.0, -12.0, 0.0, 2.0], [126.0, 4.0, -2.0, 0.0]]) / torch.tensor([[64.0], [1.0]])
    assert torch.equal(qat.fake_int8_weight(w), want)


def test_int4_block_of_sixteen_levels_by_hand():
    # one block 0..15 exactly: scale 1, zero point 0 at f = 1, no error: the weights come back as they are
    w = torch.arange(16, dtype=torch.float32)[None, :]
    assert torch.equal(qat.fake_int4_weight(w, 16), w)
    # activations per row and block of 16: the second block's scale is its own
    x = torch.cat([torch.full((16,), 127.0), torch.full((16,), 0.5)])[None, :]
    assert torch.equal(qat.fake_int8_row_blocks(x, 16), x)


def test_gradients_pass_the_rounding():
    lin = torch.nn.Linear(8, 4)
    x = torch.randn(3, 8, generator=torch.Generator().manual_seed(1), requires_grad=True)
    with qat.fake_quantized(lin, "int4", block=16):
        lin(x).sum().backward()
    # straight through: the loss is sum(x' @ W'^T) with x', W' the rounded values, and each rounding passes its
    # gradient unchanged: d/dW = the rounded rows summed, d/dx = the rounded weights' columns summed
    rounded_x = qat.fake_int8_row_blocks(x.detach(), 16)
    rounded_w = qat.fake_int4_weight(lin.weight.detach(), 16)
    assert not torch.equal(rounded_x, x.detach()) and not torch.equal(rounded_w, lin.weight.detach())
    assert torch.allclose(lin.weight.grad, rounded_x.sum(0).expand(4, 8), atol=1e-6)
    assert torch.allclose(x.grad, rounded_w.sum(0).expand(3, 8), atol=1e-6)


def test_the_model_is_itself_again_after_the_block():
    model = make_test_packages.random_model("infini", seed=3)
    ids = make_test_packages.fixed_input(5, 2 * make_test_packages.SEGMENT)
    with torch.no_grad():
        before = model(ids)[0]
        with qat.fake_quantized(model, "int8"):
            inside = model(ids)[0]
        after = model(ids)[0]
    assert not torch.equal(before, inside)
    assert torch.equal(before, after)


@pytest.mark.parametrize("text", ["int3", "", "int8,fp16"])
def test_bad_qat_types_are_refused_naming_the_valid_ones(text):
    import argparse
    with pytest.raises(argparse.ArgumentTypeError, match="float32, int8, int4"):
        qat.types_arg(text)
    assert qat.types_arg("float32, int8,int4") == ["float32", "int8", "int4"]


@pytest.mark.parametrize("block,given", [(32, False), (16, True), (16, False)])
def test_quantize_eval_torch_scores_what_the_packages_compute(tmp_path, block, given):
    """quantize_eval --torch (checkpoints under fake_quantized) against the exported and quantized packages run by
    onnx_eval on the same token files: the answer's and the whole text's mean NLL agree, at int4's default block, at
    --block 16, and at 16 where the package says it was trained for it (no --block)."""
    import json
    from engram_import import quantize_eval
    from engram_model import export, sorting
    from engram_model.model import EngramModel
    from engram_model.train_sorting import strategy_config
    torch.manual_seed(5)
    model = EngramModel(strategy_config("infini")).eval()
    models = tmp_path / "models"
    export.export_package(model, str(models / "sorting-infini"), "sorting-infini", tokenizer=sorting.tokenizer_json(),
                          training=None if given or block == 32 else {"qat": ["int4"], "qatBlock": block})
    torch.save({"config": model.cfg.to_dict(), "state": model.state_dict()}, str(models / "sorting-infini.model.pt"))
    out = tmp_path / "out"
    quantize_eval.main([str(out), "--models", str(models), "--torch", "--sequences", "2"]
                       + (["--block", str(block)] if given else []))
    row = json.load(open(out / "quantize_eval.json"))[0]
    assert row["int4Block"] == block
    prompt = sorting.prompt_length(256)
    for qtype in ("float32", "int8", "int4"):
        pkg = str(models / "sorting-infini")
        if qtype != "float32":
            pkg = str(tmp_path / qtype)
            quantize_package(str(models / "sorting-infini"), pkg, qtype, block=block if qtype == "int4" else None)
        whole, answer = [], []
        for k in range(2):
            ids = torch.tensor([[int(t) for t in open(out / f"sorting-infini.{k}.ids.txt").read().split()]])
            logits = PackageRunner(pkg).run(ids)[0].double()
            nll = -torch.log_softmax(logits[:-1], -1).gather(-1, ids[0, 1:, None])[:, 0]
            whole.append(nll)
            answer.append(nll[prompt - 1:])
        assert abs(torch.cat(whole).mean().item() - row[qtype]) < 1e-4, qtype
        assert abs(torch.cat(answer).mean().item() - row[qtype + "Answer"]) < 1e-4, qtype
    assert row["int4Answer"] != row["float32Answer"]


def test_qat_block_trains_for_the_int4_package_of_that_block_and_is_recorded(tmp_path, monkeypatch, capsys):
    import json
    from engram_model import train_sorting
    common = ["--strategy", "infini", "--threads", "1", "--eval-every", "0", "--eval-mults", "1", "--eval-trials", "1",
              "--min-length", "32", "--train-length", "32", "--steps", "1", "--seed", "5", "--qat", "int4"]
    blocks = []
    fake = qat.fake_quantized

    def recording(model, qtype, block=qat.DEFAULT_BLOCK):
        blocks.append((qtype, block))
        return fake(model, qtype, block)
    monkeypatch.setattr(qat, "fake_quantized", recording)
    train_sorting.main(common + ["--out", str(tmp_path / "b16"), "--qat-block", "16"])
    assert blocks == [("int4", 16)]
    train_sorting.main(common + ["--out", str(tmp_path / "b32")])
    assert blocks[1:] == [("int4", qat.DEFAULT_BLOCK)]
    manifests = {b: json.load(open(tmp_path / b / "engram.json"))["training"] for b in ("b16", "b32")}
    assert manifests["b16"]["qatBlock"] == 16 and "qatBlock" not in manifests["b32"]
    weights = {b: torch.load(tmp_path / f"{b}.model.pt")["state"] for b in ("b16", "b32")}
    assert any(not torch.equal(weights["b16"][k], weights["b32"][k]) for k in weights["b16"]), \
        "the step's rounding, so its gradient, depends on the block"
    for bad in ("24", "8", "x"):
        with pytest.raises(SystemExit):
            train_sorting.main(common + ["--out", str(tmp_path / "never"), "--qat-block", bad])
        assert f"argument --qat-block: '{bad}'; valid: a power of two >= 16" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()
