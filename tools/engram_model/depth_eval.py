"""Passkey exact-match accuracy by depth for a PyTorch checkpoint: many prompts per depth, for choosing among
trainings. The demo's 20 trials a cell put one cell's standard error near 5 points; 768 prompts a depth put it near
0.8, so two checkpoints a point apart can be told apart.

    cd tools && python3 -m engram_model.depth_eval OUT.model.pt [--depths 0,0.25,0.5,0.75,0.9,1]
        [--lengths 512-542] [--per-length 48] [--seed 1234] [--json FILE]

Each depth draws ``--per-length`` prompts (passkey.sample's layout: bos, filler, the passkey block at that depth,
filler, the question) at every even length of ``--lengths`` (default 512, 514, ..., 542: the question at 16 offsets
within its segment), from one generator seeded per depth, so every checkpoint meets the same prompts. A prompt counts
when all its digits are the greedy prediction. Prints one line per depth and the JSON summary.
"""
import argparse
import json
import sys

import numpy as np
import torch

from . import passkey
from .model import EngramModel, ModelConfig
from .train import evaluate

DIGITS = 5  # the bundled passkey models' (train.py's default)


def parse_lengths(ap, text):
    """'A-B' (every even length from A to B) or 'A,B,...'."""
    try:
        if "-" in text:
            lo, hi = (int(v) for v in text.split("-"))
            lengths = list(range(lo, hi + 1, 2))
        else:
            lengths = [int(v) for v in text.split(",")]
    except ValueError:
        ap.error(f"--lengths {text!r}: expected A-B or A,B,... (token counts)")
    if not lengths:
        ap.error(f"--lengths {text!r}: names no length")
    return lengths


def parse_depths(ap, text):
    try:
        depths = [float(v) for v in text.split(",")]
    except ValueError:
        ap.error(f"--depths {text!r}: expected comma-separated numbers in [0, 1]")
    bad = [d for d in depths if not 0.0 <= d <= 1.0]
    if bad:
        ap.error(f"--depths {bad[0]}: must lie in [0, 1]")
    return depths


def depth_accuracy(model, depths, lengths, per_length, seed, digits=DIGITS):
    """{depth: exact-match rate} over per_length prompts at each length (train.evaluate's scoring, one generator per
    depth seeded alike, so every checkpoint meets the same prompts)."""
    segment = model.cfg.segment
    result = {}
    with torch.no_grad():
        for depth in depths:
            rng = np.random.default_rng(seed)
            rates = [evaluate(model, rng, length // segment, per_length, digits, depth, extra=length % segment)[1]
                     for length in lengths]
            result[depth] = sum(rates) / len(rates)
    model.eval()  # evaluate leaves the model in training mode
    return result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", help="a checkpoint written by train.py (OUT.model.pt)")
    ap.add_argument("--depths", default="0,0.25,0.5,0.75,0.9,1")
    ap.add_argument("--lengths", default="512-542")
    ap.add_argument("--per-length", type=int, default=48)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", help="also write the summary here")
    args = ap.parse_args(argv)
    depths, lengths = parse_depths(ap, args.depths), parse_lengths(ap, args.lengths)
    if args.per_length < 1:
        ap.error(f"--per-length {args.per_length}: must be >= 1")
    if args.threads < 1:
        ap.error(f"--threads {args.threads}: must be >= 1")
    try:
        passkey.sample(np.random.default_rng(0), min(lengths), DIGITS)  # refuses a length with no room for the prompt
    except ValueError as e:
        ap.error(f"--lengths: {e}")
    torch.set_num_threads(args.threads)
    ckpt = torch.load(args.checkpoint, map_location="cpu")
    model = EngramModel(ModelConfig.from_dict(ckpt["config"]))
    model.load_state_dict(ckpt["state"])
    model.eval()
    result = depth_accuracy(model, depths, lengths, args.per_length, args.seed)
    for depth, rate in result.items():
        print(f"depth {depth:g}: {100 * rate:.1f}% of {args.per_length * len(lengths)}", flush=True)
    summary = {"checkpoint": args.checkpoint, "lengths": lengths, "perLength": args.per_length, "seed": args.seed,
               "exact": {f"{d:g}": r for d, r in result.items()},
               "mean": sum(result.values()) / len(result)}
    print(json.dumps(summary))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
