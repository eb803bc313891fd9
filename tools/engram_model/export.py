"""Writes a model package in the "engram-model/1" format (runtime-onnx/README.md, "Model package format"):

    engram.json, embed.onnx, layer_{i}_pre.onnx, layer_{i}_post.onnx, head.onnx, memory.safetensors,
    tokenizer.json (optional)

ONNX graphs: opset 17, dynamic axes B and N, names input_ids / hidden / q k v h / attn addend / out / logits.
"""
import json
import os
import warnings

import torch

from . import safetensors_io, schemes
from .model import EngramModel, ModelConfig

FORMAT = "engram-model/1"
OPSET = 17


def memory_tree(model):
    """The manifest's "memory" section: the same tree as an Engram YAML config."""
    per_layer = []
    for layer in model.layers:
        per_layer.append({"attention": layer.attention.config(),
                          "memory": layer.memory.config() if layer.memory is not None else "none"})
    layers = {"default": per_layer[0]}
    for i, entry in enumerate(per_layer[1:], start=1):
        if entry != per_layer[0]:
            layers[str(i)] = entry
    return {"layers": layers}


def manifest(model, name, training=None, tokenizer=True):
    cfg = model.cfg
    positional = {"type": cfg.positional}
    if cfg.positional == "rope":
        positional["theta"] = float(cfg.theta)
    if cfg.positional == "learned":
        positional["maxPositions"] = int(cfg.max_positions)
    m = {
        "format": FORMAT,
        "name": name,
        "architecture": {
            "layers": cfg.layers, "heads": cfg.heads, "kvHeads": cfg.kv_heads, "keyDim": cfg.key_dim,
            "valueDim": cfg.value_dim, "modelDim": cfg.model_dim, "vocabSize": cfg.vocab,
            "positional": positional, "norm": {"type": "layernorm", "eps": float(cfg.eps)}, "mlp": "gelu",
        },
        "segmentLength": cfg.segment,
        "memory": memory_tree(model),
        "files": {
            "embedding": "embed.onnx", "head": "head.onnx", "weights": "memory.safetensors",
            "layers": [{"pre": f"layer_{i}_pre.onnx", "post": f"layer_{i}_post.onnx"} for i in range(cfg.layers)],
        },
    }
    if tokenizer:
        m["files"]["tokenizer"] = "tokenizer.json"
    if training:
        m["training"] = training
    return m


def _onnx(module, args, path, inputs, outputs, axes):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, path, input_names=inputs, output_names=outputs, dynamic_axes=axes,
                          opset_version=OPSET, do_constant_folding=True)


def export_graphs(model, out_dir, batch=2, tokens=5):
    """Writes embed/pre/post/head ONNX graphs traced at (batch, tokens); B and N are dynamic."""
    cfg = model.cfg
    B, N = batch, tokens
    bn = {0: "B", 1: "N"}
    bhn = {0: "B", 2: "N"}
    model = model.eval()
    with torch.no_grad():
        ids = torch.randint(0, cfg.vocab, (B, N), dtype=torch.int64)
        if model.embed.learned:  # the embed graph also takes the absolute positions (runtime-onnx OnnxGraphs)
            positions = torch.arange(N, dtype=torch.int64).expand(B, N).contiguous()
            _onnx(model.embed, (ids, positions), os.path.join(out_dir, "embed.onnx"), ["input_ids", "position_ids"],
                  ["hidden"], {"input_ids": bn, "position_ids": bn, "hidden": bn})
        else:
            _onnx(model.embed, (ids,), os.path.join(out_dir, "embed.onnx"), ["input_ids"], ["hidden"],
                  {"input_ids": bn, "hidden": bn})
        hidden = torch.randn(B, N, cfg.model_dim)
        for i, layer in enumerate(model.layers):
            _onnx(layer.pre, (hidden,), os.path.join(out_dir, f"layer_{i}_pre.onnx"), ["hidden"],
                  ["q", "k", "v", "h"], {"hidden": bn, "q": bhn, "k": bhn, "v": bhn, "h": bn})
            attn = torch.randn(B, cfg.heads, N, cfg.value_dim)
            addend = torch.randn(B, N, cfg.model_dim)
            _onnx(layer.post, (hidden, attn, addend), os.path.join(out_dir, f"layer_{i}_post.onnx"),
                  ["hidden", "attn", "addend"], ["out"], {"hidden": bn, "attn": bhn, "addend": bn, "out": bn})
        _onnx(model.head, (hidden,), os.path.join(out_dir, "head.onnx"), ["hidden"], ["logits"],
              {"hidden": bn, "logits": bn})


def export_package(model: EngramModel, out_dir, name, training=None, tokenizer=None):
    """Writes the whole package into ``out_dir`` (created). ``tokenizer``: a dict in HF tokenizers JSON, or None."""
    os.makedirs(out_dir, exist_ok=True)
    export_graphs(model, out_dir)
    safetensors_io.write(os.path.join(out_dir, "memory.safetensors"), model.memory_weights(),
                         metadata={"format": FORMAT})
    if tokenizer is not None:
        with open(os.path.join(out_dir, "tokenizer.json"), "w") as f:
            json.dump(tokenizer, f, indent=1)
    with open(os.path.join(out_dir, "engram.json"), "w") as f:
        json.dump(manifest(model, name, training, tokenizer is not None), f, indent=2)


def check_graphs(out_dir, layers, learned=None):
    """onnx.checker plus the graph I/O names and dynamic axes the format requires (needs the onnx package);
    ``learned``: the embed graph also takes position_ids (None: as the package's engram.json says)."""
    import onnx
    if learned is None:
        with open(os.path.join(out_dir, "engram.json")) as f:
            learned = json.load(f)["architecture"]["positional"]["type"] == "learned"
    embed_in = ["input_ids", "position_ids"] if learned else ["input_ids"]
    expect = {"embed.onnx": (embed_in, ["hidden"]), "head.onnx": (["hidden"], ["logits"])}
    for i in range(layers):
        expect[f"layer_{i}_pre.onnx"] = (["hidden"], ["q", "k", "v", "h"])
        expect[f"layer_{i}_post.onnx"] = (["hidden", "attn", "addend"], ["out"])
    for fname, (ins, outs) in expect.items():
        m = onnx.load(os.path.join(out_dir, fname))
        onnx.checker.check_model(m)
        got_in = [i.name for i in m.graph.input]
        got_out = [o.name for o in m.graph.output]
        assert got_in == ins and got_out == outs, f"{fname}: inputs {got_in}, outputs {got_out}"
        assert m.opset_import[0].version == OPSET, f"{fname}: opset {m.opset_import[0].version}"
        for vi in list(m.graph.input) + list(m.graph.output):
            dims = vi.type.tensor_type.shape.dim
            assert dims[0].dim_param == "B", f"{fname}:{vi.name} axis 0 is not dynamic B"
            nax = 2 if vi.name in ("q", "k", "v", "attn") else 1
            assert dims[nax].dim_param == "N", f"{fname}:{vi.name} axis {nax} is not dynamic N"


class PackageRunner:
    """Runs a package the way the Java runtime does: the ONNX graphs (through onnx_eval) for embed/pre/post/head,
    and the attention/memory modules of schemes.py built from the manifest's memory tree and memory.safetensors.
    Nothing is taken from the torch model that wrote the package."""

    def __init__(self, pkg_dir):
        from .onnx_eval import OnnxPieces
        from .model import make_attention, make_memory
        with open(os.path.join(pkg_dir, "engram.json")) as f:
            self.manifest = man = json.load(f)
        a = man["architecture"]
        pos = a["positional"]
        cfg = ModelConfig(vocab=a["vocabSize"], layers=a["layers"], model_dim=a["modelDim"], heads=a["heads"],
                          kv_heads=a["kvHeads"], key_dim=a["keyDim"], value_dim=a["valueDim"],
                          segment=man["segmentLength"], positional=pos["type"], theta=pos.get("theta", 10000.0),
                          max_positions=pos.get("maxPositions", 0))
        # a package whose attention and memory have no weights (e.g. an imported checkpoint with `full`) has no file
        rel = man["files"].get("weights")
        weights = safetensors_io.read(os.path.join(pkg_dir, rel)) if rel else {}
        tree = man["memory"]["layers"]
        self.attention, self.memory = [], []
        used = set()
        for i in range(cfg.layers):
            entry = dict(tree["default"])
            entry.update(tree.get(str(i), {}))
            att = make_attention(entry["attention"], cfg)
            mspec = entry.get("memory", "none")
            mem = None if mspec == "none" else make_memory(mspec, cfg)
            for mod, spec in ((att, entry["attention"]), (mem, mspec)):
                if mod is None:
                    continue
                for name, t in mod.weights().items():
                    key = f"layers.{i}.{spec['provider']}.{name}"
                    if key not in weights:
                        raise KeyError(f"memory.safetensors has no '{key}'")
                    if tuple(weights[key].shape) != tuple(t.shape):
                        raise ValueError(f"'{key}' has shape {list(weights[key].shape)}; expected {list(t.shape)}")
                    with torch.no_grad():
                        t.copy_(weights[key])
                    used.add(key)
            # eval mode, as the Java runtime runs: a sticky continuous memory then draws its seeded uniform stream
            self.attention.append(att.eval())
            self.memory.append(mem.eval() if mem is not None else None)
        unused = set(weights) - used
        if unused:
            raise ValueError(f"memory.safetensors has unused tensors {sorted(unused)}")
        self.cfg = cfg
        self.pieces = OnnxPieces(pkg_dir, man)

    def init_state(self, batch):
        return [(a.init_state(batch), m.init_state(batch) if m else None) for a, m in zip(self.attention, self.memory)]

    @torch.no_grad()
    def segment(self, ids, start, states):
        if self.cfg.positional == "learned":
            positions = torch.arange(start, start + ids.shape[1], dtype=torch.int64).expand(ids.shape[0], -1)
            x = self.pieces.embed(ids, positions.contiguous())
        else:
            x = self.pieces.embed(ids)
        new = []
        for i, (att, mem) in enumerate(zip(self.attention, self.memory)):
            ast, mst = states[i]
            q, k, v, h = self.pieces.pre(i, x)
            local, ast = att(q, k, v, start, ast)
            attn, addend, mst = schemes.with_memory(mem, q, k, v, h, local, mst)
            x = self.pieces.post(i, x, attn, torch.zeros_like(x) if addend is None else addend)
            new.append((ast, mst))
        return self.pieces.head(x), new

    def run(self, ids, segment=None):
        """Logits [B, T, V] for ids [B, T], segment by segment."""
        segment = segment or self.cfg.segment
        states, outs = self.init_state(ids.shape[0]), []
        for s in range(0, ids.shape[1], segment):
            logits, states = self.segment(ids[:, s:s + segment], s, states)
            outs.append(logits)
        return torch.cat(outs, dim=1)
