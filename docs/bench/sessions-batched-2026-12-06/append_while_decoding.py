"""Questions decoding while another client appends a long document, against one `engram serve`.

    python3 append_while_decoding.py http://127.0.0.1:PORT [--sessions 4] [--context 512] [--tokens 128] [--append 4096]

Creates --sessions sessions with --context random token ids each and one empty session; then sends one streamed
greedy question of --tokens tokens to each session and, at the same moment, an append of --append random ids to the
empty one. Prints, as one JSON line: the questions' time between tokens (p50, p99) while the append was running and
after it, and the append's seconds. Run it against servers started with different --step-tokens.
"""
import json
import random
import sys
import threading
import time

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from session_load import ask, call, pct_ms, session_args, sessions_with_context  # noqa: E402


def main():
    ap = session_args(sessions=4, tokens=128)
    ap.add_argument("--append", type=int, default=4096)
    a = ap.parse_args()
    rnd = random.Random(2)
    ids, prompt = sessions_with_context(a, rnd)
    target = call(a.base, "/v1/sessions", {})["id"]
    doc = [rnd.randrange(a.vocab) for _ in range(a.append)]
    span = {}

    def append():
        span["start"] = time.perf_counter()
        call(a.base, f"/v1/sessions/{target}/append", {"tokens": doc})
        span["end"] = time.perf_counter()

    streams = []
    threads = [threading.Thread(target=ask, args=(a.base, sid, a.tokens, prompt, streams)) for sid in ids]
    threads.append(threading.Thread(target=append))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    during, after = [], []
    for times in streams:
        for x, y in zip(times, times[1:]):
            (during if y <= span["end"] else after).append(y - x)
    during.sort()
    after.sort()

    print(json.dumps({"sessions": a.sessions, "append": a.append, "append_s": round(span["end"] - span["start"], 2),
                      "gaps_during": len(during), "during_p50_ms": pct_ms(during, 0.5),
                      "during_p99_ms": pct_ms(during, 0.99),
                      "after_p50_ms": pct_ms(after, 0.5), "after_p99_ms": pct_ms(after, 0.99)}), flush=True)


if __name__ == "__main__":
    main()
