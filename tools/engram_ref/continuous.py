"""The infinity-former continuous memory (docs/schemes.md section 2, provider `continuous`).

Basis: N = `basis` Gaussian pdfs psi_j(t) = Normal(t; c_j, w_j^2). Centres linspace(0, 1, N / W)
(W = len(widths), 2 by default), each centre taken with every width: index j = W * c + w
(j = 2c + w for two widths). State: coefficients B [N, e] (None = empty), the tokens written since
the last reset, and the last read's (mu, sigma2) for sticky sampling.
"""
import math

import torch
import torch.nn.functional as F


def normal_pdf(x, mean, var):
    """The Gaussian density N(x; mean, var), elementwise with broadcasting."""
    return torch.exp(-0.5 * (x - mean) ** 2 / var) / torch.sqrt(2.0 * math.pi * var)


def normal_cdf(x):
    return 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def basis_params(basis, widths, dtype=torch.float64):
    """(centres c_j [N], widths w_j [N]) with j = W * c + w."""
    W = len(widths)
    assert basis % W == 0, "basis must be a multiple of len(widths)"
    centres = torch.linspace(0.0, 1.0, basis // W, dtype=torch.float64)
    c = centres.repeat_interleave(W)                                # c_0 c_0 c_1 c_1 ...
    w = torch.tensor(list(widths), dtype=torch.float64).repeat(basis // W)   # w_0 w_1 w_0 w_1 ...
    return c.to(dtype), w.to(dtype)


def psi(t, centres, widths):
    """F [N, n] with F[j, i] = psi_j(t_i) = Normal(t_i; c_j, w_j^2)."""
    return normal_pdf(t[None, :], centres[:, None], (widths ** 2)[:, None])


def ridge_fit(t, X, centres, widths, lam):
    """B = (F F^T + lambda I)^-1 F X with F = psi(t) [N, n]; X [n, e] -> B [N, e]."""
    Fm = psi(t, centres, widths)
    A = Fm @ Fm.T + lam * torch.eye(Fm.shape[0], dtype=Fm.dtype)
    return torch.linalg.solve(A, Fm @ X)


def sticky_positions(mu, sigma2, uniforms, bins):
    """Sample points for a sticky update from the read's mu, sigma2 [H, Nq] and M uniforms in [0, 1).

    p_j ∝ sum over heads and queries of Phi((edge_{j+1} - mu)/sigma) - Phi((edge_j - mu)/sigma),
    edges = j / bins; draw m: the first bin j whose cumulative p exceeds u_m (the last bin if rounding
    leaves the total below u); the position is the bin's left edge j / bins; sorted ascending.
    Returns (positions [M], the smallest |cumulative p - u| seen, a margin for robustness checks)."""
    dtype = mu.dtype
    edges = torch.arange(bins + 1, dtype=dtype) / bins
    sd = torch.sqrt(sigma2).reshape(-1, 1)
    m = mu.reshape(-1, 1)
    cdf = normal_cdf((edges[None, :] - m) / sd)                       # [H*Nq, bins+1]
    p = (cdf[:, 1:] - cdf[:, :-1]).sum(dim=0)                          # [bins]
    p = p / p.sum()
    cum = torch.cumsum(p, dim=0)
    chosen, margin = [], float("inf")
    for u in uniforms.to(dtype).tolist():
        above = (cum > u).nonzero()
        j = int(above[0]) if len(above) else bins - 1
        chosen.append(j)
        margin = min(margin, float((cum - u).abs().min()))
    pos = torch.tensor(sorted(chosen), dtype=dtype) / bins
    return pos, margin


class ContinuousMemory:
    def __init__(self, heads, key_dim, value_dim, model_dim, weights, basis=512,
                 widths=(0.005, 0.01), lam=0.5, tau=0.5, samples=512, sticky=False, bins=128,
                 sigma_min2=1e-4, reset_every=0, input_gate="none", dtype=torch.float64):
        self.H, self.dk, self.dv, self.e = heads, key_dim, value_dim, model_dim
        self.N, self.lam, self.tau, self.M = basis, lam, tau, samples
        self.sticky, self.bins, self.sigma_min2 = sticky, bins, sigma_min2
        self.reset_every, self.input_gate, self.dtype = reset_every, input_gate, dtype
        self.c, self.w = basis_params(basis, widths, dtype)
        self.W = {name: t.to(dtype) for name, t in weights.items()}
        self.B = None
        self.written = 0                 # tokens written since the last reset
        self.last_read = None            # (mu, sigma2) [H, Nq] of the latest read
        self.min_margin = float("inf")   # smallest sticky inverse-CDF margin seen (for make_cases)

    # ---------------------------------------------------------------------------------------- read
    def read(self, q):
        """q [H, Nq, dk] -> (output [Nq, e] model-space addend, mu [H, Nq], sigma2 [H, Nq]);
        an empty memory returns zeros and mu = sigma2 = None."""
        q = q.to(self.dtype)
        Nq = q.shape[1]
        if self.B is None:
            self.last_read = None
            return torch.zeros(Nq, self.e, dtype=self.dtype), None, None
        K = (self.B @ self.W["proj_key"].T).reshape(self.N, self.H, self.dk)      # [N, H, dk]
        V = (self.B @ self.W["proj_value"].T).reshape(self.N, self.H, self.dv)    # [N, H, dv]
        mus, sig2s, zs = [], [], []
        for h in range(self.H):
            s = q[h] @ K[:, h, :].T / math.sqrt(self.dk)                           # [Nq, N]
            mu = torch.sigmoid(s @ self.W["mu.weight"] + self.W["mu.bias"][0])     # [Nq]
            sig2 = torch.clamp(F.softplus(s @ self.W["sigma.weight"] + self.W["sigma.bias"][0]),
                               min=self.sigma_min2)
            # r_j = E_{t ~ N(mu, sigma2)}[psi_j(t)] = Normal(mu; c_j, sigma2 + w_j^2)
            r = normal_pdf(mu[:, None], self.c[None, :], sig2[:, None] + (self.w ** 2)[None, :])
            zs.append(r @ V[:, h, :])                                              # [Nq, dv]
            mus.append(mu)
            sig2s.append(sig2)
        z = torch.cat(zs, dim=1)                                                   # [Nq, H*dv]
        out = z @ self.W["out"].T                                                  # [Nq, e]
        mu, sig2 = torch.stack(mus), torch.stack(sig2s)
        self.last_read = (mu, sig2)
        return out, mu, sig2

    # --------------------------------------------------------------------------------------- write
    def gate(self, X):
        """X * sigmoid(conv1d(X)) over the token axis, kernel 3, padding 1, e -> e channels."""
        y = F.conv1d(X.T[None], self.W["gate.weight"], self.W["gate.bias"], padding=1)[0].T
        return X * torch.sigmoid(y)

    def write(self, h, uniforms=None, generator=None):
        """h [n, e] (the segment's attention-input hidden states)."""
        X = h.to(self.dtype)
        n = X.shape[0]
        if self.input_gate == "conv":
            X = self.gate(X)                       # new rows only
        if self.reset_every > 0 and self.written >= self.reset_every:
            self.B, self.written = None, 0
        if self.B is None:
            t = (torch.arange(1, n + 1, dtype=self.dtype) - 0.5) / n
            self.B = ridge_fit(t, X, self.c, self.w, self.lam)
        else:
            M = self.M
            if self.sticky:
                if uniforms is None:
                    uniforms = torch.rand(M, generator=generator, dtype=torch.float64)
                assert uniforms.numel() == M
                mu, sig2 = self.last_read
                s, margin = sticky_positions(mu, sig2, uniforms, self.bins)
                self.min_margin = min(self.min_margin, margin)
            else:
                s = torch.arange(1, M + 1, dtype=self.dtype) / M
            X_old = psi(s, self.c, self.w).T @ self.B                              # [M, e]
            # tau "uniform" (an Engram option, not the paper's): every token written keeps an equal share
            tau = self.written / (self.written + n) if self.tau == "uniform" else self.tau
            t_old = torch.arange(1, M + 1, dtype=self.dtype) * tau / M
            t_new = tau + (1.0 - tau) * torch.arange(1, n + 1, dtype=self.dtype) / n
            self.B = ridge_fit(torch.cat([t_old, t_new]), torch.cat([X_old, X]),
                               self.c, self.w, self.lam)
        self.written += n
