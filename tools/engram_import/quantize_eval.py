"""Perplexity of the bundled models (models/) float32 against int8 and int4, each on its own task's text, with
`engram quantize` and `engram eval` (the Java engine):

    cd tools && python3 -m engram_import.quantize_eval OUT [--models ../models] [--sequences 3] [--engram ../engram] [--block N]

For each package NAME in --models: NAME.int8, NAME.int4-blockB and NAME.int4-level0-blockB in OUT (engram quantize;
B: --block, else the block the package was trained for), --sequences task sequences as token files (passkey-*:
passkey.sample at 512 tokens, random depth; sorting-*: sorting.sample with 256 symbols;
dup-*: duplication.sample at 1024 tokens; seeds fixed), and `engram eval` of each package on each file (--lengths: the
prompt and the whole text, so the answer's tokens are scored apart too: the passkey asked for, the 20 sorted
symbols, the copied half). A model's mean NLL is the mean over all predicted tokens of its files; perplexity =
exp(mean NLL). Prints a markdown table and writes OUT/quantize_eval.json.

With --torch the same sequences are scored by each package's PyTorch checkpoint (NAME.model.pt beside it) under
engram_model.qat.fake_quantized, which computes what the int8 and int4 packages compute (tests/test_qat.py): seconds
instead of a JVM per file, for choosing among trainings; the int4-level0 column is then left out.
"""
import argparse
import json
import math
import os
import subprocess
import sys

import numpy as np

from engram_import.quantize import DEFAULT_BLOCK, trained_block
from engram_model import duplication, passkey, sorting
from engram_model.qat import block_arg as qat_block_arg

#: task by package-name prefix: (sampler, what the text is, tokens before the answer: the answer is what the model
#: can know (the passkey asked for, the sorted symbols, the copy); the rest is mostly random draws)
TASKS = {
    "passkey": (lambda rng: passkey.sample(rng, 512)[0], "passkey, 512 tokens, random depth", 512 - 5),
    "sorting": (lambda rng: sorting.sample(rng, 256)[0], "sorting, 256 symbols (278 tokens)", sorting.prompt_length(256)),
    "dup": (lambda rng: duplication.sample(rng, 1024), "duplication, 1024 tokens", duplication.half(1024) + 1),
}


#: the packages compared: float32 (the package itself) and engram quantize with these options
VARIANTS = {"float32": None, "int8": ["--type", "int8"], "int4": ["--type", "int4"],
            "int4-level0": ["--type", "int4", "--accuracy-level", "0"]}


def task_of(name):
    for prefix, task in TASKS.items():
        if name.startswith(prefix):
            return task
    return None


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r.stdout


def torch_nll(checkpoint, qtype, path, prompt, block=DEFAULT_BLOCK):
    """(sum of NLL over the whole text, tokens, sum over the answer, answer tokens) of ``checkpoint`` under
    fake_quantized(qtype) on the token file ``path`` (one pass: the model runs segment by segment itself)."""
    import torch
    from engram_model.model import EngramModel, ModelConfig
    from engram_model.qat import fake_quantized
    if checkpoint not in _MODELS:
        ck = torch.load(checkpoint, map_location="cpu")
        model = EngramModel(ModelConfig.from_dict(ck["config"]))
        model.load_state_dict(ck["state"])
        _MODELS[checkpoint] = model.eval()
    model = _MODELS[checkpoint]
    with open(path) as f:
        ids = torch.tensor([[int(t) for t in f.read().split()]])
    with torch.no_grad(), fake_quantized(model, None if qtype == "float32" else qtype, block):
        logits, _ = model(ids)
    nll = -torch.log_softmax(logits[0, :-1].double(), -1).gather(-1, ids[0, 1:, None])[:, 0]
    return nll.sum().item(), nll.numel(), nll[prompt - 1:].sum().item(), nll[prompt - 1:].numel()


_MODELS = {}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--models", default=os.path.join("..", "models"))
    ap.add_argument("--sequences", type=int, default=3)
    ap.add_argument("--engram", default=os.path.join("..", "engram"))
    ap.add_argument("--block", type=qat_block_arg, default=None,
                    help="int4's block, rows of K per scale (default: as engram quantize, the block each package was "
                         f"trained for, else {DEFAULT_BLOCK})")
    ap.add_argument("--torch", action="store_true", help="score the PyTorch checkpoints (NAME.model.pt) under fake "
                                                         "quantization instead of the packages in the Java engine")
    a = ap.parse_args(argv)
    variants = {k: v + ["--block", str(a.block)] if v and "int4" in v and a.block else v
                for k, v in VARIANTS.items() if not (a.torch and k == "int4-level0")}
    os.makedirs(a.out, exist_ok=True)
    engram = os.path.abspath(a.engram)
    rows = []
    for name in sorted(os.listdir(a.models)):
        src = os.path.join(a.models, name)
        task = task_of(name)
        if task is None or not os.path.isfile(os.path.join(src, "engram.json")):
            continue
        sampler, text, prompt = task
        rng = np.random.default_rng(11)
        files = []
        for k in range(a.sequences):
            path = os.path.join(a.out, f"{name}.{k}.ids.txt")
            with open(path, "w") as f:
                f.write(" ".join(str(int(t)) for t in sampler(rng)))
            files.append(path)
        with open(os.path.join(src, "engram.json")) as f:
            block = a.block or trained_block(json.load(f), src)
        row = {"model": name, "text": text, "sequences": a.sequences, "engine": "torch" if a.torch else "engram",
               "int4Block": block}
        checkpoint = os.path.join(a.models, name + ".model.pt")
        if a.torch and not os.path.isfile(checkpoint):
            print(f"{name}: no {checkpoint}; skipped (--torch scores checkpoints)", file=sys.stderr)
            continue
        for qtype, options in variants.items():
            if a.torch:
                totals = [sum(x) for x in zip(*(torch_nll(checkpoint, qtype, path, prompt, block) for path in files))]
                row[qtype], row[qtype + "Answer"] = totals[0] / totals[1], totals[2] / totals[3]
                print(f"{name} {qtype} (torch): mean NLL {row[qtype]:.5f}, answer {row[qtype + 'Answer']:.5f}",
                      file=sys.stderr, flush=True)
                continue
            pkg = os.path.abspath(src)
            if options:
                suffix = f"-block{block}" if "int4" in qtype else ""
                pkg = os.path.abspath(os.path.join(a.out, f"{name}.{qtype}{suffix}"))
                if not os.path.exists(pkg):
                    run([engram, "quantize", "--model", os.path.abspath(src), "--out", pkg] + options)
            nll, n, answer, m = 0.0, 0, 0.0, 0
            for path in files:
                js = os.path.join(a.out, f"{name}.{qtype}.eval.json")
                run([engram, "eval", "--model", pkg, "--token-file", os.path.abspath(path), "--lengths",
                     f"{prompt},{len(open(path).read().split())}", "--json", os.path.abspath(js)])
                with open(js) as f:
                    before, whole = json.load(f)["rows"]
                nll += whole["meanNll"] * whole["predicted"]
                n += whole["predicted"]
                # the answer's tokens: the whole prefix's sum less the prompt's
                answer += whole["meanNll"] * whole["predicted"] - before["meanNll"] * before["predicted"]
                m += whole["predicted"] - before["predicted"]
            row[qtype] = nll / n
            row[qtype + "Answer"] = answer / m
            print(f"{name} {qtype}: mean NLL {nll / n:.5f} over {n} tokens, answer {answer / m:.5f} over {m}",
                  file=sys.stderr, flush=True)
        rows.append(row)
    with open(os.path.join(a.out, "quantize_eval.json"), "w") as f:
        json.dump(rows, f, indent=2)
    print("| model | text | float32 ppl | " + " | ".join(list(variants)[1:]) + " | answer: float32 ppl | "
          + " | ".join(list(variants)[1:]) + " |")
    print("|---|---|" + "---:|" * (2 * len(variants)))
    for r in rows:
        cells = []
        for suffix in ("", "Answer"):
            f32 = math.exp(r["float32" + suffix])
            cells.append(f"{f32:.4f}")
            for q in list(variants)[1:]:
                p = math.exp(r[q + suffix])
                cells.append(f"{p:.4f} ({100 * (p / f32 - 1):+.2f}%)")
        print(f"| {r['model']} | {r['text']} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
