"""Trains a one-layer model on the Reformer duplication task (duplication.py) and exports it as a model package.

    cd tools && python3 -m engram_model.train_duplication --attention full --out ../models/dup-full --minutes 60
    cd tools && python3 -m engram_model.train_duplication --attention lsh --rounds 4 --out ../models/dup-lsh4

One layer (the paper's shape, arXiv 2001.04451 section 5), learned absolute position embeddings (a one-layer model
can only copy by position: the prediction at t needs the token at t - N/2 + 1, whose content it cannot know, and
shared-QK attention has no relative offset other than 0 to prefer), attention over the whole sequence: the segment
is the sequence length, because `lsh` attends within its segment only (memory-lsh/README.md, stateless).
`lsh` draws fresh random rotations at every training step, as the Reformer does, so the model does not depend on one
draw; the package carries no `rotations` weight, the Java provider draws them from its `seed` for whatever `rounds`
the config asks for, and the same package is evaluated with 1, 2, 4, 8 rounds. The loss counts only the second w.
Seed, steps, final loss, minutes and evaluation go into the manifest's "training" field ("task": "duplication");
the torch checkpoint (OUT.model.pt) and log (OUT.train_log.json) are written beside the package directory.
"""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from . import duplication, export, safetensors_io, schemes
from .model import EngramModel, ModelConfig
from .train import optimizer_step, warmup_cosine


def model_config(attention, rounds, length, dim, heads, buckets, chunk, max_positions=None):
    if attention == "full":
        att = {"provider": "full", "positional": "none"}
    elif attention == "lsh":
        att = {"provider": "lsh", "rounds": rounds, "buckets": buckets, "chunk": chunk, "causal": True}
    else:
        raise ValueError(f"attention '{attention}': valid: full, lsh")
    kd = dim // heads
    return ModelConfig(vocab=duplication.VOCAB, layers=1, model_dim=dim, heads=heads, kv_heads=heads, key_dim=kd,
                       value_dim=kd, segment=length, positional="learned", max_positions=max_positions or length,
                       attention=[att], memory=[None])


def sinusoid_table(positions, dim):
    """The Transformer's sinusoidal position table [positions, dim] (base 10000; sin in even, cos in odd columns),
    the starting point of the learned table (--pos-init sinusoid): nearby positions start alike, so what the attention
    learns for one position pair carries over to its neighbours instead of being learned pair by pair."""
    pos = torch.arange(positions, dtype=torch.float64)[:, None]
    freq = 10000.0 ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    table = torch.zeros(positions, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)
    return table.to(torch.float32)


def lsh_modules(model):
    return [layer.attention for layer in model.layers if isinstance(layer.attention, schemes.LshAttention)]


def redraw_rotations(model, gen):
    """Fresh random rotations for every lsh attention (the Reformer hashes with a new draw at every step)."""
    for att in lsh_modules(model):
        with torch.no_grad():
            att.rotations.copy_(torch.randn(att.rotations.shape, generator=gen))


def with_rounds(model, rounds):
    """A copy of ``model`` whose lsh attention uses ``rounds`` rounds (same weights; rotations are redrawn anyway)."""
    cfg = ModelConfig.from_dict(model.cfg.to_dict())
    cfg.attention = [dict(a, rounds=rounds) if a["provider"] == "lsh" else a for a in cfg.attention]
    other = EngramModel(cfg)
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("rotations")}
    missing, unexpected = other.load_state_dict(state, strict=False)
    assert all(k.endswith("rotations") for k in missing) and not unexpected, (missing, unexpected)
    return other.eval()


@torch.no_grad()
def evaluate(model, rng, gen, length, trials, batch=8):
    """(per-token accuracy, exact share) over ``trials`` fresh sequences, teacher-forced; lsh: fresh rotations per
    batch."""
    model.eval()
    accs, exacts, n = 0.0, 0.0, 0
    for s in range(0, trials, batch):
        b = min(batch, trials - s)
        ids, _ = duplication.batch(rng, b, length)
        ids = torch.from_numpy(ids)
        redraw_rotations(model, gen)
        logits, _ = model(ids)
        a, e = duplication.score(logits.argmax(-1), ids)
        accs += a * b
        exacts += e * b
        n += b
    return accs / n, exacts / n


def second_half_logits(model, ids, block=None, temperature=1.0):
    """Logits [B, N/2, V] at positions N/2 .. N-1 (the predictions of the second w and one past it), equal to the
    whole-sequence forward's there but cheaper: in a one-layer model the first half's outputs feed only their own
    (unscored) predictions, so post and head run on the second half only, and `full` attention computes only the
    second half's queries (the first half's keys and values enter as its cache, the path the segment-by-segment run
    takes). `lsh` attends over the whole sequence (the sort and chunks involve every position) and is sliced.
    ``block`` (full only): (first, count) computes only the queries first .. first + count - 1 (first >= N/2), the
    earlier keys and values again as the cache: logits [B, count, V] at those positions. ``temperature`` (one-chunk
    lsh blocks only, training): the attention logits are divided by it (1 = the model as exported)."""
    (layer,) = model.layers
    n = ids.shape[1]
    m = n // 2
    if block is not None:
        if isinstance(layer.attention, schemes.LshAttention) and not one_chunk(layer.attention, n):
            raise ValueError("a query block needs full attention or lsh with one chunk (hashed lsh sorts the whole "
                             "sequence)")
        m, count = block
        ids = ids[:, :m + count]
        n = m + count
    pos = torch.arange(n).expand(ids.shape[0], n)
    x = model.embed(ids, pos)
    q, k, v, _ = layer.pre(x)
    if isinstance(layer.attention, schemes.LshAttention) and block is not None:
        attn = shared_qk_block(q, v, m, temperature)
    elif isinstance(layer.attention, schemes.LshAttention):
        attn, _ = layer.attention(q, k, v, 0, None)
        attn = attn[:, :, m:]
    else:
        attn, _ = layer.attention(q[:, :, m:], k[:, :, m:], v[:, :, m:], m,
                                  (k[:, :, :m], v[:, :, :m], torch.arange(m)))
    xs = x[:, m:]
    return model.head(layer.post(xs, attn, torch.zeros_like(xs)))


def comparable(config):
    """A config without what a curriculum stage may change: the length (segment) and, for lsh, the hashing
    (rounds, buckets, chunk). A stage with one chunk as long as the sequence is plain shared-QK attention, the
    same weights as any hashed stage."""
    hashing = ("rounds", "buckets", "chunk")
    c = {k: v for k, v in config.items() if k != "segment"}
    c["attention"] = [{k: v for k, v in a.items() if k not in hashing} for a in c.get("attention", [])]
    return c


def one_chunk(lsh, n):
    """Whether ``lsh`` puts all ``n`` positions in one chunk: then its hashing sorts but never separates, and every
    round is plain causal shared-QK attention over the whole sequence."""
    return lsh.chunk >= n


def shared_qk_block(q, v, first, temperature=1.0):
    """What one-chunk lsh gives at queries ``first`` .. n-1: causal attention whose keys are the unit-length queries,
    a position scoring itself -1e5 (docs/schemes.md section 3), computed for these queries only; every round is
    the same, so mixing them changes nothing. ``temperature`` > 1 (training only) softens the scores: q / temperature
    against the same keys."""
    norm = q.norm(dim=-1, keepdim=True)
    keys = torch.where(norm > 0, q / norm.clamp_min(1e-30), torch.zeros_like(q))
    logits = torch.matmul(q[:, :, first:] / temperature, keys.transpose(-1, -2))  # [B, H, n - first, n]
    qi = torch.arange(first, q.shape[2])[:, None]
    kj = torch.arange(q.shape[2])[None, :]
    logits = logits.masked_fill(kj > qi, -1e9).masked_fill(kj == qi, -1e5)
    return torch.matmul(torch.softmax(logits, dim=-1), v)


def temperature_at(start, steps, step, cycles=False):
    """The training temperature at ``step``: ``start`` falling linearly to 1 at ``steps`` (1 from then on), or with
    ``cycles`` falling again from ``start`` every ``steps``."""
    if steps <= 0 or (step >= steps and not cycles):
        return 1.0
    return start + (1.0 - start) * (step % steps) / steps


def strip_rotations(pkg_dir):
    """The package keeps no lsh rotations: the Java provider draws them from its seed for the configured rounds."""
    path = os.path.join(pkg_dir, "memory.safetensors")
    tensors = {k: v for k, v in safetensors_io.read(path).items() if not k.endswith(".lsh.rotations")}
    safetensors_io.write(path, tensors, metadata={"format": export.FORMAT})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--attention", required=True, choices=["full", "lsh"])
    ap.add_argument("--rounds", type=int, default=4, help="lsh hash rounds while training")
    ap.add_argument("--buckets", type=int, default=32, help="lsh buckets per round")
    ap.add_argument("--chunk", type=int, default=64, help="lsh chunk length")
    ap.add_argument("--out", required=True, help="package directory to write")
    ap.add_argument("--name", help="package name (default: the --out folder's name)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--length", type=int, default=1024, help="sequence length N (|w| = N/2 - 1)")
    ap.add_argument("--max-positions", type=int, default=0,
                    help="the learned position table's size (default: --length); a curriculum's short first stage sets "
                    "the final length here, so that the next stage can --resume it at that length")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--pos-init", default="sinusoid", choices=["sinusoid", "random"],
                    help="the learned position table's start: the sinusoidal table, or N(0, 0.5) like the tokens")
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--minutes", type=float, default=60.0, help="stop after this wall-clock time")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--query-block", type=int, default=0,
                    help="full, or lsh with one chunk (--chunk >= --length: plain shared-QK attention): score a random "
                    "contiguous block of this many second-w positions per step instead of the whole second w (0: all), "
                    "which cuts the attention's cost; the earlier tokens are its cache")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--temperature", type=float, default=1.0,
                    help="one-chunk lsh with --query-block: divide the attention scores by this at step 0, falling "
                         "linearly to 1 at --temperature-steps (training only: the exported model has none). A "
                         "position whose partner gets ~0 weight has ~0 gradient towards it; softer scores give it one")
    ap.add_argument("--temperature-steps", type=int, default=0, help="steps over which --temperature falls to 1")
    ap.add_argument("--temperature-cycles", action="store_true",
                    help="start the fall from --temperature again every --temperature-steps (a sawtooth)")
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--log-every", type=int, default=20)
    ap.add_argument("--save-every", type=float, default=5.0, help="minutes between checkpoints (OUT.model.pt)")
    ap.add_argument("--eval-trials", type=int, default=32)
    ap.add_argument("--eval-rounds", default="1,2,4,8", help="lsh: the final evaluation's rounds")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--resume", help="continue from OUT.model.pt written by this script (same config); a fresh "
                    "optimizer warms up again; the earlier run's steps and seconds are added as a stage")
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error(f"--rounds {args.rounds}: must be >= 1")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed + 17)
    if args.temperature < 1:
        ap.error(f"--temperature {args.temperature}: must be >= 1")
    if args.temperature > 1 and not (args.attention == "lsh" and args.chunk >= args.length and args.query_block):
        ap.error(f"--temperature {args.temperature}: only for one-chunk lsh (--chunk >= --length) with --query-block; "
                 f"given --attention {args.attention}, --chunk {args.chunk}, --length {args.length}, "
                 f"--query-block {args.query_block}")
    if args.temperature > 1 and args.temperature_steps < 1:
        ap.error(f"--temperature-steps {args.temperature_steps}: must be >= 1 with --temperature {args.temperature} "
                 "(the steps over which it falls to 1)")
    if args.max_positions and args.max_positions < args.length:
        ap.error(f"--max-positions {args.max_positions}: must be >= --length {args.length}")
    cfg = model_config(args.attention, args.rounds, args.length, args.dim, args.heads, args.buckets, args.chunk,
                       args.max_positions)
    model = EngramModel(cfg)
    if args.pos_init == "sinusoid":
        with torch.no_grad():
            model.embed.pos.weight.copy_(sinusoid_table(cfg.max_positions, cfg.model_dim))
    base = os.path.normpath(args.out)
    name = args.name or os.path.basename(base)
    earlier = None
    if args.resume:
        ckpt = torch.load(args.resume, map_location="cpu")
        if comparable(ckpt["config"]) != comparable(cfg.to_dict()):
            raise SystemExit(f"--resume {args.resume}: its config {ckpt['config']} differs from {cfg.to_dict()}")
        state = {k: v for k, v in ckpt["state"].items() if not k.endswith("rotations")}  # redrawn every step
        missing, unexpected = model.load_state_dict(state, strict=False)
        assert all(k.endswith("rotations") for k in missing) and not unexpected, (missing, unexpected)
        earlier = ckpt.get("training")
    nparams = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=args.weight_decay)

    lr_at = warmup_cosine(args.lr, args.warmup, args.steps)

    def training_record(steps_done, ema, evals=None):
        t = {"task": "duplication", "attention": args.attention, "seed": args.seed, "steps": steps_done,
             "finalLoss": None if ema is None else round(ema, 4), "batch": args.batch, "lr": args.lr,
             "length": args.length, "modelDim": args.dim, "heads": args.heads,
             "posInit": args.pos_init,
             **({"temperature": args.temperature, "temperatureSteps": args.temperature_steps,
                 "temperatureCycles": args.temperature_cycles} if args.temperature > 1 else {}),
             **({"queryBlock": args.query_block} if args.query_block else {}), "seconds": round(time.time() - t0, 1), "parameters": nparams}
        if args.attention == "lsh":
            t.update({"rounds": args.rounds, "buckets": args.buckets, "chunk": args.chunk,
                      "rotations": "fresh random draw per step"})
        if evals is not None:
            t["eval"] = evals
        if earlier is not None:
            stages = list(earlier.get("stages", [earlier]))
            stages.append(dict(t))
            t["steps"] = sum(st["steps"] for st in stages)
            t["seconds"] = round(sum(st["seconds"] for st in stages), 1)
            t["minutes"] = round(t["seconds"] / 60, 1)
            t["stages"] = stages
        else:
            t["minutes"] = round(t["seconds"] / 60, 1)
        return t

    def save(steps_done, ema, evals=None):
        os.makedirs(os.path.dirname(os.path.abspath(base)), exist_ok=True)  # --out may name a folder not made yet
        tmp = base + ".model.pt.tmp"
        torch.save({"config": cfg.to_dict(), "state": model.state_dict(),
                    "training": training_record(steps_done, ema, evals)}, tmp)
        os.replace(tmp, base + ".model.pt")
        with open(base + ".train_log.json", "w") as f:
            json.dump({"training": training_record(steps_done, ema, evals), "log": log}, f, indent=1)

    log, t0, ema, last_save = [], time.time(), None, time.time()
    print(f"{name}: {nparams} parameters, seed {args.seed}, N {args.length}", flush=True)
    step = -1
    for step in range(args.steps):
        if time.time() - t0 > args.minutes * 60:
            print(f"time limit reached after {step} steps", flush=True)
            step -= 1
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        ids, _ = duplication.batch(rng, args.batch, args.length)
        ids = torch.from_numpy(ids)
        redraw_rotations(model, gen)
        m = args.length // 2
        if args.query_block:
            first = int(rng.integers(m, args.length - args.query_block))  # targets first + 1 .. first + block
            pred = second_half_logits(model, ids, (first, args.query_block),
                                      temperature_at(args.temperature, args.temperature_steps, step,
                                                    args.temperature_cycles))
            pred = pred.reshape(-1, duplication.VOCAB)
            target = ids[:, first + 1:first + 1 + args.query_block].reshape(-1)
        else:
            pred = second_half_logits(model, ids)[:, :-1].reshape(-1, duplication.VOCAB)
            target = ids[:, m + 1:].reshape(-1)
        loss = F.cross_entropy(pred, target)
        ema = optimizer_step(opt, model, loss, ema)
        if step % args.log_every == 0 or step == args.steps - 1:
            acc = (pred.argmax(-1) == target).float().mean().item()
            entry = {"step": step, "loss": round(loss.item(), 4), "lossEma": round(ema, 4), "acc": round(acc, 4),
                     "seconds": round(time.time() - t0, 1)}
            log.append(entry)
            print(json.dumps(entry), flush=True)
        if time.time() - last_save > args.save_every * 60:
            save(step + 1, ema)
            last_save = time.time()
    steps_done = step + 1

    model.eval()
    erng = np.random.default_rng(args.seed + 1000)
    egen = torch.Generator().manual_seed(args.seed + 2000)
    evals = {}
    if args.attention == "lsh":
        for r in [int(x) for x in args.eval_rounds.split(",")]:
            a, e = evaluate(with_rounds(model, r), erng, egen, args.length, args.eval_trials)
            evals[f"rounds{r}"] = {"accuracy": round(a, 4), "exact": round(e, 4)}
    else:
        a, e = evaluate(model, erng, egen, args.length, args.eval_trials)
        evals["full"] = {"accuracy": round(a, 4), "exact": round(e, 4)}
    print("eval", json.dumps(evals), flush=True)
    save(steps_done, ema, evals)
    training = training_record(steps_done, ema, evals)
    export.export_package(model.to("cpu").eval(), args.out, name, training=training, tokenizer=None)
    strip_rotations(args.out)
    print(f"wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
