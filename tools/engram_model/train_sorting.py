"""Trains one tiny sorting-by-frequency model (the ∞-former paper's section 4.1 task, sorting.py) and exports
it as a model package.

    cd tools && python3 -m engram_model.train_sorting --strategy continuous --out ../models/sorting-continuous \\
        --train-length 256 --minutes 40 --threads 1

Strategies (2 layers, model dim 64, 4 heads of 16, segments of 32 tokens, vocabulary 22: the same dense size):
    window      window attention over the segment and one segment back, no memory (the paper's
                Transformer-XL baseline: sees the last 33-64 tokens)
    continuous  window 0 (the segment only) + continuous memory with sticky memories (basis 64, samples 64,
                64 bins, tau 0.75) in both layers
    infini      window 0 + infini (delta rule) in both layers
Training: input lengths L (multiples of the segment) drawn log-uniformly from --min-length..--train-length
(L0); the loss is the cross-entropy of the 20 answer tokens given the true earlier ones (teacher forcing).
Evaluation (evaluate()): greedy decoding, each answer position fed the model's own previous output, at
L0, 2 L0, 4 L0 and 8 L0; per-position accuracy (the paper's metric) and the share of exact answers.
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch

from . import export, qat, sorting
from .model import EngramModel, ModelConfig, parse_tau
from .train import answer_loss, optimizer_step, param_groups, warmup_cosine

STRATEGIES = ["window", "continuous", "infini"]


def strategy_config(strategy, segment=32, layers=2, tau=0.75, sticky=True, samples=64):
    local0 = {"provider": "window", "window": 0, "positional": "rope", "ropeTheta": 10000.0}
    if strategy == "infini":
        att, mem = local0, {"provider": "infini", "update": "delta"}
    elif strategy == "continuous":
        att, mem = local0, {"provider": "continuous", "basis": 64, "widths": [0.01, 0.02], "lambda": 0.5,
                            "tau": tau, "samples": samples}
        if sticky:
            mem.update({"sticky": True, "bins": 64, "seed": 0})
    elif strategy == "window":
        att, mem = dict(local0, window=segment), None
    else:
        raise ValueError(f"unknown strategy '{strategy}': valid {STRATEGIES}")
    return ModelConfig(vocab=len(sorting.VOCAB), layers=layers, model_dim=64, heads=4, kv_heads=4, key_dim=16,
                       value_dim=16, segment=segment, positional="rope", theta=10000.0,
                       attention=[dict(att) for _ in range(layers)],
                       memory=[dict(mem) if mem else None for _ in range(layers)])


@torch.no_grad()
def greedy(model, prompt, steps=sorting.SYMBOLS):
    """Greedy continuation [B, steps] of prompt [B, P], segment by segment as the Java runtime generates: the
    segments before the one holding the prompt's last token are run once; the open segment is re-run with each
    new token (causal, so its earlier outputs do not change) and committed to the state when it is full."""
    seg = model.cfg.segment
    b, p = prompt.shape
    s0 = (p - 1) // seg * seg
    states = model.init_state(b)
    if s0 > 0:
        _, states = model(prompt[:, :s0], states=states, start=0)
    cur = prompt[:, s0:]
    out = []
    for _ in range(steps):
        logits, _ = model.forward_segment(cur, s0, states)
        nxt = logits[:, -1].argmax(-1)
        out.append(nxt)
        cur = torch.cat([cur, nxt[:, None]], dim=1)
        if cur.shape[1] > seg:
            _, states = model.forward_segment(cur[:, :seg], s0, states)
            s0 += seg
            cur = cur[:, seg:]
    return torch.stack(out, dim=1)


@torch.no_grad()
def evaluate(model, rng, length, trials=64, batch=32):
    """(per-position accuracy, exact-answer share) of greedy answers at ``length`` input symbols."""
    was = model.training
    model.eval()
    hits, exact = 0, 0
    for start in range(0, trials, batch):
        n = min(batch, trials - start)
        ids, _ = sorting.training_batch(rng, n, length)
        ids = torch.from_numpy(ids)
        pred = greedy(model, ids[:, :sorting.prompt_length(length)])
        ok = pred == ids[:, -sorting.SYMBOLS:]
        hits += int(ok.sum())
        exact += int(ok.all(-1).sum())
    model.train(was)
    return hits / (trials * sorting.SYMBOLS), exact / trials


def tau_arg(text):
    """--tau: a number in (0, 1), or 'uniform' (model.parse_tau: as the memory's config accepts)."""
    try:
        return parse_tau(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))


def draw_length(rng, lo, hi, segment):
    """A multiple of ``segment`` in [lo, hi], log-uniform."""
    x = math.exp(rng.uniform(math.log(lo), math.log(hi + segment)))
    return int(min(hi, max(lo, x // segment * segment)))


def demo_trial_seed(seed, length, trial):
    """SortingDemo.trialRandom's seed (Java long arithmetic, wrapping): the random stream of one demo trial."""
    return ((seed * 1_000_003 + length) * 1_000_033 + trial + 0x5047) & ((1 << 64) - 1)


def demo_fixture(out_dir, seed=7, demo_seed=42, trials=3, multiples=(1, 2, 4, 8)):
    """A tiny random sorting package (dim 16; layer 0: the segment + sticky continuous memory, layer 1: window 32)
    at OUT_DIR/sorting-tiny and the greedy answers the PyTorch model gives for SortingDemo's trials (its seeds,
    SortingTask's sequences): OUT_DIR/sorting-tiny.expected.json, for the Java SortingDemoTest."""
    torch.manual_seed(seed)
    cont = {"provider": "continuous", "basis": 16, "widths": [0.05, 0.1], "lambda": 0.5, "tau": 0.75, "samples": 16,
            "sticky": True, "bins": 8, "seed": 3}
    cfg = ModelConfig(vocab=len(sorting.VOCAB), layers=2, model_dim=16, heads=4, kv_heads=2, key_dim=4, value_dim=4,
                      segment=32, positional="rope", theta=10000.0, mlp_ratio=2,
                      attention=[{"provider": "window", "window": 0, "positional": "rope", "ropeTheta": 10000.0},
                                 {"provider": "window", "window": 32, "positional": "rope", "ropeTheta": 10000.0}],
                      memory=[cont, None])
    model = EngramModel(cfg)
    with torch.no_grad():  # O(1) weights, so the memory moves the answers
        for name, p in model.named_parameters():
            if name.endswith("mu_weight") or name.endswith("sigma_weight"):
                p.normal_(0, 0.3)
            elif name.endswith("_bias") or name.endswith(".bias"):
                p.normal_(0, 0.3)
            elif p.dim() >= 2:
                p.normal_(0, 1 / math.sqrt(p.shape[-1]))
            else:
                p.normal_(1 if "norm" in name and name.endswith("weight") else 0, 0.1)
    model.eval()
    length0 = 32
    pkg = os.path.join(out_dir, "sorting-tiny")
    export.export_package(model, pkg, "sorting-tiny", training={"task": "sorting", "seed": seed, "steps": 0,
                                                                "lengths": [length0, length0]},
                          tokenizer=sorting.tokenizer_json())
    lengths = [m * length0 for m in multiples]
    answers, accuracy, exact, forced_accuracy, margin = [], [], [], [], float("inf")
    for length in lengths:
        hits = whole = forced = 0
        for t in range(trials):
            ids, y = sorting.sample(sorting.JavaSplittableRandom(demo_trial_seed(demo_seed, length, t)), length)
            prompt = torch.from_numpy(ids[None, :sorting.prompt_length(length)])
            out = greedy(model, prompt)[0]
            with torch.no_grad():  # the gap between the best two logits at every answer step (rounding robustness)
                logits, _ = model(torch.cat([prompt[0], out])[None])
            top = logits[0, prompt.shape[1] - 1:-1].topk(2, dim=-1).values
            margin = min(margin, float((top[:, 0] - top[:, 1]).min()))
            with torch.no_grad():  # teacher-forced: the true earlier answer symbols given (argmax ties: the lower id)
                forced_logits, _ = model(torch.from_numpy(ids[None, :-1]))
            forced += int((forced_logits[0, -sorting.SYMBOLS:].argmax(-1).numpy() == y).sum())
            top = forced_logits[0, -sorting.SYMBOLS:].topk(2, dim=-1).values
            margin = min(margin, float((top[:, 0] - top[:, 1]).min()))
            right = int((out.numpy() == y).sum())
            hits += right
            whole += right == sorting.SYMBOLS
            answers.append({"length": length, "trial": t, "answer": [int(a) for a in out]})
        accuracy.append(hits / (trials * sorting.SYMBOLS))
        forced_accuracy.append(forced / (trials * sorting.SYMBOLS))
        exact.append(whole / trials)
    doc = {"description": "train_sorting.demo_fixture: the PyTorch model's greedy answers for SortingDemo's trials "
                          "and its teacher-forced per-position accuracy on them",
           "seed": demo_seed, "trials": trials, "lengths": lengths, "accuracy": accuracy,
           "teacherForcedAccuracy": forced_accuracy, "exact": exact,
           "minLogitMargin": margin, "answers": answers}
    with open(os.path.join(out_dir, "sorting-tiny.expected.json"), "w") as f:
        json.dump(doc, f, indent=1)
    return doc


@torch.no_grad()
def evaluate_demo(model, lengths, trials, seed=42, batch=25):
    """The demo's trials (SortingDemo: the same seeds, hence the same sequences) in PyTorch: per length, greedy
    per-position accuracy and exact share (what `engram demo --only sorting` reports) and, for comparison, the
    teacher-forced per-position accuracy (each answer position given the true earlier ones)."""
    model.eval()
    rows = []
    for length in lengths:
        seqs = [sorting.sample(sorting.JavaSplittableRandom(demo_trial_seed(seed, length, t)), length)[0]
                for t in range(trials)]
        ids = torch.from_numpy(np.stack(seqs))
        hits = whole = forced = 0
        for s in range(0, trials, batch):
            part = ids[s:s + batch]
            y = part[:, -sorting.SYMBOLS:]
            ok = greedy(model, part[:, :sorting.prompt_length(length)]) == y
            hits += int(ok.sum())
            whole += int(ok.all(-1).sum())
            logits, _ = model(part[:, :-1])
            forced += int((logits[:, -sorting.SYMBOLS:].argmax(-1) == y).sum())
        n = trials * sorting.SYMBOLS
        rows.append({"length": length, "accuracy": hits / n, "exact": whole / trials, "teacherForced": forced / n,
                     "trials": trials})
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--strategy", required=True, choices=STRATEGIES)
    ap.add_argument("--out", required=True, help="package directory to write")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--minutes", type=float, default=30.0, help="stop after this wall-clock time")
    ap.add_argument("--stop-after", type=int, default=0,
                    help="stop after this many steps, the learning-rate schedule still spanning --steps (0: --steps)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--segment", type=int, default=32)
    ap.add_argument("--train-length", type=int, default=256, help="L0: the longest training input (symbols)")
    ap.add_argument("--min-length", type=int, default=32, help="the shortest training input (symbols)")
    ap.add_argument("--tau", type=tau_arg, default=0.75,
                    help="continuous: the old signal's share of [0, 1] at each write, a number in (0, 1), or "
                         "'uniform': written / (written + n), every token an equal share")
    ap.add_argument("--samples", type=int, default=64,
                    help="continuous: the points M the old signal is resampled at on each write")
    ap.add_argument("--no-sticky", dest="sticky", action="store_false",
                    help="continuous: resample the old signal uniformly (s_i = i / M) instead of where the reads looked")
    qat.add_arguments(ap)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--eval-every", type=int, default=500, help="greedy eval at L0 every this many steps (0: off)")
    ap.add_argument("--eval-mults", default="1,2,4,8", help="the final eval's lengths, multiples of L0")
    ap.add_argument("--eval-trials", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--resume", help="continue from OUT.model.pt written by this script (same strategy config)")
    ap.add_argument("--evaluate", metavar="CKPT", help="only evaluate the checkpoint OUT.model.pt: the demo's trials "
                    "(--eval-trials, --demo-seed) at --eval-mults x --train-length, greedy and teacher-forced; prints JSON")
    ap.add_argument("--demo-seed", type=int, default=42, help="with --evaluate: the demo's --seed")
    args = ap.parse_args(argv)
    if args.evaluate:
        if args.threads:
            torch.set_num_threads(args.threads)
        ckpt = torch.load(args.evaluate, map_location="cpu")
        model = EngramModel(ModelConfig.from_dict(ckpt["config"]))
        model.load_state_dict(ckpt["state"])
        lengths = [args.train_length * int(m) for m in args.eval_mults.split(",")]
        for row in evaluate_demo(model, lengths, args.eval_trials, args.demo_seed):
            print(json.dumps(row), flush=True)
        return
    if args.train_length % args.segment or args.min_length % args.segment:
        ap.error(f"--train-length {args.train_length} and --min-length {args.min_length}: must be multiples of "
                 f"--segment {args.segment} (the answer then lies in one segment)")
    if args.samples < 1:
        ap.error(f"--samples {args.samples}: must be >= 1")
    if not 0 <= args.stop_after:
        ap.error(f"--stop-after {args.stop_after}: must be >= 0 (0: run --steps {args.steps})")
    if not 0 < args.min_length <= args.train_length:
        ap.error(f"--min-length {args.min_length}: must be in [1, --train-length {args.train_length}]")

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    cfg = strategy_config(args.strategy, args.segment, tau=args.tau, sticky=args.sticky, samples=args.samples)
    model = EngramModel(cfg)
    earlier = None
    if args.resume:
        ckpt = torch.load(args.resume, map_location="cpu")
        earlier_cfg = ModelConfig.from_dict(ckpt["config"])  # a field added since fills in its default
        resampled = ModelConfig.from_dict(dict(ckpt["config"], memory=[
            dict(m, samples=args.samples) if m and m.get("provider") == "continuous" else m
            for m in ckpt["config"]["memory"]]))
        if earlier_cfg != cfg and resampled == cfg:  # the weights do not depend on the resampling points
            print(f"--resume: continuous samples -> {args.samples}", flush=True)
        elif earlier_cfg != cfg:
            raise SystemExit(f"--resume {args.resume}: its config differs from --strategy {args.strategy}'s")
        model.load_state_dict(ckpt["state"])
        log_path = args.resume[:-len(".model.pt")] + ".train_log.json"
        earlier_log = []
        if os.path.exists(log_path):
            with open(log_path) as f:
                doc = json.load(f)
            earlier = doc["training"]
            stage = len(earlier.get("stages", [earlier]))
            earlier_log = [dict(e, stage=e.get("stage", stage)) for e in doc["log"]]
    nparams = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(param_groups(model, args.weight_decay), lr=args.lr, betas=(0.9, 0.98))

    lr_at = warmup_cosine(args.lr, args.warmup, args.steps)

    base = os.path.normpath(args.out)
    os.makedirs(os.path.dirname(os.path.abspath(base)), exist_ok=True)  # the partial checkpoints go beside OUT
    log, t0, ema, step = [], time.time(), None, 0
    stage_no = 1 + (len(earlier.get("stages", [earlier])) if earlier is not None else 0)
    erng_seed = args.seed + 1000
    print(f"{args.strategy}: {nparams} parameters, seed {args.seed}, L0 {args.train_length}", flush=True)
    for step in range(args.steps):
        if time.time() - t0 > args.minutes * 60:
            print(f"time limit reached after {step} steps", flush=True)
            break
        if args.stop_after and step >= args.stop_after:
            print(f"stopped after {step} steps (--stop-after; the schedule spans --steps {args.steps})", flush=True)
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        length = draw_length(rng, args.min_length, args.train_length, args.segment)
        ids, mask = sorting.training_batch(rng, args.batch, length)
        with qat.fake_quantized(model, qat.step_type(args.qat, step), args.qat_block):
            loss, acc, _ = answer_loss(model, torch.from_numpy(ids), torch.from_numpy(mask))
        ema = optimizer_step(opt, model, loss, ema)
        if step % args.log_every == 0 or step == args.steps - 1:
            entry = {"step": step, "loss": round(loss.item(), 4), "lossEma": round(ema, 4),
                     "tokenAcc": round(acc.item(), 3), "length": length, "seconds": round(time.time() - t0, 1)}
            if args.eval_every and step % args.eval_every == 0 and step > 0:
                a, e = evaluate(model, np.random.default_rng(erng_seed), args.train_length, trials=32)
                entry["greedyAcc"] = round(a, 3)
                torch.save({"config": cfg.to_dict(), "state": model.state_dict()}, base + ".partial.model.pt")
            log.append(dict(entry, stage=stage_no) if earlier is not None else entry)
            print(json.dumps(entry), flush=True)
    steps_done = step + 1 if step == args.steps - 1 else step

    evals = {}
    for mult in [int(x) for x in args.eval_mults.split(",")]:
        length = args.train_length * mult
        a, e = evaluate(model, np.random.default_rng(erng_seed + mult), length, trials=args.eval_trials)
        evals[str(length)] = {"accuracy": round(a, 3), "exact": round(e, 3)}
        print("eval", length, json.dumps(evals[str(length)]), flush=True)

    training = {"task": "sorting", "strategy": args.strategy, "seed": args.seed, "steps": steps_done,
                "finalLoss": round(ema, 4), "batch": args.batch, "lr": args.lr,
                "lengths": [args.min_length, args.train_length], "trainTokens": sorting.sequence_length(
                    args.train_length), "segmentLength": args.segment,
                **({"tau": args.tau, "sticky": args.sticky, "samples": args.samples}
                   if args.strategy == "continuous" else {}),
                **qat.recorded(args),
                "minutes": round((time.time() - t0) / 60, 1), "seconds": round(time.time() - t0, 1),
                "parameters": nparams, "eval": evals}
    stages = [dict(training)]
    if earlier is not None:
        stages = earlier.get("stages", [dict((k, v) for k, v in earlier.items() if k != "stages")]) + stages
        training["steps"] = sum(st["steps"] for st in stages)
        training["seconds"] = round(sum(st["seconds"] for st in stages), 1)
        training["minutes"] = round(training["seconds"] / 60, 1)
    training["stages"] = stages
    model = model.eval()
    export.export_package(model, args.out, f"sorting-{args.strategy}", training=training,
                          tokenizer=sorting.tokenizer_json())
    torch.save({"config": cfg.to_dict(), "state": model.state_dict()}, base + ".model.pt")
    with open(base + ".train_log.json", "w") as f:
        json.dump({"training": training, "log": (earlier_log if args.resume else []) + log}, f, indent=1)
    if os.path.exists(base + ".partial.model.pt"):
        os.remove(base + ".partial.model.pt")
    print(f"wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
