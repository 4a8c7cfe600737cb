"""The trained model served by the image's serving stack (sagemaker-containers 2.8.6.post2
behind nginx, gunicorn with gevent workers, Flask 1.1.1 / Werkzeug 2.0.3, Python 3.12) and
probed over HTTP on 127.0.0.1, with the environment the model package gives the container and
no package index reachable (how an endpoint with EnableNetworkIsolation starts)."""
from __future__ import annotations

import json

import pytest

from pipeline_src import inference
from pipeline_src.contract import FEATURES, example_rows, feature_names
from pipeline_src.jobs.common import serving_environment
from tests.container.serving import NO_NETWORK, Server, container_environment
from tests.pipeline_src.test_inference import MALFORMED

# tools: needs .venv-container (make container-setup, part of make test); make check skips it.
pytestmark = [pytest.mark.timeout(1500), pytest.mark.tools]


@pytest.fixture(scope="module")
def server(toolkit_trained):
    srv = Server(toolkit_trained / "model", serving_environment("eu-west-1"))
    try:
        yield srv.start()
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def in_process(toolkit_trained):
    """The same model in this process, answering through the same handlers."""
    return inference.model_fn(str(toolkit_trained / "model"))


def csv_body(rows) -> bytes:
    return "\n".join(",".join(map(str, r)) for r in rows).encode()


def test_starts_with_no_index_and_installs_the_code_from_the_model(server):
    assert server.request("GET", "/ping")[0] == 200
    log = server.log()
    assert "Successfully installed inference" in log
    assert "Listening at: unix:" in log and "Using worker: gevent" in log


@pytest.mark.parametrize("n", [1, 100, 1000])
def test_csv_answers_match_in_process_to_the_byte(server, in_process, parity_rows, n):
    body = csv_body(parity_rows[:n])
    status, content_type, answer = server.invoke(body, "text/csv")
    expected_status, expected, media = inference.handle(in_process, body, "text/csv",
                                                        "application/json")
    assert (status, content_type) == (expected_status, media) == (200, "application/json")
    assert answer == expected.encode()
    assert len(json.loads(answer)["predictions"]) == n


@pytest.fixture(scope="module")
def parity_rows(parity_data):
    import pandas as pd

    # As a client sends them: categorical columns as their declared text (contract.json).
    text = {f.name: str for f in FEATURES if f.categorical}
    return pd.read_csv(parity_data / "test.csv", dtype=text)[feature_names()].values.tolist()


@pytest.mark.parametrize("form", ["instances", "objects", "no content type", "accept any"])
def test_each_json_form_answers_as_csv_does(server, parity_rows, form):
    rows = parity_rows[:5]
    _, _, from_csv = server.invoke(csv_body(rows), "text/csv")
    if form == "objects":
        body = json.dumps([dict(zip(feature_names(), r)) for r in rows])
    else:
        body = json.dumps({"instances": rows})
    content_type = None if form == "no content type" else "application/json"
    accept = "*/*" if form == "accept any" else "application/json"
    assert server.invoke(body.encode(), content_type, accept) == (200, "application/json",
                                                                  from_csv)


# Over HTTP the container decodes a text/csv body as UTF-8 with replacement characters before
# the handler sees it, so undecodable bytes arrive as text that is not numbers.
HTTP_MESSAGE = {"not-utf8": "row 1 has 2 values; expected 20"}


@pytest.mark.parametrize("kind, body, content_type, status, message", MALFORMED,
                         ids=[m[0] for m in MALFORMED])
def test_malformed_request_answers_its_4xx_over_http(server, kind, body, content_type, status,
                                                     message):
    body = body.encode() if isinstance(body, str) else body
    got_status, got_type, answer = server.invoke(body, content_type)
    assert (got_status, got_type) == (status, "application/json"), answer[:300]
    error = json.loads(answer)
    assert list(error) == ["error"]
    assert error["error"].startswith(HTTP_MESSAGE.get(kind, message))


def test_unsupported_accept_is_406_over_http(server):
    status, _, answer = server.invoke(csv_body(example_rows(1)), "text/csv", accept="text/csv")
    assert status == 406
    assert json.loads(answer)["error"].startswith("unsupported accept type 'text/csv'")


def test_workers_still_answer_after_every_malformed_kind(server, parity_rows):
    # Runs after the malformed requests (file order); every worker gets a request.
    body = csv_body(parity_rows[:3])
    answers = {server.invoke(body, "text/csv") for _ in range(8)}
    assert len(answers) == 1 and next(iter(answers))[0] == 200
    assert server.request("GET", "/ping")[0] == 200
    assert "Traceback" not in server.log()


def test_workers_run_one_openmp_thread_each(server, parity_rows):
    server.invoke(csv_body(parity_rows[:1000]), "text/csv")  # predict_proba: OpenMP
    pids = server.worker_pids()
    assert len(pids) >= 2  # gunicorn master and its workers
    for pid in pids:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            assert b"OMP_NUM_THREADS=1" in fh.read().split(b"\0")


def test_without_the_offline_install_settings_the_start_needs_an_index(container_python,
                                                                       toolkit_trained,
                                                                       tmp_path):
    """The control: the container's own install step (what server.start runs before gunicorn)
    on the same code, with and without the model environment's pip settings."""
    import shutil
    import subprocess

    shutil.copytree(toolkit_trained / "model", tmp_path / "model")
    step = ("import sys; from sagemaker_containers import _modules; "
            "_modules.import_module(sys.argv[1], 'inference')")
    results = {}
    for name, model_env in (("model environment", serving_environment("eu-west-1")),
                            ("pip defaults", {k: v for k, v in serving_environment(
                                "eu-west-1").items() if not k.startswith("PIP_")})):
        base = tmp_path / name.replace(" ", "-")
        shutil.copytree(tmp_path / "model", base / "model")
        env = container_environment(base, model_env, 0)
        proc = subprocess.run([container_python, "-c", step, str(base / "model" / "code")],
                              env=env, cwd=base, capture_output=True, text=True, timeout=300)
        results[name] = proc
    assert results["model environment"].returncode == 0, results["model environment"].stderr[-2000:]
    failed = results["pip defaults"]
    assert failed.returncode != 0
    assert "setuptools" in failed.stdout + failed.stderr
    assert NO_NETWORK["PIP_INDEX_URL"]  # the index it would have needed was unreachable
