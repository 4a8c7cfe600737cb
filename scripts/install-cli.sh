#!/usr/bin/env bash
# Install the pinned cdktf CLI (package.json + package-lock.json) into node_modules with npm ci,
# on the project's Node.js 24 (scripts/node-env.sh). Used by `make cli-setup`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/node-env.sh
npm ci --no-audit --no-fund --loglevel=error
