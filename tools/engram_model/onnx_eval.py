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
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
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
        raise NotImplementedError(f"ONNX op {op} not supported by onnx_eval")


class OnnxPieces:
    """The package's graphs with the model's call signatures: embed(ids), pre[i](hidden), post[i](...), head(x)."""

    def __init__(self, pkg_dir, manifest):
        import os
        f = manifest["files"]
        self._embed = OnnxGraph(os.path.join(pkg_dir, f["embedding"]))
        self._head = OnnxGraph(os.path.join(pkg_dir, f["head"]))
        self._pre = [OnnxGraph(os.path.join(pkg_dir, l["pre"])) for l in f["layers"]]
        self._post = [OnnxGraph(os.path.join(pkg_dir, l["post"])) for l in f["layers"]]

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
