"""Conformance cases (docs/conformance.md) computed by this independent torch reference.

    cd /work/main && python3 -m tools.engram_ref.make_cases            # regenerate every torch-*.json
    python3 -m tools.engram_ref.make_cases --check FILE.json ...       # run any case through the reference

Inputs are drawn from fixed torch seeds as float32 (so the JSON holds them exactly), the expected
values are computed in float64 and written rounded to float32. Before a case is written it is also
run in float32 with the same code and must stay within a tenth of the tolerance, and the discrete
decisions (hash argmax, top-k boundary, sticky inverse-CDF bins) must have a margin of at least
1e-5, so that a correct float32 implementation cannot flip them; otherwise the case is redrawn with
the next seed (deterministically).
"""
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

from .continuous import ContinuousMemory
from .infini import InfiniMemory, combine
from .knn import KnnMemory
from .lsh import CachedAttention, default_buckets, lsh_attention, random_rotations

FORMAT = "engram-conformance/1"
ROOT = Path(__file__).resolve().parents[2]
TOL = {"abs": 1e-4, "rel": 1e-3}
MARGIN = 1e-5


class NotReproducible(Exception):
    """The case depends on the Java random stream (seeded rotations or sticky draws)."""


# ---------------------------------------------------------------------------------------- JSON I/O
def _short(x):
    """The shortest decimal that reads back as the same float32."""
    return float(str(np.float32(x)))


def tensor_json(t):
    t = t.detach().to(torch.float32).contiguous()
    return {"shape": list(t.shape), "data": [_short(x) for x in t.flatten().tolist()]}


def tensor_from_json(node):
    return torch.tensor(node["data"], dtype=torch.float32).reshape(node["shape"])


def load_case(path):
    doc = json.loads(Path(path).read_text())
    return {
        "provider": doc["provider"], "kind": doc["kind"], "layer": doc["layer"],
        "config": doc.get("config") or {},
        "weights": {k: tensor_from_json(v) for k, v in (doc.get("weights") or {}).items()},
        "segments": [{k: tensor_from_json(v) for k, v in s.items() if k != "description"}
                     for s in doc["segments"]],
        "expected": [{k: tensor_from_json(v) for k, v in e.items() if k != "description"}
                     for e in doc.get("expected") or []],
        "tolerance": doc.get("tolerance", TOL),
    }


def dump_case(path, name, case, expected, description):
    """Compact but diff-friendly: one line per tensor."""
    def tline(t):
        return json.dumps(tensor_json(t), separators=(", ", ": "))

    def tmap(d, indent):
        items = [f'{indent}"{k}": {tline(v)}' for k, v in d.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent[:-2] + "}"

    lines = ["{",
             f'  "format": "{FORMAT}",',
             f'  "kind": "{case["kind"]}",',
             f'  "provider": "{case["provider"]}",',
             f'  "description": {json.dumps(description)},',
             f'  "layer": {json.dumps(case["layer"], separators=(", ", ": "))},',
             f'  "config": {json.dumps(case["config"], separators=(", ", ": "))},',
             f'  "weights": {tmap(case["weights"], "    ") if case["weights"] else "{}"},',
             '  "segments": [',
             ",\n".join("    " + tmap(s, "      ") for s in case["segments"]),
             "  ],",
             '  "expected": [',
             ",\n".join("    " + tmap(e, "      ") for e in expected),
             "  ],",
             f'  "tolerance": {json.dumps(case["tolerance"])}',
             "}"]
    text = "\n".join(lines) + "\n"
    json.loads(text)                                   # well-formed
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return len(text)


# ------------------------------------------------------------------------------------ case runner
def run_case(case, dtype=torch.float64):
    """Feeds the case's segments to the reference; returns (expected list, diagnostics dict)."""
    p, L, cfg, W = case["provider"], case["layer"], case["config"], case["weights"]
    H, G, dk, dv, e = L["heads"], L["kvHeads"], L["keyDim"], L["valueDim"], L["modelDim"]
    segs = case["segments"]
    out, diag = [], {"margin": float("inf")}
    if p == "infini":
        mem = InfiniMemory(H, G, dk, dv, cfg.get("update", "linear"), cfg.get("eps", 1e-6), dtype)
        for s in segs:
            a_mem = mem.read(s["q"])
            out.append({"output": combine(a_mem, s["local"], W["beta"]), "memory": a_mem})
            mem.write(s["k"], s["v"])
    elif p == "continuous":
        if cfg.get("sticky", False) and any("uniforms" not in s for s in segs[1:]):
            raise NotReproducible("sticky without given uniforms needs the Java stream")
        mem = ContinuousMemory(
            H, dk, dv, e, W, basis=cfg.get("basis", 512), widths=cfg.get("widths", [0.005, 0.01]),
            lam=cfg.get("lambda", 0.5), tau=cfg.get("tau", 0.5), samples=cfg.get("samples", 512),
            sticky=cfg.get("sticky", False), bins=cfg.get("bins", 128),
            sigma_min2=cfg.get("sigmaMin2", 1e-4), reset_every=cfg.get("resetEvery", 0),
            input_gate=cfg.get("inputGate", "none"), dtype=dtype)
        for s in segs:
            o, mu, sig2 = mem.read(s["q"])
            entry = {"output": o}
            if mu is not None:
                entry["mu"], entry["sigma2"] = mu, sig2
            out.append(entry)
            mem.write(s["h"], uniforms=s.get("uniforms"))
        diag["margin"] = mem.min_margin
    elif p == "lsh":
        rounds, chunk = cfg.get("rounds", 4), cfg.get("chunk", 64)
        for s in segs:
            q, v = s["q"].to(dtype), s["v"].to(dtype)
            N = q.shape[1]
            n_pad = -(-N // chunk) * chunk
            buckets = cfg.get("buckets", 0) or default_buckets(n_pad, chunk)
            if "rotations" in W:
                rot = W["rotations"].to(dtype)
            elif n_pad == chunk:    # one chunk: buckets restrict nothing, any rotations do
                rot = random_rotations(H, dk, rounds, buckets, cfg.get("seed", 0), dtype)
            else:
                raise NotReproducible("lsh with several chunks needs the `rotations` weight")
            o, m = lsh_attention(q, v, rot, chunk, cfg.get("causal", True), return_margin=True)
            if n_pad > chunk:
                diag["margin"] = min(diag["margin"], m)
            out.append({"output": o})
    elif p == "lsh-knn":
        exact = cfg.get("exact", False)
        if not exact and "rotations" not in W:
            raise NotReproducible("hashed lsh-knn needs the `rotations` weight")
        mem = KnnMemory(H, G, dk, dv, capacity=cfg.get("capacity", 65536), k=cfg.get("k", 32),
                        scale=cfg.get("scale", 0), exact=exact,
                        rotations=None if exact else W["rotations"], dtype=dtype)
        for s in segs:
            a_mem = mem.read(s["q"])
            out.append({"output": combine(a_mem, s["local"], W["gate"]), "memory": a_mem})
            mem.write(s["k"], s["v"])
        diag["margin"] = min(mem.min_hash_margin, mem.min_topk_gap)
        diag["ties"] = mem.boundary_ties
    elif p in ("full", "window"):
        att = CachedAttention(H, G, None if p == "full" else cfg.get("window", 512),
                              cfg.get("positional", "rope"), cfg.get("ropeTheta", 10000.0), dtype,
                              sinks=cfg.get("sinks", 0), kv_cache=cfg.get("kvCache", "float32"))
        for s in segs:
            out.append({"output": att.forward(s["q"], s["k"], s["v"])})
    else:
        raise ValueError(f"unknown provider {p}")
    return out, diag


def worst_violation(expected, actual, tol):
    """max over values of |a - e| / (abs + rel |e|) (<= 1 passes), and the key set agreement."""
    worst = 0.0
    for e, a in zip(expected, actual):
        if set(e) != set(a):
            return float("inf")
        for k in e:
            ev, av = e[k].to(torch.float64), a[k].to(torch.float64)
            if ev.shape != av.shape:
                return float("inf")
            r = ((av - ev).abs() / (tol["abs"] + tol["rel"] * ev.abs())).max().item() if ev.numel() else 0.0
            worst = max(worst, r)
    return worst


# ---------------------------------------------------------------------------------------- inputs
class Draw:
    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def n(self, *shape, scale=1.0, shift=0.0):
        return (torch.randn(*shape, generator=self.g, dtype=torch.float64) * scale + shift).to(torch.float32)

    def u(self, *shape):
        return torch.rand(*shape, generator=self.g, dtype=torch.float64).to(torch.float32)


def layer(H, G, dk, dv, e):
    return {"heads": H, "kvHeads": G, "keyDim": dk, "valueDim": dv, "modelDim": e}


def new_case(kind, provider, lay, config):
    return {"kind": kind, "provider": provider, "layer": lay, "config": config, "weights": {},
            "segments": [], "tolerance": dict(TOL)}


# ----------------------------------------------------------------------------------------- infini
def infini_case(d, H, G, dk, dv, lengths, config):
    c = new_case("memory", "infini", layer(H, G, dk, dv, 8), config)
    c["weights"]["beta"] = d.n(H)
    for n in lengths:
        c["segments"].append({"q": d.n(H, n, dk), "k": d.n(G, n, dk), "v": d.n(G, n, dv),
                              "local": d.n(H, n, dv)})
    return c


# ------------------------------------------------------------------------------------- continuous
def continuous_case(d, H, G, dk, dv, e, lengths, config, sticky_uniforms=False, gated=False,
                    sigma_bias=0.0):
    c = new_case("memory", "continuous", layer(H, G, dk, dv, e), config)
    N = config["basis"]
    w = c["weights"]
    w["proj_key"] = d.n(H * dk, e, scale=1.0 / math.sqrt(e))
    w["proj_value"] = d.n(H * dv, e, scale=1.0 / math.sqrt(e))
    w["mu.weight"] = d.n(N, scale=1.0 / math.sqrt(N))
    w["mu.bias"] = d.n(1, scale=0.5)
    w["sigma.weight"] = d.n(N, scale=1.0 / math.sqrt(N))
    w["sigma.bias"] = d.n(1, scale=0.5, shift=sigma_bias)
    w["out"] = d.n(e, H * dv, scale=1.0 / math.sqrt(H * dv))
    if gated:
        w["gate.weight"] = d.n(e, e, 3, scale=1.0 / math.sqrt(3 * e))
        w["gate.bias"] = d.n(e, scale=0.5)
    M = config["samples"]
    for n in lengths:
        s = {"q": d.n(H, n, dk, scale=2.0), "h": d.n(n, e)}
        if sticky_uniforms:
            s["uniforms"] = d.u(M)
        c["segments"].append(s)
    return c


# -------------------------------------------------------------------------------------------- lsh
def lsh_case(d, H, dk, dv, lengths, config, give_rotations=True):
    c = new_case("attention", "lsh", layer(H, H, dk, dv, 8), config)
    if give_rotations:
        c["weights"]["rotations"] = d.n(H, dk, config["rounds"], config["buckets"] // 2)
    for n in lengths:
        c["segments"].append({"q": d.n(H, n, dk, scale=1.5), "v": d.n(H, n, dv)})
    return c


def knn_case(d, H, G, dk, dv, lengths, config, dup_keys=False):
    c = new_case("memory", "lsh-knn", layer(H, G, dk, dv, 8), config)
    c["weights"]["gate"] = d.n(H)
    if not config.get("exact", False):
        c["weights"]["rotations"] = d.n(G, dk, config["rounds"], config["buckets"] // 2)
    for n in lengths:
        s = {"q": d.n(H, n, dk), "k": d.n(G, n, dk), "v": d.n(G, n, dv), "local": d.n(H, n, dv)}
        c["segments"].append(s)
    if dup_keys:
        # segment 1 starts with 2x segment 0's keys (equal normalised keys, different values); with
        # capacity 5 the store read by segment 2 is [a2, 2a0, 2a1, 2a2, x] (a0, a1 evicted):
        # query a2 ties a2 with 2a2 (the older, a2, wins with k = 1); query a0 finds only 2a0
        a = c["segments"][0]["k"]
        c["segments"][1]["k"][:, :lengths[0]] = 2.0 * a
        c["segments"][2]["q"][:, 0] = a[0, 2]
        c["segments"][2]["q"][:, 1] = a[0, 0]
    return c


def attn_case(provider, d, H, G, dk, dv, lengths, config):
    c = new_case("attention", provider, layer(H, G, dk, dv, 8), config)
    for n in lengths:
        c["segments"].append({"q": d.n(H, n, dk), "k": d.n(G, n, dk), "v": d.n(G, n, dv)})
    return c


# ------------------------------------------------------------------------------------------ cases
INF = "memory-infini/src/test/resources/conformance"
CON = "memory-continuous/src/test/resources/conformance"
LSH = "memory-lsh/src/test/resources/conformance"
BAS = "baselines/src/test/resources/conformance"
W2 = [0.05, 0.1]

CASES = [
    # (directory, file name, builder(draw) -> case, description, check the margins)
    (INF, "torch-infini-linear-mha", lambda d: infini_case(d, 2, 2, 4, 4, [5, 3, 6, 4], {"update": "linear"}),
     "linear rule, H = G = 2, segments of 5, 3, 6, 4 tokens", False),
    (INF, "torch-infini-delta-mha", lambda d: infini_case(d, 2, 2, 4, 4, [5, 3, 6, 4], {"update": "delta", "eps": 1e-6}),
     "delta rule, H = G = 2", False),
    (INF, "torch-infini-linear-gqa", lambda d: infini_case(d, 4, 2, 6, 5, [4, 6, 3, 5], {"update": "linear"}),
     "linear rule, grouped heads H = 4, G = 2 (head h reads kv head h // 2)", False),
    (INF, "torch-infini-delta-gqa", lambda d: infini_case(d, 4, 1, 4, 8, [3, 5, 4, 6, 2], {"update": "delta"}),
     "delta rule, H = 4 heads on G = 1 kv head, dv = 8", False),
    (INF, "torch-infini-delta-one-token-segments", lambda d: infini_case(d, 3, 1, 4, 3, [1, 1, 1, 1, 1], {"update": "delta"}),
     "delta rule, five one-token segments, H = 3, G = 1", False),
    (INF, "torch-infini-linear-eps", lambda d: infini_case(d, 2, 1, 4, 4, [1, 3, 4], {"update": "linear", "eps": 100.0}),
     "linear rule with eps = 100 so that max(sigma(Q) z, eps) clamps on the second segment", False),

    (CON, "torch-continuous-plain", lambda d: continuous_case(
        d, 2, 1, 4, 3, 6, [5, 4, 6, 3], {"basis": 12, "widths": W2, "samples": 10}),
     "uniform update, basis 12 (6 centres x widths 0.05, 0.1), samples 10, default tau/lambda", False),
    (CON, "torch-continuous-sticky-uniforms", lambda d: continuous_case(
        d, 2, 2, 4, 3, 6, [5, 4, 6, 3, 4], {"basis": 16, "widths": W2, "samples": 12, "sticky": True, "bins": 10},
        sticky_uniforms=True),
     "sticky memories with given uniforms (12 per segment; unused by the first, empty-memory write), bins 10", True),
    (CON, "torch-continuous-gated", lambda d: continuous_case(
        d, 2, 2, 4, 3, 6, [4, 6, 5, 3], {"basis": 10, "widths": [0.08, 0.15], "samples": 8, "tau": 0.3,
                                         "lambda": 0.2, "inputGate": "conv"}, gated=True),
     "inputGate conv on the new rows, tau 0.3, lambda 0.2", False),
    (CON, "torch-continuous-reset-sigmamin", lambda d: continuous_case(
        d, 3, 3, 2, 2, 5, [5, 4, 6, 3, 5], {"basis": 8, "widths": W2, "samples": 9, "resetEvery": 8,
                                            "sigmaMin2": 0.01}, sigma_bias=-6.0),
     "resetEvery 8 with segments of 5, 4, 6, 3, 5 tokens (writes 1 and 3 update, 2 and 4 reset first), "
     "sigma.bias near -6 so that sigmaMin2 = 0.01 clamps", False),
    (CON, "torch-continuous-sticky-gated-reset", lambda d: continuous_case(
        d, 2, 1, 4, 2, 4, [3, 5, 4, 6], {"basis": 14, "widths": W2, "samples": 11, "sticky": True, "bins": 16,
                                         "tau": 0.7, "resetEvery": 12, "inputGate": "conv"},
        sticky_uniforms=True, gated=True),
     "sticky (given uniforms) + conv gate + resetEvery 12, tau 0.7", True),

    (LSH, "torch-lsh-r1-causal-3chunks", lambda d: lsh_case(
        d, 2, 4, 3, [12, 9], {"rounds": 1, "buckets": 4, "chunk": 4, "causal": True}),
     "one round, chunk 4: 3 chunks (the first wraps to the last), then 9 tokens padded to 12", True),
    (LSH, "torch-lsh-r1-noncausal-padded", lambda d: lsh_case(
        d, 2, 4, 2, [7, 10], {"rounds": 1, "buckets": 2, "chunk": 3, "causal": False}),
     "one round, not causal, chunk 3: 7 -> 9 and 10 -> 12 padded", True),
    (LSH, "torch-lsh-r4-causal-padded", lambda d: lsh_case(
        d, 2, 4, 3, [13, 10, 5], {"rounds": 4, "buckets": 8, "chunk": 4, "causal": True}),
     "four rounds combined by logsumexp, causal, buckets 8, chunk 4, lengths needing padding", True),
    (LSH, "torch-lsh-r4-noncausal", lambda d: lsh_case(
        d, 3, 6, 4, [16, 8], {"rounds": 4, "buckets": 4, "chunk": 4, "causal": False}),
     "four rounds, not causal, H = 3, dk = 6", True),
    (LSH, "torch-lsh-r2-single-chunk-seeded", lambda d: lsh_case(
        d, 2, 4, 3, [9, 16], {"rounds": 2, "chunk": 16, "causal": True, "seed": 5}, give_rotations=False),
     "one chunk (chunk 16 >= N): equals full attention with the self mask whatever the rotations "
     "(seeded, default buckets)", False),

    (LSH, "torch-lsh-knn-exact-gqa", lambda d: knn_case(
        d, 4, 2, 4, 3, [4, 5, 3, 6], {"capacity": 10, "k": 3, "exact": True}),
     "exact search, H = 4 on G = 2, capacity 10 (evicts from segment 3 on), k 3", True),
    (LSH, "torch-lsh-knn-hashed-evict", lambda d: knn_case(
        d, 2, 1, 4, 3, [5, 4, 6, 3], {"capacity": 8, "rounds": 2, "buckets": 4, "k": 3}),
     "hashed, 2 rounds x 4 buckets, given rotations, capacity 8 (evicts), k 3", True),
    (LSH, "torch-lsh-knn-hashed-gqa-scale", lambda d: knn_case(
        d, 4, 2, 6, 2, [6, 5, 7], {"capacity": 64, "rounds": 3, "buckets": 6, "k": 4, "scale": 2.5}),
     "hashed, 3 rounds x 6 buckets, H = 4 on G = 2, scale 2.5", True),
    (LSH, "torch-lsh-knn-exact-ties-long-segment", lambda d: knn_case(
        d, 2, 1, 3, 2, [3, 4, 6, 2], {"capacity": 5, "k": 1, "exact": True}, dup_keys=True),
     "exact, k 1, capacity 5: segment 1 stores 2x segment 0's keys a0..a2 (equal normalised keys, other "
     "values); segment 2 reads [a2, 2a0, 2a1, 2a2, x]: its query a2 ties a2 and 2a2 (the older, a2, wins), "
     "its query a0 finds 2a0 (a0 was evicted); segment 2 (6 tokens) is longer than the capacity", False),

    (BAS, "torch-full-none-gqa", lambda d: attn_case("full", d, 4, 2, 4, 3, [3, 4, 2, 5], {"positional": "none"}),
     "full causal attention over every past token, no positional encoding, H = 4 on G = 2", False),
    (BAS, "torch-full-rope-default-theta", lambda d: attn_case("full", d, 2, 2, 6, 3, [4, 3, 5], {"positional": "rope"}),
     "rope rotate-half (dim i pairs with i + dk/2), default ropeTheta 10000, absolute positions", False),
    (BAS, "torch-full-rope-theta50-gqa", lambda d: attn_case(
        "full", d, 4, 1, 8, 2, [5, 2, 6], {"positional": "rope", "ropeTheta": 50.0}),
     "rope with ropeTheta 50, H = 4 on G = 1", False),
    (BAS, "torch-full-alibi-h3", lambda d: attn_case("full", d, 3, 1, 4, 3, [4, 5, 3], {"positional": "alibi"}),
     "alibi with H = 3: slopes 2^(-8/3), 2^(-16/3), 2^(-8)", False),
    (BAS, "torch-window3-none", lambda d: attn_case(
        "window", d, 2, 1, 4, 3, [4, 2, 5, 3], {"window": 3, "positional": "none"}),
     "window 3: the segment plus the last 3 tokens before it", False),
    (BAS, "torch-window4-rope-gqa", lambda d: attn_case(
        "window", d, 4, 2, 6, 3, [3, 5, 4, 2], {"window": 4, "positional": "rope", "ropeTheta": 100.0}),
     "window 4, rope theta 100 at absolute positions, H = 4 on G = 2", False),
    (BAS, "torch-window2-alibi", lambda d: attn_case(
        "window", d, 4, 4, 4, 2, [3, 4, 4], {"window": 2, "positional": "alibi"}),
     "window 2 with alibi (slopes 2^(-2), 2^(-4), 2^(-6), 2^(-8))", False),
    (BAS, "torch-window0-rope", lambda d: attn_case(
        "window", d, 2, 2, 4, 2, [3, 4, 2], {"window": 0, "positional": "rope"}),
     "window 0: the segment only, rope at absolute positions", False),
    (BAS, "torch-window3-sinks2-rope", lambda d: attn_case(
        "window", d, 2, 1, 4, 3, [4, 3, 5, 2, 4, 3], {"window": 3, "sinks": 2, "positional": "rope", "ropeTheta": 100.0}),
     "window 3 with 2 attention sinks (StreamingLLM), rope theta 100: the sinks sit directly before the oldest window "
     "token, so their rotation moves as the window slides", False),
    (BAS, "torch-window0-sinks3-alibi", lambda d: attn_case(
        "window", d, 4, 2, 4, 2, [2, 2, 3, 4, 2], {"window": 0, "sinks": 3, "positional": "alibi"}),
     "window 0 with 3 sinks captured over two segments, alibi: the sinks sit directly before each segment", False),
    (BAS, "torch-window2-sinks1-none-gqa", lambda d: attn_case(
        "window", d, 4, 2, 3, 3, [1, 3, 2, 4, 1], {"window": 2, "sinks": 1, "positional": "none"}),
     "window 2 with 1 sink, no positional encoding, H = 4 on G = 2, a one-token first segment", False),
    # bfloat16 caches without rope: the keys stored are the inputs' own, rounded the same way on both sides (a
    # rotated key is computed in float64 here and float32 in Java, which may round to another bfloat16 near a tie)
    (BAS, "torch-full-bf16-alibi-gqa", lambda d: attn_case(
        "full", d, 4, 2, 8, 4, [5, 3, 6], {"positional": "alibi", "kvCache": "bfloat16"}),
     "kvCache bfloat16: every key and value rounded to the nearest bfloat16 before it is attended, alibi, H = 4 "
     "on G = 2", False),
    (BAS, "torch-window3-sinks2-bf16-none", lambda d: attn_case(
        "window", d, 2, 1, 4, 3, [4, 3, 5, 2], {"window": 3, "sinks": 2, "positional": "none", "kvCache": "bfloat16"}),
     "kvCache bfloat16 on window 3 with 2 sinks, no positional encoding", False),
    # appended last: a case's torch seed follows its index, so the cases above keep theirs
    (CON, "torch-continuous-uniform-tau-sticky-reset", lambda d: continuous_case(
        d, 2, 2, 4, 3, 6, [6, 4, 5, 3, 6], {"basis": 16, "widths": W2, "samples": 12, "sticky": True, "bins": 10,
                                            "tau": "uniform", "resetEvery": 14}, sticky_uniforms=True),
     "tau uniform (the old signal on [0, written / (written + n)]: 6/10, 10/15, then resetEvery 14 empties the "
     "memory before write 4, then 3/9), sticky with given uniforms", True),
]


def build(builder, check_margin, base_seed):
    """Draws inputs from seeds base_seed, base_seed + 1, ... until the case is robust."""
    for attempt in range(50):
        seed = base_seed + attempt
        case = builder(Draw(seed))
        expected, diag = run_case(case, torch.float64)
        as32, _ = run_case(case, torch.float32)
        drift = worst_violation(expected, as32, case["tolerance"])
        if drift <= 0.1 and (not check_margin or diag["margin"] >= MARGIN):
            return case, expected, seed, drift
    raise RuntimeError("no robust draw found")


def generate(root=ROOT, verbose=True):
    written = []
    for index, (directory, name, builder, description, check_margin) in enumerate(CASES):
        case, expected, seed, drift = build(builder, check_margin, 1000 * (index + 1))
        desc = (f"Generated by tools/engram_ref/make_cases.py (independent float64 PyTorch reference, "
                f"torch input seed {seed}): {description}.")
        path = Path(root) / directory / f"{name}.json"
        size = dump_case(path, name, case, expected, desc)
        # the file as written must reproduce (float32 inputs round-trip exactly)
        again, _ = run_case(load_case(path), torch.float64)
        assert worst_violation(load_case(path)["expected"], again, {"abs": 1e-7, "rel": 1e-6}) <= 1.0, name
        written.append(path)
        if verbose:
            print(f"{path.relative_to(root)}  {size // 1024} KB  seed {seed}  float32 drift {drift:.3f} of tol")
    return written


def check(paths):
    bad = 0
    for p in paths:
        case = load_case(p)
        try:
            got, _ = run_case(case, torch.float64)
        except NotReproducible as ex:
            print(f"SKIP {p}: {ex}")
            continue
        r = worst_violation(case["expected"], got, case["tolerance"])
        print(f"{'PASS' if r <= 1 else 'FAIL'} {p}  worst {r:.3g} of tolerance")
        bad += r > 1
    return bad


def main(argv):
    if argv and argv[0] == "--check":
        sys.exit(1 if check(argv[1:]) else 0)
    generate()


if __name__ == "__main__":
    main(sys.argv[1:])
