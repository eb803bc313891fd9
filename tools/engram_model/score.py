"""Mean negative log-likelihood of a token sequence under a model package, computed here independently of the Java
runtime (the package's ONNX graphs through onnx_eval and the scheme modules, PackageRunner), for `engram eval`'s check.

    cd tools && python3 -m engram_model.score PKG --token-file ids.txt [--lengths 64,200]

Prints JSON {"rows": [{"tokens": N, "predicted": N - 1, "meanNll": ...}]}: for each prefix of N tokens, the mean over
t = 1..N-1 of -log softmax(logits at t - 1)[token t], in float64 from the float32 logits.
"""
import argparse
import json

import torch

from .export import PackageRunner


def mean_nll(pkg, ids, lengths, logits_out=None):
    runner = PackageRunner(pkg)
    last = max(lengths)
    x = torch.tensor([ids[:last]], dtype=torch.int64)
    logits = runner.run(x)[0]
    if logits_out:
        with open(logits_out, "w") as f:
            json.dump({"shape": list(logits.shape), "data": [float(v) for v in logits.reshape(-1).tolist()]}, f)
    logits = logits.to(torch.float64)                    # [T, V]
    logp = torch.log_softmax(logits[:-1], dim=-1)        # position t - 1 predicts token t
    nll = -logp.gather(1, x[0, 1:].unsqueeze(1)).squeeze(1)
    return [{"tokens": n, "predicted": n - 1, "meanNll": float(nll[:n - 1].mean())} for n in sorted(lengths)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("package")
    ap.add_argument("--token-file", required=True, help="whitespace-separated token ids")
    ap.add_argument("--lengths", default="", help="comma-separated prefix lengths (default: all the ids)")
    ap.add_argument("--out", help="write the JSON here instead of stdout")
    ap.add_argument("--logits-out", help="also write the logits of every position: JSON {shape: [T, V], data: [...]}")
    args = ap.parse_args(argv)
    with open(args.token_file) as f:
        ids = [int(t) for t in f.read().split()]
    lengths = [int(n) for n in args.lengths.split(",") if n] or [len(ids)]
    text = json.dumps({"rows": mean_nll(args.package, ids, lengths, args.logits_out)})
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
