"""The package's ONNX graphs, built node by node with onnx.helper (no tracing), for the two block layouts the
importer supports. Every weight lives once in one external-data file (``weights.bin``) that the graphs reference by
offset; a tied embedding is stored once, as [e, V], read by the embed graph (Gather on axis 1, then a transpose of
the small result) and by the head graph (MatMul), so nothing is duplicated on disk. Opset 17, dynamic B and N,
the I/O names of runtime-onnx/README.md."""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
ALIGN = 4096  # offsets page-aligned, so ONNX Runtime may map the file instead of copying


class WeightFile:
    """Appends float32 arrays to one file; each key is written once and referenced by every graph using it."""

    def __init__(self, directory, name="weights.bin"):
        self.name = name
        self.path = os.path.join(directory, name)
        self._f = open(self.path, "wb")
        self._at = {}
        self.bytes = 0

    def ref(self, key, array, dtype="<f4"):
        """(offset, length, shape) of ``array`` (stored as ``dtype``) in the file, writing it the first time ``key`` is
        seen."""
        if key not in self._at:
            a = np.ascontiguousarray(array, dtype=dtype)
            pad = -self._f.tell() % ALIGN
            self._f.write(b"\0" * pad)
            offset = self._f.tell()
            self._f.write(a.tobytes())
            self._at[key] = (offset, a.nbytes, a.shape)
            self.bytes += a.nbytes
        return self._at[key]

    def close(self):
        self._f.close()


class Graph:
    """A graph under construction: inputs, outputs, nodes, initializers (external or small inline constants)."""

    def __init__(self, weights):
        self.w = weights
        self.nodes, self.inits, self.inputs, self.outputs = [], [], [], []
        self._n = 0
        self._names = set()

    def name(self, base):
        self._n += 1
        return f"{base}_{self._n}"

    def input(self, name, elem, shape):
        self.inputs.append(helper.make_tensor_value_info(name, elem, shape))
        return name

    def output(self, name, elem, shape):
        self.outputs.append(helper.make_tensor_value_info(name, elem, shape))

    def weight(self, key, array):
        """An initializer named ``key`` whose data is in the weight file."""
        if key not in self._names:
            offset, length, shape = self.w.ref(key, array)
            t = TensorProto()
            t.name = key
            t.data_type = TensorProto.FLOAT
            t.dims.extend(shape)
            t.data_location = TensorProto.EXTERNAL
            for k, v in (("location", self.w.name), ("offset", str(offset)), ("length", str(length))):
                e = t.external_data.add()
                e.key, e.value = k, v
            self.inits.append(t)
            self._names.add(key)
        return key

    def const(self, values, dtype=np.float32):
        name = self.name("c")
        self.inits.append(numpy_helper.from_array(np.array(values, dtype=dtype), name))
        return name

    def op(self, op_type, inputs, out=None, **attrs):
        out = out or self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def save(self, path, graph_name):
        g = helper.make_graph(self.nodes, graph_name, self.inputs, self.outputs, self.inits)
        model = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="engram_import")
        model.ir_version = 8
        onnx.save(model, path)


def linear(g, x, key, w_in_out, b=None):
    """x @ W (+ b), W stored as [in, out]."""
    y = g.op("MatMul", [x, g.weight(key + ".weight", w_in_out)])
    if b is not None:
        y = g.op("Add", [y, g.weight(key + ".bias", b)])
    return y


def layer_norm(g, x, key, weight, bias, eps):
    return g.op("LayerNormalization", [x, g.weight(key + ".weight", weight), g.weight(key + ".bias", bias)],
                axis=-1, epsilon=float(eps))


def rms_norm(g, x, key, weight, eps):
    """x / sqrt(mean(x^2) + eps) * weight (Zhang and Sennrich 2019, as Llama applies it, in float32)."""
    ms = g.op("ReduceMean", [g.op("Mul", [x, x])], axes=[-1], keepdims=1)
    rms = g.op("Sqrt", [g.op("Add", [ms, g.const(eps)])])
    return g.op("Mul", [g.op("Div", [x, rms]), g.weight(key + ".weight", weight)])


def norm(g, x, key, spec, p):
    if spec.norm == "layernorm":
        return layer_norm(g, x, key, p[key + ".weight"], p[key + ".bias"], spec.eps)
    return rms_norm(g, x, key, p[key + ".weight"], spec.eps)


def gelu_tanh(g, x):
    """0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))): GPT-2's gelu_new."""
    cube = g.op("Mul", [g.op("Mul", [x, x]), x])
    inner = g.op("Mul", [g.op("Add", [x, g.op("Mul", [cube, g.const(0.044715)])]), g.const(np.sqrt(2.0 / np.pi))])
    return g.op("Mul", [g.op("Mul", [x, g.const(0.5)]), g.op("Add", [g.op("Tanh", [inner]), g.const(1.0)])])


def silu(g, x):
    return g.op("Mul", [x, g.op("Sigmoid", [x])])


def heads(g, x, n_heads, dim, out):
    """[B, N, n*d] -> [B, n, N, d]."""
    r = g.op("Reshape", [x, g.const([0, 0, n_heads, dim], np.int64)])
    return g.op("Transpose", [r], out=out, perm=[0, 2, 1, 3])


BN = ["B", "N"]


def embed_graph(spec, p, path):
    g = Graph(p.weights)
    ids = g.input("input_ids", TensorProto.INT64, BN)
    if spec.tied:
        cols = g.op("Gather", [g.weight("embedding.transposed", p.embedding_t), ids], axis=1)  # [e, B, N]
        x = g.op("Transpose", [cols], perm=[1, 2, 0])
    else:
        x = g.op("Gather", [g.weight("embedding", p.embedding), ids], axis=0)
    if spec.positional["type"] == "learned":
        pos = g.input("position_ids", TensorProto.INT64, BN)
        x = g.op("Add", [x, g.op("Gather", [g.weight("positions", p.positions), pos], axis=0)])
    g.op("Identity", [x], out="hidden")
    g.output("hidden", TensorProto.FLOAT, BN + [spec.model_dim])
    g.save(path, "embed")


def pre_graph(spec, p, i, path):
    g = Graph(p.weights)
    L = f"layers.{i}."
    hid = g.input("hidden", TensorProto.FLOAT, BN + [spec.model_dim])
    h = norm(g, hid, L + "norm1", spec, p.layer)
    dk = spec.head_dim
    q = linear(g, h, L + "q", p.layer[L + "q.weight"], p.layer.get(L + "q.bias"))
    k = linear(g, h, L + "k", p.layer[L + "k.weight"], p.layer.get(L + "k.bias"))
    v = linear(g, h, L + "v", p.layer[L + "v.weight"], p.layer.get(L + "v.bias"))
    heads(g, q, spec.heads, dk, "q")
    heads(g, k, spec.kv_heads, dk, "k")
    heads(g, v, spec.kv_heads, dk, "v")
    g.op("Identity", [h], out="h")
    g.output("q", TensorProto.FLOAT, ["B", spec.heads, "N", dk])
    g.output("k", TensorProto.FLOAT, ["B", spec.kv_heads, "N", dk])
    g.output("v", TensorProto.FLOAT, ["B", spec.kv_heads, "N", dk])
    g.output("h", TensorProto.FLOAT, BN + [spec.model_dim])
    g.save(path, f"layer_{i}_pre")


def post_graph(spec, p, i, path):
    g = Graph(p.weights)
    L = f"layers.{i}."
    e, dk = spec.model_dim, spec.head_dim
    hid = g.input("hidden", TensorProto.FLOAT, BN + [e])
    attn = g.input("attn", TensorProto.FLOAT, ["B", spec.heads, "N", dk])
    addend = g.input("addend", TensorProto.FLOAT, BN + [e])
    merged = g.op("Reshape", [g.op("Transpose", [attn], perm=[0, 2, 1, 3]), g.const([0, 0, spec.heads * dk], np.int64)])
    o = linear(g, merged, L + "o", p.layer[L + "o.weight"], p.layer.get(L + "o.bias"))
    r = g.op("Add", [g.op("Add", [hid, o]), addend])
    x = norm(g, r, L + "norm2", spec, p.layer)
    if spec.mlp == "gelu_tanh":
        m = linear(g, x, L + "fc", p.layer[L + "fc.weight"], p.layer[L + "fc.bias"])
        m = linear(g, gelu_tanh(g, m), L + "proj", p.layer[L + "proj.weight"], p.layer[L + "proj.bias"])
    else:
        gate = linear(g, x, L + "gate", p.layer[L + "gate.weight"], p.layer.get(L + "gate.bias"))
        up = linear(g, x, L + "up", p.layer[L + "up.weight"], p.layer.get(L + "up.bias"))
        m = linear(g, g.op("Mul", [silu(g, gate), up]), L + "down", p.layer[L + "down.weight"], p.layer.get(L + "down.bias"))
    g.op("Add", [r, m], out="out")
    g.output("out", TensorProto.FLOAT, BN + [e])
    g.save(path, f"layer_{i}_post")


def head_graph(spec, p, path):
    g = Graph(p.weights)
    hid = g.input("hidden", TensorProto.FLOAT, BN + [spec.model_dim])
    x = norm(g, hid, "final_norm", spec, p.final)
    if spec.tied:
        g.op("MatMul", [x, g.weight("embedding.transposed", p.embedding_t)], out="logits")
    else:
        g.op("MatMul", [x, g.weight("unembedding", p.unembedding_t)], out="logits")
    g.output("logits", TensorProto.FLOAT, BN + [spec.vocab])
    g.save(path, "head")
