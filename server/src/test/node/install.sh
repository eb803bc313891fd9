#!/usr/bin/env bash
# Installs the openai npm client for OpenAiClientTest (run by Maven before the server's tests).
# Without node or the registry it says so and leaves the decision to the test: it skips with the
# reason on a developer's machine and fails under CI=true, where .ci/run has installed node.
cd "$(dirname "$0")" || exit 0
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "server: node/npm not found; OpenAiClientTest needs them (apt-get install nodejs npm)"
  exit 0
fi
wanted=$(node -p 'require("./package.json").dependencies.openai')
if [ "$(node -p 'require("./node_modules/openai/package.json").version' 2>/dev/null)" = "$wanted" ]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error || echo "server: npm ci failed; OpenAiClientTest needs the openai package"
exit 0
