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


# The deploy function's dependencies (envs/lambda-deps), installed by `make lambda-deps` from
# hash-checked manylinux x86_64 CPython 3.13 wheels; docs/lambda-dependencies.md says why.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
LAMBDA_DEPENDENCIES = PROJECT_ROOT / ".work" / "lambda-deps"
LAMBDA_REQUIREMENTS = PROJECT_ROOT / "envs" / "lambda-deps" / "requirements.txt"
# What the installer writes beside the wheels' own files: console scripts (their first line names
# this machine's Python) and its bookkeeping. The runtime reads none of it.
INSTALLER_FILES = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


class DependenciesMissing(ValueError):
    """str() is the one line telling the user how to install them."""


def dependency_files(deps_dir: Path) -> list[Path]:
    """The installed wheels' files that ship, relative to deps_dir."""
    return [f for f in package_files(deps_dir) if f.parts[0] != "bin"
            and not (f.parent.name.endswith(".dist-info") and f.name in INSTALLER_FILES)]


def installed_dependencies(deps_dir: Path = LAMBDA_DEPENDENCIES,
                           requirements: Path = LAMBDA_REQUIREMENTS) -> Path:
    """deps_dir, checked to hold what requirements (their hashes) name now."""
    marker = deps_dir / ".installed"
    wanted = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if not marker.is_file():
        raise DependenciesMissing(f"{deps_dir}: the deploy function's dependencies are not "
                                  "installed; run `make lambda-deps`")
    if marker.read_text().strip() != wanted:
        raise DependenciesMissing(f"{deps_dir}: installed from another {requirements.name} "
                                  "than envs/lambda-deps' current one; run `make lambda-deps`")
    return deps_dir


# Top-level packages of this project that both code zips carry beside their own package:
# aws_clients, the one AWS client factory of the deploy function, the jobs and ops
# (docs/interfaces.md, "Code shared by the two zips").
SHARED_PACKAGES = (PROJECT_ROOT / "aws_clients",)


def build_zip(source_dir: Path, destination: Path, root_in_archive: str,
              dependencies: Path | None = None,
              shared: tuple[Path, ...] = SHARED_PACKAGES) -> ZipArchive:
    """Zip source_dir's files under root_in_archive/ (e.g. 'lambda_deploy/handler.py'), each
    shared package under its folder's name, and the files of the installed dependencies (if
    given) at the archive's root, where Lambda's Python finds them (its sys.path starts with the
    function's folder; CodeBuild runs the jobs from the source's root)."""
    source_dir = Path(source_dir)
    files = package_files(source_dir)
    if not files:
        raise FileNotFoundError(f"nothing to package in {source_dir}")
    entries = {f"{root_in_archive}/{relative.as_posix()}": source_dir / relative
               for relative in files}
    for package in shared:
        entries.update({f"{package.name}/{relative.as_posix()}": package / relative
                        for relative in package_files(package)})
    if dependencies is not None:
        entries.update({relative.as_posix(): dependencies / relative
                        for relative in dependency_files(dependencies)})
    destination.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, FIXED_DATE_TIME)
            # Regular file: rw-r--r--; a shared library keeps its execute bit.
            mode = 0o755 if name.endswith(".so") else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.create_system = 3  # Unix, whatever the building machine is
            archive.writestr(info, entries[name].read_bytes())
    digest = hashlib.sha256(destination.read_bytes()).digest()
    return ZipArchive(destination, digest.hex(), base64.b64encode(digest).decode("ascii"))
