"""Tiny random checkpoints in the Hugging Face file layout, one per supported layout, their Engram imports, and the
logits of the independent reference (reference.py) for the Java parity test:

    python3 -m engram_import.make_checkpoints OUT      # from tools/

writes OUT/hf/NAME/ (config.json, model.safetensors or shards + index, tokenizer.json, tokenizer_config.json),
OUT/NAME/ (the package, made by importer.py) and OUT/NAME.expected.json: inputIds (prompt + the reference's greedy
continuation), promptLength, segmentLength, logits {shape [T, V], data} for every position, tolerance.
Dimensions: 2 layers, model dim 64, vocab 300 (room for a byte-level tokenizer), GQA where the family has it."""
import json
import os
import struct
import sys

import numpy as np
import torch

from . import reference
from .importer import import_checkpoint

VOCAB = 300
PROMPT = 20
DECODE = 6
SEGMENT = 8
TOLERANCE = 1e-4
#: the same checkpoint imported again with each memory (gates closed): its logits must stay the checkpoint's
MEMORY_VARIANTS = {"llama": ("infini", "lsh-knn", "continuous"), "gpt2": ("infini",)}


def _llama_cfg(model_type, **extra):
    cfg = {"model_type": model_type, "hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2,
           "num_hidden_layers": 2, "intermediate_size": 128, "vocab_size": VOCAB, "rms_norm_eps": 1e-6,
           "hidden_act": "silu", "max_position_embeddings": 128, "rope_theta": 10000.0, "tie_word_embeddings": False}
    cfg.update(extra)
    return cfg


GPT2 = {"model_type": "gpt2", "n_embd": 64, "n_head": 4, "n_layer": 2, "n_positions": 64, "vocab_size": VOCAB,
        "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new", "n_inner": None, "tie_word_embeddings": True}

#: name -> (config, options): dtype of the stored tensors, sharded or not, tokenizer family
CHECKPOINTS = {
    "gpt2": (GPT2, {"dtype": "BF16", "shards": 2, "tokenizer": "bytelevel"}),
    "llama": (_llama_cfg("llama", rope_theta=10000.0,
                         rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                       "high_freq_factor": 4.0, "original_max_position_embeddings": 32}),
              {"dtype": "F32", "shards": 1, "tokenizer": "sentencepiece"}),
    "llama-tied": (_llama_cfg("llama", num_key_value_heads=4, tie_word_embeddings=True, attention_bias=True,
                              mlp_bias=True),
                   {"dtype": "F16", "shards": 1, "tokenizer": "sentencepiece"}),
    "mistral": (_llama_cfg("mistral", rope_theta=1e6, sliding_window=5),
                {"dtype": "F32", "shards": 3, "tokenizer": "sentencepiece"}),
    "qwen2": (_llama_cfg("qwen2", num_key_value_heads=1, tie_word_embeddings=True, use_sliding_window=False,
                         sliding_window=4096, rope_theta=1e6),
              {"dtype": "F32", "shards": 1, "tokenizer": "split-bytelevel"}),
}


def random_state_dict(cfg, seed):
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape, scale=0.2: torch.randn(*shape, generator=g) * scale
    V = cfg["vocab_size"]
    sd = {}
    if cfg["model_type"] == "gpt2":
        e, inner = cfg["n_embd"], cfg["n_inner"] or 4 * cfg["n_embd"]
        sd["transformer.wte.weight"] = r(V, e, scale=0.5)
        sd["transformer.wpe.weight"] = r(cfg["n_positions"], e, scale=0.5)
        for i in range(cfg["n_layer"]):
            p = f"transformer.h.{i}."
            sd.update({p + "ln_1.weight": 1 + r(e), p + "ln_1.bias": r(e), p + "attn.c_attn.weight": r(e, 3 * e),
                       p + "attn.c_attn.bias": r(3 * e), p + "attn.c_proj.weight": r(e, e), p + "attn.c_proj.bias": r(e),
                       p + "ln_2.weight": 1 + r(e), p + "ln_2.bias": r(e), p + "mlp.c_fc.weight": r(e, inner),
                       p + "mlp.c_fc.bias": r(inner), p + "mlp.c_proj.weight": r(inner, e), p + "mlp.c_proj.bias": r(e),
                       # a causal-mask buffer, as older GPT-2 checkpoints carry: not a weight
                       p + "attn.bias": torch.tril(torch.ones(1, 1, cfg["n_positions"], cfg["n_positions"]))})
        sd["transformer.ln_f.weight"] = 1 + r(e)
        sd["transformer.ln_f.bias"] = r(e)
        return sd
    e, H = cfg["hidden_size"], cfg["num_attention_heads"]
    G, d, inner = cfg["num_key_value_heads"], e // H, cfg["intermediate_size"]
    qkv_bias = cfg["model_type"] == "qwen2" or cfg.get("attention_bias", False)
    sd["model.embed_tokens.weight"] = r(V, e, scale=0.5)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        sd.update({p + "input_layernorm.weight": 1 + r(e), p + "post_attention_layernorm.weight": 1 + r(e),
                   p + "self_attn.q_proj.weight": r(H * d, e), p + "self_attn.k_proj.weight": r(G * d, e),
                   p + "self_attn.v_proj.weight": r(G * d, e), p + "self_attn.o_proj.weight": r(e, H * d),
                   p + "mlp.gate_proj.weight": r(inner, e), p + "mlp.up_proj.weight": r(inner, e),
                   p + "mlp.down_proj.weight": r(e, inner)})
        if qkv_bias:
            sd.update({p + "self_attn.q_proj.bias": r(H * d), p + "self_attn.k_proj.bias": r(G * d),
                       p + "self_attn.v_proj.bias": r(G * d)})
        if cfg.get("attention_bias", False):
            sd[p + "self_attn.o_proj.bias"] = r(e)
        if cfg.get("mlp_bias", False):
            sd.update({p + "mlp.gate_proj.bias": r(inner), p + "mlp.up_proj.bias": r(inner), p + "mlp.down_proj.bias": r(e)})
    sd["model.norm.weight"] = 1 + r(e)
    if not cfg["tie_word_embeddings"]:
        sd["lm_head.weight"] = r(V, e, scale=0.5)
    return sd


def round_to(sd, dtype):
    """The values the checkpoint really holds once stored in ``dtype`` (the reference uses these)."""
    if dtype == "F32":
        return sd
    t = torch.bfloat16 if dtype == "BF16" else torch.float16
    return {k: v.to(t).to(torch.float32) for k, v in sd.items()}


def write_safetensors(path, tensors, dtype):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        a = tensors[name].to(torch.float32).numpy()
        if dtype == "BF16":
            data = (a.view(np.uint32) >> 16).astype("<u2").tobytes()  # exact: values were rounded to bf16 first
        elif dtype == "F16":
            data = a.astype("<f2").tobytes()
        else:
            data = a.astype("<f4").tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def write_checkpoint(directory, cfg, sd, dtype, shards):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    if shards == 1:
        write_safetensors(os.path.join(directory, "model.safetensors"), sd, dtype)
        return
    names = sorted(sd)
    weight_map = {}
    for s in range(shards):
        shard = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = names[s::shards]
        write_safetensors(os.path.join(directory, shard), {n: sd[n] for n in part}, dtype)
        weight_map.update({n: shard for n in part})
    with open(os.path.join(directory, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f, indent=2)


def _bytes_to_unicode():
    """GPT-2's reversible map from bytes to printable characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def tokenizer_files(kind):
    """(tokenizer.json, tokenizer_config.json) in the family's own layout, with a tiny vocabulary (< VOCAB ids)."""
    if kind in ("bytelevel", "split-bytelevel"):
        chars = list(_bytes_to_unicode().values())
        vocab = {c: i for i, c in enumerate(chars)}
        merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n")]
        for a, b in merges:
            vocab[a + b] = len(vocab)
        eos = "<|endoftext|>"
        added = [{"id": len(vocab), "content": eos, "single_word": False, "lstrip": False, "rstrip": False,
                  "normalized": kind == "bytelevel", "special": True}]
        if kind == "bytelevel":
            pre = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
        else:  # Llama 3 / Qwen2: a Split with the pattern, then ByteLevel without its own regex
            pre = {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
                 "behavior": "Isolated", "invert": False},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]}
        tok = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
               "pre_tokenizer": pre,
               "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
               "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
               "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                         "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
                         "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]}}
        template = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] "
                    "+ '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
        return tok, {"bos_token": None, "eos_token": eos, "chat_template": template}
    # Llama 2 / Mistral: SentencePiece converted to BPE with byte fallback
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for piece in ["▁", "e", "h", "l", "o", "w", "r", "d", "▁h", "he", "ll", "▁he", "▁hell", "▁w", "or", "▁wor"]:
        vocab.setdefault(piece, len(vocab))
    merges = ["▁ h", "h e", "l l", "▁h e", "▁he ll", "▁ w", "o r", "▁w or"]
    tok = {"version": "1.0", "truncation": None, "padding": None,
           "added_tokens": [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
                             "normalized": False, "special": True} for c, i in (("<unk>", 0), ("<s>", 1), ("</s>", 2))],
           "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                                                              {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
           "pre_tokenizer": None,
           "post_processor": {"type": "TemplateProcessing",
                              "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                              "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                       {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                              "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
           "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                                                        {"type": "ByteFallback"}, {"type": "Fuse"},
                                                        {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
           "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                     "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "vocab": vocab, "merges": merges}}
    template = ("{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + "
                "message['content'] + ' [/INST]' }}{% else %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}")
    return tok, {"bos_token": "<s>", "eos_token": "</s>", "chat_template": template}


def make(out, names=None, seed=1):
    os.makedirs(out, exist_ok=True)
    results = {}
    for k, name in enumerate(names or CHECKPOINTS):
        cfg, opt = CHECKPOINTS[name]
        sd = round_to(random_state_dict(cfg, seed + k), opt["dtype"])
        hf = os.path.join(out, "hf", name)
        write_checkpoint(hf, cfg, sd, opt["dtype"], opt["shards"])
        tok, tok_cfg = tokenizer_files(opt["tokenizer"])
        with open(os.path.join(hf, "tokenizer.json"), "w") as f:
            json.dump(tok, f, ensure_ascii=False, indent=1)
        with open(os.path.join(hf, "tokenizer_config.json"), "w") as f:
            json.dump(tok_cfg, f, ensure_ascii=False, indent=1)
        import_checkpoint(hf, os.path.join(out, name), segment=SEGMENT)
        g = torch.Generator().manual_seed(100 + k)
        ids = torch.randint(0, VOCAB, (PROMPT,), generator=g).tolist()
        with torch.no_grad():
            for _ in range(DECODE):  # the reference's greedy continuation
                ids.append(int(reference.logits(cfg, sd, ids)[-1].argmax()))
            logits = reference.logits(cfg, sd, ids).float()
        expected = {"name": name, "modelType": cfg["model_type"], "inputIds": ids, "promptLength": PROMPT,
                    "segmentLength": SEGMENT, "tolerance": TOLERANCE, "greedyContinuation": True,
                    "logits": {"shape": list(logits.shape), "data": [float(x) for x in logits.reshape(-1).tolist()]}}
        with open(os.path.join(out, name + ".expected.json"), "w") as f:
            json.dump(expected, f)
        for memory in MEMORY_VARIANTS.get(name, ()) if names is None else ():
            variant = f"{name}+{memory}"
            import_checkpoint(hf, os.path.join(out, variant), memory=memory, segment=SEGMENT)
            with open(os.path.join(out, variant + ".expected.json"), "w") as f:
                json.dump(dict(expected, name=variant, memory=memory), f)
        results[name] = (cfg, sd, ids, logits)
    if names is None:
        _finetuned(out, results["llama"][2])
    return results


def _finetuned(out, ids):
    """llama+infini after 3 fine-tuning steps (window 0, gates opened): the exported package must reproduce the
    trained torch model (torch_model.py, itself tested against the graphs), memory and all."""
    from .finetune import finetune
    from .torch_model import ImportedModel
    name = "llama+infini-finetuned"
    tokens = np.random.default_rng(5).integers(0, VOCAB, size=300)
    finetune(os.path.join(out, "llama+infini"), os.path.join(out, name), tokens, window=0, segment=SEGMENT, segments=3,
             batch=2, lr=3e-2, steps=3, log=lambda m: None)
    with torch.no_grad():
        logits = ImportedModel(os.path.join(out, name))(torch.tensor([ids]))[0]
    expected = {"name": name, "modelType": "llama", "inputIds": ids, "promptLength": PROMPT, "segmentLength": SEGMENT,
                "tolerance": TOLERANCE, "greedyContinuation": False,
                "logits": {"shape": list(logits.shape), "data": [float(x) for x in logits.reshape(-1).tolist()]}}
    with open(os.path.join(out, name + ".expected.json"), "w") as f:
        json.dump(expected, f)


if __name__ == "__main__":
    if len(sys.argv) < 2 or any(n not in CHECKPOINTS for n in sys.argv[2:]):
        sys.exit("usage: python3 -m engram_import.make_checkpoints OUT [NAME...]; names: " + ", ".join(CHECKPOINTS))
    made = make(sys.argv[1], sys.argv[2:] or None)
    print(f"wrote {len(made)} checkpoints, packages and expected logits into {sys.argv[1]}")
