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


def test_the_cdktn_environment_pins_what_synth_imports_as_the_project_does():
    """.venv-cdktn (make synth-cdktn) differs from .venv only by the flavour: the CDK, its AWS
    bindings and constructs (cdktn 0.24 requires constructs <10.8); every other direct pin is
    the root project's, so the flavour comparison (tests/infra/test_flavours.py) compares CDKs."""
    def pins(path: Path) -> dict[str, str]:
        meta = tomllib.loads(path.read_text())
        return dict(d.split("==") for d in meta["project"]["dependencies"])

    flavour = {"cdktf", "cdktf-cdktf-provider-aws", "cdktn", "cdktn-provider-aws", "constructs"}
    root, cdktn = pins(ROOT / "pyproject.toml"), pins(ROOT / "envs" / "cdktn" / "pyproject.toml")
    assert {"cdktn", "cdktn-provider-aws", "constructs"} <= set(cdktn)
    shared = {name: version for name, version in cdktn.items() if name not in flavour}
    assert shared and shared == {name: root.get(name) for name in shared}


# Loaded by every Python process of the run below (PYTHONPATH): imports of a module whose file
# belongs to a distribution that only a dependency group brings fail as if it were not installed
# (and say so on stderr).
BLOCKER = '''
import importlib.abc, importlib.machinery, os, sys
_BLOCKED = set(open(os.environ["RUN_SET_BLOCKED_FILES"]).read().split("\\n"))

def _shared(folders):
    """A package folder that an installed distribution shares (sagemaker/: sagemaker-core)."""
    return any(os.path.normpath(os.path.join(top, f)) not in _BLOCKED
               for folder in folders for top, _, files in os.walk(folder)
               for f in files if f.endswith(".py"))


class _GroupOnly(importlib.abc.MetaPathFinder):
    """sys.path's finder, not finding what only a dependency group installs."""
    def find_spec(self, name, path=None, target=None):
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is None or not spec.origin or os.path.normpath(spec.origin) not in _BLOCKED:
            return spec
        folders = list(spec.submodule_search_locations or ())
        if folders and _shared(folders):  # without its __init__.py: a namespace package
            namespace = importlib.machinery.ModuleSpec(name, None, is_package=True)
            namespace.submodule_search_locations = folders
            return namespace
        print(f"blocked: {name} (only a dependency group installs it)", file=sys.stderr)
        return None

    find_distributions = staticmethod(importlib.machinery.PathFinder.find_distributions)
    invalidate_caches = staticmethod(importlib.machinery.PathFinder.invalidate_caches)

sys.meta_path[sys.meta_path.index(importlib.machinery.PathFinder)] = _GroupOnly()
'''


def exported(uv, *options) -> set[str]:
    proc = subprocess.run([str(uv), "export", "--frozen", "--quiet", "--no-emit-project", "--no-hashes",
                           *options], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return {line.split("==")[0] for line in proc.stdout.splitlines() if "==" in line and line[0] != "#"}


# What this test needs, measured (`/usr/bin/time` of its synth and local run, bytecode cached):
# about 47 s of CPU (synth 5 s, run-local 40 s, the rest 2 s); 85 s of wall at load 5 (niced).
# Its wall time grows with the machine's load, so the budget is 12x that CPU (a share of a
# twelfth of a core still passes) rather than the suite's 300 s, which a load above 6 exceeded.
RUN_CPU_SECONDS = 47


@pytest.mark.timeout(12 * RUN_CPU_SECONDS + 60)
def test_make_run_needs_no_dependency_group(uv, tmp_path):
    """`make run` installs [project.dependencies] only (Makefile: setup-run); its synth and
    run-local (with the project's training toolkit, as on a fresh clone) must import nothing that
    only the dev, sagemaker or monitor groups bring."""
    import importlib.metadata as metadata
    import os
    import sys

    run_set, everything = exported(uv, "--no-default-groups"), exported(uv)
    assert {"cdktf", "sagemaker-core", "scikit-learn"} <= run_set
    group_only = everything - run_set
    assert {"sagemaker", "evidently", "pytest", "mlflow"} <= group_only
    blocked = set()
    for name in group_only:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:  # for another platform (e.g. colorama, pywin32)
            continue
        blocked |= {os.path.normpath(dist.locate_file(f)) for f in dist.files or ()
                    if f.suffix in (".py", ".so")}
    (tmp_path / "blocked.txt").write_text("\n".join(sorted(blocked)))
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "RUN_SET_BLOCKED_FILES": str(tmp_path / "blocked.txt"),
           "PYTHONPATH": str(tmp_path / "site")}
    env.pop("CDKTF_OUTDIR", None)
    probe = subprocess.run([sys.executable, "-c", "import evidently"], env=env, capture_output=True,
                           text=True, timeout=60)
    assert "No module named 'evidently'" in probe.stderr  # the blocker is in effect
    synth = subprocess.run([sys.executable, "main.py", "synth", "--outdir", str(tmp_path / "out")],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert synth.returncode == 0, synth.stderr[-3000:]
    # .venv-container (make test) would run the toolkit on the image's packages; make run has none.
    local = ("import sys; from pathlib import Path; from pipeline_src import local_run; "
             "local_run.CONTAINER_PYTHON = Path('/nonexistent'); "
             f"sys.exit(local_run.main(['--workdir', {str(tmp_path / 'run')!r}]))")
    run = subprocess.run([sys.executable, "-c", local], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=12 * 40)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert "NOT the image's versions" in run.stdout and "gate: PASSED" in run.stdout
    # The one command that needs a group says so in one line.
    monitor = subprocess.run([sys.executable, "main.py", "monitor-local", "--capture", str(tmp_path),
                              "--reference", str(tmp_path / "reference.csv")], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
    said = [line for line in monitor.stderr.splitlines() if not line.startswith("blocked: ")]
    assert (monitor.returncode, said) == (2, [
        "error: monitor-local needs evidently (dependency group `monitor`), which `make run` does "
        "not install: run `make setup`"])
