"""LSH-indexed kNN memory (docs/schemes.md section 4, provider `lsh-knn`).

Per kv head a FIFO store of (L2-normalised key, value), at most `capacity` pairs. Read for query
head h (kv head g = h // (H/G)): normalise the query; candidates = stored pairs sharing the query's
bucket in at least one round (hash of lsh.hash_buckets with rotations[g, :, r, :]), or every pair
with exact=True; top `k` by q . k, ties to the older pair; A_mem = softmax(scale * score) . v;
no candidate -> 0. Combine as Infini-attention with g_h = sigmoid(gate_h).
"""
import math

import torch

from .lsh import hash_buckets, normalise


class KnnMemory:
    def __init__(self, heads, kv_heads, key_dim, value_dim, capacity=65536, k=32, scale=None,
                 exact=False, rotations=None, dtype=torch.float64):
        assert heads % kv_heads == 0
        assert exact or rotations is not None
        self.H, self.G, self.dk, self.dv = heads, kv_heads, key_dim, value_dim
        self.capacity, self.k, self.exact, self.dtype = capacity, k, exact, dtype
        self.scale = math.sqrt(key_dim) if not scale else scale
        self.rot = None if exact else rotations.to(dtype)
        self.keys = [torch.zeros(0, key_dim, dtype=dtype) for _ in range(kv_heads)]   # oldest first
        self.values = [torch.zeros(0, value_dim, dtype=dtype) for _ in range(kv_heads)]
        self.min_hash_margin = float("inf")     # robustness diagnostics for make_cases
        self.min_topk_gap = float("inf")
        self.boundary_ties = 0                  # reads where the k-th and (k+1)-th scores were equal

    def _buckets(self, x, g):
        """[rounds, n] bucket ids of rows x [n, dk] with kv head g's rotations."""
        rows = []
        for r in range(self.rot.shape[2]):
            b, m = hash_buckets(x, self.rot[g, :, r, :])
            if len(m):
                self.min_hash_margin = min(self.min_hash_margin, float(m.min()))
            rows.append(b)
        return torch.stack(rows) if rows else torch.zeros(0, x.shape[0], dtype=torch.long)

    def read(self, q):
        """q [H, N, dk] -> A_mem [H, N, dv]."""
        q = q.to(self.dtype)
        H, N, _ = q.shape
        out = torch.zeros(H, N, self.dv, dtype=self.dtype)
        for h in range(H):
            g = h // (H // self.G)
            K, V = self.keys[g], self.values[g]
            if K.shape[0] == 0:
                continue
            qn = normalise(q[h])
            if not self.exact:
                kb = self._buckets(K, g)                 # [rounds, S]
                qb = self._buckets(qn, g)                # [rounds, N]
            for i in range(N):
                if self.exact:
                    cand = list(range(K.shape[0]))
                else:
                    shares = (kb == qb[:, i:i + 1]).any(dim=0)
                    cand = [int(j) for j in shares.nonzero().flatten()]
                if not cand:
                    continue
                scores = {j: float(qn[i] @ K[j]) for j in cand}
                ranked = sorted(cand, key=lambda j: (-scores[j], j))   # j = age rank: older first
                top = ranked[:self.k]
                if len(ranked) > self.k:
                    gap = scores[ranked[self.k - 1]] - scores[ranked[self.k]]
                    self.min_topk_gap = min(self.min_topk_gap, gap)
                    self.boundary_ties += gap == 0.0
                s = torch.tensor([scores[j] for j in top], dtype=torch.float64) * self.scale
                w = torch.softmax(s, dim=0).to(self.dtype)
                out[h, i] = w @ V[top]
        return out

    def write(self, k, v):
        """k [G, N, dk], v [G, N, dv]: append in order, evict the oldest beyond capacity."""
        k, v = k.to(self.dtype), v.to(self.dtype)
        for g in range(self.G):
            K = torch.cat([self.keys[g], normalise(k[g])])
            V = torch.cat([self.values[g], v[g]])
            lo = max(0, K.shape[0] - self.capacity)
            self.keys[g], self.values[g] = K[lo:], V[lo:]
