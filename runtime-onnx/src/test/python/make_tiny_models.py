"""Writes the tiny engram-model/1 packages the runtime-onnx tests run.

Run from the module directory:  /usr/bin/python3 src/test/python/make_tiny_models.py
Output (a few KB, committed): src/test/resources/models/
  tiny/                     a valid package (2 layers, H=2, G=1, dk=dv=4, e=8, V=16, segment 4)
  tiny-dense.safetensors    every dense weight of tiny/ by name, for the plain-Java reference forward pass
  tiny-bad/                 single graphs with one defect each, swapped into copies of tiny/ by the tests
The dense blocks follow the package format: pre = LayerNorm + q/k/v projections, post = output
projection + residual + addend, then a LayerNorm-GELU MLP with residual, head = LayerNorm + unembedding.
"""
import json
import os
import struct
import sys

import torch

torch.manual_seed(7)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "resources", "models")
L, H, G, DK, DV, E, V, F, SEG = 2, 2, 1, 4, 4, 8, 16, 16, 4
EPS = 1e-5


def rnd(*shape, scale=0.5):
    return (torch.randn(*shape) * scale).float()


dense = {"embed.weight": rnd(V, E, scale=1.0), "final_norm.weight": 1 + rnd(E, scale=0.1),
         "final_norm.bias": rnd(E, scale=0.1), "unembed.weight": rnd(V, E)}
for i in range(L):
    p = f"layers.{i}."
    dense.update({p + "norm1.weight": 1 + rnd(E, scale=0.1), p + "norm1.bias": rnd(E, scale=0.1),
                  p + "wq": rnd(H * DK, E), p + "wk": rnd(G * DK, E), p + "wv": rnd(G * DV, E),
                  p + "wo": rnd(E, H * DV), p + "norm2.weight": 1 + rnd(E, scale=0.1),
                  p + "norm2.bias": rnd(E, scale=0.1), p + "w1": rnd(F, E), p + "b1": rnd(F, scale=0.1),
                  p + "w2": rnd(E, F), p + "b2": rnd(E, scale=0.1)})


def ln(x, w, b):
    return torch.nn.functional.layer_norm(x, (E,), w, b, EPS)


class Embed(torch.nn.Module):
    def forward(self, input_ids):
        return torch.nn.functional.embedding(input_ids, dense["embed.weight"])


class Pre(torch.nn.Module):
    def __init__(self, i, heads=H):
        super().__init__()
        self.p, self.heads = f"layers.{i}.", heads

    def forward(self, hidden):
        p, b, n = self.p, hidden.size(0), hidden.size(1)
        h = ln(hidden, dense[p + "norm1.weight"], dense[p + "norm1.bias"])
        wq = dense[p + "wq"] if self.heads == H else rnd(self.heads * DK, E)
        q = (h @ wq.t()).view(b, n, self.heads, DK).transpose(1, 2)
        k = (h @ dense[p + "wk"].t()).view(b, n, G, DK).transpose(1, 2)
        v = (h @ dense[p + "wv"].t()).view(b, n, G, DV).transpose(1, 2)
        return q, k, v, h


class Post(torch.nn.Module):
    def __init__(self, i):
        super().__init__()
        self.p = f"layers.{i}."

    def forward(self, hidden, attn, addend):
        p, b, n = self.p, hidden.size(0), hidden.size(1)
        merged = attn.transpose(1, 2).reshape(b, n, H * DV)
        out = hidden + merged @ dense[p + "wo"].t() + addend
        m = ln(out, dense[p + "norm2.weight"], dense[p + "norm2.bias"])
        m = torch.nn.functional.gelu(m @ dense[p + "w1"].t() + dense[p + "b1"]) @ dense[p + "w2"].t() + dense[p + "b2"]
        return out + m


class Head(torch.nn.Module):
    def forward(self, hidden):
        return ln(hidden, dense["final_norm.weight"], dense["final_norm.bias"]) @ dense["unembed.weight"].t()


def export(module, args, path, inputs, outputs):
    axes = {name: {0: "B", 2: "N"} if name in ("q", "k", "v", "attn", "values") else {0: "B", 1: "N"}
            for name in inputs + outputs}
    torch.onnx.export(module, args, path, input_names=inputs, output_names=outputs, dynamic_axes=axes,
                      opset_version=17, do_constant_folding=True)


def save_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        data = tensors[name].contiguous().float().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    pkg, bad = os.path.join(OUT, "tiny"), os.path.join(OUT, "tiny-bad")
    os.makedirs(pkg, exist_ok=True)
    os.makedirs(bad, exist_ok=True)
    hid = torch.randn(1, 3, E)
    export(Embed(), (torch.zeros(1, 3, dtype=torch.long),), os.path.join(pkg, "embed.onnx"), ["input_ids"], ["hidden"])
    for i in range(L):
        export(Pre(i), (hid,), os.path.join(pkg, f"layer_{i}_pre.onnx"), ["hidden"], ["q", "k", "v", "h"])
        export(Post(i), (hid, torch.randn(1, H, 3, DV), torch.randn(1, 3, E)), os.path.join(pkg, f"layer_{i}_post.onnx"),
               ["hidden", "attn", "addend"], ["out"])
    export(Head(), (hid,), os.path.join(pkg, "head.onnx"), ["hidden"], ["logits"])
    # defects, one per file
    export(Pre(0), (hid,), os.path.join(bad, "pre_wrong_output_name.onnx"), ["hidden"], ["q", "k", "values", "h"])
    export(Pre(0, heads=3), (hid,), os.path.join(bad, "pre_wrong_heads.onnx"), ["hidden"], ["q", "k", "v", "h"])

    memory = {}
    for i in range(L):
        memory[f"layers.{i}.gate-memory.gate"] = rnd(H, scale=1.0)
        memory[f"layers.{i}.addend-memory.scale"] = rnd(E, scale=1.0)
    save_safetensors(os.path.join(pkg, "memory.safetensors"), memory)
    save_safetensors(os.path.join(OUT, "tiny-dense.safetensors"), dense)

    manifest = {
        "format": "engram-model/1",
        "name": "tiny",
        "architecture": {"layers": L, "heads": H, "kvHeads": G, "keyDim": DK, "valueDim": DV, "modelDim": E,
                         "vocabSize": V, "positional": {"type": "rope", "theta": 10000.0},
                         "norm": {"type": "layernorm", "eps": EPS}, "mlp": "gelu"},
        "segmentLength": SEG,
        "memory": {"layers": {"default": {"attention": {"provider": "window", "window": 3, "positional": "rope"}},
                              "1": {"memory": {"provider": "gate-memory"}}}},
        "files": {"embedding": "embed.onnx", "head": "head.onnx", "weights": "memory.safetensors",
                  "layers": [{"pre": f"layer_{i}_pre.onnx", "post": f"layer_{i}_post.onnx"} for i in range(L)]},
        "training": {"task": "none", "seed": 7},
    }
    with open(os.path.join(pkg, "engram.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
