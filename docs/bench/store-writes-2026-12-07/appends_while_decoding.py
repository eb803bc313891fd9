"""Questions decoding while another client appends short turns to its own session, against one `engram serve`.

    python3 appends_while_decoding.py http://127.0.0.1:PORT [--sessions 4] [--context 512] [--tokens 128] [--turn 16]

Creates --sessions sessions with --context random token ids each, and one more for the appender; then sends one
streamed greedy question of --tokens tokens to each of the first and, meanwhile, appends --turn random ids at a time to
the last, one append after another, until the questions end. Every append is a change the server stores before it
answers (its state encoded, written, fsynced). Prints one JSON line: the questions' time between tokens (p50, p99,
max), the appends made and their latency (p50).
"""
import json
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sessions-batched-2026-12-06"))
from session_load import ask, call, gaps, pct_ms, session_args, sessions_with_context  # noqa: E402


def main():
    ap = session_args(sessions=4, tokens=128)
    ap.add_argument("--turn", type=int, default=16)
    a = ap.parse_args()
    rnd = random.Random(3)
    ids, prompt = sessions_with_context(a, rnd)
    writer = call(a.base, "/v1/sessions", {})["id"]
    call(a.base, f"/v1/sessions/{writer}/append", {"tokens": [rnd.randrange(a.vocab) for _ in range(a.context)]})
    done = threading.Event()
    appends = []

    def append_turns():
        while not done.is_set():
            turn = [rnd.randrange(a.vocab) for _ in range(a.turn)]
            t0 = time.perf_counter()
            call(a.base, f"/v1/sessions/{writer}/append", {"tokens": turn})
            appends.append(time.perf_counter() - t0)

    streams = []
    askers = [threading.Thread(target=ask, args=(a.base, sid, a.tokens, prompt, streams)) for sid in ids]
    appender = threading.Thread(target=append_turns)
    appender.start()
    for t in askers:
        t.start()
    for t in askers:
        t.join()
    done.set()
    appender.join()
    g = gaps(streams)
    appends.sort()

    print(json.dumps({"sessions": a.sessions, "context": a.context, "turn": a.turn, "gaps": len(g),
                      "between_tokens_p50_ms": pct_ms(g, 0.5), "between_tokens_p99_ms": pct_ms(g, 0.99),
                      "between_tokens_max_ms": round(1000 * g[-1], 1) if g else None, "appends": len(appends),
                      "append_p50_ms": pct_ms(appends, 0.5)}), flush=True)


if __name__ == "__main__":
    main()
