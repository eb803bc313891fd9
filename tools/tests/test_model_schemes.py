"""engram_model.schemes against plain loop implementations written from docs/schemes.md and
baselines/README.md (double precision, one token / one head at a time), plus a few hand-computed values.
Run: cd tools && python3 -m pytest -q tests/test_model_schemes.py"""
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from engram_model import schemes  # noqa: E402

torch.manual_seed(0)


def rnd(*shape):
    return torch.randn(*shape)


# ------------------------------------------------------------------------------------------ positional
def test_rope_rotate_half_by_hand():
    # dk = 4, theta = 4: pair 0 (dims 0, 2) has frequency 1, pair 1 (dims 1, 3) frequency 4^(-1/2) = 0.5
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    got = schemes.apply_rope(x, torch.tensor([1]), 4.0)[0]
    a0, a1 = 1.0, 0.5
    want = [1 * math.cos(a0) - 3 * math.sin(a0), 2 * math.cos(a1) - 4 * math.sin(a1),
            3 * math.cos(a0) + 1 * math.sin(a0), 4 * math.cos(a1) + 2 * math.sin(a1)]
    assert np.allclose(got.numpy(), want, atol=1e-6)


def naive_window(q, k, v, start, past, window, positional, theta):
    """q [H, N, dk] for positions start.., k/v of the whole sequence so far [G, P, d] (P = start + N)."""
    H, N, dk = q.shape
    G = k.shape[0]
    out = torch.zeros(H, N, v.shape[2], dtype=torch.float64)
    lo = 0 if window is None else max(0, start - window)
    for h in range(H):
        g = h // (H // G)
        for i in range(N):
            p = start + i
            js = list(range(lo, p + 1))
            qi = q[h, i]
            if positional == "rope":
                qi = schemes.apply_rope(qi[None], torch.tensor([p]), theta)[0]
            logits = []
            for j in js:
                kj = k[g, j]
                if positional == "rope":
                    kj = schemes.apply_rope(kj[None], torch.tensor([j]), theta)[0]
                l = float(qi.double() @ kj.double()) / math.sqrt(dk)
                if positional == "alibi":
                    l -= 2.0 ** (-8.0 * (h + 1) / H) * (p - j)
                logits.append(l)
            w = torch.softmax(torch.tensor(logits, dtype=torch.float64), 0)
            out[h, i] = sum(w[t] * v[g, j].double() for t, j in enumerate(js))
    return out


def test_window_and_full_attention_match_the_definition():
    H, G, dk, dv, n = 4, 2, 4, 3, 5
    for window, pos in [(None, "rope"), (None, "alibi"), (3, "rope"), (0, "none"), (7, "alibi")]:
        att = schemes.WindowAttention(H, G, dk, dv, window, pos, 100.0)
        state, ks, vs = att.init_state(1), [], []
        for s in range(3):
            q, k, v = rnd(1, H, n, dk), rnd(1, G, n, dk), rnd(1, G, n, dv)
            ks.append(k[0]), vs.append(v[0])
            out, state = att(q, k, v, s * n, state)
            want = naive_window(q[0], torch.cat(ks, 1), torch.cat(vs, 1), s * n, None, window, pos, 100.0)
            assert torch.allclose(out[0].double(), want, atol=1e-5), (window, pos, s)


# ------------------------------------------------------------------------------------------ lsh
def naive_lsh(q, v, rot, chunk, causal=True):
    """docs/schemes.md section 3 for one head: q [N, dk], v [N, dv], rot [dk, rounds, nb/2]."""
    n, dk = q.shape
    rounds, half = rot.shape[1], rot.shape[2]
    npad = -(-n // chunk) * chunk
    nch = npad // chunk
    qd, vd = q.double(), v.double()
    keys = [qd[j] / qd[j].norm() for j in range(n)]
    outs, lses = [], []
    for r in range(rounds):
        buckets = []
        for i in range(n):
            proj = qd[i] @ rot[:, r, :].double()
            buckets.append(int(torch.argmax(torch.cat([proj, -proj]))))
        order = sorted(range(npad), key=lambda i: (buckets[i] if i < n else 2 * half, i))
        chunk_of = {tok: idx // chunk for idx, tok in enumerate(order)}
        members = [order[c * chunk:(c + 1) * chunk] for c in range(nch)]
        o = torch.zeros(n, v.shape[1], dtype=torch.float64)
        lse = torch.zeros(n, dtype=torch.float64)
        for i in range(n):
            c = chunk_of[i]
            allowed = list(members[c]) + (list(members[(c - 1) % nch]) if nch > 1 else [])
            js = [j for j in allowed if j < n]
            logits = []
            for j in js:
                l = float(qd[i] @ keys[j])
                if causal and j > i:
                    l = -1e9
                if j == i:
                    l = -1e5
                logits.append(l)
            lt = torch.tensor(logits, dtype=torch.float64)
            w = torch.softmax(lt, 0)
            o[i] = sum(w[t] * vd[j] for t, j in enumerate(js))
            lse[i] = torch.logsumexp(lt, 0)
        outs.append(o)
        lses.append(lse)
    lse = torch.stack(lses)
    wr = torch.exp(lse - torch.logsumexp(lse, 0))
    return sum(wr[r][:, None] * outs[r] for r in range(rounds))


def test_lsh_attention_matches_the_definition():
    H, dk, dv = 2, 4, 3
    for n, chunk, rounds, buckets in [(13, 4, 3, 4), (8, 4, 1, 2), (5, 8, 2, 4), (16, 2, 2, 8)]:
        att = schemes.LshAttention(H, dk, dv, rounds=rounds, buckets=buckets, chunk=chunk, seed=n)
        q, v = rnd(1, H, n, dk), rnd(1, H, n, dv)
        out, _ = att(q, None, v, 0, None)
        for h in range(H):
            want = naive_lsh(q[0, h], v[0, h], att.rotations[h], chunk)
            assert torch.allclose(out[0, h].double(), want, atol=1e-5), (n, chunk, rounds, h)


def test_lsh_single_chunk_is_full_attention_with_self_mask():
    H, n, dk = 2, 6, 4
    att = schemes.LshAttention(H, dk, dk, rounds=1, buckets=2, chunk=8)
    q, v = rnd(1, H, n, dk), rnd(1, H, n, dk)
    out, _ = att(q, None, v, 0, None)
    kn = q / q.norm(dim=-1, keepdim=True)
    logits = q @ kn.transpose(-1, -2)
    i = torch.arange(n)
    logits = logits.masked_fill(i[None, :] > i[:, None], -1e9).masked_fill(i[None, :] == i[:, None], -1e5)
    assert torch.allclose(out, torch.softmax(logits, -1) @ v, atol=1e-6)


# ------------------------------------------------------------------------------------------ infini
def test_infini_matches_the_definition():
    H, G, dk, dv, n = 4, 2, 3, 2, 5
    sig = lambda x: torch.where(x > 0, x + 1, torch.exp(x))
    for update in ("linear", "delta"):
        mem = schemes.InfiniMemory(H, G, dk, dv, update=update)
        with torch.no_grad():
            mem.beta.copy_(torch.tensor([0.3, -1.2, 2.0, 0.0]))
        state = mem.init_state(1)
        M = [torch.zeros(dk, dv, dtype=torch.float64) for _ in range(G)]
        z = [torch.zeros(dk, dtype=torch.float64) for _ in range(G)]
        for s in range(3):
            q, k, v, local = rnd(1, H, n, dk), rnd(1, G, n, dk), rnd(1, G, n, dv), rnd(1, H, n, dv)
            r = mem.read(q, state)
            out = mem.combine(local, r)
            for h in range(H):
                g = h // (H // G)
                for i in range(n):
                    sq = sig(q[0, h, i].double())
                    want = sq @ M[g] / max(float(sq @ z[g]), 1e-6)
                    gate = 1 / (1 + math.exp(-float(mem.beta[h])))
                    assert torch.allclose(r[0, h, i].double(), want, atol=1e-5)
                    assert torch.allclose(out[0, h, i].double(), gate * want + (1 - gate) * local[0, h, i].double(),
                                          atol=1e-5)
                    if s == 0:
                        assert torch.count_nonzero(r[0, h, i]) == 0
            state = mem.write(k, v, None, state)
            for g in range(G):
                sk = sig(k[0, g].double())
                if update == "delta":
                    ret = (sk @ M[g]) / torch.clamp(sk @ z[g], min=1e-6)[:, None]
                    M[g] = M[g] + sk.T @ (v[0, g].double() - ret)
                else:
                    M[g] = M[g] + sk.T @ v[0, g].double()
                z[g] = z[g] + sk.sum(0)
                assert torch.allclose(state[0][0, g].double(), M[g], atol=1e-4)


# ------------------------------------------------------------------------------------------ lsh-knn
def test_lsh_knn_matches_the_definition():
    H, G, dk, dv, n = 4, 2, 4, 3, 6
    for exact, k_top, cap in [(False, 3, 10), (True, 4, 100), (False, 50, 100)]:
        mem = schemes.LshKnnMemory(H, G, dk, dv, capacity=cap, rounds=2, buckets=4, k=k_top, exact=exact, seed=3).eval()
        state = mem.init_state(1)
        store = [[] for _ in range(G)]  # (key, value) oldest first
        for s in range(4):
            q, k, v = rnd(1, H, n, dk), rnd(1, G, n, dk), rnd(1, G, n, dv)
            r = mem.read(q, state)
            for h in range(H):
                g = h // (H // G)
                for i in range(n):
                    qn = q[0, h, i].double() / q[0, h, i].double().norm()
                    cands = []
                    for idx, (kk, vv) in enumerate(store[g]):
                        if not exact:
                            def code(x, rr):
                                p = x @ mem.rotations[g, :, rr].double()
                                return int(torch.argmax(torch.cat([p, -p])))
                            if not any(code(qn, rr) == code(kk, rr) for rr in range(2)):
                                continue
                        cands.append((-float(qn @ kk), idx, vv))
                    cands.sort(key=lambda c: (c[0], c[1]))
                    cands = cands[:k_top]
                    if not cands:
                        want = torch.zeros(dv, dtype=torch.float64)
                    else:
                        w = torch.softmax(torch.tensor([-c[0] * math.sqrt(dk) for c in cands], dtype=torch.float64), 0)
                        want = sum(w[t] * c[2] for t, c in enumerate(cands))
                    assert torch.allclose(r[0, h, i].double(), want, atol=1e-5), (exact, s, h, i)
            state = mem.write(k, v, None, state)
            for g in range(G):
                for i in range(n):
                    store[g].append((k[0, g, i].double() / k[0, g, i].double().norm(), v[0, g, i].double()))
                store[g] = store[g][-cap:]


# ------------------------------------------------------------------------------------------ continuous
def npdf(x, m, var):
    return math.exp(-(x - m) ** 2 / (2 * var)) / math.sqrt(2 * math.pi * var)


def test_continuous_matches_the_definition():
    H, dk, dv, e, n = 2, 3, 2, 5, 4
    basis, widths, lam, tau, samples = 8, [0.05, 0.1], 0.5, 0.5, 6
    mem = schemes.ContinuousMemory(H, dk, dv, e, basis=basis, widths=widths, lam=lam, tau=tau, samples=samples)
    with torch.no_grad():
        for p in (mem.mu_weight, mem.mu_bias, mem.sigma_weight, mem.sigma_bias):
            p.normal_(0, 0.5)
    centres = np.repeat(np.linspace(0, 1, basis // 2), 2)
    ws = np.array(widths * (basis // 2))
    psi = lambda t: np.array([[npdf(tt, centres[j], ws[j] ** 2) for tt in t] for j in range(basis)])

    def fit(t, X):
        Fm = psi(t)
        return np.linalg.solve(Fm @ Fm.T + lam * np.eye(basis), Fm @ X)

    state, B = mem.init_state(1), None
    for s in range(3):
        q, h = rnd(1, H, n, dk), rnd(1, n, e)
        r = mem.read(q, state)
        if B is None:
            assert torch.count_nonzero(r) == 0
        else:
            K = B @ mem.proj_key.detach().double().numpy().T
            V = B @ mem.proj_value.detach().double().numpy().T
            zs = np.zeros((n, H * dv))
            for hh in range(H):
                for i in range(n):
                    sc = K[:, hh * dk:(hh + 1) * dk] @ q[0, hh, i].double().numpy() / math.sqrt(dk)
                    mu = 1 / (1 + math.exp(-(sc @ mem.mu_weight.detach().double().numpy() + float(mem.mu_bias))))
                    a = sc @ mem.sigma_weight.detach().double().numpy() + float(mem.sigma_bias)
                    s2 = max(math.log1p(math.exp(a)), 1e-4)
                    rr = np.array([npdf(mu, centres[j], s2 + ws[j] ** 2) for j in range(basis)])
                    zs[i, hh * dv:(hh + 1) * dv] = V[:, hh * dv:(hh + 1) * dv].T @ rr
            want = zs @ mem.out.detach().double().numpy().T
            assert np.allclose(r[0].detach().double().numpy(), want, atol=1e-4, rtol=1e-4), s
        state = mem.write(None, None, h, state)
        X = h[0].double().numpy()
        if B is None:
            B = fit((np.arange(1, n + 1) - 0.5) / n, X)
        else:
            s_pts = np.arange(1, samples + 1) / samples
            old = psi(s_pts).T @ B
            t = np.concatenate([np.arange(1, samples + 1) * tau / samples, tau + (1 - tau) * np.arange(1, n + 1) / n])
            B = fit(t, np.concatenate([old, X]))
        assert np.allclose(state[0][0].detach().double().numpy(), B, atol=1e-4, rtol=1e-4), s
