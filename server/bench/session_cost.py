#!/usr/bin/env python3
"""What session operations cost over HTTP beside processing the history again (server README, "Session costs").

For each bundled model: starts `./engram serve` on a fresh data dir, creates a session, appends TOKENS random token
ids in one request (timed: the cost of processing the history again), then times, each the fastest and the median of
N runs: POST .../fork, POST .../checkpoints, POST .../rollback (to that checkpoint), GET .../export (and its size),
POST /v1/sessions/import of that export, and a 5-token question without session_append (max_tokens 1). Prints a
Markdown table; asserts nothing. Standard library only (urllib).

  python3 server/bench/session_cost.py [--tokens 65536] [--models passkey-infini,...] [--runs 5]
"""
import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def call(base, method, path, body=None, raw=None, timeout=7200):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/octet-stream" if raw is not None else "application/json")
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=timeout) as r:
        payload = r.read()
    return (time.perf_counter() - t) * 1000, payload


def timed(runs, f):
    ms = []
    for _ in range(runs):
        ms.append(f())
    return min(ms), statistics.median(ms)


def serve(model, data):
    p = subprocess.Popen([os.path.join(ROOT, "engram"), "serve", "--model", os.path.join(ROOT, "models", model), "--port", "0",
                          "--data-dir", data, "--timeout-s", "7200", "--no-access-log",
                          "--max-append-bytes", str(1 << 30)],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    m = re.search(r"listening on (http://\S+) ", line)
    if not m:
        p.kill()
        sys.exit("the server did not start: " + line)
    return p, m.group(1)


def measure(model, tokens, runs):
    data = tempfile.mkdtemp(prefix="engram-session-cost-")
    p, base = serve(model, data)
    try:
        vocab = json.loads(call(base, "GET", "/v1/models/" + model)[1])["vocab_size"]
        rnd = random.Random(42)
        ids = [rnd.randrange(vocab) for _ in range(tokens)]
        sid = json.loads(call(base, "POST", "/v1/sessions", {})[1])["id"]
        ingest_ms, _ = call(base, "POST", "/v1/sessions/%s/append" % sid, {"tokens": ids})
        info = json.loads(call(base, "GET", "/v1/sessions/" + sid)[1])
        question = {"model": model, "prompt": ids[:5], "max_tokens": 1, "temperature": 0, "session": sid}
        q = timed(runs, lambda: call(base, "POST", "/v1/completions", question)[0])
        forks = []

        def fork():
            ms, body = call(base, "POST", "/v1/sessions/%s/fork" % sid, {})
            forks.append(json.loads(body)["id"])
            return ms
        f = timed(runs, fork)
        for fid in forks:
            call(base, "DELETE", "/v1/sessions/" + fid)
        c = timed(runs, lambda: call(base, "POST", "/v1/sessions/%s/checkpoints" % sid, {"name": "c"})[0])
        r = timed(runs, lambda: call(base, "POST", "/v1/sessions/%s/rollback" % sid, {"checkpoint": "c"})[0])
        exported = {}

        def export():
            ms, body = call(base, "GET", "/v1/sessions/%s/export" % sid)
            exported["bytes"] = body
            return ms
        e = timed(runs, export)
        imports = []

        def imp():
            ms, body = call(base, "POST", "/v1/sessions/import", raw=exported["bytes"])
            imports.append(json.loads(body)["id"])
            return ms
        i = timed(runs, imp)
        for iid in imports:
            call(base, "DELETE", "/v1/sessions/" + iid)
        return (model, tokens, info["footprint_bytes"] / 2**20, len(exported["bytes"]) / 2**20, ingest_ms / 1000, f, c, r, e, i, q)
    finally:
        p.terminate()
        p.wait(60)


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--tokens", type=int, default=65536)
    a.add_argument("--models", default="passkey-window,passkey-infini,passkey-continuous,passkey-lsh-knn")
    a.add_argument("--runs", type=int, default=5)
    args = a.parse_args()
    print("| model | tokens | state MiB | export MiB | re-ingest s | fork ms | checkpoint ms | rollback ms | export ms |"
          " import ms | 5-token question ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for model in args.models.split(","):
        row = measure(model, args.tokens, args.runs)
        cells = ["%s" % row[0], "%d" % row[1], "%.3f" % row[2], "%.3f" % row[3], "%.1f" % row[4]]
        cells += ["%.1f (%.1f)" % t for t in row[5:]]
        print("| " + " | ".join(cells) + " |", flush=True)
    print("(each: fastest (median) of %d runs)" % args.runs)


if __name__ == "__main__":
    main()
