"""Continual pre-training of an imported package's memory on long text, segment by segment (the Infini-attention
paper's recipe, arXiv 2404.07143 section 4: take a pretrained model, add the memory, go on training on long
sequences with the attention limited to the segment, backpropagating through the memory across segments), then
export the result as a package:

    python3 -m engram_import.finetune --from PKG --text FILE... --out PKG2 [--window 0] [--minutes M | --steps N]
        [--segment S] [--segments 8] [--batch 4] [--lr 1e-3] [--gate-init -3] [--all] [--eval FILE --lengths 256,1024]

PKG must have a memory (engram import --memory NAME). Its closed gates (sigmoid = 0 exactly, so no gradient)
are opened to --gate-init before training. Only the memory's parameters train unless --all (then every dense weight
too; they are written back into weights.bin at their places). --eval reports perplexity on held-out text at each
length with the trained memory and without it (same dense weights, same attention window).

Text is tokenized here only for byte-level tokenizers without merges (every byte one token); for any other tokenizer
write the ids with the Java tokenizer, `engram tokenize --model PKG --input FILE... --ids-out ids.npy`, and give
--ids ids.npy (and --eval-ids)."""
import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import torch

from engram_model import safetensors_io

from .checkpoint import ImportError_
from .importer import CLOSED_GATE
from .torch_model import ImportedModel, entry_provider


def byte_tokenizer_ids(pkg, manifest, paths):
    """Token ids of the files' bytes, for a tokenizer.json whose model is byte-level BPE without merges."""
    tok_file = manifest["files"].get("tokenizer")
    if tok_file is None:
        raise ImportError_("the package has no tokenizer.json; give --ids FILE.npy")
    with open(os.path.join(pkg, tok_file)) as f:
        tok = json.load(f)
    model = tok.get("model", {})
    if model.get("type") != "BPE" or model.get("merges") or (tok.get("pre_tokenizer") or {}).get("type") != "ByteLevel":
        raise ImportError_("finetune --text tokenizes only byte-level tokenizers without merges; this tokenizer.json has "
                           f"model {model.get('type')!r} with {len(model.get('merges') or [])} merges: write the ids with "
                           "'engram tokenize --model PKG --input FILE --ids-out ids.npy' and give --ids ids.npy")
    from .make_checkpoints import _bytes_to_unicode
    table = _bytes_to_unicode()
    vocab = model["vocab"]
    lut = np.array([vocab[table[b]] for b in range(256)], dtype=np.int64)
    data = b"".join(open(p, "rb").read() for p in paths)
    return lut[np.frombuffer(data, dtype=np.uint8)]


def perplexity(model, ids, length, max_chunks=8):
    chunks = [ids[i:i + length] for i in range(0, len(ids) - length + 1, length)][:max_chunks]
    if not chunks:
        return None
    x = torch.tensor(np.stack(chunks))
    with torch.no_grad():
        logits = model(x)
    nll = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
    return math.exp(nll.item())


def finetune(pkg, out, ids, window=0, segment=None, segments=8, batch=4, lr=1e-3, steps=None, minutes=None,
             gate_init=-3.0, train_all=False, seed=0, log=print):
    if os.path.exists(out):
        raise ImportError_(f"{out} already exists; choose a new --out directory")
    torch.manual_seed(seed)
    model = ImportedModel(pkg, window=window)
    if not any(model.has_memory):
        raise ImportError_(f"{pkg} has no memory: import it with --memory infini|lsh-knn|continuous")
    if segment:
        model.segment = segment
    S = model.segment
    with torch.no_grad():
        for i, m in enumerate(model.memories):
            for name in ("beta", "gate"):
                t = getattr(m, name, None) if model.has_memory[i] else None
                if isinstance(t, torch.nn.Parameter) and t.max().item() <= CLOSED_GATE / 2:
                    t.fill_(gate_init)  # closed gates have no gradient (sigmoid' = 0); open them a little
    params = [p for m, has in zip(model.memories, model.has_memory) if has for p in m.parameters()]
    if train_all:
        params += list(model.params.values())
    else:
        for p in model.params.values():
            p.requires_grad_(False)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    length = S * segments
    if len(ids) < length + 1:
        raise ImportError_(f"the text has {len(ids)} tokens; at least {length + 1} are needed (--segments x segment)")
    started, step, ema = time.time(), 0, None
    gen = np.random.default_rng(seed)
    while (steps is None or step < steps) and (minutes is None or time.time() - started < 60 * minutes):
        starts = gen.integers(0, len(ids) - length - 1, size=batch)
        x = torch.tensor(np.stack([ids[s:s + length + 1] for s in starts]))
        logits = model(x[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        step += 1
        if step % 20 == 0:
            log(f"step {step}: loss {ema:.4f} ({time.time() - started:.0f} s)")
    export(model, pkg, out, window, S, train_all, {"steps": step, "finalLoss": ema, "segments": segments,
                                                    "batch": batch, "lr": lr, "trainAll": train_all})
    return model


def export(model, pkg, out, window, segment, train_all, info):
    parent = os.path.dirname(os.path.abspath(out))
    tmp = tempfile.mkdtemp(prefix="." + os.path.basename(os.path.normpath(out)) + ".finetuning-", dir=parent)
    try:
        for f in os.listdir(pkg):
            shutil.copyfile(os.path.join(pkg, f), os.path.join(tmp, f))
        man = json.loads(json.dumps(model.manifest))
        tree = man["memory"]["layers"]
        tensors = {}
        for i, m in enumerate(model.memories):
            if model.has_memory[i]:
                provider = entry_provider(tree, i)
                tensors.update({f"layers.{i}.{provider}.{k}": v.detach() for k, v in m.weights().items()})
        safetensors_io.write(os.path.join(tmp, man["files"]["weights"]), tensors, metadata={"format": man["format"]})
        for entry in tree.values():
            if window is not None and isinstance(entry, dict) and "attention" in entry:
                entry["attention"] = {"provider": "window", "window": int(window)}
        man["segmentLength"] = segment
        man["name"] = os.path.basename(os.path.normpath(out))
        man["training"] = dict(man.get("training", {}), finetune=dict(info, fromPackage=os.path.abspath(pkg)))
        if train_all:
            for name, (_, location, offset) in model.refs.items():
                a = model.p(name).detach().numpy().astype("<f4")
                with open(os.path.join(tmp, location), "r+b") as f:
                    f.seek(offset)
                    f.write(a.tobytes())
        with open(os.path.join(tmp, "engram.json"), "w") as f:
            json.dump(man, f, indent=2)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def main(argv=None):
    p = argparse.ArgumentParser(prog="engram_import.finetune", description=__doc__.split("\n\n")[0])
    p.add_argument("--from", dest="src", required=True)
    p.add_argument("--out", required=True)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--text", nargs="+")
    g.add_argument("--ids")
    p.add_argument("--window", type=int, default=0, help="local attention window while training and in the result (default 0: the segment)")
    p.add_argument("--segment", type=int, default=None)
    p.add_argument("--segments", type=int, default=8, help="segments per training sequence")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--minutes", type=float, default=None)
    p.add_argument("--gate-init", type=float, default=-3.0)
    p.add_argument("--all", action="store_true", help="train every weight, not only the memory's")
    p.add_argument("--eval", nargs="+", default=None, help="held-out text for perplexity with and without the memory")
    p.add_argument("--eval-ids", default=None, help="held-out token ids (.npy), e.g. from engram tokenize")
    p.add_argument("--lengths", default="256,1024", help="evaluation lengths in tokens")
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args(argv)
    if a.steps is None and a.minutes is None:
        a.steps = 200
    if a.threads:
        torch.set_num_threads(a.threads)
    try:
        with open(os.path.join(a.src, "engram.json")) as f:
            man = json.load(f)
        ids = np.load(a.ids).astype(np.int64) if a.ids else byte_tokenizer_ids(a.src, man, a.text)
        model = finetune(a.src, a.out, ids, window=a.window, segment=a.segment, segments=a.segments, batch=a.batch,
                         lr=a.lr, steps=a.steps, minutes=a.minutes, gate_init=a.gate_init, train_all=a.all,
                         log=lambda m: print(m, file=sys.stderr, flush=True))
        if a.eval or a.eval_ids:
            held = np.load(a.eval_ids).astype(np.int64) if a.eval_ids else byte_tokenizer_ids(a.src, man, a.eval)
            trained = ImportedModel(a.out)
            without = ImportedModel(a.out, memory_override=False)
            rows = []
            for L in (int(x) for x in a.lengths.split(",")):
                rows.append({"length": L, "withMemory": perplexity(trained, held, L), "withoutMemory": perplexity(without, held, L)})
                print(json.dumps(rows[-1]), flush=True)
            with open(os.path.join(a.out, "finetune_eval.json"), "w") as f:
                json.dump(rows, f, indent=2)
    except ImportError_ as e:
        print(f"engram finetune: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
