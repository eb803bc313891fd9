#!/usr/bin/env bash
# Runs the PyTorch reference's own tests (tools/tests) for `mvn verify`, after checking that the
# Python packages they import are there, so a machine without them gets one line saying what to
# install instead of a pytest traceback. Never skips silently: a missing package fails the build
# (-DskipPythonTests or -DskipTests skips these tests on purpose).
#   usage: .ci/python-tests.sh [PYTHON]      (default /usr/bin/python3)
set -uo pipefail
cd "$(dirname "$0")/.."
python="${1:-/usr/bin/python3}"
install_hint="apt-get install python3-torch python3-numpy libopenblas0-pthread python3-onnx python3-pytest"

if [ ! -x "$python" ] && ! command -v "$python" >/dev/null 2>&1; then
  echo "engram: the PyTorch reference tests need $python with torch, numpy, onnx and pytest;" >&2
  echo "        $python does not exist. Install them: $install_hint" >&2
  echo "        (or run .ci/run, which installs them; -DskipPythonTests skips these tests)" >&2
  exit 1
fi
missing=()
for module in torch numpy onnx pytest; do
  "$python" -c "import $module" >/dev/null 2>&1 || missing+=("$module")
done
if [ ${#missing[@]} -gt 0 ]; then
  list="$(IFS=,; echo "${missing[*]}")"
  echo "engram: the PyTorch reference tests need the Python packages ${list//,/, }, which $python cannot import." >&2
  echo "        Install them: $install_hint" >&2
  echo "        (or run .ci/run, which installs them; -DskipPythonTests skips these tests)" >&2
  exit 1
fi
exec "$python" -m pytest -q tools/tests
