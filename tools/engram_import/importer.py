"""Imports a checkpoint directory in the Hugging Face layout into an Engram package (runtime-onnx/README.md):

    python3 -m engram_import --hf DIR --out PKG [--memory infini|lsh-knn|continuous] [--layers RANGE]
                             [--segment N] [--name NAME] [--quantize int8|int4]

The package is written into a temporary directory beside PKG and renamed at the end, so a refusal or a crash leaves
nothing half-written; PKG must not exist."""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

from . import graphs
from .checkpoint import Checkpoint, ImportError_, read_config
from .spec import parse

FORMAT = "engram-model/1"
MEMORIES = ("infini", "lsh-knn", "continuous")
#: gate logit for a memory that must contribute nothing: sigmoid(-200) is 1e-87 in double, exactly 0 in float32
CLOSED_GATE = -200.0
#: buffers some checkpoints carry that are not weights (causal masks, rotary tables)
IGNORED_SUFFIXES = (".attn.bias", ".attn.masked_bias", "rotary_emb.inv_freq")


class _Tensors:
    """The checkpoint's tensors by name, with shape checks that name the tensor, and a record of what was used."""

    def __init__(self, ckpt, prefix=""):
        self.ckpt, self.prefix, self.used = ckpt, prefix, set()

    def has(self, name):
        return self.prefix + name in self.ckpt.where

    def get(self, name, shape):
        full = self.prefix + name
        if full not in self.ckpt.where:
            raise ImportError_(f"tensor '{full}' is missing from the checkpoint (expected shape {list(shape)})")
        got = self.ckpt.shape(full)
        if tuple(got) != tuple(shape):
            raise ImportError_(f"tensor '{full}' has shape {list(got)}; expected {list(shape)} from config.json")
        self.used.add(full)
        return self.ckpt.get(full)

    def unused(self):
        return sorted(n for n in self.ckpt.names() - self.used if not n.endswith(IGNORED_SUFFIXES))


class _Parts:
    """What the graph builders read: the weight file and the current layer's / the final norm's arrays."""

    def __init__(self, weights):
        self.weights = weights
        self.layer, self.final = {}, {}
        self.embedding = self.embedding_t = self.positions = self.unembedding_t = None


def _gpt2_layer(t, s, i):
    e, inner = s.model_dim, s.inner
    L, H = f"layers.{i}.", f"h.{i}."
    w = t.get(H + "attn.c_attn.weight", (e, 3 * e))  # Conv1D: [in, out], y = x W + b
    b = t.get(H + "attn.c_attn.bias", (3 * e,))
    return {L + "norm1.weight": t.get(H + "ln_1.weight", (e,)), L + "norm1.bias": t.get(H + "ln_1.bias", (e,)),
            L + "q.weight": w[:, :e], L + "k.weight": w[:, e:2 * e], L + "v.weight": w[:, 2 * e:],
            L + "q.bias": b[:e], L + "k.bias": b[e:2 * e], L + "v.bias": b[2 * e:],
            L + "o.weight": t.get(H + "attn.c_proj.weight", (e, e)), L + "o.bias": t.get(H + "attn.c_proj.bias", (e,)),
            L + "norm2.weight": t.get(H + "ln_2.weight", (e,)), L + "norm2.bias": t.get(H + "ln_2.bias", (e,)),
            L + "fc.weight": t.get(H + "mlp.c_fc.weight", (e, inner)), L + "fc.bias": t.get(H + "mlp.c_fc.bias", (inner,)),
            L + "proj.weight": t.get(H + "mlp.c_proj.weight", (inner, e)), L + "proj.bias": t.get(H + "mlp.c_proj.bias", (e,))}


def _llama_layer(t, s, i):
    e, inner, dk = s.model_dim, s.inner, s.head_dim
    hq, hk = s.heads * dk, s.kv_heads * dk
    L, M = f"layers.{i}.", f"model.layers.{i}."
    out = {L + "norm1.weight": t.get(M + "input_layernorm.weight", (e,)),
           L + "norm2.weight": t.get(M + "post_attention_layernorm.weight", (e,))}
    # torch Linear stores [out, in]; the graphs multiply x [.., in] by [in, out]
    for ours, theirs, rows, cols, bias in (("q", "self_attn.q_proj", hq, e, s.qkv_bias), ("k", "self_attn.k_proj", hk, e, s.qkv_bias),
                                           ("v", "self_attn.v_proj", hk, e, s.qkv_bias), ("o", "self_attn.o_proj", e, hq, s.o_bias),
                                           ("gate", "mlp.gate_proj", inner, e, s.mlp_bias), ("up", "mlp.up_proj", inner, e, s.mlp_bias),
                                           ("down", "mlp.down_proj", e, inner, s.mlp_bias)):
        out[L + ours + ".weight"] = t.get(M + theirs + ".weight", (rows, cols)).T
        if bias:
            out[L + ours + ".bias"] = t.get(M + theirs + ".bias", (rows,))
    return out


def _embeddings(t, s, parts):
    e, V = s.model_dim, s.vocab
    if s.model_type == "gpt2":
        emb = t.get("wte.weight", (V, e))
        parts.positions = t.get("wpe.weight", (s.max_positions, e))
        parts.final = {"final_norm.weight": t.get("ln_f.weight", (e,)), "final_norm.bias": t.get("ln_f.bias", (e,))}
    else:
        emb = t.get("model.embed_tokens.weight", (V, e))
        parts.final = {"final_norm.weight": t.get("model.norm.weight", (e,))}
    if s.tied:
        parts.embedding_t = emb.T
        # a tied checkpoint may still carry a copy of the head; it is the embedding, not a second weight
        if "lm_head.weight" in t.ckpt.where:
            t.used.add("lm_head.weight")
    else:
        parts.embedding = emb
        name = "lm_head.weight"
        full_prefix, t.prefix = t.prefix, ""  # lm_head sits outside GPT-2's "transformer." prefix
        try:
            parts.unembedding_t = t.get(name, (V, e)).T
        finally:
            t.prefix = full_prefix


def _gpt2_prefix(ckpt):
    return "transformer." if "transformer.wte.weight" in ckpt.where else ""


def parse_layers(text, layers):
    """'a-b' (inclusive) or 'a' -> sorted layer list; None -> every layer."""
    if text is None:
        return list(range(layers))
    try:
        a, _, b = text.partition("-")
        lo, hi = int(a), int(b) if b else int(a)
    except ValueError:
        raise ImportError_(f"--layers is {text!r}; valid: a layer 'i' or an inclusive range 'a-b' within 0-{layers - 1}")
    if not 0 <= lo <= hi < layers:
        raise ImportError_(f"--layers is {text!r}; valid: a range within 0-{layers - 1}")
    return list(range(lo, hi + 1))


def memory_module(name, s, seed=0):
    """The memory of provider ``name`` with the gates set so that it contributes nothing (README.md, "A memory on a
    pretrained model"): infini and lsh-knn gate logits CLOSED_GATE (g = 0 exactly in float32), continuous's output
    projection 0. Reuses tools/engram_model's modules so config keys and weight shapes have one source."""
    import torch
    from engram_model import schemes
    torch.manual_seed(seed)
    H, G, dk = s.heads, s.kv_heads, s.head_dim
    if name == "infini":
        return schemes.InfiniMemory(H, G, dk, dk, update="delta", beta_init=CLOSED_GATE)
    if name == "lsh-knn":
        return schemes.LshKnnMemory(H, G, dk, dk, capacity=65536, rounds=4, buckets=64, k=32, seed=seed,
                                    gate_init=CLOSED_GATE)
    if name == "continuous":
        m = schemes.ContinuousMemory(H, dk, dk, s.model_dim, basis=512, samples=512)
        with torch.no_grad():
            m.out.zero_()
        return m
    raise ImportError_(f"--memory is {name!r}; valid: {', '.join(MEMORIES)} (or none)")


def manifest(s, name, segment, memory_cfg, memory_layers, has_tokenizer, has_weights, source, has_tokenizer_config=False):
    if s.window is not None:  # Mistral: each token sees the sliding_window keys ending at itself
        attention = {"provider": "window", "window": s.window, "sliding": True}
    else:
        attention = {"provider": "full"}
    default = {"attention": attention, "memory": "none"}
    layers = {"default": default}
    if memory_cfg is not None:
        if len(memory_layers) == s.layers:
            default["memory"] = memory_cfg
        else:
            for i in memory_layers:
                layers[str(i)] = {"attention": attention, "memory": memory_cfg}
    m = {"format": FORMAT, "name": name,
         "architecture": {"layers": s.layers, "heads": s.heads, "kvHeads": s.kv_heads, "keyDim": s.head_dim,
                          "valueDim": s.head_dim, "modelDim": s.model_dim, "vocabSize": s.vocab,
                          "positional": s.positional, "norm": {"type": s.norm, "eps": s.eps},
                          "mlp": s.mlp},
         "segmentLength": segment,
         "memory": {"layers": layers},
         "files": {"embedding": "embed.onnx", "head": "head.onnx",
                   "layers": [{"pre": f"layer_{i}_pre.onnx", "post": f"layer_{i}_post.onnx"} for i in range(s.layers)]},
         "training": {"importedFrom": source}}
    if has_weights:
        m["files"]["weights"] = "memory.safetensors"
    if has_tokenizer:
        m["files"]["tokenizer"] = "tokenizer.json"
    if has_tokenizer_config:
        m["files"]["tokenizerConfig"] = "tokenizer_config.json"
    return m


def import_checkpoint(hf_dir, out, memory=None, layers=None, segment=None, name=None, log=None):
    """Writes the package ``out`` from the checkpoint ``hf_dir``; returns the manifest. Raises ImportError_."""
    log = log or (lambda msg: None)
    if os.path.exists(out):
        raise ImportError_(f"{out} already exists; choose a new --out directory")
    if memory not in (None, "none") + MEMORIES:
        raise ImportError_(f"--memory is {memory!r}; valid: {', '.join(MEMORIES)} (or none)")
    s = parse(read_config(hf_dir))  # the configuration is refused before any tensor file is opened
    ckpt = Checkpoint(hf_dir)
    memory_layers = parse_layers(layers, s.layers)
    if memory in (None, "none") and layers is not None:
        raise ImportError_("--layers chooses the layers that get the --memory; give --memory too")
    if segment is None:
        segment = min(256, s.max_positions or 256)
    if segment < 1:
        raise ImportError_(f"--segment is {segment}; valid: an integer >= 1")
    name = name or os.path.basename(os.path.normpath(out))
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="." + os.path.basename(os.path.normpath(out)) + ".importing-", dir=parent)
    try:
        t = _Tensors(ckpt, _gpt2_prefix(ckpt) if s.model_type == "gpt2" else "")
        weights = graphs.WeightFile(tmp)
        parts = _Parts(weights)
        started = time.time()
        _embeddings(t, s, parts)
        graphs.embed_graph(s, parts, os.path.join(tmp, "embed.onnx"))
        graphs.head_graph(s, parts, os.path.join(tmp, "head.onnx"))
        parts.embedding = parts.positions = parts.unembedding_t = None
        for i in range(s.layers):
            parts.layer = _gpt2_layer(t, s, i) if s.model_type == "gpt2" else _llama_layer(t, s, i)
            graphs.pre_graph(s, parts, i, os.path.join(tmp, f"layer_{i}_pre.onnx"))
            graphs.post_graph(s, parts, i, os.path.join(tmp, f"layer_{i}_post.onnx"))
            log(f"layer {i + 1}/{s.layers} ({time.time() - started:.1f} s)")
        weights.close()
        unused = t.unused()
        if unused:
            more = f" and {len(unused) - 5} more" if len(unused) > 5 else ""
            raise ImportError_(f"the checkpoint has tensors this {s.model_type} layout does not use: "
                               + ", ".join(repr(u) for u in unused[:5]) + more)
        memory_cfg = None
        has_weights = False
        if memory not in (None, "none"):
            from engram_model import safetensors_io
            mod = memory_module(memory, s)
            memory_cfg = mod.config()
            tensors = {f"layers.{i}.{memory}.{k}": v.detach() for i in memory_layers for k, v in mod.weights().items()}
            safetensors_io.write(os.path.join(tmp, "memory.safetensors"), tensors, metadata={"format": FORMAT})
            has_weights = True
        tok = os.path.join(hf_dir, "tokenizer.json")
        has_tokenizer = os.path.isfile(tok)
        if has_tokenizer:
            shutil.copyfile(tok, os.path.join(tmp, "tokenizer.json"))
        tok_cfg = os.path.join(hf_dir, "tokenizer_config.json")
        has_tokenizer_config = os.path.isfile(tok_cfg)
        if has_tokenizer_config:
            shutil.copyfile(tok_cfg, os.path.join(tmp, "tokenizer_config.json"))
        m = manifest(s, name, segment, memory_cfg, memory_layers, has_tokenizer, has_weights,
                     {"modelType": s.model_type, "directory": os.path.abspath(hf_dir)}, has_tokenizer_config)
        with open(os.path.join(tmp, "engram.json"), "w") as f:
            json.dump(m, f, indent=2)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; the package is an ordinary directory
        os.rename(tmp, out)
        return m
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def import_quantized(hf_dir, out, quantize, log=None, calibration=None, **options):
    """import_checkpoint into a hidden float package beside ``out``, then quantize.py from it into ``out``;
    ``calibration``: quantize_package's calibration_* keyword arguments (GPTQ), if any."""
    from . import quantize as quantizer
    if os.path.exists(out):
        raise ImportError_(f"{out} already exists; choose a new --out directory")
    if quantize not in quantizer.TYPES:
        raise ImportError_(f"--quantize is {quantize!r}; valid: {', '.join(quantizer.TYPES)}")
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="." + os.path.basename(os.path.normpath(out)) + ".float-", dir=parent)
    try:
        name = options.pop("name", None) or os.path.basename(os.path.normpath(out))
        float_pkg = os.path.join(scratch, "float")
        import_checkpoint(hf_dir, float_pkg, name=name, log=log, **options)
        m = quantizer.quantize_package(float_pkg, out, quantize, log=log, **(calibration or {}))
        m["quantization"]["source"] = f"engram import --hf {os.path.abspath(hf_dir)}"
        m["name"] = name
        with open(os.path.join(out, "engram.json"), "w") as f:
            json.dump(m, f, indent=2)
        return m
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main(argv=None):
    p = argparse.ArgumentParser(prog="engram import", description=__doc__.split("\n\n")[0])
    p.add_argument("--hf", required=True, help="checkpoint directory: config.json, model.safetensors (or the sharded "
                                                "index), tokenizer.json")
    p.add_argument("--out", required=True, help="the package directory to create (must not exist)")
    p.add_argument("--memory", default=None, help="add a memory whose gates make it contribute nothing: "
                                                  + ", ".join(MEMORIES))
    p.add_argument("--layers", default=None, help="the layers that get the memory, 'a-b' inclusive (default: all)")
    p.add_argument("--segment", type=int, default=None, help="segment length (default min(256, max positions))")
    p.add_argument("--name", default=None, help="package name (default: the --out folder's name)")
    p.add_argument("--quantize", default=None, help="int8 or int4: write the package with quantized weights (quantize.py)")
    p.add_argument("--calibration-ids", default=None, metavar="FILE",
                   help="with --quantize: token ids of typical input; the codes are chosen by GPTQ (gptq.py)")
    p.add_argument("--calibration-source", default=None, metavar="NAME", help="the file the ids were made from (manifest)")
    p.add_argument("--calibration-length", type=int, default=None, metavar="N", help="tokens per calibration sequence")
    a = p.parse_args(argv)
    started = time.time()
    log = lambda msg: print(msg, file=sys.stderr, flush=True)
    try:
        calibration = {"calibration_ids": a.calibration_ids, "calibration_source": a.calibration_source,
                       "calibration_length": a.calibration_length}
        if a.quantize is None and any(v is not None for v in calibration.values()):
            raise ImportError_("--calibration-ids / --calibration-length are for --quantize")
        if a.quantize is not None:
            m = import_quantized(a.hf, a.out, a.quantize, log=log, memory=a.memory, layers=a.layers, segment=a.segment,
                                 name=a.name, calibration=calibration)
        else:
            m = import_checkpoint(a.hf, a.out, a.memory, a.layers, a.segment, a.name, log=log)
    except ImportError_ as e:
        print(f"engram import: {e}", file=sys.stderr)
        return 2
    arch = m["architecture"]
    size = sum(os.path.getsize(os.path.join(a.out, f)) for f in os.listdir(a.out))
    print(f"imported {m['training']['importedFrom']['modelType']} ({arch['layers']} layers, {arch['modelDim']} dims, "
          f"vocab {arch['vocabSize']}{', ' + m['quantization']['type'] + ' weights' if 'quantization' in m else ''}) into "
          f"{a.out}: {size / 1e6:.1f} MB in {time.time() - started:.1f} s")
    return 0
