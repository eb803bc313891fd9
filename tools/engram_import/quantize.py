"""Rewrites a model package with int8 or int4 weights (tools/engram_import/README.md, "Quantized packages"):

    python3 -m engram_import.quantize --from PKG --out PKG2 --type int8|int4 [--block 32] [--accuracy-level 4]

Every MatMul (or Gemm with alpha 1 and no transA) whose B input is a constant float32 matrix [K, N] in the package's
dense graphs (embed, each layer's pre and post, head) is replaced; everything else is kept, so the result runs wherever
the float package runs (the graphs' names, inputs and outputs are unchanged):

- **int8**: the weight per output column n, symmetric, 7-bit codes (WEIGHT_CODE_MAX below says why):
  ws[n] = max_k |W[k, n]| / 63, Wq = round(W / ws) in [-63, 63]. The activation is quantized at each call **per
  row** (each token on its own, so a token's result does not depend on the other rows or sequences of the call),
  symmetric: s = max |x_row| / 127, xq = round(x / s) + 128 as uint8 (zero point 128); then
  ONNX MatMulInteger (uint8 x int8, int32 sums) and y = float(acc) * (s * ws[n]). Standard ONNX ops only (opset 17).
- **int4**: ONNX Runtime's contrib op com.microsoft MatMulNBits (bits 4): per column n and block of `block` rows of
  K (K zero-padded to whole blocks), asymmetric: for f in 1, 0.95, ..., 0.5 scale = f (max(w, 0) - min(w, 0)) / 15,
  zero point zp = round(-f min(w, 0) / scale) in [0, 15], q = clip(round(w / scale) + zp, 0, 15), keeping the f with
  the least squared error of (q - zp) scale against w; B is [N, k_blocks, block / 2]
  uint8 (element 2j in the low nibble of byte j), scales [N, k_blocks] float32, zero points [N, ceil(k_blocks / 2)]
  uint8 packed the same way. `accuracy_level` 4 by default: ONNX Runtime quantizes the activation per row and block to
  int8 (a_scale = max|a| / 127) and sums integer products (twice as fast as level 0 here); 0 keeps the activation
  float32 (ONNX Runtime dequantizes the weights and multiplies in float32).

The embedding's Gather stays float32 (a lookup reads one row per token; quantizing it would save disk, not time).
Other files named by the manifest (memory.safetensors, tokenizer) are copied; the manifest gains
`quantization: {type, ...}`. Packages whose graphs keep their weights in external data (tools/engram_import's
weights.bin) get one new weights.bin; packages with weights inside each graph (engram_model/export.py) keep them inside.
The package is written into a temporary directory beside PKG2 and renamed at the end; PKG2 must not exist.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from . import graphs
from .checkpoint import ImportError_

TYPES = ("int8", "int4")
MS_DOMAIN = "com.microsoft"
#: a row of zeros is quantized with this floor on max|x| (its codes are 0 whatever the scale)
TINY = 1e-30
#: int8 weight codes use 7 bits (+-63; ONNX Runtime's quantizer calls it reduce_range): MLAS's x86 int8 kernels add
#: pairs of 8-bit products into int16 (VPMADDUBSW) before widening, and with 8-bit weight codes those pair sums saturate
#: (seen on an AVX-512 VNNI machine: the engine and onnx_eval then disagreed by 6e-4 in mean NLL; with 7-bit codes,
#: 255 x 64 x 2 < 32767, they agree to 1e-6)
WEIGHT_CODE_MAX = 63
#: int4: MatMulNBits' accuracy_level unless --accuracy-level says otherwise (int8 activations: the fast kernels)
INT4_ACCURACY_LEVEL = 4
#: int4: rows of K per scale unless --block says otherwise (llama.cpp's 4-bit blocks are 32 too)
DEFAULT_BLOCK = 32
#: int4: the fractions of a block's range tried (1 = min..max), the one with the least squared error kept
INT4_SHRINK = tuple(1.0 - 0.05 * i for i in range(11))
#: the activation codes round(x / s) in [-127, 127] are stored as uint8 + 128 with that zero point: MatMulInteger's
#: uint8 x int8 form is the one ONNX Runtime's CPU kernel prepacks and runs fast (int8 x int8 ran 3x slower than float32)
ACTIVATION_ZERO_POINT = 128
#: --calibration-ids without --calibration-length: sequences of this many segments (so the later segments' inputs,
#: with the memory's reads in them, are calibrated too)
CALIBRATION_SEGMENTS = 4
#: initializers at least this large go to weights.bin when the source graph used external data
EXTERNAL_MIN_BYTES = 1024


#: the int4 blocks MatMulNBits takes (ONNX Runtime's contrib op spec), as the refusals name them
VALID_BLOCKS = "a power of two >= 16 (16, 32, 64, 128, ...)"


def check_block(block):
    """MatMulNBits needs a power of two >= 16."""
    if not isinstance(block, int) or block < 16 or block & (block - 1):
        raise ImportError_(f"--block is {block!r}; valid: {VALID_BLOCKS}")


# ---- the arithmetic (the tests re-derive it independently) ----

def quantize_int8_columns(w):
    """W [K, N] float -> (int8 codes [K, N], float32 scale per column [N]); symmetric, codes in +-WEIGHT_CODE_MAX."""
    w = np.asarray(w, dtype=np.float32)
    scale = (np.abs(w).max(axis=0) / np.float32(WEIGHT_CODE_MAX)).astype(np.float32)
    scale[scale == 0] = 1  # an all-zero column: codes 0 whatever the scale
    q = np.clip(np.round(w / scale), -WEIGHT_CODE_MAX, WEIGHT_CODE_MAX).astype(np.int8)
    return q, scale


def fit_int4(b):
    """Blocks b [..., block] -> (scale [...] float32, zero point [...] float32 in 0..15): the range [min(b, 0),
    max(b, 0)] shrunk by the factor in INT4_SHRINK that gives the least squared error (clipping a few outliers buys
    finer steps for the rest)."""
    b = np.asarray(b, dtype=np.float32)
    lo0 = np.minimum(b.min(axis=-1), 0)
    hi0 = np.maximum(b.max(axis=-1), 0)
    best = None
    for f in INT4_SHRINK:
        scale = ((hi0 - lo0) * np.float32(f) / np.float32(15)).astype(np.float32)
        scale[scale == 0] = 1  # an all-zero block: codes = zero point whatever the scale
        zp = np.clip(np.round(-lo0 * np.float32(f) / scale), 0, 15)
        q = round_int4(b, scale[..., None], zp[..., None])
        err = np.square((q - zp[..., None]) * scale[..., None] - b).sum(axis=-1)
        if best is None:
            best = [err, scale, zp]
            continue
        better = err < best[0]
        best = [np.where(better, err, best[0]), np.where(better, scale, best[1]), np.where(better, zp, best[2])]
    return best[1].astype(np.float32), best[2].astype(np.float32)


def round_int4(w, scale, zp):
    """The 4-bit codes of w under a scale and zero point (broadcast): clip(round(w / scale) + zp, 0, 15)."""
    return np.clip(np.round(w / scale) + zp, 0, 15)


def quantize_int4_blocks(w, block):
    """W [K, N] float -> (codes uint8 [N, k_blocks, block] in 0..15, scales float32 [N, k_blocks], zero points uint8
    [N, k_blocks]), asymmetric per block of ``block`` rows of K (K zero-padded to whole blocks), each block's scale and
    zero point by fit_int4, each weight rounded to the nearest code."""
    w = np.asarray(w, dtype=np.float32)
    K, N = w.shape
    k_blocks = -(-K // block)
    padded = np.zeros((k_blocks * block, N), dtype=np.float32)
    padded[:K] = w
    b = padded.T.reshape(N, k_blocks, block)
    scale, zp = fit_int4(b)
    q = round_int4(b, scale[:, :, None], zp[:, :, None])
    return q.astype(np.uint8), scale, zp.astype(np.uint8)


def pack_nibbles(codes):
    """uint8 values 0..15 along the last axis -> bytes holding two each, element 2j in the low nibble of byte j (an odd
    count is padded with a zero nibble)."""
    c = np.asarray(codes, dtype=np.uint8)
    if c.shape[-1] % 2:
        c = np.concatenate([c, np.zeros(c.shape[:-1] + (1,), np.uint8)], axis=-1)
    return (c[..., 0::2] | (c[..., 1::2] << 4)).astype(np.uint8)


# ---- the graph rewrite ----

class _Rewriter:
    """Replaces the weight MatMuls of one graph, in place."""

    def __init__(self, model, qtype, block, accuracy_level, hessians):
        self.model, self.qtype, self.block, self.level = model, qtype, block, accuracy_level
        self.hessians = hessians  # weight name -> its calibration inputs' X^T X (engram_import.gptq), if calibrated
        g = model.graph
        self.inits = {t.name: t for t in g.initializer}
        self.used = {}
        for n in g.node:
            for i in n.input:
                self.used[i] = self.used.get(i, 0) + 1
        self.replaced, self.kept = 0, 0
        self.bytes_before, self.bytes_after = 0, 0
        self._names = {t.name for t in g.initializer} | {o for n in g.node for o in n.output} | {i.name for i in g.input}
        self._new_inits = []
        self._quantized_inputs = {}  # activation name -> (its per-row scale, its int8 codes)

    def _name(self, base):
        n, i = base, 0
        while n in self._names:
            i += 1
            n = f"{base}_{i}"
        self._names.add(n)
        return n

    def _const(self, base, array):
        name = self._name(base)
        self._new_inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def _weight(self, node):
        """The constant [K, N] float32 weight ``node`` multiplies by and the name it came from, or (None, None)."""
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "MatMul":
            name = node.input[1]
            t = self.inits.get(name)
            if t is None or t.data_type != TensorProto.FLOAT or len(t.dims) != 2:
                return None, None
            return numpy_helper.to_array(t), name
        if node.op_type == "Gemm":
            if attrs.get("alpha", 1.0) != 1.0 or attrs.get("transA", 0) or (len(node.input) > 2 and attrs.get("beta", 1.0) != 1.0):
                return None, None
            name = node.input[1]
            t = self.inits.get(name)
            if t is None or t.data_type != TensorProto.FLOAT or len(t.dims) != 2:
                return None, None
            w = numpy_helper.to_array(t)
            return (w.T if attrs.get("transB", 0) else w), name
        return None, None

    def run(self):
        g = self.model.graph
        nodes = []
        for node in g.node:
            if node.op_type not in ("MatMul", "Gemm"):
                nodes.append(node)
                continue
            w, wname = self._weight(node)
            if w is None:
                self.kept += 1
                nodes.append(node)
                continue
            out = node.output[0]
            has_bias = node.op_type == "Gemm" and len(node.input) > 2 and node.input[2]
            y = self._name(out + "_nobias") if has_bias else out
            base = wname.replace("::", "_").replace("/", "_")
            hessian = self.hessians.get(wname)
            if self.qtype == "int8":
                nodes.extend(self._int8(node.input[0], w, hessian, base, y))
            else:
                nodes.extend(self._int4(node.input[0], w, hessian, base, y))
            if has_bias:
                nodes.append(helper.make_node("Add", [y, node.input[2]], [out], name=self._name(out + "_bias")))
            self.replaced += 1
            self.bytes_before += w.size * 4
            self.used[wname] -= 1
        del g.node[:]
        g.node.extend(nodes)
        # weights no node reads any more go; the new ones come in
        keep = [t for t in g.initializer if self.used.get(t.name, 0) > 0]
        del g.initializer[:]
        g.initializer.extend(keep + self._new_inits)
        if self.qtype == "int4" and self.replaced:
            if not any(o.domain == MS_DOMAIN for o in self.model.opset_import):
                self.model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))

    def _int8(self, x, w, hessian, base, y):
        if hessian is None:
            q, ws = quantize_int8_columns(w)
        else:
            from .gptq import gptq_int8_columns
            q, ws = gptq_int8_columns(w, hessian)
        wq = self._const(base + ".int8", q)
        wscale = self._const(base + ".int8_scale", ws)
        self.bytes_after += q.nbytes + ws.nbytes
        nodes = []
        if x not in self._quantized_inputs:
            # the activation's quantization is made once per input, however many weights read it (q, k and v read h)
            n = lambda k: self._name(f"{x.replace('/', '_')}_{k}")
            absx, absmax, floor, s, xs, xr, xu, xq = (n(k) for k in ("abs", "absmax", "floor", "xscale", "xdiv", "xround",
                                                                     "xshift", "xq"))
            nodes += [
                helper.make_node("Abs", [x], [absx]),
                helper.make_node("ReduceMax", [absx], [absmax], axes=[-1], keepdims=1),
                helper.make_node("Max", [absmax, self._const("quant.tiny", np.float32(TINY))], [floor]),
                helper.make_node("Div", [floor, self._const("quant.c127", np.float32(127))], [s]),
                helper.make_node("Div", [x, s], [xs]),
                helper.make_node("Round", [xs], [xr]),
                helper.make_node("Add", [xr, self._const("quant.c128", np.float32(ACTIVATION_ZERO_POINT))], [xu]),
                helper.make_node("Cast", [xu], [xq], to=TensorProto.UINT8),
            ]
            self._quantized_inputs[x] = (s, xq)
        s, xq = self._quantized_inputs[x]
        acc, accf, sw = (self._name(f"{y}_{k}") for k in ("acc", "accf", "scale"))
        return nodes + [
            helper.make_node("MatMulInteger", [xq, wq, self._const("quant.zero_point", np.uint8(ACTIVATION_ZERO_POINT))], [acc]),
            helper.make_node("Cast", [acc], [accf], to=TensorProto.FLOAT),
            helper.make_node("Mul", [s, wscale], [sw]),
            helper.make_node("Mul", [accf, sw], [y]),
        ]

    def _int4(self, x, w, hessian, base, y):
        K, N = w.shape
        if hessian is None:
            q, scale, zp = quantize_int4_blocks(w, self.block)
        else:
            from .gptq import gptq_int4_blocks
            q, scale, zp = gptq_int4_blocks(w, hessian, self.block)
        b = self._const(base + ".int4", pack_nibbles(q))                 # [N, k_blocks, block / 2]
        sc = self._const(base + ".int4_scale", scale)                    # [N, k_blocks]
        z = self._const(base + ".int4_zero", pack_nibbles(zp))           # [N, ceil(k_blocks / 2)]
        self.bytes_after += sum(_nbytes(t) for t in self._new_inits[-3:])
        return [helper.make_node("MatMulNBits", [x, b, sc, z], [y], domain=MS_DOMAIN, K=K, N=N, bits=4,
                                 block_size=self.block, accuracy_level=self.level)]


def _nbytes(t):
    return int(np.prod(t.dims)) * {TensorProto.INT8: 1, TensorProto.UINT8: 1}.get(t.data_type, 4)


def _rewrite(model, qtype, block, level, hessians=None):
    r = _Rewriter(model, qtype, block, level, hessians or {})
    r.run()
    return r


def _uses_external_data(model):
    return any(t.data_location == TensorProto.EXTERNAL for t in model.graph.initializer)


def _externalize(model, weights, prefix):
    """Moves the graph's large initializers into ``weights`` (a graphs.WeightFile shared by every graph of the package:
    one that another graph already stored under the same name is stored once)."""
    for t in model.graph.initializer:
        if _nbytes(t) < EXTERNAL_MIN_BYTES:
            continue
        a = numpy_helper.to_array(t)
        key = t.name
        if key in weights._at:
            offset, length, shape = weights._at[key]
            if length != a.nbytes or tuple(shape) != a.shape:
                key = prefix + t.name  # another tensor with this name in another graph
        offset, length, _ = weights.ref(key, a, dtype=a.dtype.newbyteorder("<"))
        t.ClearField("raw_data")
        for field in ("float_data", "int32_data", "int64_data", "double_data"):
            t.ClearField(field)
        t.data_location = TensorProto.EXTERNAL
        del t.external_data[:]
        for k, v in (("location", weights.name), ("offset", str(offset)), ("length", str(length))):
            e = t.external_data.add()
            e.key, e.value = k, v


def _graph_files(manifest):
    f = manifest.get("files")
    if not isinstance(f, dict):
        raise ImportError_("engram.json has no 'files' object; is this a model package (runtime-onnx/README.md)?")
    out = []
    for key in ("embedding", "head"):
        if not isinstance(f.get(key), str):
            raise ImportError_(f"engram.json 'files.{key}' is missing")
        out.append((f"files.{key}", f[key]))
    layers = f.get("layers")
    if not isinstance(layers, list) or not layers:
        raise ImportError_("engram.json 'files.layers' is missing or empty")
    for i, l in enumerate(layers):
        for part in ("pre", "post"):
            if not isinstance(l, dict) or not isinstance(l.get(part), str):
                raise ImportError_(f"engram.json 'files.layers[{i}].{part}' is missing")
            out.append((f"files.layers[{i}].{part}", l[part]))
    return out


def _positive_int(obj, key, src, prefix=""):
    """obj[key] as a whole number >= 1, or ImportError_ naming engram.json's field, the value and what is valid."""
    v = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise ImportError_(f"--from {src}: engram.json '{prefix}{key}' is {json.dumps(v)}; valid: a whole number >= 1")
    return v


def trained_block(manifest, src):
    """int4's block where --block is not given: the one the package was last trained for at int4 (the qatBlock of the
    newest stage in engram.json 'training' that has one or trained int4: the training scripts' --qat-block, recorded
    where it is not DEFAULT_BLOCK), else DEFAULT_BLOCK. A model trained for the roundings of one block loses more at
    another (models/README.md: sorting-infini at 16 and 32), and a later stage without int4 keeps what it learnt."""
    training = manifest.get("training")
    if not isinstance(training, dict):
        return DEFAULT_BLOCK
    stages = training.get("stages")
    history, field = (stages, "training.stages[{}]") if isinstance(stages, list) and stages else ([training], "training")
    for i in reversed(range(len(history))):
        stage = history[i]
        if not isinstance(stage, dict):
            continue
        if "qatBlock" in stage:
            try:
                check_block(stage["qatBlock"])
            except ImportError_:
                raise ImportError_(f"--from {src}: engram.json '{field.format(i)}.qatBlock' is "
                                   f"{json.dumps(stage['qatBlock'])}; valid: {VALID_BLOCKS}") from None
            return stage["qatBlock"]
        if isinstance(stage.get("qat"), list) and "int4" in stage["qat"]:
            return DEFAULT_BLOCK  # trained at int4 with the default block, which is not recorded
    return DEFAULT_BLOCK


def quantize_package(src, out, qtype, block=None, accuracy_level=None, log=None, calibration_ids=None,
                     calibration_length=None, calibration_source=None):
    """Writes the package ``out`` from the float package ``src``; returns the new manifest. Raises ImportError_.
    With ``calibration_ids`` (a file of whitespace-separated token ids) the codes are chosen by GPTQ against the
    inputs the float package gives its weights on those tokens, in sequences of ``calibration_length`` tokens
    (default CALIBRATION_SEGMENTS segments); engram_import/gptq.py. ``calibration_source`` names the file the ids came
    from in the manifest (engram quantize --calibration: the text file), default the ids file."""
    log = log or (lambda msg: None)
    if qtype not in TYPES:
        raise ImportError_(f"--type is {qtype!r}; valid: {', '.join(TYPES)}")
    if qtype == "int8" and block is not None:
        raise ImportError_("--block is for --type int4 (int8 has one scale per output column)")
    if qtype == "int4" and block is not None:
        check_block(block)
    if qtype == "int8" and accuracy_level is not None:
        raise ImportError_("--accuracy-level is for --type int4 (MatMulNBits)")
    if qtype == "int4":
        accuracy_level = INT4_ACCURACY_LEVEL if accuracy_level is None else accuracy_level
        if accuracy_level not in (0, 1, 4):
            raise ImportError_(f"--accuracy-level is {accuracy_level!r}; valid: 4 (int8 activations, the default), 0 or 1 "
                               f"(float32 activations)")
    if os.path.exists(out):
        raise ImportError_(f"{out} already exists; choose a new --out directory")
    man_path = os.path.join(src, "engram.json")
    if not os.path.isfile(man_path):
        raise ImportError_(f"--from {src}: no engram.json there (a model package, runtime-onnx/README.md)")
    with open(man_path) as f:
        try:
            manifest = json.load(f)
        except json.JSONDecodeError as e:
            raise ImportError_(f"--from {src}: engram.json is not valid JSON ({e})")
    if "quantization" in manifest:
        raise ImportError_(f"--from {src} is already quantized (engram.json 'quantization' is "
                           f"{json.dumps(manifest['quantization'])}); quantize its float source instead")
    if qtype == "int4" and block is None:
        block = trained_block(manifest, src)
        if block != DEFAULT_BLOCK:
            log(f"int4 blocks of {block} rows: the block the package was trained for (engram.json training, qatBlock)")
    graph_files = _graph_files(manifest)
    for field, rel in graph_files:
        if not os.path.isfile(os.path.join(src, rel)):
            raise ImportError_(f"--from {src}: {rel} (engram.json '{field}') is missing")
    if calibration_length is not None and calibration_ids is None:
        raise ImportError_("--calibration-length is for a calibration text or ids (--calibration, --calibration-ids)")
    calibration = None
    if calibration_ids is not None:
        from . import gptq
        if calibration_length is None:
            segment = _positive_int(manifest, "segmentLength", src)
            length = CALIBRATION_SEGMENTS * segment
        else:
            length = calibration_length
        if not isinstance(length, int) or isinstance(length, bool) or length < 1:
            raise ImportError_(f"--calibration-length is {length!r}; valid: a number of tokens >= 1")
        vocab = _positive_int(manifest.get("architecture") or {}, "vocabSize", src, "architecture.")
        ids = gptq.read_ids(calibration_ids, vocab)
        started = time.time()
        hessians = gptq.hessians(src, ids, length)
        log(f"calibration: {len(ids)} tokens in sequences of {length} through the float package ({time.time() - started:.1f} s)")
        calibration = (hessians, gptq.describe(calibration_source or calibration_ids, len(ids), length))
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="." + os.path.basename(os.path.normpath(out)) + ".quantizing-", dir=parent)
    try:
        started = time.time()
        weights = None
        totals = {"replaced": 0, "kept": 0, "before": 0, "after": 0}
        done = set()
        for field, rel in graph_files:
            if rel in done:
                continue
            done.add(rel)
            path = os.path.join(src, rel)
            model = onnx.load(path, load_external_data=False)
            external = _uses_external_data(model)
            if external:  # read relative to the graph's folder, as ONNX Runtime does
                from onnx.external_data_helper import load_external_data_for_model
                load_external_data_for_model(model, os.path.dirname(os.path.abspath(path)))
            r = _rewrite(model, qtype, block, accuracy_level, calibration[0].get(rel) if calibration else None)
            for k, v in (("replaced", r.replaced), ("kept", r.kept), ("before", r.bytes_before), ("after", r.bytes_after)):
                totals[k] += v
            dest = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if external:
                if weights is None:
                    weights = graphs.WeightFile(tmp)
                _externalize(model, weights, os.path.splitext(os.path.basename(rel))[0] + ".")
            onnx.save(model, dest)
            log(f"{rel}: {r.replaced} MatMul{'s' if r.replaced != 1 else ''} quantized ({time.time() - started:.1f} s)")
        if weights is not None:
            weights.close()
        files = manifest["files"]
        for key in ("weights", "tokenizer", "tokenizerConfig"):
            rel = files.get(key)
            if isinstance(rel, str):
                if not os.path.isfile(os.path.join(src, rel)):
                    raise ImportError_(f"--from {src}: {rel} (engram.json 'files.{key}') is missing")
                dest = os.path.join(tmp, rel)
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                shutil.copyfile(os.path.join(src, rel), dest)
        if totals["replaced"] == 0:
            raise ImportError_(f"--from {src}: no MatMul or Gemm with a constant float32 weight in its graphs; nothing to quantize")
        q = {"type": qtype}
        if qtype == "int8":
            q.update(weights="symmetric int8 per output column", activations="symmetric int8 per row, at each call",
                     op="MatMulInteger")
        else:
            q.update(block=block, weights="asymmetric 4-bit per block of K, zero points", op="com.microsoft.MatMulNBits",
                     accuracyLevel=accuracy_level)
        if calibration:
            q["calibration"] = calibration[1]
        q.update(matmuls=totals["replaced"], floatMatmulsKept=totals["kept"], embedding="float32 (Gather)",
                 weightBytes={"float32": totals["before"], "quantized": totals["after"]},
                 source=os.path.abspath(src))
        manifest["quantization"] = q
        manifest["name"] = f"{manifest.get('name', 'model')}-{qtype}"
        with open(os.path.join(tmp, "engram.json"), "w") as f:
            json.dump(manifest, f, indent=2)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; the package is an ordinary directory
        os.rename(tmp, out)
        return manifest
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def main(argv=None):
    p = argparse.ArgumentParser(prog="engram quantize", description=__doc__.split("\n\n")[0])
    p.add_argument("--from", dest="src", required=True, help="the float package")
    p.add_argument("--out", required=True, help="the package directory to create (must not exist)")
    p.add_argument("--type", required=True, help="int8 or int4")
    p.add_argument("--block", type=int, default=None, help=f"int4: rows of K per scale, {VALID_BLOCKS}; default: the block the package was "
                   f"trained for (engram.json training.qatBlock), else {DEFAULT_BLOCK}")
    p.add_argument("--accuracy-level", type=int, default=None,
                   help="int4: MatMulNBits accuracy_level, 4 (int8 activations, default) or 0 (float32 activations)")
    p.add_argument("--calibration-ids", default=None, metavar="FILE",
                   help="whitespace-separated token ids of typical input: the codes are chosen by GPTQ to keep each "
                        "weight's output on them (engram_import/gptq.py); default: nearest codes")
    p.add_argument("--calibration-source", default=None, metavar="NAME",
                   help="the file the calibration ids were made from, for the manifest (default: the ids file)")
    p.add_argument("--calibration-length", type=int, default=None, metavar="N",
                   help=f"tokens per calibration sequence (default {CALIBRATION_SEGMENTS} segments)")
    a = p.parse_args(argv)
    started = time.time()
    try:
        m = quantize_package(a.src, a.out, a.type, a.block, a.accuracy_level,
                             log=lambda msg: print(msg, file=sys.stderr, flush=True), calibration_ids=a.calibration_ids,
                             calibration_length=a.calibration_length, calibration_source=a.calibration_source)
    except ImportError_ as e:
        print(f"engram quantize: {e}", file=sys.stderr)
        return 2
    q = m["quantization"]
    size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(a.out) for f in fs)
    print(f"quantized {q['matmuls']} weight matrices to {q['type']} ({q['weightBytes']['float32'] / 1e6:.1f} MB -> "
          f"{q['weightBytes']['quantized'] / 1e6:.1f} MB) into {a.out}: {size / 1e6:.1f} MB in {time.time() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
