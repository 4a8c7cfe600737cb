"""For the tests that run a synth in a subprocess and compare outputs byte for byte: a
fresh-clone copy of the working tree, a folder's files as bytes, and a clean environment."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from infra import bindings

ROOT = Path(__file__).resolve().parent.parent
# What the caller's shell may have set that would change what a synth writes or imports.
SYNTH_SETTINGS = ("CDKTF_OUTDIR", "CDKTF_CONTEXT_JSON", "CDKTF_APP", bindings.FULL_IMPORT_ENV,
                  bindings.FLAVOUR_ENV)


def synth_env(**settings: str) -> dict[str, str]:
    """os.environ without SYNTH_SETTINGS, plus the given settings."""
    env = {k: v for k, v in os.environ.items() if k not in SYNTH_SETTINGS}
    return {**env, **settings}


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def export_checkout(destination: Path) -> Path:
    """Copy the tracked and new (not ignored) files, as a fresh clone would have them."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    destination.mkdir(parents=True)
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    return with_lambda_dependencies(destination)


def with_lambda_dependencies(destination: Path) -> Path:
    """What `make lambda-deps` installs in a checkout (the same hash-checked wheels whatever the
    folder), which synth packs into the deploy zip, and the requirements it checks them against."""
    import shutil

    shutil.copytree(ROOT / ".work" / "lambda-deps", destination / ".work" / "lambda-deps")
    requirements = destination / "envs" / "lambda-deps" / "requirements.txt"
    requirements.parent.mkdir(parents=True, exist_ok=True)
    requirements.write_bytes((ROOT / "envs" / "lambda-deps" / "requirements.txt").read_bytes())
    return destination
