"""Quantization-aware training: every nn.Linear of a model (the dense blocks' projections, MLP and head: what `engram
quantize` rewrites) computed, inside `fake_quantized(model, qtype)`, with the weights and activations rounded exactly
as `engram quantize --type int8|int4` packages run them (tools/engram_import/quantize.py states that arithmetic; its
constants are imported from there, one place for each fact). Gradients pass the rounding unchanged (the
straight-through estimator), so training learns weights whose quantized model behaves as the float one.

- int8: weights per output feature, symmetric, codes in +-WEIGHT_CODE_MAX; activations per row, symmetric, +-127.
- int4: weights per output feature and block of `block` input features, asymmetric 4-bit with the shrink search of
  quantize_int4_blocks; activations per row and block, symmetric int8 (MatMulNBits' accuracy_level 4, the default).
"""
import argparse
import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from engram_import.checkpoint import ImportError_
from engram_import.quantize import DEFAULT_BLOCK, INT4_SHRINK, TINY, TYPES, VALID_BLOCKS, WEIGHT_CODE_MAX, check_block

ACTIVATION_CODE_MAX = 127
INT4_LEVELS = 15


def types_arg(text):
    """A --qat value: weight types, comma-separated, each float32 or one of TYPES."""
    types = [t.strip() for t in text.split(",") if t.strip()]
    valid = ("float32",) + TYPES
    bad = [t for t in types if t not in valid]
    if not types or bad:
        raise argparse.ArgumentTypeError(f"{text!r}; valid: a comma-separated list of {', '.join(valid)}")
    return types


def block_arg(text):
    """A --qat-block value: int4's rows of K per scale, as `engram quantize --block` takes it."""
    try:
        block = int(text)
        check_block(block)
    except (ValueError, ImportError_):
        raise argparse.ArgumentTypeError(f"{text!r}; valid: {VALID_BLOCKS}") from None
    return block


def add_arguments(ap):
    """--qat and --qat-block, the same in every training script."""
    ap.add_argument("--qat", type=types_arg, default=[],
                    help="quantization-aware training: weight types, comma-separated (float32, int8, int4), taken in "
                         "turn, one per step: each step's forward runs as `engram quantize` packages of that type run")
    ap.add_argument("--qat-block", type=block_arg, default=DEFAULT_BLOCK,
                    help=f"int4's block, the rows of K per scale (default {DEFAULT_BLOCK}): train for the package that "
                         "`engram quantize --type int4 --block N` makes")


def step_type(types, step):
    """The weight type of training step ``step`` under --qat ``types`` (None: no --qat)."""
    return types[step % len(types)] if types else None


def recorded(args):
    """The manifest's training fields for --qat and --qat-block (none without --qat; the block only where int4 is
    trained at other than the default)."""
    if not args.qat:
        return {}
    return {"qat": args.qat, **({"qatBlock": args.qat_block}
                                if "int4" in args.qat and args.qat_block != DEFAULT_BLOCK else {})}


def _straight_through(x, rounded):
    """``rounded`` in the forward pass, the identity's gradient in the backward pass."""
    return x + (rounded - x).detach()


def fake_int8_weight(w):
    """w [out, in] (nn.Linear's layout; ONNX's [K, N] transposed): per output feature (a column of [K, N])."""
    scale = (w.detach().abs().amax(dim=1, keepdim=True) / WEIGHT_CODE_MAX).clamp_min(TINY)
    return _straight_through(w, torch.clamp(torch.round(w / scale), -WEIGHT_CODE_MAX, WEIGHT_CODE_MAX) * scale)


def fake_int8_rows(x):
    """x [..., K]: per row (each token on its own), symmetric."""
    scale = x.detach().abs().amax(dim=-1, keepdim=True).clamp_min(TINY) / ACTIVATION_CODE_MAX
    return _straight_through(x, torch.round(x / scale) * scale)


def _blocks(t, block):
    """[..., K] -> [..., K / block, block], K zero-padded to whole blocks."""
    k = t.shape[-1]
    pad = -k % block
    if pad:
        t = F.pad(t, (0, pad))
    return t.reshape(*t.shape[:-1], -1, block)


def fake_int4_weight(w, block):
    """w [out, in]: per output feature and block of ``block`` input features, asymmetric, the shrink factor in
    INT4_SHRINK with the least squared error (quantize_int4_blocks' rule)."""
    out_f, in_f = w.shape
    b = _blocks(w, block)
    with torch.no_grad():
        lo0 = b.amin(dim=-1).clamp_max(0)
        hi0 = b.amax(dim=-1).clamp_min(0)
        best_err, best = None, None
        for f in INT4_SHRINK:
            scale = (hi0 - lo0) * f / INT4_LEVELS
            scale = torch.where(scale == 0, torch.ones_like(scale), scale)
            zp = torch.clamp(torch.round(-lo0 * f / scale), 0, INT4_LEVELS)
            q = torch.clamp(torch.round(b / scale[..., None]) + zp[..., None], 0, INT4_LEVELS)
            deq = (q - zp[..., None]) * scale[..., None]
            err = (deq - b).square().sum(dim=-1)
            if best is None:
                best_err, best = err, deq
            else:
                better = err < best_err
                best_err = torch.where(better, err, best_err)
                best = torch.where(better[..., None], deq, best)
    rounded = best.reshape(out_f, -1)[:, :in_f]
    return _straight_through(w, rounded)


def fake_int8_row_blocks(x, block):
    """x [..., K]: per row and block of ``block`` features, symmetric int8 (MatMulNBits' int8 activations)."""
    k = x.shape[-1]
    b = _blocks(x, block)
    scale = b.detach().abs().amax(dim=-1, keepdim=True).clamp_min(TINY) / ACTIVATION_CODE_MAX
    rounded = (torch.round(b / scale) * scale).reshape(*x.shape[:-1], -1)[..., :k]
    return _straight_through(x, rounded)


def quantized_linear(qtype, block=DEFAULT_BLOCK):
    """The forward of an nn.Linear under ``qtype``."""
    if qtype == "int8":
        return lambda lin, x: F.linear(fake_int8_rows(x), fake_int8_weight(lin.weight), lin.bias)
    if qtype == "int4":
        return lambda lin, x: F.linear(fake_int8_row_blocks(x, block), fake_int4_weight(lin.weight, block), lin.bias)
    raise ValueError(f"quantization type {qtype!r}; valid: {', '.join(TYPES)}")


@contextlib.contextmanager
def fake_quantized(model, qtype, block=DEFAULT_BLOCK):
    """Within the block every nn.Linear of ``model`` runs as ``engram quantize --type qtype`` would run it; ``qtype``
    None or "float32" leaves the model as it is."""
    if qtype in (None, "float32"):
        yield model
        return
    forward = quantized_linear(qtype, block)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    for lin in linears:
        lin.forward = lambda x, lin=lin: forward(lin, x)
    try:
        yield model
    finally:
        for lin in linears:
            del lin.forward  # back to the class's forward
