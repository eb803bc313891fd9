"""engram_model.schemes (batched, float32, differentiable, used for training and export) against the
independent engram_ref (plain float64 reference of docs/schemes.md), 3 segments each; skipped when
engram_ref is missing. Run: cd tools && python3 -m pytest -q tests/test_model_vs_ref.py"""
import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from engram_model import schemes  # noqa: E402

ref = pytest.importorskip("engram_ref")
from engram_ref import continuous as rc, infini as ri, knn as rk, lsh as rl  # noqa: E402

TOL = 1e-4
H, G, DK, DV, E, N = 4, 2, 4, 3, 8, 6


def close(a, b):
    return (a.double() - b.double()).abs().max().item() <= TOL * (1 + b.double().abs().max().item())


def seg(seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(1, H, N, DK, generator=g), torch.randn(1, G, N, DK, generator=g),
            torch.randn(1, G, N, DV, generator=g), torch.randn(1, N, E, generator=g))


@pytest.mark.parametrize("window,pos", [(None, "rope"), (None, "alibi"), (4, "rope"), (0, "none")])
def test_window_attention(window, pos):
    mine = schemes.WindowAttention(H, G, DK, DV, window, pos, 500.0)
    theirs = rl.CachedAttention(H, G, window=window, positional=pos, rope_theta=500.0)
    st = None
    for s in range(3):
        q, k, v, _ = seg(s)
        out, st = mine(q, k, v, s * N, st)
        assert close(out[0], theirs.forward(q[0], k[0], v[0])), s


def test_lsh_attention():
    mine = schemes.LshAttention(H, DK, DV, rounds=3, buckets=4, chunk=4, seed=1)
    g = torch.Generator().manual_seed(9)
    q, v = torch.randn(1, H, 13, DK, generator=g), torch.randn(1, H, 13, DV, generator=g)
    out, _ = mine(q, None, v, 0, None)
    want = rl.lsh_attention(q[0].double(), v[0].double(), mine.rotations.double(), 4)
    assert close(out[0], want)


@pytest.mark.parametrize("update", ["linear", "delta"])
def test_infini(update):
    mine = schemes.InfiniMemory(H, G, DK, DV, update=update)
    theirs = ri.InfiniMemory(H, G, DK, DV, update=update)
    st = mine.init_state(1)
    for s in range(3):
        q, k, v, _ = seg(10 + s)
        assert close(mine.read(q, st)[0], theirs.read(q[0])), s
        st = mine.write(k, v, None, st)
        theirs.write(k[0], v[0])


@pytest.mark.parametrize("exact", [False, True])
def test_lsh_knn(exact):
    mine = schemes.LshKnnMemory(H, G, DK, DV, capacity=10, rounds=2, buckets=4, k=3, exact=exact, seed=2).eval()
    theirs = rk.KnnMemory(H, G, DK, DV, capacity=10, k=3, exact=exact,
                          rotations=None if exact else mine.rotations.double())
    st = mine.init_state(1)
    for s in range(4):
        q, k, v, _ = seg(20 + s)
        assert close(mine.read(q, st)[0], theirs.read(q[0])), s
        st = mine.write(k, v, None, st)
        theirs.write(k[0], v[0])


@pytest.mark.parametrize("gate,reset,tau", [(None, 0, 0.5), ("conv", 12, 0.5), (None, 0, "uniform")])
def test_continuous(gate, reset, tau):
    # equal segment lengths: with tau uniform every update has the same n and its own tau, so a fit cached by n alone
    # would be reused wrongly
    mine = schemes.ContinuousMemory(H, DK, DV, E, basis=16, widths=(0.05, 0.1), samples=12, tau=tau,
                                    reset_every=reset, input_gate=gate)
    with torch.no_grad():
        for p in (mine.mu_weight, mine.mu_bias, mine.sigma_weight, mine.sigma_bias):
            p.normal_(0, 0.5)
    weights = {k: t.detach().double() for k, t in mine.weights().items()}
    theirs = rc.ContinuousMemory(H, DK, DV, E, weights, basis=16, widths=(0.05, 0.1), samples=12, tau=tau,
                                 reset_every=reset, input_gate=gate or "none")
    st = mine.init_state(1)
    for s in range(4):
        q, _, _, h = seg(30 + s)
        want, _, _ = theirs.read(q[0])
        assert close(mine.read(q, st)[0].detach(), want), s
        st = mine.write(None, None, h, st)
        theirs.write(h[0])
