#!/usr/bin/env bash
# .venv-container: the SageMaker scikit-learn container's Python packages (envs/container-py312,
# installed by uv from its lock) on the container's Python (3.12), plus nginx, for
# tests/container and run-local. Reinstalled only when the lock or this script changes. Prints the
# Python it used, and says so when it is not 3.12.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-.venv-uv/bin/uv}
VENV=.venv-container
PROJECT=envs/container-py312
WANT=3.12
STAMP="$VENV/.installed-$(cat "$PROJECT/uv.lock" "$0" | sha256sum | cut -c1-16)"

find_python() {
    if [ -n "${PYTHON312:-}" ]; then echo "$PYTHON312"; return; fi
    for candidate in "python$WANT" "$(pyenv root 2>/dev/null)/versions/$WANT"*/bin/python$WANT \
                     "$HOME/.pyenv/versions/$WANT"*/bin/python$WANT; do
        if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys' 2>/dev/null; then
            command -v "$candidate"; return
        fi
    done
    command -v python3
}

if [ ! -f "$STAMP" ]; then
    test -x "$UV" || { echo "container-env: $UV missing; run make setup first" >&2; exit 2; }
    PY=$(find_python)
    VERSION=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    if [ "$VERSION" != "$WANT" ]; then
        echo "container-env: Python $WANT not found; using $PY (Python $VERSION), the closest here" >&2
        # The lock is for 3.12; resolve for what is here instead of failing.
        LOCKED=""
    else
        LOCKED="--locked"
    fi
    rm -rf "$VENV"
    UV_PROJECT_ENVIRONMENT="$PWD/$VENV" "$UV" sync $LOCKED --quiet --project "$PROJECT" --python "$PY"
    # What the image's final Dockerfile does to sagemaker-containers for Python 3.12.
    "$VENV/bin/python" - <<'PY'
import pathlib, sagemaker_containers
mapping = pathlib.Path(sagemaker_containers.__file__).parent / "_mapping.py"
mapping.write_text(mapping.read_text().replace("collections.Mapping", "collections.abc.Mapping"))
PY
    touch "$STAMP"
fi
# nginx fronts gunicorn in the container; the serving parity test runs it.
if ! command -v nginx >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
        # A fresh machine may have no package lists yet: update them only when the install needs it.
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light >/dev/null 2>&1 || {
            $SUDO apt-get update -q >/dev/null
            $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light >/dev/null
        }
    else
        echo "container-env: nginx is not installed and apt-get is not available; install nginx" >&2
        exit 1
    fi
fi
"$VENV/bin/python" -c 'import sys; print("container-env: .venv-container on Python " + sys.version.split()[0])'
