"""Calibrated rounding of weight matrices (GPTQ: Frantar et al., "GPTQ: Accurate Post-Training Quantization for
Generative Pre-trained Transformers", arXiv 2210.17323), used by `engram quantize --calibration`.

Rounding each weight to its nearest code minimises the error of the weights; what a model needs is a small error of
each layer's *output* on the inputs it sees. For y = x W (W [K, N]) and calibration inputs X [M, K], GPTQ picks codes
for W row by row (row k of K multiplies input channel k): after rounding row k it spreads that row's error over the
rows not yet rounded, in proportion to how the inputs correlate (H = X^T X), so that X W changes as little as possible.

The arithmetic, per matrix (the paper's algorithm 1 with its lazy batch updates; names as there):
- H = sum over calibration rows of x^T x (float64). An input channel that is always 0 (H_kk = 0) gets H_kk = 1 and its
  weights 0 (they never contribute). H += DAMP * mean(diag H) * I (the paper's 1% dampening, for a stable inverse;
  10% or 100% if the inverse still fails).
- U = the upper Cholesky factor of H^-1 (H^-1 = U^T U).
- For k = 0 .. K-1: when k starts a block of the int4 layout (every `block` rows), that block's scale and zero point
  are fitted to the rows as they are now (quantize.fit_int4, per output column); row k is rounded to its codes
  (quantize.round_int4 / the int8 column scale), e = (w_k - dequantized_k) / U_kk, and every later row j gets
  w_j -= U_kj e.
int8 keeps its per-column scale from the float weights (quantize.quantize_int8_columns' scale); only the rounding
changes. The codes, scales and zero points have the same layout as the uncalibrated ones, so the graphs are the same.

The calibration inputs come from running the float package itself on the calibration tokens, in Python
(engram_model.export.PackageRunner: the package's own graphs, attention and memory, segment by segment), and
recording the input of every weight MatMul.
"""
import os

import numpy as np

from .checkpoint import ImportError_
from .quantize import WEIGHT_CODE_MAX, fit_int4, round_int4

#: the paper's dampening: a fraction of the mean diagonal added to H's diagonal
DAMP = 0.01
#: rows updated together before the rest of W gets their accumulated error in one product (the paper's lazy batch)
LAZY_ROWS = 128


def _prepared(w, hessian, rows):
    """(W [rows, N] float64 zero-padded from w [K, N], U [rows, rows] upper with (H + damp)^-1 = U^T U)."""
    w = np.asarray(w, dtype=np.float64)
    K, N = w.shape
    h = np.asarray(hessian, dtype=np.float64)
    if h.shape != (K, K):
        raise ValueError(f"hessian is {list(h.shape)}; the weight has K = {K} rows")
    W = np.zeros((rows, N))
    W[:K] = w
    H = np.eye(rows)
    H[:K, :K] = h
    dead = np.diag(H) <= 0
    H[dead, dead] = 1
    W[dead] = 0
    mean = np.mean(np.diag(H))
    for damp in (DAMP, 10 * DAMP, 100 * DAMP):  # more dampening where nearly collinear inputs leave H singular
        try:
            damped = H + damp * mean * np.eye(rows)
            inverse = np.linalg.inv(damped)
            return W, np.linalg.cholesky((inverse + inverse.T) / 2).T
        except np.linalg.LinAlgError:
            continue
    raise ImportError_("the calibration inputs of a weight matrix give a singular X^T X even with 100% dampening; "
                       "calibrate on a longer, more varied text")


def _gptq(W, U, block, fit, rounded):
    """Rounds W [rows, N] in place row by row (the module docstring); fit(rows [block, N]) -> params for a block;
    rounded(row [N], params) -> (codes [N], dequantized [N]). Returns (codes [rows, N], params per block)."""
    rows, N = W.shape
    codes = np.zeros((rows, N), dtype=np.int16)  # int4 0..15, int8 +-63
    params = []
    lazy = max(LAZY_ROWS // block, 1) * block
    for b0 in range(0, rows, lazy):
        b1 = min(b0 + lazy, rows)
        errors = np.zeros((b1 - b0, N))
        for k in range(b0, b1):
            if (k % block) == 0:
                params.append(fit(W[k:k + block]))
            q, dq = rounded(W[k], params[-1])
            codes[k] = q
            e = (W[k] - dq) / U[k, k]
            W[k + 1:b1] -= np.outer(U[k, k + 1:b1], e)
            errors[k - b0] = e
        W[b1:] -= U[b0:b1, b1:].T @ errors
    return codes, params


def gptq_int4_blocks(w, hessian, block):
    """quantize.quantize_int4_blocks' result (codes uint8 [N, k_blocks, block], scales float32 [N, k_blocks], zero
    points uint8 [N, k_blocks]) with the codes chosen by GPTQ against ``hessian`` [K, K]."""
    K, N = np.shape(w)
    k_blocks = -(-K // block)
    W, U = _prepared(w, hessian, k_blocks * block)

    def fit(rows):
        scale, zp = fit_int4(rows.T.astype(np.float32))  # per column over the block's rows
        return scale.astype(np.float64), zp.astype(np.float64)

    def rounded(row, p):
        scale, zp = p
        q = round_int4(row, scale, zp)
        return q, (q - zp) * scale

    codes, params = _gptq(W, U, block, fit, rounded)
    scales = np.stack([p[0] for p in params], axis=1).astype(np.float32)  # [N, k_blocks]
    zps = np.stack([p[1] for p in params], axis=1).astype(np.uint8)
    return codes.T.reshape(N, k_blocks, block).astype(np.uint8), scales, zps


def gptq_int8_columns(w, hessian):
    """quantize.quantize_int8_columns' result (int8 codes [K, N], float32 scale per column [N]) with the codes chosen
    by GPTQ against ``hessian``; the scales are the float weights' (max |w| / WEIGHT_CODE_MAX per column)."""
    w = np.asarray(w, dtype=np.float32)
    K, N = w.shape
    scale = (np.abs(w).max(axis=0) / np.float32(WEIGHT_CODE_MAX)).astype(np.float32)
    scale[scale == 0] = 1
    W, U = _prepared(w, hessian, K)
    s = scale.astype(np.float64)

    def rounded(row, _):
        q = np.clip(np.round(row / s), -WEIGHT_CODE_MAX, WEIGHT_CODE_MAX)
        return q, q * s

    codes, _ = _gptq(W, U, K, lambda rows: None, rounded)
    return codes.astype(np.int8), scale


# ---- the calibration inputs ----

def read_ids(path, vocab):
    """Whitespace-separated token ids from ``path``; each checked against the vocabulary. Raises ImportError_."""
    try:
        with open(path) as f:
            parts = f.read().split()
    except OSError as e:
        raise ImportError_(f"--calibration-ids {path}: cannot read it ({e.strerror})")
    ids = []
    for i, p in enumerate(parts):
        try:
            t = int(p)
        except ValueError:
            raise ImportError_(f"--calibration-ids {path}: token {i} is '{p[:20]}'; valid: whitespace-separated token ids")
        if not 0 <= t < vocab:
            raise ImportError_(f"--calibration-ids {path}: token {i} is {t}; valid: 0 to {vocab - 1} (the model's vocabulary)")
        ids.append(t)
    if len(ids) < 2:
        raise ImportError_(f"--calibration-ids {path}: holds {len(ids)} token ids; give at least 2 (a text of a few "
                           f"thousand tokens like the model's own input is typical)")
    return np.asarray(ids, dtype=np.int64)


def hessians(pkg_dir, ids, length):
    """Runs the float package on ``ids`` in sequences of ``length`` tokens (the last one shorter) and returns
    {graph file (as the manifest names it): {weight initializer name: H = sum x^T x [K, K] float64}} for every
    MatMul / Gemm whose weight is a graph constant."""
    import torch
    from engram_model.export import PackageRunner

    runner = PackageRunner(pkg_dir)
    found = {}

    def observer(rel):
        per_graph = found.setdefault(rel, {})

        def seen(weight, x):
            x = x.reshape(-1, x.shape[-1]).to(torch.float64)
            h = (x.T @ x).numpy()
            if weight in per_graph:
                per_graph[weight] += h
            else:
                per_graph[weight] = h
        return seen

    for rel, graph in runner.pieces.graphs():
        graph.observer = observer(rel)
    ids = torch.as_tensor(ids, dtype=torch.int64)
    for s in range(0, len(ids), length):
        runner.run(ids[s:s + length][None, :])
    return found


def describe(source, tokens, length):
    """The manifest's record of a calibrated quantization; ``source`` names the calibration file as the user gave it."""
    return {"method": "GPTQ (arXiv 2210.17323), dampening %g" % DAMP, "tokens": int(tokens),
            "sequenceTokens": int(length), "source": os.path.basename(source)}
