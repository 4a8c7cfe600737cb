"""Byte-reproducible zip archives of the code Terraform uploads.

The same sources must give the same bytes on any machine and in any checkout folder, or every
pull request shows a spurious diff. So: entries sorted, paths relative and '/'-separated, a fixed
timestamp and mode, no __pycache__/dotfiles/bytecode, and no compression (ZIP_STORED), because
deflate output may differ between zlib builds.
"""
from __future__ import annotations

import base64
import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
EXCLUDED_DIRS = {"__pycache__", "node_modules"}
EXCLUDED_SUFFIXES = (".pyc", ".pyo")


@dataclass(frozen=True)
class ZipArchive:
    path: Path
    sha256_hex: str
    sha256_base64: str  # what Lambda's source_code_hash expects


def _included(relative: Path) -> bool:
    return not any(part.startswith(".") or part in EXCLUDED_DIRS for part in relative.parts) \
        and not relative.name.endswith(EXCLUDED_SUFFIXES)


def package_files(source_dir: Path) -> list[Path]:
    """The files that go into the archive, relative to source_dir, in archive order."""
    files = [p.relative_to(source_dir) for p in source_dir.rglob("*") if p.is_file()]
    return sorted((f for f in files if _included(f)), key=lambda p: p.as_posix())


def build_zip(source_dir: Path, destination: Path, root_in_archive: str) -> ZipArchive:
    """Zip source_dir's files under root_in_archive/ (e.g. 'lambda_deploy/handler.py')."""
    source_dir = Path(source_dir)
    files = package_files(source_dir)
    if not files:
        raise FileNotFoundError(f"nothing to package in {source_dir}")
    destination.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_STORED) as archive:
        for relative in files:
            info = zipfile.ZipInfo(f"{root_in_archive}/{relative.as_posix()}", FIXED_DATE_TIME)
            info.external_attr = 0o100644 << 16  # regular file, rw-r--r--
            info.create_system = 3  # Unix, whatever the building machine is
            archive.writestr(info, (source_dir / relative).read_bytes())
    digest = hashlib.sha256(destination.read_bytes()).digest()
    return ZipArchive(destination, digest.hex(), base64.b64encode(digest).decode("ascii"))
