"""pytest plugin: records every AWS API call made by code that runs under a role.

Every botocore client created during the session gets a ``before-parameter-build`` handler
(it fires for every call, even when a test answers the call itself in ``before-call``) and an
``after-call`` handler (the parsed response, e.g. the ARN a Create call returned). The role is
found from the Python stack: the innermost frame whose module is listed in
``tests.iam.declarations.ROLE_CODE``; calls from test code itself (fixtures, moto set-up) are
kept as ``role=None`` so the evaluator can still see what the account held (tags, packages).

Loaded for every run through ``-p tests.iam.recorder`` in pyproject's addopts.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from dataclasses import asdict, dataclass, field
from typing import Optional

import pytest

from tests.iam import declarations

ENV_OUT = "IAM_CALLS_OUT"
ROOT = Path(__file__).resolve().parents[2]  # when set, the session's calls are written there as JSON


@dataclass
class Call:
    role: Optional[str]
    service: str  # botocore service name (s3, sagemaker, sagemaker-runtime, ...)
    operation: str  # API operation name (CreateEndpoint)
    params: dict
    region: str
    test: str
    where: str  # module:function of the role code that made the call
    response: dict = field(default_factory=dict)
    account: str = ""  # the account the call acted in (moto's, from the signing access key)

    def to_json(self) -> dict:
        return asdict(self)


CALLS: list[Call] = []
_current_test = {"nodeid": "", "unrecorded": False}


def _json_safe(value):
    """Parameters without payloads (bytes, streams): the policy decision never depends on them."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return f"<{type(value).__name__}>"


TESTS_DIR = str(Path(__file__).resolve().parents[1])


def _role_code_frame(frame):
    """(role, 'module:function') of the innermost role-code frame, or (None, '').

    A test's own code (a fixture standing in for SageMaker inside an event handler) between
    the call and the role code makes the call the test's, not the role's."""
    while frame is not None:
        if frame.f_code.co_filename.startswith(TESTS_DIR):
            return None, ""
        module = frame.f_globals.get("__name__", "")
        role = declarations.role_of_module(module)
        if role:
            return role, f"{module}:{frame.f_code.co_name}"
        frame = frame.f_back
    return None, ""


def _client_principal(frame) -> Optional[str]:
    """A client made by a declared factory (e.g. CodePipeline's artifact credentials) acts as
    that principal, whoever calls it later."""
    while frame is not None:
        qualified = f"{frame.f_globals.get('__name__', '')}.{frame.f_code.co_name}"
        if qualified in declarations.CLIENT_FACTORIES:
            return declarations.CLIENT_FACTORIES[qualified]
        frame = frame.f_back
    return None


def _account(client) -> str:
    """moto's account for the client's credentials: an assumed role's key acts in the role's
    account (https://docs.getmoto.org/en/latest/docs/multi_account.html)."""
    credentials = client._request_signer._credentials
    if credentials is None:
        return ""
    from moto.iam.models import get_account_id_from

    return get_account_id_from(credentials.access_key)


def instrument(client) -> None:
    principal = _client_principal(sys._getframe(1))
    service = client.meta.service_model.service_name
    region = client.meta.region_name

    def before(params, model, **_):
        if _current_test["unrecorded"]:
            return
        role, where = _role_code_frame(sys._getframe(1))
        if role is not None and principal is not None:
            role = principal
        call = Call(role=role, service=service, operation=model.name,
                    params=_json_safe(dict(params)), region=region,
                    test=_current_test["nodeid"], where=where, account=_account(client))
        CALLS.append(call)
        pending.append(call)

    pending: list[Call] = []

    def after(http_response=None, parsed=None, model=None, **_):
        # after-call fires only for calls that reached the (moto) endpoint.
        for call in reversed(pending):
            if call.operation == model.name:
                call.response = _json_safe(parsed or {})
                pending.remove(call)
                break

    client.meta.events.register("before-parameter-build", before)
    client.meta.events.register("after-call", after)


_original_create_client = None


def pytest_configure(config):
    global _original_create_client
    import botocore.client

    config.addinivalue_line("markers", "iam_recorded_calls: judges the AWS calls recorded by "
                                       "the other tests; runs after them")
    config.addinivalue_line("markers", "iam_not_recorded(reason): the test's calls are left "
                                       "out of the recording (made with settings of a stack the "
                                       "IAM analysis does not judge them against)")
    if _original_create_client is not None:
        return
    _original_create_client = botocore.client.ClientCreator.create_client

    def create_client(self, *args, **kwargs):
        client = _original_create_client(self, *args, **kwargs)
        instrument(client)
        return client

    botocore.client.ClientCreator.create_client = create_client


def pytest_unconfigure(config):
    global _original_create_client
    import botocore.client

    if _original_create_client is not None:
        botocore.client.ClientCreator.create_client = _original_create_client
        _original_create_client = None
    out = os.environ.get(ENV_OUT)
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            json.dump([c.to_json() for c in CALLS], handle)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """Calls made while a test's fixtures are set up or its body runs are that test's."""
    _current_test["nodeid"] = item.nodeid
    _current_test["unrecorded"] = item.get_closest_marker("iam_not_recorded") is not None
    try:
        yield
    finally:
        _current_test["nodeid"] = ""
        _current_test["unrecorded"] = False


pytest_runtest_setup = pytest_runtest_call


def pytest_collection_modifyitems(session, config, items):
    """Tests that judge the recorded calls run last, after the tests that make the calls."""
    last = [i for i in items if i.get_closest_marker("iam_recorded_calls")]
    if last:
        first = [i for i in items if not i.get_closest_marker("iam_recorded_calls")]
        items[:] = first + last
    config._iam_collected = {str(i.path) for i in items} | getattr(config, "_iam_collected",
                                                                   set())


def pytest_deselected(items):
    """A recording test left out (-k, -m, --lf) means this session's calls are incomplete."""
    for item in items:
        if _in_recording_tests(str(item.path)):
            item.config._iam_incomplete = True


def _in_recording_tests(path: str) -> bool:
    return any(path.startswith(str(ROOT / folder) + os.sep)
               for folder in declarations.RECORDING_TESTS)


def _ran_here(config) -> bool:
    """Did this session run every recording test (so CALLS is complete)?"""
    if getattr(config, "_iam_incomplete", False):
        return False
    collected = getattr(config, "_iam_collected", set())
    for folder in declarations.RECORDING_TESTS:
        wanted = {str(p) for p in (ROOT / folder).rglob("test_*.py")}
        if not wanted or not wanted <= collected:
            return False
    return True


def recorded_calls(config, workdir) -> list[dict]:
    """Every call of the recording tests: this session's when it ran them all first, else a
    separate pytest run of just those tests (so a targeted run judges complete recordings)."""
    if _ran_here(config):
        return [c.to_json() for c in CALLS]
    import subprocess

    out = workdir / "iam-calls.json"
    env = {**os.environ, ENV_OUT: str(out)}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               *declarations.RECORDING_TESTS]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join(result.stdout.splitlines()[-15:])
        raise RuntimeError(f"the recording tests failed (exit {result.returncode}):\n{tail}")
    return json.loads(out.read_text(encoding="utf-8"))
