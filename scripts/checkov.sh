#!/usr/bin/env bash
# Security scan of the synthesized stacks with checkov, configured by .checkov.yaml.
#   scripts/checkov.sh                 synthesize every environment into cdktf.out, then scan it
#   scripts/checkov.sh DIR [ARGS...]   scan an existing cdktf.out-like folder (extra checkov args)
# Needs the tool virtualenv .venv-checkov (make checkov-setup). Runs offline: skip-download in
# .checkov.yaml keeps checkov from calling its vendor's API. Exit status: checkov's (0 = no
# failed check).
set -euo pipefail
cd "$(dirname "$0")/.."
CHECKOV=.venv-checkov/bin/checkov
if [ ! -x "$CHECKOV" ]; then
    echo "error: $CHECKOV is missing; run: make checkov-setup" >&2
    exit 2
fi
if [ $# -eq 0 ]; then
    .venv/bin/python main.py synth >/dev/null
    set -- cdktf.out
fi
OUTDIR=$1
shift
if [ ! -d "$OUTDIR" ]; then
    echo "error: $OUTDIR is not a folder of synthesized stacks" >&2
    exit 2
fi
# Keep the run quiet and offline even if a future checkov ignores skip-download.
export CHECKOV_RUN_SCA_PACKAGE_SCAN_V2=false BC_SKIP_MAPPING=TRUE
exec "$CHECKOV" --config-file .checkov.yaml -d "$OUTDIR" "$@"
