"""A small decoder-only transformer whose layers each take a local attention and an optional long-term
memory, run segment by segment exactly as docs/schemes.md section 0 and runtime-onnx/README.md ("Model package format") state:

    pre (LayerNorm, q/k/v projections)  -> q, k, v, h           (q/k/v without positional encoding)
    local attention (PE applied there)   -> A_local [B, H, N, dv]
    memory read (earlier segments only)  -> A_mem per head, or a model-space addend [B, N, e]
    combine (gated per head)             -> A
    memory write (this segment)
    post: out = hidden + merge(A) W_o^T + addend; out = out + MLP(LayerNorm(out))

The pieces (Embed, Pre, Post, Head) are the modules that export.py writes as ONNX graphs, so the full
model is literally their composition with the attention/memory modules of schemes.py in between.

Layer specs are dicts in the Java config vocabulary (the manifest's "memory" tree), e.g.
``{"provider": "window", "window": 0}`` and ``{"provider": "infini", "update": "delta"}``; the same
factory builds the modules for training and when a package is re-loaded (tests).
"""
import math
from dataclasses import dataclass, field, asdict
from typing import List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import schemes


@dataclass
class ModelConfig:
    vocab: int = 32
    layers: int = 2
    model_dim: int = 64
    heads: int = 4
    kv_heads: int = 4
    key_dim: int = 16
    value_dim: int = 16
    segment: int = 32
    positional: str = "rope"  # rope | alibi | none (the window/full attention's encoding) | learned (see Embed)
    max_positions: int = 0  # learned only: the size of the absolute position table
    theta: float = 10000.0
    eps: float = 1e-5
    mlp_ratio: int = 4
    attention: List[dict] = field(default_factory=lambda: [{"provider": "window", "window": 0}] * 2)
    memory: List[Optional[dict]] = field(default_factory=lambda: [None, None])

    def to_dict(self):
        return asdict(self)

    @staticmethod
    def from_dict(d):
        return ModelConfig(**d)


def make_attention(spec, cfg):
    spec = dict(spec)
    p = spec.pop("provider")
    if p in ("full", "window"):
        window = None if p == "full" else int(spec.pop("window", 512))
        # learned positions are added by the embed graph; the attention then applies none (EngineLoader's rule)
        positional = spec.pop("positional", "none" if cfg.positional == "learned" else cfg.positional)
        theta = float(spec.pop("ropeTheta", cfg.theta))
        a = schemes.WindowAttention(cfg.heads, cfg.kv_heads, cfg.key_dim, cfg.value_dim, window, positional, theta,
                                    spec.pop("kvCache", "float32"))
    elif p == "lsh":
        if cfg.kv_heads != cfg.heads:
            raise ValueError("lsh attention needs kvHeads == heads (shared QK, v per query head)")
        a = schemes.LshAttention(cfg.heads, cfg.key_dim, cfg.value_dim, rounds=int(spec.pop("rounds", 4)),
                                 buckets=int(spec.pop("buckets")), chunk=int(spec.pop("chunk", 64)),
                                 causal=bool(spec.pop("causal", True)), seed=int(spec.pop("seed", 0)))
    else:
        raise ValueError(f"unknown attention provider '{p}'")
    if spec:
        raise ValueError(f"unknown keys for attention '{p}': {sorted(spec)}")
    return a


def parse_tau(value, prefix=""):
    """A continuous memory's tau as the Java config takes it: a number in (0, 1), or the word uniform (any case);
    anything else raises ValueError naming ``prefix`` + the value and what is valid."""
    if isinstance(value, str) and value.strip().lower() == "uniform":
        return "uniform"
    try:
        number = None if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        number = None
    if number is None or not 0 < number < 1:
        raise ValueError(f"{prefix}{value!r}; valid: a number in (0, 1), or 'uniform'")
    return number


def make_memory(spec, cfg):
    if spec is None:
        return None
    spec = dict(spec)
    p = spec.pop("provider")
    H, G, dk, dv, e = cfg.heads, cfg.kv_heads, cfg.key_dim, cfg.value_dim, cfg.model_dim
    if p == "infini":
        m = schemes.InfiniMemory(H, G, dk, dv, update=spec.pop("update", "linear"), eps=float(spec.pop("eps", 1e-6)))
    elif p == "lsh-knn":
        m = schemes.LshKnnMemory(H, G, dk, dv, capacity=int(spec.pop("capacity", 65536)),
                                 rounds=int(spec.pop("rounds", 4)), buckets=int(spec.pop("buckets", 64)),
                                 k=int(spec.pop("k", 32)), scale=float(spec.pop("scale", 0.0)),
                                 exact=bool(spec.pop("exact", False)), seed=int(spec.pop("seed", 0)))
    elif p == "continuous":
        m = schemes.ContinuousMemory(H, dk, dv, e, basis=int(spec.pop("basis", 512)),
                                     widths=tuple(spec.pop("widths", (0.005, 0.01))), lam=float(spec.pop("lambda", 0.5)),
                                     tau=parse_tau(spec.pop("tau", 0.5), "'tau' is "), samples=int(spec.pop("samples", 512)),
                                     sigma_min2=float(spec.pop("sigmaMin2", 1e-4)),
                                     reset_every=int(spec.pop("resetEvery", 0)), input_gate=spec.pop("inputGate", None),
                                     sticky=bool(spec.pop("sticky", False)), bins=int(spec.pop("bins", 128)),
                                     seed=int(spec.pop("seed", 0)))
    else:
        raise ValueError(f"unknown memory provider '{p}'")
    if spec:
        raise ValueError(f"unknown keys for memory '{p}': {sorted(spec)}")
    return m


class Embed(nn.Module):
    """Token embedding; with ``positional: learned`` plus a learned absolute position embedding (GPT-2 style), and the
    exported embed graph then takes ``position_ids`` [B, N] too (runtime-onnx OnnxGraphs, Engine: absolute positions
    from 0, refused at or past ``max_positions``)."""

    def __init__(self, cfg):
        super().__init__()
        self.tok = nn.Embedding(cfg.vocab, cfg.model_dim)
        self.learned = cfg.positional == "learned"
        if self.learned:
            if cfg.max_positions <= 0:
                raise ValueError(f"max_positions {cfg.max_positions}: learned positions need a table size >= 1")
            self.pos = nn.Embedding(cfg.max_positions, cfg.model_dim)

    def forward(self, input_ids, position_ids=None):
        x = self.tok(input_ids)
        if self.learned:
            if position_ids is None:
                raise ValueError("learned positions: the embed needs position_ids")
            x = x + self.pos(position_ids)
        return x


class Pre(nn.Module):
    """hidden [B, N, e] -> q [B, H, N, dk], k [B, G, N, dk], v [B, G, N, dv], h [B, N, e]."""

    def __init__(self, cfg):
        super().__init__()
        self.H, self.G, self.dk, self.dv = cfg.heads, cfg.kv_heads, cfg.key_dim, cfg.value_dim
        self.norm = nn.LayerNorm(cfg.model_dim, eps=cfg.eps)
        self.wq = nn.Linear(cfg.model_dim, self.H * self.dk, bias=False)
        self.wk = nn.Linear(cfg.model_dim, self.G * self.dk, bias=False)
        self.wv = nn.Linear(cfg.model_dim, self.G * self.dv, bias=False)

    def forward(self, hidden):
        b, n = hidden.shape[0], hidden.shape[1]
        h = self.norm(hidden)
        q = self.wq(h).reshape(b, n, self.H, self.dk).transpose(1, 2)
        k = self.wk(h).reshape(b, n, self.G, self.dk).transpose(1, 2)
        v = self.wv(h).reshape(b, n, self.G, self.dv).transpose(1, 2)
        return q, k, v, h


class Post(nn.Module):
    """hidden [B, N, e], attn [B, H, N, dv], addend [B, N, e] -> out [B, N, e]."""

    def __init__(self, cfg):
        super().__init__()
        self.H, self.dv = cfg.heads, cfg.value_dim
        e = cfg.model_dim
        self.wo = nn.Linear(self.H * self.dv, e, bias=False)
        self.norm = nn.LayerNorm(e, eps=cfg.eps)
        self.fc1 = nn.Linear(e, cfg.mlp_ratio * e)
        self.fc2 = nn.Linear(cfg.mlp_ratio * e, e)

    def forward(self, hidden, attn, addend):
        b, n = hidden.shape[0], hidden.shape[1]
        merged = attn.transpose(1, 2).reshape(b, n, self.H * self.dv)
        out = hidden + self.wo(merged) + addend
        return out + self.fc2(F.gelu(self.fc1(self.norm(out))))


class Head(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.norm = nn.LayerNorm(cfg.model_dim, eps=cfg.eps)
        self.unembed = nn.Linear(cfg.model_dim, cfg.vocab, bias=False)

    def forward(self, hidden):
        return self.unembed(self.norm(hidden))


class Layer(nn.Module):
    def __init__(self, cfg, i):
        super().__init__()
        self.pre = Pre(cfg)
        self.post = Post(cfg)
        self.attention = make_attention(cfg.attention[i], cfg)
        self.memory = make_memory(cfg.memory[i], cfg)

    def init_state(self, batch):
        return self.attention.init_state(batch), (self.memory.init_state(batch) if self.memory else None)

    def forward(self, hidden, start, state):
        att_state, mem_state = state
        q, k, v, h = self.pre(hidden)                                   # (1)
        local, att_state = self.attention(q, k, v, start, att_state)   # (2) PE inside, causal
        attn, addend, mem_state = schemes.with_memory(self.memory, q, k, v, h, local, mem_state)  # (3)-(5)
        addend = torch.zeros_like(hidden) if addend is None else addend
        return self.post(hidden, attn, addend), (att_state, mem_state)  # (6)


class EngramModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        assert len(cfg.attention) == cfg.layers and len(cfg.memory) == cfg.layers
        assert cfg.heads % cfg.kv_heads == 0
        self.cfg = cfg
        self.embed = Embed(cfg)
        self.layers = nn.ModuleList([Layer(cfg, i) for i in range(cfg.layers)])
        self.head = Head(cfg)
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02 * math.sqrt(64 / m.in_features))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.5)

    def init_state(self, batch):
        return [layer.init_state(batch) for layer in self.layers]

    def forward_segment(self, input_ids, start, states):
        if self.embed.learned:
            n = input_ids.shape[1]
            if start + n > self.cfg.max_positions:
                raise ValueError(f"positions {start}..{start + n - 1}: past the learned table's last position "
                                 f"{self.cfg.max_positions - 1}")
            pos = torch.arange(start, start + n, device=input_ids.device).expand(input_ids.shape[0], n)
            x = self.embed(input_ids, pos)
        else:
            x = self.embed(input_ids)
        new_states = []
        for layer, st in zip(self.layers, states):
            x, st = layer(x, start, st)
            new_states.append(st)
        return self.head(x), new_states

    def forward(self, input_ids, states=None, start=0, segment=None):
        """Logits [B, T, V] for input_ids [B, T], processed in segments of ``segment`` (default cfg.segment)."""
        segment = segment or self.cfg.segment
        states = states if states is not None else self.init_state(input_ids.shape[0])
        outs = []
        for s in range(0, input_ids.shape[1], segment):
            logits, states = self.forward_segment(input_ids[:, s:s + segment], start + s, states)
            outs.append(logits)
        return torch.cat(outs, dim=1), states

    def memory_weights(self):
        """{"layers.{i}.{provider}.{weight}": tensor} for every attention and memory weight."""
        out = {}
        for i, layer in enumerate(self.layers):
            for mod in (layer.attention, layer.memory):
                if mod is None:
                    continue
                prov = mod.config()["provider"]
                for name, t in mod.weights().items():
                    out[f"layers.{i}.{prov}.{name}"] = t.detach().to(torch.float32).contiguous()
        return out

    def load_memory_weights(self, tensors):
        """Inverse of memory_weights (used when re-loading a package)."""
        for i, layer in enumerate(self.layers):
            for mod in (layer.attention, layer.memory):
                if mod is None:
                    continue
                prov = mod.config()["provider"]
                for name, t in mod.weights().items():
                    with torch.no_grad():
                        t.copy_(tensors[f"layers.{i}.{prov}.{name}"].reshape(t.shape))
