"""Engram model tooling: a segment-wise transformer with per-layer attention and memory (model.py), the
model-package exporter (export.py), the passkey task (passkey.py) and its training script (train.py)."""
