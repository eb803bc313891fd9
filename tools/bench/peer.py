"""The PyTorch peer of `engram bench` (tools/bench/README.md): the same model, the same weights, the same
thread count, measuring ingest tokens/s at the same context lengths.

    cd tools && /usr/bin/python3 -m bench.peer --package DIR --lengths 1024,4096 --threads 2 \
        --strategies STRATEGIES.json --json-out PEER.json

(a) "full-kv": what a user would otherwise run: full causal attention with a growing KV cache (preallocated,
    keys rotated once when cached), the context fed in chunks of the segment length, logits for the last chunk.
(b) per strategy: the same scheme as Engram (engram_model.schemes modules: the training implementation,
    batched torch, functional state), segment by segment, head on the last segment only.
Dense weights come from DIR/model.pt (written by bench.make_model; --checkpoint for another file, e.g. the
NAME.model.pt that engram_model.train writes beside a trained package), provider weights from the package's
memory.safetensors (the ones Engram loads). Prints which BLAS torch uses (torch.__config__ and the library
actually mapped into the process).
"""
import argparse
import json
import math
import os
import sys
import time

# Before torch loads libgomp: idle OpenMP threads sleep instead of spinning. On a machine shared with other work
# (or with the JVM that started us) spinning threads steal the cores and made the peer 20-70x slower in a trial;
# ONNX Runtime on the Engram side runs with spinning off too (runtime-onnx session default).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from engram_model import safetensors_io, schemes
from engram_model.model import EngramModel, ModelConfig


def blas_info():
    cfg = torch.__config__.show()
    info = [part.strip() for part in cfg.replace("\n", ",").split(",") if "BLAS_INFO" in part or "LAPACK_INFO" in part]
    torch.randn(256, 256) @ torch.randn(256, 256)  # make sure the BLAS library is loaded
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                name = os.path.basename(path).lower()
                if any(s in name for s in ("blas", "mkl", "lapack", "dnnl", "blis")):
                    libs.add(path)
    except OSError:
        pass
    return {"config": info, "mapped": sorted(libs), "mkldnn": torch.backends.mkldnn.is_available()}


def load(package, strategy=None, checkpoint=None):
    blob = torch.load(checkpoint or os.path.join(package, "model.pt"))
    cfg = ModelConfig.from_dict(blob["config"])
    if strategy is not None:
        att = strategy["attention"]
        mem = strategy.get("memory", "none")
        cfg.attention = [dict(att)] * cfg.layers
        cfg.memory = [None if mem in (None, "none") else dict(mem)] * cfg.layers
    model = EngramModel(cfg).eval()
    dense = {k: v for k, v in blob["state"].items() if not (".attention." in k or ".memory." in k)}
    missing, _ = model.load_state_dict(dense, strict=False)
    with open(os.path.join(package, "engram.json")) as f:
        wfile = json.load(f)["files"].get("weights")
    weights = safetensors_io.read(os.path.join(package, wfile)) if wfile else {}
    for i, layer in enumerate(model.layers):
        for mod in (layer.attention, layer.memory):
            if mod is None:
                continue
            prov = mod.config()["provider"]
            for name, t in mod.weights().items():
                key = f"layers.{i}.{prov}.{name}"
                if key not in weights:
                    raise SystemExit(f"peer: {wfile} has no '{key}' (run engram bench, which fills provider weights)")
                with torch.no_grad():
                    t.copy_(weights[key].reshape(t.shape))
    return model


@torch.inference_mode()
def ingest_full_kv(model, ids, seg):
    """Full causal attention with a preallocated KV cache, chunks of `seg` tokens; head on the last chunk."""
    cfg = model.cfg
    H, G, dk, dv, L = cfg.heads, cfg.kv_heads, cfg.key_dim, cfg.value_dim, ids.shape[1]
    kc = [torch.empty(1, G, L, dk) for _ in model.layers]
    vc = [torch.empty(1, G, L, dv) for _ in model.layers]
    scale = 1.0 / math.sqrt(dk)
    logits = None
    for s in range(0, L, seg):
        x = model.embed(ids[:, s:s + seg])
        n = x.shape[1]
        pos = torch.arange(s, s + n)
        tri = torch.ones(n, n, dtype=torch.bool).triu(1)
        for i, layer in enumerate(model.layers):
            q, k, v, _ = layer.pre(x)
            if cfg.positional == "rope":
                q, k = schemes.apply_rope(q, pos, cfg.theta), schemes.apply_rope(k, pos, cfg.theta)
            kc[i][:, :, s:s + n] = k
            vc[i][:, :, s:s + n] = v
            kk = schemes.expand_kv(kc[i][:, :, :s + n], H)
            vv = schemes.expand_kv(vc[i][:, :, :s + n], H)
            att = torch.matmul(q, kk.transpose(-1, -2)) * scale
            att[..., s:].masked_fill_(tri, float("-inf"))
            x = layer.post(x, torch.matmul(torch.softmax(att, dim=-1), vv), torch.zeros_like(x))
        if s + n >= L:
            logits = model.head(x)
    return logits


@torch.inference_mode()
def ingest_scheme(model, ids, seg):
    """The Engram scheme in torch: per segment and layer pre -> attention -> memory read/combine/write -> post."""
    states = model.init_state(1)
    logits = None
    L = ids.shape[1]
    for s in range(0, L, seg):
        x = model.embed(ids[:, s:s + seg])
        for i, layer in enumerate(model.layers):
            x, states[i] = layer(x, s, states[i])
        if s + seg >= L:
            logits = model.head(x)
    return logits


def measure(fn, model, lengths, seg, vocab, budget, exponent, log):
    out, skipped = {}, {}
    fn(model, torch.randint(0, vocab, (1, 2 * seg)), seg)  # warm-up
    prev = None
    for L in lengths:
        if prev is not None and budget > 0:
            est = prev[1] * (L / prev[0]) ** exponent
            if est > budget:
                skipped[str(L)] = f"estimated {est:.0f} s > budget {budget:.0f} s"
                log(f"  skip {L}: {skipped[str(L)]}")
                continue
        ids = torch.randint(0, vocab, (1, L), generator=torch.Generator().manual_seed(7))
        t0 = time.perf_counter()
        fn(model, ids, seg)
        dt = time.perf_counter() - t0
        out[str(L)] = L / dt
        prev = (L, dt)
        log(f"  {L}: {L / dt:.0f} tokens/s ({dt:.2f} s)")
    return out, skipped


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--package", required=True)
    ap.add_argument("--checkpoint", help="the dense torch weights {config, state} (default: PACKAGE/model.pt)")
    ap.add_argument("--lengths", required=True, help="comma-separated token counts")
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--strategies", required=True, help="JSON file {name: {attention: {...}, memory: {...} | 'none'}}")
    ap.add_argument("--json-out", required=True)
    ap.add_argument("--budget-s", type=float, default=0, help="skip a length whose estimated time exceeds this (0: never)")
    ap.add_argument("--full-kv-budget-s", type=float, default=None,
                    help="the same for (a) full-KV, the reference the ratios are taken against (default: --budget-s)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    log = lambda m: print(m, file=sys.stderr, flush=True)
    lengths = [int(x) for x in a.lengths.split(",")]
    with open(a.strategies) as f:
        strategies = json.load(f)
    blas = blas_info()
    log(f"peer: torch {torch.__version__}, threads {torch.get_num_threads()}, BLAS {blas['config']} mapped {blas['mapped']}")
    result = {"torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas,
              "ompWaitPolicy": os.environ.get("OMP_WAIT_POLICY"),
              "fullKv": {}, "schemes": {}, "skipped": {}}
    # (a) uses only the dense blocks: load them under plain full attention, not the checkpoint's own memory, whose
    # provider weights the bench may have replaced with the benchmarked strategies' (e.g. a trained continuous
    # package: basis 64 in training, 512 in the bench)
    base = load(a.package, {"attention": {"provider": "full"}, "memory": "none"}, a.checkpoint)
    seg, vocab = base.cfg.segment, base.cfg.vocab
    log("peer (a) full attention, growing KV cache")
    kv_budget = a.budget_s if a.full_kv_budget_s is None else a.full_kv_budget_s
    result["fullKv"], sk = measure(ingest_full_kv, base, lengths, seg, vocab, kv_budget, 2.0, log)
    if sk:
        result["skipped"]["fullKv"] = sk
    for name, strategy in strategies.items():
        log(f"peer (b) {name}")
        try:
            model = load(a.package, strategy, a.checkpoint)
        except (ValueError, KeyError, SystemExit) as e:
            result["skipped"][name] = {"all": str(e)}
            log(f"  skipped: {e}")
            continue
        quadratic = strategy["attention"].get("provider") == "full" or (
            isinstance(strategy.get("memory"), dict) and strategy["memory"].get("provider") == "lsh-knn")
        result["schemes"][name], sk = measure(ingest_scheme, model, lengths, seg, vocab, a.budget_s,
                                              2.0 if quadratic else 1.0, log)
        if sk:
            result["skipped"][name] = sk
    with open(a.json_out, "w") as f:
        json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
