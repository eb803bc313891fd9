"""Differentiable PyTorch versions of the local attentions and long-term memories of docs/schemes.md.

Written for training and export of the models in this package, following docs/schemes.md (sections 0-5) and
baselines/README.md (positional conventions) to the letter. tools/engram_ref/ is the project's plain
reference of the same math; these modules are batched ([B, ...]), keep the autograd graph across segments
and return new state instead of mutating it. TODO(unify): once engram_ref is settled, test the two against
each other (or make these thin wrappers) so there is one PyTorch statement of each scheme.

State is functional: ``init_state(batch)`` gives the empty state, every call returns the new state.
Shapes: q [B, H, N, dk], k [B, G, N, dk], v [B, G, N, dv] (lsh attention: v [B, H, N, dv]), h [B, N, e].
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# --------------------------------------------------------------------------------------------- positional
def rope_tables(positions, dk, theta):
    """cos, sin [N, dk/2] for absolute ``positions`` (int tensor [N]); angles in double, rounded to float32."""
    i = torch.arange(dk // 2, dtype=torch.float64)
    freq = theta ** (-2.0 * i / dk)
    ang = positions.to(torch.float64)[:, None] * freq[None, :]
    return torch.cos(ang).to(torch.float32), torch.sin(ang).to(torch.float32)


def apply_rope(x, positions, theta):
    """Rotate-half RoPE on the last dim of x [..., N, dk] at absolute positions [N]."""
    dk = x.shape[-1]
    cos, sin = rope_tables(positions, dk, theta)
    x1, x2 = x[..., : dk // 2], x[..., dk // 2:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


def alibi_slopes(heads):
    return torch.tensor([2.0 ** (-8.0 * (h + 1) / heads) for h in range(heads)], dtype=torch.float32)


def expand_kv(x, heads):
    """[B, G, ...] -> [B, H, ...], query head h reading kv head h // (H/G) (grouped, not tiled)."""
    g = x.shape[1]
    return x if g == heads else x.repeat_interleave(heads // g, dim=1)


def sigmoid_gate_combine(gate_logits, local, memory):
    """A = g_h * A_mem + (1 - g_h) * A_local per query head, g = sigmoid(gate) ([H])."""
    g = torch.sigmoid(gate_logits)[None, :, None, None]
    return g * memory + (1 - g) * local


# --------------------------------------------------------------------------------------------- attention
def with_memory(memory, q, k, v, h, local, state):
    """docs/schemes.md section 0 steps (3)-(5) for one layer: read the memory with this segment's queries (earlier
    segments only), combine (gated per head) or return a model-space addend, then write the segment.
    Returns (attn, addend or None, new state); ``memory`` None gives (local, None, state)."""
    if memory is None:
        return local, None, state
    r = memory.read(q, state, h)
    attn, addend = (memory.combine(local, r), None) if memory.readout == "per_head" else (local, r)
    return attn, addend, memory.write(k, v, h, state)


class WindowAttention(nn.Module):
    """`full` (window=None) or `window` W attention with rope / alibi / none (baselines/README.md).

    State: the raw (un-rotated) cached keys [B, G, T, dk], values and their absolute positions [T]; RoPE is
    applied to each key at its own position when attending, which equals the Java cache of rotated keys.
    """

    def __init__(self, heads, kv_heads, dk, dv, window=None, positional="rope", theta=10000.0, kv_cache="float32"):
        super().__init__()
        if kv_cache not in ("float32", "bfloat16"):
            raise ValueError(f"kvCache '{kv_cache}': valid: float32, bfloat16")
        self.kv_cache = kv_cache
        self.heads, self.kv_heads, self.dk, self.dv = heads, kv_heads, dk, dv
        self.window, self.positional, self.theta = window, positional, float(theta)
        self.register_buffer("slopes", alibi_slopes(heads), persistent=False)

    def config(self):
        c = {"provider": "full" if self.window is None else "window"}
        if self.window is not None:
            c["window"] = int(self.window)
        c["positional"] = self.positional
        if self.positional == "rope":
            c["ropeTheta"] = self.theta
        if self.kv_cache != "float32":
            c["kvCache"] = self.kv_cache
        return c

    def weights(self):
        return {}

    def init_state(self, batch):
        return None

    def forward(self, q, k, v, start, state):
        b, h, n, dk = q.shape
        pos_q = torch.arange(start, start + n)
        if self.kv_cache == "bfloat16":  # values are cached rounded, once, as they arrive (the state keeps them so)
            v = v.to(torch.bfloat16).to(v.dtype)
        if state is None:
            kc, vc, pos_k = k, v, pos_q
        else:
            kc = torch.cat([state[0], k], dim=2)
            vc = torch.cat([state[1], v], dim=2)
            pos_k = torch.cat([state[2], pos_q])
        if self.positional == "rope":
            qr, kr = apply_rope(q, pos_q, self.theta), apply_rope(kc, pos_k, self.theta)
        else:
            qr, kr = q, kc
        if self.kv_cache == "bfloat16":  # keys are rounded after their rotation, as the Java cache stores them; the
            kr = kr.to(torch.bfloat16).to(kr.dtype)  # state keeps them raw, so this is per forward
        kr, vr = expand_kv(kr, h), expand_kv(vc, h)
        logits = torch.matmul(qr, kr.transpose(-1, -2)) / math.sqrt(dk)
        dist = (pos_q[:, None] - pos_k[None, :]).to(torch.float32)
        if self.positional == "alibi":
            logits = logits - self.slopes[None, :, None, None] * dist
        logits = logits.masked_fill(dist < 0, float("-inf"))
        out = torch.matmul(torch.softmax(logits, dim=-1), vr)
        if self.window is None:
            new_state = (kc, vc, pos_k)
        elif self.window == 0:
            new_state = None
        else:
            w = self.window
            new_state = (kc[:, :, -w:], vc[:, :, -w:], pos_k[-w:])
        return out, new_state


def lsh_hash(x, rotations):
    """bucket(x) = argmax(concat(x R_r, -x R_r)) per round; x [B, P, N, d], rotations [P, d, rounds, nb/2]
    -> int64 [B, P, N, rounds]. Projections in double (as the Java providers accumulate them)."""
    proj = torch.einsum("bpnd,pdrk->bpnrk", x.detach().to(torch.float64), rotations.to(torch.float64))
    return torch.argmax(torch.cat([proj, -proj], dim=-1), dim=-1)


class LshAttention(nn.Module):
    """Reformer LSH attention, docs/schemes.md section 3: shared QK, per-round sort + chunk, self mask -1e5,
    causal -1e9, rounds mixed by logsumexp. Needs explicit ``buckets`` (the rotations are a weight).
    No positional encoding (the Java `lsh` attention has none). Stateless across segments."""

    def __init__(self, heads, dk, dv, rounds=2, buckets=4, chunk=16, causal=True, seed=0):
        super().__init__()
        assert buckets % 2 == 0 and buckets >= 2
        self.heads, self.dk, self.dv = heads, dk, dv
        self.rounds, self.buckets, self.chunk, self.causal = rounds, buckets, chunk, causal
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("rotations", torch.randn(heads, dk, rounds, buckets // 2, generator=g))

    def config(self):
        return {"provider": "lsh", "rounds": self.rounds, "buckets": self.buckets, "chunk": self.chunk,
                "causal": self.causal}

    def weights(self):
        return {"rotations": self.rotations}

    def init_state(self, batch):
        return None

    def forward(self, q, k, v, start, state):
        b, h, n, dk = q.shape
        c = self.chunk
        npad = -(-n // c) * c
        nchunks = npad // c
        pad = npad - n
        qp = F.pad(q, (0, 0, 0, pad))
        vp = F.pad(v, (0, 0, 0, pad))
        pos = torch.arange(npad)
        real = pos < n
        norm = q.norm(dim=-1, keepdim=True)
        kn = torch.where(norm > 0, q / norm.clamp_min(1e-30), torch.zeros_like(q))
        knp = F.pad(kn, (0, 0, 0, pad))
        codes = lsh_hash(q, self.rotations)  # [B, H, n, rounds]
        outs, lses = [], []
        for r in range(self.rounds):
            bucket = F.pad(codes[..., r], (0, pad), value=self.buckets)  # padding: an extra last bucket
            key = bucket * npad + pos  # unique: sort by (bucket, position)
            order = torch.argsort(key, dim=-1)  # [B, H, npad]
            sq = torch.gather(qp, 2, order[..., None].expand(-1, -1, -1, dk))
            sk = torch.gather(knp, 2, order[..., None].expand(-1, -1, -1, dk))
            sv = torch.gather(vp, 2, order[..., None].expand(-1, -1, -1, self.dv))
            spos = order  # original positions
            cq = sq.reshape(b, h, nchunks, c, dk)
            ck = sk.reshape(b, h, nchunks, c, dk)
            cv = sv.reshape(b, h, nchunks, c, self.dv)
            cp = spos.reshape(b, h, nchunks, c)
            if nchunks > 1:  # each chunk attends to itself and the previous one (first wraps to last)
                ck = torch.cat([ck, ck.roll(1, dims=2)], dim=3)
                cv = torch.cat([cv, cv.roll(1, dims=2)], dim=3)
                kp = torch.cat([cp, cp.roll(1, dims=2)], dim=3)
            else:
                kp = cp
            logits = torch.matmul(cq, ck.transpose(-1, -2))  # [B, H, C, c, kc]
            qi, kj = cp[..., :, None], kp[..., None, :]
            if self.causal:
                logits = logits.masked_fill(kj > qi, -1e9)
            logits = logits.masked_fill(kj == qi, -1e5)
            logits = logits.masked_fill(kj >= n, -1e30)  # padding is never a key
            lse = torch.logsumexp(logits, dim=-1)  # [B, H, C, c]
            o = torch.matmul(torch.softmax(logits, dim=-1), cv)  # [B, H, C, c, dv]
            o = o.reshape(b, h, npad, self.dv)
            lse = lse.reshape(b, h, npad)
            inv = torch.argsort(order, dim=-1)  # back to original order
            outs.append(torch.gather(o, 2, inv[..., None].expand(-1, -1, -1, self.dv))[:, :, :n])
            lses.append(torch.gather(lse, 2, inv)[:, :, :n])
        lse = torch.stack(lses)  # [R, B, H, n]
        w = torch.softmax(lse, dim=0)  # exp(lse_r - logsumexp_r lse_r), computed stably
        out = (w[..., None] * torch.stack(outs)).sum(0)
        return out, None


# --------------------------------------------------------------------------------------------- memories
class InfiniMemory(nn.Module):
    """Infini-attention, docs/schemes.md section 1. State (M [B, G, dk, dv], z [B, G, dk]); keeps the graph."""
    readout = "per_head"

    def __init__(self, heads, kv_heads, dk, dv, update="delta", eps=1e-6, beta_init=0.0):
        super().__init__()
        self.heads, self.kv_heads, self.dk, self.dv = heads, kv_heads, dk, dv
        self.update, self.eps = update, eps
        self.beta = nn.Parameter(torch.full((heads,), float(beta_init)))

    def config(self):
        c = {"provider": "infini", "update": self.update}
        if self.eps != 1e-6:
            c["eps"] = self.eps
        return c

    def weights(self):
        return {"beta": self.beta}

    def init_state(self, batch):
        return (torch.zeros(batch, self.kv_heads, self.dk, self.dv), torch.zeros(batch, self.kv_heads, self.dk))

    @staticmethod
    def sigma(x):
        return F.elu(x) + 1

    def read(self, q, state, h=None):
        m, z = state
        sq = self.sigma(q)  # [B, H, N, dk]
        num = torch.matmul(sq, expand_kv(m, self.heads))
        den = torch.matmul(sq, expand_kv(z, self.heads)[..., None])  # [B, H, N, 1]
        return num / den.clamp_min(self.eps)

    def combine(self, local, mem):
        return sigmoid_gate_combine(self.beta, local, mem)

    def write(self, k, v, h, state, row_counts=None):
        """The segment's write. ``row_counts`` [B, 1 or G, N, 1] (training only; None: each row once) counts row i
        as written that many times, as if the segment held it repeated: both sums, M's and z's, weigh it so."""
        m, z = state
        sk = self.sigma(k)  # [B, G, N, dk]
        written = sk if row_counts is None else sk * row_counts
        if self.update == "delta":
            ret = torch.matmul(sk, m) / torch.matmul(sk, z[..., None]).clamp_min(self.eps)
            m = m + torch.matmul(written.transpose(-1, -2), v - ret)
        else:
            m = m + torch.matmul(written.transpose(-1, -2), v)
        return m, z + written.sum(dim=2)


class LshKnnMemory(nn.Module):
    """LSH-indexed kNN memory, docs/schemes.md section 4. State: normalised keys [B, G, S, dk], values
    [B, G, S, dv], bucket codes [B, G, S, rounds] (FIFO, at most `capacity`), and in training with counted rows
    (write's ``row_counts``) a fourth, each stored row's copies [B, G, S]. Differentiable through the scores and
    the stored keys/values (the candidate and top-k selection are not)."""
    readout = "per_head"

    def __init__(self, heads, kv_heads, dk, dv, capacity=65536, rounds=4, buckets=64, k=32, scale=0.0,
                 exact=False, seed=0, gate_init=0.0):
        super().__init__()
        self.heads, self.kv_heads, self.dk, self.dv = heads, kv_heads, dk, dv
        self.capacity, self.rounds, self.buckets, self.k = capacity, rounds, buckets, k
        self.scale_cfg, self.exact, self.seed = scale, exact, seed
        self.scale = math.sqrt(dk) if scale == 0 else scale
        self.gate = nn.Parameter(torch.full((heads,), float(gate_init)))
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("rotations", torch.randn(kv_heads, dk, rounds, buckets // 2, generator=g))

    def config(self):
        c = {"provider": "lsh-knn", "capacity": self.capacity, "k": self.k}
        if self.exact:
            c["exact"] = True
        else:
            c.update({"rounds": self.rounds, "buckets": self.buckets})
        if self.scale_cfg != 0:
            c["scale"] = self.scale_cfg
        return c

    def weights(self):
        w = {"gate": self.gate}
        if not self.exact:
            w["rotations"] = self.rotations
        return w

    def init_state(self, batch):
        return (torch.zeros(batch, self.kv_heads, 0, self.dk), torch.zeros(batch, self.kv_heads, 0, self.dv),
                torch.zeros(batch, self.kv_heads, 0, self.rounds, dtype=torch.int64))

    @staticmethod
    def normalise(x):
        norm = x.norm(dim=-1, keepdim=True)
        return torch.where(norm > 0, x / norm.clamp_min(1e-30), torch.zeros_like(x))

    def read(self, q, state, h=None):
        keys, values, codes = state[:3]
        b, hh, n, _ = q.shape
        s = keys.shape[2]
        if s == 0:
            return torch.zeros(b, hh, n, self.dv)
        qn = self.normalise(q)
        ke, ve = expand_kv(keys, hh), expand_kv(values, hh)
        scores = torch.matmul(qn, ke.transpose(-1, -2))  # [B, H, N, S]
        if not self.exact:
            # a query is hashed with its kv head's rotations
            qcodes = lsh_hash(qn, expand_kv(self.rotations[None], hh)[0])  # [B, H, N, R]
            kc = expand_kv(codes, hh)  # [B, H, S, R]
            cand = (qcodes[:, :, :, None, :] == kc[:, :, None, :, :]).any(-1)
            scores = scores.masked_fill(~cand, float("-inf"))
        kk = min(self.k, s)
        if self.training:  # faster; exact score ties may go either way
            top, idx = torch.topk(scores, kk, dim=-1)
        else:  # stable descending sort: ties go to the older pair (lower index) first, as specified
            top, idx = torch.sort(scores, dim=-1, descending=True, stable=True)
            top, idx = top[..., :kk], idx[..., :kk]
        valid = torch.isfinite(top)
        logits = (top * self.scale).masked_fill(~valid, float("-inf"))
        if len(state) == 4:  # counted rows: the k pairs read are the k best copies
            copies = torch.gather(expand_kv(state[3], hh)[:, :, None, :].expand(b, hh, n, s), -1, idx)
            taken = torch.minimum(copies, (self.k - (torch.cumsum(copies, -1) - copies)).clamp_min(0))
            logits = logits + torch.log(taken)  # a pair taken c times weighs c exp(score); c = 0 drops it
            valid = valid & (taken > 0)
        any_valid = valid.any(-1, keepdim=True)
        wts = torch.softmax(logits.masked_fill(~any_valid, 0.0), dim=-1) * any_valid
        wmat = torch.zeros(scores.shape).scatter(-1, idx, wts)
        return torch.matmul(wmat, ve)

    def combine(self, local, mem):
        return sigmoid_gate_combine(self.gate, local, mem)

    def write(self, k, v, h, state, row_counts=None):
        """The segment's write. ``row_counts`` [B, 1 or G, N, 1] of whole numbers >= 1 (training only; None: each
        row once) stores row i as that many copies, as if the segment held it repeated: a read takes the k best
        copies (a row's copies score alike, so which of them is immaterial). ``capacity`` counts rows, not
        copies (training contexts stay far below it)."""
        keys, values, codes = state[:3]
        kn = self.normalise(k)
        if self.exact:
            kc = torch.zeros(*k.shape[:3], self.rounds, dtype=torch.int64)
        else:
            kc = lsh_hash(kn, self.rotations)
        keys = torch.cat([keys, kn], dim=2)[:, :, -self.capacity:]
        values = torch.cat([values, v], dim=2)[:, :, -self.capacity:]
        codes = torch.cat([codes, kc], dim=2)[:, :, -self.capacity:]
        if row_counts is None and len(state) == 3:
            return keys, values, codes
        if row_counts is None:
            row_counts = torch.ones(k.shape[0], 1, k.shape[2], 1)
        else:
            bad = row_counts[(row_counts < 1) | (row_counts != row_counts.round())]
            if bad.numel():
                raise ValueError(f"row_counts: {bad[0].item()} among them; valid: whole numbers >= 1 (lsh-knn stores "
                                 "whole copies of a pair)")
        earlier = state[3] if len(state) == 4 else torch.ones(*state[0].shape[:3])
        added = row_counts[..., 0].float().expand(k.shape[0], self.kv_heads, k.shape[2])
        return keys, values, codes, torch.cat([earlier, added], dim=2)[:, :, -self.capacity:]


class ContinuousMemory(nn.Module):
    """∞-former continuous memory, docs/schemes.md section 2 (optional sticky memories, conv input gate, resetEvery).
    State: (B [B, basis, e] or None when empty, tokens written since the last reset, sticky draws taken from
    the seeded stream). Keeps the graph (not through the sticky sample points, which are discrete draws):
    the ridge solve is a fixed matrix per position set (built in double, rounded to float32)."""
    readout = "model"

    def __init__(self, heads, dk, dv, model_dim, basis=512, widths=(0.005, 0.01), lam=0.5, tau=0.5,
                 samples=512, sigma_min2=1e-4, reset_every=0, input_gate=None, sticky=False, bins=128, seed=0):
        super().__init__()
        nw = len(widths)
        assert basis % nw == 0
        self.heads, self.dk, self.dv, self.e = heads, dk, dv, model_dim
        self.basis, self.widths, self.lam, self.tau = basis, list(widths), lam, tau
        self.samples, self.sigma_min2, self.reset_every, self.input_gate = samples, sigma_min2, reset_every, input_gate
        self.sticky, self.bins, self.seed = bool(sticky), int(bins), int(seed)
        # sticky uniforms: None = torch.rand while training, the seeded Java stream (uniform_stream) in eval mode;
        # a tensor [M] = these uniforms for every sticky write (tests against tools/engram_ref)
        self.given_uniforms = None
        centres = torch.linspace(0, 1, basis // nw, dtype=torch.float64)
        # index j = W * c + w
        self.register_buffer("centres", centres.repeat_interleave(nw), persistent=False)
        self.register_buffer("bw", torch.tensor(self.widths, dtype=torch.float64).repeat(basis // nw), persistent=False)
        self.proj_key = nn.Parameter(torch.randn(heads * dk, model_dim) / math.sqrt(model_dim))
        self.proj_value = nn.Parameter(torch.randn(heads * dv, model_dim) / math.sqrt(model_dim))
        self.mu_weight = nn.Parameter(torch.zeros(basis))
        self.mu_bias = nn.Parameter(torch.zeros(1))
        self.sigma_weight = nn.Parameter(torch.zeros(basis))
        self.sigma_bias = nn.Parameter(torch.zeros(1))
        self.out = nn.Parameter(torch.randn(model_dim, heads * dv) / math.sqrt(heads * dv) * 0.1)
        if input_gate == "conv":
            self.gate_weight = nn.Parameter(torch.randn(model_dim, model_dim, 3) / math.sqrt(3 * model_dim))
            self.gate_bias = nn.Parameter(torch.zeros(model_dim))
        self._fits = {}

    def config(self):
        c = {"provider": "continuous", "basis": self.basis, "widths": self.widths, "lambda": self.lam,
             "tau": self.tau, "samples": self.samples}
        if self.sigma_min2 != 1e-4:
            c["sigmaMin2"] = self.sigma_min2
        if self.reset_every:
            c["resetEvery"] = self.reset_every
        if self.input_gate:
            c["inputGate"] = self.input_gate
        if self.sticky:
            c.update({"sticky": True, "bins": self.bins, "seed": self.seed})
        return c

    def weights(self):
        w = {"proj_key": self.proj_key, "proj_value": self.proj_value, "mu.weight": self.mu_weight,
             "mu.bias": self.mu_bias, "sigma.weight": self.sigma_weight, "sigma.bias": self.sigma_bias,
             "out": self.out}
        if self.input_gate == "conv":
            w["gate.weight"] = self.gate_weight
            w["gate.bias"] = self.gate_bias
        return w

    def init_state(self, batch):
        # (B or None, tokens written since the last reset, sticky draws taken from the seeded stream)
        return (None, 0, 0)

    def psi(self, t):
        """[basis, len(t)] Gaussian pdfs in double."""
        t = t.to(torch.float64)
        w = self.bw[:, None]
        return torch.exp(-0.5 * ((t[None, :] - self.centres[:, None]) / w) ** 2) / (w * math.sqrt(2 * math.pi))

    def update_tau(self, written, n):
        """The old signal's share of [0, 1] for an update writing n rows after ``written`` tokens: the fixed tau,
        or with tau "uniform" written / (written + n), so that every token written keeps an equal share."""
        return written / (written + n) if self.tau == "uniform" else self.tau

    def _fit_matrix(self, kind, n, tau=None):
        """G = (F F^T + lambda I)^-1 F for the position set (first write of n rows, or update with n new rows
        after the old signal placed on [0, tau])."""
        key = (kind, n, tau)
        if key not in self._fits:
            if len(self._fits) >= 512:  # a uniform tau adds one position set per write: keep the newest 512
                self._fits.pop(next(iter(self._fits)))
            if kind == "first":
                t = (torch.arange(1, n + 1, dtype=torch.float64) - 0.5) / n
            else:
                m = self.samples
                t = torch.cat([torch.arange(1, m + 1, dtype=torch.float64) * tau / m,
                               tau + (1 - tau) * torch.arange(1, n + 1, dtype=torch.float64) / n])
            f = self.psi(t)
            a = f @ f.T + self.lam * torch.eye(self.basis, dtype=torch.float64)
            self._fits[key] = torch.linalg.solve(a, f).to(torch.float32)
        return self._fits[key]

    def _sample_matrix(self):
        key = ("samples", self.samples)
        if key not in self._fits:
            s = torch.arange(1, self.samples + 1, dtype=torch.float64) / self.samples
            self._fits[key] = self.psi(s).T.to(torch.float32)  # [M, basis]
        return self._fits[key]

    def read(self, q, state, h=None):
        coef = state[0]
        b, hh, n, _ = q.shape
        self.last_mu = self.last_sigma2 = None
        if coef is None:
            return torch.zeros(b, n, self.e)
        kmat = torch.matmul(coef, self.proj_key.T).reshape(b, self.basis, hh, self.dk).transpose(1, 2)
        vmat = torch.matmul(coef, self.proj_value.T).reshape(b, self.basis, hh, self.dv).transpose(1, 2)
        s = torch.matmul(q, kmat.transpose(-1, -2)) / math.sqrt(self.dk)  # [B, H, n, basis]
        mu = torch.sigmoid(torch.matmul(s, self.mu_weight) + self.mu_bias)  # [B, H, n]
        sigma2 = F.softplus(torch.matmul(s, self.sigma_weight) + self.sigma_bias).clamp_min(self.sigma_min2)
        var = sigma2[..., None] + (self.bw.to(torch.float32) ** 2)  # [B, H, n, basis]
        r = torch.exp(-0.5 * (mu[..., None] - self.centres.to(torch.float32)) ** 2 / var) / torch.sqrt(2 * math.pi * var)
        z = torch.matmul(r, vmat)  # [B, H, n, dv]
        zc = z.transpose(1, 2).reshape(b, n, hh * self.dv)
        self.last_mu, self.last_sigma2 = mu, sigma2
        return torch.matmul(zc, self.out.T)

    def combine(self, local, mem):
        return local

    def write(self, k, v, h, state):
        """The segment's write. Sticky: the sample points come from this segment's read (read() precedes write()
        in with_memory, as in the Java memory, which remembers the read's float32 mu, sigma2 for its write)."""
        coef, written, draws = state
        n = h.shape[1]
        x = h
        if self.input_gate == "conv":
            g = F.conv1d(x.transpose(1, 2), self.gate_weight, self.gate_bias, padding=1).transpose(1, 2)
            x = x * torch.sigmoid(g)
        if self.reset_every and written >= self.reset_every:
            coef, written = None, 0
        if coef is None:
            coef = torch.matmul(self._fit_matrix("first", n), x)
        else:
            if self.sticky:
                uniforms, draws = self._uniforms(x.shape[0], draws)
                old = torch.matmul(self.sticky_sample_matrix(self.last_mu.detach(), self.last_sigma2.detach(),
                                                             uniforms), coef)  # [B, M, e]
            else:
                old = torch.matmul(self._sample_matrix(), coef)  # [B, M, e]
            coef = torch.matmul(self._fit_matrix("update", n, self.update_tau(written, n)), torch.cat([old, x], dim=1))
        return coef, written + n, draws

    def _uniforms(self, batch, draws):
        """([B, M] double uniforms in [0, 1), draws taken after them)."""
        m = self.samples
        if self.given_uniforms is not None:
            return self.given_uniforms.to(torch.float64).reshape(1, m).expand(batch, m), draws
        if self.training:
            return torch.rand(batch, m, dtype=torch.float64), draws
        u = torch.from_numpy(uniform_stream(self.seed, draws, m))
        return u.reshape(1, m).expand(batch, m), draws + m

    def sticky_sample_matrix(self, mu, sigma2, uniforms):
        """psi(s)^T [B, M, basis] at the sticky sample points s of docs/schemes.md section 2: D = bins equal bins on
        [0, 1], p_j = sum over heads and queries of Phi((edge_{j+1} - mu)/sigma) - Phi((edge_j - mu)/sigma)
        (mu, sigma2 [B, H, n] of this segment's read, taken as float32 like the Java memory's), M bins drawn by
        inverse CDF (the first j whose cumulative p exceeds u; the last bin when rounding leaves the total
        below u; all bins equally likely when p is all zero), s = the drawn bins' left edges, ascending."""
        b = mu.shape[0]
        d = self.bins
        m = mu.to(torch.float32).to(torch.float64).reshape(b, -1, 1)
        sd = torch.sqrt(sigma2.to(torch.float32).to(torch.float64)).reshape(b, -1, 1)
        edges = torch.arange(d + 1, dtype=torch.float64) / d
        cdf = torch.special.ndtr((edges[None, None, :] - m) / sd)  # [B, H*n, D + 1]
        p = (cdf[..., 1:] - cdf[..., :-1]).sum(dim=1)  # [B, D]
        total = p.sum(-1, keepdim=True)
        p = torch.where(total > 0, p, torch.ones_like(p))
        cum = torch.cumsum(p, dim=-1) / torch.where(total > 0, total, torch.full_like(total, float(d)))
        idx = torch.searchsorted(cum.contiguous(), uniforms.contiguous(), right=True).clamp_max(d - 1)
        return self._edge_table()[torch.sort(idx, dim=-1).values]  # [B, M, basis]

    def _edge_table(self):
        key = ("edges", self.bins)
        if key not in self._fits:
            e = torch.arange(self.bins, dtype=torch.float64) / self.bins
            self._fits[key] = self.psi(e).T.to(torch.float32)  # [D, basis], psi at each bin's left edge
        return self._fits[key]


_GOLDEN_GAMMA = 0x9E3779B97F4A7C15


def uniform_stream(seed, start, count):
    """Draws start..start+count-1 of the sticky uniform stream of `seed`: java.util.SplittableRandom(seed)'s
    nextDouble() sequence (SplitMix64: mix64(seed + (k + 1) gamma) >>> 11, times 2^-53), as the Java memory's
    UniformStream computes it. float64 numpy [count]."""
    k = np.arange(start + 1, start + count + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(seed & 0xFFFFFFFFFFFFFFFF) + k * np.uint64(_GOLDEN_GAMMA)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
