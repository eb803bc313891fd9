"""An imported package as a trainable torch module: the dense weights read back from weights.bin (by the names the
graphs give them), the same math as graphs.py, the package's memories from engram_model.schemes (differentiable
across segments), and local attention with the package's positional encoding. Used by finetune.py; tested against
the package's own graphs (tests/test_import.py)."""
import json
import math
import os
from types import SimpleNamespace

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

from engram_model import safetensors_io
from engram_model.model import make_memory
from engram_model.schemes import expand_kv, with_memory

from . import reference


def read_weights(pkg, manifest):
    """name -> (float32 array, location, offset) for every external initializer of the package's graphs."""
    files = [manifest["files"]["embedding"], manifest["files"]["head"]]
    for layer in manifest["files"]["layers"]:
        files += [layer["pre"], layer["post"]]
    out = {}
    for f in files:
        m = onnx.load(os.path.join(pkg, f), load_external_data=False)
        for t in m.graph.initializer:
            if t.data_location != onnx.TensorProto.EXTERNAL or t.name in out:
                continue
            d = {e.key: e.value for e in t.external_data}
            a = np.fromfile(os.path.join(pkg, d["location"]), dtype="<f4", count=int(d["length"]) // 4,
                            offset=int(d["offset"])).reshape(tuple(t.dims))
            out[t.name] = (a, d["location"], int(d["offset"]))
    return out


class ImportedModel(nn.Module):
    def __init__(self, pkg, window=None, memory_override=None):
        """``window``: local attention window for every layer (None: the package's attention); ``memory_override``:
        False drops the memories (the same dense model without them)."""
        super().__init__()
        with open(os.path.join(pkg, "engram.json")) as f:
            self.manifest = man = json.load(f)
        a = man["architecture"]
        self.a = a
        self.layers_n, self.H, self.G, self.dk, self.e = a["layers"], a["heads"], a["kvHeads"], a["keyDim"], a["modelDim"]
        self.norm_type, self.eps, self.mlp = a["norm"]["type"], a["norm"]["eps"], a["mlp"]
        self.positional = a["positional"]
        self.segment = man["segmentLength"]
        self.refs = read_weights(pkg, man)
        self.params = nn.ParameterDict({k.replace(".", "__"): nn.Parameter(torch.from_numpy(v[0].copy()))
                                        for k, v in self.refs.items()})
        tree = man["memory"]["layers"]
        self.windows, self.sliding, mems = [], [], []
        cfg = SimpleNamespace(heads=self.H, kv_heads=self.G, key_dim=self.dk, value_dim=self.dk, model_dim=self.e)
        for i in range(self.layers_n):
            entry = dict(tree["default"])
            entry.update(tree.get(str(i), {}))
            att = entry["attention"]
            self.windows.append(window if window is not None else (att.get("window") if att["provider"] == "window" else None))
            self.sliding.append(window is None and att.get("sliding", False))
            spec = entry.get("memory", "none")
            mems.append(None if spec == "none" or memory_override is False else make_memory(spec, cfg))
        self.memories = nn.ModuleList([m if m is not None else nn.Identity() for m in mems])
        self.has_memory = [m is not None for m in mems]
        weights_file = man["files"].get("weights")
        if weights_file and memory_override is not False:
            w = safetensors_io.read(os.path.join(pkg, weights_file))
            for i, m in enumerate(mems):
                if m is None:
                    continue
                provider = entry_provider(tree, i)
                for name, t in m.weights().items():
                    with torch.no_grad():
                        t.copy_(w[f"layers.{i}.{provider}.{name}"])
        self.inv = None
        if self.positional["type"] == "rope":
            sc = self.positional.get("scaling")
            scaling = None if sc is None else {"factor": sc["factor"], "low_freq_factor": sc["lowFreqFactor"],
                                               "high_freq_factor": sc["highFreqFactor"],
                                               "original_max_position_embeddings": sc["originalMaxPositions"]}
            self.inv = reference._rope_frequencies(self.dk, self.positional["theta"], scaling)

    def p(self, name):
        return self.params[name.replace(".", "__")]

    def has(self, name):
        return name.replace(".", "__") in self.params

    def _lin(self, x, key):
        y = x @ self.p(key + ".weight")
        return y + self.p(key + ".bias") if self.has(key + ".bias") else y

    def _norm(self, x, key):
        if self.norm_type == "layernorm":
            return F.layer_norm(x, (self.e,), self.p(key + ".weight"), self.p(key + ".bias"), self.eps)
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + self.eps) * self.p(key + ".weight")

    def _rope(self, x, positions):
        ang = positions.to(torch.float64)[:, None] * self.inv[None, :]
        cos, sin = torch.cos(ang).float(), torch.sin(ang).float()
        d = self.dk // 2
        return torch.cat([x[..., :d] * cos - x[..., d:] * sin, x[..., d:] * cos + x[..., :d] * sin], dim=-1)

    def init_state(self, batch):
        return [(None, self.memories[i].init_state(batch) if self.has_memory[i] else None) for i in range(self.layers_n)]

    def segment_forward(self, ids, start, states):
        B, N = ids.shape
        if self.has("embedding.transposed"):
            x = self.p("embedding.transposed").t()[ids]
        else:
            x = self.p("embedding")[ids]
        pos = torch.arange(start, start + N)
        if self.positional["type"] == "learned":
            x = x + self.p("positions")[pos]
        new = []
        for i in range(self.layers_n):
            L = f"layers.{i}."
            cache, mst = states[i]
            h = self._norm(x, L + "norm1")
            q = self._lin(h, L + "q").reshape(B, N, self.H, self.dk).transpose(1, 2)
            k = self._lin(h, L + "k").reshape(B, N, self.G, self.dk).transpose(1, 2)
            v = self._lin(h, L + "v").reshape(B, N, self.G, self.dk).transpose(1, 2)
            kr = self._rope(k, pos) if self.inv is not None else k
            qr = self._rope(q, pos) if self.inv is not None else q
            if cache is not None:
                kc, vc, pc = torch.cat([cache[0], kr], 2), torch.cat([cache[1], v], 2), torch.cat([cache[2], pos])
            else:
                kc, vc, pc = kr, v, pos
            logits = qr @ expand_kv(kc, self.H).transpose(-1, -2) / math.sqrt(self.dk)
            dist = pos[:, None] - pc[None, :]
            masked = (dist < 0) | (dist >= self.windows[i]) if self.sliding[i] else dist < 0
            logits = logits.masked_fill(masked, float("-inf"))
            local = torch.softmax(logits, -1) @ expand_kv(vc, self.H)
            w = self.windows[i]
            cache = (kc, vc, pc) if w is None else (None if w == 0 else (kc[:, :, -w:], vc[:, :, -w:], pc[-w:]))
            mem = self.memories[i] if self.has_memory[i] else None
            attn, addend, mst = with_memory(mem, q, k, v, h, local, mst)
            merged = attn.transpose(1, 2).reshape(B, N, self.H * self.dk)
            r_ = x + self._lin(merged, L + "o") + (0 if addend is None else addend)
            y = self._norm(r_, L + "norm2")
            if self.mlp == "gelu_tanh":
                m = self._lin(y, L + "fc")
                m = 0.5 * m * (1 + torch.tanh(math.sqrt(2 / math.pi) * (m + 0.044715 * m ** 3)))
                m = self._lin(m, L + "proj")
            else:
                m = self._lin(F.silu(self._lin(y, L + "gate")) * self._lin(y, L + "up"), L + "down")
            x = r_ + m
            new.append((cache, mst))
        x = self._norm(x, "final_norm")
        head = self.p("embedding.transposed") if self.has("embedding.transposed") else self.p("unembedding")
        return x @ head, new

    def forward(self, ids, segment=None):
        """Logits [B, T, V] for ids [B, T], segment by segment (gradients flow through the memories)."""
        segment = segment or self.segment
        states, outs = self.init_state(ids.shape[0]), []
        for s in range(0, ids.shape[1], segment):
            logits, states = self.segment_forward(ids[:, s:s + segment], s, states)
            outs.append(logits)
        return torch.cat(outs, 1)


def entry_provider(tree, i):
    entry = dict(tree["default"])
    entry.update(tree.get(str(i), {}))
    return entry["memory"]["provider"]
