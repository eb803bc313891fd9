"""Sanity checks of tools/engram_ref itself (independent properties, each able to fail).
Run from /work/main: /usr/bin/python3 -m pytest -q tools/tests/test_reference.py"""
import filecmp
import math
import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from engram_ref import continuous as cm  # noqa: E402
from engram_ref import make_cases  # noqa: E402
from engram_ref.infini import InfiniMemory, combine, sigma  # noqa: E402
from engram_ref.knn import KnnMemory  # noqa: E402
from engram_ref.lsh import (CachedAttention, alibi_slopes, full_attention_self_masked,  # noqa: E402
                            hash_buckets, lsh_attention, normalise, rope)

D = torch.float64


def rnd(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=D)


# ------------------------------------------------------------------------------------------- infini
@pytest.mark.parametrize("update", ["linear", "delta"])
def test_infini_first_segment_reads_exactly_zero(update):
    mem = InfiniMemory(4, 2, 3, 2, update)
    assert torch.equal(mem.read(rnd(4, 5, 3)), torch.zeros(4, 5, 2, dtype=D))
    mem.write(rnd(2, 5, 3, seed=1), rnd(2, 5, 2, seed=2))
    assert mem.read(rnd(4, 5, 3)).abs().min() > 0


def test_infini_single_pair_is_recalled_and_delta_adds_nothing_for_it():
    k, v = rnd(1, 1, 3), rnd(1, 1, 2, seed=1)
    mem = InfiniMemory(1, 1, 3, 2, "delta")
    mem.write(k, v)
    assert torch.allclose(mem.read(k), v)                      # sk sk^T v / (sk . sk) = v
    M = mem.M.clone()
    mem.write(k, v)                                            # already retrieved exactly: no change
    assert torch.allclose(mem.M, M, atol=1e-12)
    lin = InfiniMemory(1, 1, 3, 2, "linear")
    lin.write(k, v), lin.write(k, v)
    assert torch.allclose(lin.M, 2 * M)


def test_infini_grouped_heads_and_gate():
    H, G = 4, 2
    q, k, v = rnd(H, 3, 3), rnd(G, 4, 3, seed=1), rnd(G, 4, 2, seed=2)
    mem = InfiniMemory(H, G, 3, 2)
    mem.write(k, v)
    out = mem.read(q)
    for h in range(H):                                         # grouped: kv head h // 2, not h % 2
        single = InfiniMemory(1, 1, 3, 2)
        single.write(k[h // 2:h // 2 + 1], v[h // 2:h // 2 + 1])
        assert torch.allclose(out[h], single.read(q[h:h + 1])[0])
    sq = sigma(q[3])
    manual = (sq @ (sigma(k[1]).T @ v[1])) / (sq @ sigma(k[1]).sum(0))[:, None]
    assert torch.allclose(out[3], manual)
    local = rnd(H, 3, 2, seed=3)
    beta = torch.tensor([0.0, 100.0, -100.0, 1.0], dtype=D)
    c = combine(out, local, beta)
    assert torch.allclose(c[0], (out[0] + local[0]) / 2)
    assert torch.allclose(c[1], out[1]) and torch.allclose(c[2], local[2])


# ---------------------------------------------------------------------------------------------- lsh
@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("rounds", [1, 3])
def test_lsh_single_chunk_equals_full_attention_with_self_mask(causal, rounds):
    q, v = rnd(2, 7, 4), rnd(2, 7, 3, seed=1)
    rot = rnd(2, 4, rounds, 2, seed=2)
    assert torch.allclose(lsh_attention(q, v, rot, chunk=8, causal=causal),
                          full_attention_self_masked(q, v, causal), atol=1e-12)


def test_lsh_several_chunks_restrict_support_and_wrap_within_the_round():
    N, chunk = 11, 3                                          # padded to 12: 4 chunks
    q = rnd(1, N, 4, seed=5) * 2
    v = torch.eye(N, dtype=D)[None]                           # one-hot values: row i = attention weights
    rot = rnd(1, 4, 1, 2, seed=6)
    att = lsh_attention(q, v, rot, chunk=chunk, causal=False)[0]
    assert torch.allclose(att.sum(1), torch.ones(N, dtype=D))  # padding never takes weight
    b, _ = hash_buckets(q[0], rot[0, :, 0, :])
    order = sorted(range(12), key=lambda i: (int(b[i]) if i < N else 99, i))
    chunks = [order[c * 3:(c + 1) * 3] for c in range(4)]
    for c in range(4):
        allowed = set(chunks[c]) | set(chunks[c - 1])          # c - 1 = -1 wraps to the last chunk
        for i in chunks[c]:
            if i < N:
                outside = [j for j in range(N) if j not in allowed]
                assert att[i, outside].abs().max() == 0
                inside = [j for j in allowed if j < N and j != i]
                assert att[i, inside].min() > 0
    assert not torch.allclose(att, full_attention_self_masked(q, v, False)[0], atol=1e-3)
    causal = lsh_attention(q, v, rot, chunk=chunk, causal=True)[0]
    assert torch.triu(causal, 1).abs().max() == 0              # never a later token
    assert torch.allclose(causal[0], v[0, 0])                  # the first token can only see itself


def test_lsh_round_mixing_by_logsumexp():
    q, v = rnd(1, 6, 4, seed=3), rnd(1, 6, 2, seed=4)
    rot = rnd(1, 4, 2, 2, seed=7)
    both = lsh_attention(q, v, rot, chunk=2, causal=True)
    o0 = lsh_attention(q, v, rot[:, :, :1], chunk=2, causal=True)
    o1 = lsh_attention(q, v, rot[:, :, 1:], chunk=2, causal=True)
    # each output is a convex mix of the two single-round outputs
    lam = ((both - o1) * (o0 - o1)).sum(-1) / ((o0 - o1) ** 2).sum(-1).clamp(min=1e-30)
    rebuilt = lam[..., None] * o0 + (1 - lam[..., None]) * o1
    assert torch.allclose(rebuilt, both, atol=1e-9)
    assert ((lam > -1e-9) & (lam < 1 + 1e-9)).all()


# ---------------------------------------------------------------------------------------------- knn
def brute_knn(stored_k, stored_v, q, k, scale):
    kn, qn = normalise(stored_k), normalise(q)
    s = qn @ kn.T
    top = torch.topk(s, min(k, s.shape[1]), dim=1)
    w = torch.softmax(top.values * scale, dim=1)
    return torch.einsum("nk,nkd->nd", w, stored_v[top.indices])


def test_knn_exact_equals_brute_force_with_eviction():
    H, G, dk, dv, cap, k = 4, 2, 5, 3, 7, 3
    mem = KnnMemory(H, G, dk, dv, capacity=cap, k=k, exact=True)
    ks, vs = [], []
    for s, n in enumerate([4, 5, 2, 3]):
        q = rnd(H, 3, dk, seed=10 + s)
        out = mem.read(q)
        for h in range(H):
            g = h // 2
            if not ks:
                assert out[h].abs().max() == 0
                continue
            K = torch.cat([x[g] for x in ks])[-cap:]
            V = torch.cat([x[g] for x in vs])[-cap:]
            assert torch.allclose(out[h], brute_knn(K, V, q[h], k, math.sqrt(dk)))
        kk, vv = rnd(G, n, dk, seed=20 + s), rnd(G, n, dv, seed=30 + s)
        ks.append(kk), vs.append(vv)
        mem.write(kk, vv)


def test_knn_hashing_with_one_shared_bucket_equals_exact_and_ties_go_older():
    G, dk = 1, 4
    rot = torch.zeros(G, dk, 3, 2, dtype=D)                    # every vector hashes to bucket 0
    a, b = KnnMemory(2, 1, dk, 2, k=2, rotations=rot), KnnMemory(2, 1, dk, 2, k=2, exact=True)
    for s in range(3):
        kk, vv, q = rnd(G, 4, dk, seed=s), rnd(G, 4, 2, seed=s + 5), rnd(2, 3, dk, seed=s + 9)
        assert torch.allclose(a.read(q), b.read(q))
        a.write(kk, vv), b.write(kk, vv)
    key = rnd(1, 1, dk, seed=40)
    mem = KnnMemory(1, 1, dk, 1, k=1, exact=True)
    mem.write(key, torch.tensor([[[1.0]]], dtype=D))
    mem.write(3 * key, torch.tensor([[[2.0]]], dtype=D))       # same normalised key, newer
    assert mem.read(key).item() == 1.0
    mem.write(torch.zeros(1, 1, dk, dtype=D), torch.tensor([[[5.0]]], dtype=D))
    assert torch.isfinite(mem.keys[0]).all() and mem.keys[0][-1].abs().max() == 0


def test_knn_no_candidate_reads_zero():
    rot = torch.zeros(1, 2, 1, 2, dtype=D)
    rot[0, :, 0, :] = torch.eye(2, dtype=D)                    # bucket = argmax(x0, x1, -x0, -x1)
    mem = KnnMemory(1, 1, 2, 1, k=2, rotations=rot)
    mem.write(torch.tensor([[[1.0, 0.0]]], dtype=D), torch.tensor([[[7.0]]], dtype=D))
    out = mem.read(torch.tensor([[[0.0, -1.0], [1.0, 0.2]]], dtype=D))
    assert out[0, 0, 0] == 0 and out[0, 1, 0] == 7.0


# --------------------------------------------------------------------------------------- continuous
def test_closed_form_read_equals_numerical_integration():
    c, w = cm.basis_params(8, [0.05, 0.1])
    t = torch.linspace(-3, 4, 200001, dtype=D)
    for mu, s2 in [(0.3, 0.01), (0.71, 0.0004), (0.05, 0.2)]:
        p = cm.normal_pdf(t, torch.tensor(mu, dtype=D), torch.tensor(s2, dtype=D))
        numeric = torch.trapz(p[None, :] * cm.psi(t, c, w), t)
        closed = cm.normal_pdf(torch.tensor(mu, dtype=D), c, s2 + w ** 2)
        assert torch.allclose(numeric, closed, rtol=1e-6, atol=1e-9)


def test_read_equals_the_expectation_of_the_signal_under_the_attention_density():
    H, dk, dv, e, N = 2, 3, 2, 4, 8
    W = continuous_weights(H, dk, dv, e, N, seed=3)
    mem = cm.ContinuousMemory(H, dk, dv, e, W, basis=N, widths=[0.05, 0.1], samples=6)
    mem.write(rnd(5, e, seed=70))
    q = rnd(H, 2, dk, seed=71)
    out, mu, s2 = mem.read(q)
    t = torch.linspace(-3, 4, 200001, dtype=D)
    V = (mem.B @ W["proj_value"].T).reshape(N, H, dv)
    z = torch.zeros(2, H * dv, dtype=D)
    for h in range(H):
        for i in range(2):
            dens = cm.normal_pdf(t, mu[h, i], s2[h, i])
            signal = cm.psi(t, mem.c, mem.w).T @ V[:, h, :]                     # [T, dv]
            z[i, h * dv:(h + 1) * dv] = torch.trapz(dens[:, None] * signal, t, dim=0)
    assert torch.allclose(out, z @ W["out"].T, rtol=1e-6, atol=1e-8)


def test_basis_layout_and_pdf():
    c, w = cm.basis_params(6, [0.005, 0.01])
    assert c.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0, 1.0] and w.tolist() == [0.005, 0.01] * 3
    x = torch.tensor([0.52], dtype=D)
    assert math.isclose(cm.psi(x, c, w)[3, 0].item(),
                        math.exp(-0.5 * (0.02 / 0.01) ** 2) / (0.01 * math.sqrt(2 * math.pi)))


def test_ridge_fit_improves_with_more_basis_functions():
    t = (torch.arange(1, 201, dtype=D) - 0.5) / 200
    X = torch.stack([torch.sin(2 * math.pi * t), torch.cos(5 * t)], dim=1)
    errs = []
    for N in [8, 16, 32, 64]:
        c, w = cm.basis_params(N, [0.05, 0.1])
        B = cm.ridge_fit(t, X, c, w, 0.5)
        errs.append(((cm.psi(t, c, w).T @ B - X) ** 2).mean().sqrt().item())
    assert all(a > b for a, b in zip(errs, errs[1:])) and errs[-1] < 0.01, errs


def continuous_weights(H, dk, dv, e, N, seed=0):
    return {"proj_key": rnd(H * dk, e, seed=seed), "proj_value": rnd(H * dv, e, seed=seed + 1),
            "mu.weight": rnd(N, seed=seed + 2) * 0.3, "mu.bias": rnd(1, seed=seed + 3),
            "sigma.weight": rnd(N, seed=seed + 4) * 0.3, "sigma.bias": rnd(1, seed=seed + 5),
            "out": rnd(e, H * dv, seed=seed + 6),
            "gate.weight": rnd(e, e, 3, seed=seed + 7), "gate.bias": rnd(e, seed=seed + 8)}


def test_continuous_empty_read_reset_and_gate():
    H, dk, dv, e, N = 2, 3, 2, 4, 10
    W = continuous_weights(H, dk, dv, e, N)
    mem = cm.ContinuousMemory(H, dk, dv, e, W, basis=N, widths=[0.05, 0.1], samples=6, reset_every=7,
                              input_gate="conv")
    out, mu, s2 = mem.read(rnd(H, 3, dk))
    assert torch.equal(out, torch.zeros(3, e, dtype=D)) and mu is None and s2 is None
    h1, h2 = rnd(3, e, seed=50), rnd(4, e, seed=51)
    mem.write(h1)                                          # first write, 3 tokens, gated
    t = (torch.arange(1, 4, dtype=D) - 0.5) / 3
    assert torch.allclose(mem.B, cm.ridge_fit(t, mem.gate(h1), mem.c, mem.w, 0.5))
    fresh = cm.ContinuousMemory(H, dk, dv, e, W, basis=N, widths=[0.05, 0.1], samples=6, input_gate="conv")
    fresh.write(h2)
    mem.write(h2)                                          # 3 < 7: an update
    assert not torch.allclose(mem.B, fresh.B)
    mem.write(h2)                                          # 7 >= 7: emptied first -> a first write
    assert torch.allclose(mem.B, fresh.B)
    # the gate: X * sigmoid(conv1d(X)) with kernel 3, padding 1, by hand for the middle row
    y = W["gate.bias"] + sum(W["gate.weight"][:, :, t] @ h2[t] for t in range(3))
    assert torch.allclose(mem.gate(h2)[1], h2[1] * torch.sigmoid(y))
    _, mu, s2 = mem.read(rnd(H, 2, dk, seed=60))
    assert mu.shape == (H, 2) and (s2 >= 1e-4).all() and ((mu > 0) & (mu < 1)).all()


def test_sticky_positions_follow_the_read():
    mu = torch.full((2, 3), 0.37, dtype=D)
    s2 = torch.full((2, 3), 1e-8, dtype=D)
    pos, _ = cm.sticky_positions(mu, s2, torch.rand(7, dtype=D), 10)
    assert torch.allclose(pos, torch.full((7,), 0.3, dtype=D))     # all in bin [0.3, 0.4): left edge
    mu = torch.tensor([[0.05, 0.95]], dtype=D)
    pos, _ = cm.sticky_positions(mu, torch.full((1, 2), 1e-8, dtype=D),
                                 torch.tensor([0.9, 0.1, 0.6, 0.4], dtype=D), 10)
    assert pos.tolist() == [0.0, 0.0, 0.9, 0.9]                   # sorted ascending


# ------------------------------------------------------------------------------------ full / window
def test_rope_rotate_half_by_hand_and_relative():
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]], dtype=D)
    got = rope(x, torch.tensor([1]), 4.0)[0]
    want = [math.cos(1) - 3 * math.sin(1), 2 * math.cos(0.5) - 4 * math.sin(0.5),
            3 * math.cos(1) + math.sin(1), 4 * math.cos(0.5) + 2 * math.sin(0.5)]
    assert torch.allclose(got, torch.tensor(want, dtype=D))
    q, k = rnd(1, 6), rnd(1, 6, seed=1)
    a = rope(q, torch.tensor([7]), 100.0) @ rope(k, torch.tensor([3]), 100.0).T
    b = rope(q, torch.tensor([14]), 100.0) @ rope(k, torch.tensor([10]), 100.0).T
    assert torch.allclose(a, b)


def test_alibi_slopes():
    assert alibi_slopes(8).tolist() == [2.0 ** -(i + 1) for i in range(8)]


@pytest.mark.parametrize("positional", ["none", "rope", "alibi"])
def test_window_and_full(positional):
    H, G, lengths = 4, 2, [3, 4, 2]
    segs = [(rnd(H, n, 4, seed=i), rnd(G, n, 4, seed=10 + i), rnd(G, n, 3, seed=20 + i))
            for i, n in enumerate(lengths)]
    full, wide, zero = (CachedAttention(H, G, w, positional, 50.0) for w in (None, 100, 0))
    one = CachedAttention(H, G, None, positional, 50.0)
    q, k, v = (torch.cat([s[i] for s in segs], dim=1) for i in range(3))
    all_at_once = one.forward(q, k, v)
    outs, start = [], 0
    for i, (sq, sk, sv) in enumerate(segs):
        f = full.forward(sq, sk, sv)
        assert torch.allclose(f, wide.forward(sq, sk, sv))                  # window >= total = full
        assert torch.allclose(f, all_at_once[:, start:start + sq.shape[1]])
        z = zero.forward(sq, sk, sv)
        alone = CachedAttention(H, G, None, positional, 50.0)
        alone.next_pos = start
        assert torch.allclose(z, alone.forward(sq, sk, sv))                 # window 0: segment only
        if i:
            assert not torch.allclose(z, f)
        start += sq.shape[1]


# ------------------------------------------------------------------------------------------- cases
def test_make_cases_is_deterministic_and_matches_the_committed_files(tmp_path):
    written = make_cases.generate(tmp_path, verbose=False)
    root = Path(make_cases.ROOT)
    for p in written:
        rel = p.relative_to(tmp_path)
        assert p.stat().st_size < 200_000
        committed = root / rel
        assert committed.exists() and filecmp.cmp(p, committed, shallow=False), rel
        case = make_cases.load_case(p)
        got, _ = make_cases.run_case(case)
        assert make_cases.worst_violation(case["expected"], got, case["tolerance"]) <= 1e-2


def test_conformance_checker_can_fail(tmp_path):
    src = Path(make_cases.ROOT) / make_cases.INF / "torch-infini-delta-mha.json"
    case = make_cases.load_case(src)
    case["config"] = {"update": "linear"}                                   # the wrong rule
    got, _ = make_cases.run_case(case)
    assert make_cases.worst_violation(case["expected"], got, case["tolerance"]) > 1


def test_window_sinks_change_what_the_reference_computes():
    """The hand-derived sinks case fails without the sink (token 0 would leave the window like any other)."""
    case = make_cases.load_case(Path(make_cases.ROOT) / make_cases.BAS / "hand-window1-sinks1-none.json")
    got, _ = make_cases.run_case(case)
    assert make_cases.worst_violation(case["expected"], got, case["tolerance"]) <= 1
    case["config"] = dict(case["config"], sinks=0)
    got, _ = make_cases.run_case(case)
    assert make_cases.worst_violation(case["expected"], got, case["tolerance"]) > 1


JAVA_CASES = sorted(p for d in (make_cases.INF, make_cases.CON, make_cases.LSH, make_cases.BAS)
                    for p in (Path(make_cases.ROOT) / d).glob("*.json") if not p.name.startswith("torch-"))


@pytest.mark.parametrize("path", JAVA_CASES, ids=lambda p: p.name)
def test_agrees_with_the_cases_written_by_the_java_side(path):
    """Cross-check: the Java modules' own hand-derived and double-precision reference cases."""
    case = make_cases.load_case(path)
    try:
        got, _ = make_cases.run_case(case)
    except make_cases.NotReproducible as ex:
        pytest.skip(str(ex))
    assert make_cases.worst_violation(case["expected"], got, case["tolerance"]) <= 1
