"""The serving container follows an edited contract: the model trained in a project copy whose
contract.json declares online_transaction categorical (tests/test_contract_drives_every_consumer.py)
is served by the image's stack (nginx, gunicorn, Flask; Python 3.12 without pydantic) from the
bundle the model carries, and answers over HTTP by the edited file."""
from __future__ import annotations

import json

import pytest

from pipeline_src.jobs.common import serving_environment
from tests.container.serving import Server
from tests.test_contract_drives_every_consumer import COLUMN, edited_project, run

# tools: needs .venv-container (make container-setup, part of make test); make check skips it.
pytestmark = [pytest.mark.timeout(1500), pytest.mark.tools]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return edited_project(tmp_path_factory.mktemp("edited"))


@pytest.fixture(scope="module")
def edited_server(project):
    # The copy's sample data and training entry point (a small set: the contract is the point).
    data, model = project / "data", project / "model"
    run(project, "-m", "pipeline_src.sample_data", "--out", str(data), "--rows", "5000")
    for channel in ("train", "validation"):
        (data / channel).mkdir()
        (data / f"{channel}.csv").rename(data / channel / f"{channel}.csv")
    run(project, "pipeline_src/train.py", "--train", str(data / "train"),
        "--validation", str(data / "validation"),
        "--model-dir", str(model), "--output-data-dir", str(project / "output"))
    srv = Server(model, serving_environment("eu-west-1"))
    try:
        yield srv.start()
    finally:
        srv.stop()


def rows(project, value):
    """The edited contract's example row with the column set to value, as CSV and JSON."""
    data = json.loads((project / "pipeline_src" / "contract.json").read_text())
    row = {f["name"]: f["example"] for f in data["features"]}
    row[COLUMN] = value
    return ",".join(str(v) for v in row.values()).encode(), json.dumps([row]).encode()


@pytest.mark.parametrize("value", ["online", "in_store"])
def test_declared_text_is_scored_alike_in_csv_and_json(edited_server, project, value):
    csv_body, json_body = rows(project, value)
    from_csv = edited_server.invoke(csv_body, "text/csv")
    assert from_csv[0] == 200, from_csv
    assert edited_server.invoke(json_body, "application/json") == from_csv


@pytest.mark.parametrize("value", ["1", "Online", "card_present"])
def test_undeclared_values_are_a_400_naming_row_column_value(edited_server, project,
                                                              value):
    for body, media in zip(rows(project, value), ("text/csv", "application/json")):
        status, content_type, answer = edited_server.invoke(body, media)
        assert (status, content_type) == (400, "application/json")
        assert json.loads(answer) == {"error": (
            f"row 1, column {COLUMN}: {value!r} is an undeclared value; expected one of 2 "
            "declared values ('in_store', 'online')")}
