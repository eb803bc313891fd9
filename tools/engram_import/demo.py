"""The fine-tune demonstration on a small checkpoint (README.md, "Fine-tuning the memory"):

    python3 -m engram_import.demo OUT [--pretrain-minutes 8] [--finetune-minutes 8]

No pretrained checkpoint can be downloaded on these machines, so step 1 makes one: a small Llama-layout model
(2 layers, dim 128, GQA 4/2, byte-level tokenizer) trained from scratch with full attention on 128-token chunks of
the machine's plain-text licence files, written as an ordinary Hugging Face checkpoint (OUT/pretrained). Then the
issue's flow: import it with an infini memory (gates closed), fine-tune the memory on long text segment by segment
(window 0: the attention sees only its 64-token segment), and compare perplexity on held-out files with the memory
and without it (the same weights) at several lengths. Results: OUT/demo.json."""
import argparse
import glob
import hashlib
import json
import os
import sys
import time

import numpy as np
import torch

from . import make_checkpoints as mc
from .finetune import finetune, perplexity
from .importer import import_checkpoint
from .torch_model import ImportedModel


def corpus():
    """Plain-text licence and copyright files, split into train and held-out by a hash of the path."""
    files = sorted(set(glob.glob("/usr/share/common-licenses/*") + glob.glob("/usr/share/doc/*/copyright")))
    files = [f for f in files if os.path.isfile(f) and not os.path.islink(f)]
    train, held = [], []
    for f in files:
        (held if int(hashlib.sha1(f.encode()).hexdigest(), 16) % 10 == 0 else train).append(f)
    return train, held


def byte_ids(paths):
    data = b"".join(open(p, "rb").read() for p in paths)
    return np.frombuffer(data, dtype=np.uint8).astype(np.int64)  # the tokenizer below maps byte b to id b


def byte_tokenizer():
    chars = list(mc._bytes_to_unicode().items())
    vocab = {c: b for b, c in chars}
    return {"version": "1.0", "truncation": None, "padding": None,
            "added_tokens": [{"id": 256, "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                              "rstrip": False, "normalized": False, "special": True}],
            "normalizer": None,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
            "post_processor": None,
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "vocab": vocab, "merges": []}}


CONFIG = {"model_type": "llama", "hidden_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
          "num_hidden_layers": 2, "intermediate_size": 384, "vocab_size": 257, "rms_norm_eps": 1e-6,
          "hidden_act": "silu", "max_position_embeddings": 4096, "rope_theta": 10000.0, "tie_word_embeddings": False}


def to_hf(model):
    """The trained weights under the checkpoint's own names (torch Linear layout [out, in])."""
    p = lambda n: model.p(n).detach()
    sd = {"model.embed_tokens.weight": p("embedding"), "model.norm.weight": p("final_norm.weight"),
          "lm_head.weight": p("unembedding").t().contiguous()}
    for i in range(model.layers_n):
        L, M = f"layers.{i}.", f"model.layers.{i}."
        sd[M + "input_layernorm.weight"] = p(L + "norm1.weight")
        sd[M + "post_attention_layernorm.weight"] = p(L + "norm2.weight")
        for ours, theirs in (("q", "self_attn.q_proj"), ("k", "self_attn.k_proj"), ("v", "self_attn.v_proj"),
                             ("o", "self_attn.o_proj"), ("gate", "mlp.gate_proj"), ("up", "mlp.up_proj"),
                             ("down", "mlp.down_proj")):
            sd[M + theirs + ".weight"] = p(L + ours + ".weight").t().contiguous()
    return sd


def pretrain(out, ids, minutes, log):
    hf0 = os.path.join(out, "random-hf")
    mc.write_checkpoint(hf0, CONFIG, mc.random_state_dict(CONFIG, 7), "F32", 1)
    pkg0 = os.path.join(out, "random-pkg")
    import_checkpoint(hf0, pkg0, segment=128)
    model = ImportedModel(pkg0)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    gen = np.random.default_rng(0)
    started, step, ema = time.time(), 0, None
    while time.time() - started < 60 * minutes:
        s = gen.integers(0, len(ids) - 129, size=16)
        x = torch.tensor(np.stack([ids[a:a + 129] for a in s]))
        logits = model(x[:, :-1], segment=128)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 257), x[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema = loss.item() if ema is None else 0.97 * ema + 0.03 * loss.item()
        step += 1
        if step % 50 == 0:
            log(f"pretrain step {step}: loss {ema:.3f} ({time.time() - started:.0f} s)")
    hf = os.path.join(out, "pretrained")
    mc.write_checkpoint(hf, CONFIG, to_hf(model), "F32", 1)
    with open(os.path.join(hf, "tokenizer.json"), "w") as f:
        json.dump(byte_tokenizer(), f, ensure_ascii=False)
    return hf, {"steps": step, "loss": ema}


def main(argv=None):
    p = argparse.ArgumentParser(prog="engram_import.demo", description=__doc__.split("\n\n")[0])
    p.add_argument("out")
    p.add_argument("--pretrain-minutes", type=float, default=8)
    p.add_argument("--finetune-minutes", type=float, default=8)
    p.add_argument("--lengths", default="256,1024,2048")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--pretrained", default=None, help="reuse this checkpoint (an earlier run's OUT/pretrained) instead of step 1")
    p.add_argument("--all", action="store_true", help="fine-tune every weight, not only the memory's")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    log = lambda m: print(m, file=sys.stderr, flush=True)
    os.makedirs(a.out, exist_ok=True)
    train, held = corpus()
    train_ids, held_ids = byte_ids(train), byte_ids(held)
    log(f"corpus: {len(train)} files, {len(train_ids)} bytes for training; {len(held)} files, {len(held_ids)} held out")
    if a.pretrained:
        hf, pre = a.pretrained, {"reused": os.path.abspath(a.pretrained)}
    else:
        hf, pre = pretrain(a.out, train_ids, a.pretrain_minutes, log)
    pkg = os.path.join(a.out, "imported-infini")
    import_checkpoint(hf, pkg, memory="infini", segment=64)
    tuned = os.path.join(a.out, "finetuned-infini")
    finetune(pkg, tuned, train_ids, window=0, segment=64, segments=8, batch=4, lr=1e-3, minutes=a.finetune_minutes,
             train_all=a.all, log=log)
    imported = ImportedModel(pkg)              # as imported: full attention, memory closed
    segment_only = ImportedModel(pkg, window=0)  # what the memory must make up for: window 0, no memory yet
    trained = ImportedModel(tuned)
    without = ImportedModel(tuned, memory_override=False)
    rows = []
    for L in (int(x) for x in a.lengths.split(",")):
        row = {"length": L, "imported full attention": perplexity(imported, held_ids, L, 4),
               "window 0, memory closed (imported)": perplexity(segment_only, held_ids, L, 4),
               "window 0 + fine-tuned infini": perplexity(trained, held_ids, L, 4),
               "window 0, fine-tuned weights, memory removed": perplexity(without, held_ids, L, 4)}
        rows.append(row)
        log(json.dumps(row))
    with open(os.path.join(a.out, "demo.json"), "w") as f:
        json.dump({"pretrain": pre, "finetuneAll": a.all, "finetuneMinutes": a.finetune_minutes, "corpus": {"trainBytes": int(len(train_ids)), "heldOutBytes": int(len(held_ids))},
                   "perplexity": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
