"""tools/bench on a tiny shape: make_model writes a package plus model.pt and prints its JSON line; the peer
measures both (a) full-KV and (b) the same scheme, says which BLAS torch uses, and records a strategy whose
provider weights are missing as skipped instead of failing. Speeds are not asserted.
Run: cd tools && python3 -m pytest -q tests/test_bench.py"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bench import make_model, peer  # noqa: E402

SEGMENT = 8
LENGTHS = [16, 24]


def test_make_model_then_peer(tmp_path, capsys):
    pkg = tmp_path / "pkg"
    assert make_model.main([str(pkg), "--layers", "1", "--heads", "2", "--dim", "16", "--vocab", "32",
                            "--segment", str(SEGMENT), "--mlp-ratio", "2", "--seed", "3"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(line) == {"package", "parameters", "seconds"} and line["parameters"] > 0
    for f in ("engram.json", "model.pt", "embed.onnx", "head.onnx", "layer_0_pre.onnx", "layer_0_post.onnx"):
        assert (pkg / f).exists(), f
    man = json.loads((pkg / "engram.json").read_text())
    assert man["segmentLength"] == SEGMENT and man["architecture"]["layers"] == 1

    strategies = tmp_path / "strategies.json"
    strategies.write_text(json.dumps({
        "window": {"attention": {"provider": "window", "window": SEGMENT}, "memory": "none"},
        "full": {"attention": {"provider": "full"}, "memory": "none"},
        # infini needs layers.0.infini.beta, which only engram bench's WeightFiller adds: skipped, named
        "infini": {"attention": {"provider": "window", "window": 0}, "memory": {"provider": "infini", "update": "delta"}},
    }))
    out = tmp_path / "peer.json"
    # the checkpoint moved out of the package (as train.py writes it, beside): --checkpoint finds it
    ckpt = tmp_path / "pkg.model.pt"
    os.replace(pkg / "model.pt", ckpt)
    assert peer.main(["--package", str(pkg), "--checkpoint", str(ckpt), "--lengths", ",".join(map(str, LENGTHS)),
                      "--threads", "1", "--strategies", str(strategies), "--json-out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "BLAS" in err and "threads 1" in err, err
    r = json.loads(out.read_text())
    assert {"torch", "threads", "blas", "ompWaitPolicy", "fullKv", "schemes", "skipped"} <= set(r)
    assert r["threads"] == 1
    assert {"config", "mapped", "mkldnn"} <= set(r["blas"])
    assert isinstance(r["blas"]["mapped"], list)
    for series in (r["fullKv"], r["schemes"]["window"], r["schemes"]["full"]):
        assert sorted(series) == sorted(str(n) for n in LENGTHS)
        assert all(v > 0 for v in series.values())
    assert "infini" not in r["schemes"]
    assert "layers.0.infini.beta" in r["skipped"]["infini"]["all"]


def test_full_kv_has_its_own_budget(tmp_path):
    pkg = tmp_path / "pkg"
    make_model.main([str(pkg), "--layers", "1", "--heads", "2", "--dim", "16", "--vocab", "32",
                     "--segment", str(SEGMENT), "--mlp-ratio", "2"])
    strategies = tmp_path / "strategies.json"
    strategies.write_text(json.dumps({"window": {"attention": {"provider": "window", "window": SEGMENT}, "memory": "none"}}))
    out = tmp_path / "peer.json"
    # a tiny full-KV budget skips its second length (estimated from the first); --budget-s 0 never skips
    peer.main(["--package", str(pkg), "--lengths", ",".join(map(str, LENGTHS)), "--threads", "1",
               "--strategies", str(strategies), "--json-out", str(out), "--budget-s", "0", "--full-kv-budget-s", "1e-9"])
    r = json.loads(out.read_text())
    assert sorted(r["fullKv"]) == [str(LENGTHS[0])]
    assert "budget" in r["skipped"]["fullKv"][str(LENGTHS[1])]
    assert sorted(r["schemes"]["window"]) == sorted(str(n) for n in LENGTHS)


def test_full_kv_ignores_the_checkpoints_own_memory(tmp_path):
    # a trained package's checkpoint names its memory (here infini); the bench may have replaced that memory's
    # provider weights (or, here, never had them): (a) still runs, on the dense blocks alone
    pkg = tmp_path / "pkg"
    make_model.main([str(pkg), "--layers", "1", "--heads", "2", "--dim", "16", "--vocab", "32",
                     "--segment", str(SEGMENT), "--mlp-ratio", "2"])
    blob = torch.load(pkg / "model.pt")
    blob["config"]["memory"] = [{"provider": "infini", "update": "delta"}]
    torch.save(blob, pkg / "model.pt")
    strategies = tmp_path / "strategies.json"
    strategies.write_text("{}")
    out = tmp_path / "peer.json"
    assert peer.main(["--package", str(pkg), "--lengths", str(LENGTHS[0]), "--threads", "1",
                      "--strategies", str(strategies), "--json-out", str(out)]) == 0
    assert list(json.loads(out.read_text())["fullKv"]) == [str(LENGTHS[0])]
