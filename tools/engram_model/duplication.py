"""The Reformer paper's duplication task (Kitaev, Kaiser, Levskaya, arXiv 2001.04451, section 5).

Every sequence has the form ``0 w 0 w``: the separator 0, a string w of random symbols 1..127 (vocabulary 128),
then the separator and w again. A sequence of N tokens has |w| = N / 2 - 1 (the paper: N = 1024, |w| = 511).
The first w is unpredictable; the second is fully determined by it, so the metric is the accuracy per token of
the second w: the logits at position t predict token t + 1, scored for the targets N/2 + 1 .. N - 1 (|w| of them).
The scoring is teacher-forced (each prediction sees the true earlier tokens). The share of sequences whose whole
second w is predicted right ("exact") is also the share a greedy free-running copy gets right: when every
teacher-forced prediction is right, free-running generation reproduces the same tokens.

``sample(rng, length)`` draws w with ``rng.integers(1, VOCAB, size=|w|)``; with ``JavaSplittableRandom(seed)``
(passkey.py) that is one ``1 + nextInt(127)`` per symbol, in order, which is what the Java twin
cli/.../demo/DuplicationTask.java draws from ``new SplittableRandom(seed)``: both give the same sequence for a seed
(cli/src/test/resources/duplication-golden.json holds both sides to it).
"""
import numpy as np

from .passkey import JavaSplittableRandom

VOCAB = 128
SEPARATOR = 0


def half(length):
    """|w| + 1 = N / 2: the index of the second separator."""
    if length < 4 or length % 2:
        raise ValueError(f"length {length}: must be even and at least 4 (0 w 0 w with |w| >= 1)")
    return length // 2


def sample(rng, length):
    """One sequence ``0 w 0 w`` of ``length`` tokens (int64 [length])."""
    m = half(length)
    w = rng.integers(1, VOCAB, size=m - 1)
    ids = np.empty(length, dtype=np.int64)
    ids[0] = SEPARATOR
    ids[1:m] = w
    ids[m] = SEPARATOR
    ids[m + 1:] = w
    return ids


def batch(rng, size, length):
    """ids [size, length] (numpy Generator: one draw for the whole batch, the rows as sample() lays them out) and
    the target mask [size, length]: True at the tokens of the second w (the targets of the logits one position
    earlier)."""
    m = half(length)
    w = rng.integers(1, VOCAB, size=(size, m - 1))
    ids = np.zeros((size, length), dtype=np.int64)
    ids[:, 1:m] = w
    ids[:, m + 1:] = w
    mask = np.zeros((size, length), dtype=bool)
    mask[:, m + 1:] = True
    return ids, mask


def score(pred, ids):
    """(per-token accuracy, exact share) of predictions pred [B, N] (argmax of the logits at t, for token t + 1)
    against ids [B, N]: over the second w only."""
    m = half(ids.shape[1])
    ok = pred[:, m:-1] == ids[:, m + 1:]
    return float(ok.float().mean()), float(ok.all(-1).float().mean())


def golden_cases():
    """Fixed (seed, length) cases and the sequences sample() gives with JavaSplittableRandom(seed): the fixture that
    the Java DuplicationTaskTest compares DuplicationTask against."""
    cases = []
    for seed, length in [(1, 8), (2, 64), (42, 128), (-7, 256), (123456789, 1024), (0, 4)]:
        ids = sample(JavaSplittableRandom(seed), length)
        cases.append({"seed": seed, "length": length, "ids": [int(i) for i in ids]})
    return cases


def demo_trial_seed(seed, trial):
    """The SplittableRandom seed of the Java demo's trial ``trial`` (DuplicationDemo.trialRandom: seed * 1000003 +
    trial in Java long arithmetic)."""
    v = (seed * 1_000_003 + trial) & ((1 << 64) - 1)
    return v - (1 << 64) if v >= 1 << 63 else v


def demo_expectations(pkg_dir, seed, trials):
    """What `engram demo`'s duplication experiment must count on a full-attention package, computed here from the
    package's files alone (export.PackageRunner) on the demo's own sequences: per trial the number of second-w tokens
    the greedy prediction gets right."""
    import json
    import os

    import torch

    from .export import PackageRunner
    runner = PackageRunner(pkg_dir)
    with open(os.path.join(pkg_dir, "engram.json")) as f:
        length = json.load(f)["training"]["length"]
    correct = []
    for t in range(trials):
        ids = torch.from_numpy(sample(JavaSplittableRandom(demo_trial_seed(seed, t)), length))[None]
        pred = runner.run(ids)[0].argmax(-1)
        m = half(length)
        correct.append(int((pred[m:-1] == ids[0, m + 1:]).sum()))
    return {"seed": seed, "trials": trials, "length": length, "scored": half(length) - 1, "correct": correct}
