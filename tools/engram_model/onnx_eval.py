"""A tiny ONNX interpreter (torch ops) for the few operators the exported graphs use, so the exported
files themselves can be checked in Python without onnxruntime (not packaged for Debian). It refuses any
operator or attribute it does not know, so a graph that grows a new op fails loudly instead of silently."""
import onnx
import torch
from onnx import numpy_helper


def _t(a):
    return torch.from_numpy(a.copy())


class OnnxGraph:
    def __init__(self, path):
        #: if set, observer(weight name, A) is called with the input A of every MatMul / Gemm whose B is a constant
        #: (engram_import.gptq records the calibration inputs so)
        self.observer = None
        self.model = onnx.load(path)
        g = self.model.graph
        self.inits = {i.name: _t(numpy_helper.to_array(i)) for i in g.initializer}
        self.inputs = [i.name for i in g.input if i.name not in self.inits]
        self.outputs = [o.name for o in g.output]

    def __call__(self, **feeds):
        env = dict(self.inits)
        for name in self.inputs:
            env[name] = feeds[name]
        for node in self.model.graph.node:
            args = [env[n] if n else None for n in node.input]
            if self.observer is not None and node.op_type in ("MatMul", "Gemm") and node.input[1] in self.inits:
                self.observer(node.input[1], args[0])
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            if node.domain not in ("", "ai.onnx") and (node.domain, node.op_type) != ("com.microsoft", "MatMulNBits"):
                raise NotImplementedError(f"ONNX op {node.domain}.{node.op_type} not supported by onnx_eval")
            outs = self._run(node.op_type, args, attrs)
            for name, val in zip(node.output, outs):
                env[name] = val
        return [env[o] for o in self.outputs]

    @staticmethod
    def _run(op, a, attrs):
        def only(*names):
            extra = set(attrs) - set(names)
            if extra:
                raise NotImplementedError(f"{op}: attributes {sorted(extra)} not supported")

        if op == "Constant":
            only("value")
            return [_t(numpy_helper.to_array(attrs["value"]))]
        if op == "Identity":
            return [a[0]]
        if op == "Shape":
            only()
            return [torch.tensor(list(a[0].shape), dtype=torch.int64)]
        if op == "Gather":
            only("axis")
            axis = attrs.get("axis", 0)
            idx = a[1]
            if idx.dim() == 0:
                return [torch.index_select(a[0], axis, idx.reshape(1).long()).squeeze(axis)]
            out = torch.index_select(a[0], axis, idx.reshape(-1).long())
            shape = list(a[0].shape[:axis]) + list(idx.shape) + list(a[0].shape[axis + 1:])
            return [out.reshape(shape)]
        if op == "Unsqueeze":
            only()
            x = a[0]
            for ax in sorted(int(v) for v in a[1].reshape(-1)):
                x = x.unsqueeze(ax if ax >= 0 else ax + x.dim() + 1)
            return [x]
        if op == "Concat":
            only("axis")
            return [torch.cat(a, dim=attrs["axis"])]
        if op == "Reshape":
            only("allowzero")
            if attrs.get("allowzero", 0):
                raise NotImplementedError("Reshape allowzero=1")
            shape = [int(s) for s in a[1]]
            shape = [a[0].shape[i] if s == 0 else s for i, s in enumerate(shape)]
            return [a[0].reshape(shape)]
        if op == "Transpose":
            only("perm")
            return [a[0].permute(*attrs["perm"])]
        if op == "MatMul":
            return [torch.matmul(a[0], a[1])]
        if op == "Add":
            return [a[0] + a[1]]
        if op == "Sub":
            return [a[0] - a[1]]
        if op == "Mul":
            return [a[0] * a[1]]
        if op == "Div":
            return [a[0] / a[1]]
        if op == "Tanh":
            return [torch.tanh(a[0])]
        if op == "Sigmoid":
            return [torch.sigmoid(a[0])]
        if op == "Sqrt":
            return [torch.sqrt(a[0])]
        if op == "ReduceMean":
            only("axes", "keepdims")
            return [a[0].mean(dim=list(attrs["axes"]), keepdim=bool(attrs.get("keepdims", 1)))]
        if op == "Erf":
            return [torch.erf(a[0])]
        if op == "LayerNormalization":
            only("axis", "epsilon")
            if attrs.get("axis", -1) not in (-1, a[0].dim() - 1):
                raise NotImplementedError("LayerNormalization on a non-last axis")
            x = a[0]
            return [torch.nn.functional.layer_norm(x, x.shape[-1:], a[1], a[2] if len(a) > 2 else None,
                                                   attrs.get("epsilon", 1e-5))]
        # the quantized packages' ops (tools/engram_import/quantize.py), written from the ONNX and ONNX Runtime specs
        if op == "Abs":
            return [a[0].abs()]
        if op == "Max":
            out = a[0]
            for other in a[1:]:
                out = torch.maximum(out, other)
            return [out]
        if op == "ReduceMax":
            only("axes", "keepdims")
            return [torch.amax(a[0], dim=list(attrs["axes"]), keepdim=bool(attrs.get("keepdims", 1)))]
        if op == "Round":  # halves to even, as ONNX specifies (torch.round does the same)
            return [torch.round(a[0])]
        if op == "Cast":
            only("to")
            return [_cast(a[0], attrs["to"])]
        if op == "MatMulInteger":
            # (A - a_zero_point) @ (B - b_zero_point), exact int32 sums: |sums| < 2^53, so float64 holds them exactly
            x = a[0].to(torch.float64) - (a[2].to(torch.float64) if len(a) > 2 and a[2] is not None else 0)
            w = a[1].to(torch.float64) - (a[3].to(torch.float64) if len(a) > 3 and a[3] is not None else 0)
            return [torch.matmul(x, w).to(torch.int32)]
        if op == "MatMulNBits":
            only("K", "N", "bits", "block_size", "accuracy_level")
            level = attrs.get("accuracy_level", 0)
            if level in (0, 1):
                return [torch.matmul(a[0], _dequantize_nbits(a[1:], attrs))]
            if level == 4:
                return [_matmul_nbits_int8_activations(a[0], a[1:], attrs)]
            raise NotImplementedError(f"MatMulNBits accuracy_level {level}")
        raise NotImplementedError(f"ONNX op {op} not supported by onnx_eval")


_CAST = {onnx.TensorProto.FLOAT: torch.float32, onnx.TensorProto.INT8: torch.int8, onnx.TensorProto.UINT8: torch.uint8,
         onnx.TensorProto.INT32: torch.int32, onnx.TensorProto.INT64: torch.int64}


def _cast(x, to):
    if to not in _CAST:
        raise NotImplementedError(f"Cast to ONNX type {to}")
    if not _CAST[to].is_floating_point and x.is_floating_point():
        # ONNX's float -> int Cast truncates toward zero; the graphs cast values already rounded and in range
        x = torch.trunc(x)
    return x.to(_CAST[to])


def _matmul_nbits_int8_activations(x, inputs, attrs):
    """MatMulNBits with accuracy_level 4: "input A can be quantized with the same block_size to int8" (the spec). As
    ONNX Runtime's CPU kernels do it: per row and block of K, a_scale = max|a| / 127, a_q = round(a * (1 / a_scale)) (halves
    to even), the block's integer sum of a_q (q - zero_point) times a_scale * scale, summed over the blocks."""
    K, N, block = attrs["K"], attrs["N"], attrs["block_size"]
    k_blocks = -(-K // block)
    codes = _nbits_codes(inputs, attrs)                                   # [N, k_blocks, block] q - zero_point
    scales = inputs[1].reshape(N, k_blocks).to(torch.float64)
    lead = x.shape[:-1]
    a = torch.zeros(lead + (k_blocks * block,), dtype=torch.float32)
    a[..., :K] = x
    a = a.reshape(lead + (k_blocks, block))
    a_scale = a.abs().amax(dim=-1, keepdim=True) / 127
    inv = torch.where(a_scale == 0, torch.zeros_like(a_scale), 1 / a_scale)
    a_q = torch.round(a * inv).to(torch.float64)                          # int8 codes
    sums = torch.einsum("...bj,nbj->...nb", a_q, codes.to(torch.float64))  # exact integer sums per block
    out = (sums * a_scale.to(torch.float64).squeeze(-1).unsqueeze(-2) * scales).sum(dim=-1)
    return out.to(torch.float32)


def _nbits_codes(inputs, attrs):
    """q - zero_point of MatMulNBits' B, int64 [N, k_blocks, block_size] (the layout _dequantize_nbits describes)."""
    b, zeros = inputs[0], inputs[2] if len(inputs) > 2 else None
    K, N, bits, block = attrs["K"], attrs["N"], attrs.get("bits", 4), attrs["block_size"]
    if bits != 4:
        raise NotImplementedError(f"MatMulNBits bits={bits}")
    k_blocks = -(-K // block)
    b = b.to(torch.int64).reshape(N, k_blocks, block // 2)
    q = torch.stack([b & 15, b >> 4], dim=-1).reshape(N, k_blocks, block)  # element 2j: low nibble of byte j
    if zeros is None:
        zp = torch.full((N, k_blocks), 2 ** (bits - 1), dtype=torch.int64)
    elif zeros.dtype == torch.uint8:
        z = zeros.to(torch.int64).reshape(N, -1)
        zp = torch.stack([z & 15, z >> 4], dim=-1).reshape(N, -1)[:, :k_blocks]
    else:
        raise NotImplementedError("MatMulNBits with float zero points")
    return q - zp[:, :, None]


def _dequantize_nbits(inputs, attrs):
    """com.microsoft MatMulNBits' weight as float32 [K, N], from its spec (onnxruntime docs/ContribOperators.md): B
    uint8 [N, k_blocks, block_size * bits / 8], values packed from the low bits of each byte up; scales [N, k_blocks]
    (or flat); zero points uint8 packed the same way [N, ceil(k_blocks * bits / 8)] (default 2^(bits - 1));
    w = (q - zero_point) * scale, K rows kept of the padded k_blocks * block_size."""
    K, N, block = attrs["K"], attrs["N"], attrs["block_size"]
    k_blocks = -(-K // block)
    w = _nbits_codes(inputs, attrs).to(torch.float32) * inputs[1].reshape(N, k_blocks)[:, :, None].to(torch.float32)
    return w.reshape(N, k_blocks * block)[:, :K].T.contiguous()


class OnnxPieces:
    """The package's graphs with the model's call signatures: embed(ids), pre[i](hidden), post[i](...), head(x)."""

    def __init__(self, pkg_dir, manifest):
        import os
        self._files = f = manifest["files"]
        self._embed = OnnxGraph(os.path.join(pkg_dir, f["embedding"]))
        self._head = OnnxGraph(os.path.join(pkg_dir, f["head"]))
        self._pre = [OnnxGraph(os.path.join(pkg_dir, l["pre"])) for l in f["layers"]]
        self._post = [OnnxGraph(os.path.join(pkg_dir, l["post"])) for l in f["layers"]]

    def graphs(self):
        """(the graph's file as the manifest names it, its OnnxGraph) for every graph, each file once per use."""
        f = self._files
        return ([(f["embedding"], self._embed), (f["head"], self._head)]
                + [(l["pre"], g) for l, g in zip(f["layers"], self._pre)]
                + [(l["post"], g) for l, g in zip(f["layers"], self._post)])

    def embed(self, ids, positions=None):
        if positions is None:
            return self._embed(input_ids=ids)[0]
        return self._embed(input_ids=ids, position_ids=positions)[0]

    def pre(self, i, hidden):
        return tuple(self._pre[i](hidden=hidden))

    def post(self, i, hidden, attn, addend):
        return self._post[i](hidden=hidden, attn=attn, addend=addend)[0]

    def head(self, hidden):
        return self._head(hidden=hidden)[0]
