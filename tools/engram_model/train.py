"""Trains one tiny passkey model per strategy and exports it as a model package.

    cd tools && python3 -m engram_model.train --strategy infini --out /tmp/models/infini --minutes 10

Strategies (every layer: local `window` attention + the memory; see STRATEGIES):
    infini      window 0 (segment only) + infini (delta rule) in both layers
    continuous  window 0 + continuous (basis 64, samples 64) in both layers
    lsh-knn     window 0 + lsh-knn (rounds 4 or --knn-rounds, buckets 16, k 32 or --knn-k, scale sqrt(16) or
                --knn-scale) in both layers
    window      window = one segment, no memory (the baseline: forgets what is older than 2 segments)
--window N gives the memory strategies' local attention N tokens before the segment too; --knn-k K sets how many
retrieved pairs lsh-knn reads and --knn-scale S the temperature of that read. A --resume may change any of the three
(no weight's shape depends on them).
--fresh-rotations draws lsh-knn's LSH rotations anew for every step (as Reformer does) and serves the draw it
began with; --knn-rounds R hashes in R rounds (a --resume keeps the rounds it has and draws any further ones).
Contexts of --min-segments..--max-segments segments of --segment tokens; the loss counts only the
passkey answer digits. Runs on CPU (or --device cuda when one is there). Seed, steps and final loss go
into the manifest's "training" field; the torch checkpoint (model.pt) and log (train_log.json) are
written beside the package directory.
"""
import argparse
import itertools
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from . import export, passkey, qat
from .model import EngramModel, ModelConfig


#: the bundled recipe's lsh-knn k: how many candidates a query reads (what every stage before --knn-k used)
KNN_K = 32
#: the bundled recipe's lsh-knn hashing rounds (what every stage before --knn-rounds used)
KNN_ROUNDS = 4


def strategy_config(strategy, segment=32, layers=2, window=0, knn_k=KNN_K, knn_scale=0.0, knn_rounds=KNN_ROUNDS):
    """The model of each strategy. ``window``: how many tokens before its segment the memory models' local attention
    also sees (0: the segment only; a segment's worth is Memorizing Transformers' local cache). The window baseline
    always sees one segment back. ``knn_k``: how many of its candidates lsh-knn reads; ``knn_scale``: the temperature
    of its read (0: the scheme's default, sqrt of the key size); ``knn_rounds``: its LSH hashing rounds."""
    local0 = {"provider": "window", "window": window, "positional": "rope", "ropeTheta": 10000.0}
    if strategy == "infini":
        att, mem = local0, {"provider": "infini", "update": "delta"}
    elif strategy == "continuous":
        att, mem = local0, {"provider": "continuous", "basis": 64, "widths": [0.01, 0.02], "lambda": 0.5,
                            "tau": 0.5, "samples": 64}
    elif strategy == "lsh-knn":
        att, mem = local0, {"provider": "lsh-knn", "capacity": 65536, "rounds": knn_rounds, "buckets": 16,
                            **knn_read(knn_k, knn_scale)}
    elif strategy == "window":
        att, mem = dict(local0, window=segment), None  # --window does not apply: the baseline's span is its design
    else:
        raise ValueError(f"unknown strategy '{strategy}'")
    return ModelConfig(vocab=32, layers=layers, model_dim=64, heads=4, kv_heads=4, key_dim=16, value_dim=16,
                       segment=segment, positional="rope", theta=10000.0,
                       attention=[dict(att) for _ in range(layers)],
                       memory=[dict(mem) if mem else None for _ in range(layers)])


def knn_read(knn_k, knn_scale):
    """lsh-knn's read options as its memory config holds them (no ``scale``: the scheme's default)."""
    return {"k": knn_k, **({"scale": knn_scale} if knn_scale else {})}


def with_resumable(cfg, window, knn_k, knn_scale=0.0, knn_rounds=KNN_ROUNDS):
    """``cfg`` with what --resume may change set: every layer's local attention window, and lsh-knn's k, scale and
    rounds."""
    d = cfg.to_dict()
    d["attention"] = [dict(a, window=window) for a in d["attention"]]
    for i, m in enumerate(d["memory"]):
        if m and m.get("provider") == "lsh-knn":
            d["memory"][i] = {**{f: v for f, v in m.items() if f not in ("k", "scale")}, **knn_read(knn_k, knn_scale),
                              "rounds": knn_rounds}
    return ModelConfig.from_dict(d)


def with_rounds(state, rounds, generator):
    """``state`` with every LSH rotation weight ([kv heads, key dim, rounds, buckets / 2]) holding ``rounds`` rounds:
    its first rounds kept as they are, any further round a new draw from ``generator`` (the distribution the
    rotations are made with), so a model resumed with more rounds hashes as before in the rounds it learned."""
    out = dict(state)
    for name, r in state.items():
        if name.endswith("memory.rotations") and r.shape[2] != rounds:
            extra = max(0, rounds - r.shape[2])
            added = torch.randn(r.shape[0], r.shape[1], extra, r.shape[3], generator=generator, dtype=r.dtype)
            out[name] = torch.cat([r[:, :, :rounds], added], dim=2)
    return out


def with_layers(cfg, layers):
    """``cfg`` with ``layers`` layers: the layers it has, then copies of its last layer's attention and memory."""
    d = cfg.to_dict()
    extra = layers - cfg.layers
    d["attention"] = d["attention"] + [dict(d["attention"][-1]) for _ in range(extra)]
    d["memory"] = d["memory"] + [dict(d["memory"][-1]) if d["memory"][-1] else None for _ in range(extra)]
    d["layers"] = layers
    return ModelConfig.from_dict(d)


def load_and_append_identity_layers(model, state, kept):
    """Load ``state`` (a checkpoint of the first ``kept`` layers of ``model``) and make every later layer an identity
    (Net2Net's deeper network, Chen et al. 2016): its attention output projection and second MLP matrix zero, so
    ``out = hidden`` and the grown model computes what the checkpoint did, while the zero matrices still receive
    gradients (their inputs are not zero) and the new layer learns from the first step."""
    new = tuple(f"layers.{i}." for i in range(kept, len(model.layers)))
    missing, unexpected = model.load_state_dict(state, strict=False)
    strays = [k for k in missing if not k.startswith(new)] + list(unexpected)
    if strays:
        raise SystemExit(f"--resume: the checkpoint's weights do not fit the first {kept} layers: {strays[:5]}")
    with torch.no_grad():
        for layer in model.layers[kept:]:
            for weight in (layer.post.wo.weight, layer.post.fc2.weight, layer.post.fc2.bias):
                weight.zero_()


def lsh_knn_memories(model):
    """The model's lsh-knn memories that hash (an ``exact`` one searches without its rotations)."""
    return [layer.memory for layer in model.layers
            if layer.memory is not None and layer.memory.config()["provider"] == "lsh-knn" and not layer.memory.exact]


def redraw_rotations(memories, generator):
    """Gives each memory a fresh draw of its LSH rotations (the shape and distribution it was made with), as Reformer
    draws new ones for every forward pass: a model trained so cannot lean on one draw's bucket boundaries."""
    for memory in memories:
        memory.rotations.copy_(torch.randn(memory.rotations.shape, generator=generator))


def optimizer_step(opt, model, loss, ema, tracked=None):
    """One update of every training script: backward, gradient norm clipped at 1, step; returns the EMA (0.95) of
    ``tracked`` (default: the loss)."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    value = (loss if tracked is None else tracked).item()
    return value if ema is None else 0.95 * ema + 0.05 * value


def weight_average(model, decay):
    """torch's AveragedModel as an exponential moving average of the weights (Polyak averaging): each
    ``update_parameters(model)`` makes ``avg = decay * avg + (1 - decay) * w``, starting from the weights as they are
    now (for a ``--resume``, the checkpoint's). Buffers (the fixed LSH rotations) are not averaged."""
    average = torch.optim.swa_utils.AveragedModel(model, avg_fn=lambda avg, w, _: decay * avg + (1.0 - decay) * w)
    average.update_parameters(model)  # its first call copies: the average starts at these weights
    return average


@torch.no_grad()
def take_average(model, average):
    """Puts the averaged weights into ``model``."""
    for p, averaged in zip(model.parameters(), average.module.parameters()):
        p.copy_(averaged)


def answer_loss(model, ids, mask, with_filler_share=False, filler_counts=None):
    """Cross-entropy of the answer digits, their accuracy, and (``with_filler_share``, else None) the infini
    memories' filler write share (filler_write_share). ``filler_counts`` [B]: counting_filler_rows."""
    with counting_filler_rows(model, ids, filler_counts), recording_write_mass(model, with_filler_share) as masses:
        logits, _ = model(ids)
    # logits at position t predict token t+1; the answer digits are the targets where mask is True
    pred = logits[:, :-1][mask[:, 1:]]
    target = ids[:, 1:][mask[:, 1:]]
    loss = F.cross_entropy(pred, target)
    acc = (pred.argmax(-1) == target).float().mean()
    return loss, acc, (filler_write_share(masses, ids) if masses else None)


class recording_write_mass:
    """Within the block, each infini memory's write also appends its tokens' write mass, sum_d sigma(k) [B, G, N]
    (what the write adds to z; or ``keep(sigma(k))`` where given), to a list per layer, graph kept; yields those
    lists (empty when not ``on``)."""

    def __init__(self, model, on, keep=lambda sk: sk.sum(-1)):
        self.memories = [layer.memory for layer in model.layers
                         if on and layer.memory is not None and layer.memory.config()["provider"] == "infini"]
        self.masses = [[] for _ in self.memories]
        self.keep = keep

    def __enter__(self):
        self.before = [vars(mem).get("write") for mem in self.memories]
        for mem, out in zip(self.memories, self.masses):
            def write(k, v, h, state, mem=mem, out=out, inner=mem.write):
                out.append(self.keep(mem.sigma(k)))
                return inner(k, v, h, state)
            mem.write = write
        return self.masses

    def __exit__(self, *exc):
        restore_writes(self.memories, self.before)
        return False


def restore_writes(memories, before):
    """Puts back each memory's write as it was before a wrapper replaced it (the class's own where none was set)."""
    for mem, write in zip(memories, before):
        if write is None:
            del mem.write
        else:
            mem.write = write


COUNTED_MEMORIES = ("infini", "lsh-knn")  # the memories whose write takes row_counts


class counting_filler_rows:
    """Within the block, each infini or lsh-knn memory's write counts every filler row (passkey.FILLER's tokens) of
    sequence b ``counts[b]`` times (the writes' row_counts): the memory holds what a context with that many times the
    filler would have written (infini: M and z alike; lsh-knn: that many copies of each filler pair, whole numbers),
    while the model computes only the rows given. Training with counts above 1 shows the reads the memory of
    contexts longer than those it runs (models/README.md, "Contexts longer than it runs"). ``counts`` None: nothing
    changes."""

    def __init__(self, model, ids, counts):
        self.memories = [layer.memory for layer in model.layers
                         if counts is not None and layer.memory is not None
                         and layer.memory.config()["provider"] in COUNTED_MEMORIES]
        if self.memories:
            filler = torch.from_numpy(np.isin(ids.cpu().numpy(), passkey.FILLER)).to(ids.device)
            per_row = torch.where(filler, counts.to(ids.device)[:, None].float(), torch.ones((), device=ids.device))
            self.per_row = per_row[:, None, :, None]  # [B, 1, T, 1]

    def __enter__(self):
        self.before = [vars(mem).get("write") for mem in self.memories]
        for mem in self.memories:
            written = [0]  # rows this memory has written so far: its segments come in order

            def write(k, v, h, state, mem=mem, written=written):
                n = k.shape[2]
                rows = self.per_row[:, :, written[0]:written[0] + n]
                written[0] += n
                return type(mem).write(mem, k, v, h, state, row_counts=rows)
            mem.write = write
        return self

    def __exit__(self, *exc):
        restore_writes(self.memories, self.before)
        return False


def filler_counts(rng, batch, length, counts_max, counts_length, share, whole):
    """How many times each sequence's filler rows count (counting_filler_rows), [batch] float64, or None when every
    row counts once. ``counts_max`` > 1: C log-uniform in [1, counts_max]. ``counts_length`` (LO, HI) tokens: a
    context length L log-uniform in [LO, HI] and C = max(1, L / ``length``), the memory of an L-token context made
    from a ``length``-token one (short draws count once). A sequence is counted with probability ``share``, the rest
    count once; ``whole`` (lsh-knn stores whole copies of a pair) rounds C down."""
    if counts_length:
        lo, hi = counts_length
        drawn = np.maximum(1.0, np.exp(rng.uniform(math.log(lo), math.log(hi), batch)) / length)
    elif counts_max > 1:
        drawn = np.exp(rng.uniform(0.0, math.log(counts_max), batch))
    else:
        return None
    if whole:
        drawn = np.floor(drawn)
    return np.where(rng.random(batch) < share, drawn, 1.0)


def parse_counts_length(ap, text):
    """--filler-counts-length "LO,HI" as (LO, HI) tokens, 0 < LO <= HI; "" as None."""
    if not text.strip():
        return None
    try:
        lo, hi = (int(x) for x in text.split(","))
    except ValueError:
        ap.error(f"--filler-counts-length {text!r}: must be two whole token counts LO,HI (e.g. 512,16384)")
    if not 0 < lo <= hi:
        ap.error(f"--filler-counts-length {text!r}: must have 0 < LO <= HI")
    return lo, hi


def filler_write_share(masses, ids):
    """The share of each infini memory's write mass (z) that filler tokens (passkey.FILLER's words and ".")
    wrote, averaged over layers, sequences and kv heads: 0 when only the passkey block, <bos> and the question
    were written. The answer never depends on the filler, so this asks the memory not to fill its normaliser z
    with it, which is what dilutes the passkey at lengths past the training contexts (models/README.md)."""
    filler = torch.from_numpy(np.isin(ids.cpu().numpy(), passkey.FILLER)).to(ids.device)[:, None, :]  # [B, 1, T]
    shares = []
    for per_segment in masses:
        mass = torch.cat(per_segment, dim=-1)  # [B, G, T]
        shares.append((mass * filler).sum(-1) / mass.sum(-1).clamp_min(1e-12))
    return torch.stack(shares).mean()


@torch.no_grad()
def evaluate(model, rng, segments, trials=64, digits=5, depth=None, device="cpu", turns=False, extra=0):
    """(digit accuracy, exact-match rate) at ``segments`` segments and ``extra`` tokens (``turns``:
    conversation-shaped filler)."""
    model.eval()
    length = segments * model.cfg.segment + extra
    ids, mask, _ = passkey.batch(rng, trials, length, digits, depth, turns)
    ids, mask = torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device)
    logits, _ = model(ids)
    pred = logits[:, :-1].argmax(-1)
    m = mask[:, 1:]
    ok = (pred == ids[:, 1:]) | ~m
    model.train()
    return float((pred[m] == ids[:, 1:][m]).float().mean()), float(ok.all(-1).float().mean())


def last_segment_position(rng, length, digits, segment):
    """A passkey block position k (the index of <passkey-is>) inside the question's own segment, the last one:
    uniform over the positions where the whole block lies in that segment before the question, and with
    probability 1/4 directly before the question ("... <passkey-is> d1..dK . <what-is-the-passkey>", depth 1).
    Where the segment has no room for the block before the question, the block ends right before it."""
    room = length - 1 - (digits + 2) - (digits + 1)
    last = 1 + room  # directly before the question
    first = max(1, (length - digits - 1) // segment * segment)  # the segment that holds the question token
    if first > last or rng.random() < 0.25:
        return last
    return int(rng.integers(first, last + 1))


#: the placement options (the training_batch arguments of the same names), each a fraction of the samples; they
#: share one draw per sample, so they sum to at most 1
PLACEMENTS = ("last_segment", "boundary", "first_segment", "after_bos", "before_question")


def training_batch(rng, size, length, digits, segment, boundary=0.0, last_segment=0.0, first_segment=0.0,
                   boundary_starts=None, turns=0.0, after_bos=0.0, before_question=0.0):
    """passkey.batch, except that each sample with probability ``last_segment`` has its passkey block in the
    question's own segment (last_segment_position), and with probability ``boundary`` placed so that it ends
    at a segment's last token or crosses into the next segment: the hard placements for a model whose local
    attention sees its own segment only; with probability ``first_segment`` the block starts in the first segment
    (depth 0 and the first boundary, which uniform placement reaches once per that many segments); with probability
    ``after_bos`` it starts directly after <bos> (depth 0 itself: a local window there still sees <bos>); with
    probability ``before_question`` it ends directly before the question (depth 1 itself, wherever the length puts
    the question in its segment: the block in the question's segment, or across the boundary before it, or wholly
    in the segment before).
    ``boundary_starts`` (offsets within the segment, each in segment - block .. segment - 1) narrows the boundary
    placements to blocks starting at those offsets; None: all of them. Each sample, wherever its block is, has with
    probability ``turns`` conversation-shaped filler (passkey.turns_filler). With all six fractions 0
    this is passkey.batch itself (the same random stream; with last_segment, first_segment and turns 0 the stream of
    the earlier boundary-only runs)."""
    fractions = [last_segment, boundary, first_segment, after_bos, before_question]  # PLACEMENTS' order
    if turns <= 0 and all(f <= 0 for f in fractions):
        return passkey.batch(rng, size, length, digits)
    # u below ends[0] is a last-segment placement, below ends[1] a boundary one, ... (the sums as written before)
    ends = list(itertools.accumulate(fractions))
    block = digits + 2
    room = length - 1 - block - (digits + 1)
    ids = np.empty((size, length), dtype=np.int64)
    keys = np.empty((size, digits), dtype=np.int64)
    for i in range(size):
        depth = None
        u = rng.random()
        if u < ends[0]:
            if room > 0:
                depth = (last_segment_position(rng, length, digits, segment) - 1) / room
        elif u < ends[1]:
            # the block starts at k = b - j for a segment boundary b and j in 1..block: it ends at b - 1
            # (j = block) or crosses b; k = 1 + pos with 0 <= pos <= room
            choices = [b - j for b in range(segment, length, segment) for j in range(1, block + 1)
                       if 0 <= b - j - 1 <= room and (boundary_starts is None or segment - j in boundary_starts)]
            if choices and room > 0:
                depth = (choices[int(rng.integers(len(choices)))] - 1) / room
        elif u < ends[2]:
            if room > 0:  # k = 1 + pos in 1..segment
                depth = int(rng.integers(min(segment, room + 1))) / room
        elif u < ends[3]:
            depth = 0.0
        elif u < ends[4]:
            depth = 1.0
        shaped = turns > 0 and rng.random() < turns
        ids[i], keys[i], _ = passkey.sample(rng, length, digits, depth, shaped)
    mask = np.zeros((size, length), dtype=bool)
    mask[:, length - digits:] = True
    return ids, mask, keys


def batch_length(rng, segments, segment, digits, any_length, answer_boundary=0.0):
    """A training batch's length in tokens: ``segments`` whole segments, or with ``any_length`` 0 to segment - 1
    tokens fewer (one draw), so that the question and its answer sit at any offset of their segment; never shorter
    than bos, one filler token, the passkey block and the question with its answer. With probability
    ``answer_boundary`` (``any_length`` only) the draw is one of the lengths that put a segment's first row among the
    rows predicting the answer (length % segment in 2..digits + 1): where the answer crosses into a new segment, the
    digit read at that row is the one the bundled lsh-knn model got wrong most (models/README.md)."""
    if not any_length:
        shorter = 0
    elif answer_boundary > 0 and rng.random() < answer_boundary:
        shorter = segment - int(rng.integers(2, min(digits + 1, segment - 1) + 1))
    else:
        shorter = int(rng.integers(segment))
    return max(segments * segment - shorter, 2 * digits + 4)


def warmup_cosine(lr, warmup, steps):
    """The learning rate at each step: linear warm-up over `warmup` steps, then a cosine from lr down to lr / 10 at
    `steps` (every training script here uses this schedule)."""
    def lr_at(step):
        if step < warmup:
            return lr * (step + 1) / warmup
        frac = (step - warmup) / max(1, steps - warmup)
        return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))
    return lr_at


def param_groups(model, weight_decay, key_lr_scale=1.0):
    """AdamW groups; each has ``lr_scale``, the factor on the schedule's learning rate (``key_lr_scale`` for the key
    projections, 1 for the rest)."""
    decay, no_decay, keys = [], [], []
    for name, p in model.named_parameters():
        # no weight decay on the memory gates (docs/schemes.md training lessons), norms, biases, embeddings
        if p.dim() < 2 or "memory" in name or "embed" in name:
            no_decay.append(p)
        elif key_lr_scale != 1.0 and name.endswith("wk.weight"):
            keys.append(p)
        else:
            decay.append(p)
    groups = [{"params": decay, "weight_decay": weight_decay, "lr_scale": 1.0},
              {"params": no_decay, "weight_decay": 0.0, "lr_scale": 1.0}]
    if keys:
        groups.append({"params": keys, "weight_decay": weight_decay, "lr_scale": key_lr_scale})
    return groups


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--strategy", required=True, choices=["infini", "continuous", "lsh-knn", "window"])
    ap.add_argument("--out", required=True, help="package directory to write")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--minutes", type=float, default=30.0, help="stop after this wall-clock time")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--segment", type=int, default=32)
    ap.add_argument("--layers", type=int, default=2,
                    help="transformer layers, each with the strategy's attention and memory; with --resume of a "
                         "checkpoint with fewer, its layers are kept and the new ones appended as identities (their "
                         "output projections zero), so training starts from the same function")
    ap.add_argument("--min-segments", type=int, default=8)
    ap.add_argument("--max-segments", type=int, default=16)
    ap.add_argument("--curriculum", type=int, default=800,
                    help="steps over which the context grows from 1-2 segments to min..max (0: off)")
    ap.add_argument("--digits", type=int, default=5)
    ap.add_argument("--window", type=int, default=0,
                    help="memory strategies: tokens before the segment that local attention also sees (0: the segment "
                    "only). --resume may change it: the weights do not depend on it")
    ap.add_argument("--knn-k", type=int, default=KNN_K,
                    help=f"lsh-knn: how many candidates a query reads (default {KNN_K}). --resume may change it: the "
                    "weights do not depend on it")
    ap.add_argument("--knn-scale", type=float, default=0.0,
                    help="lsh-knn: the temperature of its read, softmax(q . k * scale) over the k read (0, the "
                    "default: sqrt of the key size). --resume may change it")
    ap.add_argument("--knn-rounds", type=int, default=KNN_ROUNDS,
                    help=f"lsh-knn: hashing rounds, each a rotation drawn once (default {KNN_ROUNDS}). --resume may "
                    "change it: the checkpoint's rounds are kept and further ones drawn (or the first ones kept)")
    ap.add_argument("--fresh-rotations", action="store_true",
                    help="lsh-knn: draw new LSH rotations for every training step; the rotations the model started "
                    "with (its own, or --resume's) are put back at the end and are the ones its package serves")
    ap.add_argument("--boundary", type=float, default=0.0,
                    help="fraction of samples whose passkey block ends at or crosses a segment boundary (0: uniform "
                    "placement only)")
    ap.add_argument("--boundary-starts", default="",
                    help="comma-separated offsets within the segment (each in segment - digits - 2 .. segment - 1) the "
                    "--boundary placements start their block at (empty: all of them, uniformly)")
    ap.add_argument("--last-segment", type=float, default=0.0,
                    help="fraction of samples whose passkey block lies in the question's own (last) segment, a quarter "
                    "of them directly before the question (0: none besides what uniform placement gives)")
    ap.add_argument("--first-segment", type=float, default=0.0,
                    help="fraction of samples whose passkey block starts in the first segment (depth 0 and the first "
                    "boundary; 0: none besides what uniform placement gives)")
    ap.add_argument("--after-bos", type=float, default=0.0,
                    help="fraction of samples whose passkey block starts directly after <bos> (depth 0, where a local "
                    "window still sees <bos>; 0: none besides what the other placements give)")
    ap.add_argument("--before-question", type=float, default=0.0,
                    help="fraction of samples whose passkey block ends directly before the question (depth 1, with "
                    "--any-length at every offset of the question's segment; 0: none besides the quarter of "
                    "--last-segment's)")
    ap.add_argument("--eval-depths", default="",
                    help="comma-separated depths in [0, 1] (1 = directly before the question) the final eval also "
                    "runs at, each at every --eval-mults length (empty: random depth only)")
    ap.add_argument("--eval-mults", default="1,4",
                    help="the final eval runs at these multiples of --max-segments (comma-separated)")
    ap.add_argument("--length-draw", choices=["uniform", "loguniform"], default="uniform",
                    help="how a batch's number of segments is drawn from [min, max]: uniform, or log-uniform (as many "
                         "batches per octave, so long contexts stay in the mix at a fraction of their cost)")
    ap.add_argument("--any-length", action="store_true",
                    help="each batch is 0 to segment-1 tokens shorter than its whole segments, so the question and the "
                         "answer sit anywhere in their segment (the answer crossing into the next one too), as a "
                         "prompt of any length puts them; without it the question is always at the same offset")
    ap.add_argument("--answer-boundary", type=float, default=0.0,
                    help="with --any-length: fraction of batches whose length puts a segment's first row among the "
                         "rows that predict the answer, the answer crossing into a new segment (0: only as often as "
                         "the uniform draw gives it, 5 batches in 32 at the default sizes)")
    ap.add_argument("--turns", type=float, default=0.0,
                    help="share of samples whose filler comes in conversation turns that restart the text "
                         "(passkey.turns_filler), as prompts fed turn by turn do")
    ap.add_argument("--filler-mass", type=float, default=0.0,
                    help="infini: weight of an auxiliary loss, the share of the memory's write mass (z) that filler "
                    "tokens wrote (0: the answer loss only)")
    ap.add_argument("--filler-counts", type=float, default=1.0,
                    help="infini, lsh-knn: the memories count each filler row of a sequence C times, C drawn "
                    "log-uniform in [1, this] per sequence (lsh-knn: rounded down to whole copies; "
                    "counting_filler_rows): the reads see the memory of contexts up to this many times longer than "
                    "those trained (1: each row once)")
    ap.add_argument("--filler-counts-share", type=float, default=0.5,
                    help="with --filler-counts or --filler-counts-length: the share of sequences so counted (the rest "
                    "count each row once)")
    ap.add_argument("--filler-counts-length", default="",
                    help="LO,HI tokens (instead of --filler-counts): per sequence a context length L is drawn "
                    "log-uniform in [LO, HI] and each filler row counts max(1, L / the batch's length) times, so the "
                    "memory is that of an L-token context; draws at or below the batch's own length count once")
    qat.add_arguments(ap)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-ema", type=float, default=0.0,
                    help="keep an exponential moving average of the weights with this decay (e.g. 0.998: about the "
                         "last 500 steps) and evaluate and write it instead of the last step's weights (0: off)")
    ap.add_argument("--key-lr-scale", type=float, default=1.0,
                    help="the key projections' learning rate is --lr times this (with --filler-mass: the filler's keys "
                         "must move by units, lr moves them by about lr a step)")
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--resume", help="continue from a checkpoint written by this script (OUT.model.pt); its strategy "
                    "config must match. A fresh optimizer warms up again; the steps and seconds of the earlier run "
                    "(from OUT.train_log.json beside it) are added to the manifest's totals")
    args = ap.parse_args(argv)
    if not args.key_lr_scale > 0:
        ap.error(f"--key-lr-scale {args.key_lr_scale}: must be > 0 (1: the keys learn at --lr like the rest)")
    if not (math.isfinite(args.filler_counts) and args.filler_counts >= 1):
        ap.error(f"--filler-counts {args.filler_counts}: must be a finite number >= 1 (1: each filler row once)")
    if not 0.0 <= args.weight_ema < 1.0:
        ap.error(f"--weight-ema {args.weight_ema}: must be in [0, 1) (0: off; 0.998 averages about the last 500 steps)")
    args.filler_counts_length = parse_counts_length(ap, args.filler_counts_length)
    counted_by = [flag for flag, given in (("--filler-counts", args.filler_counts > 1),
                                           ("--filler-counts-length", args.filler_counts_length is not None)) if given]
    if len(counted_by) > 1:
        ap.error("--filler-counts-length and --filler-counts: give one of them (both draw the counts)")
    if counted_by and args.strategy not in COUNTED_MEMORIES:
        ap.error(f"{counted_by[0]}: applies to --strategy {' or '.join(COUNTED_MEMORIES)} only (got {args.strategy})")
    for name in PLACEMENTS + ("turns", "answer_boundary", "filler_counts_share"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            ap.error(f"--{name.replace('_', '-')} {getattr(args, name)}: must be in [0, 1]")
    if sum(getattr(args, name) for name in PLACEMENTS) > 1.0:
        ap.error(" + ".join(f"--{name.replace('_', '-')} {getattr(args, name)}" for name in PLACEMENTS)
                 + ": the fractions must sum to at most 1")

    if args.answer_boundary and not args.any_length:
        ap.error("--answer-boundary: applies to batches of any length; give --any-length too")

    block = args.digits + 2
    try:
        boundary_starts = sorted({int(x) for x in args.boundary_starts.split(",") if x.strip()}) or None
    except ValueError:
        ap.error(f"--boundary-starts {args.boundary_starts!r}: must be comma-separated integers")
    if boundary_starts and not all(args.segment - block <= o < args.segment for o in boundary_starts):
        ap.error(f"--boundary-starts {args.boundary_starts}: each offset must be in {args.segment - block}.."
                 f"{args.segment - 1} (a block of {block} tokens that ends at or crosses the segment's end)")
    if boundary_starts and not args.boundary:
        ap.error("--boundary-starts: applies to the --boundary placements; give --boundary too")

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    if args.window < 0:
        ap.error(f"--window {args.window}: must be >= 0")
    if args.window and args.strategy == "window":
        ap.error("--window: applies to the memory strategies only (the window baseline sees one segment back)")
    if args.knn_k != KNN_K and args.strategy != "lsh-knn":
        ap.error(f"--knn-k: applies to --strategy lsh-knn only (got {args.strategy})")
    if args.knn_k < 1:
        ap.error(f"--knn-k {args.knn_k}: must be >= 1")
    if args.knn_rounds != KNN_ROUNDS and args.strategy != "lsh-knn":
        ap.error(f"--knn-rounds: applies to --strategy lsh-knn only (got {args.strategy})")
    if args.knn_rounds < 1:
        ap.error(f"--knn-rounds {args.knn_rounds}: must be >= 1")
    if args.fresh_rotations and args.strategy != "lsh-knn":
        ap.error(f"--fresh-rotations: applies to --strategy lsh-knn only (got {args.strategy})")
    if args.knn_scale and args.strategy != "lsh-knn":
        ap.error(f"--knn-scale: applies to --strategy lsh-knn only (got {args.strategy})")
    if not (math.isfinite(args.knn_scale) and args.knn_scale >= 0):
        ap.error(f"--knn-scale {args.knn_scale}: must be a finite number > 0, or 0 for the default (sqrt of the key "
                 "size)")
    if args.layers < 1:
        ap.error(f"--layers {args.layers}: must be >= 1")
    if args.steps < 1:
        ap.error(f"--steps {args.steps}: must be >= 1")
    cfg = strategy_config(args.strategy, args.segment, layers=args.layers, window=args.window, knn_k=args.knn_k,
                          knn_scale=args.knn_scale, knn_rounds=args.knn_rounds)
    model = EngramModel(cfg).to(args.device)
    earlier, grown_from = None, None
    if args.resume:
        ckpt = torch.load(args.resume, map_location="cpu")
        earlier_cfg = ModelConfig.from_dict(ckpt["config"])  # a field added since fills in its default
        if earlier_cfg.layers > cfg.layers:
            ap.error(f"--layers {args.layers}: must be >= the {earlier_cfg.layers} layers of --resume {args.resume} "
                     "(layers are only added)")
        if earlier_cfg.layers < cfg.layers:
            grown_from = earlier_cfg.layers
            earlier_cfg = with_layers(earlier_cfg, cfg.layers)
        if earlier_cfg != cfg and with_resumable(earlier_cfg, args.window, args.knn_k, args.knn_scale,
                                                      args.knn_rounds) == cfg:
            print(f"--resume: layer 0 attention {earlier_cfg.attention[0]} -> {cfg.attention[0]}, memory "
                  f"{earlier_cfg.memory[0]} -> {cfg.memory[0]} (the same in every layer)", flush=True)
        elif earlier_cfg != cfg:
            raise SystemExit(f"--resume {args.resume}: its config {ckpt['config']} differs from --strategy {args.strategy}'s {cfg.to_dict()}")
        state = with_rounds(ckpt["state"], args.knn_rounds, torch.Generator().manual_seed(args.seed))
        if grown_from is None:
            model.load_state_dict(state)
        else:
            load_and_append_identity_layers(model, state, grown_from)
            print(f"--resume: {grown_from} layers -> {cfg.layers} (layers {grown_from}.."
                  f"{cfg.layers - 1} appended as identities)", flush=True)
        log_path = args.resume[:-len(".model.pt")] + ".train_log.json" if args.resume.endswith(".model.pt") else None
        if log_path and os.path.exists(log_path):
            with open(log_path) as f:
                earlier = json.load(f)["training"]
    nparams = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(param_groups(model, args.weight_decay, args.key_lr_scale), lr=args.lr, betas=(0.9, 0.98))

    lr_at = warmup_cosine(args.lr, args.warmup, args.steps)
    average = weight_average(model, args.weight_ema) if args.weight_ema else None

    log, t0, ema = [], time.time(), None
    step = 0
    hashing = lsh_knn_memories(model) if args.fresh_rotations else []
    served_rotations = [m.rotations.clone() for m in hashing]
    rotation_draws = torch.Generator().manual_seed(args.seed)
    print(f"{args.strategy}: {nparams} parameters ({nparams * 4 / 1024:.0f} KiB), seed {args.seed}", flush=True)
    for step in range(args.steps):
        if time.time() - t0 > args.minutes * 60:
            print(f"time limit reached after {step} steps", flush=True)
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(step) * g["lr_scale"]
        lo, hi = args.min_segments, args.max_segments
        if args.curriculum and step < args.curriculum:
            frac = step / args.curriculum
            hi = max(2, round(2 + frac * (args.max_segments - 2)))
            lo = min(hi, max(1, round(1 + frac * (args.min_segments - 1))))
        if args.length_draw == "loguniform":
            nseg = min(hi, int(math.exp(rng.uniform(math.log(lo), math.log(hi + 1)))))
        else:
            nseg = int(rng.integers(lo, hi + 1))
        length = batch_length(rng, nseg, args.segment, args.digits, args.any_length, args.answer_boundary)
        ids, mask, _ = training_batch(rng, args.batch, length, args.digits, args.segment, args.boundary,
                                     args.last_segment, args.first_segment, boundary_starts, args.turns,
                                     args.after_bos, args.before_question)
        ids, mask = torch.from_numpy(ids).to(args.device), torch.from_numpy(mask).to(args.device)
        redraw_rotations(hashing, rotation_draws)
        with qat.fake_quantized(model, qat.step_type(args.qat, step), args.qat_block):
            counts = filler_counts(rng, args.batch, length, args.filler_counts, args.filler_counts_length,
                                   args.filler_counts_share, whole=args.strategy == "lsh-knn")
            counts = None if counts is None else torch.from_numpy(counts)
            loss, acc, share = answer_loss(model, ids, mask, args.filler_mass > 0, counts)
        total = loss if share is None else loss + args.filler_mass * share
        ema = optimizer_step(opt, model, total, ema, tracked=loss)
        if average is not None:
            average.update_parameters(model)
        if step % args.log_every == 0 or step == args.steps - 1:
            entry = {"step": step, "loss": round(loss.item(), 4), "lossEma": round(ema, 4),
                     "digitAcc": round(acc.item(), 3),
                     **({"fillerShare": round(share.item(), 4)} if share is not None else {}), "segments": nseg, "seconds": round(time.time() - t0, 1)}
            log.append(entry)
            print(json.dumps(entry), flush=True)
    steps_done = step + 1 if step == args.steps - 1 else step
    for memory, rotations in zip(hashing, served_rotations):
        memory.rotations.copy_(rotations)  # evaluated and packaged with the draw it will be served with

    if average is not None:
        take_average(model, average)  # the evaluation and the package are the averaged weights
    erng = np.random.default_rng(args.seed + 1000)
    evals = {}
    for mult in [int(x) for x in args.eval_mults.split(",")]:
        segs = args.max_segments * mult
        d, e = evaluate(model, erng, segs, trials=32, digits=args.digits, device=args.device)
        evals[f"{segs}seg"] = {"digitAcc": round(d, 3), "exactMatch": round(e, 3)}
        if args.turns:
            d, e = evaluate(model, erng, segs, trials=32, digits=args.digits, device=args.device, turns=True)
            evals[f"{segs}seg-turns"] = {"digitAcc": round(d, 3), "exactMatch": round(e, 3)}
        if args.any_length:  # 2 tokens past whole segments: the question at offset segment - 4, the answer crossing
            d, e = evaluate(model, erng, segs, trials=32, digits=args.digits, device=args.device, extra=2)
            evals[f"{segs}seg+2"] = {"digitAcc": round(d, 3), "exactMatch": round(e, 3)}
        for depth in [float(x) for x in args.eval_depths.split(",") if x.strip()]:
            d, e = evaluate(model, erng, segs, trials=32, digits=args.digits, depth=depth, device=args.device)
            evals[f"{segs}seg@{depth:g}"] = {"digitAcc": round(d, 3), "exactMatch": round(e, 3)}
    print("eval", json.dumps(evals), flush=True)

    training = {"task": "passkey", "strategy": args.strategy, "seed": args.seed, "steps": steps_done,
                "finalLoss": round(ema, 4), "batch": args.batch, "lr": args.lr,
                "segments": [args.min_segments, args.max_segments],
                **({"lengthDraw": args.length_draw} if args.length_draw != "uniform" else {}),
                "segmentLength": args.segment, "curriculum": args.curriculum, "digits": args.digits,
                **({"boundary": args.boundary} if args.boundary else {}),
                **({"boundaryStarts": boundary_starts} if boundary_starts else {}),
                **({"lastSegment": args.last_segment} if args.last_segment else {}),
                **({"firstSegment": args.first_segment} if args.first_segment else {}),
                **({"afterBos": args.after_bos} if args.after_bos else {}),
                **({"beforeQuestion": args.before_question} if args.before_question else {}),
                **({"turns": args.turns} if args.turns else {}),
                **({"anyLength": True} if args.any_length else {}),
                **({"answerBoundary": args.answer_boundary} if args.answer_boundary else {}),
                **({"window": args.window} if args.window else {}),
                **({"knnK": args.knn_k} if args.knn_k != KNN_K else {}),
                **({"knnScale": args.knn_scale} if args.knn_scale else {}),
                **({"knnRounds": args.knn_rounds} if args.knn_rounds != KNN_ROUNDS else {}),
                **({"freshRotations": True} if args.fresh_rotations else {}),
                **({"fillerMass": args.filler_mass} if args.filler_mass else {}),
                **({"keyLrScale": args.key_lr_scale} if args.key_lr_scale != 1.0 else {}),
                **({"fillerCounts": args.filler_counts} if args.filler_counts > 1 else {}),
                **({"fillerCountsLength": list(args.filler_counts_length)} if args.filler_counts_length else {}),
                **({"fillerCountsShare": args.filler_counts_share}
                   if args.filler_counts > 1 or args.filler_counts_length else {}),
                **({"weightEma": args.weight_ema} if args.weight_ema else {}),
                **({"layers": args.layers, "grownFrom": grown_from} if grown_from else {}),
                **qat.recorded(args),
                "seconds": round(time.time() - t0, 1), "parameters": nparams, "eval": evals}
    if earlier is not None:
        stages = earlier.get("stages", [dict((k, v) for k, v in earlier.items() if k != "stages")])
        stages.append(dict(training))
        training["steps"] = sum(st["steps"] for st in stages)
        training["seconds"] = round(sum(st["seconds"] for st in stages), 1)
        training["stages"] = stages
    model = model.to("cpu").eval()
    export.export_package(model, args.out, f"passkey-{args.strategy}", training=training,
                          tokenizer=passkey.tokenizer_json())
    base = os.path.normpath(args.out)
    torch.save({"config": cfg.to_dict(), "state": model.state_dict()}, base + ".model.pt")
    with open(base + ".train_log.json", "w") as f:
        json.dump({"training": training, "log": log}, f, indent=1)
    print(f"wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
