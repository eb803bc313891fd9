"""Imports pretrained checkpoints in the Hugging Face file layout (config.json, model.safetensors or a sharded
index, tokenizer.json) into Engram model packages. See README.md."""
