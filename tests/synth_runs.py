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
    return destination
