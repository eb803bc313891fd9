#!/bin/bash
# A fresh `engram serve` with the given JVM options, then ROUNDS rounds of appends_while_decoding.py against it.
#   rounds.sh LABEL "JVM OPTIONS" ROUNDS PACKAGE [PORT]   (from the repository root; appends to rounds.jsonl here)
# Each round: 4 sessions with 512 tokens decode 128 greedy tokens, streamed, while a fifth client appends 16 tokens at
# a time to its own session. The server's GC log goes to gc-LABEL.log here.
set -euo pipefail
label=$1; opts=$2; rounds=$3; pkg=$4; port=${5:-18457}
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
data=$(mktemp -d)
ENGRAM_OPTS="$opts -Xlog:gc:file=$here/gc-$label.log:uptime" ./engram serve --model "$pkg" --port "$port" \
    --data-dir "$data" > "$data.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data" "$data.log"' EXIT
for _ in $(seq 120); do curl -sf "http://127.0.0.1:$port/v1/models" > /dev/null && break; sleep 0.5; done
for r in $(seq "$rounds"); do
  out=$(python3 "$here/../store-writes-2026-12-07/appends_while_decoding.py" "http://127.0.0.1:$port")
  echo "{\"label\": \"$label\", \"jvm\": \"$opts\", \"round\": $r, \"result\": $out}" | tee -a "$here/rounds.jsonl"
done
