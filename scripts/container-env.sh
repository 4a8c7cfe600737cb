#!/usr/bin/env bash
# .venv-container: the SageMaker scikit-learn container's Python packages (requirements-container.txt)
# on the container's Python (3.12), for tests/container and run-local. Rebuilt only when the
# requirements change. Prints the Python it used; says so when it is not 3.12.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-container
STAMP="$VENV/.installed-$(sha256sum requirements-container.txt scripts/container-env.sh | sha256sum | cut -c1-16)"
WANT=3.12
# pip as the image's get-pip.py installs it today; its setuptools rule is what the served
# model's environment has to work around (PIP_NO_BUILD_ISOLATION).
PIP_VERSION=26.3

find_python() {
    if [ -n "${CONTAINER_PYTHON:-}" ]; then echo "$CONTAINER_PYTHON"; return; fi
    for candidate in "python$WANT" "$(pyenv root 2>/dev/null)/versions/$WANT"*/bin/python$WANT \
                     "$HOME/.pyenv/versions/$WANT"*/bin/python$WANT; do
        if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys' 2>/dev/null; then
            echo "$candidate"; return
        fi
    done
    echo python3
}

if [ ! -f "$STAMP" ]; then
    PY=$(find_python)
    VERSION=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    if [ "$VERSION" != "$WANT" ]; then
        echo "container-env: Python $WANT not found; using $PY (Python $VERSION), the closest here" >&2
    fi
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --disable-pip-version-check --quiet "pip==$PIP_VERSION"
    "$VENV/bin/python" -m pip install --disable-pip-version-check --quiet -r requirements-container.txt
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
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light >/dev/null
    else
        echo "container-env: nginx is not installed and apt-get is not available; install nginx" >&2
        exit 1
    fi
fi
"$VENV/bin/python" -c 'import sys; print("container-env: .venv-container on Python " + sys.version.split()[0])'
