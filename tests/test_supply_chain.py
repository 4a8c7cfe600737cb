"""What the install trusts: every environment is installed from a lock file whose packages are
exact pins from PyPI with hashes, and the requirements.txt files pip users install are exactly
what those locks say (exported, never edited by hand)."""
from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UV = ROOT / ".venv-uv" / "bin" / "uv"
PYPI = "https://pypi.org/simple"
# Every uv project of the repository: the main one and the tool environments under envs/.
PROJECTS = [ROOT] + sorted(p.parent for p in (ROOT / "envs").glob("*/pyproject.toml"))
# Where an environment's requirements file is exported when not beside it (Makefile: EXPORT_<env>).
EXPORTS = {ROOT / env: ROOT / path for env, path in
           re.findall(r"^EXPORT_(\S+)\s*=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M)}


def ids(path: Path) -> str:
    return str(path.relative_to(ROOT)) or "."


@pytest.fixture(scope="module")
def uv() -> Path:
    assert UV.exists(), "uv is not installed: run `make setup`"
    return UV


@pytest.mark.parametrize("project", PROJECTS, ids=ids)
def test_direct_dependencies_are_exact_pins(project):
    meta = tomllib.loads((project / "pyproject.toml").read_text())
    declared = list(meta["project"].get("dependencies", []))
    for group in meta.get("dependency-groups", {}).values():
        declared += group
    assert declared
    loose = [d for d in declared if not re.fullmatch(r"[A-Za-z0-9._-]+(\[[\w,-]+\])?==[\w.+-]+", d)]
    assert loose == [], f"{ids(project)}/pyproject.toml: pin these exactly (name==version): {loose}"


@pytest.mark.parametrize("project", PROJECTS, ids=ids)
def test_every_locked_package_comes_from_pypi_with_hashes(project):
    lock = tomllib.loads((project / "uv.lock").read_text())
    packages = [p for p in lock["package"] if p.get("source", {}).get("virtual") != "."]
    assert packages
    for package in packages:
        where = f"{ids(project)}/uv.lock: {package['name']} {package['version']}"
        assert package["source"] == {"registry": PYPI}, f"{where} comes from {package['source']}"
        files = package.get("wheels", []) + ([package["sdist"]] if "sdist" in package else [])
        assert files, f"{where} has no files"
        for file in files:
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", file.get("hash", "")), f"{where}: {file['url']} has no hash"


@pytest.mark.parametrize("project", PROJECTS, ids=ids)
def test_requirements_txt_is_the_export_of_the_lock(uv, project):
    """Drift check: after editing pyproject.toml or uv.lock, `make requirements` (make add does it)."""
    proc = subprocess.run([str(uv), "export", "--frozen", "--quiet", "--no-emit-project",
                           "--project", str(project)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    exported = proc.stdout.split("\n", 2)[2]  # after uv's two-line header naming the command
    path = EXPORTS.get(project, project / "requirements.txt")
    committed = path.read_text().split("\n", 2)[2]
    assert committed == exported, f"{ids(path)} is stale: run `make requirements`"
    assert "--hash=sha256:" in committed


def test_uv_itself_is_pinned_with_hashes_and_matches_the_required_version():
    lines = (ROOT / "envs" / "uv" / "requirements.txt").read_text()
    version = re.search(r"^uv==([\d.]+) \\$", lines, re.M).group(1)
    assert re.search(r"--hash=sha256:[0-9a-f]{64}", lines)
    for project in PROJECTS:
        required = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["uv"]["required-version"]
        assert required == f"=={version}", f"{ids(project)}/pyproject.toml requires uv {required}, bootstrap installs {version}"


def test_the_lambda_environment_is_the_functions_runtime():
    """`make test-lambda` runs the deploy step's tests on the Python the function is deployed with,
    and with one boto3/botocore pair (the runtime bundles both; see envs/lambda-py313)."""
    from infra.deploy_function import RUNTIME

    meta = tomllib.loads((ROOT / "envs" / "lambda-py313" / "pyproject.toml").read_text())
    assert RUNTIME == "python" + meta["project"]["requires-python"].strip("=.*")
    pins = dict(d.split("==") for d in meta["project"]["dependencies"] if d.startswith(("boto3==", "botocore==")))
    assert pins["boto3"] == pins["botocore"]
