"""How much of an infini memory's normaliser the passkey's digits wrote, as the answer's queries see it.

    cd tools && python3 -m engram_model.z_share ../models/passkey-infini.model.pt --lengths 2048,8192,16384

For a passkey sample at depth 0.5, per layer and head: the share of sigma(q) . z (the read's denominator, z summed
over the segments before the question's) that the five digit tokens wrote, with q the queries that predict the
answer digits (models/README.md, "Infini at 16x its training context")."""
import argparse

import numpy as np
import torch

from . import passkey
from .model import EngramModel, ModelConfig
from .train import recording_write_mass


def digit_shares(model, ids):
    """[layers][B, H] shares, from each infini memory's sigma(k) of every token and the last segment's queries."""
    queries = {}
    for i, layer in enumerate(model.layers):
        mem = layer.memory

        def read(q, state, h=None, i=i, mem=mem):
            queries[i] = mem.sigma(q).detach()  # the last call's: the question's segment
            return type(mem).read(mem, q, state, h)
        mem.read = read
    try:
        with torch.no_grad(), recording_write_mass(model, True, keep=lambda sk: sk) as keys:
            model(ids)
    finally:
        for layer in model.layers:
            del layer.memory.read
    shares = []
    for i, per_segment in enumerate(keys):
        sk = torch.cat(per_segment, dim=2)  # [B, G, T, dk]
        q = queries[i][:, :, -6:-1]  # the rows that predict the five digits
        written = sk.shape[2] - queries[i].shape[2]  # z at the question's segment: every token before it
        group = q.shape[1] // sk.shape[1]
        contrib = torch.einsum("bhsd,bhtd->bht", q, sk[:, :, :written].repeat_interleave(group, dim=1))
        digits = (ids[:, :written] < 10)[:, None, :]
        shares.append((contrib * digits).sum(-1) / contrib.sum(-1))
    return shares


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", help="a passkey-infini NAME.model.pt")
    ap.add_argument("--lengths", default="2048,8192,16384")
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ckpt = torch.load(args.checkpoint, map_location="cpu")
    model = EngramModel(ModelConfig.from_dict(ckpt["config"]))
    model.load_state_dict(ckpt["state"])
    model.eval()
    for length in [int(x) for x in args.lengths.split(",")]:
        ids, _, _ = passkey.batch(np.random.default_rng(args.seed), 2, length, 5, 0.5)
        for i, s in enumerate(digit_shares(model, torch.from_numpy(ids))):
            gates = torch.sigmoid(model.layers[i].memory.beta).tolist()
            print(f"{length} tokens, layer {i}: digits' share of sigma(q).z per head (sample 0) "
                  f"{[round(x, 3) for x in s[0].tolist()]}, gates {[round(g, 2) for g in gates]}")


if __name__ == "__main__":
    main()
