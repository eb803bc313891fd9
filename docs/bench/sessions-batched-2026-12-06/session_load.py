"""Many clients asking questions of their own memory sessions at once, against one `engram serve`.

    python3 session_load.py http://127.0.0.1:PORT [--sessions 8] [--context 512] [--tokens 32] [--rounds 3]

Creates the sessions, appends --context random token ids to each, then per round: one question alone (the
single-session figure), then one question per session, all sent at once (greedy, --tokens each, streamed so that
every token's arrival is timed). Prints decode tokens/s (all tokens over the wall time from the first request to
the last answer), the ratio to one session, and per-token latency p50/p99 (the gaps between a stream's tokens),
alone and together, as one JSON line per round.
"""
import argparse
import json
import random
import statistics
import threading
import time
import urllib.request


MODEL = [None]


def call(base, path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())


def ask(base, session, tokens, prompt, out):
    """Streams one greedy completion; appends (token arrival times, total tokens) to out."""
    body = {"model": MODEL[0], "prompt": prompt, "max_tokens": tokens, "temperature": 0, "stream": True, "session": session}
    req = urllib.request.Request(base + "/v1/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    times = []
    with urllib.request.urlopen(req, timeout=600) as r:
        for line in r:
            line = line.decode().strip()
            if line.startswith("data: {") and json.loads(line[6:])["choices"][0]["finish_reason"] is None:
                times.append(time.perf_counter())  # a token's chunk (the last chunk only says why it ended)
    out.append(times)


def sessions_with_context(a, rnd):
    """Learns the model's name, creates a.sessions sessions with a.context random ids each, and warms up: their ids and
    the question's prompt."""
    with urllib.request.urlopen(a.base + "/v1/models", timeout=60) as r:
        MODEL[0] = json.loads(r.read())["data"][0]["id"]
    ids = []
    for _ in range(a.sessions):
        sid = call(a.base, "/v1/sessions", {})["id"]
        call(a.base, f"/v1/sessions/{sid}/append", {"tokens": [rnd.randrange(a.vocab) for _ in range(a.context)]})
        ids.append(sid)
    prompt = [rnd.randrange(a.vocab) for _ in range(8)]
    ask(a.base, ids[0], 4, prompt, [])  # warm-up
    return ids, prompt


def gaps(streams):
    g = []
    for t in streams:
        g.extend(b - a for a, b in zip(t, t[1:]))
    return sorted(g)


def pct(sorted_values, p):
    return sorted_values[min(len(sorted_values) - 1, int(p * len(sorted_values)))]


def pct_ms(sorted_seconds, p):
    """pct in milliseconds, rounded to 0.1; None for no values."""
    return round(1000 * pct(sorted_seconds, p), 1) if sorted_seconds else None


def session_args(sessions, tokens):
    """The options every script here takes: the server's base URL, how many sessions with how much random context,
    tokens per question, the vocabulary; defaults ``sessions`` and ``tokens``."""
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("--sessions", type=int, default=sessions)
    ap.add_argument("--context", type=int, default=512)
    ap.add_argument("--tokens", type=int, default=tokens)
    ap.add_argument("--vocab", type=int, default=50257)
    return ap


def main():
    ap = session_args(sessions=8, tokens=32)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    rnd = random.Random(1)
    ids, prompt = sessions_with_context(a, rnd)
    for rnd_no in range(a.rounds):
        alone = []
        t0 = time.perf_counter()
        ask(a.base, ids[0], a.tokens, prompt, alone)
        alone_s = time.perf_counter() - t0
        together = []
        threads = [threading.Thread(target=ask, args=(a.base, sid, a.tokens, prompt, together)) for sid in ids]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        together_s = time.perf_counter() - t0
        n_alone = sum(len(t) for t in alone)
        n_together = sum(len(t) for t in together)
        ga, gt = gaps(alone), gaps(together)
        print(json.dumps({
            "round": rnd_no, "sessions": a.sessions, "context": a.context, "tokens": a.tokens,
            "alone_tok_s": round(n_alone / alone_s, 1), "together_tok_s": round(n_together / together_s, 1),
            "ratio": round((n_together / together_s) / (n_alone / alone_s), 2),
            "alone_p50_ms": round(1000 * statistics.median(ga), 1), "alone_p99_ms": pct_ms(ga, 0.99),
            "together_p50_ms": round(1000 * statistics.median(gt), 1), "together_p99_ms": pct_ms(gt, 0.99),
        }), flush=True)


if __name__ == "__main__":
    main()
