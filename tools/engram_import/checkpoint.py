"""Reads a checkpoint directory in the Hugging Face layout without the transformers or safetensors packages:
config.json, model.safetensors or model-0000x-of-0000y.safetensors with model.safetensors.index.json.

safetensors: 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}, then the data.
Tensors are read lazily from a memory map and converted to float32 (F32, F16, BF16; F64 too)."""
import json
import mmap
import os
import struct

import numpy as np


class ImportError_(Exception):
    """A checkpoint the importer refuses; the message names the file, field or tensor."""


_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2"), "F64": np.dtype("<f8")}


class SafetensorsFile:
    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        size = len(self._map)
        if size < 8:
            raise ImportError_(f"{path}: not a safetensors file (shorter than 8 bytes)")
        (n,) = struct.unpack("<Q", self._map[:8])
        if n > size - 8:
            raise ImportError_(f"{path}: header length {n} exceeds the file ({size} bytes)")
        try:
            header = json.loads(bytes(self._map[8:8 + n]).decode("utf-8"))
        except ValueError as e:
            raise ImportError_(f"{path}: header is not JSON: {e}")
        self.base = 8 + n
        self.header = {k: v for k, v in header.items() if k != "__metadata__"}
        for name, info in self.header.items():
            if info.get("dtype") not in _DTYPES:
                raise ImportError_(f"{path}: tensor '{name}' has dtype {info.get('dtype')}; supported: "
                                   + ", ".join(_DTYPES))
            b, e = info["data_offsets"]
            want = int(np.prod(info["shape"], dtype=np.int64)) * _DTYPES[info["dtype"]].itemsize
            if e - b != want or self.base + e > size:
                raise ImportError_(f"{path}: tensor '{name}' data_offsets {info['data_offsets']} do not fit its "
                                   f"shape {info['shape']} and dtype {info['dtype']} within the file")

    def shape(self, name):
        return tuple(self.header[name]["shape"])

    def get(self, name):
        """float32 numpy array (a copy)."""
        info = self.header[name]
        b, e = info["data_offsets"]
        raw = np.frombuffer(self._map, dtype=_DTYPES[info["dtype"]], count=(e - b) // _DTYPES[info["dtype"]].itemsize,
                            offset=self.base + b)
        if info["dtype"] == "BF16":
            out = (raw.astype(np.uint32) << 16).view(np.float32)
        else:
            out = raw.astype(np.float32)
        return out.reshape(info["shape"])


def read_config(directory):
    cfg = os.path.join(directory, "config.json")
    if not os.path.isfile(cfg):
        raise ImportError_(f"{directory}: config.json is missing")
    try:
        with open(cfg) as f:
            config = json.load(f)
    except ValueError as e:
        raise ImportError_(f"{cfg}: not valid JSON: {e}")
    if not isinstance(config, dict):
        raise ImportError_(f"{cfg}: the top level must be a JSON object")
    return config


class Checkpoint:
    """config.json plus every tensor of the checkpoint, by name."""

    def __init__(self, directory):
        self.dir = directory
        self.config = read_config(directory)
        single = os.path.join(directory, "model.safetensors")
        index = os.path.join(directory, "model.safetensors.index.json")
        self.files = {}
        self.where = {}
        if os.path.isfile(single):
            f = SafetensorsFile(single)
            self.files[single] = f
            self.where = {name: single for name in f.header}
        elif os.path.isfile(index):
            with open(index) as fh:
                try:
                    weight_map = json.load(fh)["weight_map"]
                except (ValueError, KeyError) as e:
                    raise ImportError_(f"{index}: no 'weight_map' ({e})")
            for name, shard in weight_map.items():
                path = os.path.join(directory, shard)
                if path not in self.files:
                    if not os.path.isfile(path):
                        raise ImportError_(f"{index}: shard '{shard}' (holding '{name}') is missing")
                    self.files[path] = SafetensorsFile(path)
                if name not in self.files[path].header:
                    raise ImportError_(f"{path}: tensor '{name}' is listed in the index but not in the shard")
                self.where[name] = path
        else:
            raise ImportError_(f"{directory}: neither model.safetensors nor model.safetensors.index.json is there "
                               "(pytorch_model.bin is not read: convert it to safetensors first)")

    def names(self):
        return set(self.where)

    def shape(self, name):
        return self.files[self.where[name]].shape(name)

    def get(self, name):
        return self.files[self.where[name]].get(name)
