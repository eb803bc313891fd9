"""The questions of appends_while_decoding.py without the appender, against one `engram serve`.

    python3 no_appends.py http://127.0.0.1:PORT [--sessions 4] [--context 512] [--tokens 128]

Prints one JSON line: the questions' time between tokens (p50, p99, max).
"""
import json
import os
import random
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sessions-batched-2026-12-06"))
from session_load import ask, gaps, pct_ms, session_args, sessions_with_context  # noqa: E402


def main():
    a = session_args(sessions=4, tokens=128).parse_args()
    ids, prompt = sessions_with_context(a, random.Random(3))
    streams = []
    askers = [threading.Thread(target=ask, args=(a.base, sid, a.tokens, prompt, streams)) for sid in ids]
    for t in askers:
        t.start()
    for t in askers:
        t.join()
    g = gaps(streams)
    print(json.dumps({"sessions": a.sessions, "context": a.context, "gaps": len(g),
                      "between_tokens_p50_ms": pct_ms(g, 0.5), "between_tokens_p99_ms": pct_ms(g, 0.99),
                      "between_tokens_max_ms": round(1000 * g[-1], 1) if g else None}), flush=True)


if __name__ == "__main__":
    main()
