"""The deploy function's zip carries its dependencies (docs/lambda-dependencies.md)."""
from __future__ import annotations

import sys
import zipfile
from importlib import metadata
from pathlib import Path

from conftest import SHIPPED

ROOT = Path(__file__).resolve().parents[2]


def lambda_pins() -> dict[str, str]:
    """{distribution: version} of envs/lambda-deps/requirements.txt."""
    lines = (ROOT / "envs/lambda-deps/requirements.txt").read_text().splitlines()
    return {line.split("==")[0]: line.split("==")[1].split()[0]
            for line in lines if "==" in line and not line.startswith("#")}


def test_the_zip_ships_the_pinned_wheels_for_the_runtime(tmp_path):
    """pydantic-core's compiled module is the CPython 3.13 x86_64 Linux one, each distribution at
    the version envs/lambda-deps pins, and nothing the installer wrote for this machine."""
    from infra.packaging import build_zip, installed_dependencies

    archive = build_zip(ROOT / "lambda_deploy", tmp_path / "f.zip", "lambda_deploy",
                        dependencies=installed_dependencies())
    names = zipfile.ZipFile(archive.path).namelist()
    assert [n for n in names if n.endswith(".so")] == [
        "pydantic_core/_pydantic_core.cpython-313-x86_64-linux-gnu.so"]
    pins = lambda_pins()
    shipped = {n.split("/")[0][:-len(".dist-info")] for n in names
               if n.split("/")[0].endswith(".dist-info")}
    assert shipped == {f"{name.replace('-', '_')}-{version}" for name, version in pins.items()}
    assert not [n for n in names if n.startswith("bin/") or n.endswith(("/RECORD",
                                                                          "/INSTALLER"))]
    assert "lambda_deploy/handler.py" in names


def test_the_function_imports_its_dependencies_from_what_ships():
    """On the runtime's environment (make test-lambda) the contract's pydantic and
    pydantic-settings and the shared aws_clients are the zip's; in the project environment, the
    same versions."""
    import pydantic
    import pydantic_settings

    import aws_clients
    import lambda_deploy.environment  # noqa: F401 (the module that reads the environment)

    if SHIPPED is None:
        pins = lambda_pins()
        assert metadata.version("pydantic") == pins["pydantic"]
        assert metadata.version("pydantic-settings") == pins["pydantic-settings"]
        return
    assert sys.version_info[:2] == (3, 13)
    for module in (pydantic, pydantic_settings, lambda_deploy.environment, aws_clients):
        assert Path(module.__file__).is_relative_to(SHIPPED), module.__file__
