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


def test_both_code_zips_carry_the_shared_aws_package_and_nothing_else_shared(tmp_path):
    """The deploy function and the jobs import aws_clients from the zip's root (Lambda's and
    CodeBuild's working folder); neither zip carries the other's package."""
    from infra.app import build_packages

    source_zip, deploy_zip, _ = build_packages(tmp_path)
    from infra.packaging import package_files

    shared = [f"aws_clients/{p.as_posix()}" for p in package_files(ROOT / "aws_clients")]
    assert "aws_clients/__init__.py" in shared
    for archive, own, other in ((source_zip, "pipeline_src", "lambda_deploy"),
                                (deploy_zip, "lambda_deploy", "pipeline_src")):
        with zipfile.ZipFile(archive.path) as z:
            names = z.namelist()
            assert [n for n in names if n.startswith("aws_clients/")] == shared
            shipped = z.read("aws_clients/__init__.py")
        assert shipped == (ROOT / "aws_clients" / "__init__.py").read_bytes()
        assert f"{own}/__init__.py" in names and not [n for n in names if n.startswith(other)]
    with zipfile.ZipFile(source_zip.path) as z:
        assert {n.split("/")[0] for n in z.namelist()} == {"pipeline_src", "aws_clients"}


def test_the_jobs_run_from_the_unpacked_source_zip(tmp_path):
    """CodeBuild runs `python -m pipeline_src.jobs.<job>` in the unpacked source: the jobs'
    AWS calls come from the zip's aws_clients, not from this checkout."""
    import subprocess
    import sys

    from infra.app import build_packages

    source_zip, _, _ = build_packages(tmp_path / "build")
    with zipfile.ZipFile(source_zip.path) as z:
        z.extractall(tmp_path / "src")
    probe = ("import aws_clients, pipeline_src.jobs.common as c; "
             "print(aws_clients.__file__); print(c.aws_clients is aws_clients)")
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path / "src", check=True,
                         capture_output=True, text=True,
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}).stdout
    assert out.splitlines() == [str(tmp_path / "src" / "aws_clients" / "__init__.py"), "True"]
