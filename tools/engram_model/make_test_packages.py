"""Writes small random model packages, one per strategy, plus the logits the PyTorch model gives for a fixed
input, so the Java runtime can run a parity test:

    cd tools && python3 -m engram_model.make_test_packages OUT_DIR [--seed 7]

For each NAME in CASES: OUT_DIR/NAME/ (a package: engram.json, *.onnx, memory.safetensors) and
OUT_DIR/NAME.expected.json:
    {"format": "engram-parity/1", "package": NAME, "segmentLength": S, "inputIds": [[...]] (batch 1),
     "logits": {"shape": [1, T, V], "data": [...]} (float32 values, row-major), "segments": [[start, end], ...],
     "tolerance": {"abs": 1e-4, "rel": 1e-3}}
The input is 3 segments long (plus a shorter 4th one when --ragged). Weights are random at O(1) scale
(not the tiny init of training) so every path (memory gates, readouts, positional encodings) moves the logits.
"""
import argparse
import json
import math
import os

import torch
import torch.nn as nn

from . import export
from .model import EngramModel, ModelConfig

WIN = lambda w, pos="rope": {"provider": "window", "window": w, "positional": pos, "ropeTheta": 10000.0}
FULL = lambda pos="rope": {"provider": "full", "positional": pos, "ropeTheta": 10000.0}
LSH = {"provider": "lsh", "rounds": 2, "buckets": 4, "chunk": 4, "causal": True}
INFINI = lambda upd="delta": {"provider": "infini", "update": upd}
KNN = {"provider": "lsh-knn", "capacity": 20, "rounds": 2, "buckets": 4, "k": 4}
KNN_EXACT = {"provider": "lsh-knn", "capacity": 64, "k": 3, "exact": True}
CONT = {"provider": "continuous", "basis": 16, "widths": [0.05, 0.1], "lambda": 0.5, "tau": 0.5, "samples": 16}
CONT_GATED = dict(CONT, inputGate="conv", resetEvery=12)
CONT_STICKY = dict(CONT, sticky=True, bins=8, seed=5)

# name -> (kvHeads, positional, [attention per layer], [memory per layer])
CASES = {
    "window-rope": (2, "rope", [WIN(4), WIN(4)], [None, None]),
    "full-alibi": (2, "alibi", [FULL("alibi"), FULL("alibi")], [None, None]),
    "window-none": (4, "none", [WIN(0, "none"), WIN(7, "none")], [None, None]),
    "lsh": (4, "rope", [LSH, LSH], [None, None]),
    "infini": (2, "rope", [WIN(0), WIN(0)], [INFINI("delta"), INFINI("delta")]),
    "infini-linear": (2, "alibi", [FULL("alibi"), WIN(3, "alibi")], [INFINI("linear"), None]),
    "continuous": (2, "rope", [WIN(0), WIN(0)], [CONT, CONT]),
    "continuous-gated": (2, "rope", [WIN(2), WIN(2)], [CONT_GATED, None]),
    "continuous-sticky": (2, "rope", [WIN(0), WIN(2)], [CONT_STICKY, dict(CONT_STICKY, seed=-3)]),
    "lsh-knn": (2, "rope", [WIN(0), WIN(0)], [KNN, KNN]),
    "lsh-knn-exact": (2, "rope", [WIN(0), WIN(0)], [KNN_EXACT, KNN_EXACT]),
    "mixed": (4, "rope", [WIN(3), LSH], [CONT, KNN]),
    # learned absolute positions in the embed graph (the duplication models): attention without its own encoding
    "full-learned": (2, "learned", [FULL("none"), FULL("none")], [None, None]),
    "lsh-learned": (4, "learned", [LSH, WIN(4, "none")], [None, None]),
}
LEARNED_POSITIONS = 256  # the learned table's size there: the parity input and ParityPackagesTest's `engram run` (105 tokens) fit
SEGMENT = 6


def random_model(name, seed=0, segment=SEGMENT):
    """A tiny model (e=16, H=4, dk=dv=4, 2 layers, vocab 32) with O(1) random weights."""
    kv, pos, att, mem = CASES[name]
    torch.manual_seed(seed)
    cfg = ModelConfig(vocab=32, layers=2, model_dim=16, heads=4, kv_heads=kv, key_dim=4, value_dim=4,
                      segment=segment, positional=pos, theta=10000.0, mlp_ratio=2, attention=att, memory=mem,
                      max_positions=LEARNED_POSITIONS if pos == "learned" else 0)
    model = EngramModel(cfg)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.Linear):
                mod.weight.normal_(0, 1 / math.sqrt(mod.in_features))
                if mod.bias is not None:
                    mod.bias.normal_(0, 0.1)
            elif isinstance(mod, nn.LayerNorm):
                mod.weight.normal_(1, 0.1)
                mod.bias.normal_(0, 0.1)
            elif isinstance(mod, nn.Embedding):
                mod.weight.normal_(0, 1)
        for layer in model.layers:
            m = layer.memory
            if m is None:
                continue
            for pname, p in m.named_parameters():
                if pname in ("beta", "gate"):
                    p.normal_(0, 1)
                elif pname in ("mu_weight", "sigma_weight"):
                    p.normal_(0, 0.3)
                elif pname in ("mu_bias", "sigma_bias"):
                    p.normal_(0, 0.5)
                elif pname == "gate_weight":
                    p.normal_(0, 1 / math.sqrt(3 * m.e))
                elif pname == "gate_bias":
                    p.normal_(0, 0.1)
                else:  # proj_key, proj_value, out
                    p.normal_(0, 1 / math.sqrt(p.shape[1]))
    return model.eval()


def fixed_input(seed, length, vocab=32, batch=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (batch, length), generator=g)


def write_case(name, out_dir, seed=7, segments=3, ragged=False):
    model = random_model(name, seed)
    length = segments * SEGMENT + (SEGMENT // 2 if ragged else 0)
    ids = fixed_input(seed + 1, length)
    with torch.no_grad():
        logits, _ = model(ids)
    pkg = os.path.join(out_dir, name)
    export.export_package(model, pkg, f"parity-{name}", training={"task": "random", "seed": seed, "steps": 0})
    spans = [[s, min(s + SEGMENT, length)] for s in range(0, length, SEGMENT)]
    doc = {"format": "engram-parity/1", "package": name, "segmentLength": SEGMENT,
           "inputIds": ids.tolist(), "segments": spans,
           "logits": {"shape": list(logits.shape), "data": [float(x) for x in logits.reshape(-1).tolist()]},
           "tolerance": {"abs": 1e-4, "rel": 1e-3}}
    with open(os.path.join(out_dir, f"{name}.expected.json"), "w") as f:
        json.dump(doc, f)
    return model, ids, logits


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--ragged", action="store_true", help="append a half-length 4th segment")
    ap.add_argument("--only", nargs="*", default=None, help="case names (default: all)")
    args = ap.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    for name in args.only or CASES:
        write_case(name, args.out_dir, args.seed, ragged=args.ragged)
        print(f"wrote {os.path.join(args.out_dir, name)}")


if __name__ == "__main__":
    main()
