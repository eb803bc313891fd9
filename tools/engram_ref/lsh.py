"""Reformer LSH attention (docs/schemes.md section 3, provider `lsh`) and the section 5 baselines
`full` and `window` with positional encodings none / rope / alibi.

Conventions (copied into tools/README.md):
* hash: rotations R [H, dk, rounds, buckets/2]; round r of head h: p = x @ R[h, :, r, :]
  (x [dk] times a [dk, buckets/2] matrix), bucket = argmax(concat(p, -p)), first maximum wins
  (so bucket b < buckets/2 means +p_b, b >= buckets/2 means -p_{b - buckets/2}); a zero vector -> 0.
* rope ("rotate half"): dim i (i < dk/2) pairs with i + dk/2, angle a = pos * theta^(-2i/dk),
  x'[i] = x[i] cos a - x[i + dk/2] sin a, x'[i + dk/2] = x[i + dk/2] cos a + x[i] sin a.
* alibi: slope m_h = 2^(-8 (h + 1) / H), h = 0..H-1 (query head), logit bias -m_h (i - j).
* positions are absolute token positions across segments, from 0.
"""
import math

import torch

SELF_MASK = -1e5
CAUSAL_MASK = -1e9


# ------------------------------------------------------------------------------------------ hashing
def hash_buckets(x, rot):
    """x [n, dk], rot [dk, buckets/2] -> (bucket [n] long, margin [n]: best minus second-best value)."""
    p = x @ rot
    full = torch.cat([p, -p], dim=1)
    bucket = torch.argmax(full, dim=1)           # first maximal index
    top2 = torch.topk(full, 2, dim=1).values if full.shape[1] > 1 else full
    margin = top2[:, 0] - top2[:, -1]
    return bucket, margin


def default_buckets(n_padded, chunk):
    """Largest power of two <= 2 * Npadded / chunk, at least 2."""
    limit = 2 * n_padded / chunk
    b = 2
    while b * 2 <= limit:
        b *= 2
    return b


def random_rotations(heads, dk, rounds, buckets, seed, dtype=torch.float64):
    """Rotations from torch's generator (NOT the Java stream: cases always carry `rotations`)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(heads, dk, rounds, buckets // 2, generator=g, dtype=torch.float32).to(dtype)


def normalise(x):
    """Rows divided by their L2 norm; a zero row stays zero."""
    n = torch.linalg.norm(x, dim=-1, keepdim=True)
    return torch.where(n > 0, x / torch.where(n > 0, n, torch.ones_like(n)), torch.zeros_like(x))


# ------------------------------------------------------------------------------------ LSH attention
def lsh_attention(q, v, rotations, chunk, causal=True, return_margin=False):
    """Shared-QK LSH attention for one segment.

    q [H, N, dk] (queries, and keys after normalisation), v [H, N, dv],
    rotations [H, dk, rounds, buckets/2]; returns [H, N, dv] (and the smallest hash margin).
    Per round: stable sort by (bucket, position), padding (positions N..Npad-1) in an extra last
    bucket; chunks of `chunk`; chunk c attends to chunk c and chunk (c - 1) mod nChunks of the same
    round (one chunk: itself once); padding is never a key; masks on original positions: causal
    -1e9 for j > i, self -1e5. Rounds combined by their logsumexp (in float64, max subtracted).
    """
    H, N, dk = q.shape
    dv = v.shape[2]
    rounds = rotations.shape[2]
    n_chunks = -(-N // chunk)
    n_pad = n_chunks * chunk
    pad_bucket = 2 * rotations.shape[3]
    out = torch.zeros(H, N, dv, dtype=q.dtype)
    min_margin = float("inf")
    for h in range(H):
        keys = normalise(q[h])
        o_rounds = torch.zeros(rounds, N, dv, dtype=q.dtype)
        lse_rounds = torch.zeros(rounds, N, dtype=q.dtype)
        for r in range(rounds):
            bucket, margin = hash_buckets(q[h], rotations[h, :, r, :])
            min_margin = min(min_margin, float(margin.min()))
            bucket_all = torch.cat([bucket, torch.full((n_pad - N,), pad_bucket, dtype=torch.long)])
            order = sorted(range(n_pad), key=lambda i: (int(bucket_all[i]), i))
            chunks = [order[c * chunk:(c + 1) * chunk] for c in range(n_chunks)]
            for c in range(n_chunks):
                attended = list(chunks[c])
                if n_chunks > 1:
                    attended += chunks[(c - 1) % n_chunks]
                attended = sorted(set(j for j in attended if j < N))     # padding is never a key
                for i in chunks[c]:
                    if i >= N:
                        continue                                            # padding query
                    logits = []
                    for j in attended:
                        if j == i:
                            logits.append(SELF_MASK)
                        elif causal and j > i:
                            logits.append(CAUSAL_MASK)
                        else:
                            logits.append(float(q[h, i] @ keys[j]))
                    lg = torch.tensor(logits, dtype=torch.float64)
                    lse = torch.logsumexp(lg, dim=0)
                    w = torch.exp(lg - lse).to(q.dtype)
                    o_rounds[r, i] = w @ v[h, attended]
                    lse_rounds[r, i] = lse.to(q.dtype)
        lse64 = lse_rounds.to(torch.float64)
        mix = torch.exp(lse64 - torch.logsumexp(lse64, dim=0, keepdim=True)).to(q.dtype)  # [R, N]
        out[h] = (mix[:, :, None] * o_rounds).sum(dim=0)
    return (out, min_margin) if return_margin else out


def full_attention_self_masked(q, v, causal=True):
    """Plain softmax over all tokens with the LSH logits and masks (for the one-chunk property)."""
    H, N, dk = q.shape
    out = torch.zeros(H, N, v.shape[2], dtype=q.dtype)
    for h in range(H):
        logits = q[h] @ normalise(q[h]).T
        idx = torch.arange(N)
        if causal:
            logits = torch.where(idx[None, :] > idx[:, None], torch.tensor(CAUSAL_MASK, dtype=q.dtype), logits)
        logits = torch.where(idx[None, :] == idx[:, None], torch.tensor(SELF_MASK, dtype=q.dtype), logits)
        out[h] = torch.softmax(logits, dim=1) @ v[h]
    return out


# ---------------------------------------------------------------------------- positional encodings
def rope(x, positions, theta=10000.0):
    """Rotate-half RoPE: x [..., n, dk], positions [n] (absolute). Angles in float64."""
    dk = x.shape[-1]
    assert dk % 2 == 0
    half = dk // 2
    freq = theta ** (-2.0 * torch.arange(half, dtype=torch.float64) / dk)          # [dk/2]
    ang = positions.to(torch.float64)[:, None] * freq[None, :]                     # [n, dk/2]
    cos, sin = torch.cos(ang).to(x.dtype), torch.sin(ang).to(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


def alibi_slopes(heads, dtype=torch.float64):
    """m_h = 2^(-8 (h + 1) / H) for h = 0..H-1."""
    return torch.tensor([2.0 ** (-8.0 * (h + 1) / heads) for h in range(heads)], dtype=dtype)


# ---------------------------------------------------------------------------------- full / window
class CachedAttention:
    """`full` (window=None) or `window` (window=W >= 0): causal softmax attention with 1/sqrt(dk)
    over the cached tokens (all earlier tokens for full; the last W before the segment for window)
    plus the segment itself. The cache keeps raw (un-rotated) keys and their absolute positions.

    `sinks` (window only; StreamingLLM, arXiv 2309.17453): the sequence's first `sinks` tokens are
    never evicted. The paper positions tokens by their place in the cache, so the sinks are placed
    directly before the oldest window token the segment sees (or before the segment itself when the
    window part is empty): positions oldest - S .. oldest - 1 for S sinks, under RoPE and ALiBi alike.
    While no token has left the window yet this is exactly where they were written.

    `kv_cache` "bfloat16": the cache stores every key (after rope) and value rounded to the nearest bfloat16,
    the segment's own included (they are stored before they are attended), and attention reads those."""

    def __init__(self, heads, kv_heads, window=None, positional="rope", rope_theta=10000.0,
                 dtype=torch.float64, sinks=0, kv_cache="float32"):
        assert positional in ("none", "rope", "alibi")
        assert kv_cache in ("float32", "bfloat16")
        self.kv_cache = kv_cache
        assert sinks == 0 or window is not None, "sinks go with a window"
        self.H, self.G, self.window, self.sinks = heads, kv_heads, window, sinks
        self.positional, self.theta, self.dtype = positional, rope_theta, dtype
        self.k = self.v = None                             # the window part (full: every earlier token)
        self.pos = torch.zeros(0, dtype=torch.long)
        self.sk = self.sv = None                           # the sinks' raw keys and values
        self.next_pos = 0                                  # absolute position of the next token

    def forward(self, q, k, v):
        """q [H, N, dk], k [G, N, dk], v [G, N, dv] of the next segment -> [H, N, dv]."""
        q, k, v = q.to(self.dtype), k.to(self.dtype), v.to(self.dtype)
        H, N, dk = q.shape
        start = self.next_pos
        self.next_pos += N
        qpos = torch.arange(start, start + N)
        parts_k, parts_v, parts_pos = [], [], []
        if self.sk is not None:
            count = self.sk.shape[1]
            oldest = int(self.pos[0]) if self.k is not None and self.k.shape[1] > 0 else start
            parts_k.append(self.sk)
            parts_v.append(self.sv)
            parts_pos.append(torch.arange(oldest - count, oldest))
        if self.k is not None:
            parts_k.append(self.k)
            parts_v.append(self.v)
            parts_pos.append(self.pos)
        K = torch.cat(parts_k + [k], dim=1)
        V = torch.cat(parts_v + [v], dim=1)
        kpos = torch.cat(parts_pos + [qpos])
        if self.positional == "rope":
            qr, kr = rope(q, qpos, self.theta), rope(K, kpos, self.theta)
        else:
            qr, kr = q, K
        if self.kv_cache == "bfloat16":
            kr, V = kr.to(torch.bfloat16).to(self.dtype), V.to(torch.bfloat16).to(self.dtype)
        slopes = alibi_slopes(H, self.dtype)
        out = torch.zeros(H, N, v.shape[2], dtype=self.dtype)
        for h in range(H):
            g = h // (H // self.G)
            logits = qr[h] @ kr[g].T / math.sqrt(dk)                                   # [N, P]
            dist = (qpos[:, None] - kpos[None, :]).to(self.dtype)
            if self.positional == "alibi":
                logits = logits - slopes[h] * dist
            logits = logits.masked_fill(dist < 0, float("-inf"))
            out[h] = torch.softmax(logits, dim=1) @ V[g]
        # update the cache: the segment's tokens at positions < sinks become sinks, the rest join the window part
        new_sinks = max(0, min(self.sinks, start + N) - start)
        if new_sinks:
            self.sk = k[:, :new_sinks] if self.sk is None else torch.cat([self.sk, k[:, :new_sinks]], dim=1)
            self.sv = v[:, :new_sinks] if self.sv is None else torch.cat([self.sv, v[:, :new_sinks]], dim=1)
        k, v, qpos = k[:, new_sinks:], v[:, new_sinks:], qpos[new_sinks:]
        Kw = k if self.k is None else torch.cat([self.k, k], dim=1)
        Vw = v if self.v is None else torch.cat([self.v, v], dim=1)
        Pw = torch.cat([self.pos, qpos])
        if self.window is not None:
            lo = max(0, Kw.shape[1] - self.window)           # keep the last `window` tokens
            Kw, Vw, Pw = Kw[:, lo:], Vw[:, lo:], Pw[lo:]
        self.k, self.v, self.pos = Kw, Vw, Pw
        return out
