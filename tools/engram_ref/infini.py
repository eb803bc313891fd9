"""Infini-attention compressive memory (docs/schemes.md section 1, provider `infini`).

State per kv head g: M[g] (dk x dv) and z[g] (dk), zero at start.
  read:  A_mem = sigma(Q) M / max(sigma(Q) z, eps)      (one scalar denominator per query row)
  write: linear  M += sigma(K)^T V
         delta   M += sigma(K)^T (V - sigma(K) M / max(sigma(K) z, eps))
         z += sum over rows of sigma(K)                 (both rules)
  combine per query head h: g_h * A_mem + (1 - g_h) * A_local, g_h = sigmoid(beta_h)
sigma(x) = ELU(x) + 1. Query head h reads kv head h // (H / G) (grouped, not tiled).
"""
import torch
import torch.nn.functional as F


def sigma(x):
    return F.elu(x) + 1.0


class InfiniMemory:
    def __init__(self, heads, kv_heads, key_dim, value_dim, update="linear", eps=1e-6,
                 dtype=torch.float64):
        assert heads % kv_heads == 0
        assert update in ("linear", "delta")
        self.H, self.G = heads, kv_heads
        self.update, self.eps, self.dtype = update, eps, dtype
        self.M = torch.zeros(kv_heads, key_dim, value_dim, dtype=dtype)
        self.z = torch.zeros(kv_heads, key_dim, dtype=dtype)

    def kv_head(self, h):
        return h // (self.H // self.G)

    def _retrieve(self, x, g):
        """sigma(x) M[g] / max(sigma(x) z[g], eps) for rows x [N, dk]."""
        sx = sigma(x)
        num = sx @ self.M[g]                                   # [N, dv]
        den = torch.clamp(sx @ self.z[g], min=self.eps)        # [N]
        return num / den[:, None]

    def read(self, q):
        """q [H, N, dk] (no positional encoding) -> A_mem [H, N, dv]."""
        q = q.to(self.dtype)
        return torch.stack([self._retrieve(q[h], self.kv_head(h)) for h in range(self.H)])

    def write(self, k, v):
        """k [G, N, dk], v [G, N, dv]."""
        k, v = k.to(self.dtype), v.to(self.dtype)
        for g in range(self.G):
            sk = sigma(k[g])
            target = v[g]
            if self.update == "delta":
                target = v[g] - self._retrieve(k[g], g)   # uses M, z before this write
            self.M[g] = self.M[g] + sk.T @ target
            self.z[g] = self.z[g] + sk.sum(dim=0)


def combine(memory, local, gate_logits):
    """memory, local [H, N, dv]; gate_logits [H] -> g * memory + (1 - g) * local, g = sigmoid."""
    g = torch.sigmoid(gate_logits.to(memory.dtype))[:, None, None]
    return g * memory + (1.0 - g) * local.to(memory.dtype)
