"""Writes a random model package for `engram bench` (tools/bench/README.md):

    cd tools && /usr/bin/python3 -m bench.make_model OUT --layers 12 --heads 12 --dim 768 --vocab 50257 --segment 256

OUT gets the package (engram.json, *.onnx, memory.safetensors) exported by engram_model.export with every layer
`window 0` and no memory (the bench replaces the memory configuration per strategy and fills the provider weights),
and OUT/model.pt ({"config": ModelConfig dict, "state": state_dict}) so the PyTorch peer (bench.peer) runs the
very same dense weights. Weights are random (EngramModel's init, seeded): the package is for speed, not quality.
"""
import argparse
import json
import os
import sys
import time

import torch

from engram_model import export
from engram_model.model import EngramModel, ModelConfig


def build(layers, heads, dim, vocab, segment, seed, mlp_ratio=4):
    if dim % heads:
        raise SystemExit(f"--dim {dim} is not a multiple of --heads {heads}")
    torch.manual_seed(seed)
    cfg = ModelConfig(vocab=vocab, layers=layers, model_dim=dim, heads=heads, kv_heads=heads,
                      key_dim=dim // heads, value_dim=dim // heads, segment=segment, positional="rope",
                      theta=10000.0, mlp_ratio=mlp_ratio,
                      attention=[{"provider": "window", "window": 0}] * layers, memory=[None] * layers)
    return EngramModel(cfg).eval()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--segment", type=int, default=128)
    ap.add_argument("--mlp-ratio", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    t0 = time.time()
    model = build(a.layers, a.heads, a.dim, a.vocab, a.segment, a.seed, a.mlp_ratio)
    export.export_package(model, a.out, f"bench-random-{a.layers}x{a.dim}",
                          training={"task": "random (engram bench)", "seed": a.seed, "steps": 0})
    torch.save({"config": model.cfg.to_dict(), "state": model.state_dict()}, os.path.join(a.out, "model.pt"))
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"package": a.out, "parameters": params, "seconds": round(time.time() - t0, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
