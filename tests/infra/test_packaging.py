"""The code zips are byte-reproducible and carry only the package's source files."""
from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import pytest

from infra.packaging import FIXED_DATE_TIME, build_zip

ROOT = Path(__file__).resolve().parents[2]


def copy_with_noise(source: Path, destination: Path, mtime: int) -> Path:
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (destination / "__pycache__").mkdir(exist_ok=True)
    (destination / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"\x00bytecode")
    (destination / ".DS_Store").write_bytes(b"finder noise")
    (destination / "stray.pyc").write_bytes(b"\x00")
    for path in destination.rglob("*"):
        os.utime(path, (mtime, mtime))
    return destination


def test_same_sources_give_identical_bytes_in_any_folder(tmp_path):
    first = copy_with_noise(ROOT / "lambda_deploy", tmp_path / "a" / "checkout" / "lambda_deploy",
                            mtime=1_600_000_000)
    second = copy_with_noise(ROOT / "lambda_deploy", tmp_path / "elsewhere" / "lambda_deploy",
                             mtime=1_700_000_000)
    zip_a = build_zip(first, tmp_path / "a.zip", "lambda_deploy")
    zip_b = build_zip(second, tmp_path / "b.zip", "lambda_deploy")
    assert zip_a.path.read_bytes() == zip_b.path.read_bytes()
    assert zip_a.sha256_hex == zip_b.sha256_hex


def test_archive_holds_only_sources_with_fixed_metadata(tmp_path):
    source = copy_with_noise(ROOT / "lambda_deploy", tmp_path / "lambda_deploy", mtime=1)
    archive = build_zip(source, tmp_path / "out.zip", "lambda_deploy")
    with zipfile.ZipFile(archive.path) as z:
        infos = z.infolist()
    names = [i.filename for i in infos]
    assert "lambda_deploy/handler.py" in names
    assert names == sorted(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or "/." in n]
    assert {i.date_time for i in infos} == {FIXED_DATE_TIME}
    assert {i.compress_type for i in infos} == {zipfile.ZIP_STORED}


def test_a_code_change_changes_the_hash(tmp_path):
    source = copy_with_noise(ROOT / "lambda_deploy", tmp_path / "lambda_deploy", mtime=1)
    before = build_zip(source, tmp_path / "before.zip", "lambda_deploy")
    with open(source / "handler.py", "a", encoding="utf-8") as handle:
        handle.write("\n# a change\n")
    after = build_zip(source, tmp_path / "after.zip", "lambda_deploy")
    assert before.sha256_hex != after.sha256_hex


def test_missing_or_stale_lambda_dependencies_are_one_line(tmp_path):
    """Synth refuses a deploy zip without its dependencies, or with another lock's (ConfigError:
    one line, exit 2), instead of shipping a function that cannot import its settings."""
    from infra.packaging import DependenciesMissing, installed_dependencies

    requirements = tmp_path / "requirements.txt"
    requirements.write_text("pydantic==2.14.3 --hash=sha256:00\n")
    deps = tmp_path / "deps"
    deps.mkdir()
    with pytest.raises(DependenciesMissing, match=r"are not installed; run `make lambda-deps`$"):
        installed_dependencies(deps, requirements)
    import hashlib

    (deps / ".installed").write_text(hashlib.sha256(b"older").hexdigest() + "\n")
    with pytest.raises(DependenciesMissing, match=r"installed from another requirements.txt"):
        installed_dependencies(deps, requirements)
    (deps / ".installed").write_text(hashlib.sha256(requirements.read_bytes()).hexdigest() + "\n")
    assert installed_dependencies(deps, requirements) == deps


def test_the_deploy_zip_is_the_same_bytes_with_its_dependencies(tmp_path):
    """Code and dependencies from two folders (another checkout) give identical bytes."""
    from infra.app import PROJECT_ROOT
    from infra.packaging import build_zip, installed_dependencies

    deps = installed_dependencies()
    zips = []
    for name in ("a", "b"):
        folder = tmp_path / name
        copy_with_noise(PROJECT_ROOT / "lambda_deploy", folder / "lambda_deploy",
                        mtime=1_700_000_000 + len(name))
        shutil.copytree(deps, folder / "deps")
        zips.append(build_zip(folder / "lambda_deploy", tmp_path / f"{name}.zip", "lambda_deploy",
                              dependencies=folder / "deps"))
    assert zips[0].sha256_hex == zips[1].sha256_hex
