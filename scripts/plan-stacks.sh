#!/usr/bin/env bash
# terraform init + plan for every synthesized stack, with each plan saved as JSON for
# `python main.py diff --plan`. Needs AWS credentials (CI: OIDC role) and provider downloads.
#   scripts/plan-stacks.sh OUTDIR REVIEWDIR
# Writes REVIEWDIR/<stack>.plan.json and prints the --plan arguments for main.py diff.
set -euo pipefail
OUTDIR=${1:?usage: scripts/plan-stacks.sh OUTDIR REVIEWDIR}
REVIEWDIR=${2:?usage: scripts/plan-stacks.sh OUTDIR REVIEWDIR}
mkdir -p "$REVIEWDIR"
REVIEWDIR=$(cd "$REVIEWDIR" && pwd)
for stackdir in "$OUTDIR"/stacks/*/; do
    stack=$(basename "$stackdir")
    terraform -chdir="$stackdir" init -input=false -no-color >&2
    terraform -chdir="$stackdir" plan -input=false -lock=false -no-color -out=plan.out >&2
    terraform -chdir="$stackdir" show -json plan.out > "$REVIEWDIR/$stack.plan.json"
    printf -- '--plan %s=%s ' "$stack" "$REVIEWDIR/$stack.plan.json"
done
echo
